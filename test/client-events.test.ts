/**
 * The SDK's event stream reader (src/client/event-stream.ts): SSE framing, the token in the
 * Authorization header, reconnection with Last-Event-ID, and no retrying a refusal.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomPseudonym } from '../src/client/identity.js';
import { openEventStream, SseParser, type ServerEvent, type StreamState } from '../src/client/event-stream.js';
import { registerPatient, startTestServer } from './support/fixtures.js';

describe('SseParser', () => {
  it('frames events across chunk boundaries, CRLF and multi-line data; skips comments; keeps the last id', () => {
    const events: ServerEvent[] = [];
    const parser = new SseParser((e) => events.push(e));
    for (const chunk of [
      ': hello\n\nid: 7\nevent: tx\nda',
      'ta: {"a":\r\ndata: 1}\r\n\r',
      '\ndata: plain\n\nretry: 500\n',
      'event: x\n\n',
    ])
      parser.push(chunk);
    assert.deepEqual(events, [
      { event: 'tx', data: '{"a":\n1}', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
    assert.equal(parser.lastEventId, '7');
    assert.equal(parser.retryMs, 500);
  });
});

describe('openEventStream', () => {
  it('sends the token in the header, reconnects after a drop with Last-Event-ID, and stops on 401', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      if (seen.length === 3)
        return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":"auth.required"}');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The first connection sends one event and drops; the second sends the next.
      res.end(seen.length === 1 ? 'id: 1\nevent: tx\ndata: "one"\n\n' : 'id: 2\nevent: tx\ndata: "two"\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    const events: string[] = [];
    const states: StreamState[] = [];
    const offline = new Promise<void>((resolve) => {
      openEventStream(url, {
        token: 'the-token',
        retryMs: 10,
        onEvent: (e) => events.push(e.data),
        onState: (s) => {
          states.push(s);
          if (s === 'offline') resolve();
        },
      });
    });
    try {
      await offline;
      assert.deepEqual(events, ['"one"', '"two"']);
      assert.equal(seen.length, 3, 'no retry after the refusal');
      assert.ok(seen.every((h) => h.authorization === 'Bearer the-token'));
      assert.deepEqual(
        seen.map((h) => h['last-event-id']),
        [undefined, '1', '2'],
      );
      assert.ok(states.includes('live'));
    } finally {
      server.close();
    }
  });

  it("follows a patient's stream on a node with a token", async () => {
    const node = await startTestServer();
    const { tx, patient } = registerPatient(node.org);
    await node.commit(tx);
    const arrived = new Promise<ServerEvent>((resolve, reject) => {
      const close = openEventStream(`${node.url}/api/v1/subjects/${patient.id}/events`, {
        token: node.token,
        onEvent: (e) => {
          close();
          resolve(e);
        },
        onState: (s) => {
          if (s === 'offline') reject(new Error('refused'));
          if (s !== 'live') return;
          const grant = { id: randomPseudonym('cns'), patient: patient.id, grantee: node.org.id, purpose: 'TREAT' as const };
          void node.commit(patient.sign({ type: 'consent.grant', body: grant })).catch(reject);
        },
      });
    });
    try {
      const event = await arrived;
      assert.equal(event.event, 'tx');
      assert.equal((JSON.parse(event.data) as { tx: { signer: string } }).tx.signer, patient.id);
    } finally {
      await node.close();
    }
  });
});
