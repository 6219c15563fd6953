/**
 * Binary resources whose bytes live in a vault content file (raw uploads, see rest/binary.ts) as
 * FHIR shows them. The stored version carries the sealed content reference and no `data`; it is
 * never served as is: FHIR JSON gets an ordinary Binary with `data` (base64, read whole), a raw
 * download gets the bytes streamed — both only after the file is checked against the reference.
 */
import type { Readable } from 'node:stream';
import { ContentRefError, contentRefOf, withoutContentRef, type ContentRef } from '../vault/content-ref.js';
import { ContentIntegrityError, openCiphertext, type ContentStore } from '../vault/content-store.js';
import { IntegrityError, type JsonObject } from '../vault/vault.js';
import { FhirError } from './outcome.js';

/** Largest attachment, raw or as a Binary's base64 `data`. */
export const MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024;

/** The 413 OperationOutcome of an attachment over the limit, raw or as `data`. */
export const attachmentTooLarge = (): FhirError =>
  FhirError.of(413, 'too-costly', `attachments are limited to ${MAX_ATTACHMENT_BYTES} bytes`);

/**
 * A Binary posted as FHIR JSON keeps `data` up to this size inline in its sealed version; larger
 * bytes go to a content file like a raw upload's, so the vault database never holds megabytes of
 * base64 and raw reads of them stream.
 */
export const INLINE_DATA_MAX_BYTES = 64 * 1024;

/** The version a resource was read from, as an IntegrityError names it. */
export interface ReadAddress {
  readonly type: string;
  readonly id: string;
  readonly record: string;
  readonly version: number;
}

/** A Binary's bytes ready to send: checked, not yet read (a content file) or already in memory. */
export interface RawContent {
  /** The resource without its content reference (and without `data`). */
  readonly resource: JsonObject;
  readonly contentType: string;
  readonly size: number;
  readonly body: Readable | Buffer;
}

function refOf(at: ReadAddress, resource: JsonObject) {
  try {
    return contentRefOf(resource);
  } catch (error) {
    if (error instanceof ContentRefError) throw new IntegrityError(at, error.message);
    throw error;
  }
}

/** The stored resource as FHIR JSON: content from a file is inlined as `data`, the reference removed. */
export function presented(contents: ContentStore, at: ReadAddress, resource: JsonObject): JsonObject {
  return inlined(at, resource, (ref) => contents.plaintextSync(ref));
}

/**
 * A version received from another custodian (record exchange) with the ciphertext of the content
 * file it references: checked against the sealed reference and inlined like {@link presented}.
 */
export function receivedWith(at: ReadAddress, resource: JsonObject, ciphertext: Uint8Array | undefined): JsonObject {
  if (ciphertext !== undefined && refOf(at, resource) === undefined)
    throw new IntegrityError(at, 'content came with a version that references none');
  return inlined(at, resource, (ref) => {
    if (ciphertext === undefined) throw new ContentIntegrityError('the content is missing');
    return openCiphertext(ref, ciphertext);
  });
}

function inlined(at: ReadAddress, resource: JsonObject, plaintext: (ref: ContentRef) => Buffer): JsonObject {
  const ref = refOf(at, resource);
  if (ref === undefined) return resource;
  let bytes: Buffer;
  try {
    bytes = plaintext(ref);
  } catch (error) {
    if (error instanceof ContentIntegrityError) throw new IntegrityError(at, error.message);
    throw error;
  }
  return { ...withoutContentRef(resource), data: bytes.toString('base64') };
}

/**
 * A stored Binary's bytes for a raw download. Content in a file is first checked against the
 * sealed hash (one streaming pass), then streamed decrypted (a second pass); IntegrityError before
 * any byte otherwise. Inline `data` (Binaries posted as JSON) is decoded.
 */
export async function rawContent(contents: ContentStore, at: ReadAddress, resource: JsonObject): Promise<RawContent> {
  const contentType = String(resource['contentType']);
  const ref = refOf(at, resource);
  if (ref === undefined) {
    const { data, ...rest } = resource;
    const body = Buffer.from(typeof data === 'string' ? data : '', 'base64');
    return { resource: rest, contentType, size: body.length, body };
  }
  if (!(await contents.matches(ref))) throw new IntegrityError(at, 'the content file does not match its sealed hash');
  return { resource: withoutContentRef(resource), contentType, size: ref.size, body: contents.plaintext(ref) };
}
