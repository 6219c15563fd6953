/**
 * The verifiable log: an RFC 9162 (Certificate Transparency v2) Merkle tree over every committed
 * transaction. Leaf hash SHA-256(0x00 ‖ leaf), node hash SHA-256(0x01 ‖ left ‖ right).
 *
 * Storage keeps only the hashes of complete subtrees: node (level, index) covers leaves
 * [index·2^level, (index+1)·2^level). Every proof and root is assembled from those, so the log
 * never needs rehashing and proofs cost O(log n) node reads.
 */
import { concatBytes, equalBytes } from '../crypto/bytes.js';
import { HASH_SIZE, sha256 } from '../crypto/hash.js';

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

export function leafHash(leaf: Uint8Array): Uint8Array {
  return sha256(concatBytes(LEAF_PREFIX, leaf));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concatBytes(NODE_PREFIX, left, right));
}

/** Read access to stored complete-subtree hashes. Must throw if a node is missing. */
export interface LogNodeReader {
  node(level: number, index: number): Uint8Array;
}

export interface LogNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

/** Largest power of two strictly smaller than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function log2(n: number): number {
  return 31 - Math.clz32(n);
}

/** MTH(D[start:end]) for a range whose start is aligned to the largest power of two inside it. */
export function rangeRoot(reader: LogNodeReader, start: number, end: number): Uint8Array {
  const width = end - start;
  if (width === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(width) && start % width === 0) {
    const level = log2(width);
    return reader.node(level, start / width);
  }
  const k = splitPoint(width);
  return nodeHash(rangeRoot(reader, start, start + k), rangeRoot(reader, start + k, end));
}

/**
 * A reader that remembers every node and partial-range root it computes: proofs for many leaves
 * of one tree (e.g. every transaction of a block) then share their reads and hashing.
 */
export class MemoizingReader implements LogNodeReader {
  readonly #inner: LogNodeReader;
  readonly #nodes = new Map<string, Uint8Array>();

  constructor(inner: LogNodeReader, known: readonly LogNode[] = []) {
    this.#inner = inner;
    for (const n of known) this.#nodes.set(`${n.level}/${n.index}`, n.hash);
  }

  node(level: number, index: number): Uint8Array {
    const key = `${level}/${index}`;
    let hash = this.#nodes.get(key);
    if (!hash) {
      hash = this.#inner.node(level, index);
      this.#nodes.set(key, hash);
    }
    return hash;
  }

  /** Memoized partial ranges share the cache under a distinct key space. */
  range(start: number, end: number): Uint8Array {
    const key = `r${start}-${end}`;
    let hash = this.#nodes.get(key);
    if (!hash) {
      hash = rangeRoot(this, start, end);
      this.#nodes.set(key, hash);
    }
    return hash;
  }
}

function subtree(reader: LogNodeReader, start: number, end: number): Uint8Array {
  return reader instanceof MemoizingReader ? reader.range(start, end) : rangeRoot(reader, start, end);
}

export function rootAt(reader: LogNodeReader, size: number): Uint8Array {
  return rangeRoot(reader, 0, size);
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]): sibling hashes from the leaf upwards. */
export function inclusionProof(reader: LogNodeReader, index: number, size: number): Uint8Array[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a log of size ${size}`);
  const path: Uint8Array[] = [];
  const walk = (m: number, start: number, end: number): void => {
    const width = end - start;
    if (width <= 1) return;
    const k = splitPoint(width);
    if (m < k) {
      walk(m, start, start + k);
      path.push(subtree(reader, start + k, end));
    } else {
      walk(m - k, start + k, end);
      path.push(subtree(reader, start, start + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]). */
export function consistencyProof(reader: LogNodeReader, size1: number, size2: number): Uint8Array[] {
  if (!(size1 >= 0 && size1 <= size2)) throw new RangeError(`cannot prove ${size1} → ${size2}`);
  const path: Uint8Array[] = [];
  if (size1 === 0 || size1 === size2) return path;
  const sub = (m: number, start: number, end: number, complete: boolean): void => {
    const width = end - start;
    if (m === width) {
      if (!complete) path.push(subtree(reader, start, end));
      return;
    }
    const k = splitPoint(width);
    if (m <= k) {
      sub(m, start, start + k, complete);
      path.push(subtree(reader, start + k, end));
    } else {
      sub(m - k, start + k, end, false);
      path.push(subtree(reader, start, start + k));
    }
  };
  sub(size1, 0, size2, true);
  return path;
}

/** RFC 9162 §2.1.3.2. Sizes are leaf counts; never throws on hostile input. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  // A leaf hash of any other length is not a leaf hash (for a 1-leaf tree it would be compared to
  // the root as is, so two equal byte strings of the wrong length would otherwise "verify").
  if (leaf.length !== HASH_SIZE) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/**
 * RFC 9162 §2.1.4.2. Equal sizes need equal roots and an empty proof; the empty log (whose root
 * must be EMPTY_ROOT) is consistent with every log, with an empty proof.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  if (size1 === 0 && !equalBytes(root1, EMPTY_ROOT)) return false;
  if (size1 === size2) return proof.length === 0 && equalBytes(root1, root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
}

/**
 * The right border of the tree: roots of the perfect subtrees that make up [0, size). Appending a
 * leaf yields the newly completed nodes to store, and the current root without any reads.
 */
export class CompactRange {
  #size: number;
  /** Border hashes, tallest subtree first; their levels are the set bits of size. */
  readonly #border: Uint8Array[];

  private constructor(size: number, border: Uint8Array[]) {
    this.#size = size;
    this.#border = border;
  }

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  static fromReader(reader: LogNodeReader, size: number): CompactRange {
    const border: Uint8Array[] = [];
    let start = 0;
    for (let level = 52; level >= 0; level--) {
      const width = 2 ** level;
      if (start + width <= size) {
        border.push(reader.node(level, start / width));
        start += width;
      }
    }
    return new CompactRange(size, border);
  }

  get size(): number {
    return this.#size;
  }

  clone(): CompactRange {
    return new CompactRange(this.#size, [...this.#border]);
  }

  /** Appends one leaf hash; returns every complete-subtree node it creates, the leaf first. */
  append(leaf: Uint8Array): LogNode[] {
    const created: LogNode[] = [{ level: 0, index: this.#size, hash: leaf }];
    let hash = leaf;
    let index = this.#size;
    let level = 0;
    while (index % 2 === 1) {
      const left = this.#border.pop()!;
      hash = nodeHash(left, hash);
      index = (index - 1) / 2;
      level += 1;
      created.push({ level, index, hash });
    }
    this.#border.push(hash);
    this.#size += 1;
    return created;
  }

  root(): Uint8Array {
    if (this.#border.length === 0) return EMPTY_ROOT;
    let root = this.#border[this.#border.length - 1]!;
    for (let i = this.#border.length - 2; i >= 0; i--) root = nodeHash(this.#border[i]!, root);
    return root;
  }
}

/** MTH over an in-memory list of leaf hashes (used for a block's own transaction root). */
export function rootOfLeafHashes(leaves: readonly Uint8Array[]): Uint8Array {
  const range = CompactRange.empty();
  for (const leaf of leaves) range.append(leaf);
  return range.root();
}

/** A LogNodeReader over an in-memory list of leaf hashes, for tests and small trees. */
export class MemoryLog implements LogNodeReader {
  readonly #nodes = new Map<string, Uint8Array>();
  readonly #range = CompactRange.empty();

  append(leaf: Uint8Array): void {
    for (const node of this.#range.append(leaf)) this.#nodes.set(`${node.level}:${node.index}`, node.hash);
  }

  get size(): number {
    return this.#range.size;
  }

  root(): Uint8Array {
    return this.#range.root();
  }

  node(level: number, index: number): Uint8Array {
    const hash = this.#nodes.get(`${level}:${index}`);
    if (!hash) throw new RangeError(`log node ${level}/${index} is missing`);
    return hash;
  }
}
