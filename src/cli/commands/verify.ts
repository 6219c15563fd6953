import { existsSync } from 'node:fs';
import { paths } from '../../node/data-dir.js';
import { auditDataDir, auditNode, type AuditReport } from '../../verify/audit.js';
import { dataDirOf, helpText, parse, UsageError } from '../args.js';

export const verifySpec = {
  name: 'verify',
  summary: 'replay a ledger from genesis and recheck every hash, signature, state transition and proof',
  usage: 'medledger verify [--data DIR | --node URL] [--json]',
  options: {
    data: { type: 'string' },
    node: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    data: 'data directory to audit (default $MEDLEDGER_DATA or ./data); read-only, safe while the node runs',
    node: 'audit a running node through its API instead',
    json: 'print the report as JSON',
  },
} as const;

/** Exit codes: 0 the ledger verifies, 1 it does not (the report names where), 2 usage errors. */
export async function runVerify(argv: string[]): Promise<number> {
  const { values } = parse(verifySpec, argv);
  if (values.help) return (void console.log(helpText(verifySpec)), 0);
  if (values.data && values.node) throw new UsageError('use either --data or --node');
  const progress =
    values.json || !process.stderr.isTTY
      ? undefined
      : (height: number, txs: number) => {
          if (height % 50 === 0) process.stderr.write(`\rreplayed ${height} blocks, ${txs} transactions`);
        };
  let report: AuditReport;
  if (values.node) {
    report = await auditNode(values.node, progress ? { onProgress: progress } : {});
  } else {
    const ledger = paths(dataDirOf(values.data)).ledger;
    if (!existsSync(ledger)) throw new UsageError(`no ledger at ${ledger}`);
    report = await auditDataDir(ledger, progress ? { onProgress: progress } : {});
  }
  if (progress) process.stderr.write('\n');
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else if (report.ok) {
    const rate = report.txs / Math.max(report.seconds, 1e-9);
    console.log(`OK chain "${report.chain}": ${report.height} blocks, ${report.txs} transactions, log root ${report.logRoot}`);
    console.log(`   verified in ${report.seconds.toFixed(2)} s (${Math.round(rate)} transactions/s)`);
  } else {
    console.log(`FAILED at ${report.problem!.where}: ${report.problem!.message}`);
    console.log(`   (the ${report.height} blocks before it verified)`);
  }
  return report.ok ? 0 : 1;
}
