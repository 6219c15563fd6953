/**
 * Loading the demo data set through the FHIR repository (transaction Bundles), then finding it
 * through the FHIR API; a second load loads nothing; the `medledger demo` command.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Bundle, HumanName } from '@medplum/fhirtypes';
import { DEMO_ORGANIZATION_ID, generateDemo } from '../src/demo/generator.js';
import { loadDemo } from '../src/demo/load.js';
import { ensureDemoConsents } from '../src/demo/consents.js';
import type { Principal } from '../src/auth/principal.js';
import { parseScopes } from '../src/auth/scopes.js';
import { startTestServer, tempDir, type TestServer } from './support/fixtures.js';
import { authFetch } from './support/fhir-api.js';

const PATIENTS = 3;

describe('demo data load', () => {
  let server: TestServer;
  let base: string;
  const expected = generateDemo({ patients: PATIENTS });

  async function get<T = Bundle>(path: string): Promise<T> {
    const res = await authFetch(`${base}/${path}`);
    assert.equal(res.status, 200, path);
    return (await res.json()) as T;
  }

  before(async () => {
    server = await startTestServer({ fhir: true });
    base = `${server.url}/fhir`;
  });
  after(async () => server.close());

  it('loads the organization, practitioners and every patient bundle', async () => {
    const result = await loadDemo(server.fhir!, { patients: PATIENTS });
    const total = 1 + expected.practitioners.length + expected.patients.reduce((n, p) => n + (p.bundle.entry?.length ?? 0), 0);
    assert.equal(result.loaded, true);
    assert.equal(result.patients, PATIENTS);
    assert.equal(result.resources, total);
    assert.equal((await get('_history?_count=1')).total, total);
    assert.equal((await get<{ id: string }>(`Organization/${DEMO_ORGANIZATION_ID}`)).id, DEMO_ORGANIZATION_ID);
    assert.equal((await get('Practitioner?_summary=count')).total, expected.practitioners.length);
  });

  it('finds a patient by name, and $everything returns the whole history with resolved references', async () => {
    for (const history of expected.patients) {
      const name = history.patient.name![0] as HumanName;
      const found = await get(`Patient?family=${encodeURIComponent(name.family!)}&given=${encodeURIComponent(name.given![0]!)}`);
      const match = found.entry?.find(
        (e) =>
          (e.resource as { identifier?: { value?: string }[] }).identifier?.[0]?.value === history.patient.identifier?.[0]?.value,
      );
      assert.ok(match, `patient ${name.family} not found`);
      const id = match.resource!.id!;
      const everything = await get(`Patient/${id}/$everything`);
      assert.equal(everything.total, history.bundle.entry!.length);
      // Types as in the generated bundle.
      const count = (types: string[]) =>
        types.reduce<Record<string, number>>((acc, t) => ({ ...acc, [t]: (acc[t] ?? 0) + 1 }), {});
      assert.deepEqual(
        count(everything.entry!.map((e) => e.resource!.resourceType)),
        count(history.bundle.entry!.map((e) => e.resource!.resourceType)),
      );
      // Every reference is a literal Type/id of this server now, none left as urn:uuid.
      const text = JSON.stringify(everything);
      assert.doesNotMatch(text, /urn:uuid:/);
      const observation = everything.entry!.find((e) => e.resource!.resourceType === 'Observation')?.resource as
        { subject?: { reference?: string } } | undefined;
      if (observation) assert.equal(observation.subject?.reference, `Patient/${id}`);
    }
  });

  it('a second load loads nothing', async () => {
    const before = (await get('_history?_count=1')).total;
    const height = server.node.chain.head().height;
    const again = await loadDemo(server.fhir!, { patients: PATIENTS });
    assert.equal(again.loaded, false);
    assert.equal(again.resources, 0);
    assert.equal(server.node.chain.head().height, height, 'nothing committed');
    assert.equal((await get('_history?_count=1')).total, before);
  });
});

describe('medledger demo', () => {
  const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  const env = { ...process.env, MEDLEDGER_KEY_PASSPHRASE: 'demo cli test passphrase' };

  it('has --help', () => {
    const out = spawnSync(process.execPath, [cli, 'demo', '--help'], { encoding: 'utf8', env });
    assert.equal(out.status, 0);
    assert.match(out.stdout, /--patients/);
  });

  it('initializes a demo chain, loads the data once, and refuses a bad --patients', () => {
    const dir = tempDir();
    try {
      const first = spawnSync(process.execPath, [cli, 'demo', '--data', dir.path, '--patients', '1'], { encoding: 'utf8', env });
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /loaded \d+ demo resources \(1 patients\)/);
      const second = spawnSync(process.execPath, [cli, 'demo', '--data', dir.path, '--patients', '1'], { encoding: 'utf8', env });
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, /already loaded/);
      const bad = spawnSync(process.execPath, [cli, 'demo', '--data', dir.path, '--patients', 'many'], { encoding: 'utf8', env });
      assert.equal(bad.status, 2);
    } finally {
      dir.remove();
    }
  });
});

describe('demo patients on the ledger', () => {
  it('enrolls the demo patients (not the web logins, who enroll on first sign-in); all but every tenth consent, idempotently', async () => {
    const server = await startTestServer({ fhir: true });
    try {
      await loadDemo(server.fhir!, { patients: 10 });
      const first = await ensureDemoConsents(server.node, server.fhir!);
      assert.deepEqual(first, { enrolled: 8, consented: 7 });
      assert.deepEqual(await ensureDemoConsents(server.node, server.fhir!), { enrolled: 0, consented: 0 });
      // The organization has been signing through the node (submitOwn): register through it too.
      await server.addPractitioner('prac_demo-reader');
      const reader: Principal = {
        kind: 'practitioner',
        id: 'prac_demo-reader',
        org: server.org.id,
        roles: ['clinician'],
        scopes: parseScopes('user/*.rs').scopes,
        client: 'test',
      };
      const visible = server.access!.service.scope(reader, 'Observation').patients;
      const patients = server
        .fhir!.vault.db.prepare("SELECT patient FROM current WHERE type = 'Patient' ORDER BY res")
        .pluck()
        .all() as string[];
      assert.deepEqual(
        patients.map((p) => visible.has(p)),
        [false, false, true, true, true, true, true, true, true, false],
      );
    } finally {
      await server.close();
    }
  });
});
