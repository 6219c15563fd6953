/**
 * Chunked authenticated encryption of large content: libsodium's secretstream
 * (XChaCha20-Poly1305), which authenticates every chunk, their order, and the end of the stream
 * (the last chunk carries the FINAL tag, so truncation is detected). A fresh key per content.
 *
 * Stream layout: version (1) ‖ secretstream header (24) ‖ records, each a chunk of at most
 * CHUNK_SIZE plaintext bytes sealed with ABYTES (17) of overhead. Every record but the last holds
 * exactly CHUNK_SIZE bytes and the last (possibly empty) is tagged FINAL, so no lengths are stored.
 */
import sodium from 'sodium-native';
import { DATA_KEY_SIZE, DecryptionError } from './aead.js';

const P = 'crypto_secretstream_xchacha20poly1305_';
const VERSION = 1;
/** Plaintext bytes per record. */
export const CHUNK_SIZE = 64 * 1024;
const ABYTES: number = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const HEADER_SIZE: number = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
/** Bytes before the first record. */
export const STREAM_HEADER_SIZE = 1 + HEADER_SIZE;
/** Bytes of a full record. */
export const RECORD_SIZE = CHUNK_SIZE + ABYTES;

/** The secretstream calls as sodium-native 5 exposes them (its bundled typings disagree). */
interface SecretStream {
  init_push(state: Buffer, header: Buffer, key: Buffer): void;
  push(state: Buffer, ciphertext: Buffer, message: Buffer, ad: Buffer | null, tag: number): number;
  init_pull(state: Buffer, header: Buffer, key: Buffer): void;
  pull(state: Buffer, message: Buffer, tag: Buffer, ciphertext: Buffer, ad: Buffer | null): number;
  STATEBYTES: number;
  TAG_MESSAGE: number;
  TAG_FINAL: number;
}
const api = Object.fromEntries(
  Object.entries(sodium as unknown as Record<string, unknown>)
    .filter(([name]) => name.startsWith(P))
    .map(([name, value]) => [name.slice(P.length), value]),
) as unknown as SecretStream;

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function checkKey(key: Uint8Array): void {
  if (key.length !== DATA_KEY_SIZE) throw new RangeError(`key must be ${DATA_KEY_SIZE} bytes`);
}

/**
 * Encrypts a byte stream: feed plaintext in any pieces with `update`, then `final`. Each returns
 * the ciphertext ready so far (the first call includes the stream header).
 */
export class StreamSealer {
  readonly #state = Buffer.alloc(api.STATEBYTES);
  #pending: Buffer[] = [];
  #pendingLength = 0;
  #header: Buffer | undefined;
  #done = false;

  constructor(key: Uint8Array) {
    checkKey(key);
    const header = Buffer.alloc(STREAM_HEADER_SIZE);
    header[0] = VERSION;
    api.init_push(this.#state, header.subarray(1), asBuffer(key));
    this.#header = header;
  }

  update(plaintext: Uint8Array): Buffer {
    if (this.#done) throw new Error('the stream is already final');
    this.#pending.push(asBuffer(plaintext));
    this.#pendingLength += plaintext.length;
    const out: Buffer[] = this.#takeHeader();
    // Full chunks are sealed as soon as one more byte shows they are not the last.
    while (this.#pendingLength > CHUNK_SIZE) out.push(this.#seal(this.#take(CHUNK_SIZE), api.TAG_MESSAGE));
    return Buffer.concat(out);
  }

  final(): Buffer {
    if (this.#done) throw new Error('the stream is already final');
    this.#done = true;
    const out = this.#takeHeader();
    if (this.#pendingLength === CHUNK_SIZE) out.push(this.#seal(this.#take(CHUNK_SIZE), api.TAG_MESSAGE));
    out.push(this.#seal(this.#take(this.#pendingLength), api.TAG_FINAL));
    this.#state.fill(0);
    return Buffer.concat(out);
  }

  #takeHeader(): Buffer[] {
    const header = this.#header;
    this.#header = undefined;
    return header ? [header] : [];
  }

  #take(length: number): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = length < all.length ? [all.subarray(length)] : [];
    this.#pendingLength -= length;
    return all.subarray(0, length);
  }

  #seal(chunk: Buffer, tag: number): Buffer {
    const ciphertext = Buffer.alloc(chunk.length + ABYTES);
    api.push(this.#state, ciphertext, chunk, null, tag);
    return ciphertext;
  }
}

/**
 * Decrypts a stream made by {@link StreamSealer}, fed in any pieces. Throws DecryptionError on a
 * wrong key, any altered, reordered or missing record, data after the FINAL record, or (at
 * `final`) a stream cut short.
 */
export class StreamOpener {
  readonly #key: Buffer;
  #state: Buffer | undefined;
  #pending: Buffer = Buffer.alloc(0);
  #finished = false;

  constructor(key: Uint8Array) {
    checkKey(key);
    this.#key = Buffer.from(key);
  }

  update(ciphertext: Uint8Array): Buffer {
    this.#pending = this.#pending.length === 0 ? Buffer.from(asBuffer(ciphertext)) : Buffer.concat([this.#pending, ciphertext]);
    const out: Buffer[] = [];
    if (!this.#state) {
      if (this.#pending.length < STREAM_HEADER_SIZE) return Buffer.alloc(0);
      this.#start(this.#pending.subarray(0, STREAM_HEADER_SIZE));
      this.#pending = this.#pending.subarray(STREAM_HEADER_SIZE);
    }
    // A full record is only known not to be the last once a byte follows it.
    while (this.#pending.length > RECORD_SIZE) {
      out.push(this.#open(this.#pending.subarray(0, RECORD_SIZE)));
      this.#pending = this.#pending.subarray(RECORD_SIZE);
    }
    return Buffer.concat(out);
  }

  final(): Buffer {
    if (!this.#state) throw new DecryptionError('the content is truncated');
    const last = this.#pending.length > 0 ? this.#open(this.#pending) : Buffer.alloc(0);
    this.#pending = Buffer.alloc(0);
    this.#key.fill(0);
    if (!this.#finished) throw new DecryptionError('the content is truncated');
    return last;
  }

  #start(header: Buffer): void {
    if (header[0] !== VERSION) throw new DecryptionError(`unknown content version ${header[0]}`);
    this.#state = Buffer.alloc(api.STATEBYTES);
    api.init_pull(this.#state, header.subarray(1), this.#key);
  }

  #open(record: Buffer): Buffer {
    if (this.#finished) throw new DecryptionError('data follows the end of the content');
    if (record.length < ABYTES) throw new DecryptionError('the content is truncated');
    const plaintext = Buffer.alloc(record.length - ABYTES);
    const tag = Buffer.alloc(1);
    try {
      api.pull(this.#state!, plaintext, tag, record, null);
    } catch {
      throw new DecryptionError('the content does not authenticate');
    }
    if (tag[0] === api.TAG_FINAL) this.#finished = true;
    else if (tag[0] !== api.TAG_MESSAGE) throw new DecryptionError('unexpected record tag');
    return plaintext;
  }
}

/** Whole-buffer helpers (small content, tests). */
export function sealStream(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const sealer = new StreamSealer(key);
  return Buffer.concat([sealer.update(plaintext), sealer.final()]);
}

export function openStream(key: Uint8Array, ciphertext: Uint8Array): Buffer {
  const opener = new StreamOpener(key);
  return Buffer.concat([opener.update(ciphertext), opener.final()]);
}
