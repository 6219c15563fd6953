/**
 * The node-to-node record exchange endpoint (POST /exchange/v1/records): another organization's
 * node asks for a patient's records on behalf of one of its practitioners. Requests are signed by
 * the asking organization's ledger key and answers (errors included, once the request header
 * parses) by this organization's, so both sides know whom they talk to; see src/exchange.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { catchUp, type ExchangeCustodian } from '../../exchange/custodian.js';
import {
  AGGREGATE_PATH,
  aggregateRequestSchema,
  answerToJson,
  EXCHANGE_PATH,
  requestSchema,
  type AggregateRequest,
  type ExchangeRequest,
} from '../../exchange/protocol.js';
import {
  MAX_SKEW_MS,
  parseRequestHeader,
  ReplayGuard,
  REQUEST_HEADER,
  RESPONSE_HEADER,
  signResponse,
  verifyRequest,
  type Stamp,
} from '../../exchange/signing.js';
import type { Signer } from '../../crypto/ed25519.js';

export interface ExchangeRoutesOptions {
  readonly custodian: ExchangeCustodian;
  /** Signs answers with the organization's ledger key. */
  readonly orgSigner: Signer;
  readonly clock?: () => number;
  /** Population queries: this node's partial aggregate for another organization's analyst (src/population). */
  readonly aggregates?: (from: string, request: AggregateRequest) => Promise<unknown>;
}

const STATUS: Record<string, number> = {
  'exchange.unauthenticated': 401,
  'exchange.stale': 401,
  'exchange.misdirected': 421,
  'exchange.replayed': 409,
  'exchange.forbidden': 403,
  'exchange.invalid': 400,
  'exchange.too_costly': 413,
  'exchange.behind': 503,
  'population.forbidden': 403,
  'population.invalid': 400,
};

class Rejected extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    exchange?: { stamp: Stamp; sig: Uint8Array; raw: Buffer };
  }
}

export const exchangeRoutes: FastifyPluginAsync<ExchangeRoutesOptions> = async (app, options) => {
  const { custodian, orgSigner } = options;
  const { node } = custodian;
  const clock = options.clock ?? Date.now;
  const replays = new ReplayGuard();

  // The signature covers the exact bytes sent: keep them beside the parsed body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: 16 * 1024 }, (request, body, done) => {
    const header = parseRequestHeader(request.headers[REQUEST_HEADER] as string | undefined);
    if (header.ok) request.exchange = { stamp: header.stamp, sig: header.sig, raw: body as Buffer };
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(Object.assign(new Error('request body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });

  // Every answer to a request whose header parsed is signed, so the asker can trust even a refusal.
  app.addHook('onSend', async (request: FastifyRequest, reply, payload) => {
    const exchange = request.exchange;
    if (!exchange) return payload;
    const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.isBuffer(payload) ? payload : Buffer.alloc(0);
    reply.header(RESPONSE_HEADER, signResponse(node.chain.chainId, orgSigner, exchange.stamp, reply.statusCode, body));
    return body;
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && STATUS[code] !== undefined) {
      return reply.status(STATUS[code]).send({ code, message: error.message });
    }
    if (error.validation || (error.statusCode !== undefined && error.statusCode < 500))
      return reply.status(error.statusCode === 413 ? 413 : 400).send({ code: 'exchange.invalid', message: error.message });
    request.log.error({ err: error }, 'exchange failed');
    return reply.status(500).send({ code: 'internal', message: 'internal error' });
  });

  /** The asking organization, once the request's header, time, signature and nonce check out. */
  function authenticated(request: FastifyRequest, path: string): string {
    const exchange = request.exchange;
    if (!exchange) throw new Rejected('exchange.unauthenticated', `a signed ${REQUEST_HEADER} header is required`);
    const { stamp, sig, raw } = exchange;
    if (stamp.to !== node.org.id) throw new Rejected('exchange.misdirected', `this node is ${node.org.id}, not ${stamp.to}`);
    const now = clock();
    if (Math.abs(now - stamp.at) > MAX_SKEW_MS) throw new Rejected('exchange.stale', 'the request time is too far from ours');
    const sender = node.chain.app.participant(stamp.from);
    if (sender?.kind !== 'organization' || sender.status !== 'active')
      throw new Rejected('exchange.unauthenticated', `${stamp.from} is not an active organization`);
    if (!verifyRequest(node.chain.chainId, stamp, sig, sender.key, path, raw))
      throw new Rejected('exchange.unauthenticated', `the request is not signed by ${stamp.from}'s ledger key`);
    if (!replays.admit(stamp, now)) throw new Rejected('exchange.replayed', 'this request was already answered');
    return stamp.from;
  }

  app.post<{ Body: ExchangeRequest }>(EXCHANGE_PATH, { schema: { hide: true, body: requestSchema } }, async (request) =>
    answerToJson(await custodian.serve(authenticated(request, EXCHANGE_PATH), request.body)),
  );

  const { aggregates } = options;
  if (aggregates) {
    app.post<{ Body: AggregateRequest }>(
      AGGREGATE_PATH,
      { schema: { hide: true, body: aggregateRequestSchema } },
      async (request) => {
        const from = authenticated(request, AGGREGATE_PATH);
        await catchUp(node, request.body.height);
        return { partial: await aggregates(from, request.body) };
      },
    );
  }
};
