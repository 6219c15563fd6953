/** Worker side of VerifyPool: unpacks a batch and answers one byte per signature. */
import { parentPort } from 'node:worker_threads';
import { verify } from './ed25519.js';

parentPort!.on('message', ({ id, packed, count }: { id: number; packed: Uint8Array; count: number }) => {
  const valid = new Uint8Array(count);
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(offset);
    const message = packed.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    valid[i] = verify(packed.subarray(offset, offset + 64), message, packed.subarray(offset + 64, offset + 96)) ? 1 : 0;
    offset += 96;
  }
  parentPort!.postMessage({ id, valid }, [valid.buffer]);
});
