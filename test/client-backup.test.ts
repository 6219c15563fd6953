/**
 * Key backups and recovery codes of the client SDK: the backup format round-trips, every tampered
 * or foreign backup and every wrong secret is a typed error (never a throw, never a wrong key),
 * hostile KDF parameters are refused before any work, and recovery-code typos are caught by the
 * checksum. KDF parameters are tiny here (explicitly allowed) except in one production-defaults test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createKeyBackup,
  encodeKeyBackup,
  openKeyBackup,
  parseKeyBackup,
  PATIENT_ID,
  type KeyBackup,
} from '../src/client/backup.js';
import { base64urlOf, bytesOfBase64url, bytesOfHex, hexOf } from '../src/client/encoding.js';
import { randomPseudonym } from '../src/client/identity.js';
import { checkKdfBounds, DEFAULT_KDF, DEFAULT_LIMITS, type Argon2idParams } from '../src/client/kdf.js';
import { generateKeyPair, keyPairFromSeed, type KeyPair } from '../src/client/keys.js';
import { formatRecoveryCode, generateRecoveryCode, parseRecoveryCode } from '../src/client/recovery-code.js';
import { createRecoveryKit, recoverKey } from '../src/client/recovery.js';
import { ID_PATTERNS } from '../src/ledger/payloads/participant.js';

const FAST: Argon2idParams = { alg: 'argon2id', memoryKiB: 64, passes: 1, parallelism: 1 };
const fast = { kdf: FAST, allowWeakKdf: true } as const;
const PASS = 'correct horse battery staple';
const OPEN_FAILURES = new Set([
  'backup.cannot_open',
  'backup.malformed',
  'backup.unsupported',
  'backup.kdf_out_of_bounds',
  'backup.wrong_key',
]);

async function backupOf(patient: string, pair: KeyPair, passphrase = PASS): Promise<KeyBackup> {
  const made = await createKeyBackup(patient, pair, { passphrase }, fast);
  assert.ok(made.ok, made.ok ? '' : made.error.message);
  return made.value;
}

type Json = Record<string, unknown>;
const member = (j: Json, name: string): Json => j[name] as Json;
const str = (value: unknown): string => value as string;

/** Applies `edit` to the JSON form of a backup and reads it back. */
function edited(backup: KeyBackup, edit: (json: Json) => void): string {
  const json = JSON.parse(encodeKeyBackup(backup));
  edit(json);
  return JSON.stringify(json);
}

function flipBit(
  text: string,
  bit: number,
  decode: (s: string) => Uint8Array | undefined,
  encode: (b: Uint8Array) => string,
): string {
  const bytes = decode(text)!;
  bytes[Math.floor(bit / 8) % bytes.length]! ^= 1 << (bit % 8);
  return encode(bytes);
}

const passphrase = fc
  .string({ unit: 'grapheme', minLength: 10, maxLength: 40 })
  .filter((s) => [...s.normalize('NFKC')].length >= 10);
const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('key backup format', () => {
  it('round-trips: create, encode, parse, open gives the same key pair', async () => {
    await fc.assert(
      fc.asyncProperty(seed, passphrase, async (s, pass) => {
        const pair = keyPairFromSeed(s);
        const patient = randomPseudonym('pat');
        const backup = await backupOf(patient, pair, pass);
        const text = encodeKeyBackup(backup);
        const parsed = parseKeyBackup(text);
        assert.ok(parsed.ok);
        assert.deepEqual(parsed.value, backup);
        assert.equal(encodeKeyBackup(parsed.value), text);
        const opened = await openKeyBackup(parsed.value, { passphrase: pass }, { patient, publicKey: pair.publicKey });
        assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
        assert.deepEqual(opened.value, pair);
        assert.ok(!text.includes(hexOf(s)) && !text.includes(base64urlOf(s)), 'the seed must not appear in the backup');
      }),
      { numRuns: 25 },
    );
  });

  it('states its format, version and KDF parameters; salt and nonce are fresh per backup', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const a = JSON.parse(encodeKeyBackup(await backupOf(patient, pair)));
    const b = JSON.parse(encodeKeyBackup(await backupOf(patient, pair)));
    assert.equal(a.format, 'medledger.key-backup');
    assert.equal(a.v, 1);
    assert.deepEqual(
      { ...a.kdf, salt: undefined },
      { alg: 'argon2id', version: 19, memoryKiB: 64, passes: 1, parallelism: 1, salt: undefined },
    );
    assert.equal(a.aead.alg, 'xchacha20poly1305');
    assert.notEqual(a.kdf.salt, b.kdf.salt);
    assert.notEqual(a.aead.nonce, b.aead.nonce);
    assert.notEqual(a.ciphertext, b.ciphertext);
  });

  it('opens with production defaults (Argon2id m=64 MiB, t=3, p=1)', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const made = await createKeyBackup(patient, pair, { passphrase: PASS });
    assert.ok(made.ok);
    assert.deepEqual({ ...made.value.kdf, salt: undefined }, { ...DEFAULT_KDF, salt: undefined });
    const opened = await openKeyBackup(made.value, { passphrase: PASS }, { patient });
    assert.ok(opened.ok);
    assert.deepEqual(opened.value.publicKey, pair.publicKey);
  });

  it('refuses weak passphrases, weak KDF parameters for new backups, and a key pair that does not match', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const short = await createKeyBackup(patient, pair, { passphrase: 'short' }, fast);
    assert.ok(!short.ok && short.error.code === 'backup.weak_passphrase');
    const weak = await createKeyBackup(patient, pair, { passphrase: PASS }, { kdf: FAST });
    assert.ok(!weak.ok && weak.error.code === 'backup.kdf_out_of_bounds');
    const mismatched = await createKeyBackup(
      patient,
      { ...pair, publicKey: generateKeyPair().publicKey },
      { passphrase: PASS },
      fast,
    );
    assert.ok(!mismatched.ok && mismatched.error.code === 'backup.wrong_key');
    const notPatient = await createKeyBackup('prac_someone', pair, { passphrase: PASS }, fast);
    assert.ok(!notPatient.ok && notPatient.error.code === 'backup.malformed');
  });

  it('normalizes the passphrase (NFKC): composed and decomposed forms open the same backup', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const backup = await backupOf(patient, pair, 'Crème brûlée ﬁne');
    const opened = await openKeyBackup(backup, { passphrase: 'Cre\u0300me bru\u0302le\u0301e fine' }, { patient });
    assert.ok(opened.ok);
  });

  it('uses the same patient pseudonym syntax as the ledger', () => {
    assert.equal(PATIENT_ID.source, ID_PATTERNS.patient.source);
  });
});

describe('key backup: wrong secrets, foreign and tampered backups are typed errors', () => {
  it('wrong passphrase, wrong patient, wrong expected key, wrong kind of secret', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const backup = await backupOf(patient, pair);
    const wrong = await openKeyBackup(backup, { passphrase: PASS + '!' }, { patient });
    assert.ok(!wrong.ok && wrong.error.code === 'backup.cannot_open');
    const other = await openKeyBackup(backup, { passphrase: PASS }, { patient: randomPseudonym('pat') });
    assert.ok(!other.ok && other.error.code === 'backup.wrong_patient');
    const key = await openKeyBackup(backup, { passphrase: PASS }, { patient, publicKey: generateKeyPair().publicKey });
    assert.ok(!key.ok && key.error.code === 'backup.wrong_key');
    const kind = await openKeyBackup(backup, { recoveryCode: new Uint8Array(16) }, { patient });
    assert.ok(!kind.ok && kind.error.code === 'backup.unsupported');
    for (const result of [wrong, other, key, kind]) assert.ok(!result.ok && !result.error.message.includes(PASS));
  });

  it('a backup relabelled for another patient (pseudonym and expectation both changed) does not open', async () => {
    const pair = generateKeyPair();
    const backup = await backupOf(randomPseudonym('pat'), pair);
    const thief = randomPseudonym('pat');
    const parsed = parseKeyBackup(edited(backup, (j) => (j['patient'] = thief)));
    assert.ok(parsed.ok);
    const opened = await openKeyBackup(parsed.value, { passphrase: PASS }, { patient: thief });
    assert.ok(!opened.ok && opened.error.code === 'backup.cannot_open');
  });

  it('any change to a bound member is refused (property over members and bits)', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const backup = await backupOf(patient, pair);
    const edits: ((bit: number) => (j: Json) => void)[] = [
      (bit) => (j) => (j['ciphertext'] = flipBit(str(j['ciphertext']), bit, bytesOfBase64url, base64urlOf)),
      (bit) => (j) => (member(j, 'aead')['nonce'] = flipBit(str(member(j, 'aead')['nonce']), bit, bytesOfBase64url, base64urlOf)),
      (bit) => (j) => (member(j, 'kdf')['salt'] = flipBit(str(member(j, 'kdf')['salt']), bit, bytesOfBase64url, base64urlOf)),
      (bit) => (j) => (j['publicKey'] = flipBit(str(j['publicKey']), bit, bytesOfHex, hexOf)),
      (bit) => (j) => (member(j, 'kdf')['memoryKiB'] = 64 + 8 * (1 + (bit % 16))),
      (bit) => (j) => (member(j, 'kdf')['passes'] = 2 + (bit % 3)),
      () => (j) => (member(j, 'kdf')['parallelism'] = 2),
      () => (j) => (member(j, 'kdf')['version'] = 16),
      () => (j) => (j['v'] = 2),
      () => (j) => (j['secret'] = 'recovery-code'),
      () => (j) => (member(j, 'aead')['alg'] = 'aes-256-gcm'),
      () => (j) => (j['extra'] = true),
      () => (j) => delete j['aead'],
    ];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: edits.length - 1 }), fc.nat({ max: 383 }), async (which, bit) => {
        const text = edited(backup, edits[which]!(bit));
        const parsed = parseKeyBackup(text);
        if (!parsed.ok) {
          assert.ok(OPEN_FAILURES.has(parsed.error.code), parsed.error.code);
          return;
        }
        const opened = await openKeyBackup(parsed.value, { passphrase: PASS }, { patient });
        assert.ok(!opened.ok && OPEN_FAILURES.has(opened.error.code), opened.ok ? 'opened a tampered backup' : opened.error.code);
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary single-character edits of the JSON never throw and never yield another key', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const text = encodeKeyBackup(await backupOf(patient, pair));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: text.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }), async (at, c) => {
        const mutated = text.slice(0, at) + c + text.slice(at + 1);
        const parsed = parseKeyBackup(mutated);
        if (!parsed.ok) return;
        const opened = await openKeyBackup(parsed.value, { passphrase: PASS }, { patient });
        if (opened.ok) {
          assert.equal(mutated, text);
          assert.deepEqual(opened.value, pair);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('hostile values never throw out of parseKeyBackup', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.json(), fc.string()), (value) => {
        const parsed = parseKeyBackup(value);
        assert.equal(parsed.ok, false);
      }),
      { numRuns: 500 },
    );
    for (const value of [null, '', '{}', '[]', 'x'.repeat(10_000), '{"format":"medledger.key-backup","v":1}']) {
      assert.equal(parseKeyBackup(value).ok, false);
    }
  });
});

describe('KDF parameter bounds', () => {
  it('checkKdfBounds accepts exactly the parameters within the limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 32 }),
        fc.integer({ min: 1, max: 2 ** 20 }),
        fc.integer({ min: 1, max: 64 }),
        (memoryKiB, passes, parallelism) => {
          const result = checkKdfBounds({ alg: 'argon2id', memoryKiB, passes, parallelism });
          const within =
            memoryKiB >= 8 * parallelism &&
            memoryKiB <= DEFAULT_LIMITS.maxMemoryKiB &&
            passes <= DEFAULT_LIMITS.maxPasses &&
            parallelism <= DEFAULT_LIMITS.maxParallelism &&
            memoryKiB * passes <= DEFAULT_LIMITS.maxWork;
          assert.equal(result.ok, within);
        },
      ),
      { numRuns: 1000 },
    );
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
      assert.equal(checkKdfBounds({ alg: 'argon2id', memoryKiB: bad, passes: 1, parallelism: 1 }).ok, false);
      assert.equal(checkKdfBounds({ alg: 'argon2id', memoryKiB: 1024, passes: bad, parallelism: 1 }).ok, false);
    }
    assert.ok(checkKdfBounds(DEFAULT_KDF).ok);
  });

  it('a hostile backup asking for gigabytes or hours is refused at once, before any derivation', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const backup = await backupOf(patient, pair);
    for (const [memoryKiB, passes] of [
      [4_194_304, 1],
      [262_144, 10],
      [65_536, 1_000_000],
    ] as const) {
      const parsed = parseKeyBackup(edited(backup, (j) => Object.assign(member(j, 'kdf'), { memoryKiB, passes })));
      assert.ok(parsed.ok);
      const started = performance.now();
      const opened = await openKeyBackup(parsed.value, { passphrase: PASS }, { patient });
      assert.ok(!opened.ok && opened.error.code === 'backup.kdf_out_of_bounds');
      assert.ok(performance.now() - started < 50);
    }
    // A client may set its own, tighter limits.
    const tight = await openKeyBackup(backup, { passphrase: PASS }, { patient, limits: { ...DEFAULT_LIMITS, maxMemoryKiB: 32 } });
    assert.ok(!tight.ok && tight.error.code === 'backup.kdf_out_of_bounds');
  });
});

describe('recovery codes', () => {
  const code = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

  it('round-trip through their printed form: 7 groups of 4 Crockford base32 characters', () => {
    fc.assert(
      fc.property(code, (bytes) => {
        const text = formatRecoveryCode(bytes);
        assert.match(text, /^[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){6}$/);
        const parsed = parseRecoveryCode(text);
        assert.ok(parsed.ok);
        assert.deepEqual(parsed.value, bytes);
      }),
      { numRuns: 500 },
    );
    const fresh = generateRecoveryCode();
    assert.deepEqual(parseRecoveryCode(fresh.text), { ok: true, value: fresh.bytes });
  });

  it('catch every single mistyped character and every swap of two neighbours', () => {
    fc.assert(
      fc.property(code, (bytes) => {
        const symbols = formatRecoveryCode(bytes).replace(/-/g, '');
        for (let i = 0; i < symbols.length; i++) {
          for (const c of ALPHABET) {
            if (c === symbols[i]) continue;
            const typo = symbols.slice(0, i) + c + symbols.slice(i + 1);
            const parsed = parseRecoveryCode(typo);
            assert.ok(!parsed.ok && parsed.error.code === 'recovery.checksum', typo);
          }
          if (i + 1 < symbols.length && symbols[i] !== symbols[i + 1]) {
            const swapped = symbols.slice(0, i) + symbols[i + 1] + symbols[i] + symbols.slice(i + 2);
            assert.equal(parseRecoveryCode(swapped).ok, false, swapped);
          }
        }
      }),
      { numRuns: 20 },
    );
  });

  it('catch any two mistyped characters', () => {
    fc.assert(
      fc.property(
        code,
        fc.nat({ max: 27 }),
        fc.nat({ max: 27 }),
        fc.nat({ max: 30 }),
        fc.nat({ max: 30 }),
        (bytes, i, j, a, b) => {
          fc.pre(i !== j);
          const symbols = [...formatRecoveryCode(bytes).replace(/-/g, '')];
          symbols[i] = ALPHABET[(ALPHABET.indexOf(symbols[i]!) + 1 + a) % 32]!;
          symbols[j] = ALPHABET[(ALPHABET.indexOf(symbols[j]!) + 1 + b) % 32]!;
          assert.equal(parseRecoveryCode(symbols.join('')).ok, false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('forgive case, spacing and the look-alikes O/0, I/L/1; refuse other characters and lengths', () => {
    const bytes = new Uint8Array(16).fill(0);
    const text = formatRecoveryCode(bytes);
    const loose = text.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o');
    assert.deepEqual(parseRecoveryCode(loose), { ok: true, value: bytes });
    let withOne = generateRecoveryCode();
    while (!withOne.text.includes('1')) withOne = generateRecoveryCode();
    assert.deepEqual(parseRecoveryCode(withOne.text.replace(/1/g, 'l')), { ok: true, value: withOne.bytes });
    assert.deepEqual(parseRecoveryCode(withOne.text.replace(/1/g, 'I')), { ok: true, value: withOne.bytes });
    for (const bad of [text.slice(0, -1), text + 'A', text.replace(/^./, 'U'), 42, '', 'x'.repeat(1000)]) {
      const parsed = parseRecoveryCode(bad);
      assert.ok(!parsed.ok && parsed.error.code === 'recovery.malformed', String(bad));
    }
  });
});

describe('recovery kit', () => {
  it('recovers the key from the node-held backup and the typed code; typos and other codes fail cleanly', async () => {
    const pair = generateKeyPair();
    const patient = randomPseudonym('pat');
    const kit = await createRecoveryKit(patient, pair, { node: 'https://ledger.example.org', created: '2026-11-29' });
    assert.ok(kit.ok);
    const { code, backup, text } = kit.value;
    assert.ok(text.includes(code) && text.includes(patient) && text.includes('https://ledger.example.org'));
    const stored = encodeKeyBackup(backup);
    assert.ok(!stored.includes(code.replace(/-/g, '')), 'the node copy must not contain the code');
    assert.ok(!text.includes(hexOf(pair.secretKey)) && !stored.includes(hexOf(pair.secretKey)));
    assert.equal(JSON.parse(stored).secret, 'recovery-code');

    const parsed = parseKeyBackup(stored);
    assert.ok(parsed.ok);
    const typed = ` ${code.toLowerCase().replace(/-/g, ' ')} `;
    const recovered = await recoverKey(parsed.value, typed, { patient, publicKey: pair.publicKey });
    assert.ok(recovered.ok, recovered.ok ? '' : recovered.error.message);
    assert.deepEqual(recovered.value, pair);

    const typo = code.slice(0, 5) + (code[5] === 'A' ? 'B' : 'A') + code.slice(6);
    const withTypo = await recoverKey(parsed.value, typo, { patient });
    assert.ok(!withTypo.ok && withTypo.error.code === 'recovery.checksum');
    const otherCode = await recoverKey(parsed.value, generateRecoveryCode().text, { patient });
    assert.ok(!otherCode.ok && otherCode.error.code === 'backup.cannot_open');
    const passphraseInstead = await openKeyBackup(parsed.value, { passphrase: PASS }, { patient });
    assert.ok(!passphraseInstead.ok && passphraseInstead.error.code === 'backup.unsupported');
  });
});
