/**
 * Content too large for the vault database (attachments up to 20 MB) as files in
 * `<dataDir>/content/`, each named by a random content id (never by anything about the record)
 * and encrypted under its own fresh key in chunks (crypto/secretstream.ts). Nothing is buffered
 * whole on the way in or out: a write streams its source into a temp file, hashing the ciphertext
 * as it goes, then fsyncs and renames it into place; a read streams the file back decrypted.
 *
 * A content file is meaningful only through the reference sealed inside a vault version
 * (content-ref.ts); the vault database indexes which version holds which content id, so files no
 * version holds (an upload cut short by a crash) are swept when the vault opens.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateDataKey } from '../crypto/aead.js';
import { equalBytes } from '../crypto/bytes.js';
import { openStream, RECORD_SIZE, StreamOpener, StreamSealer } from '../crypto/secretstream.js';
import { CONTENT_ID, type ContentLocation, type ContentRef } from './content-ref.js';

export const CONTENT_DIR = 'content';
const TEMP_SUFFIX = '.tmp';

/** The source gave more than the limit; nothing was kept. */
export class ContentTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`content is limited to ${limit} bytes`);
  }
}

/** The content file is missing, does not match its reference, or does not decrypt. */
export class ContentIntegrityError extends Error {}

export class ContentStore {
  readonly dir: string;

  /** Opening creates nothing: an audit may open the store of a data directory read-only. */
  constructor(dataDir: string) {
    this.dir = join(dataDir, CONTENT_DIR);
  }

  #path(id: string): string {
    if (!CONTENT_ID.test(id)) throw new RangeError('invalid content id');
    return join(this.dir, id);
  }

  /**
   * Encrypts `source` into a new content file, durable (fsynced, renamed, directory fsynced) when
   * this resolves. Throws ContentTooLarge past `limit` plaintext bytes; on any failure (including
   * the source failing, e.g. a client gone mid-upload) the temp file is removed.
   */
  async write(source: AsyncIterable<Uint8Array>, limit: number): Promise<ContentRef> {
    const id = randomBytes(16).toString('hex');
    const path = this.#path(id);
    const temp = path + TEMP_SUFFIX;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const key = generateDataKey();
    const sealer = new StreamSealer(key);
    const hash = createHash('sha256');
    const file = await open(temp, 'wx', 0o600);
    let size = 0;
    try {
      const put = async (ciphertext: Buffer): Promise<void> => {
        if (ciphertext.length === 0) return;
        hash.update(ciphertext);
        await file.write(ciphertext);
      };
      for await (const chunk of source) {
        size += chunk.length;
        if (size > limit) throw new ContentTooLarge(limit);
        await put(sealer.update(chunk));
      }
      await put(sealer.final());
      await file.sync();
      await file.close();
      await rename(temp, path);
      this.#syncDir();
      return { id, size, sha256: new Uint8Array(hash.digest()), key };
    } catch (error) {
      await file.close().catch(() => undefined);
      await rm(temp, { force: true });
      key.fill(0);
      throw error;
    }
  }

  /** Whether the file exists and its ciphertext hashes to the reference (one streaming pass). */
  async matches(location: ContentLocation): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(this.#path(location.id), { highWaterMark: RECORD_SIZE })) hash.update(chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    return equalBytes(new Uint8Array(hash.digest()), location.sha256);
  }

  /** {@link matches} without leaving the thread: for the synchronous audits (vault/check.ts). */
  matchesSync(location: ContentLocation): boolean {
    const ciphertext = this.#readSync(location.id);
    return ciphertext !== undefined && equalBytes(sha256Of(ciphertext), location.sha256);
  }

  /**
   * The plaintext, streamed: check {@link matches} first — this stream fails (mid-way) on
   * anything that does not decrypt, including a truncated file or a size other than the
   * reference's.
   */
  plaintext(ref: ContentRef): Readable {
    const path = this.#path(ref.id);
    async function* decrypt(): AsyncGenerator<Buffer> {
      const opener = new StreamOpener(ref.key);
      let size = 0;
      for await (const chunk of createReadStream(path, { highWaterMark: RECORD_SIZE })) {
        const out = opener.update(chunk as Buffer);
        size += out.length;
        if (out.length > 0) yield out;
      }
      const last = opener.final();
      size += last.length;
      if (size !== ref.size) throw new ContentIntegrityError('the content has another size than its reference');
      if (last.length > 0) yield last;
    }
    return Readable.from(decrypt(), { objectMode: false });
  }

  /** The ciphertext whole, checked against the reference (record exchange sends it as is). */
  ciphertextSync(location: ContentLocation): Buffer {
    const ciphertext = this.#readSync(location.id);
    if (ciphertext === undefined) throw new ContentIntegrityError('the content file is missing');
    if (!equalBytes(sha256Of(ciphertext), location.sha256))
      throw new ContentIntegrityError('the content file does not match its reference');
    return ciphertext;
  }

  /** The plaintext whole, checked and decrypted (FHIR JSON inlines it as base64). */
  plaintextSync(ref: ContentRef): Buffer {
    const ciphertext = this.#readSync(ref.id);
    if (ciphertext === undefined) throw new ContentIntegrityError('the content file is missing');
    return openCiphertext(ref, ciphertext);
  }

  /** Deletes a content file (idempotent). */
  remove(id: string): void {
    rmSync(this.#path(id), { force: true });
  }

  /** Deletes temp files and every content file `held` does not claim; returns how many. */
  sweep(held: (id: string) => boolean): number {
    let removed = 0;
    if (!existsSync(this.dir)) return 0;
    for (const name of readdirSync(this.dir)) {
      if (CONTENT_ID.test(name) && held(name)) continue;
      rmSync(join(this.dir, name), { force: true, recursive: true });
      removed += 1;
    }
    return removed;
  }

  #readSync(id: string): Buffer | undefined {
    let fd: number;
    try {
      fd = openSync(this.#path(id), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const chunks: Buffer[] = [];
      for (;;) {
        const chunk = Buffer.alloc(1 << 20);
        const n = readSync(fd, chunk);
        if (n === 0) return Buffer.concat(chunks);
        chunks.push(chunk.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }

  #syncDir(): void {
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

const sha256Of = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest());

/**
 * Content ciphertext received whole (record exchange) checked against its reference and
 * decrypted. ContentIntegrityError if it does not match.
 */
export function openCiphertext(ref: ContentRef, ciphertext: Uint8Array): Buffer {
  if (!equalBytes(sha256Of(ciphertext), ref.sha256)) throw new ContentIntegrityError('the content does not match its reference');
  let plaintext: Buffer;
  try {
    plaintext = openStream(ref.key, ciphertext);
  } catch {
    throw new ContentIntegrityError('the content does not decrypt');
  }
  if (plaintext.length !== ref.size) throw new ContentIntegrityError('the content has another size than its reference');
  return plaintext;
}
