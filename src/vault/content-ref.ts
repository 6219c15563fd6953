/**
 * The reference from a sealed record version to content kept outside the vault database (an
 * attachment's bytes, see content-store.ts): which file, its plaintext size, the SHA-256 of its
 * ciphertext and the content key. It lives only inside the version's encrypted JSON, so the
 * ledger commitment of the version commits the content too, and shredding the version shreds the
 * content key.
 *
 * The field name is not a possible FHIR element name (those match [a-z][A-Za-z0-9]*), so it can
 * never collide with client data; clients that send it are refused (see the FHIR repository).
 */
import { DATA_KEY_SIZE } from '../crypto/aead.js';
import { fromBase64, toBase64 } from '../crypto/bytes.js';
import { HASH_SIZE } from '../crypto/hash.js';

export const CONTENT_FIELD = 'medledger-content';
/** Content ids: 128 random bits in hex, the file name in the content directory. */
export const CONTENT_ID = /^[0-9a-f]{32}$/;

export interface ContentRef {
  readonly id: string;
  /** Plaintext bytes. */
  readonly size: number;
  /** SHA-256 of the content file (ciphertext). */
  readonly sha256: Uint8Array;
  /** The content's secretstream key. */
  readonly key: Uint8Array;
}

/** Where content is stored, without the key: what the vault database indexes for checks and erasure. */
export type ContentLocation = Omit<ContentRef, 'key'>;

/** A reference that does not parse: the version it came from is damaged. */
export class ContentRefError extends Error {}

export function contentRefToJson(ref: ContentRef): Record<string, unknown> {
  return { id: ref.id, size: ref.size, sha256: toBase64(ref.sha256), key: toBase64(ref.key) };
}

/** The content reference of a stored resource, if it has one. */
export function contentRefOf(resource: Record<string, unknown>): ContentRef | undefined {
  const value = resource[CONTENT_FIELD];
  if (value === undefined) return undefined;
  const v = value as Record<string, unknown> | null;
  const sha256 = typeof v?.['sha256'] === 'string' ? fromBase64(v['sha256']) : undefined;
  const key = typeof v?.['key'] === 'string' ? fromBase64(v['key']) : undefined;
  const id = v?.['id'];
  const size = v?.['size'];
  if (
    typeof id !== 'string' ||
    !CONTENT_ID.test(id) ||
    typeof size !== 'number' ||
    !Number.isSafeInteger(size) ||
    size < 0 ||
    sha256?.length !== HASH_SIZE ||
    key?.length !== DATA_KEY_SIZE
  )
    throw new ContentRefError('the content reference is malformed');
  return { id, size, sha256, key };
}

/** The resource without its content reference. */
export function withoutContentRef<T extends Record<string, unknown>>(resource: T): T {
  if (!(CONTENT_FIELD in resource)) return resource;
  const { [CONTENT_FIELD]: _ref, ...rest } = resource;
  return rest as T;
}
