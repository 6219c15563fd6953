/**
 * Over HTTP: a real `medledger start` child process, and 64 concurrent clients (one registrar
 * identity each, pre-signed transactions, keep-alive connections) posting enrollments in a closed
 * loop. Each 200 means the transaction is committed, with its proof.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { keyPairFromSeed } from '../src/crypto/ed25519.js';
import { Identity } from '../src/client/identity.js';
import { initDataDir, ORG_KEY, paths } from '../src/node/data-dir.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { BenchHttpClient } from './http-client.js';
import { percentile, median, round } from './stats.js';
import { enrollment, registrarTxs } from './workload.js';

const PASSPHRASE = 'benchmark passphrase';
const CLIENTS = 64;

export interface HttpResult {
  readonly transactions: number;
  readonly clients: number;
  readonly committedPerSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly nodeRssMb: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function runHttp(dir: string, count: number, log: (line: string) => void): Promise<HttpResult> {
  initDataDir(dir, { chain: 'bench', orgId: 'org_bench', orgName: 'Bench Hospital', passphrase: PASSPHRASE });
  const keystore = FileKeyStore.open(paths(dir).keystore, PASSPHRASE);
  const org = new Identity('bench', 'org_bench', keyPairFromSeed(keystore.secretKey(ORG_KEY)!));
  const port = await freePort();
  const bin = fileURLToPath(new URL('../../bin/medledger.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'start', '--data', dir, '--port', String(port), '--quiet'], {
    env: { ...process.env, MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const http = new BenchHttpClient(`http://127.0.0.1:${port}`, CLIENTS);
    const post = async (wire: Uint8Array): Promise<number> =>
      (await http.request('POST', '/api/v1/txs', { 'content-type': 'application/octet-stream' }, wire)).status;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (res.ok) break;
      } catch {
        if (attempt > 100) throw new Error('node did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const setup = registrarTxs(org, CLIENTS);
    await Promise.all(setup.txs.map((tx) => post(tx.wire)));
    log(`  signing ${count} transactions for ${CLIENTS} clients (untimed)…`);
    const perClient = Math.ceil(count / CLIENTS);
    const work = setup.registrars.map((registrar) => Array.from({ length: perClient }, () => enrollment(registrar)));
    const latencies: number[] = [];
    let failures = 0;
    log(`  ${CLIENTS} clients posting ${perClient * CLIENTS} transactions…`);
    const started = performance.now();
    await Promise.all(
      work.map(async (txs) => {
        for (const wire of txs) {
          const sent = performance.now();
          const status = await post(wire);
          latencies.push(performance.now() - sent);
          if (status !== 200) failures++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (failures > 0) throw new Error(`${failures} HTTP submissions failed`);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    http.close();
    return {
      transactions: latencies.length,
      clients: CLIENTS,
      committedPerSecond: round(latencies.length / seconds, 0),
      latencyP50Ms: round(median(latencies), 1),
      latencyP99Ms: round(percentile(latencies, 99), 1),
      nodeRssMb: round(rssKb / 1024, 0),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
