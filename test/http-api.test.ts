/**
 * The node's HTTP API end to end over real sockets: health, status, genesis and the OpenAPI
 * document; submission in both body formats with receipts whose proofs and checkpoint signatures
 * verify client-side; every read endpoint; the JSON error contract for hostile or wrong input (and
 * that none of it harms the node); group commit under concurrent load; out-of-order sequences.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Identity } from '../src/client/identity.js';
import { fromBase64, fromHex, toBase64, toHex } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import { blockHash, verifyBlockSignature, verifyCheckpoint, type SignedCheckpoint } from '../src/ledger/block.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../src/ledger/merkle.js';
import type { SignedTx } from '../src/ledger/tx.js';
import { CHAIN, FOUNDER, registerPatient, registerPractitioner, startTestServer, type TestServer } from './support/fixtures.js';
import { authFetch } from './support/fhir-api.js';

// ---------------------------------------------------------------------------------------------
// Response shapes and client-side helpers
// ---------------------------------------------------------------------------------------------

interface CheckpointJson {
  chain: string;
  size: number;
  root: string;
  time: number;
  signer: string;
  signature: string;
}

interface ProofJson {
  size: number;
  path: string[];
}

interface SubmitJson {
  hash: string;
  height: number;
  index: number;
  blockHash: string;
  proof: ProofJson;
  checkpoint: CheckpointJson;
}

interface TxJson {
  hash: string;
  height: number;
  index: number;
  wire: string;
  tx: { chain: string; signer: string; seq: number; type: string; key: string; body: Record<string, unknown> };
  proof: ProofJson;
  checkpoint: CheckpointJson;
}

interface BlockJson {
  height: number;
  hash: string;
  header: {
    height: number;
    prevHash: string;
    txCount: number;
    logSize: number;
    logRoot: string;
    proposer: string;
    chain: string;
  };
  headerBytes: string;
  signature: string;
  checkpointSignature: string;
  firstIndex: number;
  txs: string[];
}

interface StatusJson {
  chain: string;
  height: number;
  blockHash: string;
  logSize: number;
  logRoot: string;
  stateRoot: string;
  genesisHash: string;
  validators: { name: string; key: string }[];
  consensus: string;
  backlog: number;
}

interface ParticipantJson {
  id: string;
  kind: string;
  status: string;
  key: string;
  nextSeq: number;
}

interface ErrorJson {
  code: string;
  message: string;
}

interface Reply<T> {
  status: number;
  contentType: string;
  body: T;
}

const TIMEOUT = 20_000;

function hex(value: string): Uint8Array {
  const bytes = fromHex(value);
  assert.ok(bytes, `not lowercase hex: ${value}`);
  return bytes;
}

function b64(value: string): Uint8Array {
  const bytes = fromBase64(value);
  assert.ok(bytes, `not base64: ${value}`);
  return bytes;
}

function signedCheckpoint(cp: CheckpointJson): SignedCheckpoint {
  return {
    checkpoint: { chain: cp.chain, size: cp.size, root: hex(cp.root), time: cp.time },
    signer: hex(cp.signer),
    signature: b64(cp.signature),
  };
}

/** Checks a checkpoint as a client would: right chain, signed by the validator. */
function assertCheckpoint(cp: CheckpointJson, validatorKey: string): void {
  assert.equal(cp.chain, CHAIN);
  assert.equal(cp.signer, validatorKey, 'checkpoint is signed by the validator');
  assert.ok(verifyCheckpoint(signedCheckpoint(cp)), 'checkpoint signature verifies');
  const forged = signedCheckpoint({ ...cp, size: cp.size + 1 });
  assert.equal(verifyCheckpoint(forged), false, 'a checkpoint with a changed size does not verify');
}

/** Checks an inclusion proof of `wire` at `index` against a checkpoint. */
function assertIncluded(wire: Uint8Array, index: number, proof: ProofJson, cp: CheckpointJson): void {
  assert.equal(proof.size, cp.size, 'the proof is for the checkpoint size');
  const path = proof.path.map(hex);
  assert.ok(
    verifyInclusion(leafHash(wire), index, proof.size, path, hex(cp.root)),
    `inclusion proof of log index ${index} verifies`,
  );
  const other = new Uint8Array(wire);
  other[0]! ^= 0xff;
  assert.equal(
    verifyInclusion(leafHash(other), index, proof.size, path, hex(cp.root)),
    false,
    'the proof does not verify other bytes',
  );
}

// ---------------------------------------------------------------------------------------------

describe('HTTP API', { timeout: 120_000 }, () => {
  let server: TestServer;
  let validatorKey: string;

  async function call<T>(path: string, init: RequestInit = {}): Promise<Reply<T>> {
    const response = await authFetch(new URL(path, server.url).href, { ...init, signal: AbortSignal.timeout(TIMEOUT) });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    let body: unknown = text;
    if (contentType.startsWith('application/json')) body = JSON.parse(text);
    return { status: response.status, contentType, body: body as T };
  }

  async function get<T>(path: string): Promise<T> {
    const reply = await call<T>(path);
    assert.equal(reply.status, 200, `GET ${path}: ${JSON.stringify(reply.body)}`);
    return reply.body;
  }

  const postJson = <T>(body: string) =>
    call<T>('/api/v1/txs', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const postOctets = <T>(bytes: Uint8Array) =>
    call<T>('/api/v1/txs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(bytes) });
  const submitJson = (tx: SignedTx) => postJson<SubmitJson>(JSON.stringify({ tx: toBase64(tx.wire) }));
  const submitOctets = (tx: SignedTx) => postOctets<SubmitJson>(tx.wire);

  /** Submits and checks the receipt completely: proof, checkpoint and stored copy. */
  async function commit(tx: SignedTx, via: 'json' | 'octets' = 'json'): Promise<SubmitJson> {
    const reply = await (via === 'json' ? submitJson(tx) : submitOctets(tx));
    assert.equal(reply.status, 200, `submit (${via}): ${JSON.stringify(reply.body)}`);
    const receipt = reply.body;
    assert.equal(receipt.hash, toHex(tx.hash));
    assert.ok(Number.isInteger(receipt.height) && receipt.height >= 1);
    assert.ok(Number.isInteger(receipt.index) && receipt.index >= 0);
    assertCheckpoint(receipt.checkpoint, validatorKey);
    assertIncluded(tx.wire, receipt.index, receipt.proof, receipt.checkpoint);
    return receipt;
  }

  before(async () => {
    server = await startTestServer();
    validatorKey = toHex(server.node.chain.genesis.validators[0]!.key);
  });

  after(async () => {
    await server?.close();
  });

  describe('service documents', () => {
    it('/healthz answers ok with the height', async () => {
      const health = await get<{ status: string; height: number }>('/healthz');
      assert.deepEqual(health, { status: 'ok', height: server.node.chain.head().height });
    });

    it('/api/v1/status describes the chain and its validator', async () => {
      const status = await get<StatusJson>('/api/v1/status');
      const head = server.node.chain.head();
      assert.equal(status.chain, CHAIN);
      assert.equal(status.height, head.height);
      assert.equal(status.blockHash, toHex(head.hash));
      assert.equal(status.logSize, head.logSize);
      assert.equal(status.logRoot, toHex(head.logRoot));
      assert.equal(status.stateRoot, toHex(head.stateRoot));
      assert.equal(status.genesisHash, toHex(server.node.chain.genesisHash));
      assert.deepEqual(
        status.validators.map((v) => v.key),
        [validatorKey],
      );
      assert.equal(status.consensus, 'solo');
      assert.equal(status.backlog, 0);
    });

    it('/api/v1/genesis returns the genesis bytes whose hash is the genesis hash', async () => {
      const genesis = await get<{
        hash: string;
        bytes: string;
        genesis: { chain: string; founder: { id: string; key: string } };
      }>('/api/v1/genesis');
      assert.equal(genesis.hash, toHex(server.node.chain.genesisHash));
      assert.ok(b64(genesis.bytes).length > 0);
      assert.equal(genesis.genesis.chain, CHAIN);
      assert.equal(genesis.genesis.founder.id, FOUNDER);
      assert.equal(genesis.genesis.founder.key, toHex(server.org.publicKey));
    });

    it('/openapi.json is an OpenAPI 3 document listing every /api/v1 path', async () => {
      const doc = await get<{ openapi: string; info: { title: string }; paths: Record<string, Record<string, unknown>> }>(
        '/openapi.json',
      );
      assert.match(doc.openapi, /^3\./);
      assert.ok(doc.info.title.length > 0);
      const expected: Record<string, string[]> = {
        '/api/v1/status': ['get'],
        '/api/v1/genesis': ['get'],
        '/api/v1/blocks': ['get'],
        '/api/v1/blocks/{height}': ['get'],
        '/api/v1/txs': ['post'],
        '/api/v1/txs/{hash}': ['get'],
        '/api/v1/proofs/inclusion': ['get'],
        '/api/v1/proofs/consistency': ['get'],
        '/api/v1/checkpoints/latest': ['get'],
        '/api/v1/checkpoints/{height}': ['get'],
        '/api/v1/participants/{id}': ['get'],
        '/api/v1/subjects/{subject}/txs': ['get'],
        '/api/v1/events': ['get'],
        '/api/v1/organizations/{org}/break-glass/unreviewed': ['get'],
        '/api/v1/subjects/{subject}/events': ['get'],
        '/api/v1/governance': ['get'],
        '/api/v1/governance/proposals/{id}': ['get'],
      };
      const listed = Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1'));
      assert.deepEqual(listed.sort(), Object.keys(expected).sort());
      for (const [path, methods] of Object.entries(expected)) {
        for (const method of methods) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
      }
      // Every documented path really exists (a documented GET answers something other than 404 not_found).
      for (const path of ['/api/v1/status', '/api/v1/genesis']) assert.equal((await call(path)).status, 200);
    });
  });

  describe('submission and reads', () => {
    let prac: Identity;
    let first: { tx: SignedTx; receipt: SubmitJson };
    let second: { tx: SignedTx; receipt: SubmitJson };

    it('accepts JSON {tx: base64} and answers with height, index, a verifying proof and a signed checkpoint', async () => {
      const made = registerPractitioner(server.org, 'prac_http-registrar', ['registrar']);
      prac = made.practitioner;
      const heightBefore = server.node.chain.head().height;
      const receipt = await commit(made.tx, 'json');
      assert.equal(receipt.height, heightBefore + 1);
      assert.equal(receipt.blockHash, toHex(server.node.chain.store.block(receipt.height)!.hash));
      first = { tx: made.tx, receipt };
    });

    it('accepts application/octet-stream wire bytes with the same kind of receipt', async () => {
      const { tx } = registerPatient(prac);
      const receipt = await commit(tx, 'octets');
      assert.equal(receipt.index, first.receipt.index + 1);
      second = { tx, receipt };
    });

    it('GET /txs/:hash returns the transaction with a proof against the latest checkpoint', async () => {
      for (const { tx, receipt } of [first, second]) {
        const got = await get<TxJson>(`/api/v1/txs/${toHex(tx.hash)}`);
        assert.equal(got.hash, toHex(tx.hash));
        assert.equal(got.height, receipt.height);
        assert.equal(got.index, receipt.index);
        assert.equal(got.wire, toBase64(tx.wire));
        assert.equal(toHex(sha256(b64(got.wire))), got.hash);
        assert.equal(got.tx.signer, tx.tx.signer);
        assert.equal(got.tx.seq, tx.tx.seq);
        assert.equal(got.tx.type, 'participant.register');
        assert.equal(got.checkpoint.size, server.node.chain.head().logSize, 'proof is against the latest checkpoint');
        assertCheckpoint(got.checkpoint, validatorKey);
        assertIncluded(tx.wire, got.index, got.proof, got.checkpoint);
      }
    });

    it('GET /blocks/:height lists transaction hashes, or full wire bytes with ?txs=full', async () => {
      const { height } = second.receipt;
      const block = await get<BlockJson>(`/api/v1/blocks/${height}`);
      assert.equal(block.height, height);
      assert.equal(block.hash, second.receipt.blockHash);
      assert.deepEqual(block.txs, [toHex(second.tx.hash)]);
      assert.equal(block.firstIndex, second.receipt.index);
      // The header is genuine: its hash is the block hash, the proposer signed it, it links to block h-1.
      const headerBytes = b64(block.headerBytes);
      assert.equal(toHex(blockHash(headerBytes)), block.hash);
      assert.ok(verifyBlockSignature(hex(block.hash), b64(block.signature), hex(validatorKey)), 'block signature verifies');
      assert.equal(block.header.height, height);
      assert.equal(block.header.txCount, 1);
      assert.equal(block.header.prevHash, first.receipt.blockHash);
      assert.equal(block.header.proposer, validatorKey);

      const full = await get<BlockJson>(`/api/v1/blocks/${height}?txs=full`);
      assert.deepEqual(full.txs, [toBase64(second.tx.wire)]);
      const hashes = await get<BlockJson>(`/api/v1/blocks/${height}?txs=hashes`);
      assert.deepEqual(hashes.txs, block.txs);
    });

    it('GET /blocks?from=&limit= pages through consecutive blocks with full transactions', async () => {
      const head = server.node.chain.head().height;
      assert.ok(head >= 2);
      const page = await get<{ blocks: BlockJson[]; height: number }>('/api/v1/blocks?from=1&limit=2');
      assert.equal(page.height, head);
      assert.deepEqual(
        page.blocks.map((b) => b.height),
        [1, 2],
      );
      assert.equal(page.blocks[1]!.header.prevHash, page.blocks[0]!.hash);
      const all = await get<{ blocks: BlockJson[] }>('/api/v1/blocks?from=1');
      assert.equal(all.blocks.length, head, 'the default page covers this short chain');
      const last = all.blocks[all.blocks.length - 1]!;
      assert.deepEqual(last.txs, [toBase64(second.tx.wire)], 'paged blocks carry full wire bytes');
      const beyond = await get<{ blocks: BlockJson[] }>(`/api/v1/blocks?from=${head + 1}&limit=5`);
      assert.deepEqual(beyond.blocks, []);
    });

    it('GET /checkpoints/latest and /checkpoints/:height are signed; /proofs/inclusion verifies against them', async () => {
      const latest = await get<CheckpointJson>('/api/v1/checkpoints/latest');
      assertCheckpoint(latest, validatorKey);
      assert.equal(latest.size, server.node.chain.head().logSize);
      const atFirst = await get<CheckpointJson>(`/api/v1/checkpoints/${first.receipt.height}`);
      assertCheckpoint(atFirst, validatorKey);
      assert.deepEqual(atFirst, first.receipt.checkpoint, 'the checkpoint of a block is the one its receipts carried');

      // The first transaction against both the old and the newest checkpoint.
      for (const cp of [atFirst, latest]) {
        const proof = await get<{ index: number; size: number; path: string[] }>(
          `/api/v1/proofs/inclusion?index=${first.receipt.index}&size=${cp.size}`,
        );
        assert.equal(proof.index, first.receipt.index);
        assertIncluded(first.tx.wire, first.receipt.index, proof, cp);
      }
    });

    it('GET /proofs/consistency proves that a later checkpoint extends an earlier one', async () => {
      const older = await get<CheckpointJson>('/api/v1/checkpoints/latest');
      for (let i = 0; i < 3; i++) await commit(registerPatient(prac).tx, i % 2 ? 'octets' : 'json');
      const newer = await get<CheckpointJson>('/api/v1/checkpoints/latest');
      assert.equal(newer.size, older.size + 3);
      assertCheckpoint(newer, validatorKey);

      const proof = await get<{ from: number; to: number; path: string[] }>(
        `/api/v1/proofs/consistency?from=${older.size}&to=${newer.size}`,
      );
      assert.equal(proof.from, older.size);
      assert.equal(proof.to, newer.size);
      const path = proof.path.map(hex);
      assert.ok(verifyConsistency(older.size, newer.size, path, hex(older.root), hex(newer.root)), 'consistency proof verifies');
      const forkedRoot = hex(older.root);
      forkedRoot[0]! ^= 1;
      assert.equal(
        verifyConsistency(older.size, newer.size, path, forkedRoot, hex(newer.root)),
        false,
        'and not for a different old root',
      );

      // Degenerate but valid requests.
      assert.deepEqual((await get<{ path: string[] }>(`/api/v1/proofs/consistency?from=0&to=${newer.size}`)).path, []);
      assert.deepEqual(
        (await get<{ path: string[] }>(`/api/v1/proofs/consistency?from=${newer.size}&to=${newer.size}`)).path,
        [],
      );
    });

    it('GET /participants/:id shows the key, and nextSeq advances after commits', async () => {
      const before = await get<ParticipantJson>(`/api/v1/participants/${prac.id}`);
      assert.equal(before.id, prac.id);
      assert.equal(before.kind, 'practitioner');
      assert.equal(before.status, 'active');
      assert.equal(before.key, toHex(prac.publicKey));
      assert.equal(before.nextSeq, prac.nextSeq);

      await commit(registerPatient(prac).tx);
      await commit(registerPatient(prac).tx, 'octets');
      const afterTwo = await get<ParticipantJson>(`/api/v1/participants/${prac.id}`);
      assert.equal(afterTwo.nextSeq, before.nextSeq + 2);

      const founder = await get<ParticipantJson>(`/api/v1/participants/${FOUNDER}`);
      assert.equal(founder.kind, 'organization');
      assert.equal(founder.nextSeq, server.org.nextSeq);
    });
  });

  describe('errors', () => {
    let heightBefore: number;
    let logBefore: number;
    let prac: Identity;
    let committedTx: SignedTx;

    const assertError = (reply: Reply<unknown>, status: number, code: string, what: string) => {
      assert.match(reply.contentType, /^application\/json/, `${what}: error content type`);
      const body = reply.body as ErrorJson;
      assert.deepEqual(
        { status: reply.status, code: body.code },
        { status, code },
        `${what}: got ${reply.status} ${JSON.stringify(reply.body)}`,
      );
      assert.equal(typeof body.message, 'string', `${what}: message`);
      assert.ok(body.message.length > 0, `${what}: message is empty`);
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message'], `${what}: only code and message`);
    };

    before(async () => {
      const made = registerPractitioner(server.org, 'prac_http-errors', ['registrar']);
      prac = made.practitioner;
      committedTx = made.tx;
      await commit(made.tx);
      heightBefore = server.node.chain.head().height;
      logBefore = server.node.chain.head().logSize;
    });

    it('rejects bad transactions with the ledger error code and status', async () => {
      const orgSeq = server.org.nextSeq;
      const pracSeq = prac.nextSeq;

      const badSignature = registerPatient(prac).tx;
      const tampered = new Uint8Array(badSignature.wire);
      tampered[tampered.length - 1]! ^= 0x01; // the last byte lies inside the signature
      prac.setNextSeq(pracSeq);

      const wrongChain = registerPatient(new Identity('other-chain', prac.id)).tx;
      const unknownSigner = registerPatient(new Identity(CHAIN, 'prac_nobody-here')).tx;
      const wrongKey = registerPatient(new Identity(CHAIN, prac.id, undefined, pracSeq)).tx;
      const tooLargeTx = new Uint8Array(200 * 1024).fill(0x41); // over the 192 KiB transaction limit, under the body limit

      const cases: { what: string; send: () => Promise<Reply<unknown>>; status: number; code: string }[] = [
        { what: 'replayed tx (JSON)', send: () => submitJson(committedTx), status: 409, code: 'tx.replayed' },
        { what: 'replayed tx (octets)', send: () => submitOctets(committedTx), status: 409, code: 'tx.replayed' },
        { what: 'bad signature', send: () => postOctets(tampered), status: 400, code: 'tx.bad_signature' },
        {
          what: 'bad signature (JSON)',
          send: () => postJson(JSON.stringify({ tx: toBase64(tampered) })),
          status: 400,
          code: 'tx.bad_signature',
        },
        { what: 'wrong chain', send: () => submitJson(wrongChain), status: 400, code: 'tx.wrong_chain' },
        { what: 'unknown signer', send: () => submitJson(unknownSigner), status: 403, code: 'tx.unknown_signer' },
        { what: 'key is not the signer key', send: () => submitJson(wrongKey), status: 403, code: 'tx.key_mismatch' },
        { what: 'garbage octets', send: () => postOctets(new Uint8Array([1, 2, 3, 4, 5])), status: 400, code: 'tx.malformed' },
        { what: 'empty octets', send: () => postOctets(new Uint8Array(0)), status: 400, code: 'tx.malformed' },
        { what: 'tx over 192 KiB', send: () => postOctets(tooLargeTx), status: 413, code: 'tx.too_large' },
      ];
      for (const c of cases) assertError(await c.send(), c.status, c.code, c.what);
      assert.equal(server.org.nextSeq, orgSeq);
    });

    it('rejects malformed, oversized and mistyped request bodies', async () => {
      const overLimit = 256 * 1024 + 1;
      const hugeJson = JSON.stringify({ tx: 'A'.repeat(overLimit) });
      const post = (contentType: string, body: string | Buffer) =>
        call('/api/v1/txs', { method: 'POST', headers: { 'content-type': contentType }, body });

      const cases: { what: string; send: () => Promise<Reply<unknown>>; status: number; code: string }[] = [
        { what: 'tx is not base64', send: () => postJson('{"tx":"not base64!"}'), status: 400, code: 'request.malformed' },
        { what: 'tx base64 without padding', send: () => postJson('{"tx":"AAE"}'), status: 400, code: 'request.malformed' },
        { what: 'invalid JSON', send: () => postJson('{"tx": "AAAA"'), status: 400, code: 'request.malformed' },
        { what: 'empty JSON body', send: () => postJson(''), status: 400, code: 'request.malformed' },
        { what: 'tx is a number', send: () => postJson('{"tx": 42}'), status: 400, code: 'request.invalid' },
        { what: 'extra property', send: () => postJson('{"tx": "AAAA", "x": 1}'), status: 400, code: 'request.invalid' },
        { what: 'JSON array', send: () => postJson('["AAAA"]'), status: 400, code: 'request.invalid' },
        { what: 'JSON null', send: () => postJson('null'), status: 400, code: 'request.invalid' },
        { what: 'JSON body over 256 KiB', send: () => postJson(hugeJson), status: 413, code: 'request.too_large' },
        {
          what: 'octet body over 256 KiB',
          send: () => postOctets(new Uint8Array(overLimit)),
          status: 413,
          code: 'request.too_large',
        },
        {
          what: 'application/xml',
          send: () => post('application/xml', '<tx/>'),
          status: 415,
          code: 'request.unsupported_media_type',
        },
        {
          what: 'image/png',
          send: () => post('image/png', Buffer.from([1, 2, 3])),
          status: 415,
          code: 'request.unsupported_media_type',
        },
      ];
      for (const c of cases) assertError(await c.send(), c.status, c.code, c.what);
    });

    it('answers unknown routes and bad parameters with JSON errors', async () => {
      const logSize = server.node.chain.head().logSize;
      const height = server.node.chain.head().height;
      const zeros = '0'.repeat(64);
      const cases: [method: string, path: string, status: number, code: string][] = [
        ['GET', '/nope', 404, 'not_found'],
        ['GET', '/api/v1/nope', 404, 'not_found'],
        ['GET', '/api/v2/status', 404, 'not_found'],
        ['DELETE', '/api/v1/status', 404, 'not_found'],
        ['GET', '/api/v1/txs', 404, 'not_found'],
        // blocks
        ['GET', '/api/v1/blocks/abc', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks/0', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks/-1', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks/1.5', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks/1?txs=some', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks/1?other=1', 400, 'request.invalid'],
        ['GET', `/api/v1/blocks/${height + 1}`, 404, 'not_found'],
        ['GET', '/api/v1/blocks', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks?from=0', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks?from=abc', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks?from=1&limit=0', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks?from=1&limit=101', 400, 'request.invalid'],
        ['GET', '/api/v1/blocks?from=1&limit=-5', 400, 'request.invalid'],
        // transactions
        ['GET', '/api/v1/txs/xyz', 400, 'request.invalid'],
        ['GET', `/api/v1/txs/${'g'.repeat(64)}`, 400, 'request.invalid'],
        ['GET', `/api/v1/txs/${'A'.repeat(64)}`, 400, 'request.invalid'],
        ['GET', `/api/v1/txs/${zeros.slice(1)}`, 400, 'request.invalid'],
        ['GET', `/api/v1/txs/${zeros}0`, 400, 'request.invalid'],
        ['GET', `/api/v1/txs/${zeros}`, 404, 'not_found'],
        // proofs
        ['GET', '/api/v1/proofs/inclusion', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=0', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=-1&size=1', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=0&size=-1', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=0&size=0', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=x&size=1', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=2&size=2', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/inclusion?index=5&size=3', 400, 'request.invalid'],
        ['GET', `/api/v1/proofs/inclusion?index=0&size=${logSize + 1}`, 404, 'not_found'],
        ['GET', `/api/v1/proofs/inclusion?index=${logSize + 5}&size=${logSize + 10}`, 404, 'not_found'],
        ['GET', '/api/v1/proofs/consistency?from=1', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/consistency?from=-1&to=1', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/consistency?from=1&to=-1', 400, 'request.invalid'],
        ['GET', '/api/v1/proofs/consistency?from=3&to=2', 400, 'request.invalid'],
        ['GET', `/api/v1/proofs/consistency?from=1&to=${logSize + 1}`, 404, 'not_found'],
        // checkpoints and participants
        ['GET', '/api/v1/checkpoints/abc', 400, 'request.invalid'],
        ['GET', '/api/v1/checkpoints/0', 400, 'request.invalid'],
        ['GET', `/api/v1/checkpoints/${height + 1}`, 404, 'not_found'],
        ['GET', '/api/v1/participants/nobody', 400, 'request.invalid'],
        ['GET', '/api/v1/participants/PRAC_X', 400, 'request.invalid'],
        ['GET', '/api/v1/participants/prac_nobody-here', 404, 'not_found'],
      ];
      for (const [method, path, status, code] of cases) {
        assertError(await call(path, { method }), status, code, `${method} ${path}`);
      }
    });

    it('answers URL errors detected by the router (bad percent-encoding, over-long parameters) with JSON {code, message}', async () => {
      const cases: [path: string, status: number][] = [
        ['/api/v1/participants/%E0%A4%A', 400],
        ['/api/v1/blocks/%zz', 400],
        [`/api/v1/participants/prac_${'a'.repeat(300)}`, 414],
        [`/api/v1/txs/${'0'.repeat(400)}`, 414],
      ];
      for (const [path, status] of cases) {
        const reply = await call<ErrorJson>(path);
        const what = `GET ${path.slice(0, 40)}…`;
        assert.equal(reply.status, status, `${what}: ${JSON.stringify(reply.body)}`);
        assert.match(reply.contentType, /^application\/json/, what);
        assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'message'], `${what}: body is ${JSON.stringify(reply.body)}`);
        assert.match(reply.body.code, /^request\./, `${what}: code`);
      }
    });

    it('is unharmed: nothing was committed by rejected input, and it still serves and commits', async () => {
      assert.equal(server.node.chain.head().height, heightBefore, 'height unchanged by rejected input');
      assert.equal(server.node.chain.head().logSize, logBefore);
      assert.equal(server.node.sequencer.backlog, 0);
      assert.equal((await get<ParticipantJson>(`/api/v1/participants/${prac.id}`)).nextSeq, prac.nextSeq);
      assert.deepEqual(await get('/healthz'), { status: 'ok', height: heightBefore });

      const receipt = await commit(registerPatient(prac).tx);
      assert.equal(receipt.height, heightBefore + 1);
      assert.equal(receipt.index, logBefore);
    });
  });

  describe('concurrency', () => {
    /** Registers `count` registrars over the API and returns their identities. */
    async function registrars(prefix: string, count: number): Promise<Identity[]> {
      const made = Array.from({ length: count }, (_, i) =>
        registerPractitioner(server.org, `prac_${prefix}-${i}`, ['registrar']),
      );
      await Promise.all(made.map((m, i) => commit(m.tx, i % 2 ? 'json' : 'octets')));
      return made.map((m) => m.practitioner);
    }

    /** Every signer's receipts are in its sequence order, and its nextSeq on the API is `expected`. */
    async function assertSequenced(
      signers: readonly Identity[],
      receipts: readonly SubmitJson[][],
      expected: number,
    ): Promise<void> {
      for (const [i, signer] of signers.entries()) {
        const mine = receipts[i]!;
        for (let k = 1; k < mine.length; k++)
          assert.ok(mine[k]!.index > mine[k - 1]!.index, `${signer.id} committed in sequence order`);
        assert.equal((await get<ParticipantJson>(`/api/v1/participants/${signer.id}`)).nextSeq, expected);
      }
    }

    it(
      '200 transactions from 20 concurrent signers all commit, in fewer blocks than transactions',
      { timeout: 60_000 },
      async () => {
        const signers = await registrars('load', 20);
        const start = server.node.chain.head();

        // 20 signers at once, each sending its ten registrations (seq 0..9) one after the other.
        const receipts = await Promise.all(
          signers.map(async (signer, s) => {
            const mine: SubmitJson[] = [];
            for (let k = 0; k < 10; k++) mine.push(await commit(registerPatient(signer).tx, (s + k) % 2 ? 'json' : 'octets'));
            return mine;
          }),
        );

        const head = server.node.chain.head();
        assert.equal(head.logSize, start.logSize + 200, 'every transaction is in the log');
        const blocks = head.height - start.height;
        assert.ok(blocks < 200, `group commit: ${blocks} blocks for 200 transactions`);
        assert.ok(
          blocks <= 100,
          `group commit should put concurrent signers into shared blocks: ${blocks} blocks for 200 transactions`,
        );
        assert.equal(new Set(receipts.flat().map((r) => r.index)).size, 200, 'log indexes are unique');
        await assertSequenced(signers, receipts, 10);
        const status = await get<StatusJson>('/api/v1/status');
        assert.equal(status.backlog, 0);
        assert.equal(status.height, head.height);
      },
    );

    it(
      '200 transactions sent all at once (arriving in any order) all commit in sequence order',
      { timeout: 60_000 },
      async () => {
        const signers = await registrars('burst', 20);
        const start = server.node.chain.head();
        const perSigner = signers.map((s) => Array.from({ length: 10 }, () => registerPatient(s).tx));
        const receipts = await Promise.all(
          perSigner.map((txs) => Promise.all(txs.map((tx, k) => commit(tx, k % 2 ? 'json' : 'octets')))),
        );
        const head = server.node.chain.head();
        assert.equal(head.logSize, start.logSize + 200);
        assert.ok(head.height - start.height <= 200);
        await assertSequenced(signers, receipts, 10);
      },
    );

    it('seq n+1 sent before seq n from the same signer: both commit, in sequence order', { timeout: 30_000 }, async () => {
      const made = registerPractitioner(server.org, 'prac_ooo', ['registrar']);
      await commit(made.tx);
      const signer = made.practitioner;
      const seqN = registerPatient(signer).tx;
      const seqN1 = registerPatient(signer).tx;
      assert.equal(seqN1.tx.seq, seqN.tx.seq + 1);

      const later = commit(seqN1);
      await sleep(100); // seq n+1 reaches the node first and is parked
      assert.equal(server.node.chain.store.txByHash(seqN1.hash), undefined, 'seq n+1 waits for seq n');
      assert.equal(server.node.sequencer.backlog, 1, 'seq n+1 is parked');
      const earlier = commit(seqN, 'octets');
      const [rLater, rEarlier] = await Promise.all([later, earlier]);
      assert.ok(rEarlier.index < rLater.index, 'seq n is logged before seq n+1');
      assert.equal((await get<ParticipantJson>(`/api/v1/participants/${signer.id}`)).nextSeq, 2);
    });
  });
});
