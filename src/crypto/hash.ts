import { hash } from 'node:crypto';

/** SHA-256, the one hash of the ledger (blocks, transactions, the RFC 9162 log). */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(hash('sha256', data, 'buffer'));
}

export const HASH_SIZE = 32;
