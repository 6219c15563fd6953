/**
 * The node keystore: named Ed25519 seeds in one JSON file, each sealed with AES-256-GCM under a
 * key derived from the operator's passphrase with scrypt (memory-hard). The key name is the
 * associated data, so a sealed key cannot be moved under another name. Writes are atomic.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyStore } from './ports.js';

interface SealedKey {
  readonly nonce: string;
  readonly ciphertext: string;
  readonly tag: string;
  readonly created: string;
}

interface KeystoreFile {
  readonly version: 1;
  readonly kdf: { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };
  readonly keys: Record<string, SealedKey>;
}

const KDF = { N: 2 ** 15, r: 8, p: 1 } as const;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export class KeystoreError extends Error {}

export class FileKeyStore implements KeyStore {
  readonly #path: string;
  readonly #key: Buffer;
  #file: KeystoreFile;

  private constructor(path: string, file: KeystoreFile, key: Buffer) {
    this.#path = path;
    this.#file = file;
    this.#key = key;
  }

  static exists(path: string): boolean {
    return existsSync(path);
  }

  static create(path: string, passphrase: string): FileKeyStore {
    if (existsSync(path)) throw new KeystoreError(`a keystore already exists at ${path}`);
    if (passphrase.length < 12) throw new KeystoreError('the keystore passphrase must have at least 12 characters');
    const salt = randomBytes(16);
    const file: KeystoreFile = { version: 1, kdf: { name: 'scrypt', ...KDF, salt: salt.toString('base64') }, keys: {} };
    const store = new FileKeyStore(path, file, derive(passphrase, file));
    store.#save();
    return store;
  }

  static open(path: string, passphrase: string): FileKeyStore {
    let file: KeystoreFile;
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as KeystoreFile;
    } catch (error) {
      throw new KeystoreError(`cannot read keystore ${path}: ${(error as Error).message}`);
    }
    if (file.version !== 1 || file.kdf?.name !== 'scrypt') throw new KeystoreError('unsupported keystore format');
    const store = new FileKeyStore(path, file, derive(passphrase, file));
    // Prove the passphrase now rather than on first use.
    for (const name of store.names()) store.secretKey(name);
    return store;
  }

  names(): string[] {
    return Object.keys(this.#file.keys).sort();
  }

  created(name: string): string | undefined {
    return this.#file.keys[name]?.created;
  }

  secretKey(name: string): Uint8Array | undefined {
    const sealed = this.#file.keys[name];
    if (!sealed) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(sealed.nonce, 'base64'));
      decipher.setAAD(Buffer.from(name));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]));
    } catch {
      throw new KeystoreError('wrong keystore passphrase, or the keystore was altered');
    }
  }

  put(name: string, secretKey: Uint8Array): void {
    if (!NAME.test(name)) throw new KeystoreError(`invalid key name "${name}"`);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(name));
    const ciphertext = Buffer.concat([cipher.update(secretKey), cipher.final()]);
    const sealed: SealedKey = {
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      created: new Date().toISOString(),
    };
    this.#file = { ...this.#file, keys: { ...this.#file.keys, [name]: sealed } };
    this.#save();
  }

  delete(name: string): void {
    const { [name]: _removed, ...keys } = this.#file.keys;
    this.#file = { ...this.#file, keys };
    this.#save();
  }

  /**
   * Atomic and durable: the new file is written and fsynced beside the old one, renamed over it and
   * the directory fsynced, so after a power loss the keystore is the old or the new one, and a
   * caller that goes on (e.g. re-wrapping data keys under a KEK it just put) never relies on a key
   * that is not on disk yet.
   */
  #save(): void {
    const temp = `${this.#path}.tmp`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeFileSync(fd, `${JSON.stringify(this.#file, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.#path);
    const dir = openSync(dirname(this.#path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

function derive(passphrase: string, file: KeystoreFile): Buffer {
  const { N, r, p, salt } = file.kdf;
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(salt, 'base64'), 32, { N, r, p, maxmem: 256 * N * r });
}
