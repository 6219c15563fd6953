/**
 * The committed chain of one node: genesis, the Application, the Merkle log's right border and the
 * latest block. Consensus adapters hand it executed blocks; it seals them (roots, header, proposer
 * and checkpoint signatures) and persists each one atomically through the LedgerStore port.
 */
import { EventEmitter } from 'node:events';
import type { Signer } from '../crypto/ed25519.js';
import {
  blockHash,
  checkpointOf,
  decodeHeader,
  encodeHeader,
  signBlock,
  signCheckpoint,
  verifyCheckpoint,
  type BlockHeader,
  type SignedCheckpoint,
} from '../ledger/block.js';
import { decodeGenesis, genesisHash, type Genesis } from '../ledger/genesis.js';
import {
  CompactRange,
  consistencyProof,
  inclusionProof,
  leafHash,
  MemoizingReader,
  rootOfLeafHashes,
  type LogNode,
} from '../ledger/merkle.js';
import { subjectsOf } from '../ledger/subjects.js';
import { decodeTx, type SignedTx } from '../ledger/tx.js';
import { genesisState, LedgerApplication, type BlockOutcome } from '../state/application.js';
import type { LedgerStore, StoredBlock, SubjectRow } from '../storage/ports.js';

export interface Head {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly time: number;
  readonly logSize: number;
  readonly logRoot: Uint8Array;
  readonly stateRoot: Uint8Array;
}

export interface CommittedBlock {
  readonly header: BlockHeader;
  readonly stored: StoredBlock;
  readonly txs: readonly SignedTx[];
  readonly checkpoint: SignedCheckpoint;
  /** Computes inclusion proofs for this block's transactions against its own checkpoint. */
  proofFor(position: number): Uint8Array[];
}

/** A block sealed by `Chain.seal`, not yet persisted. */
export interface SealedBlock {
  readonly header: BlockHeader;
  readonly stored: StoredBlock;
  readonly txs: readonly SignedTx[];
  readonly checkpoint: SignedCheckpoint;
  readonly outcome: BlockOutcome;
  readonly logNodes: readonly LogNode[];
  readonly range: CompactRange;
  readonly witness: Uint8Array;
}

export interface ChainEvents {
  block: [CommittedBlock];
}

export class Chain extends EventEmitter<ChainEvents> {
  readonly genesis: Genesis;
  readonly genesisHash: Uint8Array;
  readonly app: LedgerApplication;
  readonly store: LedgerStore;
  #range: CompactRange;
  #head: Head;
  /** CometBFT mode: the key this node seals (witnesses) blocks with, once known. */
  #witness: Uint8Array | undefined;

  private constructor(store: LedgerStore, genesis: Genesis, genesisHashValue: Uint8Array, head: Head, range: CompactRange) {
    super();
    this.store = store;
    this.genesis = genesis;
    this.genesisHash = genesisHashValue;
    this.#head = head;
    this.#range = range;
    this.app = new LedgerApplication(genesis, store, head.height, head.stateRoot);
  }

  /** Opens the chain in `store`, writing `genesisBytes` first if the store is new. */
  static open(store: LedgerStore, genesisBytes?: Uint8Array): Chain {
    let encoded = store.genesis();
    if (!encoded) {
      if (!genesisBytes) throw new Error('the data directory holds no chain; run `medledger init` first');
      const parsed = decodeGenesis(genesisBytes);
      if (!parsed.ok) throw new Error(parsed.error.message);
      store.initialize(genesisBytes, genesisState(parsed.value, genesisHash(genesisBytes), store).changes);
      encoded = genesisBytes;
    }
    const parsed = decodeGenesis(encoded);
    if (!parsed.ok) throw new Error(`stored genesis is invalid: ${parsed.error.message}`);
    const genesis = parsed.value;
    const gHash = genesisHash(encoded);
    const latest = store.latestBlock();
    let head: Head;
    if (latest) {
      const header = decodeHeader(latest.header);
      if (!header.ok) throw new Error(`latest block header is invalid: ${header.error.message}`);
      const h = header.value;
      head = {
        height: h.height,
        hash: latest.hash,
        time: h.time,
        logSize: h.logSize,
        logRoot: h.logRoot,
        stateRoot: h.stateRoot,
      };
    } else {
      const range = CompactRange.empty();
      head = {
        height: 0,
        hash: gHash,
        time: genesis.time,
        logSize: 0,
        logRoot: range.root(),
        stateRoot: genesisState(genesis, gHash, { get: () => undefined }).stateRoot,
      };
    }
    if (store.subjectIndexBehind()) rebuildSubjectIndex(store, genesis.chain);
    return new Chain(store, genesis, gHash, head, CompactRange.fromReader(store, head.logSize));
  }

  get chainId(): string {
    return this.genesis.chain;
  }

  head(): Head {
    return this.#head;
  }

  /**
   * Computes the sealed block (header, signatures, log nodes) without changing anything; persist
   * it with {@link persist} or {@link persistDeferred}. `outcome` must come from this chain's
   * Application for exactly `txs` at height head+1. `signer` signs the block hash and the
   * checkpoint. Solo: it is the proposer. CometBFT: every node seals the agreed block itself, so
   * `proposer` is the CometBFT proposer's key (the same header, and block hash, on every node) and
   * `signer` is this node, signing as a witness.
   */
  seal(
    time: number,
    txs: readonly SignedTx[],
    outcome: BlockOutcome,
    signer: Signer,
    proposer: Uint8Array = signer.publicKey,
  ): SealedBlock {
    const height = this.#head.height + 1;
    const range = this.#range.clone();
    const firstIndex = range.size;
    const leaves = txs.map((tx) => leafHash(tx.wire));
    const logNodes: LogNode[] = [];
    for (const leaf of leaves) logNodes.push(...range.append(leaf));
    const header: BlockHeader = {
      chain: this.chainId,
      height,
      time: Math.max(time, this.#head.time),
      prevHash: this.#head.hash,
      txCount: txs.length,
      txRoot: rootOfLeafHashes(leaves),
      logSize: range.size,
      logRoot: range.root(),
      stateRoot: outcome.stateRoot,
      proposer,
    };
    const encoded = encodeHeader(header);
    const hash = blockHash(encoded);
    const checkpoint = signCheckpoint(checkpointOf(header), signer);
    const stored: StoredBlock = {
      height,
      hash,
      header: encoded,
      signature: signBlock(hash, signer),
      checkpointSignature: checkpoint.signature,
      firstIndex,
      txCount: txs.length,
    };
    return { header, stored, txs, checkpoint, outcome, logNodes, range, witness: signer.publicKey };
  }

  /** Persists a block sealed on top of the current head, atomically, and makes it the head. */
  persist(sealed: SealedBlock): CommittedBlock {
    const committed = this.#apply(sealed, 'synced');
    this.emit('block', committed);
    return committed;
  }

  /**
   * As {@link persist}, but the disk wait is off the event loop: the block is the head at once (the
   * next one can be built on it), and `durable` resolves, and 'block' is emitted, once the store
   * has it on disk. Nobody may be told about the block before `durable`.
   */
  persistDeferred(sealed: SealedBlock): { block: CommittedBlock; durable: Promise<void> } {
    const block = this.#apply(sealed, 'deferred');
    const durable = this.store.sync().then(() => {
      this.emit('block', block);
    });
    return { block, durable };
  }

  #apply(sealed: SealedBlock, durability: 'synced' | 'deferred'): CommittedBlock {
    const { header, stored, txs, checkpoint, outcome, logNodes, range } = sealed;
    const height = header.height;
    const firstIndex = stored.firstIndex;
    if (height !== this.#head.height + 1 || !Buffer.from(header.prevHash).equals(this.#head.hash))
      throw new Error(`sealed block ${height} does not follow the head at ${this.#head.height}`);
    this.store.commitBlock(
      {
        block: stored,
        txs: txs.map((tx, i) => ({ index: firstIndex + i, hash: tx.hash, height, wire: tx.wire })),
        logNodes,
        stateChanges: outcome.changes,
        subjects: txs.flatMap((tx, i) => subjectsOf(tx.tx).map((subject) => ({ subject, index: firstIndex + i }))),
      },
      durability,
    );
    this.#range = range;
    if (this.genesis.consensus === 'cometbft') this.#witness = sealed.witness;
    this.#head = {
      height,
      hash: stored.hash,
      time: header.time,
      logSize: header.logSize,
      logRoot: header.logRoot,
      stateRoot: header.stateRoot,
    };
    this.app.commit(height, outcome);
    const reader = new MemoizingReader(this.store, logNodes);
    return {
      header,
      stored,
      txs,
      checkpoint,
      proofFor: (position) => inclusionProof(reader, firstIndex + position, header.logSize),
    };
  }

  inclusionProof(index: number, size: number): Uint8Array[] {
    return inclusionProof(this.store, index, size);
  }

  consistencyProof(size1: number, size2: number): Uint8Array[] {
    return consistencyProof(this.store, size1, size2);
  }

  /** The checkpoint signed with block `height` (the latest by default). */
  checkpoint(height = this.#head.height): SignedCheckpoint | undefined {
    const block = this.store.block(height);
    if (!block) return undefined;
    const header = decodeHeader(block.header);
    if (!header.ok) throw new Error(`block ${height} header is invalid: ${header.error.message}`);
    const checkpoint = checkpointOf(header.value);
    if (this.genesis.consensus !== 'cometbft')
      return { checkpoint, signer: header.value.proposer, signature: block.checkpointSignature };
    // Under CometBFT the checkpoint is signed by the node that sealed the block (a witness).
    const candidates = this.#witness ? [this.#witness] : [];
    candidates.push(...this.app.validatorHistory().map((v) => v.key));
    for (const signer of candidates) {
      const signed = { checkpoint, signer, signature: block.checkpointSignature };
      if (verifyCheckpoint(signed)) return ((this.#witness = signer), signed);
    }
    return { checkpoint, signer: header.value.proposer, signature: block.checkpointSignature };
  }
}

/** Indexes every committed transaction by subject (a data directory from before the index). */
function rebuildSubjectIndex(store: LedgerStore, chain: string): void {
  const rows: SubjectRow[] = [];
  for (const stored of store.allTxs()) {
    const tx = decodeTx(stored.wire, chain, { skipSignature: true });
    if (!tx.ok) throw new Error(`transaction ${stored.index} does not decode: ${tx.error.message}`);
    for (const subject of subjectsOf(tx.value.tx)) rows.push({ subject, index: stored.index });
  }
  store.indexSubjects(rows);
}
