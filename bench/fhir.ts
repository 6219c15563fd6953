/**
 * FHIR benchmark (`npm run bench`, section "fhir"; `--fhir-only` runs just this part).
 *
 * An in-process node (initDataDir + LedgerNode.open + FhirRepository.open + buildHttpServer on
 * 127.0.0.1:0, as test/support/fixtures.ts does), realistic resources from the demo generator:
 *  1. Observation creates over HTTP (64 closed-loop keep-alive fetch clients in a worker thread;
 *     each 201 means validated, encrypted, committed to the ledger and indexed), and the same
 *     through the repository in-process (no HTTP).
 *  2. Transaction Bundle ingest over `POST /fhir`: 48 demo patient histories, one Bundle each.
 *  3. Read by id and Observation?patient&code search with N Observations stored. N is loaded through
 *     the full write path unless that would take more than ~25 minutes at the measured rate; then
 *     through the bulk loader below (documented in the result's `loadedBy`).
 */
import { randomUUID } from 'node:crypto';
import { openAccess } from '../src/node/access-ledger.js';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { generateDemo } from '../src/demo/generator.js';
import { FhirRepository } from '../src/fhir/repository.js';
import { initDataDir } from '../src/node/data-dir.js';
import { LedgerNode } from '../src/node/ledger-node.js';
import { buildHttpServer } from '../src/server/http.js';
import { AuthService } from '../src/auth/service.js';
import { BenchHttpClient } from './http-client.js';
import { median, percentile, round } from './stats.js';

const PASSPHRASE = 'benchmark passphrase';
const CLIENTS = 64;
/** Above this estimated fill time the read/search data set is bulk-loaded (see bulkLoad). */
const MAX_WRITE_PATH_FILL_SECONDS = 25 * 60;

type Json = Record<string, unknown>;
type Log = (line: string) => void;

export interface CreateStats {
  readonly creates: number;
  readonly concurrency: number;
  readonly perSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** CPU time of the whole process (server, and for HTTP the client worker too) per create. */
  readonly cpuMsPerCreate?: number;
}

export interface BundleStats {
  readonly patients: number;
  readonly resources: number;
  readonly resourcesPerSecond: number;
  readonly note: string;
}

export interface ReadSearchStats {
  readonly observations: number;
  readonly patients: number;
  readonly loadedBy: string;
  readonly loadSeconds: number;
  readonly loadPerSecond: number;
  readonly readP50Ms: number;
  readonly readP99Ms: number;
  readonly httpReadP50Ms: number;
  readonly httpReadP99Ms: number;
  readonly searchP50Ms: number;
  readonly searchP99Ms: number;
  readonly httpSearchP50Ms: number;
  readonly httpSearchP99Ms: number;
  readonly searchMeanMatches: number;
  readonly dataDirMb: number;
}

export interface FhirBenchResult {
  readonly observationBytesMedian: number;
  readonly httpCreate: CreateStats;
  readonly inProcessCreate: CreateStats;
  readonly bundle: BundleStats;
  readonly readSearch: ReadSearchStats[];
}

export interface FhirBenchOptions {
  readonly quick: boolean;
  readonly log: Log;
  /** Only one write figure and nothing written (for `node --cpu-prof`). */
  readonly profileOnly?: 'creates' | 'bundles';
  /** Only the write figures (HTTP creates, in-process creates, Bundle ingest); no read/search. */
  readonly writesOnly?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Workload

/** Drops every reference to a bundle-local urn:uuid (a create outside a Bundle cannot resolve them). */
function withoutLocalReferences(value: unknown): unknown {
  if (Array.isArray(value)) {
    const kept = value.map(withoutLocalReferences).filter((v) => v !== undefined);
    return kept.length > 0 ? kept : undefined;
  }
  if (typeof value !== 'object' || value === null) return value;
  const ref = (value as Json)['reference'];
  if (typeof ref === 'string' && ref.startsWith('urn:')) return undefined;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    const kept = withoutLocalReferences(v);
    if (kept !== undefined) out[k] = kept;
  }
  return out;
}

interface Workload {
  readonly demo: ReturnType<typeof generateDemo>;
  /** Demo Observations with subject (set per create) and bundle-local references removed. */
  readonly observations: Json[];
  readonly codes: string[];
}

function workload(): Workload {
  const demo = generateDemo({ patients: 12, seed: 424242 });
  const observations: Json[] = [];
  for (const p of demo.patients) {
    for (const e of p.bundle.entry ?? []) {
      if (e.resource?.resourceType !== 'Observation') continue;
      const { subject: _s, ...rest } = e.resource as unknown as Json;
      observations.push(withoutLocalReferences(rest) as Json);
    }
  }
  const codes = [
    ...new Set(observations.map((o) => (o['code'] as { coding: { system: string; code: string }[] }).coding[0]!.code)),
  ];
  return { demo, observations, codes };
}

const observationFor = (template: Json, patient: string): Json => ({ ...template, subject: { reference: `Patient/${patient}` } });

// ---------------------------------------------------------------------------------------------
// Node

interface BenchServer {
  readonly dir: string;
  readonly node: LedgerNode;
  readonly fhir: FhirRepository;
  readonly app: FastifyInstance;
  readonly url: string;
  close(): Promise<void>;
}

/** `Bearer …` of the running bench server: a backend-service token (system/*.cruds) minted with its node key. */
let authorization = '';

async function startServer(): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'medledger-bench-fhir-'));
  initDataDir(dir, { chain: 'bench-fhir', orgId: 'org_bench', orgName: 'Bench Hospital', passphrase: PASSPHRASE });
  const node = LedgerNode.open({ dataDir: dir, passphrase: PASSPHRASE });
  const fhir = await FhirRepository.open(node, dir);
  const auth = await AuthService.open(node, dir);
  const access = openAccess(node, dir);
  const app = await buildHttpServer(node, { fhir, auth, access });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = await auth.mint({
    origin: url,
    subject: 'bench',
    clientId: 'bench',
    scope: 'system/*.cruds',
    ttlSeconds: 6 * 3600,
  });
  authorization = `Bearer ${token}`;
  return {
    dir,
    node,
    fhir,
    app,
    url,
    async close() {
      await app.close();
      auth.close();
      await access.close();
      await fhir.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The demo organization and practitioners (PUT with their client ids) and `count` Patients. */
async function seedPatients(fhir: FhirRepository, w: Workload, count: number): Promise<string[]> {
  const actor = { author: fhir.organization };
  await fhir.update('Organization', w.demo.organization.id, w.demo.organization, actor);
  for (const p of w.demo.practitioners) await fhir.update('Practitioner', p.id, p, actor);
  const templates = w.demo.patients.map((p) => withoutLocalReferences(p.patient) as Json);
  const ids: string[] = [];
  for (let start = 0; start < count; start += 256) {
    const batch = Array.from({ length: Math.min(256, count - start) }, (_, i) => templates[(start + i) % templates.length]!);
    const saved = await Promise.all(batch.map((t) => fhir.create(t, actor)));
    ids.push(...saved.map((s) => s.resource.id!));
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// 1. Creates

function stats(latencies: ArrayLike<number>, seconds: number, concurrency: number, cpu?: NodeJS.CpuUsage): CreateStats {
  return {
    creates: latencies.length,
    concurrency,
    perSecond: round(latencies.length / seconds, 0),
    latencyP50Ms: round(median(latencies), 1),
    latencyP99Ms: round(percentile(latencies, 99), 1),
    ...(cpu && { cpuMsPerCreate: round((cpu.user + cpu.system) / 1000 / latencies.length, 3) }),
  };
}

async function httpCreates(url: string, w: Workload, patients: string[], count: number): Promise<CreateStats> {
  const perClient = Math.ceil(count / CLIENTS);
  const cpu = process.cpuUsage();
  const worker = new Worker(new URL('./fhir-clients.js', import.meta.url), {
    workerData: { url, authorization, clients: CLIENTS, perClient, templates: w.observations, patients },
  });
  const out = await new Promise<{ latencies: Float64Array; failures: number; firstFailure?: string; seconds: number }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  await worker.terminate();
  if (out.failures > 0) throw new Error(`${out.failures} FHIR creates failed, first: ${out.firstFailure}`);
  return stats(out.latencies, out.seconds, CLIENTS, process.cpuUsage(cpu));
}

async function inProcessCreates(
  fhir: FhirRepository,
  w: Workload,
  patients: string[],
  count: number,
  concurrency: number,
  keep?: string[],
): Promise<CreateStats> {
  const actor = { author: fhir.organization };
  const latencies = new Float64Array(count);
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let k = next++; k < count; k = next++) {
        const body = observationFor(w.observations[k % w.observations.length]!, patients[k % patients.length]!);
        const sent = performance.now();
        const saved = await fhir.create(body, actor);
        latencies[k] = performance.now() - sent;
        keep?.push(saved.resource.id!);
      }
    }),
  );
  return stats(latencies, (performance.now() - started) / 1000, concurrency, process.cpuUsage(cpu));
}

// ---------------------------------------------------------------------------------------------
// 2. Bundles

/** Patient histories posted as transaction Bundles (~10.6k resources: long enough to be steady). */
const BUNDLE_HISTORIES = 48;

async function bundleIngest(server: BenchServer, log: Log): Promise<BundleStats> {
  // Another seed than the create workload's: same organization and practitioners, new patients.
  const bundles = generateDemo({ patients: BUNDLE_HISTORIES, seed: 434343 }).patients.map((p) => p.bundle);
  const resources = bundles.reduce((n, b) => n + (b.entry?.length ?? 0), 0);
  log(`  POST /fhir transaction Bundles: ${bundles.length} patient histories, ${resources} resources, 4 at a time`);
  const http = new BenchHttpClient(server.url, 4);
  const headers = { 'content-type': 'application/fhir+json', authorization };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = next++; i < bundles.length; i = next++) {
        const res = await http.request('POST', '/fhir', headers, JSON.stringify(bundles[i]));
        if (res.status !== 200) throw new Error(`transaction Bundle failed: ${res.status} ${res.body.toString('utf8', 0, 300)}`);
      }
    }),
  );
  http.close();
  const seconds = (performance.now() - started) / 1000;
  return {
    patients: bundles.length,
    resources,
    resourcesPerSecond: round(resources / seconds, 0),
    note: 'POST /fhir transaction Bundles (one demo patient history each), 4 concurrent',
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Read and search

/**
 * Bulk loader for large N (used only when the full write path would take > 25 min, or with
 * MEDLEDGER_BENCH_BULK=1): `Vault.writeMany`, the vault's own batched path — per version a fresh
 * data key, AEAD envelope, wrapped key, pending row stored durably first, then ONE `record.commit`
 * ledger transaction for the batch's 1,000 commitments (the ledger's maximum, meant for atomic
 * Bundles), then commit marks and search index rows (the repository's onCommit hook) in one SQLite
 * transaction. Skipped compared with repository.create: FHIR validation and the reference check
 * (the templates are the same demo Observations that pass them in the create benchmark). Reads
 * afterwards go through the repository, which checks each version against its ledger commitment.
 */
async function bulkLoad(
  server: BenchServer,
  w: Workload,
  patients: string[],
  count: number,
  keep: string[],
  log: Log,
): Promise<void> {
  const { fhir } = server;
  const author = fhir.organization;
  const pseudonyms = patients.map((id) => fhir.vault.patientPseudonym(id)!);
  const BATCH = 1000;
  const IN_FLIGHT = 3;
  let next = 0;
  let done = 0;
  let lastLog = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let start = next; start < count; start = next) {
        next += BATCH;
        const items = Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => {
          const k = start + i;
          const p = k % patients.length;
          return {
            type: 'Observation',
            id: randomUUID(),
            resource: observationFor(w.observations[k % w.observations.length]!, patients[p]!),
            patient: pseudonyms[p]!,
            expectedVersion: 0,
          };
        });
        await fhir.vault.writeMany(items, author);
        for (const item of items) if (keep.length < 200_000) keep.push(item.id);
        done += items.length;
        if (performance.now() - lastLog > 30_000) {
          lastLog = performance.now();
          log(`    ${done.toLocaleString('en')} / ${count.toLocaleString('en')} loaded`);
        }
      }
    }),
  );
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

async function readSearch(n: number, w: Workload, writeRatePerSecond: number, log: Log): Promise<ReadSearchStats> {
  const server = await startServer();
  try {
    const patientCount = Math.max(50, Math.round(n / 200));
    log(`  read/search with ${n.toLocaleString('en')} Observations over ${patientCount} patients`);
    const patients = await seedPatients(server.fhir, w, patientCount);
    const ids: string[] = [];
    const estimate = n / writeRatePerSecond;
    const bulk = estimate > MAX_WRITE_PATH_FILL_SECONDS || process.env['MEDLEDGER_BENCH_BULK'] === '1';
    let loadedBy: string;
    const started = performance.now();
    if (bulk) {
      log(
        `    the full write path (~${Math.round(writeRatePerSecond)}/s) would take ~${Math.round(estimate / 60)} min: bulk loader`,
      );
      await bulkLoad(server, w, patients, n, ids, log);
      loadedBy = `bulk: Vault.writeMany, 1,000 versions per record.commit ledger tx, real envelopes/keys/index rows, no FHIR validation (full write path at ~${Math.round(writeRatePerSecond)}/s would take ~${Math.round(estimate / 60)} min)`;
    } else {
      const s = await inProcessCreates(server.fhir, w, patients, n, 256, ids);
      loadedBy = `full write path (repository.create, 256 in flight, one ledger tx per resource; ${s.perSecond}/s)`;
    }
    const loadSeconds = (performance.now() - started) / 1000;
    log(`    loaded in ${round(loadSeconds, 0)} s`);

    let seed = 987654321;
    const rand = (m: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % m;
    };
    const Q = 2000;
    // Warm-up (prepared statements, page cache), not measured.
    for (let i = 0; i < 50; i++) server.fhir.read('Observation', ids[rand(ids.length)]!);
    const reads = new Float64Array(Q);
    for (let q = 0; q < Q; q++) {
      const id = ids[rand(ids.length)]!;
      const t = performance.now();
      server.fhir.read('Observation', id);
      reads[q] = performance.now() - t;
    }
    const searches = new Float64Array(Q);
    let matches = 0;
    const query = (): URLSearchParams =>
      new URLSearchParams({
        patient: patients[rand(patients.length)]!,
        code: `http://loinc.org|${w.codes[rand(w.codes.length)]!}`,
      });
    for (let i = 0; i < 50; i++) server.fhir.search('Observation', query());
    for (let q = 0; q < Q; q++) {
      const params = query();
      const t = performance.now();
      matches += server.fhir.search('Observation', params).matches.length;
      searches[q] = performance.now() - t;
    }
    // Over HTTP, one keep-alive client, sequential requests.
    const httpReads = new Float64Array(Q);
    const httpSearches = new Float64Array(Q);
    const http = new BenchHttpClient(server.url, 1);
    const get = async (path: string): Promise<number> => {
      const t = performance.now();
      const res = await http.request('GET', `/fhir/${path}`, { authorization });
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 50; i++) await get(`Observation/${ids[rand(ids.length)]!}`);
    for (let q = 0; q < Q; q++) httpReads[q] = await get(`Observation/${ids[rand(ids.length)]!}`);
    for (let q = 0; q < Q; q++) httpSearches[q] = await get(`Observation?${query().toString()}`);
    http.close();
    return {
      observations: n,
      patients: patientCount,
      loadedBy,
      loadSeconds: round(loadSeconds, 0),
      loadPerSecond: round(n / loadSeconds, 0),
      readP50Ms: round(median(reads), 3),
      readP99Ms: round(percentile(reads, 99), 3),
      httpReadP50Ms: round(median(httpReads), 2),
      httpReadP99Ms: round(percentile(httpReads, 99), 2),
      searchP50Ms: round(median(searches), 3),
      searchP99Ms: round(percentile(searches, 99), 3),
      httpSearchP50Ms: round(median(httpSearches), 2),
      httpSearchP99Ms: round(percentile(httpSearches, 99), 2),
      searchMeanMatches: round(matches / Q, 1),
      dataDirMb: round(dirBytes(server.dir) / 1e6, 0),
    };
  } finally {
    await server.close();
  }
}

// ---------------------------------------------------------------------------------------------

export async function runFhirBench(options: FhirBenchOptions): Promise<FhirBenchResult | undefined> {
  const { quick, log } = options;
  const w = workload();
  const sizes = w.observations.map((o) => JSON.stringify(observationFor(o, randomUUID())).length);
  log(`FHIR: ${w.observations.length} demo Observation templates, median ${median(sizes)} bytes, ${w.codes.length} codes`);
  const createCount = quick ? 10_000 : 30_000;

  const server = await startServer();
  let httpCreate: CreateStats;
  let inProcessCreate: CreateStats;
  let bundle: BundleStats;
  try {
    if (options.profileOnly === 'bundles') {
      await seedPatients(server.fhir, w, 0);
      log(`  ${(await bundleIngest(server, log)).resourcesPerSecond} resources/s`);
      return undefined;
    }
    const patients = await seedPatients(server.fhir, w, 200);
    log(`FHIR creates over HTTP: ${createCount} Observations, ${CLIENTS} clients`);
    httpCreate = await httpCreates(server.url, w, patients, createCount);
    log(`  ${httpCreate.perSecond}/s, p50 ${httpCreate.latencyP50Ms} ms, p99 ${httpCreate.latencyP99Ms} ms`);
    if (options.profileOnly) return undefined;
    log(`FHIR creates in-process (repository): ${createCount} Observations, ${CLIENTS} in flight`);
    inProcessCreate = await inProcessCreates(server.fhir, w, patients, createCount, CLIENTS);
    log(`  ${inProcessCreate.perSecond}/s, p50 ${inProcessCreate.latencyP50Ms} ms, p99 ${inProcessCreate.latencyP99Ms} ms`);
    log('FHIR bundle ingest');
    bundle = await bundleIngest(server, log);
    log(`  ${bundle.resourcesPerSecond} resources/s`);
  } finally {
    await server.close();
  }
  if (options.writesOnly) {
    return { observationBytesMedian: median(sizes), httpCreate, inProcessCreate, bundle, readSearch: [] };
  }

  const readSearchResults: ReadSearchStats[] = [];
  for (const n of quick ? [10_000] : [10_000, 1_000_000]) {
    const r = await readSearch(n, w, inProcessCreate.perSecond, log);
    log(
      `  read p50/p99 ${r.readP50Ms}/${r.readP99Ms} ms (HTTP ${r.httpReadP50Ms}/${r.httpReadP99Ms}); search p50/p99 ${r.searchP50Ms}/${r.searchP99Ms} ms (HTTP ${r.httpSearchP50Ms}/${r.httpSearchP99Ms})`,
    );
    readSearchResults.push(r);
  }
  return {
    observationBytesMedian: median(sizes),
    httpCreate,
    inProcessCreate,
    bundle,
    readSearch: readSearchResults,
  };
}

/** The FHIR rows of the markdown results table. */
export function fhirTable(r: FhirBenchResult): string[] {
  const rows = [
    '',
    `FHIR (Observations from the demo generator, median ${r.observationBytesMedian} bytes; every create validated, encrypted, committed to the ledger and indexed before 201)`,
    '',
    '| FHIR | value | target |',
    '|---|---:|---:|',
    `| creates/s over HTTP, ${r.httpCreate.concurrency} keep-alive clients, ${r.httpCreate.creates.toLocaleString('en')} creates | ${r.httpCreate.perSecond} | ≥ 3,000 |`,
    `| create latency over HTTP p50 / p99 (ms) | ${r.httpCreate.latencyP50Ms} / ${r.httpCreate.latencyP99Ms} | |`,
    `| creates/s in-process (repository, no HTTP), ${r.inProcessCreate.concurrency} in flight | ${r.inProcessCreate.perSecond} | |`,
    `| create latency in-process p50 / p99 (ms) | ${r.inProcessCreate.latencyP50Ms} / ${r.inProcessCreate.latencyP99Ms} | |`,
    `| transaction Bundle ingest (resources/s), ${r.bundle.patients} patient histories, ${r.bundle.resources} resources | ${r.bundle.resourcesPerSecond} | ≥ 15,000 |`,
  ];
  for (const s of r.readSearch) {
    const n = s.observations.toLocaleString('en');
    const big = s.observations >= 1_000_000;
    rows.push(
      `| read by id p50 / p99 (ms), ${n} Observations — in-process / HTTP | ${s.readP50Ms} / ${s.readP99Ms} — ${s.httpReadP50Ms} / ${s.httpReadP99Ms} | ${big ? 'p99 ≤ 5' : ''} |`,
      `| search patient+code p50 / p99 (ms), ${n} — in-process / HTTP (mean ${s.searchMeanMatches} matches) | ${s.searchP50Ms} / ${s.searchP99Ms} — ${s.httpSearchP50Ms} / ${s.httpSearchP99Ms} | ${big ? 'p99 ≤ 25' : ''} |`,
      `| ${n} Observations loaded by | ${s.loadedBy}: ${s.loadSeconds} s, ${s.loadPerSecond}/s, data dir ${s.dataDirMb} MB | |`,
    );
  }
  return rows;
}

/**
 * `node dist/bench/fhir.js N`: only read/search at N stored Observations (bulk-loaded through
 * Vault.writeMany when the write path would take > 25 min at `--rate`, default 330/s, the measured
 * in-process create rate); writes bench/results/fhir-readsearch-N.json.
 */
if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 100_000);
  const rate = Number(process.argv.find((a) => a.startsWith('--rate='))?.slice(7) ?? 330);
  const log = (line: string): void => console.error(line);
  const r = await readSearch(n, workload(), rate, log);
  log(
    `  read p50/p99 ${r.readP50Ms}/${r.readP99Ms} ms (HTTP ${r.httpReadP50Ms}/${r.httpReadP99Ms}); search p50/p99 ${r.searchP50Ms}/${r.searchP99Ms} ms (HTTP ${r.httpSearchP50Ms}/${r.httpSearchP99Ms})`,
  );
  const { writeFileSync } = await import('node:fs');
  const out = new URL(`../../bench/results/fhir-readsearch-${n}.json`, import.meta.url);
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), readSearch: r }, null, 2)}\n`);
  console.log(JSON.stringify(r, null, 2));
}
