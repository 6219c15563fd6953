/**
 * The FHIR REST API over raw HTTP (fetch): headers (ETag, Last-Modified, Location, Content-Type),
 * Prefer, conditional requests, every error status with its OperationOutcome, "bad input changes
 * nothing", search result parameters and modifiers, ledger-derived Provenance, and a
 * CapabilityStatement that lists only search parameters that work.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  Bundle,
  CapabilityStatement,
  Observation,
  OperationOutcome,
  Patient,
  Provenance,
  Resource,
} from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from './support/fixtures.js';
import { authFetch, assertOutcome, call, collectPages, entriesOf, type FhirReply } from './support/fhir-api.js';
import { LEDGER_TX_EXTENSION } from '../src/fhir/provenance.js';
import { FHIR_BODY_LIMIT } from '../src/fhir/rest/limits.js';

const LOINC = 'http://loinc.org';
const OTHER = 'http://example.org/codes';

let server: TestServer;
let base: string;
let patient: Patient & { id: string };
let other: Patient & { id: string };
const observations: (Observation & { id: string })[] = [];

function observation(subject: string, code: string, date: string, system = LOINC, value = 70): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: `Patient/${subject}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

async function create<T extends Resource>(resource: T, headers: Record<string, string> = {}): Promise<T & { id: string }> {
  const reply = await call<T & { id: string }>(base, 'POST', `/${resource.resourceType}`, { body: resource, headers });
  assert.equal(reply.status, 201, reply.text.slice(0, 400));
  return reply.body;
}

/** What a client can observe of the store: search totals and history totals per type. */
async function snapshot(): Promise<string> {
  const out: string[] = [];
  for (const type of ['Patient', 'Observation']) {
    const count = await call<Bundle>(base, 'GET', `/${type}?_summary=count`);
    const history = await call<Bundle>(base, 'GET', `/${type}/_history?_count=1`);
    out.push(`${type}: ${count.body.total} current, ${history.body.total} versions`);
  }
  const system = await call<Bundle>(base, 'GET', '/_history?_count=1');
  out.push(`all: ${system.body.total} versions`);
  return out.join('; ');
}

before(async () => {
  server = await startTestServer({ fhir: true });
  base = `${server.url}/fhir`;
  patient = await create<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Okafor', given: ['Ada'] }],
    birthDate: '1970-03-04',
  });
  other = await create<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Lind' }],
    gender: 'female',
    birthDate: '1990-05-06',
  });
  const dates = [
    '2019-06-01T10:00:00Z',
    '2020-02-15T10:00:00Z',
    '2020-11-30T10:00:00Z',
    '2021-07-04T10:00:00Z',
    '2022-01-01T10:00:00Z',
  ];
  for (const [i, date] of dates.entries()) {
    observations.push(await create(observation(patient.id, i % 2 === 0 ? '8867-4' : '8480-6', date, LOINC, 60 + i)));
  }
  observations.push(await create(observation(patient.id, '8867-4', '2020-05-05T10:00:00Z', OTHER)));
  observations.push(await create(observation(other.id, '8867-4', '2021-01-01T10:00:00Z')));
});

after(async () => {
  await server.close();
});

describe('FHIR HTTP: headers', () => {
  it('create answers 201 with ETag, Last-Modified, Location and application/fhir+json', async () => {
    const reply = await call<Patient>(base, 'POST', '/Patient', { body: { resourceType: 'Patient', active: true } });
    assert.equal(reply.status, 201);
    assert.match(reply.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    assert.equal(reply.headers.get('etag'), 'W/"1"');
    const id = reply.body.id!;
    assert.equal(reply.headers.get('location'), `${base}/Patient/${id}/_history/1`);
    assert.equal(reply.body.meta?.versionId, '1');
    const lastModified = Date.parse(reply.headers.get('last-modified') ?? '');
    const lastUpdated = Date.parse(reply.body.meta!.lastUpdated!);
    assert.equal(lastModified, Math.floor(lastUpdated / 1000) * 1000, 'Last-Modified is meta.lastUpdated to the second');

    const read = await call<Patient>(base, 'GET', `/Patient/${id}`);
    assert.equal(read.status, 200);
    assert.match(read.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    assert.equal(read.headers.get('etag'), 'W/"1"');
    assert.equal(read.headers.get('last-modified'), reply.headers.get('last-modified'));
    assert.deepEqual(read.body, reply.body);
    // The Location names a version that can be read.
    const vread = await call<Patient>(base, 'GET', reply.headers.get('location')!);
    assert.equal(vread.status, 200);
    assert.deepEqual(vread.body, reply.body);
  });

  it('update bumps the ETag; the metadata, search and history answers are application/fhir+json', async () => {
    const created = await create<Patient>({ resourceType: 'Patient', gender: 'male' });
    const updated = await call<Patient>(base, 'PUT', `/Patient/${created.id}`, { body: { ...created, gender: 'other' } });
    assert.equal(updated.status, 200);
    assert.equal(updated.headers.get('etag'), 'W/"2"');
    assert.equal(updated.body.meta?.versionId, '2');
    for (const path of ['/metadata', '/Patient?gender=other', `/Patient/${created.id}/_history`, '/_history']) {
      const reply = await call(base, 'GET', path);
      assert.equal(reply.status, 200, path);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/fhir\+json/, path);
    }
  });

  it('Prefer: return=minimal answers with an empty body; return=OperationOutcome with an outcome', async () => {
    const minimal = await call(base, 'POST', '/Patient', {
      body: { resourceType: 'Patient' },
      headers: { prefer: 'return=minimal' },
    });
    assert.equal(minimal.status, 201);
    assert.equal(minimal.text, '');
    const location = minimal.headers.get('location');
    assert.match(location ?? '', /\/fhir\/Patient\/[^/]+\/_history\/1$/);
    assert.equal(minimal.headers.get('etag'), 'W/"1"');
    const read = await call<Patient>(base, 'GET', location!);
    assert.equal(read.status, 200);

    const updateMinimal = await call(base, 'PUT', `/Patient/${read.body.id}`, {
      body: { ...read.body, active: false },
      headers: { prefer: 'return=minimal' },
    });
    assert.equal(updateMinimal.status, 200);
    assert.equal(updateMinimal.text, '');
    assert.equal(updateMinimal.headers.get('etag'), 'W/"2"');

    const oo = await call<OperationOutcome>(base, 'POST', '/Patient', {
      body: { resourceType: 'Patient' },
      headers: { prefer: 'return=OperationOutcome' },
    });
    assert.equal(oo.status, 201);
    assert.equal(oo.body.resourceType, 'OperationOutcome');
    assert.equal(oo.body.issue[0]?.severity, 'information');
    assert.match(oo.headers.get('location') ?? '', /\/_history\/1$/);
  });
});

describe('FHIR HTTP: conditional requests', () => {
  it('If-Match with a stale version is 412 for PUT, PATCH and DELETE and changes nothing', async () => {
    const p = await create<Patient>({ resourceType: 'Patient', gender: 'female' });
    const v2 = await call<Patient>(base, 'PUT', `/Patient/${p.id}`, {
      body: { ...p, gender: 'male' },
      headers: { 'if-match': 'W/"1"' },
    });
    assert.equal(v2.status, 200);
    const stale = { 'if-match': 'W/"1"' };
    assertOutcome(await call(base, 'PUT', `/Patient/${p.id}`, { body: { ...p, gender: 'other' }, headers: stale }), 412);
    assertOutcome(
      await call(base, 'PATCH', `/Patient/${p.id}`, {
        body: [{ op: 'replace', path: '/gender', value: 'other' }],
        headers: { ...stale, 'content-type': 'application/json-patch+json' },
      }),
      412,
    );
    assertOutcome(await call(base, 'DELETE', `/Patient/${p.id}`, { headers: stale }), 412);
    const read = await call<Patient>(base, 'GET', `/Patient/${p.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('etag'), 'W/"2"');
    assert.equal(read.body.gender, 'male');
    // The matching version goes through.
    const ok = await call<Patient>(base, 'PUT', `/Patient/${p.id}`, {
      body: { ...p, gender: 'other' },
      headers: { 'if-match': 'W/"2"' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('etag'), 'W/"3"');
  });

  it('If-None-Match with the current ETag is 304 without a body; an older ETag gets the resource', async () => {
    const p = await create<Patient>({ resourceType: 'Patient', active: true });
    const notModified = await call(base, 'GET', `/Patient/${p.id}`, { headers: { 'if-none-match': 'W/"1"' } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.text, '');
    assert.equal(notModified.headers.get('etag'), 'W/"1"');
    await call(base, 'PUT', `/Patient/${p.id}`, { body: { ...p, active: false } });
    const modified = await call<Patient>(base, 'GET', `/Patient/${p.id}`, { headers: { 'if-none-match': 'W/"1"' } });
    assert.equal(modified.status, 200);
    assert.equal(modified.body.active, false);
  });

  it('PUT with a client id creates (201 with Location), then updates (200)', async () => {
    const id = `client-${Date.now().toString(36)}`;
    const first = await call<Patient>(base, 'PUT', `/Patient/${id}`, { body: { resourceType: 'Patient', id, active: true } });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.headers.get('location'), `${base}/Patient/${id}/_history/1`);
    assert.equal(first.body.id, id);
    assert.equal(first.body.meta?.versionId, '1');
    const second = await call<Patient>(base, 'PUT', `/Patient/${id}`, { body: { resourceType: 'Patient', id, active: false } });
    assert.equal(second.status, 200);
    assert.equal(second.body.meta?.versionId, '2');
    assert.equal(second.headers.get('etag'), 'W/"2"');
  });

  it('If-None-Exist returns the existing match instead of creating a second one', async () => {
    const body: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'http-ine-1' }] };
    const headers = { 'if-none-exist': 'identifier=urn:test:mrn|http-ine-1' };
    const first = await call<Patient>(base, 'POST', '/Patient', { body, headers });
    assert.equal(first.status, 201);
    const second = await call<Patient>(base, 'POST', '/Patient', { body, headers });
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);
    const found = await call<Bundle>(base, 'GET', '/Patient?identifier=urn:test:mrn|http-ine-1&_summary=count');
    assert.equal(found.body.total, 1);
  });
});

describe('FHIR HTTP: errors are OperationOutcomes with the right status', () => {
  it('404 for an unknown id, an unknown type and an unknown endpoint', async () => {
    assertOutcome(await call(base, 'GET', '/Patient/does-not-exist'), 404, 'not-found');
    assertOutcome(await call(base, 'GET', `/Patient/${patient.id}/_history/99`), 404, 'not-found');
    assertOutcome(await call(base, 'GET', '/Spaceship/1'), 404, 'not-found');
    assertOutcome(await call(base, 'GET', '/Spaceship?name=x'), 404, 'not-found');
    assertOutcome(await call(base, 'GET', '/Patient/a/b/c/d'), 404, 'not-found');
  });

  it('410 for a deleted resource (read, and vread of the delete); earlier versions stay readable', async () => {
    const p = await create<Patient>({ resourceType: 'Patient', gender: 'unknown' });
    const deleted = await call(base, 'DELETE', `/Patient/${p.id}`);
    assert.equal(deleted.status, 204);
    assertOutcome(await call(base, 'GET', `/Patient/${p.id}`), 410, 'deleted');
    assertOutcome(await call(base, 'GET', `/Patient/${p.id}/_history/2`), 410, 'deleted');
    const v1 = await call<Patient>(base, 'GET', `/Patient/${p.id}/_history/1`);
    assert.equal(v1.status, 200);
    assert.equal(v1.body.gender, 'unknown');
    // Deleting again is idempotent.
    assert.equal((await call(base, 'DELETE', `/Patient/${p.id}`)).status, 204);
    const history = await call<Bundle>(base, 'GET', `/Patient/${p.id}/_history`);
    assert.deepEqual(
      history.body.entry?.map((e) => e.request?.method),
      ['DELETE', 'POST'],
    );
  });

  it('400 for a body that is not JSON', async () => {
    assertOutcome(await call(base, 'POST', '/Patient', { body: '{"resourceType": "Patient",' }), 400, 'structure');
    assertOutcome(await call(base, 'PUT', `/Patient/${patient.id}`, { body: 'not json' }), 400);
  });

  it('400 for a schema-invalid resource, the issue expression naming the element', async () => {
    const bad = { ...observation(patient.id, '8867-4', '2020-01-01'), status: 'done' };
    const outcome = assertOutcome(await call(base, 'POST', '/Observation', { body: bad }), 400);
    assert.ok(
      outcome.issue.some((i) => i.expression?.includes('Observation.status')),
      JSON.stringify(outcome),
    );
    const unknown = assertOutcome(
      await call(base, 'POST', '/Patient', { body: { resourceType: 'Patient', colour: 'blue' } }),
      400,
    );
    assert.ok(
      unknown.issue.some((i) => (i.expression ?? []).some((e) => e.includes('colour'))),
      JSON.stringify(unknown),
    );
  });

  it('422 for a reference to a resource that does not exist', async () => {
    const outcome = assertOutcome(
      await call(base, 'POST', '/Observation', { body: observation('no-such-patient', '8867-4', '2020-01-01') }),
      422,
    );
    assert.ok(outcome.issue.some((i) => i.expression?.includes('Observation.subject.reference')));
  });

  it('415 for a body that is neither FHIR JSON nor JSON', async () => {
    for (const contentType of ['application/xml', 'text/plain', 'application/fhir+xml']) {
      const reply = await call(base, 'POST', '/Patient', {
        body: contentType.includes('xml') ? '<Patient xmlns="http://hl7.org/fhir"/>' : '{"resourceType":"Patient"}',
        headers: { 'content-type': contentType },
      });
      assertOutcome(reply, 415, 'not-supported');
    }
    // A PATCH that is not a JSON Patch.
    assertOutcome(
      await call(base, 'PATCH', `/Patient/${patient.id}`, { body: [{ op: 'remove', path: '/gender' }] }),
      415,
      'not-supported',
    );
  });

  it('413 for a body over the limit', async () => {
    const huge = JSON.stringify({ resourceType: 'Binary', contentType: 'text/plain', data: 'A'.repeat(FHIR_BODY_LIMIT + 16) });
    assertOutcome(await call(base, 'POST', '/Binary', { body: huge }), 413, 'too-costly');
  });

  it('400 naming the parameter for a bad _count or an unknown search parameter', async () => {
    for (const [query, param] of [
      ['_count=abc', '_count'],
      ['_count=-1', '_count'],
      ['shoe-size=42', 'shoe-size'],
      ['birthdate=yesterday', 'birthdate'],
      ['_sort=shoe-size', '_sort'],
    ] as const) {
      const outcome = assertOutcome(await call(base, 'GET', `/Patient?${query}`), 400);
      assert.ok(
        outcome.issue.some((i) => i.expression?.includes(param) || (i.diagnostics ?? '').includes(param)),
        `${query}: ${JSON.stringify(outcome)}`,
      );
    }
  });

  it('Prefer: handling=lenient answers 200 and reports the unknown parameter as a warning', async () => {
    const reply = await call<Bundle>(base, 'GET', `/Patient?shoe-size=42&_id=${patient.id}`, {
      headers: { prefer: 'handling=lenient' },
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(
      entriesOf(reply.body, 'match').map((r) => r.id),
      [patient.id],
    );
    const outcomes = entriesOf<OperationOutcome>(reply.body, 'outcome');
    assert.equal(outcomes.length, 1);
    assert.ok(outcomes[0]!.issue.some((i) => i.severity === 'warning' && i.expression?.includes('shoe-size')));
  });

  it('invalid input changes nothing: search counts and history totals stay the same', async () => {
    const before = await snapshot();
    const json = { 'content-type': 'application/json-patch+json' };
    const attempts: [string, string, unknown, Record<string, string>?][] = [
      ['POST', '/Patient', '{not json'],
      ['POST', '/Patient', { resourceType: 'Patient', gender: 'sometimes' }],
      ['POST', '/Patient', { resourceType: 'Observation', status: 'final', code: { text: 'x' } }],
      ['POST', '/Observation', observation('no-such-patient', '8867-4', '2020-01-01')],
      [
        'POST',
        '/Observation',
        {
          ...observation(patient.id, '1', '2020-01-01'),
          subject: { reference: 'urn:uuid:1f6f1b2e-6a3c-4f7e-9d1a-0c3d2b1a4e5f' },
        },
      ],
      ['POST', '/Patient', '<Patient/>', { 'content-type': 'application/xml' }],
      ['PUT', `/Patient/${patient.id}`, { ...patient, birthDate: '1970-13-45' }],
      ['PUT', `/Patient/${patient.id}`, { ...patient, id: 'someone-else' }],
      ['PUT', `/Patient/${patient.id}`, { ...patient, gender: 'other' }, { 'if-match': 'W/"7"' }],
      ['PUT', '/Patient/bad id!', { resourceType: 'Patient', id: 'bad id!' }],
      ['PATCH', `/Patient/${patient.id}`, [{ op: 'replace', path: '/gender', value: 'robot' }], json],
      [
        'PATCH',
        `/Patient/${patient.id}`,
        [
          { op: 'test', path: '/gender', value: 'male' },
          { op: 'remove', path: '/name' },
        ],
        json,
      ],
      ['PATCH', `/Patient/${patient.id}`, [{ op: 'replace', path: '/id', value: 'other' }], json],
      ['PATCH', `/Patient/${patient.id}`, [{ op: 'jump', path: '/gender' }], json],
      ['DELETE', '/Patient/no-such-patient', undefined],
      ['POST', '/Provenance', { resourceType: 'Provenance' }],
    ];
    for (const [method, path, body, headers] of attempts) {
      const reply = await call(base, method, path, { ...(body !== undefined && { body }), ...(headers && { headers }) });
      assert.ok(
        reply.status >= 400 && reply.status < 500,
        `${method} ${path} ${JSON.stringify(body)}: ${reply.status} ${reply.text}`,
      );
      assert.equal((reply.body as OperationOutcome).resourceType, 'OperationOutcome');
    }
    assert.equal(await snapshot(), before);
    const read = await call<Patient>(base, 'GET', `/Patient/${patient.id}`);
    assert.deepEqual(read.body, patient);
  });
});

describe('FHIR HTTP: search', () => {
  it('_summary=count gives the total and no entries', async () => {
    const reply = await call<Bundle>(base, 'GET', `/Observation?patient=${patient.id}&_summary=count`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.total, 6);
    assert.equal(reply.body.entry, undefined);
  });

  it('_include adds the referenced patients once, marked include', async () => {
    const reply = await call<Bundle>(base, 'GET', '/Observation?code=8867-4&_include=Observation:patient&_count=100');
    assert.equal(reply.status, 200);
    const matches = entriesOf(reply.body, 'match');
    const included = entriesOf(reply.body, 'include');
    assert.equal(matches.length, 5);
    assert.deepEqual(included.map((r) => r.id).sort(), [patient.id, other.id].sort());
    assert.ok(included.every((r) => r.resourceType === 'Patient'));
  });

  it('_revinclude adds the observations pointing at the patient', async () => {
    const reply = await call<Bundle>(base, 'GET', `/Patient?_id=${other.id}&_revinclude=Observation:subject`);
    assert.equal(reply.status, 200);
    assert.deepEqual(
      entriesOf(reply.body, 'match').map((r) => r.id),
      [other.id],
    );
    assert.deepEqual(
      entriesOf(reply.body, 'include').map((r) => r.id),
      [observations[6]!.id],
    );
  });

  it('_sort orders by date ascending and descending', async () => {
    const dates = (bundle: Bundle) => entriesOf<Observation>(bundle, 'match').map((o) => o.effectiveDateTime!);
    const asc = dates((await call<Bundle>(base, 'GET', `/Observation?patient=${patient.id}&_sort=date`)).body);
    const desc = dates((await call<Bundle>(base, 'GET', `/Observation?patient=${patient.id}&_sort=-date`)).body);
    assert.equal(asc.length, 6);
    assert.deepEqual(asc, [...asc].sort());
    assert.deepEqual(desc, [...asc].reverse());
  });

  it('date prefixes select by effective date', async () => {
    const ids = async (query: string) =>
      entriesOf((await call<Bundle>(base, 'GET', `/Observation?patient=${patient.id}&${query}`)).body, 'match')
        .map((r) => r.id)
        .sort();
    const byDate = (f: (d: string) => boolean) =>
      observations
        .slice(0, 6)
        .filter((o) => f(o.effectiveDateTime!))
        .map((o) => o.id)
        .sort();
    assert.deepEqual(
      await ids('date=2020'),
      byDate((d) => d.startsWith('2020')),
    );
    assert.deepEqual(
      await ids('date=ge2021-01-01'),
      byDate((d) => d >= '2021'),
    );
    assert.deepEqual(
      await ids('date=lt2020-03-01'),
      byDate((d) => d < '2020-03'),
    );
    assert.deepEqual(
      await ids('date=gt2020-01-01&date=le2020-12-31'),
      byDate((d) => d.startsWith('2020')),
    );
    assert.deepEqual(
      await ids('date=ne2020'),
      byDate((d) => !d.startsWith('2020')),
    );
    assert.equal((await ids('date=sa2030')).length, 0);
  });

  it('token search honours system|code, |code-less system and bare code', async () => {
    const count = async (query: string) =>
      (await call<Bundle>(base, 'GET', `/Observation?patient=${patient.id}&${query}&_summary=count`)).body.total;
    assert.equal(await count('code=8867-4'), 4);
    assert.equal(await count(`code=${encodeURIComponent(`${LOINC}|8867-4`)}`), 3);
    assert.equal(await count(`code=${encodeURIComponent(`${OTHER}|8867-4`)}`), 1);
    assert.equal(await count(`code=${encodeURIComponent(`${LOINC}|`)}`), 5);
    assert.equal(await count(`code=${encodeURIComponent('|8867-4')}`), 0);
    assert.equal(await count(`code=${encodeURIComponent(`${LOINC}|8867-4,${LOINC}|8480-6`)}`), 5);
  });

  it('POST _search takes form parameters', async () => {
    const response = await authFetch(`${base}/Observation/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ patient: patient.id, code: `${LOINC}|8480-6` }).toString(),
    });
    assert.equal(response.status, 200);
    const bundle = (await response.json()) as Bundle;
    assert.equal(entriesOf(bundle, 'match').length, 2);
  });

  it('paging with _count follows next links to every match exactly once', async () => {
    const all = await collectPages(base, `/Observation?_count=2&_sort=_id`, 'match');
    const ids = all.resources.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    const total = (await call<Bundle>(base, 'GET', '/Observation?_summary=count')).body.total;
    assert.equal(ids.length, total);
    assert.equal(all.pages, Math.ceil(total! / 2));
  });

  it('_count=0 gives no entries and no next link that loops', async () => {
    const reply = await call<Bundle>(base, 'GET', '/Observation?_count=0');
    assert.equal(reply.status, 200);
    assert.equal(entriesOf(reply.body, 'match').length, 0);
    const next = reply.body.link?.find((l) => l.relation === 'next');
    const self = reply.body.link?.find((l) => l.relation === 'self');
    assert.ok(next === undefined || next.url !== self?.url, `next link ${next?.url} repeats the request`);
  });
});

describe('FHIR HTTP: Provenance from the ledger', () => {
  it('Provenance?target= returns one Provenance per version, each naming its ledger transaction', async () => {
    const p = await create<Patient>({ resourceType: 'Patient', gender: 'female' });
    await call(base, 'PUT', `/Patient/${p.id}`, { body: { ...p, gender: 'male' } });
    await call(base, 'DELETE', `/Patient/${p.id}`);
    const reply = await call<Bundle>(base, 'GET', `/Provenance?target=Patient/${p.id}`);
    assert.equal(reply.status, 200);
    const provenances = entriesOf<Provenance>(reply.body);
    assert.equal(provenances.length, 3);
    assert.deepEqual(
      provenances.map((pr) => pr.target[0]?.reference).sort(),
      [1, 2, 3].map((v) => `Patient/${p.id}/_history/${v}`),
    );
    assert.deepEqual(provenances.map((pr) => pr.activity?.coding?.[0]?.code).sort(), ['CREATE', 'DELETE', 'UPDATE']);
    const hashes = new Set<string>();
    for (const provenance of provenances) {
      const ledger = provenance.extension?.find((e) => e.url === LEDGER_TX_EXTENSION);
      assert.ok(ledger, JSON.stringify(provenance));
      const hash = ledger.extension?.find((e) => e.url === 'hash')?.valueString ?? '';
      assert.match(hash, /^[0-9a-f]{64}$/);
      hashes.add(hash);
      const height = ledger.extension?.find((e) => e.url === 'height')?.valueInteger;
      assert.ok(typeof height === 'number' && height > 0);
      // Each Provenance can also be read by its id.
      const read = await call<Provenance>(base, 'GET', `/Provenance/${provenance.id}`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.body, provenance);
    }
    assert.equal(hashes.size, 3, 'every version has its own transaction');
    // A version-specific target narrows to one.
    const one = await call<Bundle>(base, 'GET', `/Provenance?target=Patient/${p.id}/_history/2`);
    assert.equal(entriesOf(one.body).length, 1);
    assertOutcome(await call(base, 'GET', '/Provenance?agent=x'), 400);
    assertOutcome(await call(base, 'GET', '/Provenance/not-a-provenance-id'), 404);
  });
});

describe('FHIR HTTP: CapabilityStatement', () => {
  /** A syntactically valid value for a search parameter of the given type. */
  function sampleValue(type: string, name: string, resourceType: string): string {
    switch (name) {
      case '_count':
        return '3';
      case '_sort':
        return '-_lastUpdated';
      case '_include':
        return resourceType === 'Observation' ? 'Observation:patient' : 'Patient:general-practitioner';
      case '_revinclude':
        return resourceType === 'Observation' ? 'Observation:has-member' : 'Observation:subject';
      case '_summary':
        return 'count';
      case '_total':
        return 'accurate';
      case '_elements':
        return 'id,status';
    }
    switch (type) {
      case 'string':
        return 'a';
      case 'token':
        return name === '_id' ? patient.id : 'http://example.org|x';
      case 'reference':
        return name === 'patient' || name === 'subject' ? `Patient/${patient.id}` : 'x';
      case 'date':
        return 'ge2020-01-01';
      case 'number':
        return '1';
      case 'quantity':
        return 'gt5.4|http://unitsofmeasure.org|mg';
      case 'uri':
        return 'http://example.org/x';
      default:
        throw new Error(`no sample value for ${name} (${type})`);
    }
  }

  it('lists exactly the search parameters that work: each returns 200 for Patient and Observation', async () => {
    const reply = await call<CapabilityStatement>(base, 'GET', '/metadata');
    assert.equal(reply.status, 200);
    assert.equal(reply.body.fhirVersion, '4.0.1');
    const resources = reply.body.rest?.[0]?.resource ?? [];
    const failures: string[] = [];
    for (const type of ['Patient', 'Observation']) {
      const entry = resources.find((r) => r.type === type);
      assert.ok(entry?.searchParam && entry.searchParam.length > 10, `${type} lists its search parameters`);
      for (const param of entry.searchParam) {
        const query = `${param.name}=${encodeURIComponent(sampleValue(param.type, param.name, type))}`;
        const result: FhirReply<Resource> = await call(base, 'GET', `/${type}?${query}`);
        if (result.status !== 200) failures.push(`${type}?${query} → ${result.status} ${result.text.slice(0, 200)}`);
      }
      for (const include of entry.searchInclude ?? []) {
        const result = await call(base, 'GET', `/${type}?_include=${encodeURIComponent(include)}`);
        if (result.status !== 200) failures.push(`${type}?_include=${include} → ${result.status} ${result.text.slice(0, 200)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('the Provenance entry and the Patient $everything operation work as listed', async () => {
    const reply = await call<CapabilityStatement>(base, 'GET', '/metadata');
    const resources = reply.body.rest?.[0]?.resource ?? [];
    const provenance = resources.find((r) => r.type === 'Provenance');
    assert.deepEqual(
      provenance?.searchParam?.map((p) => p.name),
      ['target'],
    );
    assert.ok(resources.find((r) => r.type === 'Patient')?.operation?.some((o) => o.name === 'everything'));
    const everything = await call<Bundle>(base, 'GET', `/Patient/${patient.id}/$everything`);
    assert.equal(everything.status, 200);
    const ids = entriesOf(everything.body).map((r) => r.id);
    assert.equal(ids[0], patient.id);
    for (const o of observations.slice(0, 6)) assert.ok(ids.includes(o.id));
    assert.ok(!ids.includes(observations[6]!.id));
  });
});
