/**
 * The RFC 9162 Merkle log (src/ledger/merkle.ts) against the public test vectors of
 * transparency-dev/merkle (stored as data under test/vectors/transparency-dev-merkle/, see its
 * README), plus property tests over random trees.
 *
 * - every upstream inclusion and consistency probe: our verifier accepts exactly the probes
 *   upstream expects to verify (wantErr false) and rejects the rest, without throwing;
 * - the RFC 6962 reference tree of 8 leaves: leaf, node and root hashes for every size 0..8, and
 *   our own inclusion/consistency proofs for every index/size pair equal the upstream proofs;
 * - random trees of up to ~300 leaves: generated proofs verify, a flipped bit, a wrong index or a
 *   wrong size fails, and CompactRange agrees with an independent recursive MTH.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fromBase64, fromHex, toHex, utf8 } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import {
  CompactRange,
  EMPTY_ROOT,
  MemoizingReader,
  MemoryLog,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rangeRoot,
  rootAt,
  rootOfLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../src/ledger/merkle.js';

// ---------------------------------------------------------------------------------------------
// Vector files
// ---------------------------------------------------------------------------------------------

/** Compiled tests run from dist/test/, so the repository root is two levels up. */
const VECTOR_DIR = new URL('../../test/vectors/transparency-dev-merkle/', import.meta.url);

/** A uint64 from the vectors: a number, or a decimal string when it exceeds 2^53 (see readVectors). */
type U64 = number | string;

interface InclusionVector {
  file: string;
  commit: string;
  leafIdx: U64;
  treeSize: U64;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  file: string;
  commit: string;
  size1: U64;
  size2: U64;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface Rfc6962Vectors {
  leafInputs: string[];
  emptyRootHash: string;
  rootHashes: string[];
  nodeHashes: string[][];
  hasher: { desc: string; kind: 'emptyRoot' | 'leaf' | 'node'; leaf?: string; left?: string; right?: string; want: string }[];
  inclusionProofs: { leafIdx: number; treeSize: number; proof: string[] }[];
  consistencyProofs: { size1: number; size2: number; proof: string[] }[];
}

/**
 * Upstream sizes are uint64: a probe like "leafIdx sub @1" on leaf 0 wraps to 2^64 − 1, which
 * JSON.parse would silently round. Such literals are read as strings and kept exact.
 */
function readVectors<T>(name: string): T {
  const text = readFileSync(new URL(name, VECTOR_DIR), 'utf8');
  return JSON.parse(text.replace(/("(?:leafIdx|treeSize|size1|size2)":\s*)(\d{16,})/g, '$1"$2"')) as T;
}

/** The size as our API sees it: exact when it is a safe integer, otherwise an unsafe number. */
function u64(value: U64): number {
  return typeof value === 'number' ? value : Number(BigInt(value));
}

function b64(text: string): Uint8Array {
  const bytes = fromBase64(text);
  assert.ok(bytes, `vector holds invalid base64: ${JSON.stringify(text)}`);
  return bytes;
}

function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  assert.ok(bytes, `vector holds invalid hex: ${JSON.stringify(text)}`);
  return bytes;
}

const inclusionVectors = readVectors<InclusionVector[]>('inclusion.json');
const consistencyVectors = readVectors<ConsistencyVector[]>('consistency.json');
const rfc = readVectors<Rfc6962Vectors>('rfc6962.json');

/**
 * Upstream probes where our verifier deliberately answers differently, with the reason. Each entry
 * pins our answer, so a change of behaviour (either way) shows up here.
 */
const KNOWN_DEVIATIONS: ReadonlyMap<string, { ours: boolean; reason: string }> = new Map([
  [
    'testdata/consistency/additional/size1-is-zero-and-size2-is-not-zero.json',
    {
      ours: true,
      reason:
        'From the empty log (root EMPTY_ROOT, empty proof) to any size is consistent by our documented ' +
        'contract; newer upstream rejects every size1 = 0 as "meaningless" (older upstream accepted it).',
    },
  ],
]);

function expected(vector: { file: string; wantErr: boolean }): boolean {
  return KNOWN_DEVIATIONS.get(vector.file)?.ours ?? !vector.wantErr;
}

function label(vector: { file: string; desc: string }): string {
  return `${vector.file} (${vector.desc})`;
}

// ---------------------------------------------------------------------------------------------
// Upstream probes
// ---------------------------------------------------------------------------------------------

describe('transparency-dev/merkle inclusion probes', () => {
  it('the vector set is complete and well-formed', () => {
    assert.equal(inclusionVectors.length, 98);
    assert.equal(new Set(inclusionVectors.map((v) => v.file)).size, inclusionVectors.length, 'no file twice');
    assert.equal(inclusionVectors.filter((v) => !v.wantErr).length, 6, 'five happy paths and one single-entry match');
  });

  for (const vector of inclusionVectors) {
    it(label(vector), () => {
      const proof = (vector.proof ?? []).map(b64);
      let ok: boolean | undefined;
      assert.doesNotThrow(() => {
        ok = verifyInclusion(b64(vector.leafHash), u64(vector.leafIdx), u64(vector.treeSize), proof, b64(vector.root));
      }, 'verifyInclusion never throws');
      assert.equal(ok, expected(vector), vector.wantErr ? 'must be rejected' : 'must verify');
    });
  }
});

describe('transparency-dev/merkle consistency probes', () => {
  it('the vector set is complete and well-formed', () => {
    assert.equal(consistencyVectors.length, 98);
    assert.equal(new Set(consistencyVectors.map((v) => v.file)).size, consistencyVectors.length, 'no file twice');
    assert.equal(consistencyVectors.filter((v) => !v.wantErr).length, 6, 'five happy paths and one equal-size case');
  });

  for (const vector of consistencyVectors) {
    it(label(vector), () => {
      const proof = (vector.proof ?? []).map(b64);
      let ok: boolean | undefined;
      assert.doesNotThrow(() => {
        ok = verifyConsistency(u64(vector.size1), u64(vector.size2), proof, b64(vector.root1), b64(vector.root2));
      }, 'verifyConsistency never throws');
      assert.equal(ok, expected(vector), vector.wantErr ? 'must be rejected' : 'must verify');
    });
  }

  it('every known deviation names a vector that exists', () => {
    const files = new Set([...inclusionVectors, ...consistencyVectors].map((v) => v.file));
    for (const file of KNOWN_DEVIATIONS.keys()) assert.ok(files.has(file), file);
  });
});

// ---------------------------------------------------------------------------------------------
// The RFC 6962 reference tree
// ---------------------------------------------------------------------------------------------

const LEAVES = rfc.leafInputs.map(hex);
const ROOTS = rfc.rootHashes.map(hex);
const N = LEAVES.length;

function referenceLog(): MemoryLog {
  const log = new MemoryLog();
  for (const leaf of LEAVES) log.append(leafHash(leaf));
  return log;
}

const hexList = (list: readonly Uint8Array[]): string[] => list.map(toHex);

/** Upstream proofs over the reference tree: the Go test tables plus the happy-path probes. */
function upstreamInclusionProofs(): Map<string, string[]> {
  const known = new Map<string, string[]>();
  for (const p of rfc.inclusionProofs) known.set(`${p.leafIdx}/${p.treeSize}`, p.proof);
  for (const v of inclusionVectors) {
    if (v.wantErr || !/\/inclusion\/\d+\//.test(v.file)) continue;
    const key = `${u64(v.leafIdx)}/${u64(v.treeSize)}`;
    const proof = (v.proof ?? []).map((p) => toHex(b64(p)));
    const other = known.get(key);
    if (other) assert.deepEqual(proof, other, `${v.file} agrees with the Go test table`);
    known.set(key, proof);
  }
  return known;
}

function upstreamConsistencyProofs(): Map<string, string[]> {
  const known = new Map<string, string[]>();
  for (const p of rfc.consistencyProofs) known.set(`${p.size1}/${p.size2}`, p.proof);
  for (const v of consistencyVectors) {
    if (v.wantErr || !/\/consistency\/\d+\//.test(v.file)) continue;
    const key = `${u64(v.size1)}/${u64(v.size2)}`;
    const proof = (v.proof ?? []).map((p) => toHex(b64(p)));
    const other = known.get(key);
    if (other) assert.deepEqual(proof, other, `${v.file} agrees with the Go test table`);
    known.set(key, proof);
  }
  return known;
}

describe('RFC 6962 reference tree (8 leaves)', () => {
  it('hashes: empty tree, empty leaf, a leaf, a node', () => {
    assert.equal(toHex(EMPTY_ROOT), rfc.emptyRootHash);
    for (const tc of rfc.hasher) {
      const got =
        tc.kind === 'emptyRoot'
          ? EMPTY_ROOT
          : tc.kind === 'leaf'
            ? leafHash(hex(tc.leaf!))
            : nodeHash(hex(tc.left!), hex(tc.right!));
      assert.equal(toHex(got), tc.want, tc.desc);
    }
    assert.notEqual(toHex(leafHash(new Uint8Array(0))), toHex(EMPTY_ROOT), 'empty leaf ≠ empty tree');
  });

  it('every complete-subtree node matches', () => {
    const log = referenceLog();
    rfc.nodeHashes.forEach((level, l) => level.forEach((want, i) => assert.equal(toHex(log.node(l, i)), want, `node ${l}/${i}`)));
  });

  it('rootAt, the appending root, rootOfLeafHashes and CompactRange.fromReader match for sizes 0..8', () => {
    assert.equal(ROOTS.length, N + 1);
    const growing = new MemoryLog();
    assert.equal(toHex(growing.root()), toHex(ROOTS[0]!), 'empty log');
    for (let size = 1; size <= N; size++) {
      growing.append(leafHash(LEAVES[size - 1]!));
      assert.equal(toHex(growing.root()), toHex(ROOTS[size]!), `appending root at size ${size}`);
    }
    const log = referenceLog();
    for (let size = 0; size <= N; size++) {
      const want = toHex(ROOTS[size]!);
      assert.equal(toHex(rootAt(log, size)), want, `rootAt(${size})`);
      assert.equal(toHex(rootAt(new MemoizingReader(log), size)), want, `memoized rootAt(${size})`);
      assert.equal(toHex(rootOfLeafHashes(LEAVES.slice(0, size).map(leafHash))), want, `rootOfLeafHashes(${size})`);
      assert.equal(toHex(CompactRange.fromReader(log, size).root()), want, `CompactRange.fromReader(${size})`);
    }
  });

  it('rangeRoot of partial ranges', () => {
    const log = referenceLog();
    const n = (l: number, i: number): string => rfc.nodeHashes[l]![i]!;
    assert.equal(toHex(rangeRoot(log, 4, 8)), n(2, 1));
    assert.equal(toHex(rangeRoot(log, 4, 6)), n(1, 2));
    assert.equal(toHex(rangeRoot(log, 4, 7)), toHex(nodeHash(hex(n(1, 2)), hex(n(0, 6)))));
    assert.equal(toHex(rangeRoot(log, 6, 6)), toHex(EMPTY_ROOT));
  });

  it('our inclusion proofs equal the upstream ones and verify, for every index/size pair', () => {
    const log = referenceLog();
    const known = upstreamInclusionProofs();
    assert.ok(known.size >= 5, 'upstream proofs loaded');
    let compared = 0;
    for (let size = 1; size <= N; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(log, index, size);
        const want = known.get(`${index}/${size}`);
        if (want) {
          assert.deepEqual(hexList(proof), want, `PATH(${index}, D[${size}])`);
          compared++;
        }
        assert.deepEqual(hexList(inclusionProof(new MemoizingReader(log), index, size)), hexList(proof), 'memoized');
        assert.ok(verifyInclusion(leafHash(LEAVES[index]!), index, size, proof, ROOTS[size]!), `verify ${index}/${size}`);
      }
    }
    assert.equal(compared, known.size, 'every upstream proof was compared');
    assert.throws(() => inclusionProof(log, 0, 0), RangeError);
    assert.throws(() => inclusionProof(log, 3, 3), RangeError);
    assert.throws(() => inclusionProof(log, -1, 3), RangeError);
  });

  it('our consistency proofs equal the upstream ones and verify, for every size pair', () => {
    const log = referenceLog();
    const known = upstreamConsistencyProofs();
    assert.ok(known.size >= 5, 'upstream proofs loaded');
    let compared = 0;
    for (let size2 = 0; size2 <= N; size2++) {
      for (let size1 = 0; size1 <= size2; size1++) {
        const proof = consistencyProof(log, size1, size2);
        const want = known.get(`${size1}/${size2}`);
        if (want) {
          assert.deepEqual(hexList(proof), want, `PROOF(${size1}, D[${size2}])`);
          compared++;
        }
        assert.deepEqual(hexList(consistencyProof(new MemoizingReader(log), size1, size2)), hexList(proof), 'memoized');
        if (size1 === 0 || size1 === size2) assert.equal(proof.length, 0, 'trivial proofs are empty');
        assert.ok(verifyConsistency(size1, size2, proof, ROOTS[size1]!, ROOTS[size2]!), `verify ${size1}→${size2}`);
      }
    }
    assert.equal(compared, known.size, 'every upstream proof was compared');
    assert.throws(() => consistencyProof(log, 3, 2), RangeError);
    assert.throws(() => consistencyProof(log, -1, 2), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Random trees
// ---------------------------------------------------------------------------------------------

/** MTH straight from the RFC 9162 §2.1.1 definition, independent of the code under test. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

function randomLeaves(seed: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => leafHash(utf8(`leaf ${seed}/${i}`)));
}

function logOf(leaves: readonly Uint8Array[]): MemoryLog {
  const log = new MemoryLog();
  for (const leaf of leaves) log.append(leaf);
  return log;
}

function flipBit(proof: readonly Uint8Array[], element: number, bit: number): Uint8Array[] {
  return proof.map((p, i) => {
    if (i !== element) return p;
    const copy = Uint8Array.from(p);
    copy[bit >> 3]! ^= 1 << (bit & 7);
    return copy;
  });
}

const MAX_LEAVES = 300;
/** A tree of 2..300 random leaves: its seed, total size, and two sizes/indices drawn inside it. */
const treeArb = fc.record({
  seed: fc.nat(),
  total: fc.integer({ min: 2, max: MAX_LEAVES }),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  bit: fc.nat({ max: 255 }),
  element: fc.nat(),
});

describe('random trees (fast-check)', () => {
  it('inclusion: proofs verify; a flipped bit, a wrong index or a wrong size fails', () => {
    fc.assert(
      fc.property(treeArb, ({ seed, total, a, b, c, bit, element }) => {
        const leaves = randomLeaves(seed, total);
        const log = logOf(leaves);
        const size = 1 + (a % total);
        const index = b % size;
        const root = rootAt(log, size);
        const proof = inclusionProof(log, index, size);
        assert.ok(verifyInclusion(leaves[index]!, index, size, proof, root), 'valid proof verifies');
        assert.equal(toHex(root), toHex(referenceRoot(leaves.slice(0, size))), 'root matches reference MTH');

        if (proof.length > 0) {
          const bad = flipBit(proof, element % proof.length, bit);
          assert.equal(verifyInclusion(leaves[index]!, index, size, bad, root), false, 'flipped bit');
          assert.equal(verifyInclusion(leaves[index]!, index, size, proof.slice(1), root), false, 'dropped element');
          assert.equal(verifyInclusion(leaves[index]!, index, size, [...proof, root], root), false, 'extra element');
        }
        const leaf = flipBit([leaves[index]!], 0, bit)[0]!;
        assert.equal(verifyInclusion(leaf, index, size, proof, root), false, 'flipped leaf bit');
        if (size > 1) {
          const wrongIndex = (index + 1 + (c % (size - 1))) % size;
          assert.equal(verifyInclusion(leaves[index]!, wrongIndex, size, proof, root), false, `index ${wrongIndex}`);
        }
        // The size only selects the proof's shape, so a wrong size is checked against that size's
        // root: the proof must not pass for a tree it does not belong to.
        const wrongSize = 1 + ((size + (c % (total - 1))) % total);
        if (wrongSize !== size && index < wrongSize) {
          assert.equal(
            verifyInclusion(leaves[index]!, index, wrongSize, proof, rootAt(log, wrongSize)),
            false,
            `size ${wrongSize}`,
          );
        }
        assert.equal(verifyInclusion(leaves[index]!, index, size, proof, EMPTY_ROOT), false, 'empty root');
        assert.equal(verifyInclusion(leaves[index]!, size, size, proof, root), false, 'index = size');
      }),
    );
  });

  it('consistency: proofs verify; a flipped bit, a wrong size or a wrong root fails', () => {
    fc.assert(
      fc.property(treeArb, ({ seed, total, a, b, c, bit, element }) => {
        const leaves = randomLeaves(seed, total);
        const log = logOf(leaves);
        const size2 = 2 + (a % (total - 1));
        const size1 = 1 + (b % (size2 - 1)); // 0 < size1 < size2: a non-trivial proof
        const root1 = rootAt(log, size1);
        const root2 = rootAt(log, size2);
        const proof = consistencyProof(log, size1, size2);
        assert.ok(proof.length > 0);
        assert.ok(verifyConsistency(size1, size2, proof, root1, root2), 'valid proof verifies');
        assert.ok(verifyConsistency(size2, size2, [], root2, root2), 'equal sizes, empty proof');
        assert.ok(verifyConsistency(0, size2, [], EMPTY_ROOT, root2), 'from the empty tree');

        const bad = flipBit(proof, element % proof.length, bit);
        assert.equal(verifyConsistency(size1, size2, bad, root1, root2), false, 'flipped bit');
        assert.equal(verifyConsistency(size1, size2, proof.slice(0, -1), root1, root2), false, 'truncated');
        assert.equal(verifyConsistency(size1, size2, [...proof, root2], root1, root2), false, 'extra element');
        assert.equal(verifyConsistency(size1, size2, [], root1, root2), false, 'empty proof');
        assert.equal(verifyConsistency(size1, size2, proof, root2, root1), false, 'swapped roots');
        assert.equal(verifyConsistency(size1, size2, proof, flipBit([root1], 0, bit)[0]!, root2), false, 'root1');
        assert.equal(verifyConsistency(size1, size2, proof, root1, flipBit([root2], 0, bit)[0]!), false, 'root2');
        assert.equal(verifyConsistency(size2, size1, proof, root2, root1), false, 'sizes reversed');

        const wrong1 = 1 + ((size1 + (c % (size2 - 1))) % (size2 - 1));
        if (wrong1 !== size1) {
          assert.equal(verifyConsistency(wrong1, size2, proof, rootAt(log, wrong1), root2), false, `size1 ${wrong1}`);
        }
        const wrong2 = size1 + 1 + ((size2 - size1 + (c % (total - size1))) % (total - size1));
        if (wrong2 !== size2) {
          assert.equal(verifyConsistency(size1, wrong2, proof, root1, rootAt(log, wrong2)), false, `size2 ${wrong2}`);
        }
      }),
    );
  });

  it('CompactRange appended leaf by leaf agrees with rootOfLeafHashes, rootAt and the reference MTH', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: MAX_LEAVES }), fc.nat(), (seed, count, probe) => {
        const leaves = randomLeaves(seed, count);
        const range = CompactRange.empty();
        const log = new MemoryLog();
        assert.equal(toHex(range.root()), toHex(EMPTY_ROOT));
        const check = count === 0 ? -1 : probe % count;
        for (let i = 0; i < count; i++) {
          const created = range.append(leaves[i]!);
          log.append(leaves[i]!);
          assert.equal(range.size, i + 1);
          assert.deepEqual(created[0], { level: 0, index: i, hash: leaves[i] }, 'the leaf comes first');
          for (const node of created) assert.equal(toHex(node.hash), toHex(log.node(node.level, node.index)));
          assert.equal(toHex(range.root()), toHex(rootAt(log, i + 1)), `root after ${i + 1} leaves`);
          if (i === check) {
            assert.equal(toHex(range.root()), toHex(referenceRoot(leaves.slice(0, i + 1))), 'reference MTH');
            // A clone continues independently; fromReader restarts from stored nodes.
            const clone = range.clone();
            clone.append(leafHash(utf8('other')));
            assert.equal(toHex(range.root()), toHex(rootAt(log, i + 1)), 'clone does not alias');
            assert.equal(toHex(CompactRange.fromReader(log, i + 1).root()), toHex(range.root()), 'fromReader');
          }
        }
        const want = toHex(referenceRoot(leaves));
        assert.equal(toHex(range.root()), want, 'final root matches reference MTH');
        assert.equal(toHex(rootOfLeafHashes(leaves)), want, 'rootOfLeafHashes');
        assert.equal(toHex(log.root()), want, 'MemoryLog.root');
      }),
      { numRuns: 60 },
    );
  });
});
