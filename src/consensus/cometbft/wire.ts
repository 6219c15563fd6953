/**
 * ABCI socket framing (CometBFT v0.38): every message is a protobuf `Request` or `Response`
 * preceded by its length as an unsigned varint. The protobuf codec is cosmjs-types; this module
 * only cuts the byte stream into messages.
 */
import { Request, Response } from 'cosmjs-types/tendermint/abci/types';

/** Largest message accepted from CometBFT (a block of transactions fits well below). */
export const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

export class FrameError extends Error {}

export function encodeUvarint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** Reads an unsigned varint at `offset`: [value, bytes used], or undefined if incomplete. */
export function decodeUvarint(buf: Uint8Array, offset: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (offset + i >= buf.length) return undefined;
    const byte = buf[offset + i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) throw new FrameError('message length overflows');
      return [value, i + 1];
    }
    scale *= 0x80;
  }
  throw new FrameError('message length varint is too long');
}

/** Accumulates socket chunks and yields complete messages. */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Uint8Array[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const messages: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const header = decodeUvarint(this.#buffer, offset);
      if (!header) break;
      const [length, used] = header;
      if (length > MAX_MESSAGE_BYTES) throw new FrameError(`message of ${length} bytes exceeds the limit`);
      if (offset + used + length > this.#buffer.length) break;
      messages.push(this.#buffer.subarray(offset + used, offset + used + length));
      offset += used + length;
    }
    this.#buffer = offset === this.#buffer.length ? Buffer.alloc(0) : this.#buffer.subarray(offset);
    return messages;
  }
}

export function decodeRequest(bytes: Uint8Array): Request {
  return Request.decode(bytes);
}

export function encodeResponse(response: Response): Uint8Array {
  const body = Response.encode(Response.fromPartial(response)).finish();
  const prefix = encodeUvarint(body.length);
  const framed = new Uint8Array(prefix.length + body.length);
  framed.set(prefix);
  framed.set(body, prefix.length);
  return framed;
}

export function encodeRequest(request: Request): Uint8Array {
  const body = Request.encode(Request.fromPartial(request)).finish();
  const prefix = encodeUvarint(body.length);
  const framed = new Uint8Array(prefix.length + body.length);
  framed.set(prefix);
  framed.set(body, prefix.length);
  return framed;
}

export function decodeResponse(bytes: Uint8Array): Response {
  return Response.decode(bytes);
}
