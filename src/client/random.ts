/**
 * Randomness for the client SDK: the platform CSPRNG (`crypto.getRandomValues`), which Node 20 and
 * every current browser provide as a global. No `node:crypto`, no libsodium, so it bundles for the web.
 */

/** getRandomValues fills at most 65,536 bytes per call. */
const MAX_CHUNK = 65_536;

export function randomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be a non-negative integer');
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + MAX_CHUNK)));
  }
  return out;
}
