/**
 * Bounds on one search (SEARCH_LIMITS, src/fhir/search/query.ts) over real HTTP: a search over a
 * limit is refused before it runs — 400 `too-costly` naming the parameter and the limit, nothing
 * logged as a disclosure, the node answering right after — by GET, POST _search, a batch entry and
 * a conditional create alike; a search at exactly the limits runs and matches what it should. And
 * a statement SQLite itself finds too large is the client's 400, not the server's 500.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3-multiple-ciphers';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { startTestServer, txTypesSince, type TestServer } from './support/fixtures.js';
import { assertOutcome, call, entriesOf, type FhirReply } from './support/fhir-api.js';
import { parseSearch, runSearch, SEARCH_LIMITS, SEARCH_DDL, type SearchQuery } from '../src/fhir/search/index.js';
import { FhirError } from '../src/fhir/outcome.js';
import { MAX_BATCH_SEARCHES } from '../src/fhir/bundle.js';

const L = SEARCH_LIMITS;

let server: TestServer;
let base: string;
/** Patients Alpha0 … Alpha11 (given name Limit), by family name. */
const patients = new Map<string, Patient & { id: string }>();

const list = (n: number, value: (i: number) => string): string => Array.from({ length: n }, (_, i) => value(i)).join(',');

function form(pairs: readonly (readonly [string, string])[]): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of pairs) params.append(name, value);
  return params;
}

function postSearch(type: string, params: URLSearchParams): Promise<FhirReply<Bundle | OperationOutcome>> {
  return call(base, 'POST', `/${type}/_search`, {
    body: params.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

const getSearch = (type: string, params: URLSearchParams): Promise<FhirReply<Bundle | OperationOutcome>> =>
  call(base, 'GET', `/${type}?${params.toString()}`);

function familiesOf(reply: FhirReply<Bundle | OperationOutcome>): string[] {
  assert.equal(reply.status, 200, reply.text.slice(0, 400));
  return entriesOf<Patient>(reply.body as Bundle, 'match')
    .map((p) => p.name![0]!.family!)
    .sort();
}

/** A 400 too-costly whose issue names the parameter and the limit. */
function assertRefused(reply: FhirReply<unknown>, param: string, limit: number, what: RegExp): void {
  const outcome = assertOutcome(reply, 400, 'too-costly');
  const issue = outcome.issue.find((i) => i.code === 'too-costly')!;
  assert.equal(issue.severity, 'error');
  assert.deepEqual(issue.expression, [param], reply.text);
  assert.ok(issue.diagnostics?.includes(param), issue.diagnostics);
  assert.ok(issue.diagnostics?.includes(String(limit)), issue.diagnostics);
  assert.match(issue.diagnostics ?? '', what);
}

/** Runs `request`, expects it refused, nothing on the ledger (no access.log), and the node answering after. */
async function refusedQuietly(
  request: () => Promise<FhirReply<unknown>>,
  param: string,
  limit: number,
  what: RegExp,
): Promise<void> {
  const height = server.node.chain.head().height;
  const [reply, health] = await Promise.all([request(), fetch(`${server.url}/healthz`)]);
  assertRefused(reply, param, limit, what);
  assert.equal(health.status, 200);
  assert.deepEqual(txTypesSince(server.node, height), [], 'a refused search logs no disclosure');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.deepEqual(familiesOf(await getSearch('Patient', form([['family', 'Alpha11']]))), ['Alpha11']);
}

before(async () => {
  server = await startTestServer({ fhir: true });
  base = `${server.url}/fhir`;
  for (let i = 0; i < 12; i++) {
    const reply = await call<Patient & { id: string }>(base, 'POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: `Alpha${i}`, given: ['Limit'] }], gender: i % 2 ? 'male' : 'female' },
    });
    assert.equal(reply.status, 201, reply.text);
    patients.set(`Alpha${i}`, reply.body);
  }
});
after(async () => {
  await server?.close();
});

describe('search limits', () => {
  it('are well above what clients send, and stated in the CapabilityStatement', async () => {
    assert.ok(L.parameters >= 32 && L.valuesPerParameter >= 100 && L.values >= 2 * L.valuesPerParameter);
    assert.ok(L.containsValues >= 10 && L.containsValues < L.valuesPerParameter && L.sortKeys >= 10);
    const metadata = await call<{ rest: { documentation: string }[] }>(base, 'GET', '/metadata');
    const text = metadata.body.rest[0]!.documentation;
    for (const n of [L.parameters, L.valuesPerParameter, L.values, L.containsValues, L.sortKeys])
      assert.ok(text.includes(String(n)), text);
    assert.match(text, /too-costly/);
  });

  it('a search with one parameter too many is refused, by POST and by GET', async () => {
    const pairs = Array.from({ length: L.parameters + 1 }, (_, i) => ['family', `Alpha${i % 12}`] as const);
    await refusedQuietly(() => postSearch('Patient', form(pairs)), 'family', L.parameters, /parameters/);
    await refusedQuietly(() => getSearch('Patient', form(pairs)), 'family', L.parameters, /parameters/);
    // Result parameters count too (the last one is the one too many).
    const withResult = [...pairs.slice(0, L.parameters), ['_total', 'accurate'] as const];
    await refusedQuietly(() => getSearch('Patient', form(withResult)), '_total', L.parameters, /parameters/);
  });

  it('a search at exactly the parameter limit runs and matches', async () => {
    // 31 × family (AND: each holds Alpha1 among values that match nothing) and _count.
    const pairs = [
      ...Array.from({ length: L.parameters - 1 }, (_, p) => ['family', `Alpha1,Zz${p}a,Zz${p}b`] as const),
      ['_count', '50'] as const,
    ];
    assert.equal(pairs.length, L.parameters);
    // "Alpha1" is a prefix of Alpha1, Alpha10 and Alpha11.
    const expected = ['Alpha1', 'Alpha10', 'Alpha11'];
    assert.deepEqual(familiesOf(await postSearch('Patient', form(pairs))), expected);
    assert.deepEqual(familiesOf(await getSearch('Patient', form(pairs))), expected);
  });

  it('a parameter with one value too many is refused; the reviewer’s 990 and 60 × 400 :contains values too', async () => {
    const ids = list(L.valuesPerParameter + 1, (i) => `nope${i}`);
    await refusedQuietly(() => getSearch('Patient', form([['_id', ids]])), '_id', L.valuesPerParameter, /per parameter/);
    await refusedQuietly(
      () => postSearch('Patient', form([['name:contains', list(990, (i) => `zq${i}`)]])),
      'name:contains',
      L.valuesPerParameter,
      /per parameter/,
    );
    await refusedQuietly(
      () => getSearch('Patient', form([['name:contains', list(990, (i) => `q${i}`)]])),
      'name:contains',
      L.valuesPerParameter,
      /per parameter/,
    );
    const reviewer = form([
      ...Array.from({ length: 60 }, () => ['name:contains', `${list(399, (i) => `zq${i}`)},given`] as const),
      ['_total', 'accurate'] as const,
    ]);
    assert.ok(reviewer.toString().length > 150_000);
    await refusedQuietly(() => postSearch('Patient', reviewer), 'name:contains', L.valuesPerParameter, /per parameter/);
    // An escaped comma is part of a value, not a separator; result parameter lists count alike.
    const escaped = Array.from({ length: L.valuesPerParameter + 5 }, () => 'a\\,b').join('');
    assert.equal((await getSearch('Patient', form([['family', escaped]]))).status, 200);
    const includes = list(L.valuesPerParameter + 1, () => 'Patient:organization');
    await refusedQuietly(
      () => getSearch('Patient', form([['_include', includes]])),
      '_include',
      L.valuesPerParameter,
      /per parameter/,
    );
  });

  it('a parameter with exactly the values-per-parameter limit runs and matches', async () => {
    const wanted = ['Alpha2', 'Alpha5', 'Alpha7'];
    const ids = [
      ...wanted.map((f) => patients.get(f)!.id),
      ...Array.from({ length: L.valuesPerParameter - 3 }, (_, i) => `nope${i}`),
    ];
    assert.equal(ids.length, L.valuesPerParameter);
    assert.deepEqual(familiesOf(await getSearch('Patient', form([['_id', ids.join(',')]]))), wanted);
  });

  it('a search one value past the total is refused, naming the parameter that crossed it', async () => {
    const half = list(L.values / 2, (i) => `nope${i}`);
    const pairs = [
      ['_id', half],
      ['family', half],
      ['gender', 'female'],
    ] as const;
    await refusedQuietly(() => postSearch('Patient', form(pairs)), 'gender', L.values, /values per search/);
    await refusedQuietly(() => getSearch('Patient', form(pairs)), 'gender', L.values, /values per search/);
  });

  it('a search with exactly the total number of values runs and matches', async () => {
    const ids = [...patients.values()].map((p) => p.id);
    const idList = [...ids, ...Array.from({ length: L.values / 2 - ids.length }, (_, i) => `nope${i}`)];
    const families = ['Alpha3', 'Alpha4', ...Array.from({ length: L.values / 2 - 2 }, (_, i) => `Zz${i}`)];
    const pairs = [
      ['_id', idList.join(',')],
      ['family', families.join(',')],
    ] as const;
    assert.equal(idList.length + families.length, L.values);
    assert.deepEqual(familiesOf(await postSearch('Patient', form(pairs))), ['Alpha3', 'Alpha4']);
  });

  it(':contains has its own, tighter, limit: in one parameter or across several', async () => {
    const eleven = list(L.containsValues + 1, (i) => `zz${i}`);
    await refusedQuietly(
      () => getSearch('Patient', form([['name:contains', eleven]])),
      'name:contains',
      L.containsValues,
      /:contains values per search/,
    );
    const first = list(Math.ceil(L.containsValues / 2), (i) => `zz${i}`);
    const second = list(L.containsValues - Math.ceil(L.containsValues / 2) + 1, (i) => `yy${i}`);
    await refusedQuietly(
      () =>
        postSearch(
          'Patient',
          form([
            ['name:contains', first],
            ['family', 'Alpha'],
            ['family:contains', second],
          ]),
        ),
      'family:contains',
      L.containsValues,
      /:contains values per search/,
    );
  });

  it('a search with exactly the :contains limit runs and matches', async () => {
    const half = L.containsValues / 2;
    // AND of two OR lists: "pha1" in Alpha1/10/11, "a1" in the same three.
    const pairs = [
      ['name:contains', [...Array.from({ length: half - 1 }, (_, i) => `zz${i}`), 'pha1'].join(',')],
      ['name:contains', [...Array.from({ length: half - 1 }, (_, i) => `yy${i}`), 'a1'].join(',')],
    ] as const;
    assert.deepEqual(familiesOf(await postSearch('Patient', form(pairs))), ['Alpha1', 'Alpha10', 'Alpha11']);
  });

  it('_sort takes at most the sort-key limit', async () => {
    const keys = (n: number) => list(n, (i) => ['family', '-given', '_id'][i % 3]!);
    await refusedQuietly(() => getSearch('Patient', form([['_sort', keys(L.sortKeys + 1)]])), '_sort', L.sortKeys, /sort keys/);
    const sorted = await getSearch(
      'Patient',
      form([
        ['_sort', keys(L.sortKeys)],
        ['given', 'Limit'],
        ['_count', '3'],
      ]),
    );
    assert.deepEqual(
      entriesOf<Patient>(sorted.body as Bundle, 'match').map((p) => p.name![0]!.family),
      ['Alpha0', 'Alpha1', 'Alpha10'],
    );
  });

  it('a GET longer than Node’s 16 KiB header limit is 431 and the node carries on', async () => {
    const reply = await fetch(`${base}/Patient?family=${list(9000, () => 'a')}`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    assert.equal(reply.status, 431);
    await reply.text();
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it('a batch search entry over a limit is that entry’s 400; the other entries are answered', async () => {
    const height = server.node.chain.head().height;
    const reply = await call<Bundle>(base, 'POST', '/', {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient?name:contains=${list(990, (i) => `zq${i}`)}` } },
          { request: { method: 'GET', url: 'Patient?family=Alpha11' } },
        ],
      },
    });
    assert.equal(reply.status, 200, reply.text.slice(0, 400));
    const [refused, answered] = reply.body.entry!;
    assert.match(refused!.response!.status, /^400/);
    const outcome = refused!.response!.outcome as OperationOutcome;
    assert.ok(
      outcome.issue.some(
        (i) =>
          i.code === 'too-costly' &&
          i.expression?.[0] === 'name:contains' &&
          i.diagnostics?.includes(`more than ${L.valuesPerParameter} comma-separated values (limit: values per parameter)`),
      ),
      JSON.stringify(outcome),
    );
    assert.match(answered!.response!.status, /^200/);
    assert.deepEqual(
      entriesOf<Patient>(answered!.resource as Bundle, 'match').map((p) => p.name![0]!.family),
      ['Alpha11'],
    );
    // The answered search disclosed Alpha11 (its patient's access event); the refused one nothing more.
    assert.deepEqual(txTypesSince(server.node, height), ['access.log']);
  });

  it(`a batch holds at most ${MAX_BATCH_SEARCHES} search entries: one more refuses the Bundle, the limit itself is answered`, async () => {
    const batch = (searches: number): Bundle => ({
      resourceType: 'Bundle',
      type: 'batch',
      entry: Array.from({ length: searches }, () => ({ request: { method: 'GET' as const, url: 'Patient?family=Alpha11' } })),
    });
    const height = server.node.chain.head().height;
    const over = await call<Bundle>(base, 'POST', '/', { body: batch(MAX_BATCH_SEARCHES + 1) });
    const outcome = assertOutcome(over, 400, 'too-costly');
    assert.match(outcome.issue[0]!.diagnostics!, new RegExp(`at most ${MAX_BATCH_SEARCHES} search entries`));
    assert.deepEqual(txTypesSince(server.node, height), [], 'nothing searched, nothing logged');
    const at = await call<Bundle>(base, 'POST', '/', { body: batch(MAX_BATCH_SEARCHES) });
    assert.equal(at.status, 200, at.text.slice(0, 400));
    assert.equal(at.body.entry!.length, MAX_BATCH_SEARCHES);
    assert.ok(at.body.entry!.every((e) => e.response!.status.startsWith('200')));
  });

  it('a conditional create whose If-None-Exist is over a limit is refused and creates nothing', async () => {
    const before = (await getSearch('Patient', form([['_summary', 'count']]))).body as Bundle;
    const ifNoneExist = Array.from({ length: L.parameters + 1 }, (_, i) => `family=Beta${i}`).join('&');
    const reply = await call(base, 'POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Beta0' }] },
      headers: { 'if-none-exist': ifNoneExist },
    });
    assertRefused(reply, 'family', L.parameters, /parameters/);
    const after = (await getSearch('Patient', form([['_summary', 'count']]))).body as Bundle;
    assert.equal(after.total, before.total);
  });
});

describe('the compartment a server adds', () => {
  it('is parsed with the client’s parameters but does not count toward the limits the client is held to', () => {
    const pairs = Array.from({ length: L.parameters }, (_, i) => ['code', `http://loinc.org|${1000 + i}-0`] as const);
    const compartment = ['patient', 'Patient/limit-patient'] as const;
    const parsed = parseSearch('Observation', form(pairs), { compartment });
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.equal(parsed.query.filters.length, L.parameters + 1);
    assert.ok(parsed.query.filters.some((f) => f.param === 'patient'));
    const over = parseSearch('Observation', form([...pairs, ['status', 'final']]), { compartment });
    assert.ok(!over.ok && over.issues.some((i) => i.code === 'too-costly'));
  });
});

describe('SQLite limits on the search path', () => {
  function query(values: number): SearchQuery {
    const parsed = parseSearch('Patient', new URLSearchParams('name:contains=x'));
    assert.ok(parsed.ok);
    return {
      ...parsed.query,
      filters: [
        { kind: 'string', param: 'name', modifier: 'contains', values: Array.from({ length: values }, (_, i) => `zq${i}`) },
      ],
    };
  }

  it('a statement too large for SQLite is a 400 too-costly, not an internal error', () => {
    const db = new Database(':memory:');
    try {
      db.exec(SEARCH_DDL);
      assert.deepEqual(runSearch(db, query(L.valuesPerParameter)).matches, []);
      assert.throws(
        () => runSearch(db, query(1000)),
        (error: unknown) =>
          error instanceof FhirError &&
          error.status === 400 &&
          error.issues[0]?.code === 'too-costly' &&
          /Expression tree is too large/.test(error.issues[0]?.diagnostics ?? ''),
      );
    } finally {
      db.close();
    }
  });

  it('the largest search the limits allow stays within SQLite’s bounds', () => {
    const quantities = list(L.valuesPerParameter, (i) => `ge${i}.5|http://unitsofmeasure.org|mg`);
    const dates = list(
      L.values - L.valuesPerParameter - (L.parameters - 3) - 1,
      (i) => `ne20${String(i).padStart(2, '0')}-01-01`,
    );
    const pairs: [string, string][] = [
      ['value-quantity', quantities],
      ['date', dates],
      ...Array.from({ length: L.parameters - 3 }, (_, i): [string, string] => ['code', `http://loinc.org|${i}`]),
      ['_total', 'accurate'],
    ];
    assert.equal(pairs.length, L.parameters);
    const parsed = parseSearch('Observation', form(pairs));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    const db = new Database(':memory:');
    try {
      db.exec(SEARCH_DDL);
      assert.deepEqual(runSearch(db, parsed.query).total, 0);
    } finally {
      db.close();
    }
  });

  it('other SQLite errors are left as they are', () => {
    const db = new Database(':memory:');
    try {
      assert.throws(
        () => runSearch(db, query(1)),
        (error: unknown) => error instanceof Database.SqliteError && /no such table/.test(error.message),
      );
    } finally {
      db.close();
    }
  });
});
