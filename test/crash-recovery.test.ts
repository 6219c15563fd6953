/**
 * "Acknowledged means durable": the real node runs as a child process (`medledger start`), takes
 * concurrent load over HTTP and is killed with SIGKILL while requests are in flight. After each
 * restart on the same data directory (taking over the dead process's LOCK) every acknowledged
 * transaction must be there with a proof that verifies against the latest signed checkpoint, the
 * chain must go on, and a full audit of the data directory must pass.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Identity } from '../src/client/identity.js';
import { equalBytes, fromBase64, fromHex, toHex } from '../src/crypto/bytes.js';
import { keyPairFromSeed } from '../src/crypto/ed25519.js';
import { verifyCheckpoint, type SignedCheckpoint } from '../src/ledger/block.js';
import { decodeGenesis } from '../src/ledger/genesis.js';
import { leafHash, verifyInclusion } from '../src/ledger/merkle.js';
import { decodeTx } from '../src/ledger/tx.js';
import { ORG_KEY, paths } from '../src/node/data-dir.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { SqliteLedgerStore } from '../src/storage/sqlite/ledger-store.js';
import { auditDataDir } from '../src/verify/audit.js';
import { BIN, ROOT } from './support/cli.js';
import { CHAIN, FOUNDER, initTestDir, PASSPHRASE, registerPatient, registerPractitioner, tempDir } from './support/fixtures.js';
import { staffTokenFor } from './support/network.js';

// ---------------------------------------------------------------------------------------------
// Child processes

interface NodeProcess {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

const children: NodeProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolvePort, rejectPort) => {
    const server = createServer();
    server.once('error', rejectPort);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return rejectPort(new Error('no port'));
      server.close(() => resolvePort(address.port));
    });
  });
}

function spawnNode(dir: string, port: number): NodeProcess {
  const proc = spawn(process.execPath, [BIN, 'start', '--data', dir, '--port', String(port), '--quiet'], {
    cwd: ROOT,
    env: { ...process.env, MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    // 'close' comes after 'exit' once stdout and stderr are drained, so output() is complete.
    proc.once('close', (code, signal) => resolveExit({ code, signal }));
  });
  const child: NodeProcess = { proc, url: `http://127.0.0.1:${port}`, exited, output: () => out };
  children.push(child);
  return child;
}

const isRunning = (child: NodeProcess): boolean => child.proc.exitCode === null && child.proc.signalCode === null;

async function waitExit(child: NodeProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const result = await Promise.race([child.exited, sleep(ms, undefined, { ref: false })]);
  if (result) return result;
  child.proc.kill('SIGKILL');
  await child.exited;
  assert.fail(`node process did not exit within ${ms} ms\n${child.output()}`);
}

async function startNode(dir: string): Promise<NodeProcess> {
  const child = spawnNode(dir, await freePort());
  const deadline = performance.now() + 15_000;
  for (;;) {
    if (!isRunning(child))
      assert.fail(`node exited during start-up (${child.proc.exitCode ?? child.proc.signalCode})\n${child.output()}`);
    try {
      const res = await fetch(`${child.url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return child;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      child.proc.kill('SIGKILL');
      assert.fail(`node did not become healthy within 15 s\n${child.output()}`);
    }
    await sleep(50);
  }
}

async function killHard(child: NodeProcess): Promise<void> {
  child.proc.kill('SIGKILL');
  const { signal } = await waitExit(child, 10_000);
  assert.equal(signal, 'SIGKILL');
}

async function killAll(): Promise<void> {
  for (const child of children.splice(0)) {
    if (isRunning(child)) {
      child.proc.kill('SIGKILL');
      await Promise.race([child.exited, sleep(5000, undefined, { ref: false })]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

async function getJson<T>(url: string, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(5000),
    ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface CheckpointJson {
  chain: string;
  size: number;
  root: string;
  time: number;
  signer: string;
  signature: string;
}

interface ReceiptJson {
  hash: string;
  height: number;
  index: number;
  proof: { size: number; path: string[] };
  checkpoint: CheckpointJson;
}

interface TxJson extends ReceiptJson {
  wire: string;
}

const hex = (s: string): Uint8Array => {
  const b = fromHex(s);
  assert.ok(b, `not hex: ${s}`);
  return b;
};

function signedCheckpoint(c: CheckpointJson): SignedCheckpoint {
  const signature = fromBase64(c.signature);
  assert.ok(signature);
  return { checkpoint: { chain: c.chain, size: c.size, root: hex(c.root), time: c.time }, signer: hex(c.signer), signature };
}

/** A proof (as the API returns it) for `wire` at `index` verifies against a validly signed checkpoint. */
function assertProof(
  wire: Uint8Array,
  index: number,
  proof: { size: number; path: string[] },
  cp: CheckpointJson,
  validator: Uint8Array,
): void {
  const signed = signedCheckpoint(cp);
  assert.equal(cp.chain, CHAIN);
  assert.ok(equalBytes(signed.signer, validator), 'checkpoint is signed by the chain validator');
  assert.ok(verifyCheckpoint(signed), 'checkpoint signature verifies');
  assert.equal(proof.size, cp.size);
  assert.ok(
    verifyInclusion(leafHash(wire), index, cp.size, proof.path.map(hex), signed.checkpoint.root),
    `inclusion proof of index ${index} verifies`,
  );
}

/** Runs `fn` over `items` with at most `width` at a time. */
async function eachLimited<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

// ---------------------------------------------------------------------------------------------
// Load

interface Ack {
  readonly signer: string;
  readonly seq: number;
  readonly height: number;
  readonly index: number;
  readonly wire: Uint8Array;
}

class Load {
  readonly acked = new Map<string, Ack>();
  readonly problems: string[] = [];
  inFlight = 0;
  killed = false;
  stop = false;
  ackedThisRound = 0;
  requests = 0;

  constructor(
    public url: string,
    readonly validator: Uint8Array,
  ) {}

  async resync(signer: Identity): Promise<void> {
    const { status, body } = await getJson<{ nextSeq: number }>(`${this.url}/api/v1/participants/${signer.id}`);
    assert.equal(status, 200);
    signer.setNextSeq(body.nextSeq);
  }

  /** One signer: sequential registrations until stopped, killed, or a bound is reached. */
  async run(signer: Identity, deadline: number, maxRequests: number): Promise<void> {
    for (let n = 0; n < maxRequests && !this.stop && !this.killed && performance.now() < deadline; n++) {
      const { tx } = registerPatient(signer);
      this.inFlight += 1;
      this.requests += 1;
      try {
        const res = await fetch(`${this.url}/api/v1/txs`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: tx.wire,
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await res.json()) as ReceiptJson & { code?: string; message?: string };
        if (res.status === 200) {
          assert.equal(body.hash, toHex(tx.hash));
          assertProof(tx.wire, body.index, body.proof, body.checkpoint, this.validator);
          this.acked.set(body.hash, { signer: signer.id, seq: tx.tx.seq, height: body.height, index: body.index, wire: tx.wire });
          this.ackedThisRound += 1;
        } else {
          if (!this.killed) this.problems.push(`${signer.id} seq ${tx.tx.seq}: HTTP ${res.status} ${body.code}: ${body.message}`);
          await this.resync(signer);
        }
      } catch (error) {
        // Expected only once the node has been killed: the connection drops, no acknowledgement.
        if (!this.killed) this.problems.push(`${signer.id} seq ${tx.tx.seq}: ${(error as Error).message}`);
        return;
      } finally {
        this.inFlight -= 1;
      }
    }
  }
}

/** Checks every acknowledged transaction against the running node and its latest checkpoint. */
async function checkAcknowledged(url: string, dir: string, load: Load, validator: Uint8Array): Promise<CheckpointJson> {
  const token = await staffTokenFor(dir, url, PASSPHRASE);
  const latest = await getJson<CheckpointJson>(`${url}/api/v1/checkpoints/latest`);
  assert.equal(latest.status, 200);
  const cp = latest.body;
  assert.ok(verifyCheckpoint(signedCheckpoint(cp)), 'latest checkpoint signature verifies');
  const missing: string[] = [];
  await eachLimited([...load.acked], 16, async ([hash, ack]) => {
    const { status, body } = await getJson<TxJson>(`${url}/api/v1/txs/${hash}`, token);
    if (status !== 200) return void missing.push(`${hash} (${ack.signer} seq ${ack.seq}, height ${ack.height}): HTTP ${status}`);
    assert.equal(body.hash, hash);
    assert.equal(body.index, ack.index, 'log index is unchanged');
    assert.equal(body.height, ack.height, 'block height is unchanged');
    const wire = fromBase64(body.wire);
    assert.ok(wire && equalBytes(wire, ack.wire), 'stored bytes are the submitted bytes');
    const decoded = decodeTx(wire, CHAIN);
    assert.ok(decoded.ok && toHex(decoded.value.hash) === hash);
    assert.equal(body.checkpoint.size, cp.size, 'proof is against the latest checkpoint');
    assert.equal(body.checkpoint.root, cp.root);
    assertProof(wire, body.index, body.proof, body.checkpoint, validator);
  });
  assert.deepEqual(missing, [], `${missing.length} acknowledged transactions are missing after restart`);
  return cp;
}

// ---------------------------------------------------------------------------------------------

function chainKeys(dir: string): { validator: Uint8Array; org: Identity } {
  const store = new SqliteLedgerStore(paths(dir).ledger, { readonly: true });
  let validator: Uint8Array;
  try {
    const genesis = decodeGenesis(store.genesis()!);
    assert.ok(genesis.ok);
    validator = genesis.value.validators[0]!.key;
  } finally {
    store.close();
  }
  const seed = FileKeyStore.open(paths(dir).keystore, PASSPHRASE).secretKey(ORG_KEY);
  assert.ok(seed);
  return { validator, org: new Identity(CHAIN, FOUNDER, keyPairFromSeed(seed), 0) };
}

const SIGNERS = 16;
const CYCLES = 3;

test('acknowledged means durable: SIGKILL under load, restart, every ack is there and proven', { timeout: 90_000 }, async () => {
  const started = performance.now();
  const temp = tempDir('medledger-crash-');
  try {
    initTestDir(temp.path);
    const { validator, org } = chainKeys(temp.path);
    const lockPath = paths(temp.path).lock;

    let node = await startNode(temp.path);
    const load = new Load(node.url, validator);

    // Registrars (only organizations and registrars/admins may enroll patients).
    const signers: Identity[] = [];
    for (let i = 0; i < SIGNERS; i++) {
      const { tx, practitioner } = registerPractitioner(org, `prac_crash-${i}`, ['registrar']);
      const res = await fetch(`${node.url}/api/v1/txs`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: tx.wire,
      });
      assert.equal(res.status, 200, await res.text());
      signers.push(practitioner);
    }

    let inFlightAtKills = 0;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      // Load until a random-ish number of acknowledgements, then kill -9 with requests in flight.
      const target = 300 + Math.floor(Math.random() * 150);
      load.killed = false;
      load.ackedThisRound = 0;
      const deadline = performance.now() + 12_000;
      const loops = signers.map((s) => load.run(s, deadline, 400));
      while (load.ackedThisRound < target && performance.now() < deadline && load.problems.length === 0) await sleep(5);
      await sleep(Math.random() * 15);
      assert.deepEqual(load.problems, [], 'no errors before the kill');
      assert.ok(load.ackedThisRound >= 300, `cycle ${cycle}: only ${load.ackedThisRound} acks before the deadline`);
      load.killed = true;
      inFlightAtKills += load.inFlight;
      assert.ok(existsSync(lockPath));
      assert.equal(readFileSync(lockPath, 'utf8'), String(node.proc.pid), 'LOCK names the running node');
      await killHard(node);
      await Promise.all(loops);
      assert.deepEqual(load.problems, []);
      const maxAckHeight = Math.max(...[...load.acked.values()].map((a) => a.height));

      // The dead process left its LOCK behind; an offline audit of the crashed data dir passes.
      assert.ok(existsSync(lockPath), 'a killed node leaves its LOCK file');
      const crashedAudit = await auditDataDir(paths(temp.path).ledger);
      assert.equal(crashedAudit.ok, true, `audit after crash ${cycle}: ${JSON.stringify(crashedAudit.problem)}`);
      assert.ok(crashedAudit.height >= maxAckHeight);

      // Restart on the same data dir: the stale LOCK is taken over.
      node = await startNode(temp.path);
      assert.equal(readFileSync(lockPath, 'utf8'), String(node.proc.pid), 'the new node holds the LOCK');
      load.url = node.url;
      const status = await getJson<{ height: number; logSize: number }>(`${node.url}/api/v1/status`);
      assert.equal(status.body.height, crashedAudit.height, 'the restarted node resumes at the durable height');
      assert.equal(status.body.logSize, crashedAudit.txs);

      // Every acknowledged transaction (from all cycles so far) is there, proven against the latest checkpoint.
      await checkAcknowledged(node.url, temp.path, load, validator);

      // Signers continue from the ledger's view of their sequence numbers.
      for (const signer of signers) {
        await load.resync(signer);
        const mine = [...load.acked.values()].filter((a) => a.signer === signer.id);
        const highest = Math.max(-1, ...mine.map((a) => a.seq));
        assert.ok(signer.nextSeq > highest, `${signer.id}: nextSeq ${signer.nextSeq} but seq ${highest} was acknowledged`);
      }
    }
    assert.ok(inFlightAtKills > 0, 'the node was killed with requests in flight');

    // The chain continues after the last restart: one more transaction per signer commits on top.
    const heightBefore = (await getJson<{ height: number }>(`${node.url}/api/v1/status`)).body.height;
    load.killed = false;
    load.ackedThisRound = 0;
    await Promise.all(signers.map((s) => load.run(s, performance.now() + 10_000, 1)));
    assert.deepEqual(load.problems, []);
    assert.equal(load.ackedThisRound, SIGNERS);
    const after = await checkAcknowledged(node.url, temp.path, load, validator);
    assert.ok((await getJson<{ height: number }>(`${node.url}/api/v1/status`)).body.height > heightBefore);

    // Graceful stop, then a full offline audit.
    node.proc.kill('SIGTERM');
    const stopped = await waitExit(node, 15_000);
    assert.equal(stopped.code, 0, `graceful stop failed\n${node.output()}`);
    assert.equal(existsSync(lockPath), false, 'a cleanly stopped node releases its LOCK');
    const audit = await auditDataDir(paths(temp.path).ledger);
    assert.equal(audit.ok, true, `final audit: ${JSON.stringify(audit.problem)}`);
    assert.equal(audit.txs, after.size);
    assert.ok(audit.txs >= load.acked.size + SIGNERS);

    const seconds = (performance.now() - started) / 1000;
    console.log(
      `# crash-recovery: ${CYCLES} kill -9 cycles, ${load.acked.size} acknowledged txs, ${load.requests} requests, ` +
        `${inFlightAtKills} in flight at kills, final height ${audit.height}, ${audit.txs} txs, ${seconds.toFixed(1)} s`,
    );
  } finally {
    await killAll();
    temp.remove();
  }
});

test('a second `start` on a data dir whose node is alive fails with "in use"', { timeout: 60_000 }, async () => {
  const temp = tempDir('medledger-lock-');
  try {
    initTestDir(temp.path);
    const first = await startNode(temp.path);
    const second = spawnNode(temp.path, await freePort());
    const { code } = await waitExit(second, 15_000);
    assert.notEqual(code, 0, 'the second node must not start');
    assert.match(second.output(), /in use/i);
    assert.match(second.output(), new RegExp(String(first.proc.pid)), 'the message names the holder');
    // The first node is unaffected and still holds the lock.
    const health = await getJson<{ status: string }>(`${first.url}/healthz`);
    assert.equal(health.body.status, 'ok');
    assert.equal(readFileSync(paths(temp.path).lock, 'utf8'), String(first.proc.pid));
    first.proc.kill('SIGTERM');
    assert.equal((await waitExit(first, 15_000)).code, 0);
  } finally {
    await killAll();
    temp.remove();
  }
});

test('a LOCK file left empty by a process that died while locking is taken over', { timeout: 60_000 }, async () => {
  // A crash (or power loss) between creating LOCK and writing the pid into it leaves an empty file.
  const temp = tempDir('medledger-emptylock-');
  try {
    initTestDir(temp.path);
    writeFileSync(paths(temp.path).lock, '');
    const node = await startNode(temp.path);
    assert.equal(readFileSync(paths(temp.path).lock, 'utf8'), String(node.proc.pid));
    node.proc.kill('SIGTERM');
    assert.equal((await waitExit(node, 15_000)).code, 0);
  } finally {
    await killAll();
    temp.remove();
  }
});
