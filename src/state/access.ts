/**
 * Emergency access and the access log in state.
 *
 * Break-glass: a clinician or nurse (or their organization on their behalf) opens time-limited
 * access to one patient; state keeps the opening and, per (patient, practitioner), the latest one.
 * Access events are not kept in state — the log holds them — but each is checked: its actor acts
 * for the signing organization (or is the patient, or — for records disclosed over record exchange —
 * a practitioner of another organization holding a grant); every record it names is held by the
 * signer and is about the event's patient; its time is close to the block's; and a consent or
 * break-glass basis names a grant for that patient, held by that actor or the actor's organization,
 * in force (consent, for the purpose the action implies) or open (break-glass) at that time.
 */
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import {
  BREAK_GLASS_REASONS,
  REVIEW_OUTCOMES,
  type AccessEvent,
  type BreakGlassReviewBody,
  type ReviewOutcome,
  type AccessLogBody,
  type BreakGlassBody,
  type BreakGlassReason,
} from '../ledger/payloads/access.js';
import type { ConsentPurpose } from '../ledger/payloads/consent.js';
import { bytes, oneOf, record, text, uint } from '../ledger/shape.js';
import { HASH_SIZE } from '../crypto/hash.js';
import { inForce, readConsent } from './consents.js';
import { readRecordHead } from './records.js';
import { readParticipant, type TxContext } from './participants.js';
import { readPatientCustodian } from './patient-custodians.js';
import { readObject, type StateReader, type ValueCodec } from './store.js';

export interface BreakGlass {
  readonly id: string;
  readonly practitioner: string;
  readonly org: string;
  readonly patient: string;
  readonly reason: BreakGlassReason;
  readonly justification: Uint8Array;
  readonly openedAt: number;
  readonly openedTime: number;
  /** Block time (ms) at which the access ends. */
  readonly until: number;
  /** The privacy officer's review, once done. */
  readonly review?: { readonly by: string; readonly outcome: ReviewOutcome; readonly notes: Uint8Array; readonly at: number };
}

const openingKey = (id: string): string => `break-glass/${id}`;
const latestKey = (patient: string, practitioner: string): string => `emergency/${patient}/${practitioner}`;
/** Practitioner-first pointer to the same latest opening, to list whom a practitioner may see. */
export const EMERGENCIES_PREFIX = 'emergencies/';
const byPractitionerKey = (practitioner: string, patient: string): string => `${EMERGENCIES_PREFIX}${practitioner}/${patient}`;
/** Openings awaiting review, per organization (listed by key prefix, outside consensus). */
export const UNREVIEWED_PREFIX = 'break-glass-unreviewed/';
/** The state keys an emergency access is decided from start with one of these. */
export const EMERGENCY_STATE_PREFIXES = ['break-glass/', 'emergency/', EMERGENCIES_PREFIX] as const;
const unreviewedKey = (org: string, id: string): string => `${UNREVIEWED_PREFIX}${org}/${id}`;

const BREAK_GLASS_CODEC: ValueCodec<BreakGlass> = {
  decode(raw) {
    const decoded = decodeCanonical(raw);
    if (!decoded.ok) throw new Error(`state corrupt: break-glass: ${decoded.detail}`);
    const f = record(decoded.value, 'break-glass', [
      'id',
      'practitioner',
      'org',
      'patient',
      'reason',
      'justification',
      'openedAt',
      'openedTime',
      'until',
      'review',
    ]);
    const review = f['review'] === undefined ? undefined : record(f['review'], 'review', ['by', 'outcome', 'notes', 'at']);
    return {
      id: text(f['id'], 'id', undefined, 30),
      practitioner: text(f['practitioner'], 'practitioner', undefined, 48),
      org: text(f['org'], 'org', undefined, 48),
      patient: text(f['patient'], 'patient', undefined, 30),
      reason: oneOf(f['reason'], 'reason', BREAK_GLASS_REASONS),
      justification: bytes(f['justification'], 'justification', HASH_SIZE),
      openedAt: uint(f['openedAt'], 'openedAt'),
      openedTime: uint(f['openedTime'], 'openedTime'),
      until: uint(f['until'], 'until'),
      ...(review && {
        review: {
          by: text(review['by'], 'review.by', undefined, 48),
          outcome: oneOf(review['outcome'], 'review.outcome', REVIEW_OUTCOMES),
          notes: bytes(review['notes'], 'review.notes', HASH_SIZE),
          at: uint(review['at'], 'review.at'),
        },
      }),
    };
  },
  encode: (b) => encodeCanonical({ ...b, review: b.review && { ...b.review } }),
};

export function readBreakGlass(state: StateReader, id: string): BreakGlass | undefined {
  return readObject(state, openingKey(id), BREAK_GLASS_CODEC);
}

/** The most recent emergency opening of `practitioner` for `patient`, current or expired. */
export function latestBreakGlass(state: StateReader, patient: string, practitioner: string): BreakGlass | undefined {
  const raw = state.get(latestKey(patient, practitioner));
  return raw ? readBreakGlass(state, new TextDecoder().decode(raw)) : undefined;
}

/** Whether an emergency access is open at `time` (ms). */
export function isOpen(opening: BreakGlass, time: number): boolean {
  return time >= opening.openedTime && time < opening.until;
}

export function openBreakGlass(ctx: TxContext, body: BreakGlassBody): Result<void> {
  const { state, signer } = ctx;
  const practitioner = readParticipant(state, body.practitioner);
  if (practitioner?.kind !== 'practitioner' || practitioner.status !== 'active') {
    return fail('state.not_found', `no active practitioner ${body.practitioner}`);
  }
  if (signer.id !== practitioner.id && signer.id !== practitioner.org) {
    return fail('tx.unauthorized', 'break-glass is opened by the practitioner or their organization');
  }
  if (!practitioner.roles?.some((r) => r === 'clinician' || r === 'nurse')) {
    return fail('tx.unauthorized', 'only clinicians and nurses may open emergency access');
  }
  // An enrolled patient, or a pseudonym records already name (patients often enroll later).
  const patient = readParticipant(state, body.patient);
  if (patient ? patient.kind !== 'patient' : readPatientCustodian(state, body.patient) === undefined) {
    return fail('state.not_found', `no patient ${body.patient}: neither enrolled nor named by any record`);
  }
  if (readBreakGlass(state, body.id)) return fail('state.conflict', `break-glass ${body.id} already exists`);
  const opening: BreakGlass = {
    id: body.id,
    practitioner: body.practitioner,
    org: practitioner.org!,
    patient: body.patient,
    reason: body.reason,
    justification: body.justification,
    openedAt: ctx.height,
    openedTime: ctx.time,
    until: ctx.time + body.minutes * 60_000,
  };
  state.setObject(openingKey(body.id), opening, BREAK_GLASS_CODEC);
  state.set(latestKey(body.patient, body.practitioner), new TextEncoder().encode(body.id));
  state.set(byPractitionerKey(body.practitioner, body.patient), new TextEncoder().encode(body.id));
  state.set(unreviewedKey(opening.org, body.id), new Uint8Array(0));
  return ok(undefined);
}

/** A privacy officer of the opening's organization (or the organization) records the review. */
export function reviewBreakGlass(ctx: TxContext, body: BreakGlassReviewBody): Result<void> {
  const { state, signer } = ctx;
  const opening = readBreakGlass(state, body.opening);
  if (!opening) return fail('state.not_found', `no break-glass ${body.opening}`);
  const officer = signer.kind === 'practitioner' && signer.org === opening.org && signer.roles?.includes('privacy-officer');
  if (signer.id !== opening.org && !officer) {
    return fail('tx.unauthorized', `only ${opening.org} or its privacy officers review its emergency accesses`);
  }
  if (signer.id === opening.practitioner) return fail('tx.unauthorized', 'nobody reviews their own emergency access');
  if (opening.review) return fail('state.conflict', `break-glass ${body.opening} was already reviewed`);
  const review = { by: signer.id, outcome: body.outcome, notes: body.notes, at: ctx.time };
  state.setObject(openingKey(opening.id), { ...opening, review }, BREAK_GLASS_CODEC);
  state.delete(unreviewedKey(opening.org, opening.id));
  return ok(undefined);
}

/**
 * How far an event's time (`at`, the node's clock when it decided) may lie before the block that
 * logs it. The recorder batches events and waits for the previous batch, and a CometBFT network
 * commits a transaction a few seconds after it is sent — more when rounds time out or a validator
 * is down — so 10 minutes tolerates slow blocks, yet a custodian cannot backdate an event to an
 * hour when a since-revoked consent or a closed emergency access was still in force.
 */
export const MAX_EVENT_AGE_MS = 10 * 60_000;
/**
 * How far `at` may lie after the block time: clock skew between nodes, and CometBFT block time
 * (the median of the previous block's precommit times) trails the wall clock by about a round;
 * a node's dry run of its own transaction also uses the last committed block's time.
 */
export const MAX_EVENT_LEAD_MS = 60_000;

/** Population queries (`aggregate`) run under research or public-health consents; every other access under treatment. */
const AGGREGATE_PURPOSES: readonly ConsentPurpose[] = ['HRESCH', 'PUBHLTH'];

function checkEvent(ctx: TxContext, event: AccessEvent, where: string): Result<void> {
  const { state, signer } = ctx;
  if (event.at < ctx.time - MAX_EVENT_AGE_MS || event.at > ctx.time + MAX_EVENT_LEAD_MS) {
    return fail(
      'tx.invalid',
      `${where}: at ${event.at} is not within ${MAX_EVENT_AGE_MS / 60_000} min before or ${MAX_EVENT_LEAD_MS / 1000} s after block time ${ctx.time}`,
    );
  }
  // The records disclosed (permit) or asked for (deny) are the signer's own, about this patient:
  // a custodian logs only what it holds (remote records are logged by their custodian).
  for (const id of event.records) {
    const head = readRecordHead(state, id);
    if (!head || head.patient !== event.patient) {
      return fail('tx.invalid', `${where}: ${id} is no record about ${event.patient}`);
    }
    if (head.custodian !== signer.id) return fail('tx.unauthorized', `${where}: ${id} is held by ${head.custodian}`);
  }
  /** The organization the actor acts for (the signer, unless a practitioner of another one). */
  let actorOrg = signer.id;
  if (event.actor.startsWith('pat_')) {
    // A patient signed in at this organization (enrolled or not): their own record, or a refusal.
    if (event.actor !== event.patient && event.decision !== 'deny') {
      return fail('tx.invalid', `${where}: a patient is only ever permitted their own record`);
    }
  } else if (event.actor !== signer.id) {
    const actor = readParticipant(state, event.actor);
    if (actor?.kind !== 'practitioner' || actor.org === undefined)
      return fail('tx.unauthorized', `${where}: ${event.actor} is no practitioner`);
    actorOrg = actor.org;
    // A custodian logs what it disclosed to another organization's practitioner over record
    // exchange: a refusal, or a permit under that practitioner's consent or emergency access —
    // never under its own treatment relationship.
    if (actorOrg !== signer.id && event.decision === 'permit' && !('grant' in event)) {
      return fail('tx.unauthorized', `${where}: ${event.actor} does not act for ${signer.id}`);
    }
  }
  // Denials and the treatment/self bases name no grant; consent and break-glass do.
  if (!('grant' in event)) return ok(undefined);
  if (event.basis === 'consent') {
    const consent = readConsent(state, event.grant);
    const held = consent && (consent.grantee === event.actor || consent.grantee === actorOrg);
    const purposes = event.action === 'aggregate' ? AGGREGATE_PURPOSES : ['TREAT'];
    if (!consent || consent.patient !== event.patient || !held || !purposes.includes(consent.purpose)) {
      return fail('tx.invalid', `${where}: consent ${event.grant} does not cover this access`);
    }
    // Revocation is final at once: an access decided before a revocation but logged after it is
    // refused, and the node answers with an error rather than disclose what it could not log.
    if (!inForce(consent, event.at)) return fail('tx.invalid', `${where}: consent ${event.grant} is not in force at ${event.at}`);
    return ok(undefined);
  }
  const opening = readBreakGlass(state, event.grant);
  if (!opening || opening.patient !== event.patient || opening.practitioner !== event.actor) {
    return fail('tx.invalid', `${where}: break-glass ${event.grant} does not cover this access`);
  }
  if (!isOpen(opening, event.at)) return fail('tx.invalid', `${where}: break-glass ${event.grant} is not open at ${event.at}`);
  return ok(undefined);
}

export function logAccess(ctx: TxContext, body: AccessLogBody): Result<void> {
  if (ctx.signer.kind !== 'organization') return fail('tx.unauthorized', 'access events are signed by the organization');
  for (const [i, event] of body.events.entries()) {
    const checked = checkEvent(ctx, event, `event ${i}`);
    if (!checked.ok) return checked;
  }
  return ok(undefined);
}
