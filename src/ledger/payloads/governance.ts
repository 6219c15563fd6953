/**
 * Governance payloads: changes to who may take part (organizations) and who orders blocks
 * (validators), decided by the current validators on the ledger.
 *
 * They are signed by validator (node) keys. A validator signs as `val_<address>`, where the
 * address is CometBFT's: the first 20 bytes of SHA-256 of the Ed25519 public key, in hex. So the
 * signer id follows from the key, and a validator needs no participant record to vote.
 */
import type { CanonicalValue } from '../codec.js';
import { toHex } from '../../crypto/bytes.js';
import { sha256 } from '../../crypto/hash.js';
import { PUBLIC_KEY_SIZE } from '../../crypto/ed25519.js';
import { bytes, oneOf, record, text, uint } from '../shape.js';
import { ID_PATTERNS, ORG_NAME } from './participant.js';

export const GOVERNANCE_ACTIONS = ['admit-organization', 'remove-organization', 'add-validator', 'remove-validator'] as const;
export type GovernanceActionName = (typeof GOVERNANCE_ACTIONS)[number];

export const VALIDATOR_ID = /^val_[0-9a-f]{40}$/;
export const PROPOSAL_ID = /^gov_[a-z0-9][a-z0-9-]{0,39}$/;
const VALIDATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9_. -]{0,63}$/;

/** The signer id of a validator key (its CometBFT address). */
export function validatorIdOf(key: Uint8Array): string {
  return `val_${toHex(sha256(key).subarray(0, 20))}`;
}

export const isValidatorId = (id: string): boolean => VALIDATOR_ID.test(id);

export type GovernanceAction =
  | { readonly action: 'admit-organization'; readonly org: string; readonly key: Uint8Array; readonly name: string }
  | { readonly action: 'remove-organization'; readonly org: string }
  | { readonly action: 'add-validator'; readonly key: Uint8Array; readonly name: string }
  | { readonly action: 'remove-validator'; readonly key: Uint8Array };

/** A proposal; `until` is the last block height in which it may still be approved. */
export type ProposeBody = { readonly id: string; readonly until: number } & GovernanceAction;

export interface ApproveBody {
  readonly proposal: string;
}

export type GovernancePayload =
  | { readonly type: 'governance.propose'; readonly body: ProposeBody }
  | { readonly type: 'governance.approve'; readonly body: ApproveBody };

const FIELDS: Readonly<Record<GovernanceActionName, readonly string[]>> = {
  'admit-organization': ['org', 'key', 'name'],
  'remove-organization': ['org'],
  'add-validator': ['key', 'name'],
  'remove-validator': ['key'],
};

/** Reads the action fields of a decoded map (a payload body or a stored proposal). */
export function readAction(value: unknown, where: string, extra: readonly string[]): GovernanceAction {
  const loose = record(value, where, ['action', 'org', 'key', 'name', ...extra]);
  const action = oneOf(loose['action'], `${where}.action`, GOVERNANCE_ACTIONS);
  const f = record(value, where, ['action', ...FIELDS[action], ...extra]);
  const org = (): string => text(f['org'], `${where}.org`, ID_PATTERNS.organization, 48);
  const key = (): Uint8Array => bytes(f['key'], `${where}.key`, PUBLIC_KEY_SIZE);
  switch (action) {
    case 'admit-organization':
      return { action, org: org(), key: key(), name: text(f['name'], `${where}.name`, ORG_NAME, 120) };
    case 'remove-organization':
      return { action, org: org() };
    case 'add-validator':
      return { action, key: key(), name: text(f['name'], `${where}.name`, VALIDATOR_NAME, 64) };
    case 'remove-validator':
      return { action, key: key() };
  }
}

export const governancePayloads = {
  'governance.propose': {
    read(value: unknown): ProposeBody {
      const f = record(value, 'body', ['id', 'until', 'action', 'org', 'key', 'name']);
      const id = text(f['id'], 'body.id', PROPOSAL_ID, 44);
      const until = uint(f['until'], 'body.until');
      return { id, until, ...readAction(value, 'body', ['id', 'until']) };
    },
    write: (body: ProposeBody): CanonicalValue => ({ ...body }),
  },
  'governance.approve': {
    read(value: unknown): ApproveBody {
      const f = record(value, 'body', ['proposal']);
      return { proposal: text(f['proposal'], 'body.proposal', PROPOSAL_ID, 44) };
    },
    write: (body: ApproveBody): CanonicalValue => ({ ...body }),
  },
} as const;
