/**
 * The node's HTTP service (Fastify): health, the ledger API and its OpenAPI document. Every error
 * leaves as JSON `{ code, message }`; limits on body size, URL length and time keep hostile
 * requests from harming the node.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { createRequire } from 'node:module';
import type { FhirRepository } from '../fhir/repository.js';
import type { AuthService } from '../auth/service.js';
import { authRoutes } from './auth-routes.js';
import { fhirRoutes } from '../fhir/rest/routes.js';
import type { LedgerNode } from '../node/ledger-node.js';
import { ApiError, statusOf } from './errors.js';
import { ledgerRoutes } from './routes/ledger.js';
import { keyBackupRoutes } from './routes/key-backups.js';
import type { AccessLayer } from '../node/access-ledger.js';
import type { ExchangeLayer } from '../node/exchange.js';
import { exchangeRoutes } from './routes/exchange.js';
import { registerHealthDataRoutes } from './routes/health-data.js';
import { enrollmentRoutes } from './routes/enrollment.js';
import { isAppRoute, registerWebApp } from './web-app.js';

export const MAX_BODY_BYTES = 256 * 1024;

export interface HttpOptions {
  readonly logger?: FastifyServerOptions['logger'];
  /** The FHIR API at /fhir, when the node keeps records (needs `auth`). */
  readonly fhir?: FhirRepository;
  /** SMART on FHIR authentication: /.well-known/smart-configuration, /oauth, bearer tokens on /fhir. */
  readonly auth?: AuthService;
  /** Consent enforcement, the access log and patients' key backups (needed with `fhir`). */
  readonly access?: AccessLayer;
  /** Public base URL for absolute links (FHIR fullUrl, Location, paging); derived from requests if absent. */
  readonly publicUrl?: string;
  /** Record exchange with other organizations' nodes (CometBFT networks): /exchange and cross-custodian FHIR. */
  readonly exchange?: ExchangeLayer;
  /** The built web app served at `/` (default dist/web, when built); `false` serves none. */
  readonly webRoot?: string | false;
}

const PACKAGE_VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

/**
 * Request logging without query strings or bodies: FHIR search parameters can name patients, and
 * nothing a client sends may end up in the logs.
 */
export function requestLogger(level: 'info' | 'warn' | 'error'): FastifyServerOptions['logger'] {
  return {
    level,
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, path: req.url.split('?')[0] }),
    },
  };
}

export async function buildHttpServer(node: LedgerNode, options: HttpOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { maxParamLength: 200 },
    connectionTimeout: 60_000,
    requestTimeout: 60_000,
    keepAliveTimeout: 10_000,
    return503OnClosing: true,
    // URL errors the router detects before any route runs (bad percent-encoding, over-long parameters).
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void (reply as FastifyReply)
        .status(tooLong ? 414 : 400)
        .send(
          tooLong
            ? { code: 'request.too_large', message: 'URL parameter too long' }
            : { code: 'request.malformed', message: 'malformed URL' },
        );
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'MedLedger node API',
        version: '1',
        description:
          'Ledger API of a MedLedger node: status, blocks, transactions with inclusion proofs, consistency proofs, checkpoints and transaction submission. Headers, hashes, checkpoints and proofs are public; routes marked with `bearer` security need an access token of this node.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (SMART on FHIR access token)' } },
      },
    },
  });

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number; validation?: unknown }, request, reply) => {
    if (error instanceof ApiError) return reply.status(error.status).send({ code: error.code, message: error.message });
    if (error.validation) return reply.status(400).send({ code: 'request.invalid', message: error.message });
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.status(413).send({ code: 'request.too_large', message: `request body exceeds ${MAX_BODY_BYTES} bytes` });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.status(415).send({ code: 'request.unsupported_media_type', message: 'unsupported content type' });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return reply.status(400).send({ code: 'request.malformed', message: 'request body is not valid JSON' });
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.status(error.statusCode).send({ code: 'request.invalid', message: error.message });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send({ code: 'internal', message: 'internal error' });
  });

  const webApp = options.webRoot === false ? undefined : await registerWebApp(app, options.webRoot);
  app.setNotFoundHandler((request, reply) => {
    if (webApp && isAppRoute(request)) return webApp(request, reply);
    return reply.status(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', height: node.chain.head().height }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const auth = options.auth;
  await app.register(
    ledgerRoutes(node, {
      ...(auth && {
        authenticate: (authorization: string | undefined, origin: string) =>
          auth.authenticate(authorization, options.publicUrl ?? origin),
      }),
    }),
    { prefix: '/api/v1' },
  );
  if (options.auth) {
    await app.register(authRoutes, {
      auth: options.auth,
      ...(options.publicUrl !== undefined && { publicUrl: options.publicUrl }),
    });
  }
  if (options.auth && options.access) {
    const auth = options.auth;
    await app.register(keyBackupRoutes, {
      prefix: '/api/v1',
      chain: node.chain,
      store: options.access.store,
      authenticate: (authorization, origin) => auth.authenticate(authorization, options.publicUrl ?? origin),
    });
    await app.register(enrollmentRoutes, {
      prefix: '/api/v1',
      node,
      authenticate: (authorization, origin) => auth.authenticate(authorization, options.publicUrl ?? origin),
    });
  }
  if (options.fhir) {
    if (!options.auth) throw new Error('the FHIR API needs authentication (HttpOptions.auth)');
    if (!options.access) throw new Error('the FHIR API needs access control (HttpOptions.access)');
    const auth = options.auth;
    await app.register(fhirRoutes, {
      prefix: '/fhir',
      repository: options.fhir,
      access: options.access.service,
      chain: node.chain,
      auth: {
        authenticate: (authorization, origin) => auth.authenticate(authorization, origin),
        authorOf: (principal) => auth.authorOf(principal),
      },
      software: { name: 'MedLedger', version: PACKAGE_VERSION },
      ...(options.publicUrl !== undefined && { publicUrl: options.publicUrl }),
      ...(options.exchange && { exchange: options.exchange.client }),
    });
    const { population } = await registerHealthDataRoutes(app, node, {
      fhir: options.fhir,
      auth,
      access: options.access,
      ...(options.publicUrl !== undefined && { publicUrl: options.publicUrl }),
      ...(options.exchange && { exchange: options.exchange.client }),
    });
    if (options.exchange) {
      await app.register(exchangeRoutes, {
        custodian: options.exchange.custodian,
        orgSigner: options.exchange.orgSigner,
        aggregates: (from, request) => population.partialFor(from, request),
      });
    }
  }
  return app;
}

export { statusOf };
