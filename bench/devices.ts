/**
 * Device ingest throughput (issue 7 target: ≥ 50,000 samples/s on one node): D devices, each
 * registered to its own patient, send pre-signed batches (the devices sign, not the node) of B
 * samples; every batch is decoded, verified against the ledger key, deduplicated, sealed into
 * one encrypted Observation, committed to the ledger (one record commitment) and indexed before
 * it is acknowledged. In-process (DeviceService.ingest) and over HTTP (POST /api/v1/devices/…/
 * batches, keep-alive, one request in flight per device). Each run sends a fresh time span, so
 * nothing is a duplicate; the median of the runs is reported.
 * `node dist/bench/devices.js [samplesPerRun] [batchSize]` writes bench/results/devices.{json,md}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { initDataDir } from '../src/node/data-dir.js';
import { LedgerNode } from '../src/node/ledger-node.js';
import { FhirRepository } from '../src/fhir/repository.js';
import { AuthService } from '../src/auth/service.js';
import { openAccess } from '../src/node/access-ledger.js';
import { buildHttpServer } from '../src/server/http.js';
import { DeviceService } from '../src/devices/service.js';
import { simulateBatches } from '../src/devices/simulate.js';
import { deviceCode } from '../src/devices/codes.js';
import type { SignedBatch } from '../src/devices/batch.js';
import { median, percentile, round } from './stats.js';

const PASSPHRASE = 'bench passphrase';
const DEVICES = 16;
const RUNS = 3;

export interface DevicesBenchRow {
  readonly mode: 'in-process' | 'http';
  readonly runs: readonly number[];
  readonly medianSamplesPerSecond: number;
  readonly batchLatencyP50Ms: number;
  readonly batchLatencyP99Ms: number;
}

export interface DevicesBenchResult {
  readonly devices: number;
  readonly batchSamples: number;
  readonly samplesPerRun: number;
  readonly rows: readonly DevicesBenchRow[];
  readonly storedSamples: number;
  /** GET device-series work (index query, no HTTP or access log) over one patient's whole span. */
  readonly series: readonly {
    readonly samples: number;
    readonly points: number;
    readonly bucketMs: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
  }[];
  readonly vaultBytesPerSample: number;
}

export function devicesTable(r: DevicesBenchResult): string[] {
  return [
    '',
    `Device ingest: ${r.devices} devices, ${r.batchSamples}-sample batches, ${r.samplesPerRun.toLocaleString('en')} samples per run, median of ${RUNS} runs`,
    '',
    '| mode | samples/s (median) | runs | batch latency p50 / p99 (ms) | target |',
    '|---|---:|---|---:|---:|',
    ...r.rows.map(
      (row) =>
        `| ${row.mode} | ${row.medianSamplesPerSecond.toLocaleString('en')} | ${row.runs.map((n) => n.toLocaleString('en')).join(', ')} | ${row.batchLatencyP50Ms} / ${row.batchLatencyP99Ms} | 50,000 |`,
    ),
    '',
    `| stored samples | vault bytes per sample (whole vault file after a WAL checkpoint) |`,
    '|---:|---:|',
    `| ${r.storedSamples.toLocaleString('en')} | ${r.vaultBytesPerSample} |`,
    '',
    '| chart series of one patient (no HTTP, no access log) | samples | bucket | p50 / p99 (ms) |',
    '|---|---:|---:|---:|',
    ...r.series.map(
      (x) =>
        `| ${x.points} points${x.bucketMs % 3_600_000 === 0 ? ' (hourly roll-up)' : ' (samples)'} | ${x.samples.toLocaleString('en')} | ${x.bucketMs / 1000} s | ${x.p50Ms} / ${x.p99Ms} |`,
    ),
  ];
}

export async function runDevicesBench(
  samplesPerRun = 200_000,
  batchSamples = 1000,
  log: (s: string) => void = console.error,
): Promise<DevicesBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'medledger-devbench-'));
  try {
    initDataDir(dir, { chain: 'bench-devices', orgId: 'org_bench', orgName: 'Bench Hospital', passphrase: PASSPHRASE });
    const node = LedgerNode.open({ dataDir: dir, passphrase: PASSPHRASE });
    const repository = await FhirRepository.open(node, dir);
    const auth = await AuthService.open(node, dir);
    const access = openAccess(node, dir);
    const app = await buildHttpServer(node, { fhir: repository, auth, access });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const devices = DeviceService.open(node, repository);
    const signers: { device: string; signer: Signer }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const created = await repository.create(
        { resourceType: 'Patient', name: [{ family: `Bench-${i}` }] },
        { author: node.org.id },
      );
      const pseudonym = repository.vault.patientPseudonym(created.resource.id!)!;
      const enrolled = await node.submitOwn({
        type: 'participant.register',
        body: { kind: 'patient', id: pseudonym, key: generateKeyPair().publicKey },
      });
      if (!enrolled.ok) throw new Error(enrolled.error.message);
      const keys = generateKeyPair();
      const { device } = await devices.register(pseudonym, keys.publicKey);
      signers.push({ device, signer: new Signer(keys) });
    }
    // Heart rate at 1 Hz: a run covers samplesPerRun / DEVICES seconds per device.
    const spanMs = Math.ceil(samplesPerRun / DEVICES) * 1000;
    const base = Date.UTC(2026, 0, 1);
    let seq = 0;
    const prepare = (run: number): SignedBatch[][] =>
      signers.map(({ device, signer }) =>
        simulateBatches(
          {
            chain: node.chain.chainId,
            device,
            from: base + run * spanMs,
            to: base + (run + 1) * spanMs,
            codes: ['8867-4'],
            periods: { '8867-4': 1000 },
            batchSamples,
            firstSeq: (seq += 100_000),
            seed: run,
          },
          signer,
        ),
      );
    const total = (batches: SignedBatch[][]): number =>
      batches.reduce(
        (sum, list) => sum + list.reduce((s, b) => s + b.batch.series.reduce((n, x) => n + x.values.length, 0), 0),
        0,
      );

    const rows: DevicesBenchRow[] = [];
    let run = 0;
    for (const mode of ['in-process', 'http'] as const) {
      const rates: number[] = [];
      const latencies: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const batches = prepare(run++);
        const samples = total(batches);
        const started = performance.now();
        await Promise.all(
          batches.map(async (list, d) => {
            for (const batch of list) {
              const t0 = performance.now();
              if (mode === 'in-process') {
                await devices.ingest(batch.wire);
              } else {
                const res = await fetch(`${url}/api/v1/devices/${signers[d]!.device}/batches`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/octet-stream' },
                  body: batch.wire,
                });
                if (res.status !== 201) throw new Error(`batch refused: ${res.status} ${await res.text()}`);
                await res.arrayBuffer();
              }
              latencies.push(performance.now() - t0);
            }
          }),
        );
        const rate = Math.round(samples / ((performance.now() - started) / 1000));
        rates.push(rate);
        log(`devices ${mode} run ${r + 1}: ${rate.toLocaleString('en')} samples/s`);
      }
      rows.push({
        mode,
        runs: rates,
        medianSamplesPerSecond: Math.round(median(rates)),
        batchLatencyP50Ms: round(percentile(latencies, 50), 1),
        batchLatencyP99Ms: round(percentile(latencies, 99), 1),
      });
    }
    // Chart reads of one patient's whole span (every run): 200 points (sub-hour buckets, from the
    // samples) and 24 points (whole-hour buckets, from the hourly roll-up).
    const pseudonym = devices.patientOf(signers[0]!.device)!;
    const heartRate = deviceCode('8867-4')!;
    const series = [200, 24].map((points) => {
      const ms: number[] = [];
      let last = devices.series(pseudonym, heartRate, base, base + run * spanMs, points);
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        last = devices.series(pseudonym, heartRate, base, base + run * spanMs, points);
        ms.push(performance.now() - t0);
      }
      return {
        samples: last.samples,
        points,
        bucketMs: last.bucketMs,
        p50Ms: round(percentile(ms, 50), 2),
        p99Ms: round(percentile(ms, 99), 2),
      };
    });
    const storedSamples = repository.vault.db.prepare('SELECT count(*) FROM device_samples').pluck().get() as number;
    repository.vault.db.pragma('wal_checkpoint(TRUNCATE)');
    const pages = repository.vault.db.pragma('page_count', { simple: true }) as number;
    const pageSize = repository.vault.db.pragma('page_size', { simple: true }) as number;
    devices.close();
    await app.close();
    auth.close();
    await access.close();
    await repository.close();
    await node.close();
    return {
      devices: DEVICES,
      batchSamples,
      samplesPerRun,
      rows,
      storedSamples,
      series,
      vaultBytesPerSample: Math.round((pages * pageSize) / storedSamples),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node dist/bench/devices.js [samplesPerRun] [batchSize]`: this section alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runDevicesBench(Number(process.argv[2] ?? 200_000), Number(process.argv[3] ?? 1000));
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
  const date = new Date().toISOString();
  const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'devices.json'), `${JSON.stringify({ date, machine, ...result }, null, 2)}\n`);
  const table = [
    `MedLedger device ingest benchmark — ${date.slice(0, 10)}, ${machine.cpus} cores (${machine.model}), Node ${machine.node}`,
    ...devicesTable(result),
  ];
  writeFileSync(join(outDir, 'devices.md'), `${table.join('\n')}\n`);
  console.log(table.join('\n'));
}
