/**
 * A real 4-validator CometBFT network on 127.0.0.1 (4 cometbft + 4 medledger processes): the
 * nodes agree block for block; with one validator killed (-9) the rest keep committing and the
 * restarted one catches up and agrees; with two down nothing commits and nothing diverges, and
 * commits resume when one returns. Needs the cometbft binary (PATH or $COMETBFT_BIN): skipped
 * without it, failed without it under MEDLEDGER_REQUIRE_ALL=1 (CI).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Identity } from '../src/client/identity.js';
import { toBase64, toHex } from '../src/crypto/bytes.js';
import { keyPairFromSeed } from '../src/crypto/ed25519.js';
import { NODE_KEY, ORG_KEY, paths, resolvePassphrase } from '../src/node/data-dir.js';
import { validatorIdOf } from '../src/ledger/payloads/governance.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { SqliteLedgerStore } from '../src/storage/sqlite/ledger-store.js';
import {
  cometbftBinary,
  orgProcesses,
  startOrg,
  stopOrg,
  type Network,
  type NetworkOrg,
} from '../src/consensus/cometbft/network.js';
import { registerPatient, registerPractitioner, tempDir } from './support/fixtures.js';
import { createTestNetwork, getJson as get, staffToken, submitTx as submit, waitFor } from './support/network.js';

const binary = cometbftBinary();
const required = process.env['MEDLEDGER_REQUIRE_ALL'] === '1';
const skip = !binary && !required ? 'cometbft not installed (PATH or COMETBFT_BIN); see .ci/run' : false;

interface Status {
  height: number;
  logSize: number;
  consensus: string;
}
interface Block {
  hash: string;
  header: { stateRoot: string; logRoot: string; logSize: number; proposer: string };
}

/** Every node in `orgs` has block `height` and they agree on it (same hash, roots and proposer). */
async function assertAgree(orgs: readonly NetworkOrg[], height: number): Promise<string> {
  for (const org of orgs)
    await waitFor(`${org.id} at height ${height}`, async () => (await get<Status>(org, '/api/v1/status')).height >= height);
  const blocks = await Promise.all(orgs.map((org) => get<Block>(org, `/api/v1/blocks/${height}`)));
  for (const [i, block] of blocks.entries()) {
    assert.equal(block.hash, blocks[0]!.hash, `${orgs[i]!.id} block ${height} hash`);
    assert.deepEqual(block.header, blocks[0]!.header, `${orgs[i]!.id} block ${height} header`);
  }
  return blocks[0]!.hash;
}

/** Reads a server-sent event stream until the block event for `height`, then closes it. */
async function blockEvent(response: Response, height: number): Promise<{ height: number; hash: string; txCount: number }> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`event stream ended before block ${height}`);
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(message)?.[1];
        if (/^event: block$/m.test(message) && data) {
          const block = JSON.parse(data) as { height: number; hash: string; txCount: number };
          if (block.height === height) return block;
        }
      }
    }
  } finally {
    await reader.cancel();
  }
}

describe('a 4-validator CometBFT network', { skip, timeout: 180_000 }, () => {
  let temp: { path: string; remove: () => void };
  let network: Network;
  let orgs: readonly NetworkOrg[];
  let org1: Identity;
  let registrar: Identity;

  before(async () => {
    assert.ok(binary, 'cometbft is required (MEDLEDGER_REQUIRE_ALL=1): install it as .ci/run does or set COMETBFT_BIN');
    temp = tempDir('mlnet-');
    network = await createTestNetwork(temp.path, 'test-net');
    orgs = network.orgs;
    await Promise.all(orgs.map((org) => startOrg(org)));
    const dataDir = orgs[0]!.dataDir;
    const keystore = FileKeyStore.open(paths(dataDir).keystore, resolvePassphrase(dataDir));
    org1 = new Identity('test-net', 'org_1', keyPairFromSeed(keystore.secretKey(ORG_KEY)!));
  });

  after(async () => {
    if (orgs) await Promise.all(orgs.map((org) => stopOrg(org, 'SIGKILL')));
    temp?.remove();
  });

  it('commits transactions submitted through one node, and all four agree on every block', async () => {
    const status = await get<Status>(orgs[0]!, '/api/v1/status');
    assert.equal(status.consensus, 'cometbft');
    // Another node's event stream shows the blocks the network commits.
    const events = await fetch(`http://127.0.0.1:${orgs[1]!.httpPort}/api/v1/events`, { signal: AbortSignal.timeout(60_000) });
    const made = registerPractitioner(org1, 'prac_net-registrar', ['registrar']);
    registrar = made.practitioner;
    const first = await submit(orgs[0]!, made.tx);
    let last = first;
    for (let i = 0; i < 5; i++) last = await submit(orgs[0]!, registerPatient(registrar).tx);
    assert.equal(last.index, first.index + 5);
    // Every node has the practitioner, and the blocks are identical everywhere.
    await assertAgree(orgs, last.height);
    for (const org of orgs) await get(org, '/api/v1/participants/prac_net-registrar');
    const seen = await blockEvent(events, first.height);
    assert.equal(seen.txCount, 1);
    assert.equal(seen.hash, (await get<Block>(orgs[0]!, `/api/v1/blocks/${first.height}`)).hash);
  });

  it('governance: admitting an organization takes 3 of 4 validator approvals and applies identically on every node', async () => {
    // Each organization's validator signs with its node key, as `medledger governance` does.
    const validators = orgs.map((org) => {
      const keystore = FileKeyStore.open(paths(org.dataDir).keystore, resolvePassphrase(org.dataDir));
      const keys = keyPairFromSeed(keystore.secretKey(NODE_KEY)!);
      return new Identity('test-net', validatorIdOf(keys.publicKey), keys);
    });
    const [v1, v2, v3, v4] = validators as [Identity, Identity, Identity, Identity];
    const newcomer = generateKeyPair();
    const body = {
      id: 'gov_admit-5',
      until: 100_000,
      action: 'admit-organization' as const,
      org: 'org_5',
      key: newcomer.publicKey,
      name: 'Organization 5',
    };
    const proposed = await submit(orgs[0]!, v1.sign({ type: 'governance.propose', body }));
    // Each validator approves what its own node shows: the proposal's block everywhere first.
    await assertAgree(orgs, proposed.height);
    const second = await submit(orgs[1]!, v2.sign({ type: 'governance.approve', body: { proposal: 'gov_admit-5' } }));
    await assertAgree(orgs, second.height);
    for (const org of orgs) {
      const res = await fetch(`http://127.0.0.1:${org.httpPort}/api/v1/participants/org_5`);
      assert.equal(res.status, 404, `${org.id}: 2 of 4 approvals must not admit`);
    }
    const third = await submit(orgs[2]!, v3.sign({ type: 'governance.approve', body: { proposal: 'gov_admit-5' } }));
    await assertAgree(orgs, third.height);
    for (const org of orgs) {
      const p = await get<{ status: string; registeredAt: number }>(org, '/api/v1/participants/org_5');
      assert.deepEqual([p.status, p.registeredAt], ['active', third.height], org.id);
      const g = await get<{ proposals: { id: string; status: string; approvals: string[] }[] }>(org, '/api/v1/governance');
      assert.deepEqual(g.proposals.find((x) => x.id === 'gov_admit-5')?.approvals, [v1.id, v2.id, v3.id]);
      assert.equal(g.proposals.find((x) => x.id === 'gov_admit-5')?.status, 'executed');
    }
    // The same app hash on every node: CometBFT block third+1 carries the app hash after block `third`.
    const appHashes = async (height: number): Promise<string[]> => {
      await waitFor(`block ${height} everywhere`, async () => {
        const all = await Promise.all(
          orgs.map((o) => fetch(`http://127.0.0.1:${o.rpcPort}/block?height=${height}`).then((r) => r.ok)),
        );
        return all.every(Boolean);
      });
      return Promise.all(
        orgs.map(async (o) => {
          const res = (await (await fetch(`http://127.0.0.1:${o.rpcPort}/block?height=${height}`)).json()) as {
            result: { block: { header: { app_hash: string } } };
          };
          return res.result.block.header.app_hash;
        }),
      );
    };
    const hashes = await appHashes(third.height + 1);
    assert.ok(
      hashes.every((h) => h === hashes[0] && h.length === 64),
      hashes.join(' '),
    );
    // A late fourth approval changes nothing.
    const late = await fetch(`http://127.0.0.1:${orgs[3]!.httpPort}/api/v1/txs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tx: toBase64(v4.sign({ type: 'governance.approve', body: { proposal: 'gov_admit-5' } }).wire) }),
    });
    assert.equal(((await late.json()) as { code: string }).code, 'state.conflict');
    v4.setNextSeq(v4.nextSeq - 1);

    // Validator set changes reach CometBFT (validator_updates, effective two blocks later).
    const cometValidators = async (org: NetworkOrg): Promise<string[]> => {
      const res = (await (await fetch(`http://127.0.0.1:${org.rpcPort}/validators`)).json()) as {
        result: { validators: { pub_key: { value: string } }[] };
      };
      return res.result.validators.map((v) => v.pub_key.value).sort();
    };
    const extra = generateKeyPair(); // a fifth validator with no node: 40 of 50 power stays online
    const add = { id: 'gov_add-5', until: 100_000, action: 'add-validator' as const, key: extra.publicKey, name: 'org_5' };
    await submit(orgs[0]!, v1.sign({ type: 'governance.propose', body: add }));
    await submit(orgs[0]!, v2.sign({ type: 'governance.approve', body: { proposal: 'gov_add-5' } }));
    const added = await submit(orgs[0]!, v3.sign({ type: 'governance.approve', body: { proposal: 'gov_add-5' } }));
    await assertAgree(orgs, added.height);
    for (const org of orgs)
      await waitFor(`${org.id}: CometBFT has 5 validators`, async () =>
        (await cometValidators(org)).includes(toBase64(extra.publicKey)),
      );
    // Remove it again: five validators now, so it takes four approvals.
    const remove = { id: 'gov_rm-5', until: 100_000, action: 'remove-validator' as const, key: extra.publicKey };
    await submit(orgs[1]!, v2.sign({ type: 'governance.propose', body: remove }));
    await submit(orgs[1]!, v3.sign({ type: 'governance.approve', body: { proposal: 'gov_rm-5' } }));
    const three = await submit(orgs[1]!, v4.sign({ type: 'governance.approve', body: { proposal: 'gov_rm-5' } }));
    assert.equal(
      (await get<{ validators: unknown[] }>(orgs[1]!, '/api/v1/governance')).validators.length,
      5,
      '3 of 5 is not enough',
    );
    await assertAgree(orgs, three.height);
    const removed = await submit(orgs[1]!, v1.sign({ type: 'governance.approve', body: { proposal: 'gov_rm-5' } }));
    await assertAgree(orgs, removed.height);
    for (const org of orgs)
      await waitFor(`${org.id}: CometBFT back to 4 validators`, async () => (await cometValidators(org)).length === 4);
    const after = await submit(orgs[0]!, registerPatient(registrar).tx);
    await assertAgree(orgs, after.height);
  });

  it('keeps committing with one validator killed (-9), and the restarted one catches up and agrees', async () => {
    const down = orgs[3]!;
    const pids = orgProcesses(down);
    for (const pid of [pids.cometbft, pids.medledger]) if (pid !== undefined) process.kill(pid, 'SIGKILL');
    const committed = [];
    for (let i = 0; i < 3; i++) committed.push(await submit(orgs[1]!, registerPatient(registrar).tx));
    await assertAgree(orgs.slice(0, 3), committed.at(-1)!.height);

    await stopOrg(down); // clears the pid file of the killed processes
    await startOrg(down);
    const after = await submit(orgs[0]!, registerPatient(registrar).tx);
    await assertAgree(orgs, after.height);
  });

  it('a node killed between FinalizeBlock and Commit recovers through the CometBFT handshake and agrees', async () => {
    const d = orgs[3]!;
    await stopOrg(d);
    const crashAt = (await get<Status>(orgs[0]!, '/api/v1/status')).height + 3;
    // The node kills itself (SIGKILL) in Commit of block crashAt, after FinalizeBlock; starting may fail.
    await startOrg(d, 60_000, { ...process.env, MEDLEDGER_CRASH_BEFORE_COMMIT: String(crashAt) }).catch(() => undefined);
    await waitFor('the node to crash', async () => orgProcesses(d).medledger === undefined, 60_000);
    await stopOrg(d); // its CometBFT lost its application
    const store = new SqliteLedgerStore(paths(d.dataDir).ledger);
    try {
      assert.equal(store.latestBlock()?.height, crashAt - 1, 'nothing of the block being committed was persisted');
    } finally {
      store.close();
    }
    await startOrg(d);
    const receipt = await submit(orgs[0]!, registerPatient(registrar).tx);
    await assertAgree(orgs, receipt.height);
  });

  it('with two validators down commits nothing and nothing diverges; commits resume when one returns', async () => {
    const [a, b, c, d] = orgs as [NetworkOrg, NetworkOrg, NetworkOrg, NetworkOrg];
    await Promise.all([stopOrg(c, 'SIGKILL'), stopOrg(d, 'SIGKILL')]);
    const before = (await get<Status>(a, '/api/v1/status')).height;
    // Without 2/3 of the voting power no block can be committed: the submission waits.
    const tx = registerPatient(registrar).tx;
    const pending = submit(a, tx, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const stalled = await Promise.all([a, b].map((org) => get<Status>(org, '/api/v1/status')));
    assert.ok(
      stalled.every((s) => s.height <= before + 1),
      `heights moved on: ${stalled.map((s) => s.height).join(', ')}`,
    );
    assert.equal(stalled[0]!.height, stalled[1]!.height);
    await assertAgree([a, b], stalled[0]!.height);

    await startOrg(c);
    const receipt = await pending;
    assert.ok(receipt.height > stalled[0]!.height);
    await assertAgree([a, b, c], receipt.height);
    const got = await get<{ hash: string }>(c, `/api/v1/txs/${toHex(tx.hash)}`, await staffToken(c));
    assert.equal(got.hash, toHex(tx.hash));
  });

  // Asynchronous: the test process must keep reaping the network processes it started meanwhile.
  const cli = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [
        join(fileURLToPath(new URL('..', import.meta.url)), 'src', 'cli', 'main.js'),
        ...args,
      ]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it('medledger verify accepts the CometBFT chain of a running node (API) and of a stopped one (data directory)', async () => {
    const live = await cli('verify', '--node', `http://127.0.0.1:${orgs[0]!.httpPort}`, '--token', await staffToken(orgs[0]!));
    assert.equal(live.status, 0, live.stdout + live.stderr);
    assert.match(live.stdout, /^OK chain "test-net"/m);
    const c = orgs[2]!;
    await stopOrg(c);
    const run = await cli('verify', '--data', c.dataDir, '--ledger-only');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^OK chain "test-net"/m);
  });

  it('medledger network status and stop', async () => {
    const status = await cli('network', 'status', '--dir', network.dir);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^org_1: height \d+, app hash [0-9A-F]{64}, peers \d+/m);
    assert.match(status.stdout, /^org_3: unreachable \(medledger down, cometbft down\)/m);
    const stop = await cli('network', 'stop', '--dir', network.dir);
    assert.equal(stop.status, 0, stop.stderr);
    for (const org of orgs) assert.deepEqual(orgProcesses(org), {});
  });
});
