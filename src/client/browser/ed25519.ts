/**
 * Browser stand-in for src/crypto/ed25519.ts (libsodium through sodium-native, a Node addon that
 * cannot be bundled): the same exports, implemented with the SDK's pure-TypeScript Ed25519. A web
 * build aliases the node module to this one, so the ledger's transaction, block and proof code
 * (src/ledger/*) runs unchanged in the browser. Never imported by the node itself.
 *
 * Vite: resolve.alias [{ find: /^(.*)\/crypto\/ed25519\.js$/, replacement: '<root>/src/client/browser/ed25519.ts' }]
 */
import {
  generateKeyPair as generate,
  keyPairFromSeed as fromSeed,
  NobleSigner,
  PUBLIC_KEY_SIZE as PUBLIC,
  SEED_SIZE,
  SIGNATURE_SIZE as SIGNATURE,
  verifySignature,
  type KeyPair as SdkKeyPair,
} from '../keys.js';
import { randomBytes as random } from '../random.js';

export const PUBLIC_KEY_SIZE = PUBLIC;
export const SECRET_KEY_SIZE = SEED_SIZE;
export const SIGNATURE_SIZE = SIGNATURE;
export type KeyPair = SdkKeyPair;

export const generateKeyPair = generate;
export const keyPairFromSeed = fromSeed;
export const verify = verifySignature;
export const randomBytes = random;

export class Signer extends NobleSigner {}
