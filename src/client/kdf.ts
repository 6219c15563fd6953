/**
 * The passphrase KDF of key backups: Argon2id (RFC 9106, version 0x13) in pure TypeScript
 * (@noble/hashes), identical in Node and the browser.
 *
 * Defaults — m = 64 MiB, t = 3 passes, p = 1 lane, 32-byte output — are RFC 9106's second
 * recommended setting with one lane (JavaScript computes lanes one after another, so more lanes add
 * time, not hardness). About 0.9 s in Node on this project's machine, a little more in browsers.
 * Creating a backup refuses less than MIN_CREATE (OWASP's floor: 19 MiB, 2 passes) unless the
 * caller explicitly allows weak parameters (tests do, to stay fast).
 *
 * Parameters travel inside the backup, so a backup from a hostile or broken node could ask for
 * gigabytes or hours. `checkKdfBounds` runs before any derivation: m ≤ 256 MiB, t ≤ 10, p ≤ 4 and
 * m·t ≤ 1 GiB-pass (≈ 5 s here) by default; callers may tighten or widen the limits explicitly.
 */
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { failure, success, type ClientResult } from './errors.js';

export interface Argon2idParams {
  readonly alg: 'argon2id';
  /** Memory in KiB. */
  readonly memoryKiB: number;
  readonly passes: number;
  readonly parallelism: number;
}

export interface KdfLimits {
  readonly maxMemoryKiB: number;
  readonly maxPasses: number;
  readonly maxParallelism: number;
  /** Bound on memoryKiB × passes, the work that dominates the running time. */
  readonly maxWork: number;
}

export const DEFAULT_KDF: Argon2idParams = { alg: 'argon2id', memoryKiB: 65_536, passes: 3, parallelism: 1 };
export const MIN_CREATE: Pick<Argon2idParams, 'memoryKiB' | 'passes'> = { memoryKiB: 19_456, passes: 2 };
export const DEFAULT_LIMITS: KdfLimits = { maxMemoryKiB: 262_144, maxPasses: 10, maxParallelism: 4, maxWork: 1_048_576 };
export const KEY_SIZE = 32;

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

/** Checks untrusted parameters before any work is done. */
export function checkKdfBounds(params: Argon2idParams, limits: KdfLimits = DEFAULT_LIMITS): ClientResult<Argon2idParams> {
  const { memoryKiB: m, passes: t, parallelism: p } = params;
  if (params.alg !== 'argon2id') return failure('backup.unsupported', 'unsupported key derivation function');
  if (!isCount(m, 1) || !isCount(t, 1) || !isCount(p, 1))
    return failure('backup.malformed', 'KDF parameters must be positive integers');
  if (m < 8 * p) return failure('backup.malformed', 'Argon2 needs at least 8 KiB of memory per lane');
  if (m > limits.maxMemoryKiB || t > limits.maxPasses || p > limits.maxParallelism || m * t > limits.maxWork) {
    return failure(
      'backup.kdf_out_of_bounds',
      `KDF parameters (m=${m} KiB, t=${t}, p=${p}) exceed this client's limits (m ≤ ${limits.maxMemoryKiB} KiB, t ≤ ${limits.maxPasses}, p ≤ ${limits.maxParallelism}, m·t ≤ ${limits.maxWork})`,
    );
  }
  return success(params);
}

/** True when parameters meet the floor for new backups. */
export function meetsCreateFloor(params: Argon2idParams): boolean {
  return params.memoryKiB >= MIN_CREATE.memoryKiB && params.passes >= MIN_CREATE.passes;
}

/**
 * Derives the 32-byte wrapping key. The passphrase is NFKC-normalized first, so the same
 * passphrase typed on different keyboards and platforms gives the same bytes. Call
 * `checkKdfBounds` first for untrusted parameters.
 */
export async function deriveKey(
  passphrase: string,
  salt: Uint8Array,
  params: Argon2idParams,
  onProgress?: (fraction: number) => void,
): Promise<Uint8Array> {
  const password = new TextEncoder().encode(passphrase.normalize('NFKC'));
  try {
    return await argon2idAsync(password, salt, {
      m: params.memoryKiB,
      t: params.passes,
      p: params.parallelism,
      dkLen: KEY_SIZE,
      // Room for the parameters this call was allowed to have; noble refuses anything beyond.
      maxmem: params.memoryKiB * 1024 + 1024 * 1024,
      asyncTick: 10,
      ...(onProgress && { onProgress }),
    });
  } finally {
    password.fill(0);
  }
}
