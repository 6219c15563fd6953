/** Attachments as raw bytes through /fhir/Binary: upload, download, limits, and no plaintext at rest. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type TestServer } from './support/fixtures.js';
import { authFetch, call } from './support/fhir-api.js';
import { INLINE_DATA_MAX_BYTES, MAX_ATTACHMENT_BYTES } from '../src/fhir/attachments.js';
import { CONTENT_FIELD } from '../src/vault/content-ref.js';
import { auditDataDir } from '../src/verify/audit.js';
import { paths } from '../src/node/data-dir.js';

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
  /** An upload sent chunked (no Content-Length), as the generator yields it. */
  const streamed = (chunks: AsyncIterable<Uint8Array>, signal?: AbortSignal) =>
    authFetch(`${base}/Binary`, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf' },
      body: Readable.toWeb(Readable.from(chunks)) as ReadableStream,
      duplex: 'half',
      ...(signal && { signal }),
    } as RequestInit);
  const contentDir = () => join(t.dir, 'content');
  const contentFiles = () => (existsSync(contentDir()) ? readdirSync(contentDir()) : []);
  const historyTotal = async () => ((await (await authFetch(`${base}/_history?_count=0`)).json()) as { total: number }).total;
  const vaultBytes = () =>
    readdirSync(t.dir)
      .filter((f) => f.startsWith('vault.sqlite'))
      .reduce((sum, f) => sum + statSync(join(t.dir, f)).size, 0);
  /** The content file added by `action`. */
  async function newContentFile(action: () => Promise<unknown>): Promise<string> {
    const before = new Set(contentFiles());
    await action();
    const added = contentFiles().filter((f) => !before.has(f));
    assert.equal(added.length, 1, `one new content file, got ${added.join(', ')}`);
    return join(contentDir(), added[0]!);
  }

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
    // A client holding this version gets 304 and no bytes; another version's ETag gets the bytes.
    const cached = await authFetch(`${base}/Binary/${resource.id}`, {
      headers: { accept: 'application/pdf', 'if-none-match': 'W/"1"' },
    });
    assert.equal(cached.status, 304);
    assert.equal((await cached.arrayBuffer()).byteLength, 0);
    const stale = await authFetch(`${base}/Binary/${resource.id}`, {
      headers: { accept: 'application/pdf', 'if-none-match': 'W/"7"' },
    });
    assert.equal(stale.status, 200);
    assert.equal((await stale.arrayBuffer()).byteLength, pdf.length);

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

  it('removes the streamed file when the write fails after the upload', async () => {
    const filesBefore = contentFiles();
    const response = await upload(randomBytes(100_000), 'application/pdf', '/Binary/not$an$id', 'PUT');
    assert.equal(response.status, 400);
    assert.deepEqual(contentFiles(), filesBefore);
  });

  it('accepts raw bytes only for Binary', async () => {
    const response = await upload('%PDF', 'application/pdf', '/Observation');
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  });

  it('streams a 20 MB PDF in and out: byte-identical raw and as JSON, the bytes outside the vault database and encrypted', async () => {
    const marker = Buffer.from('%PDF-1.7 MARKER-streamed-attachment-91c2\n');
    const pdf = Buffer.concat([marker, randomBytes(MAX_ATTACHMENT_BYTES - marker.length)]);
    const dbBefore = vaultBytes();
    let id = '';
    const file = await newContentFile(async () => {
      const created = await upload(pdf, 'application/pdf');
      assert.equal(created.status, 201);
      const body = (await created.json()) as Record<string, unknown>;
      assert.equal(body['data'], undefined, 'the bytes are not echoed back');
      id = body['id'] as string;
    });
    // The database grew by a version, not by the attachment (the old path stored 27 MB of base64).
    assert.ok(vaultBytes() - dbBefore < 1024 * 1024, `vault database grew by ${vaultBytes() - dbBefore} bytes`);
    const ciphertext = readFileSync(file);
    assert.ok(ciphertext.length > pdf.length && ciphertext.length < pdf.length + 64 * 1024);
    assert.equal(ciphertext.includes(marker.subarray(0, 24)), false, 'the content file is ciphertext');
    assert.equal(ciphertext.includes(pdf.subarray(1_000_000, 1_000_032)), false);
    assert.ok(!/vault|Binary|pdf/i.test(file.slice(contentDir().length)), 'file named by an opaque id');

    const raw = await authFetch(`${base}/Binary/${id}`, { headers: { accept: 'application/pdf' } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('content-type'), 'application/pdf');
    assert.equal(raw.headers.get('content-length'), String(pdf.length));
    assert.equal(raw.headers.get('etag'), 'W/"1"');
    assert.ok(Buffer.from(await raw.arrayBuffer()).equals(pdf));

    const json = await authFetch(`${base}/Binary/${id}`, { headers: { accept: 'application/fhir+json' } });
    const binary = (await json.json()) as { resourceType: string; contentType: string; data: string };
    assert.equal(binary.contentType, 'application/pdf');
    assert.ok(Buffer.from(binary.data, 'base64').equals(pdf));
  });

  it('a JSON Binary keeps small data inline and moves large data to a content file; both read back the same', async () => {
    const small = Buffer.from('a short note');
    const large = Buffer.concat([Buffer.from('%PDF json-posted '), randomBytes(INLINE_DATA_MAX_BYTES * 4)]);
    const post = (bytes: Buffer) =>
      call<{ id: string; data?: string }>(base, 'POST', '/Binary', {
        body: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') },
      });
    const filesBefore = contentFiles().length;
    const inline = await post(small);
    assert.equal(inline.status, 201);
    assert.equal(contentFiles().length, filesBefore, 'small data stays in the sealed version');
    let created!: Awaited<ReturnType<typeof post>>;
    const file = await newContentFile(async () => (created = await post(large)));
    assert.equal(created.status, 201);
    assert.equal(created.body.data, large.toString('base64'), 'the answer shows the data as posted');
    assert.equal(readFileSync(file).includes(Buffer.from('%PDF json-posted')), false, 'the file is ciphertext');
    for (const [id, bytes] of [
      [inline.body.id, small],
      [created.body.id, large],
    ] as const) {
      const raw = await authFetch(`${base}/Binary/${id}`, { headers: { accept: 'application/pdf' } });
      assert.ok(Buffer.from(await raw.arrayBuffer()).equals(bytes));
      const json = await call<{ data: string }>(base, 'GET', `/Binary/${id}`);
      assert.ok(Buffer.from(json.body.data, 'base64').equals(bytes));
      assert.equal(JSON.stringify(json.body).includes(CONTENT_FIELD), false);
    }
    // A PUT that does not change the data moves it again, into a new file; the old version keeps its own.
    const replaced = await newContentFile(() =>
      call(base, 'PUT', `/Binary/${created.body.id}`, {
        body: { resourceType: 'Binary', id: created.body.id, contentType: 'application/pdf', data: large.toString('base64') },
      }),
    );
    assert.notEqual(replaced, file);
    assert.ok(existsSync(file), 'version 1 still holds its file');

    const files = contentFiles().length;
    const tooBig = await post(Buffer.alloc(MAX_ATTACHMENT_BYTES + 1, 7));
    assert.equal(tooBig.status, 413);
    assert.equal(contentFiles().length, files, 'nothing kept');
  });

  it('a transaction Bundle moves a large Binary’s data to a content file too, and keeps nothing if it fails', async () => {
    const large = randomBytes(INLINE_DATA_MAX_BYTES * 2);
    const binaryEntry = {
      fullUrl: 'urn:uuid:6f1c2a52-0d0e-4d7e-9a51-2f8a3c1b9e01',
      resource: { resourceType: 'Binary', contentType: 'image/png', data: large.toString('base64') },
      request: { method: 'POST', url: 'Binary' },
    };
    const bundle = (entries: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    let reply!: Awaited<ReturnType<typeof call<{ entry: { response: { location: string } }[] }>>>;
    await newContentFile(async () => (reply = await call(base, 'POST', '', { body: bundle([binaryEntry]) })));
    assert.equal(reply.status, 200);
    const id = /Binary\/([^/]+)\//.exec(reply.body.entry[0]!.response.location)![1]!;
    const raw = await authFetch(`${base}/Binary/${id}`, { headers: { accept: 'image/png' } });
    assert.ok(Buffer.from(await raw.arrayBuffer()).equals(large));
    const json = await call<{ data: string }>(base, 'GET', `/Binary/${id}`);
    assert.equal(JSON.stringify(json.body).includes(CONTENT_FIELD), false);

    // All or nothing: a stale If-Match in the same Bundle fails it, and the moved data goes with it.
    const files = contentFiles().length;
    const failed = await call(base, 'POST', '', {
      body: bundle([
        binaryEntry,
        {
          resource: { resourceType: 'Binary', id, contentType: 'image/png', data: 'AAAA' },
          request: { method: 'PUT', url: `Binary/${id}`, ifMatch: 'W/"9"' },
        },
      ]),
    });
    assert.notEqual(failed.status, 200);
    assert.equal(contentFiles().length, files, 'no content file left behind');
  });

  it('answers Accept */* with the bytes, FHIR and JSON types with the resource', async () => {
    const id = ((await (await upload('plain bytes', 'text/plain')).json()) as { id: string }).id;
    const any = await authFetch(`${base}/Binary/${id}`, { headers: { accept: '*/*' } });
    assert.equal(any.headers.get('content-type'), 'text/plain');
    assert.equal(await any.text(), 'plain bytes');
    for (const accept of ['application/fhir+json', 'application/json', 'application/fhir+json, */*;q=0.1']) {
      const asJson = await authFetch(`${base}/Binary/${id}`, { headers: { accept } });
      assert.match(asJson.headers.get('content-type') ?? '', /fhir\+json/, accept);
      assert.equal(((await asJson.json()) as { data: string }).data, Buffer.from('plain bytes').toString('base64'));
    }
  });

  it('never shows the content reference, and refuses it from clients', async () => {
    const created = await upload(randomBytes(1000), 'image/png');
    const text = await created.text();
    const { id } = JSON.parse(text) as { id: string };
    await upload(randomBytes(1000), 'image/png', `/Binary/${id}`, 'PUT');
    const outputs = [
      text,
      await (await authFetch(`${base}/Binary/${id}`)).text(),
      await (await authFetch(`${base}/Binary/${id}/_history/1`)).text(),
      await (await authFetch(`${base}/Binary/${id}/_history`)).text(),
      await (await authFetch(`${base}/Binary/_history`)).text(),
      await (await authFetch(`${base}/_history?_count=5`)).text(),
    ];
    for (const output of outputs) assert.equal(output.includes(CONTENT_FIELD), false, output.slice(0, 200));

    const forged = {
      id: '0'.repeat(32),
      size: 1,
      sha256: Buffer.alloc(32).toString('base64'),
      key: Buffer.alloc(32).toString('base64'),
    };
    const binary = { resourceType: 'Binary', contentType: 'image/png', [CONTENT_FIELD]: forged };
    const posted = await call(base, 'POST', '/Binary', { body: binary });
    assert.equal(posted.status, 400);
    assert.equal((await call(base, 'PUT', `/Binary/${id}`, { body: { ...binary, id } })).status, 400);
    const patched = await authFetch(`${base}/Binary/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'add', path: `/${CONTENT_FIELD}`, value: forged }]),
    });
    assert.equal(patched.status, 400);
    const bundle = await call(base, 'POST', '/', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: binary, request: { method: 'POST', url: 'Binary' } }],
      },
    });
    assert.equal(bundle.status, 400);
  });

  it('stops a chunked upload at 20 MB + 1 byte with 413, leaving no file and no version', async () => {
    const totalBefore = await historyTotal();
    const filesBefore = contentFiles();
    async function* chunks() {
      for (let i = 0; i < 20; i++) yield new Uint8Array(1024 * 1024);
      yield new Uint8Array(1);
    }
    const response = await streamed(chunks());
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
    assert.deepEqual(contentFiles(), filesBefore);
    assert.equal(await historyTotal(), totalBefore);
  });

  it('leaves nothing behind when the client aborts mid-upload', async () => {
    const totalBefore = await historyTotal();
    const filesBefore = contentFiles();
    const abort = new AbortController();
    async function* chunks() {
      yield randomBytes(1024 * 1024);
      await sleep(60_000, undefined, { signal: abort.signal }).catch(() => undefined);
    }
    const pending = streamed(chunks(), abort.signal).catch((error: Error) => error);
    // Wait until the server is writing the temp file, then hang up.
    for (let i = 0; i < 100 && !contentFiles().some((f) => f.endsWith('.tmp')); i++) await sleep(20);
    assert.ok(
      contentFiles().some((f) => f.endsWith('.tmp')),
      'the upload started',
    );
    abort.abort();
    assert.ok((await pending) instanceof Error);
    for (let i = 0; i < 100 && contentFiles().length !== filesBefore.length; i++) await sleep(20);
    assert.deepEqual(contentFiles(), filesBefore);
    assert.equal(await historyTotal(), totalBefore);
  });

  it('refuses a tampered content file with the integrity error before sending a byte; the vault check names it', async () => {
    const bytes = randomBytes(300_000);
    let id = '';
    const file = await newContentFile(async () => {
      id = ((await (await upload(bytes, 'application/pdf')).json()) as { id: string }).id;
    });
    const original = readFileSync(file);
    const tampered = Buffer.from(original);
    tampered[150_000]! ^= 1;
    writeFileSync(file, tampered);
    try {
      for (const accept of ['application/pdf', 'application/fhir+json']) {
        const response = await authFetch(`${base}/Binary/${id}`, { headers: { accept } });
        assert.equal(response.status, 500, accept);
        assert.match(response.headers.get('content-type') ?? '', /fhir\+json/);
        const outcome = (await response.json()) as { resourceType: string; issue: { diagnostics: string }[] };
        assert.equal(outcome.resourceType, 'OperationOutcome');
        assert.match(outcome.issue[0]!.diagnostics, /integrity/);
      }
      const check = t.fhir!.vault.verifyAll();
      assert.equal(check.ok, false);
      assert.match(!check.ok ? check.mismatch.reason : '', /content file/);
      // `medledger verify --data` checks it too, without any data key.
      const audit = await auditDataDir(paths(t.dir).ledger, { vault: { dataDir: t.dir, keystore: t.node.keystore } });
      assert.equal(audit.ok, false);
      assert.match(audit.problem?.message ?? '', /content file/);
    } finally {
      writeFileSync(file, original);
    }
    assert.equal(t.fhir!.vault.verifyAll({ decrypt: true }).ok, true);
  });

  it('erasing the record deletes the content file and its key with the versions', async () => {
    let id = '';
    const file = await newContentFile(async () => {
      id = ((await (await upload(randomBytes(70_000), 'application/pdf')).json()) as { id: string }).id;
    });
    const { record } = t.fhir!.recordOf('Binary', id)!;
    const db = t.fhir!.vault.db;
    const res = db.prepare('SELECT res FROM current WHERE record = ?').pluck().get(record) as number;
    await t.fhir!.erase([record]);
    assert.equal(existsSync(file), false);
    assert.equal(db.prepare('SELECT count(*) FROM contents WHERE res = ?').pluck().get(res), 0);
    assert.equal(db.prepare('SELECT count(*) FROM versions WHERE res = ?').pluck().get(res), 0);
    assert.equal((await authFetch(`${base}/Binary/${id}`, { headers: { accept: '*/*' } })).status, 404);
  });
});
