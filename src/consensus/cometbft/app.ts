/**
 * The MedLedger state machine behind CometBFT's ABCI 2.0. The same Chain and Application as the
 * solo sequencer; CometBFT decides the order, height and time of blocks.
 *
 * - Blocks map one to one: MedLedger block h is CometBFT block h (empty blocks included), with
 *   CometBFT's BFT time in milliseconds (never decreasing).
 * - Only transactions that apply go into the MedLedger block (and its log); the others get an
 *   error result in FinalizeBlock and change nothing, so `medledger verify` replays as usual.
 * - Every node seals the agreed block itself: the header's proposer is the CometBFT proposer's
 *   key (the same header and block hash on every node); the block and checkpoint signatures are
 *   this node's own, as a witness. CometBFT validator keys are the MedLedger node keys.
 * - App hash (see appHash): SHA-256 over a domain, the state root, the log root and the log size
 *   after the block. Deterministic across nodes: nothing node-specific enters it.
 * - FinalizeBlock executes and seals in memory; Commit persists block, transactions, log nodes,
 *   state changes and index rows in one storage transaction. A node killed in between lost
 *   nothing durable: Info reports the last committed height and CometBFT replays the block.
 */
import { EventEmitter } from 'node:events';
import {
  ResponseProcessProposal_ProposalStatus,
  ResponseVerifyVoteExtension_VerifyStatus,
  type ExecTxResult,
  type Request,
  type RequestFinalizeBlock,
  type RequestInitChain,
  type RequestPrepareProposal,
  type RequestProcessProposal,
  type RequestQuery,
  type Response,
  type ResponseQuery,
  type ValidatorUpdate,
} from 'cosmjs-types/tendermint/abci/types';
import type { Timestamp } from 'cosmjs-types/google/protobuf/timestamp';
import { concatBytes, fromHex, toHex, utf8 } from '../../crypto/bytes.js';
import { sha256 } from '../../crypto/hash.js';
import type { Signer } from '../../crypto/ed25519.js';
import { fail, type LedgerError, type LedgerErrorCode, type Result } from '../../ledger/errors.js';
import { decodeTx, type SignedTx } from '../../ledger/tx.js';
import type { Chain, CommittedBlock, Head, SealedBlock } from '../../node/chain.js';
import { VALIDATOR_POWER, type ValidatorRecord } from '../../state/governance.js';

const APP_HASH_DOMAIN = concatBytes(utf8('medledger/apphash/v1'), new Uint8Array([0]));
export const APP_VERSION = 1n;
const DECODE_CACHE = 50_000;
/** How far past a signer's next sequence number CheckTx admits a transaction to the mempool. */
export const MAX_SEQ_AHEAD = 1000;

/** Numeric ABCI result codes for the ledger's error codes. Append only: clients may store them. */
export const ERROR_CODES: readonly LedgerErrorCode[] = [
  'tx.too_large',
  'tx.malformed',
  'tx.non_canonical',
  'tx.unknown_type',
  'tx.wrong_chain',
  'tx.bad_signature',
  'tx.expired',
  'tx.replayed',
  'tx.sequence_gap',
  'tx.duplicate',
  'tx.unknown_signer',
  'tx.signer_inactive',
  'tx.key_mismatch',
  'tx.unauthorized',
  'tx.invalid',
  'state.conflict',
  'state.not_found',
  'state.limit',
  'node.overloaded',
  'node.shutting_down',
];
export const CODESPACE = 'medledger';

export function abciCode(code: LedgerErrorCode): number {
  return ERROR_CODES.indexOf(code) + 1;
}

export function errorOfCode(code: number, message: string): LedgerError {
  return { code: ERROR_CODES[code - 1] ?? 'tx.invalid', message };
}

/**
 * SHA-256("medledger/apphash/v1" ‖ 0x00 ‖ stateRoot ‖ logRoot ‖ logSize as 8 bytes big-endian).
 * The state root chains every block's state changes back to the genesis hash, and the log root
 * commits to every transaction, so agreeing on it means agreeing on the whole ledger.
 */
export function appHash(head: Pick<Head, 'stateRoot' | 'logRoot' | 'logSize'>): Uint8Array {
  const size = new Uint8Array(8);
  new DataView(size.buffer).setBigUint64(0, BigInt(head.logSize));
  return sha256(concatBytes(APP_HASH_DOMAIN, head.stateRoot, head.logRoot, size));
}

/** CometBFT's validator address: the first 20 bytes of SHA-256 of the Ed25519 public key. */
export function validatorAddress(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, 20);
}

export function timestampMs(t: Timestamp | undefined): number {
  if (!t) return 0;
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1_000_000);
}

export interface TxOutcome {
  readonly hash: Uint8Array;
  readonly result: Result<void>;
}

export interface AbciAppEvents {
  /** After Commit: the committed block and the transactions of the CometBFT block that failed. */
  committed: [CommittedBlock, readonly TxOutcome[]];
}

interface Finalized {
  readonly height: number;
  readonly sealed: SealedBlock;
  readonly failed: TxOutcome[];
}

export class AbciApp extends EventEmitter<AbciAppEvents> {
  readonly chain: Chain;
  readonly #signer: Signer;
  readonly #proposers = new Map<string, Uint8Array>();
  #finalized: Finalized | undefined;
  readonly #decoded = new Map<string, SignedTx>();

  readonly #beforeCommit: ((height: number) => void) | undefined;

  /** `beforeCommit` runs in Commit before anything is persisted (crash tests kill the process there). */
  constructor(chain: Chain, signer: Signer, beforeCommit?: (height: number) => void) {
    super();
    this.#beforeCommit = beforeCommit;
    if (chain.genesis.consensus !== 'cometbft') throw new Error('this chain runs on the solo sequencer, not CometBFT');
    this.chain = chain;
    this.#signer = signer;
    this.#learnValidators(chain.app.validatorHistory());
  }

  /** Proposers may be any key that is or was a validator (a removed one still proposes for two blocks). */
  #learnValidators(records: readonly ValidatorRecord[]): void {
    for (const v of records) this.#proposers.set(toHex(validatorAddress(v.key)), v.key);
  }

  handle = (request: Request): Response => {
    if (request.info) return { info: this.#info() };
    if (request.initChain) return { initChain: this.#initChain(request.initChain) };
    if (request.checkTx) return { checkTx: this.#checkTx(request.checkTx.tx) };
    if (request.prepareProposal) return { prepareProposal: this.#prepare(request.prepareProposal) };
    if (request.processProposal) return { processProposal: this.#process(request.processProposal) };
    if (request.finalizeBlock) return { finalizeBlock: this.#finalize(request.finalizeBlock) };
    if (request.commit) return { commit: this.#commit() };
    if (request.query) return { query: this.#query(request.query) };
    if (request.extendVote) return { extendVote: { voteExtension: new Uint8Array() } };
    if (request.verifyVoteExtension) return { verifyVoteExtension: { status: ResponseVerifyVoteExtension_VerifyStatus.ACCEPT } };
    if (request.listSnapshots) return { listSnapshots: { snapshots: [] } };
    if (request.offerSnapshot) return { offerSnapshot: { result: 1 /* ABORT: no state sync yet */ } };
    if (request.loadSnapshotChunk) return { loadSnapshotChunk: { chunk: new Uint8Array() } };
    if (request.applySnapshotChunk) return { applySnapshotChunk: { result: 2, refetchChunks: [], rejectSenders: [] } };
    throw new Error('unsupported ABCI request');
  };

  #info(): NonNullable<Response['info']> {
    const head = this.chain.head();
    return {
      data: `medledger ${this.chain.chainId}`,
      version: '0.1.0',
      appVersion: APP_VERSION,
      lastBlockHeight: BigInt(head.height),
      // Height 0 answers with no hash, so CometBFT calls InitChain.
      lastBlockAppHash: head.height === 0 ? new Uint8Array() : appHash(head),
    };
  }

  #initChain(request: RequestInitChain): NonNullable<Response['initChain']> {
    const genesis = this.chain.genesis;
    if (request.chainId !== genesis.chain)
      throw new Error(`CometBFT chain id "${request.chainId}" is not the MedLedger chain "${genesis.chain}"`);
    const ours = genesis.validators.map((v) => toHex(v.key)).sort();
    const theirs = request.validators.map((v) => toHex(v.pubKey.ed25519 ?? new Uint8Array())).sort();
    if (ours.join() !== theirs.join())
      throw new Error('the CometBFT genesis validators are not the validators of the MedLedger genesis');
    if (this.chain.head().height !== 0) throw new Error('InitChain on a chain that already has blocks');
    if (request.initialHeight > 1n) throw new Error('the CometBFT genesis must start at height 1 (initial_height)');
    return { validators: [], appHash: appHash(this.chain.head()) };
  }

  #checkTx(wire: Uint8Array): NonNullable<Response['checkTx']> {
    const decoded = this.#decode(wire);
    let checked = decoded.ok ? this.chain.app.checkTx(decoded.value) : decoded;
    // A transaction may wait in the mempool for its predecessors, but not arbitrarily far ahead.
    if (checked.ok && decoded.ok) {
      const next = this.chain.app.nextSeq(decoded.value.tx.signer);
      if (decoded.value.tx.seq > next + MAX_SEQ_AHEAD)
        checked = fail('tx.sequence_gap', `sequence ${decoded.value.tx.seq} is more than ${MAX_SEQ_AHEAD} ahead of ${next}`);
    }
    if (checked.ok)
      return { code: 0, data: new Uint8Array(), log: '', info: '', gasWanted: 0n, gasUsed: 0n, events: [], codespace: '' };
    return {
      code: abciCode(checked.error.code),
      data: utf8(checked.error.code),
      log: checked.error.message,
      info: checked.error.code,
      gasWanted: 0n,
      gasUsed: 0n,
      events: [],
      codespace: CODESPACE,
    };
  }

  /**
   * Keeps the transactions that would apply, in mempool order, within the byte limit. A
   * transaction ahead of its signer's sequence (its predecessor came later in the mempool) is
   * retried after the others, so a signer's pipelined transactions still share one block.
   */
  #prepare(request: RequestPrepareProposal): NonNullable<Response['prepareProposal']> {
    const height = Number(request.height);
    if (height !== this.chain.head().height + 1) return { txs: [] };
    const execution = this.chain.app.beginBlock({ height, time: this.#blockTime(request.time) });
    const limit = Number(request.maxTxBytes);
    const kept: Uint8Array[] = [];
    let bytes = 0;
    let waiting: { wire: Uint8Array; tx: SignedTx; cost: number }[] = [];
    for (const wire of request.txs) {
      // Each transaction costs its bytes plus the protobuf field tag and length in the block.
      const cost = wire.length + 1 + varintSize(wire.length);
      const decoded = this.#decode(wire);
      if (decoded.ok) waiting.push({ wire, tx: decoded.value, cost });
    }
    for (let progress = true; progress && waiting.length > 0;) {
      progress = false;
      const gaps: typeof waiting = [];
      for (const item of waiting) {
        if (bytes + item.cost > limit) continue;
        const result = execution.deliver(item.tx);
        if (result.ok) {
          kept.push(item.wire);
          bytes += item.cost;
          progress = true;
        } else if (result.error.code === 'tx.sequence_gap') gaps.push(item);
      }
      waiting = gaps;
    }
    return { txs: kept };
  }

  /** Rejects a proposal carrying bytes that are not a validly signed transaction of this chain. */
  #process(request: RequestProcessProposal): NonNullable<Response['processProposal']> {
    for (const wire of request.txs) {
      if (!this.#decode(wire).ok) return { status: ResponseProcessProposal_ProposalStatus.REJECT };
    }
    if (!this.#proposers.has(toHex(request.proposerAddress))) return { status: ResponseProcessProposal_ProposalStatus.REJECT };
    return { status: ResponseProcessProposal_ProposalStatus.ACCEPT };
  }

  #finalize(request: RequestFinalizeBlock): NonNullable<Response['finalizeBlock']> {
    const height = Number(request.height);
    const head = this.chain.head();
    if (height !== head.height + 1)
      throw new Error(`FinalizeBlock ${height} does not follow the committed height ${head.height}`);
    const proposer = this.#proposers.get(toHex(request.proposerAddress));
    if (!proposer) throw new Error(`block ${height} proposer ${toHex(request.proposerAddress)} is not a validator`);
    const time = this.#blockTime(request.time);
    const execution = this.chain.app.beginBlock({ height, time });
    const included: SignedTx[] = [];
    const failed: TxOutcome[] = [];
    const txResults: ExecTxResult[] = request.txs.map((wire) => {
      const decoded = this.#decode(wire);
      const result = decoded.ok ? execution.deliver(decoded.value) : decoded;
      if (decoded.ok && result.ok) {
        included.push(decoded.value);
        return txResult(0, '', decoded.value.hash);
      }
      if (result.ok) throw new Error('unreachable');
      failed.push({ hash: sha256(wire), result });
      return txResult(abciCode(result.error.code), result.error.message, utf8(result.error.code), result.error.code);
    });
    const validatorUpdates = validatorChanges(this.chain.app.validators(), execution.validators());
    const sealed = this.chain.seal(time, included, execution.finish(), this.#signer, proposer);
    this.#finalized = { height, sealed, failed };
    return { events: [], txResults, validatorUpdates, appHash: appHash(sealed.header) };
  }

  #commit(): NonNullable<Response['commit']> {
    const finalized = this.#finalized;
    if (!finalized) throw new Error('Commit without FinalizeBlock');
    this.#finalized = undefined;
    this.#beforeCommit?.(finalized.height);
    const block = this.chain.persist(finalized.sealed);
    this.#learnValidators(this.chain.app.validatorHistory());
    this.emit('committed', block, finalized.failed);
    return { retainHeight: 0n };
  }

  #query(request: RequestQuery): ResponseQuery {
    const head = this.chain.head();
    const answer = (value: unknown): ResponseQuery => ({
      ...emptyQuery(head.height),
      value: utf8(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))),
    });
    const notFound = (what: string): ResponseQuery => ({
      ...emptyQuery(head.height),
      code: abciCode('state.not_found'),
      log: `no ${what}`,
      codespace: CODESPACE,
    });
    const [, kind, id] = request.path.split('/');
    if (request.path === '/head') return answer({ ...head, appHash: appHash(head), chain: this.chain.chainId, hash: head.hash });
    if (kind === 'participant' && id) {
      const participant = this.chain.app.participant(id);
      return participant ? answer(participant) : notFound(`participant ${id}`);
    }
    if (kind === 'tx' && id && /^[0-9a-f]{64}$/i.test(id)) {
      const tx = this.chain.store.txByHash(fromHex(id.toLowerCase())!);
      return tx ? answer({ hash: tx.hash, height: tx.height, index: tx.index, wire: tx.wire }) : notFound(`transaction ${id}`);
    }
    return {
      ...emptyQuery(head.height),
      code: abciCode('tx.invalid'),
      log: `unknown query path ${request.path}`,
      codespace: CODESPACE,
    };
  }

  /**
   * Decodes and signature-checks a transaction once: CheckTx, PrepareProposal, ProcessProposal
   * and FinalizeBlock see the same bytes, so successful decodings are kept by hash (bounded).
   */
  #decode(wire: Uint8Array): Result<SignedTx> {
    const key = toHex(sha256(wire));
    const cached = this.#decoded.get(key);
    if (cached) return { ok: true, value: cached };
    const decoded = decodeTx(wire, this.chain.chainId);
    if (decoded.ok) this.remember(decoded.value);
    return decoded;
  }

  /** Remembers a transaction this node already decoded and signature-checked (its own submissions). */
  remember(tx: SignedTx): void {
    this.#decoded.set(toHex(tx.hash), tx);
    if (this.#decoded.size > DECODE_CACHE) this.#decoded.delete(this.#decoded.keys().next().value!);
  }

  #blockTime(t: Timestamp | undefined): number {
    return Math.max(timestampMs(t), this.chain.head().time);
  }
}

/**
 * Governance changes to the validator set, as CometBFT updates (power 0 removes), in a fixed
 * order. CometBFT applies updates returned at height H from height H+2.
 */
export function validatorChanges(before: readonly ValidatorRecord[], after: readonly ValidatorRecord[]): ValidatorUpdate[] {
  const had = new Set(before.map((v) => toHex(v.key)));
  const has = new Set(after.map((v) => toHex(v.key)));
  const update = (key: Uint8Array, power: number): ValidatorUpdate => ({ pubKey: { ed25519: key }, power: BigInt(power) });
  return [
    ...before.filter((v) => !has.has(toHex(v.key))).map((v) => update(v.key, 0)),
    ...after.filter((v) => !had.has(toHex(v.key))).map((v) => update(v.key, VALIDATOR_POWER)),
  ];
}

function txResult(code: number, log: string, data: Uint8Array, info = ''): ExecTxResult {
  return { code, data, log, info, gasWanted: 0n, gasUsed: 0n, events: [], codespace: code === 0 ? '' : CODESPACE };
}

function emptyQuery(height: number): ResponseQuery {
  return {
    code: 0,
    log: '',
    info: '',
    index: 0n,
    key: new Uint8Array(),
    value: new Uint8Array(),
    height: BigInt(height),
    codespace: '',
  };
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size += 1;
  }
  return size;
}
