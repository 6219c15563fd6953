/**
 * The genesis document: everything a replay needs before block 1. Its hash is block 1's prevHash,
 * so a ledger cannot be replayed against a different founding organization or validator set.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { PUBLIC_KEY_SIZE } from '../crypto/ed25519.js';
import { decodeCanonical, encodeCanonical } from './codec.js';
import { fail, ok, type Result } from './errors.js';
import { ID_PATTERNS } from './payloads/participant.js';
import { bytes, list, oneOf, optional, record, ShapeError, text, uint } from './shape.js';
import { CHAIN_ID_PATTERN } from './tx.js';

const GENESIS_DOMAIN = concatBytes(utf8('medledger/genesis/v1'), new Uint8Array([0]));

export interface Validator {
  readonly name: string;
  readonly key: Uint8Array;
}

export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly key: Uint8Array;
}

/** How blocks are ordered: the embedded solo sequencer (default) or a CometBFT network. */
export type ConsensusMode = 'solo' | 'cometbft';

export interface Genesis {
  readonly chain: string;
  readonly time: number;
  readonly founder: Organization;
  readonly validators: readonly Validator[];
  /**
   * Further founding organizations (a network of several organizations starts with all of them
   * registered). Absent on a single-organization chain; encoded only when present, so older
   * genesis documents keep their bytes and hash.
   */
  readonly members?: readonly Organization[];
  /** Absent means solo. Under CometBFT each node seals blocks itself (see consensus/cometbft). */
  readonly consensus?: ConsensusMode;
}

export function encodeGenesis(g: Genesis): Uint8Array {
  return encodeCanonical({
    v: 1,
    chain: g.chain,
    time: g.time,
    founder: { ...g.founder },
    validators: g.validators.map((v) => ({ ...v })),
    ...(g.members !== undefined && { members: g.members.map((m) => ({ ...m })) }),
    ...(g.consensus !== undefined && g.consensus !== 'solo' && { consensus: g.consensus }),
  });
}

export function decodeGenesis(encoded: Uint8Array): Result<Genesis> {
  const decoded = decodeCanonical(encoded);
  if (!decoded.ok) return fail('tx.malformed', `genesis: ${decoded.detail}`);
  try {
    const f = record(decoded.value, 'genesis', ['v', 'chain', 'time', 'founder', 'validators', 'members', 'consensus']);
    if (f['v'] !== 1) throw new ShapeError('unsupported genesis version');
    const founder = record(f['founder'], 'founder', ['id', 'name', 'key']);
    const validators = list(f['validators'], 'validators', 100, (v, w) => {
      const fields = record(v, w, ['name', 'key']);
      return { name: text(fields['name'], `${w}.name`, undefined, 64), key: bytes(fields['key'], `${w}.key`, PUBLIC_KEY_SIZE) };
    });
    if (validators.length === 0) throw new ShapeError('genesis needs at least one validator');
    const members = optional(f['members'], (value) =>
      list(value, 'members', 100, (m, w) => {
        const fields = record(m, w, ['id', 'name', 'key']);
        return {
          id: text(fields['id'], `${w}.id`, ID_PATTERNS.organization, 48),
          name: text(fields['name'], `${w}.name`, undefined, 120),
          key: bytes(fields['key'], `${w}.key`, PUBLIC_KEY_SIZE),
        };
      }),
    );
    const consensus = optional(f['consensus'], (value) => oneOf(value, 'consensus', ['cometbft'] as const));
    if (members) {
      const ids = new Set([text(founder['id'], 'founder.id', undefined, 48)]);
      for (const m of members) {
        if (ids.has(m.id)) throw new ShapeError(`organization ${m.id} appears twice`);
        ids.add(m.id);
      }
    }
    return ok({
      chain: text(f['chain'], 'chain', CHAIN_ID_PATTERN, 64),
      time: uint(f['time'], 'time'),
      founder: {
        id: text(founder['id'], 'founder.id', ID_PATTERNS.organization, 48),
        name: text(founder['name'], 'founder.name', undefined, 120),
        key: bytes(founder['key'], 'founder.key', PUBLIC_KEY_SIZE),
      },
      validators,
      ...(members !== undefined && { members }),
      ...(consensus !== undefined && { consensus }),
    });
  } catch (error) {
    if (error instanceof ShapeError) return fail('tx.malformed', `genesis: ${error.message}`);
    throw error;
  }
}

export function genesisHash(encoded: Uint8Array): Uint8Array {
  return sha256(concatBytes(GENESIS_DOMAIN, encoded));
}
