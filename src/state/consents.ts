/**
 * Consents in state: each grant by id, and per (patient, grantee) the ids of grants not revoked,
 * so an access decision is two key lookups.
 *
 * Rules: only the patient grants and revokes, signing with their own key; the grantee is an
 * active organization or practitioner; a grant that has already expired is refused; revocation
 * is final. Expired grants are pruned from the active list whenever that list is written.
 */
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import {
  CONSENT_PURPOSES,
  MAX_CONSENT_TYPES,
  type ConsentGrantBody,
  type ConsentPurpose,
  type ConsentRevokeBody,
} from '../ledger/payloads/consent.js';
import { list, oneOf, optional, record, text, uint } from '../ledger/shape.js';
import { readParticipant, type TxContext } from './participants.js';
import { readObject, type StateReader, type ValueCodec } from './store.js';

/** Active grants one patient may hold for one grantee; revoke or let some expire to add more. */
export const MAX_ACTIVE_GRANTS = 16;

/** A grant as the patient signed it, with when it was committed and, once revoked, when. */
export interface Consent extends ConsentGrantBody {
  readonly grantedAt: number;
  readonly grantedTime: number;
  readonly revokedAt?: number;
  readonly revokedTime?: number;
}

const consentKey = (id: string): string => `consent/${id}`;
const activeKey = (patient: string, grantee: string): string => `grants/${patient}/${grantee}`;
/**
 * Grantee-first marker of the same pairs, so a node can list the patients who granted a
 * practitioner or organization (by key prefix, outside consensus) to filter searches.
 */
export const GRANTORS_PREFIX = 'grantors/';
/** Every state key a consent transaction writes starts with one of these. */
export const CONSENT_STATE_PREFIXES = ['consent/', 'grants/', GRANTORS_PREFIX] as const;
const grantorKey = (grantee: string, patient: string): string => `${GRANTORS_PREFIX}${grantee}/${patient}`;

function decode<T>(raw: Uint8Array, what: string, read: (value: unknown) => T): T {
  const decoded = decodeCanonical(raw);
  if (!decoded.ok) throw new Error(`state corrupt: ${what}: ${decoded.detail}`);
  return read(decoded.value);
}

const CONSENT_CODEC: ValueCodec<Consent> = {
  decode: (raw) =>
    decode(raw, 'consent', (value) => {
      const f = record(value, 'consent', [
        'id',
        'patient',
        'grantee',
        'purpose',
        'types',
        'from',
        'until',
        'grantedAt',
        'grantedTime',
        'revokedAt',
        'revokedTime',
      ]);
      const num = (key: string): number | undefined => optional(f[key], (v) => uint(v, key));
      const types = optional(f['types'], (v) => list(v, 'types', MAX_CONSENT_TYPES, (t, w) => text(t, w, undefined, 40)));
      const [from, until, revokedAt, revokedTime] = [num('from'), num('until'), num('revokedAt'), num('revokedTime')];
      return {
        id: text(f['id'], 'id', undefined, 30),
        patient: text(f['patient'], 'patient', undefined, 30),
        grantee: text(f['grantee'], 'grantee', undefined, 48),
        purpose: oneOf(f['purpose'], 'purpose', CONSENT_PURPOSES),
        ...(types !== undefined && { types }),
        ...(from !== undefined && { from }),
        ...(until !== undefined && { until }),
        grantedAt: uint(f['grantedAt'], 'grantedAt'),
        grantedTime: uint(f['grantedTime'], 'grantedTime'),
        ...(revokedAt !== undefined && { revokedAt }),
        ...(revokedTime !== undefined && { revokedTime }),
      };
    }),
  encode: (c) => encodeCanonical({ ...c, types: c.types ? [...c.types] : undefined }),
};

const IDS_CODEC: ValueCodec<readonly string[]> = {
  decode: (raw) => decode(raw, 'grant list', (v) => list(v, 'grants', MAX_ACTIVE_GRANTS, (id, w) => text(id, w, undefined, 30))),
  encode: (ids) => encodeCanonical([...ids]),
};

export function readConsent(state: StateReader, id: string): Consent | undefined {
  return readObject(state, consentKey(id), CONSENT_CODEC);
}

/** Grants from `patient` to `grantee` that are not revoked (some may have expired). */
export function activeConsents(state: StateReader, patient: string, grantee: string): Consent[] {
  const ids = readObject(state, activeKey(patient, grantee), IDS_CODEC) ?? [];
  return ids.map((id) => readConsent(state, id)).filter((c): c is Consent => c !== undefined);
}

/** Whether a consent is in force at `time` (block or request time, ms). */
export function inForce(consent: Consent, time: number): boolean {
  return (
    consent.revokedAt === undefined &&
    (consent.from === undefined || time >= consent.from) &&
    (consent.until === undefined || time < consent.until)
  );
}

/** Whether a consent speaks to this purpose and resource type (in force or not). */
export function appliesTo(consent: Consent, purpose: ConsentPurpose, type: string): boolean {
  return consent.purpose === purpose && (consent.types === undefined || consent.types.includes(type));
}

export function grantConsent(ctx: TxContext, body: ConsentGrantBody): Result<void> {
  const { state, signer } = ctx;
  if (signer.kind !== 'patient' || signer.id !== body.patient) return fail('tx.unauthorized', 'only the patient grants consent');
  if (readConsent(state, body.id)) return fail('state.conflict', `consent ${body.id} already exists`);
  const grantee = readParticipant(state, body.grantee);
  if (!grantee || grantee.status !== 'active') return fail('state.not_found', `no active participant ${body.grantee}`);
  if (grantee.kind !== 'organization' && grantee.kind !== 'practitioner') {
    return fail('tx.invalid', 'consent is granted to an organization or a practitioner');
  }
  if (body.until !== undefined && body.until <= ctx.time) return fail('tx.invalid', 'the consent would already have expired');
  const stillActive = activeConsents(state, body.patient, body.grantee).filter(
    (c) => c.until === undefined || c.until > ctx.time,
  );
  if (stillActive.length >= MAX_ACTIVE_GRANTS) {
    return fail('state.limit', `at most ${MAX_ACTIVE_GRANTS} active grants per grantee; revoke one first`);
  }
  state.setObject(consentKey(body.id), { ...body, grantedAt: ctx.height, grantedTime: ctx.time }, CONSENT_CODEC);
  state.setObject(activeKey(body.patient, body.grantee), [...stillActive.map((c) => c.id), body.id], IDS_CODEC);
  state.set(grantorKey(body.grantee, body.patient), new Uint8Array(0));
  return ok(undefined);
}

export function revokeConsent(ctx: TxContext, body: ConsentRevokeBody): Result<void> {
  const { state, signer } = ctx;
  const consent = readConsent(state, body.id);
  if (!consent) return fail('state.not_found', `no consent ${body.id}`);
  if (signer.id !== consent.patient) return fail('tx.unauthorized', 'only the patient revokes their consent');
  if (consent.revokedAt !== undefined) return fail('state.conflict', `consent ${body.id} is already revoked`);
  state.setObject(consentKey(body.id), { ...consent, revokedAt: ctx.height, revokedTime: ctx.time }, CONSENT_CODEC);
  const remaining = activeConsents(state, consent.patient, consent.grantee).filter(
    (c) => c.id !== body.id && (c.until === undefined || c.until > ctx.time),
  );
  if (remaining.length === 0) {
    state.delete(activeKey(consent.patient, consent.grantee));
    state.delete(grantorKey(consent.grantee, consent.patient));
  } else
    state.setObject(
      activeKey(consent.patient, consent.grantee),
      remaining.map((c) => c.id),
      IDS_CODEC,
    );
  return ok(undefined);
}
