/** Page encryption of the node's SQLite databases: AEGIS for new ones, ChaCha20 ones still open. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { generateDataKey } from '../src/crypto/aead.js';
import { toHex } from '../src/crypto/bytes.js';
import { keyPragmas, openEncryptedSqlite, WrongKeyError } from '../src/storage/sqlite/cipher.js';
import { tempDir } from './support/fixtures.js';

const MARKER = 'plaintext-marker-7f3a9c';

/** Writes one row holding MARKER and checkpoints, so the main file holds every page. */
function fill(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v TEXT)');
  db.prepare('INSERT INTO t (v) VALUES (?)').run(MARKER);
  db.pragma('wal_checkpoint(TRUNCATE)');
}

describe('encrypted SQLite databases', () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('a new database is encrypted with AEGIS: no plaintext on disk, reopened with the same key', () => {
    const path = join(dir.path, 'new.sqlite');
    const key = generateDataKey();
    const created = openEncryptedSqlite(path, key);
    assert.equal(created.cipher, 'aegis');
    fill(created.db);
    created.db.close();
    const bytes = readFileSync(path);
    assert.equal(bytes.includes(MARKER), false);
    assert.equal(bytes.subarray(0, 15).toString('latin1') === 'SQLite format 3', false);
    const reopened = openEncryptedSqlite(path, key, { readonly: true });
    assert.equal(reopened.cipher, 'aegis');
    assert.equal(reopened.db.prepare('SELECT v FROM t').pluck().get(), MARKER);
    reopened.db.close();
  });

  it('a database made with ChaCha20 (before AEGIS) still opens, with its own scheme', () => {
    const path = join(dir.path, 'legacy.sqlite');
    const key = generateDataKey();
    const legacy = new Database(path);
    for (const pragma of keyPragmas('chacha20', toHex(key))) legacy.pragma(pragma);
    fill(legacy);
    legacy.close();
    assert.equal(readFileSync(path).includes(MARKER), false);
    const opened = openEncryptedSqlite(path, key);
    assert.equal(opened.cipher, 'chacha20');
    assert.equal(opened.db.prepare('SELECT v FROM t').pluck().get(), MARKER);
    opened.db.close();
  });

  it('a wrong key opens nothing and leaves the file as it was', () => {
    const path = join(dir.path, 'wrong.sqlite');
    const created = openEncryptedSqlite(path, generateDataKey());
    fill(created.db);
    created.db.close();
    const before = readFileSync(path);
    assert.throws(() => openEncryptedSqlite(path, generateDataKey()), WrongKeyError);
    assert.deepEqual(readFileSync(path), before);
  });
});
