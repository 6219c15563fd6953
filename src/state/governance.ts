/**
 * Validator governance: admitting and removing organizations and validators.
 *
 * - A current validator proposes (its proposal is its own approval); other current validators
 *   approve. A validator votes at most once per proposal.
 * - Threshold: strictly more than 2/3 of the current validators by count (3·approvals > 2·n).
 *   Every validator has the same CometBFT power (VALIDATOR_POWER), so count and power agree.
 *   Approvals from validators removed since they voted no longer count.
 * - The action executes inside the transaction that reaches the threshold, in that block. If it
 *   cannot apply then (say the organization id was taken meanwhile), that transaction fails and
 *   changes nothing; the proposal stays pending until it expires.
 * - A proposal may be approved up to and including block `until` (at most MAX_PROPOSAL_BLOCKS ahead).
 *
 * State (canonical CBOR values; lists in a fixed order, so nothing depends on map iteration):
 *   governance/validators       every validator ever: {key, name, since, removedAt?}; absent = genesis
 *   governance/proposal/<id>    a proposal with its approvals in vote order and its status
 *   governance/proposals        proposal ids in the order they were made (for listing)
 *   governance/seq/<val_…>      a validator signer's next sequence number
 */
import { toHex } from '../crypto/bytes.js';
import { PUBLIC_KEY_SIZE } from '../crypto/ed25519.js';
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import type { Genesis } from '../ledger/genesis.js';
import {
  PROPOSAL_ID,
  readAction,
  validatorIdOf,
  type ApproveBody,
  type GovernanceAction,
  type ProposeBody,
} from '../ledger/payloads/governance.js';
import { bytes, list, oneOf, optional, record, text, uint } from '../ledger/shape.js';
import type { Tx } from '../ledger/tx.js';
import { claimKey, participantIdForKey, readParticipant, writeParticipant } from './participants.js';
import type { StateOverlay, StateReader } from './store.js';

/** The CometBFT voting power of every validator (the generated network genesis uses it too). */
export const VALIDATOR_POWER = 10;
export const MAX_PROPOSAL_BLOCKS = 100_000;
export const MAX_VALIDATORS = 100;
const MAX_PROPOSALS = 10_000;

export interface ValidatorRecord {
  readonly key: Uint8Array;
  readonly name: string;
  readonly since: number;
  readonly removedAt?: number;
}

export type ProposalStatus = 'pending' | 'executed';

export type Proposal = {
  readonly id: string;
  readonly proposer: string;
  readonly proposedAt: number;
  readonly until: number;
  /** Validator ids in the order they approved; the proposer first. */
  readonly approvals: readonly string[];
  readonly status: ProposalStatus;
  readonly executedAt?: number;
} & GovernanceAction;

const VALIDATORS_KEY = 'governance/validators';
const PROPOSALS_KEY = 'governance/proposals';
const proposalKey = (id: string): string => `governance/proposal/${id}`;
const seqKey = (validatorId: string): string => `governance/seq/${validatorId}`;

function decoded(raw: Uint8Array, what: string): unknown {
  const value = decodeCanonical(raw);
  if (!value.ok) throw new Error(`state corrupt: ${what}: ${value.detail}`);
  return value.value;
}

/** Every validator the chain has had, in the order they were added (genesis first). */
export function validatorRecords(state: StateReader, genesis: Genesis): ValidatorRecord[] {
  const raw = state.get(VALIDATORS_KEY);
  if (!raw) return genesis.validators.map((v) => ({ key: v.key, name: v.name, since: 0 }));
  return list(decoded(raw, VALIDATORS_KEY), 'validators', 10_000, (v, w) => {
    const f = record(v, w, ['key', 'name', 'since', 'removedAt']);
    const removedAt = optional(f['removedAt'], (h) => uint(h, `${w}.removedAt`));
    return {
      key: bytes(f['key'], `${w}.key`, PUBLIC_KEY_SIZE),
      name: text(f['name'], `${w}.name`, undefined, 64),
      since: uint(f['since'], `${w}.since`),
      ...(removedAt !== undefined && { removedAt }),
    };
  });
}

/** The current validator set, in the order they were added. */
export function currentValidators(state: StateReader, genesis: Genesis): ValidatorRecord[] {
  return validatorRecords(state, genesis).filter((v) => v.removedAt === undefined);
}

function writeValidators(state: StateOverlay, records: readonly ValidatorRecord[]): void {
  state.set(VALIDATORS_KEY, encodeCanonical(records.map((r) => ({ ...r }))));
}

/** More than 2/3 of `validators` by count. */
export function reachesThreshold(approvals: number, validators: number): boolean {
  return approvals * 3 > validators * 2;
}

/** Validator signers: the key must be a current validator's and the id its derived id. */
export function checkValidatorSigner(state: StateReader, genesis: Genesis, tx: Tx): Result<{ nextSeq: number }> {
  if (validatorIdOf(tx.key) !== tx.signer) return fail('tx.key_mismatch', `key is not the key of validator ${tx.signer}`);
  const found = validatorRecords(state, genesis).find((v) => toHex(v.key) === toHex(tx.key));
  if (!found) return fail('tx.unknown_signer', `${tx.signer} is not a validator`);
  if (found.removedAt !== undefined) return fail('tx.signer_inactive', `${tx.signer} was removed at block ${found.removedAt}`);
  if (tx.type !== 'governance.propose' && tx.type !== 'governance.approve')
    return fail('tx.unauthorized', 'validators sign only governance transactions');
  return ok({ nextSeq: validatorNextSeq(state, tx.signer) });
}

export function validatorNextSeq(state: StateReader, validatorId: string): number {
  const raw = state.get(seqKey(validatorId));
  return raw ? uint(decoded(raw, 'validator sequence'), 'seq') : 0;
}

export function setValidatorNextSeq(state: StateOverlay, validatorId: string, seq: number): void {
  state.set(seqKey(validatorId), encodeCanonical(seq));
}

export function readProposal(state: StateReader, id: string): Proposal | undefined {
  const raw = state.get(proposalKey(id));
  if (!raw) return undefined;
  const value = decoded(raw, 'proposal');
  const extra = ['id', 'proposer', 'proposedAt', 'until', 'approvals', 'status', 'executedAt'];
  const f = record(value, 'proposal', ['action', 'org', 'key', 'name', ...extra]);
  const executedAt = optional(f['executedAt'], (h) => uint(h, 'executedAt'));
  return {
    id: text(f['id'], 'id', PROPOSAL_ID, 44),
    proposer: text(f['proposer'], 'proposer', undefined, 48),
    proposedAt: uint(f['proposedAt'], 'proposedAt'),
    until: uint(f['until'], 'until'),
    approvals: list(f['approvals'], 'approvals', MAX_VALIDATORS * 100, (v, w) => text(v, w, undefined, 48)),
    status: oneOf(f['status'], 'status', ['pending', 'executed'] as const),
    ...(executedAt !== undefined && { executedAt }),
    ...readAction(value, 'proposal', extra),
  };
}

/** Proposal ids, oldest first. */
export function proposalIds(state: StateReader): string[] {
  const raw = state.get(PROPOSALS_KEY);
  return raw ? list(decoded(raw, PROPOSALS_KEY), 'proposals', MAX_PROPOSALS, (v, w) => text(v, w, PROPOSAL_ID, 44)) : [];
}

function writeProposal(state: StateOverlay, p: Proposal): void {
  state.set(proposalKey(p.id), encodeCanonical({ ...p, approvals: [...p.approvals] }));
}

export interface GovernanceContext {
  readonly state: StateOverlay;
  readonly genesis: Genesis;
  readonly height: number;
  /** The validator id of the signer, already checked to be a current validator. */
  readonly signer: string;
}

/** Whether the action could apply now: the same checks execution makes, without writing. */
function check(ctx: GovernanceContext, a: GovernanceAction): Result<void> {
  const validators = validatorRecords(ctx.state, ctx.genesis);
  const current = validators.filter((v) => v.removedAt === undefined);
  const isCurrent = (key: Uint8Array): boolean => current.some((v) => toHex(v.key) === toHex(key));
  switch (a.action) {
    case 'admit-organization':
      if (readParticipant(ctx.state, a.org)) return fail('state.conflict', `participant ${a.org} already exists`);
      if (participantIdForKey(ctx.state, a.key) !== undefined) return fail('state.conflict', 'the key is already registered');
      return ok(undefined);
    case 'remove-organization': {
      const org = readParticipant(ctx.state, a.org);
      if (org?.kind !== 'organization') return fail('state.not_found', `no organization ${a.org}`);
      if (org.status === 'revoked') return fail('state.conflict', `${a.org} is already removed`);
      return ok(undefined);
    }
    case 'add-validator':
      if (validators.some((v) => toHex(v.key) === toHex(a.key)))
        return fail('state.conflict', 'this key is or was a validator (a removed key is not reused)');
      if (current.length >= MAX_VALIDATORS) return fail('state.limit', `at most ${MAX_VALIDATORS} validators`);
      return ok(undefined);
    case 'remove-validator':
      if (!isCurrent(a.key)) return fail('state.not_found', 'no current validator has this key');
      if (current.length <= 1) return fail('state.conflict', 'the last validator cannot be removed');
      return ok(undefined);
  }
}

function execute(ctx: GovernanceContext, p: Proposal): Result<void> {
  const checked = check(ctx, p);
  if (!checked.ok) return checked;
  switch (p.action) {
    case 'admit-organization': {
      const claimed = claimKey(ctx.state, p.key, p.org);
      if (!claimed.ok) return claimed;
      writeParticipant(ctx.state, {
        id: p.org,
        kind: 'organization',
        status: 'active',
        key: p.key,
        keySince: ctx.height,
        rotations: 0,
        nextSeq: 0,
        registeredAt: ctx.height,
        registeredBy: p.id,
        name: p.name,
      });
      return ok(undefined);
    }
    case 'remove-organization':
      writeParticipant(ctx.state, { ...readParticipant(ctx.state, p.org)!, status: 'revoked' });
      return ok(undefined);
    case 'add-validator':
      writeValidators(ctx.state, [...validatorRecords(ctx.state, ctx.genesis), { key: p.key, name: p.name, since: ctx.height }]);
      return ok(undefined);
    case 'remove-validator': {
      const hex = toHex(p.key);
      const records = validatorRecords(ctx.state, ctx.genesis).map((v) =>
        toHex(v.key) === hex && v.removedAt === undefined ? { ...v, removedAt: ctx.height } : v,
      );
      writeValidators(ctx.state, records);
      return ok(undefined);
    }
  }
}

/** Records the vote and executes the proposal if the current validators' approvals now exceed 2/3. */
function vote(ctx: GovernanceContext, proposal: Proposal): Result<void> {
  const current = new Set(currentValidators(ctx.state, ctx.genesis).map((v) => validatorIdOf(v.key)));
  const counted = proposal.approvals.filter((id) => current.has(id)).length;
  if (!reachesThreshold(counted, current.size)) return (writeProposal(ctx.state, proposal), ok(undefined));
  const executed = execute(ctx, proposal);
  if (!executed.ok) return executed;
  writeProposal(ctx.state, { ...proposal, status: 'executed', executedAt: ctx.height });
  return ok(undefined);
}

export function propose(ctx: GovernanceContext, body: ProposeBody): Result<void> {
  if (ctx.state.get(proposalKey(body.id))) return fail('state.conflict', `proposal ${body.id} already exists`);
  if (body.until < ctx.height || body.until > ctx.height + MAX_PROPOSAL_BLOCKS)
    return fail('tx.invalid', `until must be a block from ${ctx.height} to ${ctx.height + MAX_PROPOSAL_BLOCKS}`);
  const ids = proposalIds(ctx.state);
  if (ids.length >= MAX_PROPOSALS) return fail('state.limit', `at most ${MAX_PROPOSALS} proposals`);
  const checked = check(ctx, body);
  if (!checked.ok) return checked;
  ctx.state.set(PROPOSALS_KEY, encodeCanonical([...ids, body.id]));
  const { id, until, ...action } = body;
  return vote(ctx, {
    id,
    proposer: ctx.signer,
    proposedAt: ctx.height,
    until,
    approvals: [ctx.signer],
    status: 'pending',
    ...(action as GovernanceAction),
  });
}

export function approve(ctx: GovernanceContext, body: ApproveBody): Result<void> {
  const proposal = readProposal(ctx.state, body.proposal);
  if (!proposal) return fail('state.not_found', `no proposal ${body.proposal}`);
  if (proposal.status === 'executed') return fail('state.conflict', `proposal ${proposal.id} was already executed`);
  if (ctx.height > proposal.until) return fail('state.conflict', `proposal ${proposal.id} expired after block ${proposal.until}`);
  if (proposal.approvals.includes(ctx.signer)) return fail('state.conflict', `${ctx.signer} already approved ${proposal.id}`);
  return vote(ctx, { ...proposal, approvals: [...proposal.approvals, ctx.signer] });
}

/** Runs a governance transaction of a checked validator signer. */
export function applyGovernance(ctx: GovernanceContext, tx: Tx): Result<void> {
  if (tx.type === 'governance.propose') return propose(ctx, tx.body);
  if (tx.type === 'governance.approve') return approve(ctx, tx.body);
  return fail('tx.unauthorized', 'validators sign only governance transactions');
}
