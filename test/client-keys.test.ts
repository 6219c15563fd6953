/**
 * Client SDK keys and signing: the pure-TypeScript Ed25519 (@noble/curves) against the node's
 * libsodium — same seed, same public key, byte-identical signatures, and transactions signed on a
 * patient's device that the node's decodeTx accepts. Strictness matches libsodium on the edge
 * cases (non-canonical S, small-order keys). Also the SDK's Buffer-free byte encodings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { base64urlOf, bytesOfBase64url, bytesOfHex, hexOf } from '../src/client/encoding.js';
import { generateKeyPair, keyPairFromSeed, NobleSigner, verifySignature } from '../src/client/keys.js';
import { randomBytes } from '../src/client/random.js';
import { signTransaction } from '../src/client/signer.js';
import * as sodium from '../src/crypto/ed25519.js';
import { toBase64, toHex } from '../src/crypto/bytes.js';
import { decodeTx, signTx, type Tx } from '../src/ledger/tx.js';

const CHAIN = 'test-chain';
const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ maxLength: 512 });
/** The order of the Ed25519 group, little-endian: adding it to S gives a non-canonical S. */
const L = [
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0x10,
];

function addL(signature: Uint8Array): Uint8Array {
  const out = Uint8Array.from(signature);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = out[32 + i]! + L[i]! + carry;
    out[32 + i] = sum & 0xff;
    carry = sum >> 8;
  }
  return out;
}

describe('client keys: noble Ed25519 matches libsodium', () => {
  it('derives the same public key from the same seed', () => {
    fc.assert(
      fc.property(seed, (s) => {
        assert.deepEqual(keyPairFromSeed(s).publicKey, sodium.keyPairFromSeed(s).publicKey);
      }),
      { numRuns: 100 },
    );
  });

  it('produces byte-identical signatures, and each side verifies the other', () => {
    fc.assert(
      fc.property(seed, message, (s, m) => {
        const noble = new NobleSigner(keyPairFromSeed(s)).sign(m);
        const lib = new sodium.Signer(sodium.keyPairFromSeed(s)).sign(m);
        assert.deepEqual(noble, lib);
        const pub = keyPairFromSeed(s).publicKey;
        assert.ok(sodium.verify(noble, m, pub));
        assert.ok(verifySignature(lib, m, pub));
      }),
      { numRuns: 100 },
    );
  });

  it('rejects what libsodium rejects: altered messages, non-canonical S, small-order keys, bad lengths', () => {
    const pair = generateKeyPair();
    const m = new TextEncoder().encode('medledger');
    const sig = new NobleSigner(pair).sign(m);
    assert.equal(verifySignature(sig, new TextEncoder().encode('medledgeR'), pair.publicKey), false);
    const malleated = addL(sig);
    assert.equal(sodium.verify(malleated, m, pair.publicKey), false);
    assert.equal(verifySignature(malleated, m, pair.publicKey), false);
    // The identity point (small order) as a public key, with a signature whose R is also the identity.
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    const forged = new Uint8Array(64);
    forged.set(identityPoint);
    assert.equal(sodium.verify(forged, m, identityPoint), false);
    assert.equal(verifySignature(forged, m, identityPoint), false);
    assert.equal(verifySignature(sig.subarray(1), m, pair.publicKey), false);
    assert.equal(verifySignature(sig, m, pair.publicKey.subarray(1)), false);
    assert.equal(verifySignature(sig, m, new Uint8Array(32).fill(0xff)), false);
  });

  it('never throws on arbitrary signature and key bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), message, fc.uint8Array({ maxLength: 40 }), (sig, m, key) => {
        assert.equal(typeof verifySignature(sig, m, key), 'boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('generates distinct random keys and refuses a seed of the wrong size', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    assert.notDeepEqual(a.secretKey, b.secretKey);
    assert.deepEqual(sodium.keyPairFromSeed(a.secretKey).publicKey, a.publicKey);
    assert.throws(() => keyPairFromSeed(new Uint8Array(31)), RangeError);
    assert.equal(randomBytes(200_000).length, 200_000);
    assert.match(randomPseudonym('pat'), /^pat_[a-z2-7]{26}$/);
  });
});

describe('client signing: SDK-signed transactions are the node’s transactions', () => {
  const payloads = (id: string, key: Uint8Array) =>
    [
      { type: 'participant.rotate_key', body: { id, key } },
      { type: 'participant.set_status', body: { id, status: 'revoked' } },
      { type: 'participant.register', body: { kind: 'device', id: randomPseudonym('dev'), key, patient: id } },
    ] as const;

  it('Identity with a NobleSigner signs the same bytes as with libsodium, and decodeTx accepts them', () => {
    fc.assert(
      fc.property(seed, seed, fc.nat({ max: 1_000_000 }), (s, next, seq) => {
        const id = randomPseudonym('pat');
        const noble = new Identity(CHAIN, id, new NobleSigner(keyPairFromSeed(s)), seq);
        const lib = new Identity(CHAIN, id, sodium.keyPairFromSeed(s), seq);
        for (const payload of payloads(id, keyPairFromSeed(next).publicKey)) {
          const a = noble.sign(payload, { height: 1000 });
          const b = lib.sign(payload, { height: 1000 });
          assert.deepEqual(a.wire, b.wire);
          assert.deepEqual(a.hash, b.hash);
          const decoded = decodeTx(a.wire, CHAIN);
          assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
          assert.deepEqual(decoded.value.hash, a.hash);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('signTransaction equals the ledger signTx and refuses a key that is not the signer’s', () => {
    const pair = generateKeyPair();
    const id = randomPseudonym('pat');
    const tx: Tx = {
      chain: CHAIN,
      signer: id,
      key: pair.publicKey,
      seq: 7,
      type: 'participant.set_status',
      body: { id, status: 'revoked' },
    };
    const sdk = signTransaction(tx, new NobleSigner(pair));
    const node = signTx(tx, new sodium.Signer(pair));
    assert.deepEqual(sdk.wire, node.wire);
    assert.throws(() => signTransaction({ ...tx, key: generateKeyPair().publicKey }, new NobleSigner(pair)), RangeError);
    const other = decodeTx(sdk.wire, 'other-chain');
    assert.ok(!other.ok && other.error.code === 'tx.wrong_chain');
  });

  it('a wiped signer no longer signs with the key', () => {
    const pair = generateKeyPair();
    const signer = new NobleSigner(pair);
    signer.wipe();
    const m = new Uint8Array([1, 2, 3]);
    assert.equal(verifySignature(signer.sign(m), m, pair.publicKey), false);
  });
});

describe('client encodings (no Buffer)', () => {
  it('hex and base64url round-trip and match Node’s encoders', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        assert.equal(hexOf(bytes), toHex(bytes));
        assert.deepEqual(bytesOfHex(hexOf(bytes)), bytes);
        const b64 = base64urlOf(bytes);
        assert.equal(b64, toBase64(bytes).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));
        assert.deepEqual(bytesOfBase64url(b64), bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('decoders accept only the canonical text', () => {
    for (const bad of ['A', 'AB=', 'AB+/', 'AF', 'ab c', 'AAAAA']) assert.equal(bytesOfBase64url(bad), undefined, bad);
    assert.deepEqual(bytesOfBase64url('AA'), new Uint8Array([0]));
    for (const bad of ['0', 'AB', 'zz', ' 00']) assert.equal(bytesOfHex(bad), undefined, bad);
  });
});
