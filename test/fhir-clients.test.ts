/**
 * The FHIR REST API through two unmodified, widely used FHIR client libraries: fhir-kit-client
 * (Vermonster) and Medplum's MedplumClient (@medplum/core, a general FHIR R4 client). If they work
 * against /fhir — paging by absolute next links, ETags, JSON Patch, OperationOutcome errors — real
 * clients do. (SMART's fhirclient was tried first: its dependency tree drags in Expo/React Native
 * packages whose lock file `npm ci` rejects, so it cannot be installed reproducibly here.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client as KitClient, type FhirResource } from 'fhir-kit-client';
import { MedplumClient, OperationOutcomeError } from '@medplum/core';
import type { Bundle, CapabilityStatement, Observation, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from './support/fixtures.js';

const OBSERVATIONS = 37;
const LOINC = 'http://loinc.org';

let server: TestServer;
let base: string;
let kit: KitClient;

/** What fhir-kit-client throws for a non-2xx answer. */
interface KitError extends Error {
  response: { status: number; data: unknown };
}

async function kitFailure(promise: Promise<unknown>): Promise<{ status: number; outcome: OperationOutcome }> {
  try {
    await promise;
  } catch (error) {
    const { response } = error as KitError;
    assert.ok(response, `expected an HTTP error, got ${String(error)}`);
    const outcome = response.data as OperationOutcome;
    assert.equal(outcome.resourceType, 'OperationOutcome');
    return { status: response.status, outcome };
  }
  assert.fail('expected the request to fail');
}

const as = <T extends Resource>(r: FhirResource): T => r as unknown as T;
const asKit = (r: Resource): FhirResource => r as unknown as FhirResource;

function heartRate(patientId: string, i: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: new Date(Date.UTC(2020, 0, 1 + i, 9)).toISOString(),
    valueQuantity: { value: 60 + (i % 30), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

before(async () => {
  server = await startTestServer({ fhir: true });
  base = `${server.url}/fhir`;
  kit = new KitClient({ baseUrl: base, bearerToken: server.token! });
});

after(async () => {
  await server.close();
});

describe('fhir-kit-client', () => {
  let patientId: string;

  it('reads the CapabilityStatement', async () => {
    const capability = as<CapabilityStatement>(await kit.capabilityStatement());
    assert.equal(capability.resourceType, 'CapabilityStatement');
    assert.equal(capability.fhirVersion, '4.0.1');
    const patient = capability.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    const codes = patient?.interaction?.map((i) => i.code);
    for (const code of [
      'read',
      'vread',
      'create',
      'update',
      'patch',
      'delete',
      'search-type',
      'history-instance',
      'history-type',
    ] as const)
      assert.ok(codes?.includes(code), code);
  });

  it('create, read, vread, update, patch', async () => {
    const created = as<Patient>(
      await kit.create({
        resourceType: 'Patient',
        body: asKit({ resourceType: 'Patient', name: [{ family: 'Kit', given: ['Ann'] }], gender: 'female' }),
      }),
    );
    assert.ok(created.id);
    patientId = created.id;
    assert.equal(created.meta?.versionId, '1');

    const read = as<Patient>(await kit.read({ resourceType: 'Patient', id: patientId }));
    assert.deepEqual(read, created);

    const updated = as<Patient>(
      await kit.update({ resourceType: 'Patient', id: patientId, body: asKit({ ...read, birthDate: '1985-02-03' }) }),
    );
    assert.equal(updated.meta?.versionId, '2');
    assert.equal(updated.birthDate, '1985-02-03');

    const patched = as<Patient>(
      await kit.patch({
        resourceType: 'Patient',
        id: patientId,
        jsonPatch: [
          { op: 'test', path: '/gender', value: 'female' },
          { op: 'replace', path: '/gender', value: 'other' },
          { op: 'add', path: '/name/0/given/-', value: 'Beth' },
        ],
      }),
    );
    assert.equal(patched.meta?.versionId, '3');
    assert.equal(patched.gender, 'other');
    assert.deepEqual(patched.name?.[0]?.given, ['Ann', 'Beth']);

    const v1 = as<Patient>(await kit.vread({ resourceType: 'Patient', id: patientId, version: '1' }));
    assert.deepEqual(v1, created);
    const v2 = as<Patient>(await kit.vread({ resourceType: 'Patient', id: patientId, version: '2' }));
    assert.equal(v2.birthDate, '1985-02-03');
    assert.equal(v2.gender, 'female');

    // A failing JSON Patch test operation changes nothing.
    const failed = await kitFailure(
      kit.patch({ resourceType: 'Patient', id: patientId, jsonPatch: [{ op: 'test', path: '/gender', value: 'male' }] }),
    );
    assert.equal(failed.status, 422);
    assert.equal(as<Patient>(await kit.read({ resourceType: 'Patient', id: patientId })).meta?.versionId, '3');
  });

  it('search pages through absolute next links until exhausted, counting every result', async () => {
    for (let i = 0; i < OBSERVATIONS; i++) {
      await kit.create({ resourceType: 'Observation', body: asKit(heartRate(patientId, i)) });
    }
    let bundle = as<Bundle>(
      await kit.search({ resourceType: 'Observation', searchParams: { patient: patientId, _count: 10, _sort: 'date' } }),
    );
    const ids: string[] = [];
    const dates: string[] = [];
    let pages = 0;
    while (true) {
      pages++;
      for (const entry of bundle.entry ?? []) {
        ids.push(entry.resource!.id!);
        dates.push((entry.resource as Observation).effectiveDateTime!);
      }
      const next = bundle.link?.find((l) => l.relation === 'next')?.url;
      if (next !== undefined) assert.match(next, /^http:\/\/127\.0\.0\.1:\d+\/fhir\/Observation\?/);
      const page = kit.nextPage({ bundle: asKit(bundle) as FhirResource & { link: { relation: string; url: string }[] } });
      if (page === undefined) break;
      bundle = as<Bundle>(await page);
      assert.ok(pages < 20, 'paging does not end');
    }
    assert.equal(ids.length, OBSERVATIONS);
    assert.equal(new Set(ids).size, OBSERVATIONS);
    assert.equal(pages, Math.ceil(OBSERVATIONS / 10));
    assert.deepEqual(dates, [...dates].sort());
  });

  it('history: instance and type', async () => {
    const instance = as<Bundle>(await kit.resourceHistory({ resourceType: 'Patient', id: patientId }));
    assert.equal(instance.type, 'history');
    assert.equal(instance.total, 3);
    assert.deepEqual(
      instance.entry?.map((e) => e.response?.etag),
      ['W/"3"', 'W/"2"', 'W/"1"'],
    );
    assert.deepEqual(
      instance.entry?.map((e) => e.request?.method),
      ['PUT', 'PUT', 'POST'],
    );
    const type = as<Bundle>(await kit.typeHistory({ resourceType: 'Observation' }));
    assert.equal(type.total, OBSERVATIONS);
    assert.ok(type.entry?.every((e) => e.resource?.resourceType === 'Observation'));
  });

  it('$everything through the operation call', async () => {
    const everything = as<Bundle>(
      await kit.operation({ name: '$everything', resourceType: 'Patient', id: patientId, method: 'GET' }),
    );
    assert.equal(everything.resourceType, 'Bundle');
    const resources = (everything.entry ?? []).map((e) => e.resource!);
    assert.equal(resources[0]?.resourceType, 'Patient');
    assert.equal(resources[0]?.id, patientId);
    assert.equal(resources.filter((r) => r.resourceType === 'Observation').length, OBSERVATIONS);
  });

  it('conditional create with If-None-Exist', async () => {
    const body = asKit({ resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'kit-42' }] });
    const options = { headers: { 'If-None-Exist': 'identifier=urn:test:mrn|kit-42' } };
    const first = as<Patient>(await kit.create({ resourceType: 'Patient', body, options }));
    const second = as<Patient>(await kit.create({ resourceType: 'Patient', body, options }));
    assert.equal(second.id, first.id);
    const found = as<Bundle>(await kit.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:mrn|kit-42' } }));
    assert.equal(found.entry?.length, 1);
  });

  it('delete, then read fails with 410 and the OperationOutcome', async () => {
    const created = as<Patient>(
      await kit.create({ resourceType: 'Patient', body: asKit({ resourceType: 'Patient', active: true }) }),
    );
    await kit.delete({ resourceType: 'Patient', id: created.id! });
    const gone = await kitFailure(kit.read({ resourceType: 'Patient', id: created.id! }));
    assert.equal(gone.status, 410);
    assert.equal(gone.outcome.issue[0]?.code, 'deleted');
    const missing = await kitFailure(kit.read({ resourceType: 'Patient', id: 'never-was' }));
    assert.equal(missing.status, 404);
    const invalid = await kitFailure(kit.create({ resourceType: 'Patient', body: { resourceType: 'Patient', gender: 'x' } }));
    assert.equal(invalid.status, 400);
    assert.ok(invalid.outcome.issue.some((i) => i.expression?.includes('Patient.gender')));
  });
});

describe('MedplumClient (@medplum/core)', () => {
  /** A backend-service token from the node key, no request cache, the server's own base URL. */
  const medplum = (): MedplumClient => {
    const client = new MedplumClient({ baseUrl: server.url, fhirUrlPath: 'fhir', cacheTime: 0, fetch });
    client.setAccessToken(server.token!);
    return client;
  };

  async function outcomeOf(promise: Promise<unknown>): Promise<OperationOutcome> {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof OperationOutcomeError, `expected an OperationOutcomeError, got ${String(error)}`);
      return error.outcome;
    }
    assert.fail('expected the request to fail');
  }

  let patientId: string;

  it('create, read, update, patch, history, delete', async () => {
    const client = medplum();
    const created = await client.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Plum' }], gender: 'male' });
    patientId = created.id;
    assert.equal(created.meta?.versionId, '1');
    assert.deepEqual(await client.readResource('Patient', patientId), created);

    const updated = await client.updateResource<Patient>({ ...created, gender: 'female' });
    assert.equal(updated.meta?.versionId, '2');
    const patched = await client.patchResource('Patient', patientId, [{ op: 'add', path: '/birthDate', value: '1990-04-05' }]);
    assert.equal(patched.birthDate, '1990-04-05');
    assert.equal(patched.meta?.versionId, '3');
    assert.equal((await client.readVersion('Patient', patientId, '2')).gender, 'female');
    const history = await client.readHistory('Patient', patientId);
    assert.deepEqual(
      history.entry?.map((e) => e.resource?.meta?.versionId),
      ['3', '2', '1'],
    );

    const temporary = await client.createResource<Patient>({ resourceType: 'Patient', active: false });
    await client.deleteResource('Patient', temporary.id);
    const deleted = await outcomeOf(client.readResource('Patient', temporary.id));
    assert.equal(deleted.issue[0]?.code, 'deleted');
    const missing = await outcomeOf(client.readResource('Patient', 'never-was'));
    assert.equal(missing.issue[0]?.code, 'not-found');
    const invalid = await outcomeOf(
      client.createResource({ resourceType: 'Patient', gender: 'unknown-gender' } as unknown as Patient),
    );
    assert.ok(invalid.issue.some((i) => i.expression?.includes('Patient.gender')));
  });

  it('search pages through every result by the next links', async () => {
    const client = medplum();
    for (let i = 0; i < OBSERVATIONS; i++) await client.createResource(heartRate(patientId, i));
    const pages: number[] = [];
    const ids = new Set<string>();
    for await (const page of client.searchResourcePages('Observation', { patient: patientId, _count: '10' })) {
      pages.push(page.length);
      for (const o of page) {
        assert.equal(o.subject?.reference, `Patient/${patientId}`);
        ids.add(o.id);
      }
    }
    assert.deepEqual(pages, [10, 10, 10, OBSERVATIONS - 30]);
    assert.equal(ids.size, OBSERVATIONS);
    const bundle = await client.search('Observation', { patient: patientId, code: `${LOINC}|8867-4`, _summary: 'count' });
    assert.equal(bundle.total, OBSERVATIONS);
  });
});
