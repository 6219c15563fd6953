/**
 * Random bytes for data keys and nonces, from the OS CSPRNG (crypto.randomFillSync) drawn in
 * 16 KiB blocks: one system call per block instead of one per key or nonce, which showed in the
 * vault's write path (three draws per version). Bytes handed out are wiped from the block, so
 * key material is never left behind in it. Node's own randomUUID buffers the same way.
 */
import { randomFillSync } from 'node:crypto';

const BLOCK = Buffer.alloc(16 * 1024);
let used = BLOCK.length;

/** Fills `target` with fresh random bytes. */
export function fillRandom(target: Uint8Array): Uint8Array {
  if (target.length > BLOCK.length) return randomFillSync(target);
  if (used + target.length > BLOCK.length) {
    randomFillSync(BLOCK);
    used = 0;
  }
  target.set(BLOCK.subarray(used, used + target.length));
  BLOCK.fill(0, used, used + target.length);
  used += target.length;
  return target;
}
