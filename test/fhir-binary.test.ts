/** Attachments as raw bytes through /fhir/Binary: upload, download, limits, and no plaintext at rest. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from './support/fixtures.js';
import { authFetch } from './support/fhir-api.js';

describe('FHIR Binary content', { timeout: 120_000 }, () => {
  let t: TestServer;
  let base: string;
  before(async () => {
    t = await startTestServer({ fhir: true });
    base = `${t.url}/fhir`;
  });
  after(() => t.close());

  const upload = (body: Uint8Array | string, contentType: string, path = '/Binary', method = 'POST') =>
    authFetch(base + path, { method, headers: { 'content-type': contentType }, body });

  it('stores a 5 MB PDF as a Binary and returns the same bytes for a non-JSON Accept', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7 MARKER-binary-at-rest-7f3a\n'), randomBytes(5 * 1024 * 1024)]);
    const created = await upload(pdf, 'application/pdf');
    assert.equal(created.status, 201);
    const location = created.headers.get('location')!;
    assert.match(location, /\/fhir\/Binary\/[^/]+\/_history\/1$/);
    const resource = (await created.json()) as { id: string; contentType: string };
    assert.equal(resource.contentType, 'application/pdf');

    const raw = await authFetch(`${base}/Binary/${resource.id}`, { headers: { accept: 'application/pdf' } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('content-type'), 'application/pdf');
    assert.equal(raw.headers.get('etag'), 'W/"1"');
    assert.ok(Buffer.from(await raw.arrayBuffer()).equals(pdf));

    const asJson = await authFetch(`${base}/Binary/${resource.id}`, { headers: { accept: 'application/fhir+json' } });
    const binary = (await asJson.json()) as { resourceType: string; data: string };
    assert.equal(binary.resourceType, 'Binary');
    assert.ok(Buffer.from(binary.data, 'base64').equals(pdf));
    const viaFormat = await authFetch(`${base}/Binary/${resource.id}?_format=json`, { headers: { accept: 'application/pdf' } });
    assert.match(viaFormat.headers.get('content-type') ?? '', /fhir\+json/);

    // Encrypted at rest: the marker is in no file of the data directory.
    for (const file of readdirSync(t.dir)) {
      if (!/\.sqlite/.test(file)) continue;
      assert.equal(readFileSync(join(t.dir, file)).includes('MARKER-binary-at-rest-7f3a'), false, file);
    }
  });

  it('replaces the content with PUT and keeps the history', async () => {
    const created = (await (await upload('first version', 'text/plain')).json()) as { id: string };
    const updated = await upload('second version', 'text/plain', `/Binary/${created.id}`, 'PUT');
    assert.equal(updated.status, 200);
    assert.equal(updated.headers.get('etag'), 'W/"2"');
    const v1 = await authFetch(`${base}/Binary/${created.id}/_history/1`);
    assert.equal(Buffer.from(((await v1.json()) as { data: string }).data, 'base64').toString(), 'first version');
    const current = await authFetch(`${base}/Binary/${created.id}`, { headers: { accept: 'text/plain' } });
    assert.equal(await current.text(), 'second version');
  });

  it('refuses attachments over 20 MB, empty ones, and malformed media types, storing nothing', async () => {
    const before = (await (await authFetch(`${base}/_history?_count=0`)).json()) as { total: number };
    const tooBig = await upload(new Uint8Array(20 * 1024 * 1024 + 1), 'application/pdf');
    assert.equal(tooBig.status, 413);
    assert.equal(((await tooBig.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
    assert.equal((await upload(new Uint8Array(0), 'application/pdf')).status, 400);
    assert.equal((await upload('x', 'not a media type')).status, 415);
    const after = (await (await authFetch(`${base}/_history?_count=0`)).json()) as { total: number };
    assert.equal(after.total, before.total);
  });

  it('accepts raw bytes only for Binary', async () => {
    const response = await upload('%PDF', 'application/pdf', '/Observation');
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  });
});
