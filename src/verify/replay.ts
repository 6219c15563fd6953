/**
 * `medledger verify`: replays a ledger from genesis and rechecks everything it claims — block
 * hashes and links, proposer and checkpoint signatures, every transaction's encoding, hash and
 * signature, every state transition and state root, the Merkle log — and names the first thing
 * that does not match. Signatures are checked on worker threads while replay runs ahead.
 */
import { equalBytes, toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { VerifyPool, type VerifyItem } from '../crypto/verify-pool.js';
import {
  checkpointOf,
  blockHash,
  decodeHeader,
  verifyBlockSignature,
  verifyCheckpoint,
  type BlockHeader,
} from '../ledger/block.js';
import { decodeGenesis, genesisHash, type Genesis } from '../ledger/genesis.js';
import { CompactRange, leafHash, rootOfLeafHashes } from '../ledger/merkle.js';
import { decodeTx, signingBytes, type SignedTx } from '../ledger/tx.js';
import { genesisState, LedgerApplication } from '../state/application.js';
import type { StateReader } from '../state/store.js';
import type { StoredBlock, StoredTx } from '../storage/ports.js';

export interface SourceBlock {
  readonly block: StoredBlock;
  readonly txs: readonly StoredTx[];
}

/** Where a ledger comes from: a data directory or a node's API. */
export interface ReplaySource {
  genesis(): Promise<Uint8Array>;
  blocks(): AsyncIterable<SourceBlock>;
}

export interface Problem {
  /** e.g. "block 12", "block 12, transaction 3 (log index 118)", "state", "log node 2/5". */
  readonly where: string;
  readonly message: string;
}

export interface ReplayResult {
  readonly genesis: Genesis | undefined;
  readonly height: number;
  readonly txs: number;
  readonly logRoot: Uint8Array;
  readonly lastHeader: BlockHeader | undefined;
  /** The replayed state, for sources that can compare it with what they store. */
  readonly state: ReadonlyMap<string, Uint8Array>;
  /** Leaf hashes in log order, for sources that store log nodes. */
  readonly leaves: Uint8Array;
  readonly problem: Problem | undefined;
}

export interface ReplayOptions {
  readonly pool?: VerifyPool;
  readonly onProgress?: (height: number, txs: number) => void;
}

class MapState implements StateReader {
  readonly map = new Map<string, Uint8Array>();
  get(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }
}

class Mismatch extends Error {
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_IN_FLIGHT = 16;

export async function replay(source: ReplaySource, options: ReplayOptions = {}): Promise<ReplayResult> {
  const ownPool = options.pool ? undefined : new VerifyPool();
  const pool = options.pool ?? ownPool!;
  const state = new MapState();
  let leaves = new Uint8Array(32 * 1024);
  let genesis: Genesis | undefined;
  let height = 0;
  let txCount = 0;
  let lastHeader: BlockHeader | undefined;
  const range = CompactRange.empty();
  // Signature batches in flight, each tagged with the block it covers.
  const inFlight: { height: number; where: string[]; done: Promise<boolean[]> }[] = [];
  let problem: Problem | undefined;

  const settleSignatures = async (upTo: number): Promise<void> => {
    while (inFlight.length > upTo) {
      const batch = inFlight.shift()!;
      const valid = await batch.done;
      const bad = valid.indexOf(false);
      if (bad >= 0) throw new Mismatch(batch.where[bad]!, 'signature does not verify');
    }
  };

  try {
    const encodedGenesis = await source.genesis();
    const parsed = decodeGenesis(encodedGenesis);
    if (!parsed.ok) throw new Mismatch('genesis', parsed.error.message);
    genesis = parsed.value;
    const gHash = genesisHash(encodedGenesis);
    const initial = genesisState(genesis, gHash, state);
    for (const c of initial.changes) if (c.value) state.map.set(c.key, c.value);
    const app = new LedgerApplication(genesis, state, 0, initial.stateRoot);
    let prevHash = gHash;
    let prevTime = genesis.time;
    // Keys that are or were validators (governance changes the set): proposers and witnesses.
    let validators = app.validatorHistory().map((v) => v.key);

    for await (const { block, txs } of source.blocks()) {
      const where = `block ${block.height}`;
      if (block.height !== height + 1) throw new Mismatch(where, `expected block ${height + 1}`);
      const decoded = decodeHeader(block.header);
      if (!decoded.ok) throw new Mismatch(where, decoded.error.message);
      const header = decoded.value;
      if (header.height !== block.height) throw new Mismatch(where, `header says height ${header.height}`);
      if (header.chain !== genesis.chain) throw new Mismatch(where, `header is for chain ${header.chain}`);
      if (!equalBytes(header.prevHash, prevHash)) throw new Mismatch(where, 'previous block hash does not match');
      if (!equalBytes(blockHash(block.header), block.hash)) throw new Mismatch(where, 'block hash does not match its header');
      if (header.time < prevTime) throw new Mismatch(where, 'block time goes backwards');
      if (!validators.some((v) => equalBytes(v, header.proposer))) throw new Mismatch(where, 'proposer is not a validator');
      if (genesis.consensus === 'cometbft') {
        // Each node seals the agreed block itself and signs it as a witness: any validator's
        // signature counts, and both signatures must come from the same validator.
        const witness = validators.find((v) => verifyBlockSignature(block.hash, block.signature, v));
        if (!witness) throw new Mismatch(where, 'block signature is not a validator witness signature');
        const checkpoint = { checkpoint: checkpointOf(header), signer: witness, signature: block.checkpointSignature };
        if (!verifyCheckpoint(checkpoint)) throw new Mismatch(where, 'checkpoint signature does not verify');
      } else {
        if (!verifyBlockSignature(block.hash, block.signature, header.proposer))
          throw new Mismatch(where, 'proposer signature does not verify');
        const checkpoint = { checkpoint: checkpointOf(header), signer: header.proposer, signature: block.checkpointSignature };
        if (!verifyCheckpoint(checkpoint)) throw new Mismatch(where, 'checkpoint signature does not verify');
      }
      if (block.firstIndex !== txCount || block.txCount !== txs.length || header.txCount !== txs.length) {
        throw new Mismatch(
          where,
          `transaction count or position does not match (expected ${header.txCount} from log index ${txCount})`,
        );
      }

      const signed: SignedTx[] = [];
      const items: VerifyItem[] = [];
      const places: string[] = [];
      txs.forEach((stored, i) => {
        const txWhere = `${where}, transaction ${i} (log index ${txCount + i})`;
        if (stored.index !== txCount + i || stored.height !== block.height)
          throw new Mismatch(txWhere, 'stored position does not match');
        if (!equalBytes(sha256(stored.wire), stored.hash))
          throw new Mismatch(txWhere, 'transaction hash does not match its bytes');
        const tx = decodeTx(stored.wire, genesis!.chain, { skipSignature: true });
        if (!tx.ok) throw new Mismatch(txWhere, `${tx.error.code}: ${tx.error.message}`);
        signed.push(tx.value);
        items.push({ message: signingBytes(tx.value.body), signature: tx.value.signature, publicKey: tx.value.tx.key });
        places.push(txWhere);
      });
      inFlight.push({ height: block.height, where: places, done: pool.verify(items) });

      const blockLeaves = signed.map((tx) => leafHash(tx.wire));
      if (!equalBytes(rootOfLeafHashes(blockLeaves), header.txRoot)) throw new Mismatch(where, 'transaction root does not match');
      const outcome = app.finalizeBlock({ height: header.height, time: header.time }, signed);
      const failed = outcome.results.findIndex((r) => !r.ok);
      if (failed >= 0) {
        const error = outcome.results[failed]!;
        throw new Mismatch(
          places[failed]!,
          `transaction does not apply: ${error.ok ? '' : `${error.error.code}: ${error.error.message}`}`,
        );
      }
      if (!equalBytes(outcome.stateRoot, header.stateRoot))
        throw new Mismatch(where, 'state root does not match the replayed state');
      for (const c of outcome.changes) {
        if (c.value === null) state.map.delete(c.key);
        else state.map.set(c.key, c.value);
      }
      app.commit(header.height, outcome);
      validators = app.validatorHistory().map((v) => v.key);

      for (const leaf of blockLeaves) {
        if ((range.size + 1) * 32 > leaves.length) {
          const grown = new Uint8Array(leaves.length * 2);
          grown.set(leaves);
          leaves = grown;
        }
        leaves.set(leaf, range.size * 32);
        range.append(leaf);
      }
      if (range.size !== header.logSize || !equalBytes(range.root(), header.logRoot)) {
        throw new Mismatch(where, 'log size or root does not match the replayed log');
      }

      height = header.height;
      txCount += txs.length;
      prevHash = block.hash;
      prevTime = header.time;
      lastHeader = header;
      options.onProgress?.(height, txCount);
      await settleSignatures(MAX_IN_FLIGHT);
    }
    await settleSignatures(0);
  } catch (error) {
    if (!(error instanceof Mismatch)) throw error;
    problem = { where: error.where, message: error.message };
    // A bad signature in an earlier block still in flight comes first.
    try {
      await settleSignatures(0);
    } catch (earlier) {
      if (earlier instanceof Mismatch) problem = { where: earlier.where, message: earlier.message };
    }
  } finally {
    await ownPool?.close();
  }
  return {
    genesis,
    height,
    txs: txCount,
    logRoot: range.root(),
    lastHeader,
    state: state.map,
    leaves: leaves.subarray(0, range.size * 32),
    problem,
  };
}

export function describeProblem(p: Problem): string {
  return `${p.where}: ${p.message}`;
}

export { toHex };
