/**
 * In-process throughput and latency: pre-signed enrollments submitted straight to the node
 * (admission, signature checks on worker threads, sequencing, commit), with a bounded window of
 * transactions in flight. Also measures proofs, verify, memory and disk use on the result.
 */
import { closeSync, openSync, readSync, statSync, writeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { keyPairFromSeed } from '../src/crypto/ed25519.js';
import { Identity } from '../src/client/identity.js';
import { initDataDir, ORG_KEY, paths } from '../src/node/data-dir.js';
import { LedgerNode } from '../src/node/ledger-node.js';
import { inclusionProof, consistencyProof, verifyInclusion, verifyConsistency, rootAt } from '../src/ledger/merkle.js';
import { auditDataDir } from '../src/verify/audit.js';
import { percentile, median, round, timeEach } from './stats.js';
import { enrollment, registrarTxs } from './workload.js';

export const PASSPHRASE = 'benchmark passphrase';
const SIGNERS = 64;
const WINDOW = 4096;

export interface InProcessResult {
  readonly transactions: number;
  readonly committedPerSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly blocks: number;
  readonly rssMb: number;
  readonly dbBytesPerTx: number;
  readonly inclusionProofP50Ms: number;
  readonly inclusionProofP99Ms: number;
  readonly inclusionVerifyP50Ms: number;
  readonly consistencyProofP50Ms: number;
  readonly verifyPerSecond: number;
  readonly verifyOk: boolean;
}

/** Writes `count` signed enrollments as length-prefixed records, so 1M never sits in memory. */
function pregenerate(file: string, registrars: Identity[], count: number): void {
  const fd = openSync(file, 'w');
  const chunk: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const wire = enrollment(registrars[i % registrars.length]!);
    const header = Buffer.alloc(2);
    header.writeUInt16BE(wire.length);
    chunk.push(header, Buffer.from(wire));
    if (chunk.length >= 8192) writeSync(fd, Buffer.concat(chunk.splice(0)));
  }
  writeSync(fd, Buffer.concat(chunk));
  closeSync(fd);
}

function* readRecords(file: string): Generator<Uint8Array> {
  const fd = openSync(file, 'r');
  let buffer = Buffer.alloc(0);
  const chunk = Buffer.alloc(1 << 20);
  for (;;) {
    const read = readSync(fd, chunk, 0, chunk.length, null);
    buffer = Buffer.concat([buffer, chunk.subarray(0, read)]);
    let offset = 0;
    while (offset + 2 <= buffer.length) {
      const length = buffer.readUInt16BE(offset);
      if (offset + 2 + length > buffer.length) break;
      yield new Uint8Array(buffer.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    buffer = buffer.subarray(offset);
    if (read === 0) break;
  }
  closeSync(fd);
}

export async function runInProcess(dir: string, count: number, log: (line: string) => void): Promise<InProcessResult> {
  initDataDir(dir, { chain: 'bench', orgId: 'org_bench', orgName: 'Bench Hospital', passphrase: PASSPHRASE });
  const node = LedgerNode.open({ dataDir: dir, passphrase: PASSPHRASE });
  const org = new Identity('bench', 'org_bench', keyPairFromSeed(node.keystore.secretKey(ORG_KEY)!));
  const setup = registrarTxs(org, SIGNERS);
  await Promise.all(setup.txs.map((tx) => node.submit(tx.wire)));
  const file = join(dir, 'workload.bin');
  log(`  signing ${count} transactions (untimed)…`);
  pregenerate(file, setup.registrars, count);

  log(`  submitting ${count} transactions, ${WINDOW} in flight…`);
  const latencies = new Float64Array(count);
  let failures = 0;
  let submitted = 0;
  const startHeight = node.chain.head().height;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const records = readRecords(file);
    let inFlight = 0;
    let done = false;
    const pump = (): void => {
      while (!done && inFlight < WINDOW) {
        const next = records.next();
        if (next.done) {
          done = true;
          break;
        }
        const index = submitted++;
        const sent = performance.now();
        inFlight++;
        void node.submit(next.value).then((outcome) => {
          latencies[index] = performance.now() - sent;
          if (!outcome.ok) failures++;
          inFlight--;
          if (done && inFlight === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  if (failures > 0) throw new Error(`${failures} benchmark transactions were rejected`);
  const blocks = node.chain.head().height - startHeight;
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  log(`  ${count} committed in ${seconds.toFixed(1)} s over ${blocks} blocks`);

  // Proofs at the final size, from the store as the API serves them.
  const size = node.chain.head().logSize;
  const root = node.chain.head().logRoot;
  const indices = Array.from({ length: 1000 }, (_, i) => Math.floor((((i * 7919) % 1000) / 1000) * size));
  const proofs: Uint8Array[][] = [];
  const proofTimes = timeEach(indices.length, (i) => void proofs.push(inclusionProof(node.chain.store, indices[i]!, size)));
  const leaves = indices.map((index) => node.chain.store.node(0, index));
  const verifyTimes = timeEach(indices.length, (i) => {
    if (!verifyInclusion(leaves[i]!, indices[i]!, size, proofs[i]!, root)) throw new Error('proof failed');
  });
  const consistencyTimes = timeEach(200, (i) => {
    const from = 1 + Math.floor((((i * 104729) % 997) / 997) * (size - 1));
    const proof = consistencyProof(node.chain.store, from, size);
    if (i === 0 && !verifyConsistency(from, size, proof, rootAt(node.chain.store, from), root))
      throw new Error('consistency failed');
  });
  await node.close();
  const ledger = paths(dir).ledger;
  const dbBytes = statSync(ledger).size + (existsSync(`${ledger}-wal`) ? statSync(`${ledger}-wal`).size : 0);

  log('  verifying the whole ledger…');
  const audit = await auditDataDir(ledger);
  return {
    transactions: count,
    committedPerSecond: round(count / seconds, 0),
    latencyP50Ms: round(median(latencies), 1),
    latencyP99Ms: round(percentile(latencies, 99), 1),
    blocks,
    rssMb: round(rssMb, 0),
    dbBytesPerTx: round(dbBytes / count, 0),
    inclusionProofP50Ms: round(median(proofTimes), 3),
    inclusionProofP99Ms: round(percentile(proofTimes, 99), 3),
    inclusionVerifyP50Ms: round(median(verifyTimes), 3),
    consistencyProofP50Ms: round(median(consistencyTimes), 3),
    verifyPerSecond: round(audit.txs / audit.seconds, 0),
    verifyOk: audit.ok,
  };
}
