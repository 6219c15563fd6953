/**
 * FHIR search benchmark: fills an on-disk SQLite database with N synthetic Observations (index rows
 * written through IndexWriter) and measures `Observation?patient=X&code=http://loinc.org|Y`.
 * Run: `node dist/bench/fhir-search.js [N]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import type { Observation } from '@medplum/fhirtypes';
import {
  IndexWriter,
  SEARCH_DDL,
  currentRowOf,
  extractIndexEntries,
  getSearchDefinitions,
  parseSearch,
  runSearch,
} from '../src/fhir/search/index.js';
import { percentile, round } from './stats.js';

export interface FhirSearchBenchOptions {
  /** Observations to insert (default 200,000). */
  readonly observations?: number;
  readonly patients?: number;
  readonly queries?: number;
  /** Directory for the database (default: a fresh temp dir, removed afterwards). */
  readonly dir?: string;
}

export interface FhirSearchBenchResult {
  readonly observations: number;
  readonly indexRowsPerResource: number;
  readonly extractUsPerResource: number;
  readonly insertPerSecond: number;
  readonly searchP50Ms: number;
  readonly searchP99Ms: number;
  readonly meanMatches: number;
  readonly dbBytes: number;
}

const CODES = ['8867-4', '8480-6', '8462-4', '29463-7', '8302-2', '2339-0', '2093-3', '718-7', '4548-4', '39156-5'];

function observation(i: number, patients: number): Observation {
  const code = CODES[(i * 7) % CODES.length]!;
  return {
    resourceType: 'Observation',
    id: `obs-${i}`,
    meta: { lastUpdated: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code, display: `Code ${code}` }], text: `Code ${code}` },
    subject: { reference: `Patient/pat-${i % patients}` },
    encounter: { reference: `Encounter/enc-${i % (patients * 3)}` },
    effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString(),
    valueQuantity: { value: (i % 1000) / 10, unit: 'unit', system: 'http://unitsofmeasure.org', code: 'u' },
  };
}

export function runFhirSearchBench(options: FhirSearchBenchOptions = {}): FhirSearchBenchResult {
  const n = options.observations ?? 200_000;
  const patients = options.patients ?? Math.max(1, Math.floor(n / 200));
  const queries = options.queries ?? 2000;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'medledger-fhir-search-'));
  const file = join(dir, 'search.db');
  getSearchDefinitions();
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SEARCH_DDL);
    const writer = new IndexWriter(db);
    const ins = db.prepare('INSERT INTO current (type, id, last_updated, deleted) VALUES (?, ?, ?, 0)');
    let rows = 0;
    let extractMs = 0;
    const t0 = performance.now();
    const batch = 5000;
    for (let start = 0; start < n; start += batch) {
      db.transaction(() => {
        for (let i = start; i < Math.min(n, start + batch); i++) {
          const o = observation(i, patients);
          const e0 = performance.now();
          const entries = extractIndexEntries(o);
          extractMs += performance.now() - e0;
          rows += entries.length;
          const cur = currentRowOf(o);
          const res = Number(ins.run(cur.type, cur.id, cur.lastUpdated).lastInsertRowid);
          writer.insert(res, cur.type, entries);
        }
      })();
    }
    const insertMs = performance.now() - t0;
    db.exec('ANALYZE');
    const samples = new Float64Array(queries);
    let matches = 0;
    let seed = 12345;
    for (let q = 0; q < queries; q++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const params = new URLSearchParams({
        patient: `pat-${seed % patients}`,
        code: `http://loinc.org|${CODES[(seed >>> 8) % CODES.length]!}`,
      });
      const s = performance.now();
      const parsed = parseSearch('Observation', params);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
      matches += runSearch(db, parsed.query).matches.length;
      samples[q] = performance.now() - s;
    }
    const dbBytes = (
      db.prepare('SELECT page_count * page_size AS b FROM pragma_page_count(), pragma_page_size()').get() as { b: number }
    ).b;
    return {
      observations: n,
      indexRowsPerResource: round(rows / n, 1),
      extractUsPerResource: round((extractMs * 1000) / n, 1),
      insertPerSecond: Math.round(n / (insertMs / 1000)),
      searchP50Ms: round(percentile(samples, 50), 3),
      searchP99Ms: round(percentile(samples, 99), 3),
      meanMatches: round(matches / queries, 1),
      dbBytes,
    };
  } finally {
    db.close();
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 200_000);
  console.log(JSON.stringify(runFhirSearchBench({ observations: n }), null, 2));
}
