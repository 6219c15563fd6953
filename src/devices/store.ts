/**
 * The device sample index, kept in the vault database (encrypted as a whole like the FHIR search
 * index): one row per stored sample, keyed (patient, code slot, time, device), and one row per
 * stored batch. Both are derived from the encrypted batch Observations and written in the same
 * SQLite transaction that marks a batch's version committed; the Observation stays the record.
 *
 * An hourly roll-up per (patient, code) — count, min, max, sum — is kept in the same transaction,
 * so long-range charts read hours, not samples; it is re-derived from the samples after erasure.
 *
 * The primary key gives both the per-device dedup (a device belongs to one patient for life, so
 * (device, code, time) is unique exactly when (patient, code, time, device) is) and the range
 * scans of the series API.
 */
import type Database from 'better-sqlite3-multiple-ciphers';

export interface StoredRun {
  readonly slot: number;
  readonly start: number;
  readonly period: number;
  readonly values: readonly number[];
}

export interface BatchRow {
  readonly res: number;
  readonly device: string;
  readonly seq: number;
  readonly patient: string;
  readonly samples: number;
  readonly firstT: number;
  readonly lastT: number;
  readonly hash: Uint8Array;
}

export interface Bucket {
  readonly bucket: number;
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly sum: number;
}

const HOUR_MS = 3_600_000;

/** Re-derives the hourly roll-up from the samples (for the rows `where` selects). */
const REBUILD_HOURLY = (where: string): string =>
  `INSERT INTO device_hourly (patient, slot, hour, n, min, max, sum)
     SELECT patient, slot, t - t % ${HOUR_MS}, count(*), min(value), max(value), sum(value)
       FROM device_samples WHERE ${where} GROUP BY patient, slot, t - t % ${HOUR_MS}`;

export class DeviceSampleStore {
  readonly #db: Database.Database;
  readonly #stmts;

  constructor(db: Database.Database) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS device_samples (
        patient TEXT NOT NULL, slot INTEGER NOT NULL, t INTEGER NOT NULL, device TEXT NOT NULL,
        value INTEGER NOT NULL, res INTEGER NOT NULL,
        PRIMARY KEY (patient, slot, t, device)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS device_batches (
        res INTEGER PRIMARY KEY, device TEXT NOT NULL, seq INTEGER NOT NULL, record TEXT NOT NULL,
        patient TEXT NOT NULL, samples INTEGER NOT NULL, first_t INTEGER NOT NULL, last_t INTEGER NOT NULL,
        hash BLOB NOT NULL, UNIQUE (device, seq)
      );
      CREATE TABLE IF NOT EXISTS device_seq (device TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS device_hourly (
        patient TEXT NOT NULL, slot INTEGER NOT NULL, hour INTEGER NOT NULL,
        n INTEGER NOT NULL, min INTEGER NOT NULL, max INTEGER NOT NULL, sum INTEGER NOT NULL,
        PRIMARY KEY (patient, slot, hour)
      ) WITHOUT ROWID;
    `);
    // Added after the first version of the table: which code slots a batch holds (bit per slot).
    const columns = db.prepare("SELECT name FROM pragma_table_info('device_batches')").pluck().all() as string[];
    if (!columns.includes('slots')) db.exec('ALTER TABLE device_batches ADD COLUMN slots INTEGER NOT NULL DEFAULT -1');
    db.exec('CREATE INDEX IF NOT EXISTS device_batches_by_patient ON device_batches (patient, last_t)');
    const hourlyEmpty = db.prepare('SELECT NOT EXISTS (SELECT 1 FROM device_hourly)').pluck().get() === 1;
    if (hourlyEmpty) db.exec(REBUILD_HOURLY('1'));
    this.#stmts = {
      addHour: db.prepare(
        `INSERT INTO device_hourly (patient, slot, hour, n, min, max, sum) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (patient, slot, hour) DO UPDATE SET n = n + excluded.n, min = min(min, excluded.min),
             max = max(max, excluded.max), sum = sum + excluded.sum`,
      ),
      hourlyBuckets: db.prepare(
        `SELECT (hour - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, sum(n) AS n, min(min) AS min, max(max) AS max, sum(sum) AS sum
           FROM device_hourly WHERE patient = ? AND slot = ? AND hour >= ? AND hour < ? GROUP BY bucket ORDER BY bucket`,
      ),
      hourlyDaily: db.prepare(
        `SELECT hour / 86400000 AS day, sum(n) AS n, sum(sum) AS sum FROM device_hourly
           WHERE patient = ? AND slot = ? AND hour >= ? AND hour < ? GROUP BY day ORDER BY day`,
      ),
      insertSample: db.prepare('INSERT INTO device_samples (patient, slot, t, device, value, res) VALUES (?, ?, ?, ?, ?, ?)'),
      insertBatch: db.prepare(
        `INSERT INTO device_batches (res, device, seq, record, patient, samples, first_t, last_t, hash, slots)
           VALUES (?, ?, ?, (SELECT record FROM current WHERE res = ?), ?, ?, ?, ?, ?, ?)`,
      ),
      // Kept through erasure (it says nothing clinical), so an erased batch cannot be replayed.
      lastSeq: db
        .prepare(
          'SELECT max(last_seq) FROM (SELECT last_seq FROM device_seq WHERE device = ? UNION ALL SELECT max(seq) FROM device_batches WHERE device = ?)',
        )
        .pluck(),
      setSeq: db.prepare(
        `INSERT INTO device_seq (device, last_seq) VALUES (?, ?)
           ON CONFLICT (device) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
      ),
      existing: db
        .prepare('SELECT t FROM device_samples WHERE patient = ? AND slot = ? AND t BETWEEN ? AND ? AND device = ?')
        .pluck(),
      buckets: db.prepare(
        `SELECT (t - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, count(*) AS n, min(value) AS min, max(value) AS max, sum(value) AS sum
           FROM device_samples WHERE patient = ? AND slot = ? AND t >= ? AND t < ? GROUP BY bucket ORDER BY bucket`,
      ),
      daily: db.prepare(
        `SELECT t / 86400000 AS day, count(*) AS n, sum(value) AS sum FROM device_samples
           WHERE patient = ? AND slot = ? AND t >= ? AND t < ? GROUP BY day ORDER BY day`,
      ),
      // Batches whose span meets the range and that hold the code (their bit in `slots`).
      rangeRecords: db
        .prepare(
          `SELECT record FROM device_batches WHERE patient = ? AND (slots & ?) != 0 AND first_t < ? AND last_t >= ? ORDER BY res`,
        )
        .pluck(),
      rangeDevices: db
        .prepare(
          'SELECT DISTINCT device FROM device_batches WHERE patient = ? AND (slots & ?) != 0 AND first_t < ? AND last_t >= ?',
        )
        .pluck(),
      batchesOfDevice: db.prepare(
        'SELECT count(*) AS batches, sum(samples) AS samples, max(last_t) AS last FROM device_batches WHERE device = ?',
      ),
      unindexed: db.prepare(
        `SELECT c.type, c.id FROM current c WHERE c.type = 'Observation' AND c.id LIKE 'dev-%' AND c.deleted = 0 AND c.version > 0
           AND c.res NOT IN (SELECT res FROM device_batches)`,
      ),
      clearHourly: db.prepare('DELETE FROM device_hourly WHERE patient = ?'),
      prune: db.prepare(
        'DELETE FROM device_samples WHERE patient = ? AND res NOT IN (SELECT res FROM current WHERE patient = ?)',
      ),
      pruneBatches: db.prepare(
        'DELETE FROM device_batches WHERE patient = ? AND res NOT IN (SELECT res FROM current WHERE patient = ?)',
      ),
    };
  }

  /** The highest batch number stored for the device (-1 before its first batch). */
  lastSeq(device: string): number {
    const seq = this.#stmts.lastSeq.get(device, device) as number | null;
    return seq ?? -1;
  }

  /** Times already stored for one device and code between `from` and `to` (inclusive). */
  existingTimes(patient: string, slot: number, device: string, from: number, to: number): Set<number> {
    return new Set(this.#stmts.existing.all(patient, slot, from, to, device) as number[]);
  }

  /** Inside the vault's commit transaction of the batch's Observation. */
  insert(batch: BatchRow, runs: readonly StoredRun[]): void {
    const { insertSample, addHour } = this.#stmts;
    const hours = new Map<string, { slot: number; hour: number; n: number; min: number; max: number; sum: number }>();
    let slots = 0;
    for (const run of runs) {
      slots |= 1 << run.slot;
      for (let i = 0; i < run.values.length; i++) {
        const t = run.start + i * run.period;
        const value = run.values[i]!;
        insertSample.run(batch.patient, run.slot, t, batch.device, value, batch.res);
        const hour = t - (t % HOUR_MS);
        const key = `${run.slot}/${hour}`;
        const h = hours.get(key);
        if (h) {
          h.n += 1;
          h.sum += value;
          if (value < h.min) h.min = value;
          if (value > h.max) h.max = value;
        } else hours.set(key, { slot: run.slot, hour, n: 1, min: value, max: value, sum: value });
      }
    }
    for (const h of hours.values()) addHour.run(batch.patient, h.slot, h.hour, h.n, h.min, h.max, h.sum);
    this.#stmts.setSeq.run(batch.device, batch.seq);
    this.#stmts.insertBatch.run(
      batch.res,
      batch.device,
      batch.seq,
      batch.res,
      batch.patient,
      batch.samples,
      batch.firstT,
      batch.lastT,
      batch.hash,
      slots,
    );
  }

  /**
   * Buckets of `bucketMs` from `from`. When the bucket and the range fall on whole hours the hourly
   * roll-up answers (a year of 1 Hz samples is 8,760 rows, not 31 million); otherwise the samples.
   */
  buckets(patient: string, slot: number, from: number, to: number, bucketMs: number): Bucket[] {
    const hourly = bucketMs % HOUR_MS === 0 && from % HOUR_MS === 0 && to % HOUR_MS === 0;
    const stmt = hourly ? this.#stmts.hourlyBuckets : this.#stmts.buckets;
    return stmt.all(from, bucketMs, patient, slot, from, to) as Bucket[];
  }

  /** Per UTC day in [from, to): the start of the day, the samples and the sum of their values. */
  daily(patient: string, slot: number, from: number, to: number): { day: number; n: number; sum: number }[] {
    const stmt = from % HOUR_MS === 0 && to % HOUR_MS === 0 ? this.#stmts.hourlyDaily : this.#stmts.daily;
    return (stmt.all(patient, slot, from, to) as { day: number; n: number; sum: number }[]).map((r) => ({
      ...r,
      day: r.day * 86_400_000,
    }));
  }

  /** Ledger record ids of the batches with samples in the range (what a series discloses). */
  recordsInRange(patient: string, slot: number, from: number, to: number): string[] {
    return this.#stmts.rangeRecords.all(patient, 1 << slot, to, from) as string[];
  }

  devicesInRange(patient: string, slot: number, from: number, to: number): string[] {
    return this.#stmts.rangeDevices.all(patient, 1 << slot, to, from) as string[];
  }

  deviceSummary(device: string): { batches: number; samples: number; last: number | null } {
    const row = this.#stmts.batchesOfDevice.get(device) as { batches: number; samples: number | null; last: number | null };
    return { batches: row.batches, samples: row.samples ?? 0, last: row.last };
  }

  /** Batch Observations committed without their index rows (settled by crash recovery). */
  unindexed(): { type: string; id: string }[] {
    return this.#stmts.unindexed.all() as { type: string; id: string }[];
  }

  /** Drops index rows whose batch was erased (crypto-shredded) from the vault. */
  prune(patient: string): number {
    return this.#db.transaction(() => {
      const samples = this.#stmts.prune.run(patient, patient).changes;
      this.#stmts.pruneBatches.run(patient, patient);
      this.#stmts.clearHourly.run(patient);
      this.#db.prepare(REBUILD_HOURLY('patient = ?')).run(patient);
      return samples;
    })();
  }
}
