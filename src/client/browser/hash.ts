/**
 * Browser stand-in for src/crypto/hash.ts (which uses node:crypto): SHA-256 from @noble/hashes,
 * same exports. A web build aliases the node module to this one; see ./ed25519.ts.
 *
 * Vite: resolve.alias [{ find: /^(.*)\/crypto\/hash\.js$/, replacement: '<root>/src/client/browser/hash.ts' }]
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export const HASH_SIZE = 32;
