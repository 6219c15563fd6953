/**
 * Field checks for decoded, untrusted values. A failed check throws ShapeError, which the decoding
 * boundary turns into a typed `tx.malformed`/`tx.invalid` result; it never escapes further.
 */
export class ShapeError extends Error {}

export type Fields = Readonly<Record<string, unknown>>;

export function record(value: unknown, where: string, allowed: readonly string[]): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ShapeError(`${where} must be a map`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ShapeError(`${where} has unknown field "${key}"`);
  }
  return value as Fields;
}

export function text(value: unknown, where: string, pattern?: RegExp, maxLength = 256): string {
  if (typeof value !== 'string') throw new ShapeError(`${where} must be a string`);
  if (value.length === 0 || value.length > maxLength) throw new ShapeError(`${where} must be 1..${maxLength} characters`);
  if (pattern && !pattern.test(value)) throw new ShapeError(`${where} has an invalid format`);
  return value;
}

export function uint(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ShapeError(`${where} must be a non-negative integer`);
  }
  return value;
}

export function bytes(value: unknown, where: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new ShapeError(`${where} must be ${length} bytes`);
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, where: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    throw new ShapeError(`${where} must be one of ${options.join(', ')}`);
  }
  return value as T;
}

export function list<T>(value: unknown, where: string, max: number, item: (v: unknown, w: string) => T): T[] {
  if (!Array.isArray(value)) throw new ShapeError(`${where} must be a list`);
  if (value.length > max) throw new ShapeError(`${where} has more than ${max} items`);
  return value.map((v, i) => item(v, `${where}[${i}]`));
}

export function optional<T>(value: unknown, read: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : read(value);
}
