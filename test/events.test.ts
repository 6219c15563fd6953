/**
 * Server-sent event streams over real HTTP: a patient's stream shows a consent and an access to
 * their record as they commit, a reconnect with Last-Event-ID gets what it missed, the block
 * stream follows the chain, open streams are bounded and do not keep the node from stopping.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { randomPseudonym } from '../src/client/identity.js';
import { utf8 } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import type { TxPayload } from '../src/ledger/tx.js';
import type { Principal } from '../src/auth/principal.js';
import { eventRoutes } from '../src/server/routes/events.js';
import { registerPatient, startTestNode, startTestServer } from './support/fixtures.js';
import { authFetch } from './support/fhir-api.js';

interface SseEvent {
  id: string;
  event: string;
  data: { height: number; index: number; tx: { type: string } };
}

/** Reads server-sent events from a streaming response until `count` have arrived. */
async function readEvents(response: Response, count: number): Promise<SseEvent[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = '';
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(
        chunk
          .split('\n')
          .filter((l) => !l.startsWith(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
      );
      if (fields['event']) events.push({ id: fields['id']!, event: fields['event'], data: JSON.parse(fields['data']!) });
    }
  }
  await reader.cancel();
  return events;
}

const consentId = (label: string): string => randomPseudonym('cns', sha256(utf8(label)));

describe('event streams', () => {
  test('a patient’s stream shows transactions about them as they commit; Last-Event-ID replays what was missed', async () => {
    const server = await startTestServer();
    try {
      const { tx, patient } = registerPatient(server.org);
      await server.commit(tx);
      const controller = new AbortController();
      const response = await authFetch(`${server.url}/api/v1/subjects/${patient.id}/events`, { signal: controller.signal });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const arriving = readEvents(response, 2);
      const grant: TxPayload = {
        type: 'consent.grant',
        body: { id: consentId('events'), patient: patient.id, grantee: server.org.id, purpose: 'TREAT' },
      };
      await server.commit(patient.sign(grant));
      // Someone else's transaction is not on this stream.
      await server.commit(registerPatient(server.org).tx);
      const log: TxPayload = {
        type: 'access.log',
        body: {
          events: [
            { actor: server.org.id, patient: patient.id, action: 'search', at: Date.now(), records: [], decision: 'deny' },
          ],
        },
      };
      await server.commit(server.org.sign(log));
      const events = await arriving;
      controller.abort();
      assert.deepEqual(
        events.map((e) => [e.event, e.data.tx.type]),
        [
          ['tx', 'consent.grant'],
          ['tx', 'access.log'],
        ],
      );
      assert.equal(events[0]!.id, String(events[0]!.data.index));

      const resumed = await authFetch(`${server.url}/api/v1/subjects/${patient.id}/events`, {
        headers: { 'last-event-id': events[0]!.id },
      });
      const replayed = await readEvents(resumed, 1);
      assert.deepEqual(
        replayed.map((e) => e.data.tx.type),
        ['access.log'],
      );
    } finally {
      await server.close();
    }
  });

  test('the block stream follows the chain, and open streams do not keep the server from closing', async () => {
    const server = await startTestServer();
    const response = await fetch(`${server.url}/api/v1/events`);
    const arriving = readEvents(response, 2);
    await server.commit(registerPatient(server.org).tx);
    await server.commit(registerPatient(server.org).tx);
    const events = await arriving;
    assert.deepEqual(
      events.map((e) => e.event),
      ['block', 'block'],
    );
    assert.equal(Number(events[1]!.id), Number(events[0]!.id) + 1);
    const stillOpen = await fetch(`${server.url}/api/v1/events`);
    assert.equal(stillOpen.status, 200);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 5_000, 'close did not wait for the open stream');
  });

  test('a subject stream ends once its reader may no longer read it (token expired, account disabled)', async () => {
    const t = await startTestNode();
    let valid = true;
    const authenticate = async (): Promise<Principal> => {
      if (!valid) throw Object.assign(new Error('the access token has expired'), { status: 401 });
      return { kind: 'system', client: 'auditor', org: t.node.org.id, scopes: { resources: [], other: [] } };
    };
    const app = Fastify();
    await app.register(eventRoutes(t.node.chain, { heartbeatMs: 50, authenticate }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const stream = await fetch(`${url}/subjects/${randomPseudonym('pat')}/events`, { headers: { authorization: 'Bearer x' } });
      assert.equal(stream.status, 200);
      const reader = stream.body!.getReader();
      await reader.read(); // the stream's opening comment
      valid = false;
      const deadline = Date.now() + 5_000;
      let ended = false;
      while (!ended && Date.now() < deadline) ended = (await reader.read()).done;
      assert.ok(ended, 'the stream was closed by the node');
    } finally {
      await app.close();
      await t.close();
    }
  });

  test('streams beyond the limit are refused with 503 and a JSON error; bad subjects with 400', async () => {
    const t = await startTestNode();
    const app = Fastify();
    await app.register(eventRoutes(t.node.chain, { maxStreams: 2 }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const open = [await fetch(`${url}/events`), await fetch(`${url}/events`)];
      assert.deepEqual(
        open.map((r) => r.status),
        [200, 200],
      );
      const refused = await fetch(`${url}/events`);
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { code: string }).code, 'node.overloaded');
      const bad = await fetch(`${url}/subjects/not-an-id/events`);
      assert.equal(bad.status, 400);
      await Promise.all(open.map((r) => r.body!.cancel()));
    } finally {
      await app.close();
      await t.close();
    }
  });
});
