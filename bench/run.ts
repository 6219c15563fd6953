/**
 * `npm run bench`: ledger throughput, latency, proofs, verify, memory and disk per transaction,
 * then the FHIR section (bench/fhir.ts: creates over HTTP and in-process, Bundle ingest, read and
 * search at N stored resources). Writes bench/results/latest.json and bench/results/latest.md, and
 * the FHIR section alone to bench/results/fhir-{quick,full}.{json,md}. Sizes default to 10k and 1M;
 * `npm run bench -- --quick` runs 10k only. `--fhir-only` runs only the FHIR section (the ledger
 * sections of latest.json are kept from the previous run). `--fhir-profile` runs only the FHIR
 * HTTP creates and writes nothing (for `node --cpu-prof dist/bench/run.js --fhir-profile`;
 * `--fhir-bundle-profile` the same for Bundle ingest). Last, access
 * decisions at 2,000 patients (bench/access.ts; alone: `node dist/bench/access.js [patients]`), then
 * device ingest (bench/devices.ts; alone: `node dist/bench/devices.js [samplesPerRun] [batchSize]`).
 * `--fhir-writes` runs only the FHIR write figures (HTTP creates, in-process creates, Bundle
 * ingest; quick sizes), prints them as JSON and writes nothing.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runHttp, type HttpResult } from './http.js';
import { runInProcess, type InProcessResult } from './inprocess.js';
import { fhirTable, runFhirBench, type FhirBenchResult } from './fhir.js';
import { accessTable, runAccessBench } from './access.js';
import { devicesTable, runDevicesBench } from './devices.js';

const quick = process.argv.includes('--quick');
const fhirProfile = process.argv.includes('--fhir-profile')
  ? 'creates'
  : process.argv.includes('--fhir-bundle-profile')
    ? 'bundles'
    : undefined;
const fhirOnly = process.argv.includes('--fhir-only') || fhirProfile !== undefined;
const sizes = quick ? [10_000] : [10_000, 1_000_000];
const log = (line: string): void => console.error(line);

function scratch(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'medledger-bench-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

if (process.argv.includes('--fhir-writes')) {
  const r = (await runFhirBench({ quick: true, log, writesOnly: true }))!;
  console.log(JSON.stringify({ http: r.httpCreate, inProcess: r.inProcessCreate, bundle: r.bundle }));
  process.exit(0);
}

if (fhirProfile) {
  await runFhirBench({ quick: true, log, profileOnly: fhirProfile });
  process.exit(0);
}

const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const previous = existsSync(join(outDir, 'latest.json'))
  ? (JSON.parse(readFileSync(join(outDir, 'latest.json'), 'utf8')) as { inProcess?: InProcessResult[]; http?: HttpResult[] })
  : {};

const inProcess: InProcessResult[] = fhirOnly ? (previous.inProcess ?? []) : [];
for (const size of fhirOnly ? [] : sizes) {
  log(`in-process, ${size} transactions`);
  const dir = scratch();
  try {
    inProcess.push(await runInProcess(join(dir.path, 'node'), size, log));
  } finally {
    dir.remove();
  }
}

const http: HttpResult[] = fhirOnly ? (previous.http ?? []) : [];
for (const size of fhirOnly ? [] : [20_000]) {
  log(`HTTP, ${size} transactions`);
  const dir = scratch();
  try {
    http.push(await runHttp(join(dir.path, 'node'), size, log));
  } finally {
    dir.remove();
  }
}

const fhir: FhirBenchResult = (await runFhirBench({ quick, log }))!;
log('access decisions, 2,000 patients');
const access = await runAccessBench(2_000);
log('device ingest');
const devices = await runDevicesBench(quick ? 96_000 : 480_000);

const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
const results = { date: new Date().toISOString(), machine, inProcess, http, fhir, access, devices };
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
const fhirName = `fhir-${quick ? 'quick' : 'full'}`;
writeFileSync(join(outDir, `${fhirName}.json`), `${JSON.stringify({ date: results.date, machine, fhir }, null, 2)}\n`);
writeFileSync(
  join(outDir, `${fhirName}.md`),
  `MedLedger FHIR benchmark — ${results.date.slice(0, 10)}, ${machine.cpus} cores (${machine.model}), Node ${machine.node}\n${fhirTable(fhir).join('\n')}\n`,
);

const rows: string[] = [
  `MedLedger ledger benchmark — ${results.date.slice(0, 10)}, ${machine.cpus} cores (${machine.model}), Node ${machine.node}`,
  '',
  '| metric | ' + inProcess.map((r) => `${r.transactions.toLocaleString('en')} txs`).join(' | ') + ' |',
  '|---|' + inProcess.map(() => '---:|').join(''),
];
const metric = (name: string, pick: (r: InProcessResult) => string | number): void => {
  rows.push(`| ${name} | ${inProcess.map((r) => String(pick(r))).join(' | ')} |`);
};
metric('committed tx/s, in-process', (r) => r.committedPerSecond);
metric('submit→commit latency p50 / p99 (ms, 4,096 in flight)', (r) => `${r.latencyP50Ms} / ${r.latencyP99Ms}`);
metric('blocks', (r) => r.blocks);
metric('`verify` throughput (tx/s)', (r) => `${r.verifyPerSecond}${r.verifyOk ? '' : ' (FAILED)'}`);
metric('inclusion proof p50 / p99 (ms)', (r) => `${r.inclusionProofP50Ms} / ${r.inclusionProofP99Ms}`);
metric('inclusion proof verification p50 (ms)', (r) => r.inclusionVerifyP50Ms);
metric('consistency proof p50 (ms)', (r) => r.consistencyProofP50Ms);
metric('RSS after the run (MB)', (r) => r.rssMb);
metric('database bytes per transaction', (r) => r.dbBytesPerTx);
rows.push('', '| over HTTP | value |', '|---|---:|');
for (const h of http) {
  rows.push(
    `| committed tx/s, ${h.clients} concurrent clients, ${h.transactions.toLocaleString('en')} txs | ${h.committedPerSecond} |`,
  );
  rows.push(`| request→commit latency p50 / p99 (ms) | ${h.latencyP50Ms} / ${h.latencyP99Ms} |`);
  rows.push(`| node RSS (MB) | ${h.nodeRssMb} |`);
}
rows.push(...fhirTable(fhir));
rows.push(...accessTable(access));
rows.push(...devicesTable(devices));
const table = `${rows.join('\n')}\n`;
writeFileSync(join(outDir, 'latest.md'), table);
console.log(table);
