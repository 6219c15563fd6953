/**
 * The device sample index, kept in the vault database (encrypted as a whole like the FHIR search
 * index): one row per stored sample, keyed (patient, code slot, time, device), and one row per
 * stored batch. Both are derived from the encrypted batch Observations and written in the same
 * SQLite transaction that marks a batch's version committed; the Observation stays the record.
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
    `);
    this.#stmts = {
      insertSample: db.prepare('INSERT INTO device_samples (patient, slot, t, device, value, res) VALUES (?, ?, ?, ?, ?, ?)'),
      insertBatch: db.prepare(
        `INSERT INTO device_batches (res, device, seq, record, patient, samples, first_t, last_t, hash)
           VALUES (?, ?, ?, (SELECT record FROM current WHERE res = ?), ?, ?, ?, ?, ?)`,
      ),
      lastSeq: db.prepare('SELECT max(seq) FROM device_batches WHERE device = ?').pluck(),
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
      rangeRecords: db
        .prepare(
          `SELECT record FROM device_batches WHERE res IN
             (SELECT DISTINCT res FROM device_samples WHERE patient = ? AND slot = ? AND t >= ? AND t < ?) ORDER BY res`,
        )
        .pluck(),
      rangeDevices: db
        .prepare('SELECT DISTINCT device FROM device_samples WHERE patient = ? AND slot = ? AND t >= ? AND t < ?')
        .pluck(),
      batchesOfDevice: db.prepare(
        'SELECT count(*) AS batches, sum(samples) AS samples, max(last_t) AS last FROM device_batches WHERE device = ?',
      ),
      unindexed: db.prepare(
        `SELECT c.type, c.id FROM current c WHERE c.type = 'Observation' AND c.id LIKE 'dev-%' AND c.deleted = 0 AND c.version > 0
           AND c.res NOT IN (SELECT res FROM device_batches)`,
      ),
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
    const seq = this.#stmts.lastSeq.get(device) as number | null;
    return seq ?? -1;
  }

  /** Times already stored for one device and code between `from` and `to` (inclusive). */
  existingTimes(patient: string, slot: number, device: string, from: number, to: number): Set<number> {
    return new Set(this.#stmts.existing.all(patient, slot, from, to, device) as number[]);
  }

  /** Inside the vault's commit transaction of the batch's Observation. */
  insert(batch: BatchRow, runs: readonly StoredRun[]): void {
    const { insertSample } = this.#stmts;
    for (const run of runs) {
      for (let i = 0; i < run.values.length; i++) {
        insertSample.run(batch.patient, run.slot, run.start + i * run.period, batch.device, run.values[i], batch.res);
      }
    }
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
    );
  }

  buckets(patient: string, slot: number, from: number, to: number, bucketMs: number): Bucket[] {
    return this.#stmts.buckets.all(from, bucketMs, patient, slot, from, to) as Bucket[];
  }

  /** Per UTC day in [from, to): the start of the day, the samples and the sum of their values. */
  daily(patient: string, slot: number, from: number, to: number): { day: number; n: number; sum: number }[] {
    return (this.#stmts.daily.all(patient, slot, from, to) as { day: number; n: number; sum: number }[]).map((r) => ({
      ...r,
      day: r.day * 86_400_000,
    }));
  }

  /** Ledger record ids of the batches with samples in the range (what a series discloses). */
  recordsInRange(patient: string, slot: number, from: number, to: number): string[] {
    return this.#stmts.rangeRecords.all(patient, slot, from, to) as string[];
  }

  devicesInRange(patient: string, slot: number, from: number, to: number): string[] {
    return this.#stmts.rangeDevices.all(patient, slot, from, to) as string[];
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
      return samples;
    })();
  }
}
