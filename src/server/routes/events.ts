/**
 * Server-sent event streams of the committed ledger: every block (for explorers and dashboards),
 * or every transaction concerning one subject (a patient's pseudonym: new records, consents,
 * accesses and break-glass openings as they commit). Event ids are log indexes (block heights for
 * the block stream), so a client that reconnects with Last-Event-ID gets what it missed.
 * The block stream is public (heights, hashes, counts); a subject's stream carries transaction
 * bodies and needs a bearer token, checked before the stream opens (see ../ledger-readers.ts).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { toHex } from '../../crypto/bytes.js';
import { decodeTx, type Tx } from '../../ledger/tx.js';
import { subjectsOf } from '../../ledger/subjects.js';
import type { Chain, CommittedBlock } from '../../node/chain.js';
import type { Authenticate } from '../bearer.js';
import { ApiError, errorSchema } from '../errors.js';
import { BEARER, ledgerReader, requireSubject, txViewFor, type LedgerReader } from '../ledger-readers.js';

export interface EventStreamOptions {
  /** Most open streams; more are refused with 503 so streams cannot exhaust the node. */
  readonly maxStreams?: number;
  /** Comment lines that keep proxies from closing an idle stream. */
  readonly heartbeatMs?: number;
  /** Verifies bearer tokens for subject streams; without it they are refused. */
  readonly authenticate?: Authenticate;
}

/** What a stream missed while disconnected is replayed up to this many events. */
const MAX_REPLAY = 100;
const SUBJECT = '^(?:org|prac|pat|dev|cns|bg|ers)_[a-z0-9-]{1,40}$';

interface Stream {
  /**
   * A subject stream's subject, who reads it, and how to check again that they still may (their
   * token has not expired, their account is still active): at every heartbeat, else it ends.
   */
  readonly subject?: { readonly id: string; readonly reader: LedgerReader; readonly recheck: () => Promise<unknown> };
  send(id: number, event: string, data: unknown): void;
  end(): void;
}

function lastEventId(request: FastifyRequest): number | undefined {
  const raw = request.headers['last-event-id'];
  return typeof raw === 'string' && /^[0-9]{1,15}$/.test(raw) ? Number(raw) : undefined;
}

export function eventRoutes(chain: Chain, options: EventStreamOptions = {}): FastifyPluginAsync {
  const maxStreams = options.maxStreams ?? 256;
  const heartbeatMs = options.heartbeatMs ?? 15_000;

  return async (app) => {
    const streams = new Set<Stream>();

    /** The event for `reader`, or undefined if nothing of it is theirs (cannot happen for a subject they own). */
    const txEvent = (reader: LedgerReader, hash: Uint8Array, height: number, index: number, tx: Tx) => {
      const view = txViewFor(chain.app, reader, tx);
      return view && { hash: toHex(hash), height, index, tx: view.tx, ...(view.redacted && { redacted: true }) };
    };

    const onBlock = (block: CommittedBlock): void => {
      if (streams.size === 0) return;
      const { header, stored } = block;
      let bySubject: Map<string, number[]> | undefined;
      for (const stream of streams) {
        if (stream.subject === undefined) {
          stream.send(header.height, 'block', {
            height: header.height,
            hash: toHex(stored.hash),
            time: header.time,
            txCount: header.txCount,
            logSize: header.logSize,
          });
          continue;
        }
        if (!bySubject) {
          bySubject = new Map();
          block.txs.forEach((tx, i) => {
            for (const s of subjectsOf(tx.tx)) bySubject!.set(s, [...(bySubject!.get(s) ?? []), i]);
          });
        }
        const { id, reader } = stream.subject;
        for (const i of bySubject.get(id) ?? []) {
          const tx = block.txs[i]!;
          const event = txEvent(reader, tx.hash, header.height, stored.firstIndex + i, tx.tx);
          if (event) stream.send(stored.firstIndex + i, 'tx', event);
        }
      }
    };
    chain.on('block', onBlock);
    app.addHook('preClose', async () => {
      chain.off('block', onBlock);
      for (const stream of streams) stream.end();
    });

    const open = (request: FastifyRequest, reply: FastifyReply, subject?: Stream['subject']): Stream => {
      if (streams.size >= maxStreams) throw new ApiError('node.overloaded', 'too many open event streams');
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': medledger event stream\n\n');
      const heartbeat = setInterval(() => {
        res.write(': heartbeat\n\n');
        subject?.recheck().catch(() => stream.end());
      }, heartbeatMs);
      heartbeat.unref();
      const stream: Stream = {
        ...(subject !== undefined && { subject }),
        send: (id, event, data) => void res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
        end: () => {
          clearInterval(heartbeat);
          streams.delete(stream);
          res.end();
        },
      };
      streams.add(stream);
      request.raw.on('close', () => stream.end());
      return stream;
    };

    app.get(
      '/events',
      { schema: { summary: 'Server-sent events: each block as it commits (event "block", id = height)' } },
      async (request, reply) => {
        const stream = open(request, reply);
        const last = lastEventId(request);
        const head = chain.head().height;
        if (last !== undefined) {
          for (let h = Math.max(last + 1, head - MAX_REPLAY + 1); h <= head; h++) {
            const block = chain.store.block(h)!;
            stream.send(h, 'block', { height: h, hash: toHex(block.hash), txCount: block.txCount });
          }
        }
      },
    );

    app.get<{ Params: { subject: string } }>(
      '/subjects/:subject/events',
      {
        schema: {
          summary:
            'Server-sent events: each transaction concerning the subject as it commits (event "tx", id = log index). Bearer token: staff, or the patient the subject is (or belongs to)',
          params: { type: 'object', required: ['subject'], properties: { subject: { type: 'string', pattern: SUBJECT } } },
          security: BEARER,
          response: { 401: errorSchema, 403: errorSchema, 503: errorSchema },
        },
      },
      async (request, reply) => {
        const { subject } = request.params;
        // Before the stream opens, so a refusal is a plain JSON error and no event leaves.
        const allowed = async (): Promise<LedgerReader> => {
          const reader = await ledgerReader(options.authenticate, request);
          requireSubject(chain.app, reader, subject);
          return reader;
        };
        const reader = await allowed();
        const stream = open(request, reply, { id: subject, reader, recheck: allowed });
        const last = lastEventId(request);
        if (last === undefined) return;
        const missed = chain.store.txsBySubject(subject, { limit: MAX_REPLAY }).filter((t) => t.index > last);
        for (const stored of missed.reverse()) {
          const decoded = decodeTx(stored.wire, chain.chainId, { skipSignature: true });
          const event = decoded.ok && txEvent(reader, stored.hash, stored.height, stored.index, decoded.value.tx);
          if (event) stream.send(stored.index, 'tx', event);
        }
      },
    );
  };
}
