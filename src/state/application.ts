/**
 * The deterministic state machine shared by every consensus adapter. It reads only transaction
 * bytes, the genesis document and the block context (height, time, proposer): no clock, no
 * randomness, no unordered iteration. Two nodes applying the same blocks reach the same state root.
 *
 * State root: a hash chain over each block's sorted state changes,
 *   root_h = SHA-256("medledger/state/v1" ‖ 0x00 ‖ root_{h-1} ‖ h ‖ CBOR(changes_h)),
 * with root_0 chained to the genesis hash. It commits to the entire state history.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import { type Genesis } from '../ledger/genesis.js';
import { isExpired, type SignedTx, type Tx } from '../ledger/tx.js';
import {
  participantIdForKey,
  readParticipant,
  register,
  rotateKey,
  setRoles,
  setStatus,
  writeParticipant,
  type Participant,
  type TxContext,
} from './participants.js';
import {
  EMERGENCY_STATE_PREFIXES,
  latestBreakGlass,
  logAccess,
  openBreakGlass,
  readBreakGlass,
  reviewBreakGlass,
  type BreakGlass,
} from './access.js';
import { activeConsents, CONSENT_STATE_PREFIXES, grantConsent, readConsent, revokeConsent, type Consent } from './consents.js';
import { registerDevice } from './devices.js';
import { commitTombstone, readErasureRequest, requestErasure, type ErasureRequest } from './erasure.js';
import { commitRecord, readRecordHead, readRecordVersion, type RecordHead, type RecordVersion } from './records.js';
import { readPatientCustodian, type PatientCustodian } from './patient-custodians.js';
import { CachedState, StateOverlay, type StateChange, type StateReader } from './store.js';
import { isValidatorId } from '../ledger/payloads/governance.js';
import {
  applyGovernance,
  checkValidatorSigner,
  currentValidators,
  proposalIds,
  readProposal,
  setValidatorNextSeq,
  validatorNextSeq,
  validatorRecords,
  type Proposal,
  type ValidatorRecord,
} from './governance.js';

const STATE_DOMAIN = concatBytes(utf8('medledger/state/v1'), new Uint8Array([0]));

/** State an access decision is made from: consents and emergency accesses (see grantsChangedAt). */
const GRANT_PREFIXES: readonly string[] = [...CONSENT_STATE_PREFIXES, ...EMERGENCY_STATE_PREFIXES];

export interface BlockContext {
  readonly height: number;
  readonly time: number;
}

export interface AppInfo {
  readonly chain: string;
  readonly height: number;
  readonly stateRoot: Uint8Array;
}

export interface BlockOutcome {
  readonly stateRoot: Uint8Array;
  readonly changes: StateChange[];
  /** The block's writes, decoded objects included, for refreshing caches after commit. */
  readonly writes: StateOverlay;
}

type Handler = (ctx: TxContext, body: unknown) => Result<void>;

/** One handler per transaction type; a new module adds its entries here. */
const HANDLERS: { readonly [T in Tx['type']]: (ctx: TxContext, body: Extract<Tx, { type: T }>['body']) => Result<void> } = {
  'participant.register': (ctx, body) => (body.kind === 'device' ? registerDevice(ctx, body) : register(ctx, body)),
  'participant.rotate_key': rotateKey,
  'participant.set_status': setStatus,
  'participant.set_roles': setRoles,
  'record.commit': commitRecord,
  'consent.grant': grantConsent,
  'consent.revoke': revokeConsent,
  'access.break_glass': openBreakGlass,
  'access.review': reviewBreakGlass,
  'access.log': logAccess,
  'erasure.request': requestErasure,
  'erasure.tombstone': commitTombstone,
  // Governance is signed by validator keys (deliverAsValidator), never by participants.
  'governance.propose': () => fail('tx.unauthorized', 'governance transactions are signed by a validator key'),
  'governance.approve': () => fail('tx.unauthorized', 'governance transactions are signed by a validator key'),
};

export function nextStateRoot(previous: Uint8Array, height: number, changes: readonly StateChange[]): Uint8Array {
  const encodedChanges = encodeCanonical(changes.map((c) => [c.key, c.value]));
  return sha256(concatBytes(STATE_DOMAIN, previous, encodeCanonical(height), encodedChanges));
}

/** The state changes and root that genesis implies: the founding organization exists. */
export function genesisState(genesis: Genesis, genesisHashValue: Uint8Array, base: StateReader): BlockOutcome {
  const overlay = new StateOverlay(base);
  // The founder, then any further founding organizations of a network, in genesis order.
  for (const org of [genesis.founder, ...(genesis.members ?? [])]) {
    const participant: Participant = {
      id: org.id,
      kind: 'organization',
      status: 'active',
      key: org.key,
      keySince: 0,
      rotations: 0,
      nextSeq: 0,
      registeredAt: 0,
      registeredBy: genesis.founder.id,
      name: org.name,
    };
    writeParticipant(overlay, participant);
    overlay.set(`key/${Buffer.from(participant.key).toString('hex')}`, utf8(participant.id));
  }
  const changes = overlay.changes();
  return { changes, stateRoot: nextStateRoot(genesisHashValue, 0, changes), writes: overlay };
}

export class LedgerApplication {
  readonly #genesis: Genesis;
  readonly #committed: CachedState;
  #height: number;
  #stateRoot: Uint8Array;
  #grantsChangedAt: number;

  /** `committed` must reflect the state after block `height` whose root is `stateRoot`. */
  constructor(genesis: Genesis, committed: StateReader, height: number, stateRoot: Uint8Array) {
    this.#genesis = genesis;
    this.#committed = new CachedState(committed);
    this.#height = height;
    this.#stateRoot = stateRoot;
    this.#grantsChangedAt = height;
  }

  info(): AppInfo {
    return { chain: this.#genesis.chain, height: this.#height, stateRoot: this.#stateRoot };
  }

  /**
   * Admission check against committed state (mempool rule): the signer exists, is active, signs
   * with its current key and has not used this sequence number yet. Later numbers may wait.
   */
  checkTx(signed: SignedTx): Result<void> {
    if (isValidatorId(signed.tx.signer)) {
      const validator = checkValidatorSigner(this.#committed, this.#genesis, signed.tx);
      if (!validator.ok) return validator;
      if (signed.tx.seq < validator.value.nextSeq) return fail('tx.replayed', `sequence ${signed.tx.seq} was already used`);
      return ok(undefined);
    }
    const signer = readParticipant(this.#committed, signed.tx.signer);
    const checked = checkSigner(signer, signed.tx, this.#committed);
    if (!checked.ok) return checked;
    if (signed.tx.seq < checked.value.nextSeq) return fail('tx.replayed', `sequence ${signed.tx.seq} was already used`);
    return ok(undefined);
  }

  beginBlock(ctx: BlockContext): BlockExecution {
    if (ctx.height !== this.#height + 1) throw new Error(`block ${ctx.height} does not follow ${this.#height}`);
    return new BlockExecution(ctx, new StateOverlay(this.#committed), this.#stateRoot, this.#genesis);
  }

  /** Applies every transaction in order; failed ones change nothing. */
  finalizeBlock(ctx: BlockContext, txs: readonly SignedTx[]): BlockOutcome & { results: Result<void>[] } {
    const execution = this.beginBlock(ctx);
    const results = txs.map((tx) => execution.deliver(tx));
    return { ...execution.finish(), results };
  }

  /** Called once the block's changes are durable in the committed store. */
  commit(height: number, outcome: BlockOutcome): void {
    this.#committed.committed(outcome.writes, outcome.changes);
    this.#height = height;
    this.#stateRoot = outcome.stateRoot;
    if (outcome.changes.some((c) => GRANT_PREFIXES.some((prefix) => c.key.startsWith(prefix)))) this.#grantsChangedAt = height;
  }

  /**
   * The height of the last committed block that changed a consent or an emergency access (at least
   * the height this application opened at). Access decisions and search scopes read only those and
   * the clock, so what a node memoizes of them holds until this moves — not merely until the next
   * block, which under write load comes many times a second. Node-local, not consensus state.
   */
  grantsChangedAt(): number {
    return this.#grantsChangedAt;
  }

  participant(id: string): Participant | undefined {
    return readParticipant(this.#committed, id);
  }

  /** The participant a key belongs to now or belonged to before a rotation. */
  participantIdForKey(key: Uint8Array): string | undefined {
    return participantIdForKey(this.#committed, key);
  }

  recordHead(id: string): RecordHead | undefined {
    return readRecordHead(this.#committed, id);
  }

  recordVersion(id: string, version: number): RecordVersion | undefined {
    return readRecordVersion(this.#committed, id, version);
  }

  /** The organization whose record first named a pseudonym before it was enrolled: the only one that may enroll it. */
  patientCustodian(pseudonym: string): PatientCustodian | undefined {
    return readPatientCustodian(this.#committed, pseudonym);
  }

  consent(id: string): Consent | undefined {
    return readConsent(this.#committed, id);
  }

  /** Grants from `patient` to `grantee` not revoked (check expiry with `inForce`). */
  consentsFor(patient: string, grantee: string): Consent[] {
    return activeConsents(this.#committed, patient, grantee);
  }

  breakGlass(id: string): BreakGlass | undefined {
    return readBreakGlass(this.#committed, id);
  }

  latestBreakGlass(patient: string, practitioner: string): BreakGlass | undefined {
    return latestBreakGlass(this.#committed, patient, practitioner);
  }

  erasureRequest(id: string): ErasureRequest | undefined {
    return readErasureRequest(this.#committed, id);
  }

  /** The next sequence number of a participant or validator signer (0 if unknown). */
  nextSeq(signer: string): number {
    if (isValidatorId(signer)) return validatorNextSeq(this.#committed, signer);
    return readParticipant(this.#committed, signer)?.nextSeq ?? 0;
  }

  /** The current validator set. */
  validators(): ValidatorRecord[] {
    return currentValidators(this.#committed, this.#genesis);
  }

  /** Every validator the chain has had, removed ones included (they sealed earlier blocks). */
  validatorHistory(): ValidatorRecord[] {
    return validatorRecords(this.#committed, this.#genesis);
  }

  proposal(id: string): Proposal | undefined {
    return readProposal(this.#committed, id);
  }

  /** Governance proposals, oldest first. */
  proposals(): Proposal[] {
    return proposalIds(this.#committed).map((id) => readProposal(this.#committed, id)!);
  }
}

export class BlockExecution {
  readonly #ctx: BlockContext;
  readonly #overlay: StateOverlay;
  readonly #previousRoot: Uint8Array;
  readonly #genesis: Genesis;

  constructor(ctx: BlockContext, overlay: StateOverlay, previousRoot: Uint8Array, genesis: Genesis) {
    this.#ctx = ctx;
    this.#overlay = overlay;
    this.#previousRoot = previousRoot;
    this.#genesis = genesis;
  }

  /** The sequence number `signer` must use next in this block (0 for an unknown signer). */
  nextSeq(signer: string): number {
    if (isValidatorId(signer)) return validatorNextSeq(this.#overlay, signer);
    return readParticipant(this.#overlay, signer)?.nextSeq ?? 0;
  }

  /** The validator set as of the transactions delivered so far. */
  validators(): ValidatorRecord[] {
    return currentValidators(this.#overlay, this.#genesis);
  }

  /** A governance transaction: signed by a current validator, with its own sequence numbers. */
  #deliverAsValidator(signed: SignedTx, txState: StateOverlay): Result<void> {
    const { tx } = signed;
    const checked = checkValidatorSigner(txState, this.#genesis, tx);
    if (!checked.ok) return checked;
    const { nextSeq } = checked.value;
    if (tx.seq < nextSeq) return fail('tx.replayed', `sequence ${tx.seq} was already used`);
    if (tx.seq > nextSeq) return fail('tx.sequence_gap', `expected sequence ${nextSeq}, got ${tx.seq}`);
    const ctx = { state: txState, genesis: this.#genesis, height: this.#ctx.height, signer: tx.signer };
    const applied = applyGovernance(ctx, tx);
    if (!applied.ok) return applied;
    setValidatorNextSeq(txState, tx.signer, nextSeq + 1);
    txState.mergeInto(this.#overlay);
    return ok(undefined);
  }

  /** Applies one transaction atomically: on failure its writes are discarded. */
  deliver(signed: SignedTx): Result<void> {
    const { tx } = signed;
    if (isExpired(tx, this.#ctx.height, this.#ctx.time)) return fail('tx.expired', 'transaction expired before inclusion');
    const txState = new StateOverlay(this.#overlay);
    if (isValidatorId(tx.signer)) return this.#deliverAsValidator(signed, txState);
    const checked = checkSigner(readParticipant(txState, tx.signer), tx, txState);
    if (!checked.ok) return checked;
    const signer = checked.value;
    if (tx.seq < signer.nextSeq) return fail('tx.replayed', `sequence ${tx.seq} was already used`);
    if (tx.seq > signer.nextSeq) return fail('tx.sequence_gap', `expected sequence ${signer.nextSeq}, got ${tx.seq}`);
    const handler = HANDLERS[tx.type] as Handler;
    const applied = handler({ state: txState, height: this.#ctx.height, time: this.#ctx.time, signer }, tx.body);
    if (!applied.ok) return applied;
    // Re-read: the handler may have changed the signer's own record (e.g. rotated its key).
    const after = readParticipant(txState, signer.id)!;
    writeParticipant(txState, { ...after, nextSeq: after.nextSeq + 1 });
    txState.mergeInto(this.#overlay);
    return ok(undefined);
  }

  finish(): BlockOutcome {
    const changes = this.#overlay.changes();
    return { changes, stateRoot: nextStateRoot(this.#previousRoot, this.#ctx.height, changes), writes: this.#overlay };
  }
}

function checkSigner(signer: Participant | undefined, tx: Tx, state: StateReader): Result<Participant> {
  if (!signer) return fail('tx.unknown_signer', `no participant ${tx.signer}`);
  if (signer.status !== 'active') return fail('tx.signer_inactive', `${signer.id} is ${signer.status}`);
  // A practitioner speaks for its organization and a device for its patient: both must be active too.
  const principal = signer.org ?? signer.patient;
  if (principal !== undefined) {
    const status = readParticipant(state, principal)?.status;
    if (status !== 'active')
      return fail('tx.signer_inactive', `${signer.id} acts for ${principal}, which is ${status ?? 'unknown'}`);
  }
  if (!Buffer.from(signer.key).equals(tx.key)) return fail('tx.key_mismatch', `key is not the current key of ${signer.id}`);
  return ok(signer);
}
