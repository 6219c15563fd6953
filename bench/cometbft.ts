/**
 * CometBFT network benchmark (not part of `npm test` or `npm run bench`):
 *   node dist/bench/cometbft.js [--orgs 4] [--signers 40] [--txs 2000] [--window 10] [--timeout-commit 500]
 * Creates a local network (4 cometbft + 4 medledger processes on 127.0.0.1), registers `signers`
 * practitioners, then has them register `txs` patients over HTTP — each practitioner through one
 * node, round-robin over the nodes, up to `window` of its transactions in flight — and reports
 * committed transactions per second and submit-to-receipt latency (p50, p99).
 */
import { cpus } from 'node:os';
import { Identity } from '../src/client/identity.js';
import { keyPairFromSeed } from '../src/crypto/ed25519.js';
import type { SignedTx } from '../src/ledger/tx.js';
import { ORG_KEY, paths, resolvePassphrase } from '../src/node/data-dir.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import {
  cometbftBinary,
  createNetwork,
  orgProcesses,
  startOrg,
  stopOrg,
  type NetworkOrg,
} from '../src/consensus/cometbft/network.js';
import { registerPatient, registerPractitioner, tempDir } from '../test/support/fixtures.js';
import { percentile, round } from './stats.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const orgCount = arg('orgs', 4);
const signers = arg('signers', 40);
const total = arg('txs', 2000);
const window = arg('window', 10);
const timeoutCommit = arg('timeout-commit', 500);
const gossip = arg('gossip', 100);

if (!cometbftBinary()) {
  console.error('cometbft not found (PATH or COMETBFT_BIN)');
  process.exit(1);
}

/** Kept-alive HTTP connections: the load generator shares the 2 cores, and fetch costs ~1 ms of CPU per call. */
const agent = new Agent({ keepAlive: true });

function submit(org: NetworkOrg, tx: SignedTx): Promise<{ height: number }> {
  // The wire bytes as they are (the API also takes JSON {"tx": base64}).
  const body = tx.wire;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: org.httpPort,
        path: '/api/v1/txs',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            height: number;
            code?: string;
            message?: string;
          };
          if (res.statusCode !== 200) reject(new Error(`${org.id}: ${answer.code}: ${answer.message}`));
          else resolve(answer);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** CPU seconds so far of every cometbft and medledger process, and of this load generator. */
function cpuNow(orgs: readonly NetworkOrg[]): { cometbft: number; medledger: number; load: number } {
  const pids = orgs.map((o) => orgProcesses(o));
  const usage = process.cpuUsage();
  return {
    cometbft: pids.reduce((n, p) => n + cpuSeconds(p.cometbft), 0),
    medledger: pids.reduce((n, p) => n + cpuSeconds(p.medledger), 0),
    load: (usage.user + usage.system) / 1e6,
  };
}

const temp = tempDir('mlbench-');
const network = createNetwork({
  dir: temp.path,
  orgs: orgCount,
  chain: 'bench-net',
  basePort: 27100,
  httpBasePort: 27105,
  timeoutCommitMs: timeoutCommit,
  timeoutProposeMs: 1000,
  timeoutVoteMs: 500,
  gossipMs: gossip,
});
try {
  await Promise.all(network.orgs.map((org) => startOrg(org)));
  const dataDir = network.orgs[0]!.dataDir;
  const keystore = FileKeyStore.open(paths(dataDir).keystore, resolvePassphrase(dataDir));
  const org = new Identity('bench-net', 'org_1', keyPairFromSeed(keystore.secretKey(ORG_KEY)!));
  const practitioners = Array.from({ length: signers }, (_, i) => registerPractitioner(org, `prac_bench-${i}`, ['registrar']));
  await Promise.all(practitioners.map((p) => submit(network.orgs[0]!, p.tx)));
  console.error(`${signers} practitioners registered; submitting ${total} transactions`);

  const latencies: number[] = [];
  const perSigner = Math.ceil(total / signers);
  // Signed before the clock starts: the load generator's signing is not the network's work.
  const work = practitioners.map(({ practitioner }) => Array.from({ length: perSigner }, () => registerPatient(practitioner).tx));
  const cpuBefore = cpuNow(network.orgs);
  const start = performance.now();
  await Promise.all(
    practitioners.map(async (_, s) => {
      const node = network.orgs[s % network.orgs.length]!;
      const txs = work[s]!;
      let next = 0;
      await Promise.all(
        Array.from({ length: window }, async () => {
          while (next < txs.length) {
            const tx = txs[next++]!;
            const t0 = performance.now();
            await submit(node, tx);
            latencies.push(performance.now() - t0);
          }
        }),
      );
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = cpuNow(network.orgs);
  const cpu = Object.fromEntries(
    (['cometbft', 'medledger', 'load'] as const).map((k) => [k, round(cpuAfter[k] - cpuBefore[k], 1)]),
  ) as Record<'cometbft' | 'medledger' | 'load', number>;
  // Blocks during the run, from the first node's CometBFT: how many, how full, how far apart.
  const rpc = `http://127.0.0.1:${network.orgs[0]!.rpcPort}`;
  const metas: { header: { height: string; time: string }; num_txs: string }[] = [];
  const top = Number(
    ((await (await fetch(`${rpc}/status`)).json()) as { result: { sync_info: { latest_block_height: string } } }).result.sync_info
      .latest_block_height,
  );
  for (let max = top; max > 0 && metas.length < 400; max -= 20) {
    const page = (await (await fetch(`${rpc}/blockchain?minHeight=${Math.max(1, max - 19)}&maxHeight=${max}`)).json()) as {
      result: { block_metas: typeof metas };
    };
    metas.push(...page.result.block_metas);
  }
  const busy = metas.filter((m) => Number(m.num_txs) > 0).sort((a, b) => Number(a.header.height) - Number(b.header.height));
  const span =
    busy.length > 1 ? (Date.parse(busy.at(-1)!.header.time) - Date.parse(busy[0]!.header.time)) / (busy.length - 1) : 0;
  console.error(
    `blocks with transactions: ${busy.length}, transactions per block: max ${Math.max(...busy.map((m) => Number(m.num_txs)))}, mean ${round(busy.reduce((n, m) => n + Number(m.num_txs), 0) / Math.max(1, busy.length), 0)}; mean interval ${round(span, 0)} ms`,
  );
  const result = {
    orgs: orgCount,
    cpus: cpus().length,
    timeoutCommitMs: timeoutCommit,
    gossipMs: gossip,
    txs: latencies.length,
    seconds: round(seconds, 2),
    txPerSecond: round(latencies.length / seconds, 0),
    latencyMs: { p50: round(percentile(latencies, 50), 0), p99: round(percentile(latencies, 99), 0) },
    // CPU seconds used during the run by all cometbft processes, all medledger processes and the load generator.
    cpuSeconds: cpu,
    cpuMsPerTx: round(((cpu.cometbft + cpu.medledger + cpu.load) * 1000) / Math.max(1, latencies.length), 2),
  };
  console.log(JSON.stringify(result));
} finally {
  agent.destroy();
  await Promise.all(network.orgs.map((o) => stopOrg(o)));
  temp.remove();
}
