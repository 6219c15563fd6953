/**
 * FHIR transaction and batch Bundles at POST /fhir: urn:uuid references rewritten, conditional
 * create and update, all or nothing (nothing stored when one entry fails), batch entries on their
 * own, malformed bundles refused with an OperationOutcome.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, BundleEntry, OperationOutcome } from '@medplum/fhirtypes';
import { entryError, parseBundle, rewriteReferences } from '../src/fhir/bundle.js';
import { FhirError } from '../src/fhir/outcome.js';
import { startTestServer, txTypesSince, type TestServer } from './support/fixtures.js';
import { authFetch } from './support/fhir-api.js';

const FHIR_JSON = 'application/fhir+json';
type Json = Record<string, unknown>;

const uuid = (n: number): string => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function patient(family: string, extra: Json = {}): Json {
  return { resourceType: 'Patient', name: [{ family, given: ['Ann'] }], ...extra };
}

function observation(subject: string, extra: Json = {}): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: subject },
    valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    ...extra,
  };
}

const post = (fullUrl: string | undefined, resource: Json, ifNoneExist?: string): BundleEntry =>
  ({
    ...(fullUrl !== undefined && { fullUrl }),
    resource,
    request: { method: 'POST', url: String(resource['resourceType']), ...(ifNoneExist !== undefined && { ifNoneExist }) },
  }) as unknown as BundleEntry;

const bundle = (type: 'transaction' | 'batch', entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type, entry });

describe('FHIR Bundles at POST /fhir', () => {
  let server: TestServer;
  let base: string;

  async function send(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
    const res = await authFetch(`${base}`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  async function get(path: string): Promise<{ status: number; body: Json }> {
    const res = await authFetch(`${base}/${path}`);
    return { status: res.status, body: (await res.json()) as Json };
  }

  async function count(type: string): Promise<number> {
    return (await get(`${type}?_summary=count`)).body['total'] as number;
  }

  async function historyTotal(): Promise<number> {
    return (await get('_history?_count=1')).body['total'] as number;
  }

  before(async () => {
    server = await startTestServer({ fhir: true });
    base = `${server.url}/fhir`;
  });
  after(async () => server.close());

  it('transaction: creates everything in one ledger transaction with urn:uuid references rewritten', async () => {
    const height = server.node.chain.head().height;
    const encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: uuid(1) },
    };
    const res = await send(
      bundle('transaction', [
        // The observation comes first: references resolve regardless of entry order.
        post(uuid(3), observation(uuid(1), { encounter: { reference: uuid(2) } })),
        post(uuid(1), patient('Tx')),
        post(uuid(2), encounter),
        post(
          uuid(4),
          observation(uuid(1), {
            derivedFrom: [{ reference: uuid(3) }],
            // A reference nested inside an extension is rewritten too.
            extension: [{ url: 'http://example.org/x', valueReference: { reference: uuid(2) } }],
          }),
        ),
      ]),
      { prefer: 'return=representation' },
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body['type'], 'transaction-response');
    const entries = res.body['entry'] as BundleEntry[];
    assert.equal(entries.length, 4);
    for (const e of entries) {
      assert.equal(e.response?.status, '201 Created');
      assert.equal(e.response?.etag, 'W/"1"');
      assert.match(e.response?.location ?? '', /\/fhir\/(Patient|Encounter|Observation)\/[0-9a-f-]{36}\/_history\/1$/);
      assert.ok(e.response?.lastModified);
      assert.ok(e.resource);
    }
    // One ledger transaction for the whole bundle.
    assert.deepEqual(txTypesSince(server.node, height), ['record.commit']);
    const id = (i: number) => entries[i]!.resource!.id!;
    const obs = (await get(`Observation/${id(0)}`)).body;
    assert.deepEqual(obs['subject'], { reference: `Patient/${id(1)}` });
    assert.deepEqual(obs['encounter'], { reference: `Encounter/${id(2)}` });
    const enc = (await get(`Encounter/${id(2)}`)).body;
    assert.deepEqual(enc['subject'], { reference: `Patient/${id(1)}` });
    const obs2 = (await get(`Observation/${id(3)}`)).body;
    assert.deepEqual(obs2['derivedFrom'], [{ reference: `Observation/${id(0)}` }]);
    assert.deepEqual((obs2['extension'] as Json[])[0]!['valueReference'], { reference: `Encounter/${id(2)}` });
    // The observations are in the new patient's compartment.
    const everything = (await get(`Patient/${id(1)}/$everything`)).body;
    assert.equal(everything['total'], 4);
    const search = (await get(`Observation?subject=Patient/${id(1)}&_summary=count`)).body;
    assert.equal(search['total'], 2);
  });

  it('transaction: PUT with client ids creates, then updates', async () => {
    const put = (version?: string): BundleEntry =>
      ({
        resource: { resourceType: 'Practitioner', id: 'tx-prac-1', name: [{ family: version ?? 'One' }] },
        request: { method: 'PUT', url: 'Practitioner/tx-prac-1' },
      }) as BundleEntry;
    const first = await send(bundle('transaction', [put()]));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal((first.body['entry'] as BundleEntry[])[0]!.response?.status, '201 Created');
    const second = await send(bundle('transaction', [put('Two')]));
    const entry = (second.body['entry'] as BundleEntry[])[0]!;
    assert.equal(entry.response?.status, '200 OK');
    assert.equal(entry.response?.etag, 'W/"2"');
    assert.equal(entry.resource, undefined); // Prefer return=minimal by default
    assert.deepEqual((await get('Practitioner/tx-prac-1')).body['name'], [{ family: 'Two' }]);
  });

  it('transaction: conditional create — a second submission creates nothing new', async () => {
    const wrap = () =>
      send(
        bundle('transaction', [
          post(uuid(10), patient('Conditional', { identifier: [{ system: 'urn:mrn', value: 'C-1' }] }), 'identifier=urn:mrn|C-1'),
          post(
            uuid(11),
            observation(uuid(10), { identifier: [{ system: 'urn:obs', value: 'C-1-obs' }] }),
            'identifier=urn:obs|C-1-obs',
          ),
        ]),
      );
    const first = await wrap();
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const firstEntries = first.body['entry'] as BundleEntry[];
    assert.deepEqual(
      firstEntries.map((e) => e.response?.status),
      ['201 Created', '201 Created'],
    );
    const patients = await count('Patient');
    const history = await historyTotal();
    const height = server.node.chain.head().height;
    const second = await wrap();
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const secondEntries = second.body['entry'] as BundleEntry[];
    assert.deepEqual(
      secondEntries.map((e) => e.response?.status),
      ['200 OK', '200 OK'],
    );
    assert.deepEqual(
      secondEntries.map((e) => e.response?.location),
      firstEntries.map((e) => e.response?.location),
    );
    assert.equal(await count('Patient'), patients);
    assert.equal(await historyTotal(), history);
    assert.deepEqual(
      txTypesSince(server.node, height).filter((t) => t !== 'access.log'),
      [],
      'no record commitment (reads only add access-log entries)',
    );
  });

  it('conditional creates in Bundles and single requests race to one resource', async () => {
    const resource = patient('Racer', { identifier: [{ system: 'urn:mrn', value: 'RACE-1' }] });
    const single = () =>
      authFetch(`${server.url}/fhir/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', 'if-none-exist': 'identifier=urn:mrn|RACE-1' },
        body: JSON.stringify(resource),
      });
    const results = await Promise.all([
      send(bundle('transaction', [post(uuid(40), resource, 'identifier=urn:mrn|RACE-1')])),
      single(),
      send(bundle('batch', [post(undefined, resource, 'identifier=urn:mrn|RACE-1')])),
      single(),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      [200, results[1]!.status, 200, results[3]!.status],
    );
    const found = (await get('Patient?identifier=urn:mrn|RACE-1&_summary=count')).body;
    assert.equal(found['total'], 1);
  });

  it('transaction: conditional update — 0 matches creates, 1 updates, 2 or more is 412', async () => {
    const entry = (family: string): BundleEntry =>
      ({
        resource: patient(family, { identifier: [{ system: 'urn:mrn', value: 'U-1' }] }),
        request: { method: 'PUT', url: 'Patient?identifier=urn:mrn|U-1' },
      }) as unknown as BundleEntry;
    const created = await send(bundle('transaction', [entry('First')]));
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const c = (created.body['entry'] as BundleEntry[])[0]!.response!;
    assert.equal(c.status, '201 Created');
    const updated = await send(bundle('transaction', [entry('Second')]));
    const u = (updated.body['entry'] as BundleEntry[])[0]!.response!;
    assert.equal(u.status, '200 OK');
    assert.equal(u.etag, 'W/"2"');
    assert.equal(u.location?.replace(/\/_history\/\d+$/, ''), c.location?.replace(/\/_history\/\d+$/, ''));
    const id = /Patient\/([^/]+)\//.exec(u.location!)![1]!;
    assert.deepEqual(((await get(`Patient/${id}`)).body['name'] as Json[])[0]!['family'], 'Second');
    // A second patient with the same identifier: the conditional update is ambiguous.
    await send(bundle('transaction', [post(undefined, patient('Dup', { identifier: [{ system: 'urn:mrn', value: 'U-1' }] }))]));
    const ambiguous = await send(bundle('transaction', [entry('Third')]));
    assert.equal(ambiguous.status, 412);
    assert.equal(ambiguous.body['resourceType'], 'OperationOutcome');
    assert.deepEqual((ambiguous.body as unknown as OperationOutcome).issue[0]!.expression, ['Bundle.entry[0]']);
  });

  it('transaction: one invalid entry stores nothing, and the outcome names the entry', async () => {
    const patients = await count('Patient');
    const observations = await count('Observation');
    const history = await historyTotal();
    const height = server.node.chain.head().height;
    const res = await send(
      bundle('transaction', [
        post(uuid(20), patient('Invalid')),
        post(uuid(21), observation(uuid(20))),
        post(uuid(22), observation(uuid(20))),
        post(uuid(23), observation(uuid(20), { status: 'not-a-status' })),
      ]),
    );
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body['resourceType'], 'OperationOutcome');
    const issue = (res.body as unknown as OperationOutcome).issue[0]!;
    assert.deepEqual(issue.expression, ['Bundle.entry[3].resource.status']);
    assert.match(issue.diagnostics ?? '', /^entry 3: /);
    assert.equal(await count('Patient'), patients);
    assert.equal(await count('Observation'), observations);
    assert.equal(await historyTotal(), history);
    assert.deepEqual(
      txTypesSince(server.node, height).filter((t) => t !== 'access.log'),
      [],
      'no record commitment (reads only add access-log entries)',
    );
  });

  it('transaction: a reference to a missing resource (or an unresolved urn:uuid) fails the whole transaction', async () => {
    const patients = await count('Patient');
    const history = await historyTotal();
    const missing = await send(
      bundle('transaction', [post(uuid(30), patient('Missing')), post(uuid(31), observation('Patient/does-not-exist'))]),
    );
    assert.equal(missing.status, 422, JSON.stringify(missing.body));
    assert.deepEqual((missing.body as unknown as OperationOutcome).issue[0]!.expression, [
      'Bundle.entry[1].resource.subject.reference',
    ]);
    const unresolved = await send(bundle('transaction', [post(uuid(32), patient('U')), post(uuid(33), observation(uuid(99)))]));
    assert.equal(unresolved.status, 422);
    assert.deepEqual((unresolved.body as unknown as OperationOutcome).issue[0]!.expression, [
      'Bundle.entry[1].resource.subject.reference',
    ]);
    assert.equal(await count('Patient'), patients);
    assert.equal(await historyTotal(), history);
  });

  it('transaction: DELETE entries, and a reference to a resource the same transaction deletes fails', async () => {
    const made = await send(bundle('transaction', [post(uuid(40), patient('ToDelete')), post(uuid(41), observation(uuid(40)))]));
    const [p, o] = (made.body['entry'] as BundleEntry[]).map((e) => /fhir\/(\w+\/[^/]+)\//.exec(e.response!.location!)![1]!);
    const bad = await send(
      bundle('transaction', [
        { request: { method: 'DELETE', url: p! } },
        { resource: observation(p!), request: { method: 'POST', url: 'Observation' } },
      ] as BundleEntry[]),
    );
    assert.equal(bad.status, 422, JSON.stringify(bad.body));
    assert.equal((await get(p!)).status, 200);
    const ok = await send(
      bundle('transaction', [
        { request: { method: 'DELETE', url: o! } },
        { request: { method: 'DELETE', url: p! } },
      ] as BundleEntry[]),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(
      (ok.body['entry'] as BundleEntry[]).map((e) => e.response?.status),
      ['204 No Content', '204 No Content'],
    );
    assert.equal((await get(p!)).status, 410);
    assert.equal((await get(o!)).status, 410);
  });

  it('batch: each entry on its own, with its own status or OperationOutcome', async () => {
    const made = await send(bundle('transaction', [post(uuid(50), patient('Batch'))]));
    const patientRef = /fhir\/(Patient\/[^/]+)\//.exec((made.body['entry'] as BundleEntry[])[0]!.response!.location!)![1]!;
    const observations = await count('Observation');
    const res = await send(
      bundle('batch', [
        post(undefined, observation(patientRef)),
        post(undefined, observation(patientRef, { status: 'bogus' })),
        post(undefined, observation('Patient/nobody')),
        { request: { method: 'GET', url: patientRef } } as BundleEntry,
        { request: { method: 'GET', url: 'Patient/nobody' } } as BundleEntry,
        { request: { method: 'GET', url: `Observation?subject=${patientRef}` } } as BundleEntry,
      ]),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body['type'], 'batch-response');
    const entries = res.body['entry'] as BundleEntry[];
    assert.deepEqual(
      entries.map((e) => e.response?.status),
      ['201 Created', '400 Bad Request', '422 Unprocessable Entity', '200 OK', '404 Not Found', '200 OK'],
    );
    assert.deepEqual((entries[1]!.response!.outcome as OperationOutcome).issue[0]!.expression, [
      'Bundle.entry[1].resource.status',
    ]);
    assert.equal(entries[3]!.resource?.resourceType, 'Patient');
    assert.equal((entries[5]!.resource as Bundle).total ?? (entries[5]!.resource as Bundle).entry?.length, 1);
    assert.equal(await count('Observation'), observations + 1);
  });

  it('malformed bundles are 400 OperationOutcomes', async () => {
    const history = await historyTotal();
    const cases: [unknown, RegExp][] = [
      [{ resourceType: 'Patient' }, /Bundle/],
      [[1, 2], /Bundle/],
      [{ resourceType: 'Bundle', type: 'collection', entry: [] }, /transaction or batch/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: {} }, /array/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('X') }] }, /request/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('X'), request: { method: 'POST' } }] }, /url/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PATCH', url: 'Patient/x' } }] }, /PATCH/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'FETCH', url: 'Patient/x' } }] }, /method/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: 'Patient/x' } }] }, /GET/],
      [
        { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Patient?name=x' } }] },
        /conditional delete/,
      ],
      [
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: patient('X'), request: { method: 'POST', url: 'Observation' } }],
        },
        /Observation/,
      ],
      [
        { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Patient' } }] },
        /needs a resource/,
      ],
      [{ resourceType: 'Bundle', type: 'transaction', entry: [post('urn:uuid:nope', patient('X'))] }, /urn:uuid/],
      [
        { resourceType: 'Bundle', type: 'transaction', entry: [post(uuid(60), patient('X')), post(uuid(60), patient('Y'))] },
        /twice/,
      ],
      [
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: { resourceType: 'Patient', id: 'dup' }, request: { method: 'PUT', url: 'Patient/dup' } },
            { resource: { resourceType: 'Patient', id: 'dup' }, request: { method: 'PUT', url: 'Patient/dup' } },
          ],
        },
        /appear once/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await send(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body['resourceType'], 'OperationOutcome');
      assert.match(JSON.stringify(res.body), message);
    }
    assert.equal(await historyTotal(), history);
  });

  it('a transaction writing more than 1,000 resources is refused up front', async () => {
    const history = await historyTotal();
    const entries = Array.from({ length: 1001 }, (_, i) =>
      post(uuid(1000 + i), { resourceType: 'Practitioner', name: [{ family: `P${i}` }] }),
    );
    const res = await send(bundle('transaction', entries));
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(res.body), /at most 1000/);
    assert.equal(await historyTotal(), history);
  });

  it('the CapabilityStatement lists transaction and batch', async () => {
    const cs = (await get('metadata')).body;
    const codes = ((cs['rest'] as Json[])[0]!['interaction'] as { code: string }[]).map((i) => i.code);
    assert.ok(codes.includes('transaction') && codes.includes('batch'));
  });
});

describe('bundle: pure parts', () => {
  it('rewrites references at any depth and leaves the input alone', () => {
    const input = { a: { reference: 'urn:uuid:x' }, b: [{ c: { reference: 'urn:uuid:x' } }, { reference: 'Patient/1' }] };
    const out = rewriteReferences(input, new Map([['urn:uuid:x', 'Patient/9']]));
    assert.deepEqual(out, { a: { reference: 'Patient/9' }, b: [{ c: { reference: 'Patient/9' } }, { reference: 'Patient/1' }] });
    assert.equal(input.a.reference, 'urn:uuid:x');
  });

  it('re-roots error expressions at the entry', () => {
    const error = entryError(
      new FhirError(400, [{ severity: 'error', code: 'value', expression: ['Observation.code.coding[0]'] }]),
      2,
    );
    assert.ok(error instanceof FhirError);
    assert.deepEqual(error.issues[0]!.expression, ['Bundle.entry[2].resource.code.coding[0]']);
  });

  it('parses request urls (absolute under the base, conditional forms, history reads)', () => {
    const parsed = parseBundle(
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: 'http://h/fhir/Patient/1/_history/2' } },
          { resource: { resourceType: 'Patient' }, request: { method: 'PUT', url: 'Patient?identifier=a|b', ifMatch: 'W/"3"' } },
        ],
      },
      'http://h/fhir',
    );
    assert.deepEqual(
      parsed.entries.map((e) => e.request),
      [
        { kind: 'read', type: 'Patient', id: '1', version: 2 },
        { kind: 'conditional-update', type: 'Patient', query: 'identifier=a|b', ifMatch: 3 },
      ],
    );
  });
});
