/**
 * Properties of the mergeable population partials (src/population/aggregate.ts): merging is exact,
 * associative and commutative; splitting a population across custodians and merging their
 * partials gives exactly the partial of the whole; suppression after the merge never reports a
 * cell of fewer than k patients.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ageBand,
  computePartial,
  EMPTY_PARTIAL,
  finalize,
  mergePartials,
  periodStart,
  type AggregateSpec,
  type PatientFacts,
} from '../src/population/aggregate.js';

const FROM = Date.UTC(2024, 0, 1);
const TO = Date.UTC(2026, 0, 1);

const specArb: fc.Arbitrary<AggregateSpec> = fc.record({
  interval: fc.constantFrom('year', 'quarter', 'month', 'week', 'day'),
  from: fc.constant(FROM),
  to: fc.constant(TO),
  groupBy: fc.subarray(['ageBand', 'region', 'sex'] as const),
  asOf: fc.constant(TO),
});

const patientArb: fc.Arbitrary<PatientFacts> = fc.record(
  {
    birthDate: fc.constantFrom('1940-05-05', '1970', '1990-12', '2015-01-31', 'bad'),
    region: fc.constantFrom('CA', 'NY', 'TX'),
    sex: fc.constantFrom('female', 'male'),
    events: fc.array(
      fc.record(
        {
          t: fc.integer({ min: FROM - 86_400_000 * 30, max: TO + 86_400_000 * 30 }),
          value: fc.double({ min: -1000, max: 1000, noNaN: true }).map((v) => Math.round(v * 1000) / 1000),
        },
        { requiredKeys: ['t'] },
      ),
      { maxLength: 6 },
    ),
    daily: fc.array(
      fc.record({
        day: fc.integer({ min: 0, max: 730 }).map((d) => FROM + d * 86_400_000),
        n: fc.nat(20),
        sumMicros: fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
      }),
      { maxLength: 4 },
    ),
  },
  { requiredKeys: ['events'] },
);

const populationArb = fc.array(patientArb, { maxLength: 40 });

describe('population partials', () => {
  test('merge is associative and commutative, with the empty partial as identity', () => {
    fc.assert(
      fc.property(specArb, populationArb, populationArb, populationArb, (spec, a, b, c) => {
        const [pa, pb, pc] = [computePartial(spec, a), computePartial(spec, b), computePartial(spec, c)];
        assert.deepEqual(mergePartials(pa, mergePartials(pb, pc)), mergePartials(mergePartials(pa, pb), pc));
        assert.deepEqual(mergePartials(pa, pb), mergePartials(pb, pa));
        assert.deepEqual(mergePartials(pa, EMPTY_PARTIAL), mergePartials(pa));
        assert.deepEqual(mergePartials(pa), pa);
      }),
      { numRuns: 150 },
    );
  });

  test('custodians splitting a population merge to exactly the partial of the whole', () => {
    fc.assert(
      fc.property(specArb, populationArb, fc.array(fc.nat(3)), (spec, patients, owners) => {
        const custodians: PatientFacts[][] = [[], [], [], []];
        patients.forEach((p, i) => custodians[(owners[i] ?? 0) % 4]!.push(p));
        const merged = mergePartials(...custodians.map((held) => computePartial(spec, held)));
        assert.deepEqual(merged, computePartial(spec, patients));
        assert.deepEqual(finalize(merged), finalize(computePartial(spec, patients)));
      }),
      { numRuns: 150 },
    );
  });

  test('after suppression no reported number comes from fewer than k patients', () => {
    fc.assert(
      fc.property(specArb, populationArb, fc.integer({ min: 1, max: 12 }), (spec, patients, k) => {
        const partial = computePartial(spec, patients);
        const result = finalize(partial, k);
        assert.equal(result.k, k);
        for (const cell of result.cells) {
          if (cell.suppressed) {
            assert.deepEqual(
              [cell.population, cell.patients, cell.events, cell.ratePer1000, cell.mean],
              [null, null, null, null, null],
            );
          } else {
            assert.ok(cell.patients! >= k && cell.population! >= k);
            assert.ok(cell.patients! <= cell.population!);
          }
        }
        const total = patients.length;
        assert.equal(result.optedIn, total >= k ? total : null);
      }),
      { numRuns: 200 },
    );
  });

  test('counts are exact on a small known population', () => {
    const spec: AggregateSpec = { interval: 'month', from: FROM, to: TO, groupBy: ['region'], asOf: TO };
    const patients: PatientFacts[] = [
      {
        region: 'CA',
        events: [
          { t: Date.UTC(2025, 2, 3), value: 1.5 },
          { t: Date.UTC(2025, 2, 9), value: 2.5 },
        ],
      },
      { region: 'CA', events: [{ t: Date.UTC(2025, 2, 31, 23, 59), value: 3 }] },
      {
        region: 'CA',
        events: [
          { t: Date.UTC(2025, 3, 1), value: 100 },
          { t: TO, value: 1e6 },
        ],
      },
      { region: 'NY', events: [] },
    ];
    const partial = computePartial(spec, patients);
    assert.deepEqual(partial.strata, { 'region=CA': 3, 'region=NY': 1 });
    assert.deepEqual(partial.cells['2025-03-01T00:00:00.000Z|region=CA'], {
      patients: 2,
      events: 3,
      valuePatients: 2,
      values: 3,
      sumMicros: '7000000',
    });
    assert.deepEqual(partial.cells['2025-04-01T00:00:00.000Z|region=CA'], {
      patients: 1,
      events: 1,
      valuePatients: 1,
      values: 1,
      sumMicros: '100000000',
    });
    assert.equal(Object.keys(partial.cells).length, 2, 'the event at `to` is outside [from, to)');
    const open = finalize(partial, 2).cells.find((c) => c.period.startsWith('2025-03'))!;
    assert.deepEqual([open.patients, open.population, open.ratePer1000, open.mean], [2, 3, 666.667, 2.333333]);
  });

  test('age bands and calendar periods', () => {
    const asOf = Date.UTC(2025, 5, 15);
    assert.equal(ageBand('2007-06-16', asOf), '0-17');
    assert.equal(ageBand('2007-06-15', asOf), '18-39');
    assert.equal(ageBand('1960', asOf), '65+');
    assert.equal(ageBand(undefined, asOf), 'unknown');
    assert.equal(ageBand('2030-01-01', asOf), 'unknown');
    const t = Date.UTC(2025, 7, 14, 13); // a Thursday
    assert.equal(new Date(periodStart(t, 'week')).toISOString(), '2025-08-11T00:00:00.000Z');
    assert.equal(new Date(periodStart(t, 'quarter')).toISOString(), '2025-07-01T00:00:00.000Z');
  });
});
