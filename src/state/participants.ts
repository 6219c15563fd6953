/**
 * The participant registry: records, their canonical encoding in state, and the rules for who may
 * register, re-key, suspend or revoke whom.
 */
import { toHex } from '../crypto/bytes.js';
import { PUBLIC_KEY_SIZE } from '../crypto/ed25519.js';
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import {
  PARTICIPANT_KINDS,
  PARTICIPANT_STATUSES,
  PRACTITIONER_ROLES,
  type ParticipantKind,
  type ParticipantStatus,
  type PractitionerRole,
  type RegisterBody,
  type RotateKeyBody,
  type SetRolesBody,
  type SetStatusBody,
} from '../ledger/payloads/participant.js';
import { bytes, list, oneOf, optional, record, text, uint } from '../ledger/shape.js';
import { readPatientCustodian } from './patient-custodians.js';
import { readObject, type StateOverlay, type StateReader, type ValueCodec } from './store.js';

export interface Participant {
  readonly id: string;
  readonly kind: ParticipantKind;
  readonly status: ParticipantStatus;
  /** The one key that may sign for this participant now. */
  readonly key: Uint8Array;
  readonly keySince: number;
  readonly rotations: number;
  /** Next usable transaction sequence number. */
  readonly nextSeq: number;
  readonly registeredAt: number;
  readonly registeredBy: string;
  readonly name?: string;
  readonly org?: string;
  readonly patient?: string;
  readonly roles?: readonly PractitionerRole[];
}

const participantKey = (id: string): string => `participant/${id}`;
const keyIndexKey = (key: Uint8Array): string => `key/${toHex(key)}`;

function decodeParticipant(raw: Uint8Array): Participant {
  const decoded = decodeCanonical(raw);
  if (!decoded.ok) throw new Error(`state corrupt: participant record: ${decoded.detail}`);
  const f = record(decoded.value, 'participant', [
    'id',
    'kind',
    'status',
    'key',
    'keySince',
    'rotations',
    'nextSeq',
    'registeredAt',
    'registeredBy',
    'name',
    'org',
    'patient',
    'roles',
  ]);
  const name = optional(f['name'], (v) => text(v, 'name', undefined, 120));
  const org = optional(f['org'], (v) => text(v, 'org', undefined, 48));
  const patient = optional(f['patient'], (v) => text(v, 'patient', undefined, 48));
  const roles = optional(f['roles'], (v) => list(v, 'roles', 16, (r, w) => oneOf(r, w, PRACTITIONER_ROLES)));
  return {
    id: text(f['id'], 'id', undefined, 48),
    kind: oneOf(f['kind'], 'kind', PARTICIPANT_KINDS),
    status: oneOf(f['status'], 'status', PARTICIPANT_STATUSES),
    key: bytes(f['key'], 'key', PUBLIC_KEY_SIZE),
    keySince: uint(f['keySince'], 'keySince'),
    rotations: uint(f['rotations'], 'rotations'),
    nextSeq: uint(f['nextSeq'], 'nextSeq'),
    registeredAt: uint(f['registeredAt'], 'registeredAt'),
    registeredBy: text(f['registeredBy'], 'registeredBy', undefined, 48),
    ...(name !== undefined && { name }),
    ...(org !== undefined && { org }),
    ...(patient !== undefined && { patient }),
    ...(roles !== undefined && { roles }),
  };
}

const PARTICIPANT_CODEC: ValueCodec<Participant> = {
  decode: decodeParticipant,
  encode: (p) => encodeCanonical({ ...p, roles: p.roles ? [...p.roles] : undefined }),
};

export function readParticipant(state: StateReader, id: string): Participant | undefined {
  return readObject(state, participantKey(id), PARTICIPANT_CODEC);
}

export function writeParticipant(state: StateOverlay, p: Participant): void {
  state.setObject(participantKey(p.id), p, PARTICIPANT_CODEC);
}

export function participantIdForKey(state: StateReader, key: Uint8Array): string | undefined {
  const raw = state.get(keyIndexKey(key));
  return raw ? new TextDecoder().decode(raw) : undefined;
}

export function claimKey(state: StateOverlay, key: Uint8Array, id: string): Result<void> {
  const holder = participantIdForKey(state, key);
  if (holder !== undefined) return fail('state.conflict', `key is already registered to ${holder}`);
  state.set(keyIndexKey(key), new TextEncoder().encode(id));
  return ok(undefined);
}

const isActiveOrg = (p: Participant | undefined): p is Participant => p?.kind === 'organization' && p.status === 'active';
export const hasRole = (p: Participant, ...roles: PractitionerRole[]): boolean =>
  p.kind === 'practitioner' && roles.some((r) => p.roles?.includes(r));

/** Who may administer a participant other than the participant itself: re-key it, set its status or roles. */
function manages(signer: Participant, target: Participant): boolean {
  switch (target.kind) {
    case 'organization':
      // Organizations are admitted and removed by the validators (state/governance.ts) only.
      return false;
    case 'practitioner':
      return signer.id === target.org || (hasRole(signer, 'admin') && signer.org === target.org);
    case 'device':
      // The device speaks for its patient, so the patient alone administers it (see stops).
      return signer.id === target.patient;
    case 'patient':
      // Only the patient speaks for the patient; lost-key recovery is a separate, explicit path.
      return false;
  }
}

/**
 * Who may stop a participant (suspend or revoke it) without administering it: whoever registered
 * a device, so a care team can halt one that misbehaves — but never re-key or re-activate it,
 * which would let it write into the record after the patient stopped it.
 */
function stops(signer: Participant, target: Participant): boolean {
  return target.kind === 'device' && signer.id === target.registeredBy;
}

export interface TxContext {
  readonly state: StateOverlay;
  readonly height: number;
  /** Block time (ms since the epoch), from the block header: the only clock the state machine has. */
  readonly time: number;
  readonly signer: Participant;
}

/**
 * Registers a practitioner of an organization or enrolls a patient (a pseudonym that records
 * already name only by the custodian of the first of them). Organizations are admitted by the
 * validators (state/governance.ts), devices by their patient or care team (state/devices.ts).
 */
export function register(ctx: TxContext, body: Exclude<RegisterBody, { kind: 'device' }>): Result<void> {
  const { state, signer } = ctx;
  if (readParticipant(state, body.id)) return fail('state.conflict', `participant ${body.id} already exists`);
  switch (body.kind) {
    case 'organization':
      return fail('tx.unauthorized', 'organizations are admitted by the validators (governance.propose)');
    case 'practitioner': {
      if (!isActiveOrg(readParticipant(state, body.org))) return fail('state.not_found', `no active organization ${body.org}`);
      const allowed = signer.id === body.org || (hasRole(signer, 'admin') && signer.org === body.org);
      if (!allowed) return fail('tx.unauthorized', `only ${body.org} or its admins register its practitioners`);
      return admit(ctx, body, { org: body.org, roles: body.roles });
    }
    case 'patient': {
      if (signer.kind !== 'organization' && !hasRole(signer, 'registrar', 'admin')) {
        return fail('tx.unauthorized', 'patients are enrolled by an organization or its registrars');
      }
      // Records already name this pseudonym: only their first custodian may enroll it (state/patient-custodians.ts).
      const bound = readPatientCustodian(state, body.id);
      const signerOrg = signer.kind === 'organization' ? signer.id : signer.org;
      if (bound && bound.custodian !== signerOrg) {
        return fail(
          'tx.unauthorized',
          `${body.id} is named by records of ${bound.custodian}: only ${bound.custodian} or its registrars and admins enroll it`,
        );
      }
      return admit(ctx, body, {});
    }
  }
}

/** Writes a participant whose registration has been allowed, claiming its key. */
export function admit(ctx: TxContext, body: RegisterBody, extra: Pick<Participant, 'org' | 'roles' | 'patient'>): Result<void> {
  const claimed = claimKey(ctx.state, body.key, body.id);
  if (!claimed.ok) return claimed;
  writeParticipant(ctx.state, {
    id: body.id,
    kind: body.kind,
    status: 'active',
    key: body.key,
    keySince: ctx.height,
    rotations: 0,
    nextSeq: 0,
    registeredAt: ctx.height,
    registeredBy: ctx.signer.id,
    ...extra,
  });
  return ok(undefined);
}

function target(ctx: TxContext, id: string): Result<Participant> {
  const found = id === ctx.signer.id ? ctx.signer : readParticipant(ctx.state, id);
  return found ? ok(found) : fail('state.not_found', `no participant ${id}`);
}

export function rotateKey(ctx: TxContext, body: RotateKeyBody): Result<void> {
  const found = target(ctx, body.id);
  if (!found.ok) return found;
  const p = found.value;
  if (p.id !== ctx.signer.id && !manages(ctx.signer, p)) return fail('tx.unauthorized', `${ctx.signer.id} cannot re-key ${p.id}`);
  if (p.status === 'revoked') return fail('state.conflict', `${p.id} is revoked`);
  const claimed = claimKey(ctx.state, body.key, p.id);
  if (!claimed.ok) return claimed;
  // The old key stays in the key index so it can never be registered again.
  writeParticipant(ctx.state, { ...p, key: body.key, keySince: ctx.height, rotations: p.rotations + 1 });
  return ok(undefined);
}

export function setStatus(ctx: TxContext, body: SetStatusBody): Result<void> {
  const found = target(ctx, body.id);
  if (!found.ok) return found;
  const p = found.value;
  const self = p.id === ctx.signer.id;
  if (self && body.status !== 'revoked') return fail('tx.unauthorized', 'a participant may only revoke itself');
  if (self && p.kind === 'organization') {
    return fail('tx.unauthorized', 'an organization is removed by the validators (governance remove-organization)');
  }
  const stopping = body.status !== 'active' && stops(ctx.signer, p);
  if (!self && !stopping && !manages(ctx.signer, p)) return fail('tx.unauthorized', `${ctx.signer.id} cannot change ${p.id}`);
  if (p.status === 'revoked') return fail('state.conflict', `${p.id} is revoked for good`);
  if (p.status === body.status) return fail('state.conflict', `${p.id} is already ${body.status}`);
  writeParticipant(ctx.state, { ...p, status: body.status });
  return ok(undefined);
}

export function setRoles(ctx: TxContext, body: SetRolesBody): Result<void> {
  const found = target(ctx, body.id);
  if (!found.ok) return found;
  const p = found.value;
  if (p.kind !== 'practitioner') return fail('tx.invalid', `${p.id} is not a practitioner`);
  if (!manages(ctx.signer, p)) return fail('tx.unauthorized', `${ctx.signer.id} cannot change roles of ${p.id}`);
  if (p.status === 'revoked') return fail('state.conflict', `${p.id} is revoked`);
  writeParticipant(ctx.state, { ...p, roles: body.roles });
  return ok(undefined);
}
