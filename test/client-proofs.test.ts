/**
 * Proof checking in the client SDK against a real node over HTTP (127.0.0.1): receipts of
 * SDK-signed transactions, transactions fetched by hash, the log followed from checkpoint to
 * checkpoint — and every way of bending a proof or checkpoint (paths, indexes, sizes, roots,
 * signatures, signers, chains), including a hostile node answering through the same client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair as sdkKeyPair, NobleSigner } from '../src/client/keys.js';
import { LedgerClient, type Fetch, type InclusionProof, type TxReceipt } from '../src/client/ledger-api.js';
import {
  checkCheckpoint,
  checkConsistency,
  checkInclusion,
  checkReceipt,
  followLog,
  verifyTransaction,
  type Trust,
} from '../src/client/proofs.js';
import { generateKeyPair, keyPairFromSeed, Signer } from '../src/crypto/ed25519.js';
import { signCheckpoint, type SignedCheckpoint } from '../src/ledger/block.js';
import { leafHash, MemoryLog, inclusionProof, consistencyProof } from '../src/ledger/merkle.js';
import { NODE_KEY, ORG_KEY } from '../src/node/data-dir.js';
import { CHAIN, startTestServer, type TestServer } from './support/fixtures.js';

function flip(bytes: Uint8Array, bit = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[Math.floor(bit / 8) % out.length]! ^= 1 << (bit % 8);
  return out;
}

function withCheckpoint(s: SignedCheckpoint, change: Partial<SignedCheckpoint['checkpoint']>): SignedCheckpoint {
  return { ...s, checkpoint: { ...s.checkpoint, ...change } };
}

describe('client proofs against a node over HTTP', () => {
  let server: TestServer;
  let client: LedgerClient;
  let trust: Trust;
  const receipts: { receipt: TxReceipt; wire: Uint8Array }[] = [];

  before(async () => {
    server = await startTestServer();
    // Fetching a transaction by hash needs a token of the node (staff); proofs and checkpoints do not.
    client = new LedgerClient(server.url, { headers: () => ({ authorization: `Bearer ${server.token}` }) });
    // Pinned from the genesis document the client was configured with, not from the node's answers.
    trust = { chain: CHAIN, validators: server.node.chain.genesis.validators.map((v) => v.key) };
    const org = new Identity(CHAIN, server.org.id, new NobleSigner({ secretKey: seedOf(server, ORG_KEY) }), server.org.nextSeq);
    for (let i = 0; i < 6; i++) {
      const signed = org.sign({
        type: 'participant.register',
        body: { kind: 'patient', id: randomPseudonym('pat'), key: sdkKeyPair().publicKey },
      });
      const submitted = await client.submit(signed.wire);
      assert.ok(submitted.ok, submitted.ok ? '' : submitted.error.message);
      receipts.push({ receipt: submitted.value, wire: signed.wire });
    }
  });
  after(() => server?.close());

  it('SDK-signed submissions come back with receipts whose proofs and checkpoints verify', () => {
    for (const { receipt, wire } of receipts) {
      const checked = checkReceipt(receipt, wire, trust);
      assert.ok(checked.ok, checked.ok ? '' : checked.error.message);
      assert.equal(checked.value.size, receipt.proof.size);
    }
  });

  it('a transaction fetched by hash is proven against the latest checkpoint', async () => {
    for (const { receipt } of receipts) {
      const verified = await verifyTransaction(client, receipt.hash, trust);
      assert.ok(verified.ok, verified.ok ? '' : verified.error.message);
      assert.ok(verified.value.checkpoint.size >= receipts.at(-1)!.receipt.proof.size);
    }
    const missing = await verifyTransaction(client, new Uint8Array(32), trust);
    assert.ok(!missing.ok && missing.error.code === 'api.http' && missing.error.message.startsWith('not_found'));
    const anonymous = await verifyTransaction(new LedgerClient(server.url), receipts[0]!.receipt.hash, trust);
    assert.ok(!anonymous.ok && anonymous.error.message.startsWith('auth.required'));
  });

  it('inclusion proofs for any leaf and size the node serves verify', async () => {
    const latest = await client.checkpoint();
    assert.ok(latest.ok);
    const size = latest.value.checkpoint.size;
    for (const { receipt, wire } of receipts) {
      const proof = await client.inclusionProof(receipt.index, size);
      assert.ok(proof.ok);
      assert.ok(checkInclusion(wire, proof.value, latest.value, trust).ok);
    }
  });

  it('follows the log: every older checkpoint is consistent with the latest, and with each other', async () => {
    for (const { receipt } of receipts) {
      const followed = await followLog(client, receipt.checkpoint, trust);
      assert.ok(followed.ok, followed.ok ? '' : followed.error.message);
    }
    for (let i = 0; i < receipts.length; i++) {
      for (let j = i; j < receipts.length; j++) {
        const a = receipts[i]!.receipt.checkpoint;
        const b = receipts[j]!.receipt.checkpoint;
        const proof = await client.consistencyProof(a.checkpoint.size, b.checkpoint.size);
        assert.ok(proof.ok);
        assert.ok(checkConsistency(a, b, proof.value, trust).ok);
      }
    }
  });

  it('refuses tampered inclusion proofs, checkpoints and transactions', () => {
    const { receipt, wire } = receipts[3]!;
    const cp = receipt.checkpoint;
    const proof = receipt.proof;
    const refusals: [string, ReturnType<typeof checkInclusion>][] = [
      ['other wire', checkInclusion(flip(wire, 100), proof, cp, trust)],
      ['path bit', checkInclusion(wire, { ...proof, path: proof.path.map((p, i) => (i === 0 ? flip(p, 7) : p)) }, cp, trust)],
      ['path dropped', checkInclusion(wire, { ...proof, path: proof.path.slice(1) }, cp, trust)],
      ['path extended', checkInclusion(wire, { ...proof, path: [...proof.path, new Uint8Array(32)] }, cp, trust)],
      ['index', checkInclusion(wire, { ...proof, index: proof.index + 1 }, cp, trust)],
      ['negative index', checkInclusion(wire, { ...proof, index: -1 }, cp, trust)],
      ['size', checkInclusion(wire, { ...proof, size: proof.size + 1 }, withCheckpoint(cp, { size: proof.size + 1 }), trust)],
      ['proof size vs checkpoint', checkInclusion(wire, { ...proof, size: proof.size - 1 }, cp, trust)],
      ['root', checkInclusion(wire, proof, withCheckpoint(cp, { root: flip(cp.checkpoint.root) }), trust)],
      ['time', checkInclusion(wire, proof, withCheckpoint(cp, { time: cp.checkpoint.time + 1 }), trust)],
      ['signature', checkInclusion(wire, proof, { ...cp, signature: flip(cp.signature, 9) }, trust)],
      ['chain in checkpoint', checkInclusion(wire, proof, withCheckpoint(cp, { chain: 'other-chain' }), trust)],
      ['trusting another chain', checkInclusion(wire, proof, cp, { ...trust, chain: 'other-chain' })],
      ['untrusted signer', checkInclusion(wire, proof, cp, { ...trust, validators: [generateKeyPair().publicKey] })],
      ['receipt for another tx', checkReceipt(receipt, receipts[2]!.wire, trust)],
    ];
    // A checkpoint correctly signed by a key nobody trusts, over a root that does include the tx.
    const rogue = new Signer(generateKeyPair());
    refusals.push(['self-signed checkpoint', checkInclusion(wire, proof, signCheckpoint(cp.checkpoint, rogue), trust)]);
    for (const [what, result] of refusals) assert.equal(result.ok, false, what);
    assert.equal(
      (refusals.find(([w]) => w === 'untrusted signer')![1] as { error: { code: string } }).error.code,
      'proof.untrusted_signer',
    );
    assert.equal(
      (refusals.find(([w]) => w === 'signature')![1] as { error: { code: string } }).error.code,
      'proof.bad_signature',
    );
    assert.equal(
      (refusals.find(([w]) => w === 'chain in checkpoint')![1] as { error: { code: string } }).error.code,
      'proof.wrong_chain',
    );
    assert.ok(checkCheckpoint(cp, trust).ok);
  });

  it('refuses tampered consistency proofs and a log that was rewritten', async () => {
    const older = receipts[1]!.receipt.checkpoint;
    const newer = receipts[5]!.receipt.checkpoint;
    const proof = await client.consistencyProof(older.checkpoint.size, newer.checkpoint.size);
    assert.ok(proof.ok && proof.value.path.length > 0);
    const p = proof.value;
    // A "fork": same size as `older`, another root, validly signed by a trusted key.
    const forked = signCheckpoint(
      { ...older.checkpoint, root: flip(older.checkpoint.root) },
      new Signer(keyPairFromSeed(seedOf(server, NODE_KEY))),
    );
    const refusals = [
      checkConsistency(older, newer, { ...p, path: p.path.map((h, i) => (i === p.path.length - 1 ? flip(h, 3) : h)) }, trust),
      checkConsistency(older, newer, { ...p, path: p.path.slice(0, -1) }, trust),
      checkConsistency(older, newer, { ...p, from: p.from - 1 }, trust),
      checkConsistency(newer, older, { from: p.to, to: p.from, path: p.path }, trust),
      checkConsistency(forked, newer, p, trust),
      checkConsistency(older, { ...newer, signature: flip(newer.signature) }, p, trust),
    ];
    for (const [i, result] of refusals.entries()) assert.equal(result.ok, false, `case ${i}`);
    assert.ok(checkCheckpoint(forked, trust).ok, 'the fork is validly signed; only consistency exposes it');
  });

  it('a hostile node cannot pass off altered answers through the client', async () => {
    const { receipt } = receipts[2]!;
    const liar = (rewrite: (path: string, body: Record<string, unknown>) => unknown): LedgerClient => {
      const lyingFetch: Fetch = async (input, init) => {
        const response = await fetch(input, init);
        const body = (await response.json()) as Record<string, unknown>;
        return { ok: response.ok, status: response.status, json: async () => rewrite(input, body) };
      };
      return new LedgerClient(server.url, { fetch: lyingFetch, headers: () => ({ authorization: `Bearer ${server.token}` }) });
    };
    const swapPath = liar((_, body) => {
      const proof = body['proof'] as { path: string[] } | undefined;
      if (proof && proof.path.length > 1) proof.path.reverse();
      return body;
    });
    const swapped = await verifyTransaction(swapPath, receipt.hash, trust);
    assert.ok(!swapped.ok && swapped.error.code === 'proof.invalid');
    const otherWire = liar((_, body) => ({ ...body, wire: Buffer.from(receipts[0]!.wire).toString('base64') }));
    assert.equal((await verifyTransaction(otherWire, receipt.hash, trust)).ok, false);
    const garbage = liar(() => ({ hash: 'zz', proof: 7 }));
    const g = await verifyTransaction(garbage, receipt.hash, trust);
    assert.ok(!g.ok && g.error.code === 'api.malformed');
    const rolledBack = liar((path, body) => (path.endsWith('/checkpoints/latest') ? { ...body, size: 1 } : body));
    const r = await followLog(rolledBack, receipts[4]!.receipt.checkpoint, trust);
    assert.ok(!r.ok && r.error.code === 'proof.invalid');
    // Extra headers (a bearer token, say) go with every request.
    const seen: (Record<string, string> | undefined)[] = [];
    const recording: Fetch = (input, init) => {
      seen.push(init?.headers);
      return fetch(input, init);
    };
    const withToken = new LedgerClient(server.url, { fetch: recording, headers: () => ({ authorization: 'Bearer t0ken' }) });
    assert.ok((await withToken.checkpoint()).ok);
    assert.ok((await withToken.submit(new Uint8Array([0x82]))).ok === false);
    assert.deepEqual(seen[0], { authorization: 'Bearer t0ken' });
    assert.deepEqual(seen[1], { authorization: 'Bearer t0ken', 'content-type': 'application/json' });
    const unreachable = new LedgerClient('http://127.0.0.1:1');
    const u = await unreachable.checkpoint();
    assert.ok(!u.ok && u.error.code === 'api.http');
  });
});

describe('client proofs over in-memory logs of every shape', () => {
  it('verify every honest proof and refuse a flipped bit anywhere (property)', () => {
    const signer = new Signer(generateKeyPair());
    const trust: Trust = { chain: 'test-chain', validators: [signer.publicKey] };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), fc.nat({ max: 1023 }), (size, a, b, bit) => {
        const log = new MemoryLog();
        const wires = Array.from({ length: size }, (_, i) => new Uint8Array([i & 0xff, i >> 8, 7]));
        const checkpoints: SignedCheckpoint[] = [];
        for (const wire of wires) {
          log.append(leafHash(wire));
          checkpoints.push(signCheckpoint({ chain: 'test-chain', size: log.size, root: log.root(), time: 0 }, signer));
        }
        const index = a % size;
        const proof: InclusionProof = { index, size, path: inclusionProof(log, index, size) };
        const latest = checkpoints[size - 1]!;
        assert.ok(checkInclusion(wires[index]!, proof, latest, trust).ok);
        if (proof.path.length > 0) {
          const k = bit % proof.path.length;
          const bad = { ...proof, path: proof.path.map((h, i) => (i === k ? flip(h, bit) : h)) };
          assert.equal(checkInclusion(wires[index]!, bad, latest, trust).ok, false);
        }
        const from = (b % size) + 1;
        const path = consistencyProof(log, from, size);
        assert.ok(checkConsistency(checkpoints[from - 1]!, latest, { from, to: size, path }, trust).ok);
        if (path.length > 0) {
          const bad = path.map((h, i) => (i === bit % path.length ? flip(h, bit) : h));
          assert.equal(checkConsistency(checkpoints[from - 1]!, latest, { from, to: size, path: bad }, trust).ok, false);
        }
      }),
      { numRuns: 200 },
    );
  });
});

function seedOf(server: TestServer, name: string): Uint8Array {
  const seed = server.node.keystore.secretKey(name);
  assert.ok(seed, `the test node has its ${name} key`);
  return seed;
}
