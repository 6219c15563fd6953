/**
 * Transaction, block, checkpoint and genesis encodings, tested purely in memory.
 *
 * The ledger hashes and signs canonical CBOR, so these tests pin down three promises:
 *  - every valid transaction round-trips to exactly the bytes it came from;
 *  - hostile bytes never throw out of decodeTx, they come back as a typed `{ ok: false }`;
 *  - each way of bending the format (non-canonical CBOR, unknown fields, bad ids, foreign
 *    chains, foreign signatures, oversize input) is rejected with the documented error code.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { concatBytes, utf8 } from '../src/crypto/bytes.js';
import { keyPairFromSeed, Signer, SIGNATURE_SIZE, type KeyPair } from '../src/crypto/ed25519.js';
import { sha256 } from '../src/crypto/hash.js';
import {
  blockHash,
  checkpointOf,
  decodeHeader,
  encodeCheckpoint,
  encodeHeader,
  signBlock,
  signCheckpoint,
  verifyBlockSignature,
  verifyCheckpoint,
  type BlockHeader,
  type SignedCheckpoint,
} from '../src/ledger/block.js';
import type { LedgerErrorCode, Result } from '../src/ledger/errors.js';
import { decodeGenesis, encodeGenesis, genesisHash, type Genesis } from '../src/ledger/genesis.js';
import {
  PARTICIPANT_STATUSES,
  PRACTITIONER_ROLES,
  type PractitionerRole,
  type RegisterBody,
} from '../src/ledger/payloads/participant.js';
import { ACCESS_ACTIONS, BREAK_GLASS_REASONS, REVIEW_OUTCOMES } from '../src/ledger/payloads/access.js';
import { CONSENT_PURPOSES } from '../src/ledger/payloads/consent.js';
import type { GovernanceAction } from '../src/ledger/payloads/governance.js';
import {
  decodeTx,
  encodeTxBody,
  isExpired,
  MAX_TX_BYTES,
  signingBytes,
  signTx,
  TX_TYPES,
  type Expiry,
  type SignedTx,
  type Tx,
  type TxEnvelope,
  type TxPayload,
} from '../src/ledger/tx.js';

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

const CHAIN = 'test-chain';
const OTHER_CHAIN = 'other-chain';

/** Every code decodeTx may answer with; anything else (or a throw) is a bug. */
const DECODE_ERROR_CODES: ReadonlySet<LedgerErrorCode> = new Set<LedgerErrorCode>([
  'tx.malformed',
  'tx.non_canonical',
  'tx.unknown_type',
  'tx.too_large',
  'tx.wrong_chain',
  'tx.bad_signature',
]);

function keysFrom(label: string): KeyPair {
  return keyPairFromSeed(sha256(utf8(`tx-encoding-test:${label}`)));
}

const ALICE_KEYS = keysFrom('alice');
const ALICE = new Signer(ALICE_KEYS);
const MALLORY = new Signer(keysFrom('mallory'));
const NEW_KEY = keysFrom('new').publicKey;
const PATIENT_ID = 'pat_abcdefghijklmnopqrstuvwxyz';
const DEVICE_ID = 'dev_zyxwvutsrqponmlkjihgfedcba';

/** The error code of a failed result; fails the test if the result is ok. */
function errorCode(result: Result<unknown>): LedgerErrorCode {
  if (result.ok) assert.fail('expected the operation to be rejected, but it succeeded');
  return result.error.code;
}

function assertCode(result: Result<unknown>, expected: LedgerErrorCode | readonly LedgerErrorCode[]): void {
  const code = errorCode(result);
  const allowed = typeof expected === 'string' ? [expected] : expected;
  assert.ok(allowed.includes(code), `expected ${allowed.join(' or ')}, got ${code}`);
}

/** decodeTx must never throw on hostile input and must answer with one of the decode codes. */
function assertRejectedSafely(wire: Uint8Array, chain = CHAIN): LedgerErrorCode {
  let result: Result<SignedTx>;
  try {
    result = decodeTx(wire, chain);
  } catch (error) {
    assert.fail(`decodeTx threw on ${hex(wire.subarray(0, 64))}…: ${String(error)}`);
  }
  const code = errorCode(result);
  assert.ok(DECODE_ERROR_CODES.has(code), `unexpected decode error code ${code}`);
  return code;
}

function decodeOk(wire: Uint8Array, chain = CHAIN): SignedTx {
  const result = decodeTx(wire, chain);
  if (!result.ok) assert.fail(`expected a valid transaction, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Byte equality by content (cborg returns Buffers, libsodium and hashes plain Uint8Arrays). */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.equal(hex(actual), hex(expected), message);
}

function assertDifferentBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.notEqual(hex(actual), hex(expected), message);
}

function envelope(payload: TxPayload, overrides: Partial<TxEnvelope> = {}): Tx {
  return { chain: CHAIN, signer: 'org_test-hospital', key: ALICE.publicKey, seq: 0, ...overrides, ...payload } as Tx;
}

/** One sample of every payload variant, used by the explicit tests. */
const SAMPLE_PAYLOADS: Readonly<Record<string, TxPayload>> = {
  'register organization': {
    type: 'participant.register',
    body: { kind: 'organization', id: 'org_city-clinic', key: NEW_KEY, name: "St. Mary's Clinic (Nord) & Co" },
  },
  'register practitioner': {
    type: 'participant.register',
    body: {
      kind: 'practitioner',
      id: 'prac_dr-who',
      key: NEW_KEY,
      org: 'org_test-hospital',
      roles: ['clinician', 'admin'],
    },
  },
  'register patient': { type: 'participant.register', body: { kind: 'patient', id: PATIENT_ID, key: NEW_KEY } },
  'register device': {
    type: 'participant.register',
    body: { kind: 'device', id: DEVICE_ID, key: NEW_KEY, patient: PATIENT_ID },
  },
  rotate_key: { type: 'participant.rotate_key', body: { id: PATIENT_ID, key: NEW_KEY } },
  set_status: { type: 'participant.set_status', body: { id: 'prac_dr-who', status: 'suspended' } },
  set_roles: { type: 'participant.set_roles', body: { id: 'prac_dr-who', roles: ['nurse', 'registrar'] } },
  'record versions': {
    type: 'record.commit',
    body: {
      author: 'prac_dr-who',
      custodian: 'org_test-hospital',
      entries: [
        { record: 'rec_abcdefghijklmnopqrstuvwxyz', version: 3, patient: PATIENT_ID, op: 'write', commitment: NEW_KEY },
        { record: 'rec_zyxwvutsrqponmlkjihgfedcba', version: 4, op: 'delete' },
      ],
    },
  },
  'consent to everything': {
    type: 'consent.grant',
    body: { id: 'cns_abcdefghijklmnopqrstuvwxyz', patient: PATIENT_ID, grantee: 'org_city-clinic', purpose: 'TREAT' },
  },
  'consent to some types for a period': {
    type: 'consent.grant',
    body: {
      id: 'cns_abcdefghijklmnopqrstuvwxy2',
      patient: PATIENT_ID,
      grantee: 'prac_dr-who',
      purpose: 'HRESCH',
      types: ['Condition', 'Observation'],
      from: 1_700_000_000_000,
      until: 1_800_000_000_000,
    },
  },
  'revoke consent': { type: 'consent.revoke', body: { id: 'cns_abcdefghijklmnopqrstuvwxyz' } },
  'break-glass': {
    type: 'access.break_glass',
    body: {
      id: 'bg_abcdefghijklmnopqrstuvwxyz',
      practitioner: 'prac_dr-who',
      patient: PATIENT_ID,
      reason: 'patient-unable-to-consent',
      justification: NEW_KEY,
      minutes: 240,
    },
  },
  'break-glass review': {
    type: 'access.review',
    body: { opening: 'bg_abcdefghijklmnopqrstuvwxyz', outcome: 'unjustified', notes: NEW_KEY },
  },
  'access events': {
    type: 'access.log',
    body: {
      events: [
        {
          actor: 'prac_dr-who',
          patient: PATIENT_ID,
          action: 'read',
          at: 1_700_000_000_000,
          records: ['rec_abcdefghijklmnopqrstuvwxyz'],
          decision: 'permit',
          basis: 'consent',
          grant: 'cns_abcdefghijklmnopqrstuvwxyz',
        },
        { actor: PATIENT_ID, patient: PATIENT_ID, action: 'everything', at: 5, records: [], decision: 'permit', basis: 'self' },
        { actor: 'org_test-hospital', patient: PATIENT_ID, action: 'search', at: 6, records: [], decision: 'deny' },
      ],
    },
  },
  'erasure request': {
    type: 'erasure.request',
    body: { id: 'ers_abcdefghijklmnopqrstuvwxyz', patient: PATIENT_ID, custodian: 'org_test-hospital' },
  },
  'erasure tombstone': {
    type: 'erasure.tombstone',
    body: {
      request: 'ers_abcdefghijklmnopqrstuvwxyz',
      erased: ['rec_abcdefghijklmnopqrstuvwxyz'],
      retained: [{ record: 'rec_zyxwvutsrqponmlkjihgfedcba', reason: 'legal-hold' }],
      done: true,
    },
  },
  'governance proposal (admit organization)': {
    type: 'governance.propose',
    body: { id: 'gov_admit-city', until: 120, action: 'admit-organization', org: 'org_city-clinic', key: NEW_KEY, name: 'City' },
  },
  'governance proposal (remove validator)': {
    type: 'governance.propose',
    body: { id: 'gov_rm-1', until: 0, action: 'remove-validator', key: NEW_KEY },
  },
  'governance approval': { type: 'governance.approve', body: { proposal: 'gov_admit-city' } },
};

// --- A tiny hand-rolled CBOR writer, for encodings that cborg would refuse to produce -----------

/** Head of a CBOR item. `width` forces a (possibly non-minimal) argument size in bytes. */
function head(major: number, n: number, width?: 0 | 1 | 2 | 4 | 8): Uint8Array {
  const w = width ?? (n < 24 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x100000000 ? 4 : 8);
  const m = major << 5;
  switch (w) {
    case 0:
      return new Uint8Array([m | n]);
    case 1:
      return new Uint8Array([m | 24, n]);
    case 2:
      return new Uint8Array([m | 25, n >> 8, n & 0xff]);
    case 4: {
      const out = new Uint8Array(5);
      out[0] = m | 26;
      new DataView(out.buffer).setUint32(1, n);
      return out;
    }
    case 8: {
      const out = new Uint8Array(9);
      out[0] = m | 27;
      new DataView(out.buffer).setBigUint64(1, BigInt(n));
      return out;
    }
  }
}

const cbor = {
  uint: (n: number, width?: 0 | 1 | 2 | 4 | 8): Uint8Array => head(0, n, width),
  text: (s: string): Uint8Array => concatBytes(head(3, utf8(s).length), utf8(s)),
  bytes: (b: Uint8Array): Uint8Array => concatBytes(head(2, b.length), b),
  array: (items: readonly Uint8Array[]): Uint8Array => concatBytes(head(4, items.length), ...items),
  /** A map with entries exactly in the order given (values already encoded). */
  map: (entries: readonly (readonly [string, Uint8Array])[]): Uint8Array =>
    concatBytes(head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor.text(k), v])),
  float16: (bits: number): Uint8Array => new Uint8Array([0xf9, bits >> 8, bits & 0xff]),
  float64: (value: number): Uint8Array => {
    const out = new Uint8Array(9);
    out[0] = 0xfb;
    new DataView(out.buffer).setFloat64(1, value);
    return out;
  },
};

type Entries = [string, Uint8Array][];

/** The (canonically ordered) top-level entries of a transaction body, each value encoded. */
function bodyEntries(tx: Tx): Entries {
  const decoded = cborDecode(encodeTxBody(tx)) as Record<string, unknown>;
  // Object.keys of the decoded map is in wire order, i.e. canonical order.
  return Object.keys(decoded).map((k) => [k, cborEncode(decoded[k])]);
}

function replaceEntry(entries: Entries, key: string, value: Uint8Array): Entries {
  assert.ok(
    entries.some(([k]) => k === key),
    `no entry ${key}`,
  );
  return entries.map(([k, v]) => [k, k === key ? value : v]);
}

/** A wire whose body bytes are exactly `body`, correctly signed with the tx domain prefix. */
function wireWithBody(body: Uint8Array, signer: Signer = ALICE): Uint8Array {
  return cborEncode([body, signer.sign(signingBytes(body))]);
}

/** The decoded body of a valid tx as a plain JS object, for structured mutation. */
function bodyObject(tx: Tx): Record<string, unknown> {
  return cborDecode(encodeTxBody(tx)) as Record<string, unknown>;
}

/** Re-creates plain objects with their keys inserted in a shuffled order (arrays keep order). */
function shuffleKeys<T>(value: T, seed: number): T {
  let state = seed >>> 0 || 1;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    if (Array.isArray(v)) return v.map(walk);
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = walk((v as Record<string, unknown>)[k]);
    return out;
  };
  return walk(value) as T;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** fc.record with ordinary object prototypes (deepStrictEqual compares prototypes). */
function plainRecord<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

const bytesArb = (length: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: length, maxLength: length });
const keyPairArb = bytesArb(32).map((seed) => keyPairFromSeed(seed));
const chainArb = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/);
const orgIdArb = fc.stringMatching(/^org_[a-z0-9][a-z0-9-]{0,39}$/);
const practitionerIdArb = fc.stringMatching(/^prac_[a-z0-9][a-z0-9-]{0,39}$/);
const patientIdArb = fc.stringMatching(/^pat_[a-z2-7]{26}$/);
const deviceIdArb = fc.stringMatching(/^dev_[a-z2-7]{26}$/);
const anyIdArb = fc.oneof(orgIdArb, practitionerIdArb, patientIdArb, deviceIdArb);
const ORG_NAME_CHARS = [..."abcxyzABCXYZ0189 .,'&()-éÜßøçñłΩжд日本中"];
const orgNameArb = fc
  .string({ unit: fc.constantFrom(...ORG_NAME_CHARS), minLength: 1, maxLength: 120 })
  .filter((s) => s.length <= 120);
const rolesArb: fc.Arbitrary<PractitionerRole[]> = fc.subarray([...PRACTITIONER_ROLES], { minLength: 1 });
const uintArb = fc.maxSafeNat();
const expiryArb: fc.Arbitrary<Expiry> = fc.oneof(
  plainRecord({ height: uintArb }),
  plainRecord({ time: uintArb }),
  plainRecord({ height: uintArb, time: uintArb }),
);

const registerBodyArb: fc.Arbitrary<RegisterBody> = fc.oneof(
  plainRecord({ kind: fc.constant('organization' as const), id: orgIdArb, key: bytesArb(32), name: orgNameArb }),
  plainRecord({
    kind: fc.constant('practitioner' as const),
    id: practitionerIdArb,
    key: bytesArb(32),
    org: orgIdArb,
    roles: rolesArb,
  }),
  plainRecord({ kind: fc.constant('patient' as const), id: patientIdArb, key: bytesArb(32) }),
  plainRecord({ kind: fc.constant('device' as const), id: deviceIdArb, key: bytesArb(32), patient: patientIdArb }),
);

const randomIdArb = (prefix: string): fc.Arbitrary<string> => patientIdArb.map((id) => id.replace(/^pat_/, `${prefix}_`));

const consentPayloadArb: fc.Arbitrary<TxPayload> = fc.oneof(
  fc
    .record(
      {
        id: randomIdArb('cns'),
        patient: patientIdArb,
        grantee: fc.oneof(orgIdArb, practitionerIdArb),
        purpose: fc.constantFrom(...CONSENT_PURPOSES),
        types: fc.uniqueArray(fc.stringMatching(/^[A-Z][A-Za-z]{1,39}$/), { minLength: 1, maxLength: 4 }).map((t) => t.sort()),
        from: fc.nat({ max: 2 ** 44 }),
        until: fc.nat({ max: 2 ** 44 }),
      },
      { requiredKeys: ['id', 'patient', 'grantee', 'purpose'] },
    )
    .map(({ from, until, ...rest }): TxPayload => {
      const period = from !== undefined && until !== undefined && until <= from ? { from } : { from, until };
      const body = {
        ...rest,
        ...(period.from !== undefined && { from: period.from }),
        ...(period.until !== undefined && { until: period.until }),
      };
      return { type: 'consent.grant', body };
    }),
  randomIdArb('cns').map((id): TxPayload => ({ type: 'consent.revoke', body: { id } })),
  plainRecord({
    id: randomIdArb('bg'),
    practitioner: practitionerIdArb,
    patient: patientIdArb,
    reason: fc.constantFrom(...BREAK_GLASS_REASONS),
    justification: bytesArb(32),
    minutes: fc.integer({ min: 1, max: 240 }),
  }).map((body): TxPayload => ({ type: 'access.break_glass', body })),
  plainRecord({ opening: randomIdArb('bg'), outcome: fc.constantFrom(...REVIEW_OUTCOMES), notes: bytesArb(32) }).map(
    (body): TxPayload => ({ type: 'access.review', body }),
  ),
  fc
    .array(
      fc.record({
        actor: fc.oneof(practitionerIdArb, orgIdArb),
        patient: patientIdArb,
        action: fc.constantFrom(...ACCESS_ACTIONS),
        at: uintArb,
        records: fc.array(randomIdArb('rec'), { maxLength: 3 }),
        grant: fc.option(randomIdArb('cns'), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((events): TxPayload => ({
      type: 'access.log',
      body: {
        events: events.map(({ grant, ...e }) =>
          grant === undefined
            ? { ...e, decision: 'deny' as const }
            : { ...e, decision: 'permit' as const, basis: 'consent' as const, grant },
        ),
      },
    })),
  fc
    .record(
      {
        id: randomIdArb('ers'),
        patient: patientIdArb,
        custodian: orgIdArb,
        records: fc.uniqueArray(randomIdArb('rec'), { minLength: 1, maxLength: 3 }),
      },
      { requiredKeys: ['id', 'patient', 'custodian'] },
    )
    .map((body): TxPayload => ({ type: 'erasure.request', body: { ...body } })),
  fc
    .record({
      request: randomIdArb('ers'),
      ids: fc.uniqueArray(randomIdArb('rec'), { maxLength: 6 }),
      split: fc.nat({ max: 6 }),
      done: fc.boolean(),
    })
    .map(({ request, ids, split, done }): TxPayload => ({
      type: 'erasure.tombstone',
      body: {
        request,
        erased: ids.slice(0, split),
        retained: ids.slice(split).map((record) => ({ record, reason: 'statutory-retention' as const })),
        done,
      },
    })),
);

const proposalIdArb = fc.stringMatching(/^gov_[a-z0-9][a-z0-9-]{0,39}$/);
const governanceActionArb: fc.Arbitrary<GovernanceAction> = fc.oneof(
  plainRecord({ action: fc.constant('admit-organization' as const), org: orgIdArb, key: bytesArb(32), name: orgNameArb }),
  plainRecord({ action: fc.constant('remove-organization' as const), org: orgIdArb }),
  plainRecord({
    action: fc.constant('add-validator' as const),
    key: bytesArb(32),
    name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_. -]{0,63}$/),
  }),
  plainRecord({ action: fc.constant('remove-validator' as const), key: bytesArb(32) }),
);
const governancePayloadArb: fc.Arbitrary<TxPayload> = fc.oneof(
  fc
    .tuple(proposalIdArb, uintArb, governanceActionArb)
    .map(([id, until, action]): TxPayload => ({ type: 'governance.propose', body: { id, until, ...action } })),
  proposalIdArb.map((proposal): TxPayload => ({ type: 'governance.approve', body: { proposal } })),
);
/** Validators sign as val_<CometBFT address>. */
const validatorIdArb = fc.stringMatching(/^val_[0-9a-f]{40}$/);

const payloadArb: fc.Arbitrary<TxPayload> = fc.oneof(
  consentPayloadArb,
  governancePayloadArb,
  registerBodyArb.map((body): TxPayload => ({ type: 'participant.register', body })),
  plainRecord({ id: anyIdArb, key: bytesArb(32) }).map((body): TxPayload => ({ type: 'participant.rotate_key', body })),
  plainRecord({ id: anyIdArb, status: fc.constantFrom(...PARTICIPANT_STATUSES) }).map((body): TxPayload => ({
    type: 'participant.set_status',
    body,
  })),
  plainRecord({ id: practitionerIdArb, roles: rolesArb }).map((body): TxPayload => ({
    type: 'participant.set_roles',
    body,
  })),
  fc
    .record({
      author: fc.oneof(practitionerIdArb, orgIdArb),
      custodian: orgIdArb,
      entries: fc.uniqueArray(
        fc.record({
          record: patientIdArb.map((id) => id.replace(/^pat_/, 'rec_')),
          version: fc.integer({ min: 1, max: 2 ** 40 }),
          patient: fc.option(patientIdArb, { nil: undefined }),
          commitment: fc.option(bytesArb(32), { nil: undefined }),
        }),
        { minLength: 1, maxLength: 5, selector: (e) => e.record },
      ),
    })
    .map(({ entries, ...rest }): TxPayload => ({
      type: 'record.commit',
      body: {
        ...rest,
        entries: entries.map(({ patient, commitment, ...entry }) => ({
          ...entry,
          ...(patient !== undefined && { patient }),
          ...(commitment === undefined ? { op: 'delete' as const } : { op: 'write' as const, commitment }),
        })),
      },
    })),
);

interface TxCase {
  readonly keyPair: KeyPair;
  readonly tx: Tx;
}

const txCaseArb: fc.Arbitrary<TxCase> = plainRecord({
  keyPair: keyPairArb,
  chain: chainArb,
  signer: fc.oneof(anyIdArb, validatorIdArb),
  seq: uintArb,
  expires: fc.option(expiryArb, { nil: undefined }),
  payload: payloadArb,
}).map(({ keyPair, chain, signer, seq, expires, payload }) => ({
  keyPair,
  tx: { chain, signer, key: keyPair.publicKey, seq, ...(expires && { expires }), ...payload } as Tx,
}));

/** CBOR-encodable values of every major type the decoder accepts, nested. */
const cborValueArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 20 }),
    fc.constantFrom('participant.register', 'organization', 'patient', CHAIN, PATIENT_ID, 'clinician'),
    fc.uint8Array({ maxLength: 70 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('v', 'chain', 'type', 'signer', 'key', 'seq', 'body', 'id', 'kind')),
      tie('value'),
      { maxKeys: 6 },
    ),
  ),
})).value;

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

describe('transaction round trip', () => {
  test('every payload variant, with and without expiry, decodes to an equal tx and re-encodes to the same bytes', () => {
    const expiries: (Expiry | undefined)[] = [undefined, { height: 10 }, { time: 1_700_000_000_000 }, { height: 0, time: 0 }];
    const seen = new Set<string>();
    for (const [name, payload] of Object.entries(SAMPLE_PAYLOADS)) {
      for (const expires of expiries) {
        const tx = envelope(payload, { seq: 7, ...(expires && { expires }) });
        const signed = signTx(tx, ALICE);
        const decoded = decodeOk(signed.wire);
        assert.deepStrictEqual(decoded.tx, tx, `${name} with expiry ${JSON.stringify(expires)}`);
        assertSameBytes(decoded.body, signed.body);
        assertSameBytes(decoded.hash, signed.hash);
        assertSameBytes(signTx(decoded.tx, ALICE).wire, signed.wire);
        seen.add(tx.type);
      }
    }
    assert.deepStrictEqual([...seen].sort(), [...TX_TYPES].sort(), 'the samples cover every transaction type');
  });

  test('property: random valid txs signed with random keys round-trip byte for byte', () => {
    fc.assert(
      fc.property(txCaseArb, ({ keyPair, tx }) => {
        const signer = new Signer(keyPair);
        const signed = signTx(tx, signer);
        const decoded = decodeOk(signed.wire, tx.chain);
        assert.deepStrictEqual(decoded.tx, tx);
        assertSameBytes(decoded.signature, signed.signature);
        assertSameBytes(encodeTxBody(decoded.tx), signed.body);
        assertSameBytes(signTx(decoded.tx, signer).wire, signed.wire);
        assertSameBytes(decoded.hash, sha256(signed.wire));
      }),
      { numRuns: 300 },
    );
  });

  test('property: the encoding is independent of object key insertion order', () => {
    fc.assert(
      fc.property(txCaseArb, fc.integer(), ({ tx }, seed) => {
        const shuffled = shuffleKeys(tx, seed);
        assertSameBytes(encodeTxBody(shuffled), encodeTxBody(tx));
      }),
      { numRuns: 300 },
    );
  });

  test('property: the body covers every field (changing seq or chain changes the bytes)', () => {
    fc.assert(
      fc.property(txCaseArb, ({ tx }) => {
        const base = encodeTxBody(tx);
        const nextSeq = tx.seq === Number.MAX_SAFE_INTEGER ? 0 : tx.seq + 1;
        assertDifferentBytes(encodeTxBody({ ...tx, seq: nextSeq }), base);
        assertDifferentBytes(encodeTxBody({ ...tx, chain: `${tx.chain.slice(0, 60)}x` }), base);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile input never throws
// ---------------------------------------------------------------------------------------------

describe('hostile bytes are rejected without throwing', () => {
  test('property: arbitrary random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        assertRejectedSafely(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: every truncation of a valid wire', () => {
    fc.assert(
      fc.property(txCaseArb, fc.nat(), ({ keyPair, tx }, cut) => {
        const { wire } = signTx(tx, new Signer(keyPair));
        assertRejectedSafely(wire.subarray(0, cut % wire.length), tx.chain);
      }),
      { numRuns: 500 },
    );
  });

  test('property: a single flipped byte anywhere in a valid wire is never accepted', () => {
    fc.assert(
      fc.property(txCaseArb, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ keyPair, tx }, at, mask) => {
        const { wire } = signTx(tx, new Signer(keyPair));
        const flipped = Uint8Array.from(wire);
        const index = at % wire.length;
        flipped[index] = flipped[index]! ^ mask;
        assertRejectedSafely(flipped, tx.chain);
      }),
      { numRuns: 1000 },
    );
  });

  test('property: a single flipped byte inside the signed body, even when re-wrapped canonically', () => {
    // Re-wrapping the flipped body in a canonical envelope isolates the signature/shape checks
    // from the envelope's own framing.
    fc.assert(
      fc.property(txCaseArb, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ keyPair, tx }, at, mask) => {
        const signed = signTx(tx, new Signer(keyPair));
        const body = Uint8Array.from(signed.body);
        const index = at % body.length;
        body[index] = body[index]! ^ mask;
        const code = assertRejectedSafely(cborEncode([body, signed.signature]), tx.chain);
        assert.notEqual(code, 'tx.too_large');
      }),
      { numRuns: 1000 },
    );
  });

  test('property: random CBOR values as the whole wire, as the envelope, and as a signed body', () => {
    fc.assert(
      fc.property(cborValueArb, bytesArb(SIGNATURE_SIZE), (value, signature) => {
        const encoded = cborEncode(value);
        assertRejectedSafely(encoded);
        assertRejectedSafely(cborEncode([encoded, signature]));
        assertRejectedSafely(cborEncode([value, signature]));
        const properlySigned = decodeTx(wireWithBody(encoded), CHAIN);
        if (properlySigned.ok) assertSameBytes(encodeTxBody(properlySigned.value.tx), encoded);
        else assert.ok(DECODE_ERROR_CODES.has(properlySigned.error.code));
      }),
      { numRuns: 1000 },
    );
  });

  test('property: fc.anything() values (where cborg can encode them)', () => {
    fc.assert(
      fc.property(fc.anything({ withBoxedValues: false, withMap: false, withSet: false }), (value) => {
        let encoded: Uint8Array;
        try {
          encoded = cborEncode(value);
        } catch {
          return; // not representable in CBOR (e.g. undefined nested in an array)
        }
        assertRejectedSafely(encoded);
        assertRejectedSafely(wireWithBody(encoded));
      }),
      { numRuns: 1000 },
    );
  });

  test('property: structured mutations of a valid, correctly signed body never throw; survivors stay canonical', () => {
    const pathsOf = (obj: Record<string, unknown>): string[][] => {
      const paths: string[][] = [];
      for (const [k, v] of Object.entries(obj)) {
        paths.push([k]);
        if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v)) {
          for (const inner of Object.keys(v)) paths.push([k, inner]);
        }
      }
      return paths;
    };
    const mutationArb = fc.oneof(
      plainRecord({ op: fc.constant('set' as const), value: cborValueArb }),
      plainRecord({ op: fc.constant('delete' as const) }),
      plainRecord({
        op: fc.constant('add' as const),
        name: fc.string({ minLength: 1, maxLength: 8 }),
        value: cborValueArb,
      }),
    );
    fc.assert(
      fc.property(txCaseArb, fc.nat(), mutationArb, ({ keyPair, tx }, pick, mutation) => {
        const obj = bodyObject(tx);
        const paths = pathsOf(obj);
        const path = paths[pick % paths.length]!;
        const parent = (path.length === 1 ? obj : obj[path[0]!]) as Record<string, unknown>;
        const leaf = path[path.length - 1]!;
        if (mutation.op === 'set') parent[leaf] = mutation.value;
        else if (mutation.op === 'delete') delete parent[leaf];
        else parent[mutation.name] = mutation.value;
        let body: Uint8Array;
        try {
          body = cborEncode(obj);
        } catch {
          return;
        }
        const result = decodeTx(wireWithBody(body, new Signer(keyPair)), tx.chain);
        if (result.ok) {
          assertSameBytes(encodeTxBody(result.value.tx), body, 'an accepted body must be canonical');
        } else {
          assert.ok(DECODE_ERROR_CODES.has(result.error.code), `unexpected code ${result.error.code}`);
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('deeply nested input is rejected, not a stack overflow escaping decodeTx', () => {
    const deep = new Uint8Array(MAX_TX_BYTES).fill(0x81); // [[[[…]]]]
    assertCode(decodeTx(deep, CHAIN), 'tx.malformed');
    const deepBody = wireWithBody(new Uint8Array(MAX_TX_BYTES - 200).fill(0x81));
    assertCode(decodeTx(deepBody, CHAIN), 'tx.malformed');
  });
});

// ---------------------------------------------------------------------------------------------
// Explicit rejection cases
// ---------------------------------------------------------------------------------------------

describe('non-canonical encodings', () => {
  const tx = envelope(SAMPLE_PAYLOADS['register patient']!, { seq: 5, expires: { height: 300 } });
  const canonical = bodyEntries(tx);

  test('the hand-rolled CBOR writer reproduces the canonical body (sanity check for the cases below)', () => {
    assertSameBytes(cbor.map(canonical), encodeTxBody(tx));
    decodeOk(wireWithBody(cbor.map(canonical)));
    assert.deepStrictEqual(
      canonical.map(([k]) => k),
      ['v', 'key', 'seq', 'body', 'type', 'chain', 'signer', 'expires'],
      'keys sort length-first, then bytewise',
    );
  });

  const cases: { name: string; body: () => Uint8Array; expected: readonly LedgerErrorCode[] }[] = [
    {
      name: 'non-minimal integer (seq 5 as a one-byte argument)',
      body: () => cbor.map(replaceEntry(canonical, 'seq', cbor.uint(5, 1))),
      expected: ['tx.non_canonical', 'tx.malformed'],
    },
    {
      name: 'non-minimal integer (version 1 as an eight-byte argument)',
      body: () => cbor.map(replaceEntry(canonical, 'v', cbor.uint(1, 8))),
      expected: ['tx.non_canonical', 'tx.malformed'],
    },
    {
      name: 'non-minimal length of a text string',
      body: () => cbor.map(replaceEntry(canonical, 'chain', concatBytes(head(3, CHAIN.length, 1), utf8(CHAIN)))),
      expected: ['tx.non_canonical', 'tx.malformed'],
    },
    {
      name: 'map keys in insertion order instead of length-first order',
      body: () => cbor.map([...canonical].reverse()),
      expected: ['tx.non_canonical'],
    },
    {
      name: 'map keys sorted alphabetically (not length-first)',
      body: () => cbor.map([...canonical].sort(([a], [b]) => (a < b ? -1 : 1))),
      expected: ['tx.non_canonical'],
    },
    {
      name: 'duplicate map key (seq twice)',
      body: () => {
        const entries = [...canonical];
        const seqAt = entries.findIndex(([k]) => k === 'seq');
        entries.splice(seqAt + 1, 0, ['seq', cbor.uint(6)]);
        return cbor.map(entries);
      },
      expected: ['tx.malformed', 'tx.non_canonical'],
    },
    {
      name: 'duplicate map key with identical value',
      body: () => {
        const entries = [...canonical];
        entries.splice(1, 0, entries[0]!);
        return cbor.map(entries);
      },
      expected: ['tx.malformed', 'tx.non_canonical'],
    },
    {
      name: 'indefinite-length map',
      body: () =>
        concatBytes(new Uint8Array([0xbf]), ...canonical.flatMap(([k, v]) => [cbor.text(k), v]), new Uint8Array([0xff])),
      expected: ['tx.malformed', 'tx.non_canonical'],
    },
    {
      name: 'indefinite-length text string (chunked chain id)',
      body: () =>
        cbor.map(
          replaceEntry(
            canonical,
            'chain',
            concatBytes(new Uint8Array([0x7f]), cbor.text('test-'), cbor.text('chain'), new Uint8Array([0xff])),
          ),
        ),
      expected: ['tx.malformed', 'tx.non_canonical'],
    },
    {
      name: 'indefinite-length byte string (chunked key)',
      body: () =>
        cbor.map(
          replaceEntry(
            canonical,
            'key',
            concatBytes(
              new Uint8Array([0x5f]),
              cbor.bytes(ALICE.publicKey.subarray(0, 16)),
              cbor.bytes(ALICE.publicKey.subarray(16)),
              new Uint8Array([0xff]),
            ),
          ),
        ),
      expected: ['tx.malformed', 'tx.non_canonical'],
    },
    {
      name: 'float16-encoded integer (seq 5.0)',
      body: () => cbor.map(replaceEntry(canonical, 'seq', cbor.float16(0x4500))),
      expected: ['tx.non_canonical', 'tx.malformed'],
    },
    {
      name: 'float64-encoded integer (version 1.0)',
      body: () => cbor.map(replaceEntry(canonical, 'v', cbor.float64(1))),
      expected: ['tx.non_canonical', 'tx.malformed'],
    },
    {
      name: 'negative zero as the sequence number',
      body: () => cbor.map(replaceEntry(canonical, 'seq', cbor.float16(0x8000))),
      expected: ['tx.non_canonical', 'tx.malformed'],
    },
    {
      name: 'fractional float as the sequence number (canonical CBOR, but not an integer)',
      body: () => cbor.map(replaceEntry(canonical, 'seq', cborEncode(5.5))),
      expected: ['tx.malformed'],
    },
    {
      name: 'a CBOR tag around the key',
      body: () =>
        cbor.map(replaceEntry(canonical, 'key', concatBytes(new Uint8Array([0xd8, 0x40]), cbor.bytes(ALICE.publicKey)))),
      expected: ['tx.malformed'],
    },
    {
      name: 'undefined as a value',
      body: () => cbor.map(replaceEntry(canonical, 'expires', new Uint8Array([0xf7]))),
      expected: ['tx.malformed'],
    },
    {
      name: 'trailing bytes after the body',
      body: () => concatBytes(cbor.map(canonical), new Uint8Array([0x00])),
      expected: ['tx.malformed', 'tx.non_canonical'],
    },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.expected.join(' | ')}`, () => {
      const body = c.body();
      assertDifferentBytes(body, encodeTxBody(tx), 'the case must differ from the canonical bytes');
      // Correctly signed: the encoding is the only defect.
      assertCode(decodeTx(wireWithBody(body), CHAIN), c.expected);
    });
  }

  test('non-canonical outer envelope (non-minimal array length, indefinite array, trailing byte)', () => {
    const { body, signature } = signTx(tx, ALICE);
    const valid = cbor.array([cbor.bytes(body), cbor.bytes(signature)]);
    decodeOk(valid);
    const nonMinimal = concatBytes(head(4, 2, 1), cbor.bytes(body), cbor.bytes(signature));
    assertCode(decodeTx(nonMinimal, CHAIN), ['tx.non_canonical', 'tx.malformed']);
    const indefinite = concatBytes(new Uint8Array([0x9f]), cbor.bytes(body), cbor.bytes(signature), new Uint8Array([0xff]));
    assertCode(decodeTx(indefinite, CHAIN), ['tx.non_canonical', 'tx.malformed']);
    assertCode(decodeTx(concatBytes(valid, new Uint8Array([0])), CHAIN), ['tx.non_canonical', 'tx.malformed']);
    const nonMinimalBodyLength = concatBytes(head(4, 2), head(2, body.length, 4), body, cbor.bytes(signature));
    assertCode(decodeTx(nonMinimalBodyLength, CHAIN), ['tx.non_canonical', 'tx.malformed']);
  });
});

describe('envelope and field validation', () => {
  const base = envelope(SAMPLE_PAYLOADS['register patient']!);

  /** Cases that mutate the decoded body object and re-sign it correctly. */
  const bodyCases: { name: string; mutate: (body: Record<string, unknown>) => void; expected: LedgerErrorCode }[] = [
    { name: 'unknown top-level field', mutate: (b) => void (b['note'] = 'hello'), expected: 'tx.malformed' },
    {
      name: 'unknown field in the payload body',
      mutate: (b) => void ((b['body'] as Record<string, unknown>)['name'] = 'Jane Doe'),
      expected: 'tx.malformed',
    },
    {
      name: 'unknown field in expires',
      mutate: (b) => void (b['expires'] = { height: 3, block: 4 }),
      expected: 'tx.malformed',
    },
    {
      name: 'empty expires (neither height nor time)',
      mutate: (b) => void (b['expires'] = {}),
      expected: 'tx.malformed',
    },
    { name: 'negative expiry height', mutate: (b) => void (b['expires'] = { height: -1 }), expected: 'tx.malformed' },
    { name: 'missing version', mutate: (b) => void delete b['v'], expected: 'tx.malformed' },
    { name: 'unsupported version 2', mutate: (b) => void (b['v'] = 2), expected: 'tx.malformed' },
    { name: 'missing body', mutate: (b) => void delete b['body'], expected: 'tx.malformed' },
    { name: 'missing seq', mutate: (b) => void delete b['seq'], expected: 'tx.malformed' },
    { name: 'negative seq', mutate: (b) => void (b['seq'] = -1), expected: 'tx.malformed' },
    { name: 'seq as a string', mutate: (b) => void (b['seq'] = '0'), expected: 'tx.malformed' },
    { name: 'key of 31 bytes', mutate: (b) => void (b['key'] = new Uint8Array(31)), expected: 'tx.malformed' },
    { name: 'key as a hex string', mutate: (b) => void (b['key'] = hex(ALICE.publicKey)), expected: 'tx.malformed' },
    { name: 'chain id with upper case', mutate: (b) => void (b['chain'] = 'Test-Chain'), expected: 'tx.malformed' },
    { name: 'empty chain id', mutate: (b) => void (b['chain'] = ''), expected: 'tx.malformed' },
    {
      name: 'signer that is not a participant id',
      mutate: (b) => void (b['signer'] = 'admin'),
      expected: 'tx.malformed',
    },
    { name: 'signer with a name in it', mutate: (b) => void (b['signer'] = 'pat_jane-doe'), expected: 'tx.malformed' },
    {
      name: 'unknown type participant.delete',
      mutate: (b) => void (b['type'] = 'participant.delete'),
      expected: 'tx.unknown_type',
    },
    {
      name: 'unknown type record.write',
      mutate: (b) => void (b['type'] = 'record.write'),
      expected: 'tx.unknown_type',
    },
    {
      name: 'prototype name as type',
      mutate: (b) => void (b['type'] = 'participant.constructor'),
      expected: 'tx.unknown_type',
    },
    {
      name: 'badly formatted type',
      mutate: (b) => void (b['type'] = 'Participant.Register'),
      expected: 'tx.malformed',
    },
    { name: 'type without namespace', mutate: (b) => void (b['type'] = 'toString'), expected: 'tx.malformed' },
    { name: 'body that is a list', mutate: (b) => void (b['body'] = []), expected: 'tx.malformed' },
    { name: 'body that is null', mutate: (b) => void (b['body'] = null), expected: 'tx.malformed' },
  ];

  for (const c of bodyCases) {
    test(`${c.name} → ${c.expected}`, () => {
      const obj = bodyObject(base);
      c.mutate(obj);
      assertCode(decodeTx(wireWithBody(cborEncode(obj)), CHAIN), c.expected);
    });
  }

  test('an own "__proto__" key is an unknown field, not a prototype', () => {
    const entries = bodyEntries(base);
    entries.push(['__proto__', cborEncode({ v: 1 })]);
    const body = cbor.map(entries);
    assertCode(decodeTx(wireWithBody(body), CHAIN), ['tx.malformed', 'tx.non_canonical']);
  });

  test('envelope shape: not a list, wrong arity, body not bytes, short signature', () => {
    const { body, signature } = signTx(base, ALICE);
    assertCode(decodeTx(cborEncode({ body, signature }), CHAIN), 'tx.malformed');
    assertCode(decodeTx(cborEncode([body]), CHAIN), 'tx.malformed');
    assertCode(decodeTx(cborEncode([body, signature, signature]), CHAIN), 'tx.malformed');
    assertCode(decodeTx(cborEncode([cborDecode(body), signature]), CHAIN), 'tx.malformed');
    assertCode(decodeTx(cborEncode([body, signature.subarray(0, 63)]), CHAIN), 'tx.malformed');
    assertCode(decodeTx(cborEncode([body, hex(signature)]), CHAIN), 'tx.malformed');
    assertCode(decodeTx(new Uint8Array(0), CHAIN), 'tx.malformed');
  });

  test('wrong chain id → tx.wrong_chain', () => {
    const signed = signTx(envelope(SAMPLE_PAYLOADS['register patient']!, { chain: OTHER_CHAIN }), ALICE);
    assertCode(decodeTx(signed.wire, CHAIN), 'tx.wrong_chain');
    decodeOk(signed.wire, OTHER_CHAIN);
  });

  test('signature by another key → tx.bad_signature', () => {
    const signed = signTx(base, MALLORY); // tx.key is Alice's, signature is Mallory's
    assertCode(decodeTx(signed.wire, CHAIN), 'tx.bad_signature');
  });

  test('the tx key swapped for the real signer of the bytes still has to match: key field is covered', () => {
    const signed = signTx(base, ALICE);
    const entries = replaceEntry(bodyEntries(base), 'key', cborEncode(MALLORY.publicKey));
    const wire = cborEncode([cbor.map(entries), signed.signature]);
    assertCode(decodeTx(wire, CHAIN), 'tx.bad_signature');
  });

  test('domain separation: the same body signed without (or with another) domain prefix fails', () => {
    const body = encodeTxBody(base);
    const bare = cborEncode([body, ALICE.sign(body)]);
    assertCode(decodeTx(bare, CHAIN), 'tx.bad_signature');
    const blockDomain = concatBytes(utf8('medledger/block/v1'), new Uint8Array([0]), body);
    assertCode(decodeTx(cborEncode([body, ALICE.sign(blockDomain)]), CHAIN), 'tx.bad_signature');
    const noSeparator = concatBytes(utf8('medledger/tx/v1'), body);
    assertCode(decodeTx(cborEncode([body, ALICE.sign(noSeparator)]), CHAIN), 'tx.bad_signature');
    decodeOk(wireWithBody(body), CHAIN);
  });

  test('a signature for another chain does not carry over when the chain id is rewritten', () => {
    const foreign = signTx(envelope(SAMPLE_PAYLOADS['register patient']!, { chain: OTHER_CHAIN }), ALICE);
    const entries = replaceEntry(bodyEntries(foreign.tx), 'chain', cbor.text(CHAIN));
    assertCode(decodeTx(cborEncode([cbor.map(entries), foreign.signature]), CHAIN), 'tx.bad_signature');
  });

  test('skipSignature defers only the signature check', () => {
    const signed = signTx(base, MALLORY);
    const result = decodeTx(signed.wire, CHAIN, { skipSignature: true });
    assert.ok(result.ok);
    assertCode(decodeTx(signed.wire, OTHER_CHAIN, { skipSignature: true }), 'tx.wrong_chain');
  });

  test(`oversize input (> ${MAX_TX_BYTES} bytes) → tx.too_large`, () => {
    assertCode(decodeTx(new Uint8Array(MAX_TX_BYTES + 1), CHAIN), 'tx.too_large');
    // A correctly signed tx whose organization name blows the limit.
    const huge = envelope({
      type: 'participant.register',
      body: { kind: 'organization', id: 'org_big', key: NEW_KEY, name: 'a'.repeat(MAX_TX_BYTES) },
    });
    const signed = signTx(huge, ALICE);
    assert.ok(signed.wire.length > MAX_TX_BYTES);
    assertCode(decodeTx(signed.wire, CHAIN), 'tx.too_large');
    // Exactly at the limit is not "too large" (it fails later, for other reasons).
    assert.notEqual(errorCode(decodeTx(new Uint8Array(MAX_TX_BYTES), CHAIN)), 'tx.too_large');
  });

  const idCases: { name: string; payload: TxPayload }[] = [
    {
      name: 'patient id that is a name',
      payload: { type: 'participant.register', body: { kind: 'patient', id: 'pat_jane-doe', key: NEW_KEY } },
    },
    {
      name: 'patient id with spaces',
      payload: { type: 'participant.register', body: { kind: 'patient', id: 'Jane Doe', key: NEW_KEY } },
    },
    {
      name: 'patient id of 25 characters',
      payload: { type: 'participant.register', body: { kind: 'patient', id: PATIENT_ID.slice(0, -1), key: NEW_KEY } },
    },
    {
      name: 'patient id of 27 characters',
      payload: { type: 'participant.register', body: { kind: 'patient', id: `${PATIENT_ID}a`, key: NEW_KEY } },
    },
    {
      name: 'patient id with non-base32 digits',
      payload: {
        type: 'participant.register',
        body: { kind: 'patient', id: 'pat_0123456789abcdefghijklmn', key: NEW_KEY },
      },
    },
    {
      name: 'patient id in upper case',
      payload: { type: 'participant.register', body: { kind: 'patient', id: PATIENT_ID.toUpperCase(), key: NEW_KEY } },
    },
    {
      name: 'patient registered under a practitioner id',
      payload: { type: 'participant.register', body: { kind: 'patient', id: 'prac_jane', key: NEW_KEY } },
    },
    {
      name: 'device whose patient is a name',
      payload: {
        type: 'participant.register',
        body: { kind: 'device', id: DEVICE_ID, key: NEW_KEY, patient: 'pat_john-smith' },
      },
    },
    {
      name: 'device id that is a serial number',
      payload: {
        type: 'participant.register',
        body: { kind: 'device', id: 'dev_sn-12345', key: NEW_KEY, patient: PATIENT_ID },
      },
    },
    {
      name: 'practitioner of a non-organization',
      payload: {
        type: 'participant.register',
        body: { kind: 'practitioner', id: 'prac_a', key: NEW_KEY, org: 'prac_b', roles: ['nurse'] },
      },
    },
    {
      name: 'organization id with upper case',
      payload: {
        type: 'participant.register',
        body: { kind: 'organization', id: 'org_City', key: NEW_KEY, name: 'City' },
      },
    },
    {
      name: 'organization name with control characters',
      payload: {
        type: 'participant.register',
        body: { kind: 'organization', id: 'org_city', key: NEW_KEY, name: 'City\nClinic' },
      },
    },
    {
      name: 'organization name over 120 characters',
      payload: {
        type: 'participant.register',
        body: { kind: 'organization', id: 'org_city', key: NEW_KEY, name: 'a'.repeat(121) },
      },
    },
    {
      name: 'rotate_key for a name',
      payload: { type: 'participant.rotate_key', body: { id: 'pat_jane-doe', key: NEW_KEY } },
    },
    {
      name: 'set_status for a non-id',
      payload: { type: 'participant.set_status', body: { id: 'everyone', status: 'revoked' } },
    },
    {
      name: 'set_status with an unknown status',
      payload: { type: 'participant.set_status', body: { id: 'prac_a', status: 'deleted' as 'revoked' } },
    },
    {
      name: 'set_roles for an organization',
      payload: { type: 'participant.set_roles', body: { id: 'org_test-hospital', roles: ['admin'] } },
    },
    {
      name: 'set_roles for a patient',
      payload: { type: 'participant.set_roles', body: { id: PATIENT_ID, roles: ['admin'] } },
    },
    {
      name: 'governance proposal with an unknown action',
      payload: { type: 'governance.propose', body: { id: 'gov_x', until: 5, action: 'crown-king', key: NEW_KEY } as never },
    },
    {
      name: 'governance proposal with a field of another action',
      payload: {
        type: 'governance.propose',
        body: { id: 'gov_x', until: 5, action: 'remove-validator', key: NEW_KEY, org: 'org_a' } as never,
      },
    },
    {
      name: 'governance proposal admitting a practitioner id',
      payload: {
        type: 'governance.propose',
        body: { id: 'gov_x', until: 5, action: 'admit-organization', org: 'prac_a', key: NEW_KEY, name: 'A' },
      },
    },
    {
      name: 'governance proposal id without prefix',
      payload: { type: 'governance.propose', body: { id: 'admit-a', until: 5, action: 'remove-organization', org: 'org_a' } },
    },
    {
      name: 'governance approval of a non-proposal id',
      payload: { type: 'governance.approve', body: { proposal: 'cns_abcdefghijklmnopqrstuvwxyz' } },
    },
    {
      name: 'governance proposal with a short key',
      payload: {
        type: 'governance.propose',
        body: { id: 'gov_x', until: 5, action: 'add-validator', key: NEW_KEY.subarray(1), name: 'v' },
      },
    },
  ];
  for (const c of idCases) {
    test(`invalid id or field: ${c.name} → tx.malformed`, () => {
      assertCode(decodeTx(signTx(envelope(c.payload), ALICE).wire, CHAIN), 'tx.malformed');
    });
  }

  test('kind and extra fields must agree: a patient registration with an org field is malformed', () => {
    const obj = bodyObject(base);
    (obj['body'] as Record<string, unknown>)['org'] = 'org_test-hospital';
    assertCode(decodeTx(wireWithBody(cborEncode(obj)), CHAIN), 'tx.malformed');
  });

  const roleCases: { name: string; roles: string[] }[] = [
    { name: 'not in canonical order', roles: ['nurse', 'clinician'] },
    { name: 'admin before registrar', roles: ['clinician', 'admin', 'registrar'] },
    { name: 'duplicated', roles: ['clinician', 'clinician'] },
    { name: 'empty', roles: [] },
    { name: 'unknown role', roles: ['surgeon'] },
    { name: 'too many', roles: [...PRACTITIONER_ROLES, 'clinician'] },
  ];
  for (const c of roleCases) {
    test(`roles ${c.name} → tx.malformed (register and set_roles)`, () => {
      const roles = c.roles as PractitionerRole[];
      const register = envelope({
        type: 'participant.register',
        body: { kind: 'practitioner', id: 'prac_a', key: NEW_KEY, org: 'org_test-hospital', roles },
      });
      const setRoles = envelope({ type: 'participant.set_roles', body: { id: 'prac_a', roles } });
      assertCode(decodeTx(signTx(register, ALICE).wire, CHAIN), 'tx.malformed');
      assertCode(decodeTx(signTx(setRoles, ALICE).wire, CHAIN), 'tx.malformed');
    });
  }

  test('every role set in canonical order is accepted', () => {
    fc.assert(
      fc.property(rolesArb, (roles) => {
        decodeOk(signTx(envelope({ type: 'participant.set_roles', body: { id: 'prac_a', roles } }), ALICE).wire);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

describe('isExpired', () => {
  const withExpiry = (expires?: Expiry): Tx => envelope(SAMPLE_PAYLOADS['register patient']!, expires ? { expires } : {});
  const cases: { name: string; expires?: Expiry; height: number; time: number; expired: boolean }[] = [
    { name: 'no expiry never expires', height: Number.MAX_SAFE_INTEGER, time: Number.MAX_SAFE_INTEGER, expired: false },
    { name: 'height: before the limit', expires: { height: 10 }, height: 9, time: 0, expired: false },
    { name: 'height: at the limit (still valid)', expires: { height: 10 }, height: 10, time: 0, expired: false },
    { name: 'height: one past the limit', expires: { height: 10 }, height: 11, time: 0, expired: true },
    { name: 'height 0: block 1 is too late', expires: { height: 0 }, height: 1, time: 0, expired: true },
    { name: 'time: before the limit', expires: { time: 5_000 }, height: 1_000_000, time: 4_999, expired: false },
    {
      name: 'time: at the limit (still valid)',
      expires: { time: 5_000 },
      height: 1_000_000,
      time: 5_000,
      expired: false,
    },
    { name: 'time: one ms past the limit', expires: { time: 5_000 }, height: 1, time: 5_001, expired: true },
    { name: 'both: height past, time fine', expires: { height: 10, time: 5_000 }, height: 11, time: 0, expired: true },
    {
      name: 'both: time past, height fine',
      expires: { height: 10, time: 5_000 },
      height: 1,
      time: 5_001,
      expired: true,
    },
    { name: 'both: within both limits', expires: { height: 10, time: 5_000 }, height: 10, time: 5_000, expired: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(isExpired(withExpiry(c.expires), c.height, c.time), c.expired);
    });
  }

  test('expiry survives the wire: a decoded tx expires exactly like the original', () => {
    fc.assert(
      fc.property(expiryArb, uintArb, uintArb, (expires, height, time) => {
        const tx = withExpiry(expires);
        const decoded = decodeOk(signTx(tx, ALICE).wire).tx;
        assert.equal(isExpired(decoded, height, time), isExpired(tx, height, time));
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Blocks, checkpoints, genesis
// ---------------------------------------------------------------------------------------------

const headerArb: fc.Arbitrary<BlockHeader> = plainRecord({
  chain: chainArb,
  height: uintArb,
  time: uintArb,
  prevHash: bytesArb(32),
  txCount: uintArb,
  txRoot: bytesArb(32),
  logSize: uintArb,
  logRoot: bytesArb(32),
  stateRoot: bytesArb(32),
  proposer: bytesArb(32),
});

const SAMPLE_HEADER: BlockHeader = {
  chain: CHAIN,
  height: 42,
  time: 1_700_000_000_000,
  prevHash: sha256(utf8('prev')),
  txCount: 3,
  txRoot: sha256(utf8('txs')),
  logSize: 120,
  logRoot: sha256(utf8('log')),
  stateRoot: sha256(utf8('state')),
  proposer: ALICE.publicKey,
};

/** One single-field change per header field. */
const HEADER_TWEAKS: Readonly<Record<keyof BlockHeader, (h: BlockHeader) => BlockHeader>> = {
  chain: (h) => ({ ...h, chain: OTHER_CHAIN }),
  height: (h) => ({ ...h, height: h.height + 1 }),
  time: (h) => ({ ...h, time: h.time + 1 }),
  prevHash: (h) => ({ ...h, prevHash: sha256(h.prevHash) }),
  txCount: (h) => ({ ...h, txCount: h.txCount + 1 }),
  txRoot: (h) => ({ ...h, txRoot: sha256(h.txRoot) }),
  logSize: (h) => ({ ...h, logSize: h.logSize + 1 }),
  logRoot: (h) => ({ ...h, logRoot: sha256(h.logRoot) }),
  stateRoot: (h) => ({ ...h, stateRoot: sha256(h.stateRoot) }),
  proposer: (h) => ({ ...h, proposer: MALLORY.publicKey }),
};

describe('block headers', () => {
  test('property: encode/decode round trip is exact and canonical', () => {
    fc.assert(
      fc.property(headerArb, fc.integer(), (header, seed) => {
        const encoded = encodeHeader(header);
        const decoded = decodeHeader(encoded);
        assert.ok(decoded.ok);
        assert.deepStrictEqual(decoded.value, header);
        assertSameBytes(encodeHeader(decoded.value), encoded);
        assertSameBytes(encodeHeader(shuffleKeys(header, seed)), encoded);
        assertSameBytes(blockHash(encodeHeader(decoded.value)), blockHash(encoded));
      }),
      { numRuns: 300 },
    );
  });

  test('blockHash is stable for a fixed header', () => {
    const first = blockHash(encodeHeader(SAMPLE_HEADER));
    assert.equal(first.length, 32);
    assertSameBytes(blockHash(encodeHeader({ ...SAMPLE_HEADER })), first);
    assertDifferentBytes(first, sha256(encodeHeader(SAMPLE_HEADER)), 'the block hash is domain-separated');
  });

  for (const [field, tweak] of Object.entries(HEADER_TWEAKS)) {
    test(`changing ${field} changes the block hash`, () => {
      const before = blockHash(encodeHeader(SAMPLE_HEADER));
      assertDifferentBytes(blockHash(encodeHeader(tweak(SAMPLE_HEADER))), before);
    });
  }

  test('decodeHeader rejects extra fields, wrong hash sizes, wrong versions and non-canonical bytes', () => {
    const obj = cborDecode(encodeHeader(SAMPLE_HEADER)) as Record<string, unknown>;
    const variants: Record<string, unknown>[] = [
      { ...obj, extra: 1 },
      { ...obj, v: 2 },
      { ...obj, prevHash: new Uint8Array(31) },
      { ...obj, proposer: new Uint8Array(33) },
      { ...obj, height: -1 },
      { ...obj, chain: 'UPPER' },
    ];
    for (const v of variants) assertCode(decodeHeader(cborEncode(v)), 'tx.malformed');
    const { stateRoot: _dropped, ...missing } = obj;
    assertCode(decodeHeader(cborEncode(missing)), 'tx.malformed');
    const reordered = cbor.map(
      Object.entries(obj)
        .reverse()
        .map(([k, v]) => [k, cborEncode(v)] as const),
    );
    assertCode(decodeHeader(reordered), 'tx.malformed');
    assertCode(decodeHeader(new Uint8Array([0xff, 0x00])), 'tx.malformed');
  });

  test('block signatures verify only for the signed hash and the proposer', () => {
    const hash = blockHash(encodeHeader(SAMPLE_HEADER));
    const signature = signBlock(hash, ALICE);
    assert.equal(verifyBlockSignature(hash, signature, ALICE.publicKey), true);
    assert.equal(verifyBlockSignature(sha256(hash), signature, ALICE.publicKey), false);
    assert.equal(verifyBlockSignature(hash, signature, MALLORY.publicKey), false);
    assert.equal(verifyBlockSignature(hash, signature.subarray(0, 63), ALICE.publicKey), false);
    assert.equal(verifyBlockSignature(hash, ALICE.sign(hash), ALICE.publicKey), false, 'domain-separated');
  });
});

describe('checkpoints', () => {
  const checkpoint = checkpointOf(SAMPLE_HEADER);
  const signed = signCheckpoint(checkpoint, ALICE);

  test('checkpointOf takes the log size, log root, chain and time of the header', () => {
    assert.deepStrictEqual(checkpoint, {
      chain: SAMPLE_HEADER.chain,
      size: SAMPLE_HEADER.logSize,
      root: SAMPLE_HEADER.logRoot,
      time: SAMPLE_HEADER.time,
    });
  });

  test('a signed checkpoint verifies', () => {
    assertSameBytes(signed.signer, ALICE.publicKey);
    assert.equal(verifyCheckpoint(signed), true);
  });

  const tampered: Record<string, (s: SignedCheckpoint) => SignedCheckpoint> = {
    chain: (s) => ({ ...s, checkpoint: { ...s.checkpoint, chain: OTHER_CHAIN } }),
    size: (s) => ({ ...s, checkpoint: { ...s.checkpoint, size: s.checkpoint.size + 1 } }),
    'size (shrunk)': (s) => ({ ...s, checkpoint: { ...s.checkpoint, size: s.checkpoint.size - 1 } }),
    root: (s) => ({ ...s, checkpoint: { ...s.checkpoint, root: sha256(s.checkpoint.root) } }),
    time: (s) => ({ ...s, checkpoint: { ...s.checkpoint, time: s.checkpoint.time + 1 } }),
    signer: (s) => ({ ...s, signer: MALLORY.publicKey }),
    'signature (one bit)': (s) => {
      const signature = Uint8Array.from(s.signature);
      signature[10] = signature[10]! ^ 1;
      return { ...s, signature };
    },
    'signature (truncated)': (s) => ({ ...s, signature: s.signature.subarray(0, 63) }),
    'signature (valid, but by another key than the claimed signer)': (s) => ({
      ...s,
      signature: signCheckpoint(s.checkpoint, MALLORY).signature,
    }),
    'signature without the domain prefix': (s) => ({ ...s, signature: ALICE.sign(encodeCheckpoint(s.checkpoint)) }),
  };
  for (const [field, tamper] of Object.entries(tampered)) {
    test(`tampering with ${field} fails verification`, () => {
      assert.equal(verifyCheckpoint(tamper(signed)), false);
    });
  }

  test('property: any single-field change to a random checkpoint breaks the signature', () => {
    fc.assert(
      fc.property(headerArb, keyPairArb, fc.constantFrom('chain', 'size', 'root', 'time'), (header, keyPair, field) => {
        const s = signCheckpoint(checkpointOf(header), new Signer(keyPair));
        assert.equal(verifyCheckpoint(s), true);
        const c = s.checkpoint;
        const changed = {
          chain: { ...c, chain: c.chain === CHAIN ? OTHER_CHAIN : CHAIN },
          size: { ...c, size: c.size === 0 ? 1 : c.size - 1 },
          root: { ...c, root: sha256(c.root) },
          time: { ...c, time: c.time === 0 ? 1 : c.time - 1 },
        }[field];
        assert.equal(verifyCheckpoint({ ...s, checkpoint: changed }), false);
      }),
      { numRuns: 100 },
    );
  });
});

describe('genesis', () => {
  const genesisArb: fc.Arbitrary<Genesis> = plainRecord({
    chain: chainArb,
    time: uintArb,
    founder: plainRecord({ id: orgIdArb, name: fc.string({ minLength: 1, maxLength: 120 }), key: bytesArb(32) }),
    validators: fc.array(plainRecord({ name: fc.string({ minLength: 1, maxLength: 64 }), key: bytesArb(32) }), {
      minLength: 1,
      maxLength: 5,
    }),
  });

  const SAMPLE_GENESIS: Genesis = {
    chain: CHAIN,
    time: 1_700_000_000_000,
    founder: { id: 'org_test-hospital', name: 'Test Hospital', key: ALICE.publicKey },
    validators: [{ name: 'validator-1', key: MALLORY.publicKey }],
  };

  test('property: encode/decode round trip is exact, and the hash is a function of the bytes', () => {
    fc.assert(
      fc.property(genesisArb, fc.integer(), (genesis, seed) => {
        const encoded = encodeGenesis(genesis);
        const decoded = decodeGenesis(encoded);
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
        assert.deepStrictEqual(decoded.value, genesis);
        assertSameBytes(encodeGenesis(decoded.value), encoded);
        assertSameBytes(encodeGenesis(shuffleKeys(genesis, seed)), encoded);
        assertSameBytes(genesisHash(encodeGenesis(decoded.value)), genesisHash(encoded));
      }),
      { numRuns: 200 },
    );
  });

  test('the genesis hash changes with the founder, the validator set and the chain', () => {
    const hash = genesisHash(encodeGenesis(SAMPLE_GENESIS));
    assertSameBytes(genesisHash(encodeGenesis({ ...SAMPLE_GENESIS })), hash);
    const variants: Genesis[] = [
      { ...SAMPLE_GENESIS, chain: OTHER_CHAIN },
      { ...SAMPLE_GENESIS, time: SAMPLE_GENESIS.time + 1 },
      { ...SAMPLE_GENESIS, founder: { ...SAMPLE_GENESIS.founder, key: MALLORY.publicKey } },
      { ...SAMPLE_GENESIS, founder: { ...SAMPLE_GENESIS.founder, id: 'org_other' } },
      { ...SAMPLE_GENESIS, validators: [...SAMPLE_GENESIS.validators, { name: 'validator-2', key: ALICE.publicKey }] },
    ];
    for (const v of variants) assertDifferentBytes(genesisHash(encodeGenesis(v)), hash);
  });

  test('decodeGenesis rejects an empty validator set, a bad founder id, extra fields and bad keys', () => {
    const bad: Genesis[] = [
      { ...SAMPLE_GENESIS, validators: [] },
      { ...SAMPLE_GENESIS, founder: { ...SAMPLE_GENESIS.founder, id: 'prac_founder' } },
      { ...SAMPLE_GENESIS, founder: { ...SAMPLE_GENESIS.founder, key: new Uint8Array(31) } },
      { ...SAMPLE_GENESIS, validators: [{ name: 'v', key: new Uint8Array(33) }] },
      { ...SAMPLE_GENESIS, chain: 'Bad Chain' },
    ];
    for (const g of bad) assertCode(decodeGenesis(encodeGenesis(g)), 'tx.malformed');
    const obj = cborDecode(encodeGenesis(SAMPLE_GENESIS)) as Record<string, unknown>;
    assertCode(decodeGenesis(cborEncode({ ...obj, extra: true })), 'tx.malformed');
    assertCode(decodeGenesis(cborEncode({ ...obj, v: 2 })), 'tx.malformed');
    assertCode(decodeGenesis(concatBytes(encodeGenesis(SAMPLE_GENESIS), new Uint8Array([0]))), 'tx.malformed');
  });
});
