/**
 * A seeded, deterministic random source for the demo data generator.
 *
 * Built on pure-rand's xoroshiro128+ (a mutable generator in pure-rand v8) and its uniform
 * distributions, so the same seed yields the same sequence on every machine. Never touches
 * Math.random or the clock. Floating-point helpers use only IEEE-754 basic operations plus
 * Math.log/Math.cos/Math.sqrt (Box-Muller), whose results V8 computes with its bundled fdlibm port on
 * every platform; callers round derived clinical values to a fixed number of decimals anyway.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

export class Random {
  readonly #rng: JumpableRandomGenerator;
  #spareNormal: number | undefined = undefined;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // xoroshiro128plus takes a 32-bit seed; mix the high bits in so large seeds still differ.
    const high = Math.floor(seed / 0x1_0000_0000) | 0;
    this.#rng = xoroshiro128plus((seed | 0) ^ Math.imul(high, 0x9e37_79b1));
  }

  /** An independent stream derived from this one (advances this stream by a fixed amount). */
  fork(): Random {
    return new Random(this.int(-0x8000_0000, 0x7fff_ffff));
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return uniformFloat64(this.#rng);
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) {
      throw new RangeError(`bad integer range [${min}, ${max}]`);
    }
    return uniformInt(this.#rng, min, max);
  }

  /** Uniform float in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** One element, chosen with probability proportional to its (non-negative) weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    if (!(total > 0)) throw new RangeError('weighted pick needs a positive total weight');
    let x = this.float() * total;
    for (const [item, w] of items) {
      if (x < w) return item;
      x -= w;
    }
    return (items[items.length - 1] as readonly [T, number])[0];
  }

  /** Normal variate (Box-Muller; the second value of each pair is kept for the next call). */
  normal(mean = 0, sd = 1): number {
    let z: number;
    if (this.#spareNormal !== undefined) {
      z = this.#spareNormal;
      this.#spareNormal = undefined;
    } else {
      const u1 = 1 - this.float(); // (0, 1]
      const u2 = this.float();
      const r = Math.sqrt(-2 * Math.log(u1));
      z = r * Math.cos(2 * Math.PI * u2);
      this.#spareNormal = r * Math.sin(2 * Math.PI * u2);
    }
    return mean + sd * z;
  }

  /** Normal variate clamped to [min, max]. */
  normalClamped(mean: number, sd: number, min: number, max: number): number {
    return Math.min(max, Math.max(min, this.normal(mean, sd)));
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /** k distinct elements (k clamped to the array length), in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, Math.max(0, Math.min(k, items.length)));
  }

  /** A random UUID formatted as version 4 (RFC 9562 variant bits), from this stream. */
  uuid(): string {
    const hex: string[] = [];
    for (let i = 0; i < 4; i++) hex.push((this.int(-0x8000_0000, 0x7fff_ffff) >>> 0).toString(16).padStart(8, '0'));
    const h = hex.join('');
    const variant = ((parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  /** A string of decimal digits. */
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
}
