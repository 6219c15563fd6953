/**
 * Consent payloads: a patient's own signed decision about who may see their records, for what
 * purpose, which resource types and until when. Grantees are organizations or practitioners by
 * their ledger ids; nothing here says anything clinical about the patient.
 */
import type { CanonicalValue } from '../codec.js';
import { list, oneOf, optional, record, ShapeError, text, uint } from '../shape.js';
import { ID_PATTERNS } from './participant.js';

export const CONSENT_ID_PATTERN = /^cns_[a-z2-7]{26}$/;
/** HL7 v3 PurposeOfUse codes a consent may name: treatment, research, public health. */
export const CONSENT_PURPOSES = ['TREAT', 'HRESCH', 'PUBHLTH'] as const;
export type ConsentPurpose = (typeof CONSENT_PURPOSES)[number];
/** A FHIR resource type name, e.g. "Observation". */
export const RESOURCE_TYPE_PATTERN = /^[A-Z][A-Za-z]{1,39}$/;
export const MAX_CONSENT_TYPES = 32;
const GRANTEE = /^(?:org|prac)_[a-z0-9][a-z0-9-]{0,39}$/;

export interface ConsentGrantBody {
  readonly id: string;
  /** The patient granting; must be the signer. */
  readonly patient: string;
  /** The organization (all its practitioners) or the one practitioner who may see the record. */
  readonly grantee: string;
  readonly purpose: ConsentPurpose;
  /** Resource types covered, distinct and sorted; absent means the whole record. */
  readonly types?: readonly string[];
  /** Validity in block time (ms since the epoch): from `from` (inclusive) to `until` (exclusive). */
  readonly from?: number;
  readonly until?: number;
}

export interface ConsentRevokeBody {
  readonly id: string;
}

export type ConsentPayload =
  | { readonly type: 'consent.grant'; readonly body: ConsentGrantBody }
  | { readonly type: 'consent.revoke'; readonly body: ConsentRevokeBody };

function types(value: unknown, where: string): string[] {
  const out = list(value, where, MAX_CONSENT_TYPES, (v, w) => text(v, w, RESOURCE_TYPE_PATTERN, 40));
  if (out.length === 0) throw new ShapeError(`${where} must name at least one type (omit it to cover everything)`);
  for (let i = 1; i < out.length; i++) {
    if (out[i - 1]! >= out[i]!) throw new ShapeError(`${where} must be distinct and sorted`);
  }
  return out;
}

function readGrant(value: unknown): ConsentGrantBody {
  const f = record(value, 'body', ['id', 'patient', 'grantee', 'purpose', 'types', 'from', 'until']);
  const from = optional(f['from'], (v) => uint(v, 'body.from'));
  const until = optional(f['until'], (v) => uint(v, 'body.until'));
  if (from !== undefined && until !== undefined && until <= from) throw new ShapeError('body.until must be after body.from');
  const covered = optional(f['types'], (v) => types(v, 'body.types'));
  return {
    id: text(f['id'], 'body.id', CONSENT_ID_PATTERN, 30),
    patient: text(f['patient'], 'body.patient', ID_PATTERNS.patient, 30),
    grantee: text(f['grantee'], 'body.grantee', GRANTEE, 48),
    purpose: oneOf(f['purpose'], 'body.purpose', CONSENT_PURPOSES),
    ...(covered !== undefined && { types: covered }),
    ...(from !== undefined && { from }),
    ...(until !== undefined && { until }),
  };
}

/** Sorts and de-duplicates resource types into the one canonical form. */
export function canonicalTypes(input: readonly string[]): string[] {
  return [...new Set(input)].sort();
}

export const consentPayloads = {
  'consent.grant': {
    read: readGrant,
    write: (body: ConsentGrantBody): CanonicalValue => ({ ...body, types: body.types ? [...body.types] : undefined }),
  },
  'consent.revoke': {
    read(value: unknown): ConsentRevokeBody {
      const f = record(value, 'body', ['id']);
      return { id: text(f['id'], 'body.id', CONSENT_ID_PATTERN, 30) };
    },
    write: (body: ConsentRevokeBody): CanonicalValue => ({ ...body }),
  },
} as const;
