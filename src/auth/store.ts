/**
 * The authorization server's database (`auth.sqlite` in the data directory), encrypted as a whole
 * like the vault (SQLite3 Multiple Ciphers, src/storage/sqlite/cipher.ts) under a random 256-bit key
 * kept in the node keystore as `auth-db`.
 *
 * Tables:
 * - `accounts`: local login accounts. Clinicians are ledger practitioners (`prac_…`) of this node's
 *   organization; patients are a FHIR Patient id with its ledger pseudonym (`pat_…`). Passwords
 *   are stored only as scrypt hashes (memory-hard; N=2^15, r=8, p=1, 16-byte salt).
 * - `clients`: registered OAuth clients (public apps with redirect URIs, backend services with a
 *   JWK Set for private_key_jwt), as OpenID client metadata JSON.
 * - `oidc`: what the authorization server keeps between requests (sessions, interactions,
 *   authorization codes, grants, refresh tokens), with their expiry.
 * - `secrets`: the access-token signing key (an RSA private JWK; RS256) and the cookie signing keys.
 */
import Database from 'better-sqlite3-multiple-ciphers';
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyStore } from '../storage/ports.js';
import { openEncryptedDatabase } from '../storage/sqlite/encrypted.js';

export const AUTH_FILE = 'auth.sqlite';
export const AUTH_DB_KEY = 'auth-db';

export const authPaths = (dir: string) => ({ db: join(dir, AUTH_FILE) });

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('practitioner', 'patient')),
  username TEXT NOT NULL UNIQUE,
  password TEXT NOT NULL,
  patient TEXT,
  display TEXT NOT NULL,
  created INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  CHECK ((kind = 'patient') = (patient IS NOT NULL))
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clients (id TEXT PRIMARY KEY, metadata TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS oidc (
  model TEXT NOT NULL,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  grant_id TEXT,
  uid TEXT,
  user_code TEXT,
  expires_at INTEGER,
  PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (user_code) WHERE user_code IS NOT NULL;
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

export class AuthStoreError extends Error {}

export interface Account {
  readonly id: string;
  readonly kind: 'practitioner' | 'patient';
  readonly username: string;
  /** FHIR Patient id, for a patient account. */
  readonly patient?: string;
  /** The user's own FHIR resource (`Practitioner/…`, `Patient/…`) for the `fhirUser` claim. */
  readonly fhirUser?: string;
  readonly display: string;
  readonly disabled: boolean;
}

interface AccountRow {
  id: string;
  kind: 'practitioner' | 'patient';
  username: string;
  password: string;
  patient: string | null;
  fhir_user?: string | null;
  display: string;
  disabled: number;
}

const USERNAME = /^[a-z0-9][a-z0-9._@-]{1,63}$/;
const PASSWORD_KDF = { N: 2 ** 15, r: 8, p: 1 } as const;

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r };
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFC'), salt, 32, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p } = PASSWORD_KDF;
  const hash = await scrypt(password, salt, N, r, p);
  return ['scrypt', N, r, p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [name, N, r, p, salt, hash] = stored.split('$');
  if (name !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), Number(N), Number(r), Number(p));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash of a password nobody has, checked for unknown users so that timing does not tell them apart. */
const DUMMY_HASH = hashPassword(randomBytes(16).toString('hex'));

export class AuthStore {
  readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /** Opens (creating if needed) the auth database of a data directory; `readonly` beside a running node. */
  static open(dir: string, keystore: KeyStore, options: { readonly?: boolean } = {}): AuthStore {
    const { db: path } = authPaths(dir);
    const readonly = options.readonly ?? false;
    if (readonly && !existsSync(path)) throw new AuthStoreError(`${path} does not exist (start the node once first)`);
    const db = openEncryptedDatabase(path, keystore, AUTH_DB_KEY, { readonly });
    if (!readonly) {
      try {
        db.exec(SCHEMA);
        const columns = (db.prepare('PRAGMA table_info(accounts)').all() as { name: string }[]).map((c) => c.name);
        if (!columns.includes('fhir_user')) db.exec('ALTER TABLE accounts ADD COLUMN fhir_user TEXT');
      } catch (error) {
        db.close();
        throw error;
      }
    }
    return new AuthStore(db);
  }

  // --- accounts ---------------------------------------------------------------------------------

  async addAccount(input: {
    id: string;
    kind: 'practitioner' | 'patient';
    username: string;
    password: string;
    patient?: string;
    /** For a practitioner: their FHIR Practitioner resource, `Practitioner/{id}`. */
    fhirUser?: string;
    display: string;
  }): Promise<Account> {
    if (!USERNAME.test(input.username))
      throw new AuthStoreError(`invalid username "${input.username.slice(0, 64)}" (lowercase letters, digits, . _ @ -)`);
    if (input.password.length < 8) throw new AuthStoreError('a password has at least 8 characters');
    if (input.kind === 'practitioner' && !/^prac_[a-z0-9][a-z0-9-]{0,39}$/.test(input.id))
      throw new AuthStoreError(`invalid practitioner id "${input.id}"`);
    if (input.kind === 'patient' && (!/^pat_[a-z2-7]{26}$/.test(input.id) || input.patient === undefined))
      throw new AuthStoreError('a patient account needs a pat_ pseudonym and a FHIR Patient id');
    if (input.fhirUser !== undefined && !/^Practitioner\/[A-Za-z0-9\-.]{1,64}$/.test(input.fhirUser))
      throw new AuthStoreError('fhirUser must be Practitioner/{id}');
    const password = await hashPassword(input.password);
    try {
      this.db
        .prepare(
          'INSERT INTO accounts (id, kind, username, password, patient, fhir_user, display, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          input.id,
          input.kind,
          input.username,
          password,
          input.patient ?? null,
          input.patient !== undefined ? `Patient/${input.patient}` : (input.fhirUser ?? null),
          input.display,
          Date.now(),
        );
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT'))
        throw new AuthStoreError(`an account with id ${input.id} or username ${input.username} exists already`);
      throw error;
    }
    return this.account(input.id)!;
  }

  account(id: string): Account | undefined {
    const row = this.db.prepare('SELECT * FROM accounts WHERE id = ?').get(id) as AccountRow | undefined;
    return row && toAccount(row);
  }

  accountByUsername(username: string): Account | undefined {
    const row = this.db.prepare('SELECT * FROM accounts WHERE username = ?').get(username) as AccountRow | undefined;
    return row && toAccount(row);
  }

  accounts(): Account[] {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY kind, username').all() as AccountRow[]).map(toAccount);
  }

  /** The account for a username and password, or undefined (same work either way). */
  async login(username: string, password: string): Promise<Account | undefined> {
    const row = this.db.prepare('SELECT * FROM accounts WHERE username = ?').get(username) as AccountRow | undefined;
    const ok = await checkPassword(password, row?.password ?? (await DUMMY_HASH));
    return row && ok && row.disabled === 0 ? toAccount(row) : undefined;
  }

  setDisabled(id: string, disabled: boolean): void {
    this.db.prepare('UPDATE accounts SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, id);
  }

  // --- clients ----------------------------------------------------------------------------------

  putClient(metadata: { client_id: string } & Record<string, unknown>): void {
    // A backend service's tokens name it as their subject; it must never pass for an account.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(metadata.client_id) || /^(?:prac|pat|org|dev)_/.test(metadata.client_id))
      throw new AuthStoreError(
        `invalid client id "${metadata.client_id.slice(0, 64)}" (letters, digits, . _ -; not a participant id)`,
      );
    this.db
      .prepare(
        'INSERT INTO clients (id, metadata, created) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET metadata = excluded.metadata',
      )
      .run(metadata.client_id, JSON.stringify(metadata), Date.now());
  }

  client(id: string): ({ client_id: string } & Record<string, unknown>) | undefined {
    const row = this.db.prepare('SELECT metadata FROM clients WHERE id = ?').get(id) as { metadata: string } | undefined;
    return row && (JSON.parse(row.metadata) as { client_id: string } & Record<string, unknown>);
  }

  clients(): ({ client_id: string } & Record<string, unknown>)[] {
    return (this.db.prepare('SELECT metadata FROM clients ORDER BY id').all() as { metadata: string }[]).map(
      (r) => JSON.parse(r.metadata) as { client_id: string } & Record<string, unknown>,
    );
  }

  // --- secrets ----------------------------------------------------------------------------------

  secret(name: string): string | undefined {
    return (this.db.prepare('SELECT value FROM secrets WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  /** The secret, created by `make` and stored the first time. */
  secretOrCreate(name: string, make: () => string): string {
    const existing = this.secret(name);
    if (existing !== undefined) return existing;
    const value = make();
    this.db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)').run(name, value);
    return this.secret(name)!;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    kind: row.kind,
    username: row.username,
    ...(row.patient !== null && { patient: row.patient }),
    ...(typeof row.fhir_user === 'string'
      ? { fhirUser: row.fhir_user }
      : row.patient !== null && { fhirUser: `Patient/${row.patient}` }),
    display: row.display,
    disabled: row.disabled === 1,
  };
}
