/**
 * Who reads what on the ledger API (src/server/ledger-readers.ts): headers, hashes, checkpoints
 * and proofs are public; transaction bodies, subject listings and streams and the break-glass
 * review list need a bearer token — staff see everything, a patient only what is about them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomPseudonym, type RandomIdPrefix } from '../src/client/identity.js';
import { fromBase64, fromHex, toHex, utf8 } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import { leafHash, rootOfLeafHashes, verifyConsistency, verifyInclusion } from '../src/ledger/merkle.js';
import { decodeHeader } from '../src/ledger/block.js';
import type { TxPayload } from '../src/ledger/tx.js';
import type { Identity } from '../src/client/identity.js';
import { registerPatient, registerPractitioner, startTestServer, type TestServer } from './support/fixtures.js';

interface TxJson {
  hash: string;
  wire?: string;
  redacted?: true;
  tx: { type: string; body: { events?: { patient: string }[] } };
}

const id = (prefix: RandomIdPrefix, label: string) => randomPseudonym(prefix, sha256(utf8(label)));

describe('ledger API access', { timeout: 60_000 }, () => {
  let server: TestServer;
  let alice: Identity;
  let bob: Identity;
  const tokens: Record<'staff' | 'clinician' | 'alice' | 'bob' | 'expired', string> = {} as never;
  let grantHash: string;
  let batchHash: string;
  let bobOnlyHash: string;

  const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1${path}`, {
      headers: { ...headers, ...(token !== undefined && { authorization: `Bearer ${token}` }) },
      signal: AbortSignal.timeout(10_000),
    });
  const json = async <T>(path: string, token?: string): Promise<T> => {
    const res = await get(path, token);
    assert.equal(res.status, 200, `GET ${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
  const refused = async (path: string, token: string | undefined, status: number, code: string) => {
    const res = await get(path, token);
    assert.equal(res.status, status, `GET ${path}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await res.json()) as { code: string }).code, code, `GET ${path}`);
  };
  /** The `n`th event: `at` is close to now, as the ledger requires of an access event's time. */
  const accessEvent = (patient: string, n: number) => ({
    actor: 'prac_la-clinician',
    patient,
    action: 'read' as const,
    at: Date.now() + n,
    records: [],
    decision: 'deny' as const,
  });

  async function patientToken(who: Identity, fhirId: string): Promise<string> {
    await server.auth.store.addAccount({
      id: who.id,
      kind: 'patient',
      username: fhirId,
      password: `${fhirId}-password`,
      patient: fhirId,
      display: fhirId,
    });
    return server.auth.mint({
      origin: server.url,
      subject: who.id,
      clientId: 'test',
      scope: 'patient/*.rs',
      patient: fhirId,
      ttlSeconds: 600,
    });
  }

  before(async () => {
    server = await startTestServer();
    await server.commit(registerPractitioner(server.org, 'prac_la-clinician').tx);
    await server.auth.store.addAccount({
      id: 'prac_la-clinician',
      kind: 'practitioner',
      username: 'la-clinician',
      password: 'la-clinician-password',
      display: 'c',
    });
    const a = registerPatient(server.org);
    const b = registerPatient(server.org);
    await server.commit(a.tx);
    await server.commit(b.tx);
    alice = a.patient;
    bob = b.patient;
    const grant: TxPayload = {
      type: 'consent.grant',
      body: { id: id('cns', 'alice'), patient: alice.id, grantee: server.org.id, purpose: 'TREAT' },
    };
    grantHash = toHex((await server.commit(alice.sign(grant))).receipt.hash);
    // One access.log transaction with events about both patients (the recorder batches them).
    const batch: TxPayload = { type: 'access.log', body: { events: [accessEvent(alice.id, 1), accessEvent(bob.id, 2)] } };
    batchHash = toHex((await server.commit(server.org.sign(batch))).receipt.hash);
    const bobOnly: TxPayload = { type: 'access.log', body: { events: [accessEvent(bob.id, 3)] } };
    bobOnlyHash = toHex((await server.commit(server.org.sign(bobOnly))).receipt.hash);
    await server.commit(
      server.org.sign({
        type: 'access.break_glass',
        body: {
          id: id('bg', 'bob'),
          practitioner: 'prac_la-clinician',
          patient: bob.id,
          reason: 'other',
          justification: sha256(utf8('why')),
          minutes: 5,
        },
      }),
    );
    tokens.staff = server.token;
    tokens.clinician = await server.auth.mint({
      origin: server.url,
      subject: 'prac_la-clinician',
      clientId: 'test',
      scope: 'user/*.rs',
      ttlSeconds: 600,
    });
    tokens.alice = await patientToken(alice, 'alice');
    tokens.bob = await patientToken(bob, 'bob');
    tokens.expired = await server.auth.mint({
      origin: server.url,
      subject: 'test',
      clientId: 'test',
      scope: 'system/*.rs',
      ttlSeconds: 60,
      now: Math.floor(Date.now() / 1000) - 3600,
    });
  });

  after(async () => {
    await server.close();
  });

  it('status, genesis, blocks with hashes, checkpoints and proofs are public and verify', async () => {
    const status = await json<{ height: number; logSize: number; logRoot: string }>('/status');
    await json('/genesis');
    const participant = await json<Record<string, unknown>>(`/participants/${alice.id}`);
    assert.equal(participant['nextSeq'], 1);
    assert.equal(participant['registeredBy'], undefined, 'who registered a patient is not public');
    const block = await json<{ txs: string[]; leaves: string[]; headerBytes: string }>(`/blocks/${status.height}`);
    const header = decodeHeader(fromBase64(block.headerBytes)!);
    assert.ok(header.ok);
    // The leaf hashes rebuild the transaction root: the block verifies without its transactions.
    assert.equal(toHex(rootOfLeafHashes(block.leaves.map((h) => fromHex(h)!))), toHex(header.value.txRoot));
    const page = await json<{ blocks: { txs: string[]; leaves: string[] }[] }>('/blocks?from=1&limit=100&txs=hashes');
    const leaves = page.blocks.flatMap((b) => b.leaves.map((h) => fromHex(h)!));
    assert.equal(toHex(rootOfLeafHashes(leaves)), status.logRoot);
    assert.ok(page.blocks.every((b) => b.txs.every((t) => /^[0-9a-f]{64}$/.test(t))));
    const checkpoint = await json<{ size: number; root: string }>('/checkpoints/latest');
    const proof = await json<{ path: string[] }>(`/proofs/inclusion?index=1&size=${checkpoint.size}`);
    assert.ok(
      verifyInclusion(
        leaves[1]!,
        1,
        checkpoint.size,
        proof.path.map((h) => fromHex(h)!),
        fromHex(checkpoint.root)!,
      ),
    );
    const consistency = await json<{ path: string[] }>(`/proofs/consistency?from=2&to=${checkpoint.size}`);
    assert.ok(
      verifyConsistency(
        2,
        checkpoint.size,
        consistency.path.map((h) => fromHex(h)!),
        rootOfLeafHashes(leaves.slice(0, 2)),
        fromHex(checkpoint.root)!,
      ),
    );
    const stream = await get('/events');
    assert.equal(stream.status, 200);
    await stream.body!.cancel();
  });

  it('transaction bodies, subject listings and streams and the review list refuse missing, garbage and expired tokens with 401', async () => {
    const gated = [
      `/txs/${grantHash}`,
      '/blocks/1?txs=full',
      '/blocks?from=1',
      '/blocks?from=1&txs=full',
      `/subjects/${alice.id}/txs`,
      `/subjects/${alice.id}/events`,
      `/organizations/${server.org.id}/break-glass/unreviewed`,
    ];
    for (const path of gated) {
      await refused(path, undefined, 401, 'auth.required');
      await refused(path, 'garbage.token.value', 401, 'auth.required');
      await refused(path, tokens.expired, 401, 'auth.required');
    }
  });

  it('staff (a system client or a practitioner of this organization) read every transaction', async () => {
    for (const token of [tokens.staff, tokens.clinician]) {
      const tx = await json<TxJson>(`/txs/${batchHash}`, token);
      assert.equal(tx.tx.body.events!.length, 2);
      assert.equal(tx.redacted, undefined);
      assert.equal(toHex(sha256(fromBase64(tx.wire!)!)), batchHash);
      const full = await json<{ txs: string[] }>('/blocks/1?txs=full', token);
      assert.equal(toHex(leafHash(fromBase64(full.txs[0]!)!)), (await json<{ leaves: string[] }>('/blocks/1')).leaves[0]);
      await json(`/subjects/${bob.id}/txs`, token);
      const review = await json<{ openings: { id: string }[] }>(`/organizations/${server.org.id}/break-glass/unreviewed`, token);
      assert.deepEqual(
        review.openings.map((o) => o.id),
        [id('bg', 'bob')],
      );
    }
    await refused('/organizations/org_elsewhere/break-glass/unreviewed', tokens.staff, 403, 'auth.forbidden');
  });

  it("a patient reads the transactions about them, other patients' parts left out, and nothing else", async () => {
    const own = await json<{ txs: TxJson[] }>(`/subjects/${alice.id}/txs`, tokens.alice);
    assert.deepEqual(
      own.txs.map((t) => t.tx.type),
      ['access.log', 'consent.grant', 'participant.register'],
    );
    const batch = own.txs[0]!;
    assert.equal(batch.redacted, true);
    assert.deepEqual(
      batch.tx.body.events!.map((e) => e.patient),
      [alice.id],
    );
    const direct = await json<TxJson>(`/txs/${batchHash}`, tokens.alice);
    assert.equal(direct.redacted, true);
    assert.equal(direct.wire, undefined, "the bytes would show the other patient's event");
    assert.deepEqual(
      direct.tx.body.events!.map((e) => e.patient),
      [alice.id],
    );
    const grant = await json<TxJson>(`/txs/${grantHash}`, tokens.alice);
    assert.equal(toHex(sha256(fromBase64(grant.wire!)!)), grantHash, 'all of it is hers: bytes included');
    await json(`/subjects/${id('cns', 'alice')}/txs`, tokens.alice);

    await refused(`/subjects/${bob.id}/txs`, tokens.alice, 403, 'auth.forbidden');
    await refused(`/subjects/${id('bg', 'bob')}/txs`, tokens.alice, 403, 'auth.forbidden');
    await refused(`/subjects/${server.org.id}/txs`, tokens.alice, 403, 'auth.forbidden');
    await refused(`/subjects/${bob.id}/events`, tokens.alice, 403, 'auth.forbidden');
    await refused(`/txs/${bobOnlyHash}`, tokens.alice, 403, 'auth.forbidden');
    await refused('/blocks/1?txs=full', tokens.alice, 403, 'auth.forbidden');
    await refused('/blocks?from=1', tokens.alice, 403, 'auth.forbidden');
    await refused(`/organizations/${server.org.id}/break-glass/unreviewed`, tokens.alice, 403, 'auth.forbidden');
    const bobs = await json<{ txs: TxJson[] }>(`/subjects/${bob.id}/txs`, tokens.bob);
    assert.ok(bobs.txs.some((t) => t.tx.type === 'access.break_glass'));
  });

  it('the OpenAPI document marks the gated routes with bearer security, and only them', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown }>>;
      components: { securitySchemes: Record<string, { scheme: string }> };
    };
    assert.equal(doc.components.securitySchemes['bearer']!.scheme, 'bearer');
    const secured = Object.entries(doc.paths)
      .filter(([path, ops]) => path.startsWith('/api/v1/') && ops['get']?.security !== undefined)
      .map(([path]) => path)
      .sort();
    for (const path of [
      '/api/v1/txs/{hash}',
      '/api/v1/subjects/{subject}/txs',
      '/api/v1/subjects/{subject}/events',
      '/api/v1/organizations/{org}/break-glass/unreviewed',
      '/api/v1/blocks',
    ])
      assert.ok(secured.includes(path), path);
    for (const path of [
      '/api/v1/status',
      '/api/v1/genesis',
      '/api/v1/events',
      '/api/v1/checkpoints/latest',
      '/api/v1/proofs/inclusion',
    ])
      assert.ok(!secured.includes(path), path);
  });

  it("a patient's event stream, with the token in the header, carries their part only and resumes with Last-Event-ID", async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/api/v1/subjects/${alice.id}/events`, {
      headers: { authorization: `Bearer ${tokens.alice}` },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const batch: TxPayload = { type: 'access.log', body: { events: [accessEvent(bob.id, 4), accessEvent(alice.id, 5)] } };
    await server.commit(server.org.sign(batch));
    let text = '';
    while (!text.includes('\n\ndata') && !/data: .*\n\n/.test(text)) text += (await reader.read()).value ?? '';
    controller.abort();
    const data = JSON.parse(/data: (.*)\n/.exec(text)![1]!) as TxJson & { index: number };
    assert.equal(data.redacted, true);
    assert.deepEqual(
      data.tx.body.events!.map((e) => e.patient),
      [alice.id],
    );
    assert.ok(!text.includes(bob.id), "the other patient's pseudonym is not on the stream");

    const resumed = await fetch(`${server.url}/api/v1/subjects/${alice.id}/events`, {
      headers: { authorization: `Bearer ${tokens.alice}`, 'last-event-id': String(data.index - 1) },
    });
    const replay = resumed.body!.pipeThrough(new TextDecoderStream()).getReader();
    let replayed = '';
    while (!/data: .*\n\n/.test(replayed)) replayed += (await replay.read()).value ?? '';
    await replay.cancel();
    assert.match(replayed, new RegExp(`id: ${data.index}\\n`));
  });
});
