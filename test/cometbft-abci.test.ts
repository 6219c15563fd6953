/**
 * The CometBFT adapter in process (no cometbft binary): ABCI framing, the socket server's Flush
 * semantics, and the ABCI application — determinism across two nodes with different keys,
 * CheckTx/PrepareProposal/ProcessProposal rules, per-transaction results, crash between
 * FinalizeBlock and Commit, queries.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  RequestFinalizeBlock,
  RequestInitChain,
  RequestPrepareProposal,
  RequestProcessProposal,
  ResponseProcessProposal_ProposalStatus,
  type Response,
} from 'cosmjs-types/tendermint/abci/types';
import { Identity } from '../src/client/identity.js';
import { toHex, utf8 } from '../src/crypto/bytes.js';
import { generateKeyPair, Signer, type KeyPair } from '../src/crypto/ed25519.js';
import { encodeGenesis, type Genesis } from '../src/ledger/genesis.js';
import { Chain } from '../src/node/chain.js';
import { SqliteLedgerStore } from '../src/storage/sqlite/ledger-store.js';
import { AbciApp, abciCode, appHash, validatorAddress } from '../src/consensus/cometbft/app.js';
import { AbciServer } from '../src/consensus/cometbft/server.js';
import { decodeResponse, decodeUvarint, encodeRequest, encodeUvarint, FrameReader } from '../src/consensus/cometbft/wire.js';
import { registerPatient, registerPractitioner, tempDir } from './support/fixtures.js';

const CHAIN = 'abci-test';

describe('ABCI framing', () => {
  it('uvarint lengths round-trip, and messages split across chunks are reassembled', () => {
    for (const n of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 31, 2 ** 40]) {
      const encoded = encodeUvarint(n);
      assert.deepEqual(decodeUvarint(encoded, 0), [n, encoded.length]);
      assert.equal(decodeUvarint(encoded.subarray(0, encoded.length - 1), 0), undefined);
    }
    const a = encodeRequest({ echo: { message: 'a' } });
    const b = encodeRequest({ flush: {} });
    const stream = Buffer.concat([a, b]);
    const reader = new FrameReader();
    const got = [
      ...reader.push(stream.subarray(0, 2)),
      ...reader.push(stream.subarray(2, a.length + 1)),
      ...reader.push(stream.subarray(a.length + 1)),
    ];
    assert.equal(got.length, 2);
  });
});

interface Net {
  genesis: Genesis;
  org: KeyPair;
  validators: KeyPair[];
}

function makeNet(): Net {
  const org = generateKeyPair();
  const validators = [generateKeyPair(), generateKeyPair()];
  return {
    org,
    validators,
    genesis: {
      chain: CHAIN,
      time: 1_700_000_000_000,
      founder: { id: 'org_1', name: 'One', key: org.publicKey },
      members: [{ id: 'org_2', name: 'Two', key: generateKeyPair().publicKey }],
      validators: validators.map((v, i) => ({ name: `org_${i + 1}`, key: v.publicKey })),
      consensus: 'cometbft',
    },
  };
}

function openApp(dir: string, net: Net, validator: number): { app: AbciApp; store: SqliteLedgerStore } {
  const store = new SqliteLedgerStore(join(dir, 'ledger.sqlite'));
  const chain = Chain.open(store, encodeGenesis(net.genesis));
  return { app: new AbciApp(chain, new Signer(net.validators[validator]!)), store };
}

const time = (ms: number) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });

function finalizeRequest(height: number, txs: Uint8Array[], proposer: KeyPair, ms: number) {
  return RequestFinalizeBlock.fromPartial({
    height: BigInt(height),
    txs,
    time: time(ms),
    proposerAddress: validatorAddress(proposer.publicKey),
  });
}

describe('the ABCI application', () => {
  const net = makeNet();
  const dirs = [tempDir('abci-a-'), tempDir('abci-b-')];
  let nodes: { app: AbciApp; store: SqliteLedgerStore }[];
  const org = new Identity(CHAIN, 'org_1', net.org);
  let practitioner: Identity;
  let prac: Uint8Array;
  const handle = (i: number, request: Parameters<AbciApp['handle']>[0]): Response => nodes[i]!.app.handle(request);

  before(() => {
    nodes = dirs.map((d, i) => openApp(d.path, net, i));
  });
  after(() => {
    for (const n of nodes) n.store.close();
    for (const d of dirs) d.remove();
  });

  it('Info at height 0 asks for InitChain; InitChain checks chain id and validators', () => {
    const info = handle(0, { info: { version: '', blockVersion: 0n, p2pVersion: 0n, abciVersion: '2.0.0' } }).info!;
    assert.equal(info.lastBlockHeight, 0n);
    assert.equal(info.lastBlockAppHash.length, 0);
    const validators = net.validators.map((v) => ({ pubKey: { ed25519: v.publicKey }, power: 10n }));
    const hashes = [0, 1].map(
      (i) => handle(i, { initChain: RequestInitChain.fromPartial({ chainId: CHAIN, validators }) }).initChain!.appHash,
    );
    assert.equal(toHex(hashes[0]!), toHex(hashes[1]!));
    assert.throws(() => handle(0, { initChain: RequestInitChain.fromPartial({ chainId: 'other', validators }) }), /chain id/);
    assert.throws(
      () => handle(0, { initChain: RequestInitChain.fromPartial({ chainId: CHAIN, validators: validators.slice(1) }) }),
      /validators/,
    );
  });

  it('CheckTx admits a valid transaction and answers an error code for others', () => {
    const made = registerPractitioner(org, 'prac_abci', ['registrar']);
    practitioner = made.practitioner;
    prac = made.tx.wire;
    assert.equal(handle(0, { checkTx: { tx: prac, type: 0 } }).checkTx!.code, 0);
    const garbage = handle(0, { checkTx: { tx: utf8('not a transaction'), type: 0 } }).checkTx!;
    assert.equal(garbage.code, abciCode('tx.malformed'));
    assert.equal(garbage.codespace, 'medledger');
    const stranger = new Identity(CHAIN, 'org_nobody', generateKeyPair());
    const unknown = handle(0, { checkTx: { tx: registerPatient(stranger).tx.wire, type: 0 } }).checkTx!;
    assert.equal(unknown.code, abciCode('tx.unknown_signer'));
    const farAhead = org.signAt({ type: 'participant.set_status', body: { id: 'org_2', status: 'active' } }, 5000);
    assert.equal(handle(0, { checkTx: { tx: farAhead.wire, type: 0 } }).checkTx!.code, abciCode('tx.sequence_gap'));
  });

  it('PrepareProposal keeps transactions that apply, within the byte limit; ProcessProposal rejects undecodable ones', () => {
    const patient = registerPatient(practitioner).tx.wire; // applies only after prac
    const txs = [utf8('junk'), patient, prac];
    const all = handle(0, {
      prepareProposal: RequestPrepareProposal.fromPartial({
        height: 1n,
        maxTxBytes: 1_000_000n,
        txs,
        time: time(net.genesis.time + 1000),
      }),
    });
    assert.deepEqual(all.prepareProposal!.txs.map(toHex), [toHex(prac)], 'junk and the out-of-order patient are dropped');
    const none = handle(0, {
      prepareProposal: RequestPrepareProposal.fromPartial({ height: 1n, maxTxBytes: BigInt(prac.length), txs: [prac] }),
    });
    assert.equal(none.prepareProposal!.txs.length, 0, 'framing overhead counts against max bytes');
    const proposer = validatorAddress(net.validators[0]!.publicKey);
    const process = (t: Uint8Array[]) =>
      handle(1, { processProposal: RequestProcessProposal.fromPartial({ height: 1n, txs: t, proposerAddress: proposer }) })
        .processProposal!.status;
    assert.equal(process([prac, patient]), ResponseProcessProposal_ProposalStatus.ACCEPT);
    assert.equal(process([prac, utf8('junk')]), ResponseProcessProposal_ProposalStatus.REJECT);
  });

  it('two nodes with different keys finalize the same block to the same app hash and the same block', () => {
    const failing = registerPatient(new Identity(CHAIN, 'org_nobody', generateKeyPair())).tx.wire;
    const request = finalizeRequest(1, [prac, failing, utf8('junk')], net.validators[1]!, net.genesis.time + 1000);
    const results = [0, 1].map((i) => handle(i, { finalizeBlock: request }).finalizeBlock!);
    assert.equal(toHex(results[0]!.appHash), toHex(results[1]!.appHash));
    assert.deepEqual(
      results[0]!.txResults.map((r) => r.code),
      [0, abciCode('tx.unknown_signer'), abciCode('tx.malformed')],
    );
    for (const i of [0, 1]) handle(i, { commit: {} });
    const [a, b] = nodes.map((n) => n.app.chain);
    assert.equal(a!.head().height, 1);
    assert.equal(toHex(a!.head().hash), toHex(b!.head().hash), 'identical headers');
    const blockA = a!.store.block(1)!;
    const blockB = b!.store.block(1)!;
    assert.equal(blockA.txCount, 1, 'only the transaction that applied is in the block');
    assert.notEqual(toHex(blockA.signature), toHex(blockB.signature), 'each node signs as a witness');
    assert.equal(toHex(a!.checkpoint(1)!.signer), toHex(net.validators[0]!.publicKey));
    assert.equal(toHex(appHash(a!.head())), toHex(results[0]!.appHash));
    const info = handle(0, { info: { version: '', blockVersion: 0n, p2pVersion: 0n, abciVersion: '' } }).info!;
    assert.equal(info.lastBlockHeight, 1n);
    assert.equal(toHex(info.lastBlockAppHash), toHex(results[0]!.appHash));
  });

  it('a node killed between FinalizeBlock and Commit replays the block after restart to the same app hash', () => {
    const tx = registerPatient(practitioner).tx.wire;
    const request = finalizeRequest(2, [tx], net.validators[0]!, net.genesis.time + 2000);
    const before = handle(0, { finalizeBlock: request }).finalizeBlock!.appHash;
    // "Crash": drop the in-memory application without Commit, reopen from the store.
    nodes[0]!.store.close();
    nodes[0] = openApp(dirs[0]!.path, net, 0);
    const info = handle(0, { info: { version: '', blockVersion: 0n, p2pVersion: 0n, abciVersion: '' } }).info!;
    assert.equal(info.lastBlockHeight, 1n, 'nothing of block 2 was persisted');
    const again = handle(0, { finalizeBlock: request }).finalizeBlock!.appHash;
    assert.equal(toHex(again), toHex(before));
    handle(0, { commit: {} });
    const other = handle(1, { finalizeBlock: request }).finalizeBlock!.appHash;
    handle(1, { commit: {} });
    assert.equal(toHex(other), toHex(before));
    assert.throws(() => handle(0, { commit: {} }), /Commit without FinalizeBlock/);
  });

  it('Query answers participants and transactions by hash', () => {
    const query = (path: string) => handle(0, { query: { path, data: new Uint8Array(), height: 0n, prove: false } }).query!;
    const p = query('/participant/prac_abci');
    assert.equal(p.code, 0);
    assert.equal((JSON.parse(Buffer.from(p.value).toString()) as { id: string }).id, 'prac_abci');
    assert.equal(query('/participant/org_2').code, 0, 'a genesis member organization exists');
    const tx = nodes[0]!.app.chain.store.block(1)!;
    const stored = nodes[0]!.app.chain.store.blockTxs(tx)[0]!;
    const got = query(`/tx/${toHex(stored.hash)}`);
    assert.equal((JSON.parse(Buffer.from(got.value).toString()) as { height: number }).height, 1);
    assert.equal(query(`/tx/${'0'.repeat(64)}`).code, abciCode('state.not_found'));
    assert.equal(query('/participant/prac_nobody').code, abciCode('state.not_found'));
  });

  it('the socket server answers in order and writes on Flush; Echo is answered by the server', async () => {
    const dir = tempDir('abci-sock-');
    const server = new AbciServer(nodes[1]!.app.handle);
    const path = join(dir.path, 'abci.sock');
    await server.listen({ path });
    try {
      const socket = connect(path);
      const reader = new FrameReader();
      const responses: Response[] = [];
      socket.on('data', (chunk: Buffer) => responses.push(...reader.push(chunk).map(decodeResponse)));
      socket.write(encodeRequest({ echo: { message: 'hello' } }));
      socket.write(encodeRequest({ info: { version: '', blockVersion: 0n, p2pVersion: 0n, abciVersion: '' } }));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(responses.length, 0, 'nothing is written before Flush');
      socket.write(encodeRequest({ flush: {} }));
      for (let i = 0; i < 50 && responses.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(responses[0]!.echo!.message, 'hello');
      assert.equal(responses[1]!.info!.lastBlockHeight, 2n);
      assert.ok(responses[2]!.flush);
      socket.destroy();
    } finally {
      await server.close();
      dir.remove();
    }
  });
});
