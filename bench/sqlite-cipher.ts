/**
 * What page encryption costs the vault's kind of workload (`node dist/bench/sqlite-cipher.js`):
 * transactions of 200 rows (a 700-byte blob and five random-keyed index rows each, like a version
 * and its search index rows) into a WAL database, then cold indexed point reads through a
 * deliberately small (2 MiB) page cache. Plain SQLite, ChaCha20-Poly1305 (the vault's scheme until
 * 2026-11-30) and AEGIS-256 (src/storage/sqlite/cipher.ts), interleaved, median of the rounds.
 */
import Database from 'better-sqlite3-multiple-ciphers';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataKey } from '../src/crypto/aead.js';
import { toHex } from '../src/crypto/bytes.js';
import { keyPragmas, type PageCipher } from '../src/storage/sqlite/cipher.js';
import { median, round } from './stats.js';

const TRANSACTIONS = 100;
const ROWS_PER_TRANSACTION = 200;
const READS = 20_000;
const ROUNDS = 3;

type Scheme = PageCipher | 'plain';

function open(path: string, scheme: Scheme, key: string): Database.Database {
  const db = new Database(path);
  if (scheme !== 'plain') for (const pragma of keyPragmas(scheme, key)) db.pragma(pragma);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

/** Microseconds per row written and per cold indexed read. */
function run(dir: string, scheme: Scheme): { writeUs: number; readUs: number } {
  const path = join(dir, `${scheme}-${Date.now()}.sqlite`);
  const key = toHex(generateDataKey());
  const db = open(path, scheme, key);
  db.exec('CREATE TABLE t (res INTEGER, k INTEGER, v BLOB); CREATE INDEX t_k ON t (k, res); CREATE INDEX t_res ON t (res, k)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?)');
  const blob = randomBytes(700);
  let res = 0;
  const started = performance.now();
  for (let t = 0; t < TRANSACTIONS; t++) {
    db.transaction(() => {
      for (let i = 0; i < ROWS_PER_TRANSACTION; i++) {
        res += 1;
        insert.run(res, Math.floor(Math.random() * 1e9), blob);
        for (let j = 0; j < 5; j++) insert.run(res, Math.floor(Math.random() * 1e9), null);
      }
    })();
  }
  const writeUs = ((performance.now() - started) * 1000) / res;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();

  const reader = open(path, scheme, key);
  reader.pragma('cache_size = -2048');
  const read = reader.prepare('SELECT v FROM t WHERE res = ? AND v IS NOT NULL');
  const readStarted = performance.now();
  for (let i = 0; i < READS; i++) read.get(1 + Math.floor(Math.random() * res));
  const readUs = ((performance.now() - readStarted) * 1000) / READS;
  reader.close();
  return { writeUs, readUs };
}

const dir = mkdtempSync(join(tmpdir(), 'medledger-bench-cipher-'));
try {
  const schemes: Scheme[] = ['plain', 'chacha20', 'aegis'];
  const samples = new Map(schemes.map((s) => [s, { write: [] as number[], read: [] as number[] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const scheme of schemes) {
      const { writeUs, readUs } = run(dir, scheme);
      samples.get(scheme)!.write.push(writeUs);
      samples.get(scheme)!.read.push(readUs);
    }
  }
  console.log(`${TRANSACTIONS * ROWS_PER_TRANSACTION} versions (+5 index rows each), ${READS} cold reads, median of ${ROUNDS}`);
  console.log('| pages | µs per version written | µs per cold indexed read |');
  console.log('|---|---:|---:|');
  for (const [scheme, s] of samples) console.log(`| ${scheme} | ${round(median(s.write), 1)} | ${round(median(s.read), 1)} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
