/**
 * The two forms of a visibility filter agree: the SQL one that searches run (visibleSql) and the
 * one writes apply to a row they have already read (rowVisible), for every kind of row and filter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3-multiple-ciphers';
import fc from 'fast-check';
import { rowVisible, visibleSql, type VisibilityFilter } from '../src/fhir/search/visibility.js';

test('property: rowVisible and visibleSql decide alike for any row and filter', () => {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE current (res INTEGER PRIMARY KEY, patient TEXT);
    CREATE TABLE versions (res INTEGER NOT NULL, version INTEGER NOT NULL, author TEXT NOT NULL, PRIMARY KEY (res, version));`);
  const patients = ['pat_a', 'pat_b', 'pat_c'];
  const authors = ['prac_x', 'prac_y', 'org_z'];
  const rowArb = fc.record({
    patient: fc.option(fc.constantFrom(...patients), { nil: null }),
    versionAuthors: fc.array(fc.constantFrom(...authors), { minLength: 1, maxLength: 3 }),
  });
  const filterArb: fc.Arbitrary<VisibilityFilter> = fc.record({
    patients: fc.subarray(patients),
    treatment: fc.oneof(
      fc.constant('all' as const),
      fc.constant('none' as const),
      fc.constantFrom(...authors).map((author) => ({ author })),
    ),
  });
  const insertRow = db.prepare('INSERT INTO current (patient) VALUES (?)');
  const insertVersion = db.prepare('INSERT INTO versions VALUES (?, ?, ?)');
  const authored = db.prepare('SELECT 1 FROM versions WHERE res = ? AND author = ? LIMIT 1');
  fc.assert(
    fc.property(rowArb, filterArb, (row, filter) => {
      const res = Number(insertRow.run(row.patient).lastInsertRowid);
      row.versionAuthors.forEach((author, i) => insertVersion.run(res, i + 1, author));
      const visible = visibleSql('c', filter);
      const bySql =
        db.prepare(`SELECT 1 FROM current c WHERE c.res = ? AND ${visible.sql}`).get(res, ...visible.params) !== undefined;
      const byRow = rowVisible({ res, patient: row.patient }, filter, (r, a) => authored.get(r, a) !== undefined);
      assert.equal(byRow, bySql, JSON.stringify({ row, filter }));
    }),
    { numRuns: 300 },
  );
  db.close();
});
