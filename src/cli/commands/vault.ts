import { DataDirError, lockDataDir, paths, resolvePassphrase } from '../../node/data-dir.js';
import { FileKeyStore } from '../../storage/file-keystore.js';
import { kekName } from '../../vault/kek.js';
import { rotateVaultKek, vaultKekStatus, type KekRotationReport, type KekStatus } from '../../vault/kek-admin.js';
import { dataDirOf, helpText, parse, PASSPHRASE_FILE_HELP, UsageError } from '../args.js';

export const vaultSpec = {
  name: 'vault',
  summary: "the record vault's key-encryption keys: status, rotate-kek",
  usage: [
    'medledger vault status     [--data DIR] [--passphrase-file FILE] [--json]',
    '       medledger vault rotate-kek [--data DIR] [--passphrase-file FILE] [--json]',
    '',
    'status      the current KEK and how many data keys are wrapped under each KEK; read-only, safe while',
    '            the node runs. Exits 1 if data keys are wrapped under a KEK the keystore lacks.',
    'rotate-kek  creates the next KEK (kek-N+1), re-wraps every data key under it and deletes the old KEK',
    '            from the keystore. Runs on a STOPPED node: it takes the data-directory lock and refuses',
    '            while the node (or anything else) holds it. Record ciphertexts are not touched. A rotation',
    '            cut short (kill, power loss) is finished when the node next starts, or by running it again.',
  ].join('\n'),
  options: {
    data: { type: 'string' },
    'passphrase-file': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    data: 'data directory of the node (default $MEDLEDGER_DATA or ./data)',
    'passphrase-file': PASSPHRASE_FILE_HELP,
    json: 'print the result as JSON',
  },
} as const;

/** Exit codes: 0 done, 1 refused or failed (nothing changed unless the message says otherwise), 2 usage errors. */
export async function runVault(argv: string[]): Promise<number> {
  const { values, positionals } = parse(vaultSpec, argv);
  const [action, extra] = positionals;
  if (values.help || !action) return (void console.log(helpText(vaultSpec)), values.help ? 0 : 2);
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"\n\n${helpText(vaultSpec)}`);
  const dir = dataDirOf(values.data);
  if (action !== 'status' && action !== 'rotate-kek')
    throw new UsageError(`unknown vault action "${action}"\n\n${helpText(vaultSpec)}`);
  if (!FileKeyStore.exists(paths(dir).keystore)) throw new UsageError(`${dir} holds no node; run \`medledger init\` first`);
  const passphrase = (): string => resolvePassphrase(dir, undefined, values['passphrase-file']);

  if (action === 'status') {
    const status = vaultKekStatus(dir, FileKeyStore.open(paths(dir).keystore, passphrase()));
    if (values.json) console.log(JSON.stringify(status, null, 2));
    else printStatus(status);
    return status.missing.length > 0 ? 1 : 0;
  }

  let unlock: () => void;
  try {
    unlock = lockDataDir(dir);
  } catch (error) {
    if (!(error instanceof DataDirError)) throw error;
    throw new DataDirError(
      `${error.message}: stop the node first — rotate-kek runs on a stopped node only (nothing was changed)`,
    );
  }
  try {
    const keystore = FileKeyStore.open(paths(dir).keystore, passphrase());
    const progress =
      values.json || !process.stderr.isTTY
        ? undefined
        : (done: number, total: number) => process.stderr.write(`\rre-wrapped ${done} of ${total} data keys`);
    const report = await rotateVaultKek(dir, keystore, progress ? { onProgress: progress } : {});
    if (progress) process.stderr.write('\n');
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else printRotation(report);
    return 0;
  } finally {
    unlock();
  }
}

const names = (ids: readonly number[]): string => ids.map(kekName).join(', ');

function printStatus(status: KekStatus): void {
  if (status.current === null) console.log('no key-encryption key yet (the node creates kek-1 as it first writes)');
  else console.log(`current key-encryption key: ${kekName(status.current)}`);
  if (status.keystore.length > 1)
    console.log(`   the keystore holds ${names(status.keystore)}: a rotation was cut short; the node finishes it as it starts`);
  if (status.dataKeys.length === 0) console.log('   no data keys stored');
  for (const { kek, count } of status.dataKeys) {
    const note = status.missing.includes(kek) ? '  NOT IN THE KEYSTORE: these versions cannot be read' : '';
    console.log(`   ${kekName(kek).padEnd(12)} ${String(count).padStart(10)} data keys${note}`);
  }
}

function printRotation(report: KekRotationReport): void {
  const from = report.from.length === 0 ? 'none' : names(report.from);
  console.log(`rotated the vault key-encryption key: ${from} → ${kekName(report.kek)}`);
  console.log(`   ${report.rewrapped} data keys re-wrapped in ${report.seconds.toFixed(2)} s`);
  if (report.retired.length > 0) console.log(`   deleted from the keystore: ${names(report.retired)}`);
  console.log('   back up the keystore now: earlier keystore backups do not hold the new KEK');
}
