/**
 * The record exchange protocol between custodians: what a node asks another for on behalf of one
 * of its practitioners, and the answer — sealed record versions, each with its data key wrapped
 * for the asking organization. Nothing in it is plaintext clinical content.
 */
import { fromBase64, toBase64 } from '../crypto/bytes.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';
import { RECORD_ID_PATTERN } from '../ledger/payloads/record.js';
import type { WrappedKey } from './rewrap.js';

export const EXCHANGE_PATH = '/exchange/v1/records';
/** Population queries: a custodian's partial aggregate for another organization's analyst. */
export const AGGREGATE_PATH = '/exchange/v1/aggregates';
/** Most entries one answer carries (a patient's $everything above that is refused as too costly). */
export const MAX_EXCHANGE_ENTRIES = 5000;
/** Most attachment bytes (content file ciphertext) one answer carries. */
export const MAX_EXCHANGE_CONTENT_BYTES = 64 * 1024 * 1024;

export type ExchangeQuery =
  | { readonly kind: 'everything' }
  /** A FHIR search of one type within the patient's compartment (`params` as in a query string). */
  | { readonly kind: 'search'; readonly type: string; readonly params: string };

export interface ExchangeRequest {
  /** The practitioner of the asking organization on whose behalf the node asks. */
  readonly requester: string;
  /** The patient's ledger pseudonym. */
  readonly patient: string;
  readonly query: ExchangeQuery;
  /** The asking node's committed ledger height: the custodian decides on state at least this new. */
  readonly height: number;
}

/** A population query asked of a custodian for one analyst of the asking organization. */
export interface AggregateRequest {
  readonly requester: string;
  /** The query as the analyst's node normalized it (checked again by the custodian). */
  readonly query: unknown;
  readonly height: number;
}

export const aggregateRequestSchema = {
  type: 'object',
  required: ['requester', 'query', 'height'],
  additionalProperties: false,
  properties: {
    requester: { type: 'string', pattern: ID_PATTERNS.practitioner.source },
    query: { type: 'object' },
    height: { type: 'integer', minimum: 0 },
  },
} as const;

export interface SealedEntry {
  readonly type: string;
  readonly id: string;
  readonly record: string;
  readonly version: number;
  readonly lastUpdated: number;
  readonly mode: 'match' | 'include';
  readonly envelope: Uint8Array;
  readonly key: WrappedKey;
  /**
   * The ciphertext of the content file the version references (a Binary uploaded as raw bytes):
   * the reference, with the content key and hash, is inside the envelope.
   */
  readonly content?: Uint8Array;
}

export interface ExchangeAnswer {
  readonly custodian: string;
  /** The custodian's ledger height when it decided. */
  readonly height: number;
  readonly entries: readonly SealedEntry[];
  /** Search only: matches in total (visible to the requester). */
  readonly total?: number;
}

/** JSON Schema of the request body, for the custodian's route. */
export const requestSchema = {
  type: 'object',
  required: ['requester', 'patient', 'query', 'height'],
  additionalProperties: false,
  properties: {
    requester: { type: 'string', pattern: ID_PATTERNS.practitioner.source },
    patient: { type: 'string', pattern: ID_PATTERNS.patient.source },
    height: { type: 'integer', minimum: 0 },
    query: {
      oneOf: [
        {
          type: 'object',
          required: ['kind'],
          additionalProperties: false,
          properties: { kind: { const: 'everything' } },
        },
        {
          type: 'object',
          required: ['kind', 'type', 'params'],
          additionalProperties: false,
          properties: {
            kind: { const: 'search' },
            type: { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' },
            params: { type: 'string', maxLength: 4096 },
          },
        },
      ],
    },
  },
} as const;

export function answerToJson(answer: ExchangeAnswer): unknown {
  return {
    ...answer,
    entries: answer.entries.map((e) => ({
      ...e,
      envelope: toBase64(e.envelope),
      key: { enc: toBase64(e.key.enc), ct: toBase64(e.key.ct) },
      ...(e.content && { content: toBase64(e.content) }),
    })),
  };
}

export class ProtocolError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ProtocolError(`${what} is not a count`);
  return v;
};
const str = (v: unknown, what: string, pattern: RegExp): string => {
  if (typeof v !== 'string' || !pattern.test(v)) throw new ProtocolError(`${what} is malformed`);
  return v;
};
const b64 = (v: unknown, what: string): Uint8Array => {
  const bytes = typeof v === 'string' ? fromBase64(v) : undefined;
  if (!bytes) throw new ProtocolError(`${what} is not base64`);
  return bytes;
};

/** Reads an answer from untrusted JSON (shape only: the caller checks it against the ledger). */
export function answerFromJson(value: unknown): ExchangeAnswer {
  if (!isObject(value) || !Array.isArray(value['entries'])) throw new ProtocolError('the answer is not an exchange answer');
  if (value['entries'].length > MAX_EXCHANGE_ENTRIES) throw new ProtocolError('the answer has too many entries');
  const entries = value['entries'].map((e: unknown, i): SealedEntry => {
    const at = `entries[${i}]`;
    if (!isObject(e) || !isObject(e['key'])) throw new ProtocolError(`${at} is malformed`);
    const mode = e['mode'];
    if (mode !== 'match' && mode !== 'include') throw new ProtocolError(`${at}.mode is malformed`);
    return {
      type: str(e['type'], `${at}.type`, /^[A-Z][A-Za-z]{1,63}$/),
      id: str(e['id'], `${at}.id`, /^[A-Za-z0-9\-.]{1,64}$/),
      record: str(e['record'], `${at}.record`, RECORD_ID_PATTERN),
      version: count(e['version'], `${at}.version`),
      lastUpdated: count(e['lastUpdated'], `${at}.lastUpdated`),
      mode,
      envelope: b64(e['envelope'], `${at}.envelope`),
      key: { enc: b64(e['key']['enc'], `${at}.key.enc`), ct: b64(e['key']['ct'], `${at}.key.ct`) },
      ...(e['content'] !== undefined && { content: b64(e['content'], `${at}.content`) }),
    };
  });
  return {
    custodian: str(value['custodian'], 'custodian', ID_PATTERNS.organization),
    height: count(value['height'], 'height'),
    entries,
    ...(value['total'] !== undefined && { total: count(value['total'], 'total') }),
  };
}
