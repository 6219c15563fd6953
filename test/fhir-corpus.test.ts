/**
 * A large corpus through the FHIR REST API: every valid fixture (test/fixtures/fhir/valid) and the
 * synthetic histories of three demo patients (src/demo/generator.ts, ~670 resources) are written
 * over HTTP and read back exactly as written (plus id and server meta); every invalid fixture is
 * rejected with an OperationOutcome and stores nothing. Then one stored ciphertext is altered: that
 * resource fails its integrity check (500, no content), everything else still reads.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { generateDemo } from '../src/demo/generator.js';
import { WRITABLE_TYPES } from '../src/fhir/repository.js';
import { startTestServer, type TestServer } from './support/fixtures.js';
import { assertOutcome, call, entriesOf, withoutServerMeta } from './support/fhir-api.js';

// dist/test/ → repository root
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = join(root, 'test', 'fixtures', 'fhir');

type Json = Record<string, unknown>;
type Stored = Resource & { id: string };

function readDir(dir: string): [string, Json][] {
  return readdirSync(join(fixtures, dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(fixtures, dir, f), 'utf8')) as Json]);
}

const WRITABLE: ReadonlySet<string> = new Set(WRITABLE_TYPES);
const READ_ONLY = new Set(['Provenance', 'Consent', 'AuditEvent']);
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/;

/** Every `reference` string in a value. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

/** A copy with every `reference` string mapped through `f`. */
function mapReferences<T>(value: T, f: (reference: string) => string): T {
  if (Array.isArray(value)) return value.map((v: unknown) => mapReferences(v, f)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === 'reference' && typeof v === 'string' ? f(v) : mapReferences(v, f)]),
    ) as T;
  }
  return value;
}

/** The smallest valid resource of a type, for reference targets that no fixture provides. */
function stub(type: string, id: string): Resource {
  switch (type) {
    case 'Patient':
    case 'Practitioner':
    case 'Organization':
      return { resourceType: type, id } as Resource;
    case 'Observation':
      return { resourceType: type, id, status: 'final', code: { text: 'referenced by a fixture' } };
    case 'Encounter':
      return {
        resourceType: type,
        id,
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      };
    case 'DocumentReference':
      return { resourceType: type, id, status: 'current', content: [{ attachment: { contentType: 'text/plain' } }] };
    default:
      throw new Error(`no stub for ${type}/${id}`);
  }
}

let server: TestServer;
let base: string;
/** Everything written, by `Type/id`: the resource as sent (what a read must give back, minus server meta). */
const written = new Map<string, Resource>();

/** Writes a resource (PUT with its id, else POST) and checks the answer against what was sent. */
async function store(resource: Resource): Promise<Stored> {
  const reply =
    resource.id !== undefined
      ? await call<Stored>(base, 'PUT', `/${resource.resourceType}/${resource.id}`, { body: resource })
      : await call<Stored>(base, 'POST', `/${resource.resourceType}`, { body: resource });
  assert.equal(reply.status, 201, `${resource.resourceType}/${resource.id ?? '(new)'}: ${reply.text.slice(0, 500)}`);
  const saved = reply.body;
  assert.equal(saved.meta?.versionId, '1');
  assert.ok(!Number.isNaN(Date.parse(saved.meta?.lastUpdated ?? '')));
  const expected = withoutServerMeta({ ...resource, id: saved.id } as Resource);
  assert.deepEqual(withoutServerMeta(saved), expected);
  written.set(`${saved.resourceType}/${saved.id}`, expected);
  return saved;
}

/** Reads every written resource back and compares it with what was sent (limited concurrency). */
async function readBackAll(keys: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const reply = await call<Stored>(base, 'GET', `/${key}`);
      assert.equal(reply.status, 200, `${key}: ${reply.text.slice(0, 300)}`);
      assert.equal(reply.body.meta?.versionId, '1', key);
      assert.equal(reply.headers.get('etag'), 'W/"1"', key);
      assert.deepEqual(withoutServerMeta(reply.body), written.get(key), key);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** What a client can see of the store: every type's current count and the system history total. */
async function snapshot(): Promise<string> {
  const counts = await Promise.all(
    WRITABLE_TYPES.filter((t) => t !== 'Binary' && t !== 'PractitionerRole').map(async (type) => {
      const reply = await call<Bundle>(base, 'GET', `/${type}?_summary=count`);
      assert.equal(reply.status, 200, `${type}: ${reply.text.slice(0, 200)}`);
      return `${type}=${reply.body.total}`;
    }),
  );
  const history = await call<Bundle>(base, 'GET', '/_history?_count=1');
  return `${counts.join(' ')} history=${history.body.total}`;
}

before(async () => {
  server = await startTestServer({ fhir: true });
  base = `${server.url}/fhir`;
});

after(async () => {
  await server.close();
});

describe('FHIR corpus: valid fixtures', () => {
  const valid = readDir('valid');

  it('every writable fixture round-trips; the others are refused without storing anything', async () => {
    const writable = valid.filter(([, r]) => WRITABLE.has(r['resourceType'] as string));
    const others = valid.filter(([, r]) => !WRITABLE.has(r['resourceType'] as string));
    assert.ok(writable.length >= 35, `${writable.length} writable fixtures`);

    // Refused types first, on an empty store.
    const empty = await snapshot();
    for (const [file, resource] of others) {
      const type = resource['resourceType'] as string;
      const reply = await call(base, 'POST', `/${type}`, { body: resource });
      if (READ_ONLY.has(type)) assertOutcome(reply, 405, 'not-supported');
      else assertOutcome(reply, 404); // Bundle, OperationOutcome: no such resource endpoint
      if (typeof resource['id'] === 'string') {
        const put = await call(base, 'PUT', `/${type}/${resource['id'] as string}`, { body: resource });
        assert.ok(put.status === 405 || put.status === 404, `${file}: PUT ${put.status}`);
      }
    }
    assert.equal(await snapshot(), empty);

    // A urn:uuid reference only resolves inside a transaction: refused as is, stored once rewritten.
    const withUrn = writable.filter(([, r]) => references(r).some((ref) => ref.startsWith('urn:uuid:')));
    for (const [file, resource] of withUrn) {
      assertOutcome(await call(base, 'POST', `/${resource['resourceType'] as string}`, { body: resource }), 422, 'processing');
      assert.equal(await snapshot(), empty, file);
    }

    // Reference targets: fixtures with ids, and stubs for the ones no fixture provides.
    const byKey = new Map<string, Resource>();
    const anonymous: Resource[] = [];
    for (const [, r] of writable) {
      const resource = mapReferences(r, (ref) => (ref.startsWith('urn:uuid:') ? 'Patient/pat-1' : ref)) as unknown as Resource;
      if (resource.id !== undefined) byKey.set(`${resource.resourceType}/${resource.id}`, resource);
      else anonymous.push(resource);
    }
    const targetsOf = (resource: Resource): string[] =>
      references(resource)
        .map((ref) => RELATIVE.exec(ref))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => `${m[1]}/${m[2]}`)
        .filter((key) => key !== `${resource.resourceType}/${resource.id}`);
    for (const resource of [...byKey.values(), ...anonymous]) {
      for (const key of targetsOf(resource)) {
        if (!byKey.has(key)) {
          const [type, id] = key.split('/') as [string, string];
          byKey.set(key, stub(type, id));
        }
      }
    }

    // Write in dependency order (targets before the resources that reference them).
    const done = new Set<string>();
    const visiting = new Set<string>();
    const visit = async (key: string): Promise<void> => {
      if (done.has(key)) return;
      assert.ok(!visiting.has(key), `reference cycle through ${key}`);
      visiting.add(key);
      const resource = byKey.get(key)!;
      for (const target of targetsOf(resource)) await visit(target);
      await store(resource);
      visiting.delete(key);
      done.add(key);
    };
    for (const key of byKey.keys()) await visit(key);
    for (const resource of anonymous) await store(resource);

    assert.equal(written.size, byKey.size + anonymous.length);
    await readBackAll([...written.keys()]);
  });
});

describe('FHIR corpus: demo patients', () => {
  it('three synthetic histories (hundreds of resources) are created in order and read back as written', async () => {
    const demo = generateDemo({ patients: 3 });
    const before = written.size;
    await store(demo.organization);
    for (const practitioner of demo.practitioners) await store(practitioner);

    const counts = await Promise.all(
      demo.patients.map(async ({ bundle }) => {
        const ids = new Map<string, string>(); // urn:uuid:… → Type/id
        let patientId = '';
        for (const entry of bundle.entry ?? []) {
          const resource = mapReferences(entry.resource!, (ref) => {
            if (!ref.startsWith('urn:uuid:')) return ref;
            const local = ids.get(ref);
            assert.ok(local, `${ref} is used before its entry`);
            return local;
          });
          assert.equal(entry.request?.method, 'POST');
          const saved = await store(resource);
          ids.set(entry.fullUrl!, `${saved.resourceType}/${saved.id}`);
          if (saved.resourceType === 'Patient') patientId = saved.id;
        }
        // The patient compartment holds exactly this history.
        const everything = await call<Bundle>(base, 'GET', `/Patient/${patientId}/$everything`);
        assert.equal(everything.status, 200);
        const got = entriesOf(everything.body).map((r) => `${r.resourceType}/${r.id}`);
        assert.deepEqual(new Set(got), new Set(ids.values()));
        for (const r of entriesOf(everything.body))
          assert.deepEqual(withoutServerMeta(r), written.get(`${r.resourceType}/${r.id}`));
        return bundle.entry?.length ?? 0;
      }),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    assert.ok(total >= 300, `${total} demo resources`);
    assert.equal(written.size - before, total + 1 + demo.practitioners.length);
    await readBackAll([...written.keys()].slice(before));

    // Searches see them too.
    const observations = await call<Bundle>(base, 'GET', '/Observation?_summary=count');
    const expected = [...written.keys()].filter((k) => k.startsWith('Observation/')).length;
    assert.equal(observations.body.total, expected);
  });
});

describe('FHIR corpus: invalid fixtures', () => {
  it('every invalid fixture is rejected with an OperationOutcome naming the problem, and nothing is stored', async () => {
    const before = await snapshot();
    for (const [file, c] of readDir('invalid')) {
      const resource = c['resource'] as Json;
      const expectCode = c['expectCode'] as string;
      const expectExpression = c['expectExpression'] as string | undefined;
      const declared = typeof resource?.['resourceType'] === 'string' ? (resource['resourceType'] as string) : undefined;
      const type = declared !== undefined && /^[A-Z][A-Za-z]+$/.test(declared) ? declared : 'Patient';
      const attempts = [await call(base, 'POST', `/${type}`, { body: resource })];
      const id = typeof resource?.['id'] === 'string' ? (resource['id'] as string) : undefined;
      const stored = id !== undefined && written.has(`${type}/${id}`);
      if (id !== undefined && /^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
        attempts.push(await call(base, 'PUT', `/${type}/${id}`, { body: resource }));
      }
      for (const reply of attempts) {
        assert.ok(reply.status >= 400 && reply.status < 500, `${file}: ${reply.status} ${reply.text.slice(0, 300)}`);
        const outcome = reply.body as OperationOutcome;
        assert.equal(outcome.resourceType, 'OperationOutcome', file);
        if (declared === type && reply.status === 400) {
          assert.ok(
            outcome.issue.some(
              (i) => i.code === expectCode && (expectExpression === undefined || i.expression?.includes(expectExpression)),
            ),
            `${file}: expected ${expectCode} at ${expectExpression}, got ${JSON.stringify(outcome.issue)}`,
          );
        }
      }
      if (stored) {
        // A fixture id that the valid corpus used: that resource is untouched.
        const read = await call<Stored>(base, 'GET', `/${type}/${id}`);
        assert.equal(read.body.meta?.versionId, '1', file);
        assert.deepEqual(withoutServerMeta(read.body), written.get(`${type}/${id}`), file);
      } else if (id !== undefined && /^[A-Za-z0-9\-.]{1,64}$/.test(id) && WRITABLE.has(type)) {
        assertOutcome(await call(base, 'GET', `/${type}/${id}`), 404);
      }
    }
    assert.equal(await snapshot(), before);
  });
});

describe('FHIR corpus: integrity', () => {
  it('an altered ciphertext fails its integrity check (500, no content); every other resource still reads', async () => {
    const db = server.fhir!.vault.db;
    const victimKey = [...written.keys()].filter((k) => k.startsWith('Observation/')).at(-1)!;
    const [type, id] = victimKey.split('/') as [string, string];
    const victim = written.get(victimKey)!;
    const row = db.prepare('SELECT res FROM current WHERE type = ? AND id = ?').get(type, id) as { res: number };
    const { envelope } = db.prepare('SELECT envelope FROM versions WHERE res = ? AND version = 1').get(row.res) as {
      envelope: Buffer;
    };
    const original = Buffer.from(envelope);
    const altered = Buffer.from(envelope);
    const at = Math.floor(altered.length / 2);
    altered[at] = altered[at]! ^ 0x01;
    db.prepare('UPDATE versions SET envelope = ? WHERE res = ? AND version = 1').run(altered, row.res);

    // Strings of the resource that must never leave the server once it fails its check.
    const secrets = [
      JSON.stringify((victim as { code?: unknown }).code),
      JSON.stringify((victim as { valueQuantity?: unknown }).valueQuantity),
    ].filter((s) => s !== undefined && s !== 'undefined');
    const noContent = (text: string) => {
      for (const s of secrets) assert.ok(!text.includes(s), `response leaks ${s}`);
      assert.ok(!text.includes(`"resourceType":"${type}"`), 'response contains the resource');
    };
    for (const path of [`/${victimKey}`, `/${victimKey}/_history/1`]) {
      const reply = await call(base, 'GET', path);
      const outcome = assertOutcome(reply, 500, 'exception');
      assert.ok(
        outcome.issue.some((i) => /integrity/i.test(i.diagnostics ?? '')),
        JSON.stringify(outcome),
      );
      noContent(reply.text);
    }
    // Listings that would include it fail the same way rather than hand out content.
    const subject = (victim as { subject?: { reference?: string } }).subject?.reference ?? '';
    for (const path of [`/Observation?_id=${id}`, `/${subject}/$everything`, `/${type}/_history?_count=1000`]) {
      const reply = await call(base, 'GET', path);
      if (reply.status === 200) assert.ok(!reply.text.includes(id), `${path} lists the altered resource`);
      else assertOutcome(reply, 500, 'exception');
      if (path.includes('_id=')) noContent(reply.text);
    }

    // Everything else is fine.
    await readBackAll([...written.keys()].filter((k) => k !== victimKey));

    // Restoring the ciphertext restores the resource: nothing was cached or changed.
    db.prepare('UPDATE versions SET envelope = ? WHERE res = ? AND version = 1').run(original, row.res);
    const restored = await call<Stored>(base, 'GET', `/${victimKey}`);
    assert.equal(restored.status, 200);
    assert.deepEqual(withoutServerMeta(restored.body), victim);
  });
});
