import { existsSync } from 'node:fs';
import { paths, resolvePassphrase } from '../../node/data-dir.js';
import { FileKeyStore, KeystoreError } from '../../storage/file-keystore.js';
import { VaultSnapshot } from '../../vault/check.js';
import { auditDataDir, auditNode, type AuditReport, type DataDirAuditOptions } from '../../verify/audit.js';
import { dataDirOf, helpText, parse, UsageError } from '../args.js';

export const verifySpec = {
  name: 'verify',
  summary: 'replay a ledger from genesis and recheck every hash, signature, state transition and proof',
  usage: 'medledger verify [--data DIR [--passphrase-file FILE | --ledger-only] | --node URL [--token T]] [--json]',
  options: {
    data: { type: 'string' },
    'passphrase-file': { type: 'string' },
    'ledger-only': { type: 'boolean' },
    node: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    data:
      'data directory to audit (default $MEDLEDGER_DATA or ./data); read-only, safe while the node runs. ' +
      'If it holds a record vault (vault.sqlite), every committed record version is also checked against ' +
      'the ledger: SHA-256 of its ciphertext must be the ledger commitment, and no version may be missing',
    'passphrase-file':
      'file holding the keystore passphrase, needed for the vault check ' +
      '(default $MEDLEDGER_KEY_PASSPHRASE, else DATA/keystore.passphrase)',
    'ledger-only': 'with --data: skip the vault check (no passphrase needed)',
    node: 'audit a running node through its API instead (its ledger only)',
    token:
      'with --node: a bearer token of that node for its staff, which the transaction bytes need ' +
      '(default $MEDLEDGER_TOKEN; e.g. `medledger token --user ID --scope system/*.rs` beside the node)',
    json: 'print the report as JSON (with "vault": {"ok", "checked"} when the vault was checked)',
  },
} as const;

/** The vault part of a data-directory audit: none without a vault or with --ledger-only. */
function vaultOption(dir: string, passphraseFile: string | undefined, ledgerOnly: boolean): DataDirAuditOptions['vault'] {
  if (ledgerOnly || !VaultSnapshot.exists(dir)) return undefined;
  let passphrase: string;
  try {
    passphrase = resolvePassphrase(dir, undefined, passphraseFile);
  } catch (error) {
    if (!(error instanceof KeystoreError)) throw error;
    throw new UsageError(
      `${dir} holds a record vault; checking it needs the keystore passphrase ` +
        '(set MEDLEDGER_KEY_PASSPHRASE or pass --passphrase-file), or pass --ledger-only to skip it',
    );
  }
  return { dataDir: dir, keystore: FileKeyStore.open(paths(dir).keystore, passphrase) };
}

/** Exit codes: 0 the ledger (and vault) verifies, 1 it does not (the report names where), 2 usage errors. */
export async function runVerify(argv: string[]): Promise<number> {
  const { values } = parse(verifySpec, argv);
  if (values.help) return (void console.log(helpText(verifySpec)), 0);
  if (values.data && values.node) throw new UsageError('use either --data or --node');
  if (values.token && !values.node) throw new UsageError('--token applies to --node only');
  if (values.node && (values['passphrase-file'] || values['ledger-only'])) {
    throw new UsageError('--passphrase-file and --ledger-only apply to --data only');
  }
  const progress =
    values.json || !process.stderr.isTTY
      ? undefined
      : (height: number, txs: number) => {
          if (height % 50 === 0) process.stderr.write(`\rreplayed ${height} blocks, ${txs} transactions`);
        };
  let report: AuditReport;
  if (values.node) {
    const token = values.token ?? process.env['MEDLEDGER_TOKEN'];
    report = await auditNode(values.node, { ...(progress && { onProgress: progress }), ...(token && { token }) });
  } else {
    const dir = dataDirOf(values.data);
    const ledger = paths(dir).ledger;
    if (!existsSync(ledger)) throw new UsageError(`no ledger at ${ledger}`);
    const vault = vaultOption(dir, values['passphrase-file'], values['ledger-only'] ?? false);
    report = await auditDataDir(ledger, { ...(progress && { onProgress: progress }), ...(vault && { vault }) });
  }
  if (progress) process.stderr.write('\n');
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else if (report.ok) {
    const rate = report.txs / Math.max(report.seconds, 1e-9);
    console.log(`OK chain "${report.chain}": ${report.height} blocks, ${report.txs} transactions, log root ${report.logRoot}`);
    if (report.vault) console.log(`   vault: ${report.vault.checked} committed record versions match the ledger`);
    console.log(`   verified in ${report.seconds.toFixed(2)} s (${Math.round(rate)} transactions/s)`);
  } else {
    console.log(`FAILED at ${report.problem!.where}: ${report.problem!.message}`);
    if (report.vault) {
      console.log(`   (the ledger's ${report.height} blocks verified; ${report.vault.checked} vault versions matched before it)`);
    } else console.log(`   (the ${report.height} blocks before it verified)`);
  }
  return report.ok ? 0 : 1;
}
