/**
 * Access payloads: emergency ("break-glass") access and the access log.
 *
 * A break-glass opening names the practitioner, the patient, a coded reason and a SHA-256
 * commitment to the free-text justification, which stays at the organization because it may
 * describe the patient's condition. Access events say who accessed which patient's records, how,
 * with what decision and on which basis — record ids only, never content.
 */
import type { CanonicalValue } from '../codec.js';
import { bytes, list, oneOf, record, ShapeError, text, uint } from '../shape.js';
import { HASH_SIZE } from '../../crypto/hash.js';
import { ID_PATTERNS } from './participant.js';
import { RECORD_ID_PATTERN } from './record.js';
import { CONSENT_ID_PATTERN } from './consent.js';

export const BREAK_GLASS_ID_PATTERN = /^bg_[a-z2-7]{26}$/;
export const BREAK_GLASS_REASONS = ['emergency-treatment', 'patient-unable-to-consent', 'imminent-risk', 'other'] as const;
export type BreakGlassReason = (typeof BREAK_GLASS_REASONS)[number];
/** Emergency access lasts at most four hours; a longer need opens again, on the record. */
export const MAX_BREAK_GLASS_MINUTES = 240;

export interface BreakGlassBody {
  readonly id: string;
  readonly practitioner: string;
  readonly patient: string;
  readonly reason: BreakGlassReason;
  /** SHA-256 of the written justification kept by the organization. */
  readonly justification: Uint8Array;
  readonly minutes: number;
}

/** A privacy officer's finding on an emergency access. */
export const REVIEW_OUTCOMES = ['justified', 'unjustified'] as const;
export type ReviewOutcome = (typeof REVIEW_OUTCOMES)[number];

export interface BreakGlassReviewBody {
  readonly opening: string;
  readonly outcome: ReviewOutcome;
  /** SHA-256 of the reviewer's written notes, kept by the organization. */
  readonly notes: Uint8Array;
}

/** `aggregate`: a population query used the patient's data (under a research/public-health consent). */
export const ACCESS_ACTIONS = ['read', 'search', 'history', 'everything', 'export', 'exchange', 'aggregate'] as const;
export type AccessAction = (typeof ACCESS_ACTIONS)[number];
/**
 * Why access was permitted: a consent, a break-glass opening, the custodian's own treatment
 * relationship (its authors keep what they wrote), or the patient reading their own record.
 */
export const ACCESS_BASES = ['consent', 'break-glass', 'treatment', 'self'] as const;
export type AccessBasis = (typeof ACCESS_BASES)[number];

export type AccessEvent = {
  /** The participant who accessed: a practitioner or organization of the signer, or the patient. */
  readonly actor: string;
  readonly patient: string;
  readonly action: AccessAction;
  /** When the access happened (ms since the epoch, the node's clock). */
  readonly at: number;
  /** Record ids disclosed (permit) or asked for (deny); may be empty, e.g. a search with no hits. */
  readonly records: readonly string[];
} & (
  | { readonly decision: 'permit'; readonly basis: 'consent' | 'break-glass'; readonly grant: string }
  | { readonly decision: 'permit'; readonly basis: 'treatment' | 'self' }
  | { readonly decision: 'deny' }
);

export const MAX_EVENTS_PER_TX = 256;
export const MAX_RECORDS_PER_EVENT = 256;

export interface AccessLogBody {
  readonly events: readonly AccessEvent[];
}

export type AccessPayload =
  | { readonly type: 'access.break_glass'; readonly body: BreakGlassBody }
  | { readonly type: 'access.review'; readonly body: BreakGlassReviewBody }
  | { readonly type: 'access.log'; readonly body: AccessLogBody };

const ACTOR = /^(?:org|prac|pat)_[a-z0-9-]{1,40}$/;

function readBreakGlass(value: unknown): BreakGlassBody {
  const f = record(value, 'body', ['id', 'practitioner', 'patient', 'reason', 'justification', 'minutes']);
  const minutes = uint(f['minutes'], 'body.minutes');
  if (minutes < 1 || minutes > MAX_BREAK_GLASS_MINUTES)
    throw new ShapeError(`body.minutes must be 1..${MAX_BREAK_GLASS_MINUTES}`);
  return {
    id: text(f['id'], 'body.id', BREAK_GLASS_ID_PATTERN, 30),
    practitioner: text(f['practitioner'], 'body.practitioner', ID_PATTERNS.practitioner, 48),
    patient: text(f['patient'], 'body.patient', ID_PATTERNS.patient, 30),
    reason: oneOf(f['reason'], 'body.reason', BREAK_GLASS_REASONS),
    justification: bytes(f['justification'], 'body.justification', HASH_SIZE),
    minutes,
  };
}

function readEvent(value: unknown, where: string): AccessEvent {
  const f = record(value, where, ['actor', 'patient', 'action', 'at', 'records', 'decision', 'basis', 'grant']);
  const common = {
    actor: text(f['actor'], `${where}.actor`, ACTOR, 48),
    patient: text(f['patient'], `${where}.patient`, ID_PATTERNS.patient, 30),
    action: oneOf(f['action'], `${where}.action`, ACCESS_ACTIONS),
    at: uint(f['at'], `${where}.at`),
    records: list(f['records'], `${where}.records`, MAX_RECORDS_PER_EVENT, (v, w) => text(v, w, RECORD_ID_PATTERN, 30)),
  };
  const decision = oneOf(f['decision'], `${where}.decision`, ['permit', 'deny'] as const);
  if (decision === 'deny') {
    if (f['basis'] !== undefined || f['grant'] !== undefined) throw new ShapeError(`${where}: a denial has no basis`);
    return { ...common, decision };
  }
  const basis = oneOf(f['basis'], `${where}.basis`, ACCESS_BASES);
  if (basis === 'consent' || basis === 'break-glass') {
    const pattern = basis === 'consent' ? CONSENT_ID_PATTERN : BREAK_GLASS_ID_PATTERN;
    return { ...common, decision, basis, grant: text(f['grant'], `${where}.grant`, pattern, 30) };
  }
  if (f['grant'] !== undefined) throw new ShapeError(`${where}: basis ${basis} names no grant`);
  if (basis === 'self' && common.actor !== common.patient) throw new ShapeError(`${where}: basis self means the patient`);
  return { ...common, decision, basis };
}

function readLog(value: unknown): AccessLogBody {
  const f = record(value, 'body', ['events']);
  const events = list(f['events'], 'body.events', MAX_EVENTS_PER_TX, readEvent);
  if (events.length === 0) throw new ShapeError('body.events must not be empty');
  return { events };
}

export const accessPayloads = {
  'access.break_glass': {
    read: readBreakGlass,
    write: (body: BreakGlassBody): CanonicalValue => ({ ...body }),
  },
  'access.review': {
    read(value: unknown): BreakGlassReviewBody {
      const f = record(value, 'body', ['opening', 'outcome', 'notes']);
      return {
        opening: text(f['opening'], 'body.opening', BREAK_GLASS_ID_PATTERN, 30),
        outcome: oneOf(f['outcome'], 'body.outcome', REVIEW_OUTCOMES),
        notes: bytes(f['notes'], 'body.notes', HASH_SIZE),
      };
    },
    write: (body: BreakGlassReviewBody): CanonicalValue => ({ ...body }),
  },
  'access.log': {
    read: readLog,
    write: (body: AccessLogBody): CanonicalValue => ({
      events: body.events.map((e) => ({ ...e, records: [...e.records] })),
    }),
  },
} as const;
