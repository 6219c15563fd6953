/**
 * Participant registry payloads: who exists on the ledger and which key speaks for them.
 * Patients and devices appear only under random pseudonyms; nothing here identifies a person.
 */
import type { CanonicalValue } from '../codec.js';
import { bytes, list, oneOf, record, ShapeError, text, type Fields } from '../shape.js';
import { PUBLIC_KEY_SIZE } from '../../crypto/ed25519.js';

export const PARTICIPANT_KINDS = ['organization', 'practitioner', 'patient', 'device'] as const;
export type ParticipantKind = (typeof PARTICIPANT_KINDS)[number];

export const PRACTITIONER_ROLES = ['clinician', 'nurse', 'registrar', 'admin', 'privacy-officer', 'analyst'] as const;
export type PractitionerRole = (typeof PRACTITIONER_ROLES)[number];

export const PARTICIPANT_STATUSES = ['active', 'suspended', 'revoked'] as const;
export type ParticipantStatus = (typeof PARTICIPANT_STATUSES)[number];

/** Id formats by kind; patient and device ids are 128-bit random pseudonyms in base32. */
export const ID_PATTERNS: Readonly<Record<ParticipantKind, RegExp>> = {
  organization: /^org_[a-z0-9][a-z0-9-]{0,39}$/,
  practitioner: /^prac_[a-z0-9][a-z0-9-]{0,39}$/,
  patient: /^pat_[a-z2-7]{26}$/,
  device: /^dev_[a-z2-7]{26}$/,
};

export function kindOfId(id: string): ParticipantKind | undefined {
  return PARTICIPANT_KINDS.find((kind) => ID_PATTERNS[kind].test(id));
}

const ANY_ID = /^(?:org|prac|pat|dev)_[a-z0-9-]{1,40}$/;
export const ORG_NAME = /^[\p{L}\p{N} .,'&()-]+$/u;

export type RegisterBody =
  | { readonly kind: 'organization'; readonly id: string; readonly key: Uint8Array; readonly name: string }
  | {
      readonly kind: 'practitioner';
      readonly id: string;
      readonly key: Uint8Array;
      readonly org: string;
      readonly roles: readonly PractitionerRole[];
    }
  | { readonly kind: 'patient'; readonly id: string; readonly key: Uint8Array }
  | { readonly kind: 'device'; readonly id: string; readonly key: Uint8Array; readonly patient: string };

export interface RotateKeyBody {
  readonly id: string;
  readonly key: Uint8Array;
}

export interface SetStatusBody {
  readonly id: string;
  readonly status: ParticipantStatus;
}

export interface SetRolesBody {
  readonly id: string;
  readonly roles: readonly PractitionerRole[];
}

export type ParticipantPayload =
  | { readonly type: 'participant.register'; readonly body: RegisterBody }
  | { readonly type: 'participant.rotate_key'; readonly body: RotateKeyBody }
  | { readonly type: 'participant.set_status'; readonly body: SetStatusBody }
  | { readonly type: 'participant.set_roles'; readonly body: SetRolesBody };

function participantId(value: unknown, where: string, kind?: ParticipantKind): string {
  const id = text(value, where, kind ? ID_PATTERNS[kind] : ANY_ID, 48);
  if (!kind && !kindOfId(id)) throw new ShapeError(`${where} is not a participant id`);
  return id;
}

function roles(value: unknown, where: string): PractitionerRole[] {
  const out = list(value, where, PRACTITIONER_ROLES.length, (v, w) => oneOf(v, w, PRACTITIONER_ROLES));
  if (out.length === 0) throw new ShapeError(`${where} must name at least one role`);
  for (let i = 1; i < out.length; i++) {
    if (PRACTITIONER_ROLES.indexOf(out[i - 1]!) >= PRACTITIONER_ROLES.indexOf(out[i]!)) {
      throw new ShapeError(`${where} must be distinct and in canonical order (${PRACTITIONER_ROLES.join(', ')})`);
    }
  }
  return out;
}

/** Sorts roles into the one canonical order, so equal role sets encode identically. */
export function canonicalRoles(input: readonly PractitionerRole[]): PractitionerRole[] {
  return PRACTITIONER_ROLES.filter((role) => input.includes(role));
}

function readRegister(value: unknown): RegisterBody {
  const loose = record(value, 'body', ['kind', 'id', 'key', 'name', 'org', 'roles', 'patient']);
  const kind = oneOf(loose['kind'], 'body.kind', PARTICIPANT_KINDS);
  const expect = (allowed: readonly string[]): Fields => record(value, 'body', ['kind', 'id', 'key', ...allowed]);
  const id = participantId(loose['id'], 'body.id', kind);
  const key = bytes(loose['key'], 'body.key', PUBLIC_KEY_SIZE);
  switch (kind) {
    case 'organization':
      return { kind, id, key, name: text(expect(['name'])['name'], 'body.name', ORG_NAME, 120) };
    case 'practitioner': {
      const fields = expect(['org', 'roles']);
      return {
        kind,
        id,
        key,
        org: participantId(fields['org'], 'body.org', 'organization'),
        roles: roles(fields['roles'], 'body.roles'),
      };
    }
    case 'patient':
      expect([]);
      return { kind, id, key };
    case 'device':
      return { kind, id, key, patient: participantId(expect(['patient'])['patient'], 'body.patient', 'patient') };
  }
}

export const participantPayloads = {
  'participant.register': {
    read: readRegister,
    write: (body: RegisterBody): CanonicalValue => ({ ...body }),
  },
  'participant.rotate_key': {
    read(value: unknown): RotateKeyBody {
      const fields = record(value, 'body', ['id', 'key']);
      return { id: participantId(fields['id'], 'body.id'), key: bytes(fields['key'], 'body.key', PUBLIC_KEY_SIZE) };
    },
    write: (body: RotateKeyBody): CanonicalValue => ({ ...body }),
  },
  'participant.set_status': {
    read(value: unknown): SetStatusBody {
      const fields = record(value, 'body', ['id', 'status']);
      return {
        id: participantId(fields['id'], 'body.id'),
        status: oneOf(fields['status'], 'body.status', PARTICIPANT_STATUSES),
      };
    },
    write: (body: SetStatusBody): CanonicalValue => ({ ...body }),
  },
  'participant.set_roles': {
    read(value: unknown): SetRolesBody {
      const fields = record(value, 'body', ['id', 'roles']);
      return { id: participantId(fields['id'], 'body.id', 'practitioner'), roles: roles(fields['roles'], 'body.roles') };
    },
    write: (body: SetRolesBody): CanonicalValue => ({ ...body, roles: [...body.roles] }),
  },
} as const;
