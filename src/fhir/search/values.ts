/**
 * Value helpers shared by extraction and query parsing: string normalization and FHIR date
 * parsing into inclusive millisecond ranges covering the value's precision.
 */

/** Lowest and highest instants used for open Period ends (the JavaScript Date range). */
export const MIN_INSTANT = -8_640_000_000_000_000;
export const MAX_INSTANT = 8_640_000_000_000_000;

/** Longest string kept in the index (longer values are cut, so :contains sees only the start). */
export const MAX_INDEXED_STRING = 1024;

const COMBINING = /[\u0300-\u036f]/g;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** Lower-case with accents (combining marks) stripped, for case- and accent-insensitive matching. */
export function normalizeString(s: string): string {
  const cut = s.length > MAX_INDEXED_STRING ? s.slice(0, MAX_INDEXED_STRING) : s;
  if (ASCII.test(cut)) return cut.toLowerCase();
  return cut.normalize('NFD').replace(COMBINING, '').toLowerCase().normalize('NFC');
}

export interface DateRange {
  readonly low: number;
  readonly high: number;
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses a FHIR date, dateTime or instant (also minute precision, as search values allow) into
 * the inclusive range of milliseconds it denotes: '2024' → the whole year, '2024-03-05T10:00Z' →
 * that minute. Values with a time but no zone are read as UTC; dates without time are UTC days.
 * Returns undefined for anything malformed or out of range.
 */
export function parseDateRange(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value);
  if (m === null) return undefined;
  const year = Number(m[1]);
  if (m[2] === undefined) return { low: Date.UTC(year, 0, 1), high: Date.UTC(year + 1, 0, 1) - 1 };
  const month = Number(m[2]);
  if (month < 1 || month > 12) return undefined;
  if (m[3] === undefined) return { low: Date.UTC(year, month - 1, 1), high: Date.UTC(year, month, 1) - 1 };
  const day = Number(m[3]);
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  const dayStart = Date.UTC(year, month - 1, day);
  if (m[4] === undefined) return { low: dayStart, high: dayStart + 86_400_000 - 1 };
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  if (hour > 23 || minute > 59) return undefined;
  let offset = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 14 || om > 59) return undefined;
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  let low = dayStart + hour * 3_600_000 + minute * 60_000 - offset;
  if (m[6] === undefined) return { low, high: low + 60_000 - 1 };
  const second = Number(m[6]);
  if (second > 60) return undefined;
  low += second * 1000;
  const frac = m[7];
  if (frac === undefined) return { low, high: low + 1000 - 1 };
  const digits = Math.min(frac.length, 3);
  low += Number(frac.slice(0, 3).padEnd(3, '0'));
  const unit = 10 ** (3 - digits);
  return { low, high: low + unit - 1 };
}
