/**
 * The FHIR R4 REST API at /fhir: HTTP in, repository calls, FHIR out. Every error is an
 * OperationOutcome; every resource response carries ETag, Last-Modified and (on create) Location.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { badRequest, FhirError, informational, notFound, outcome, preconditionFailed } from '../outcome.js';
import type { FhirRepository, SavedResult, SearchOutcome, Stored, WriterScope } from '../repository.js';
import type { SearchQuery } from '../search/query.js';
import type { AccessService } from '../../access/service.js';
import { Enforcement } from './enforcement.js';
import type { CustodianResult, ExchangeClient, RemoteResource } from '../../exchange/requester.js';
import type { AccessAction } from '../../ledger/payloads/access.js';
import { ledgerViewRoutes } from './ledger-views.js';
import { FHIR_JSON, principalOf } from './request.js';
import { accessOperationRoutes } from './access-operations.js';
import type { Chain } from '../../node/chain.js';
import { provenanceForTarget, provenanceNotFound, provenanceTargetOf, readProvenance } from '../provenance.js';
import { collectionBundle, historyBundle, searchsetBundle, type RemoteMatches } from './bundles.js';
import { binaryUploadRoutes, sendRawContent, wantsRawContent } from './binary.js';
import { processBundle } from '../bundle.js';
import { capabilityStatement } from './capability.js';
import { FHIR_BODY_LIMIT } from './limits.js';
import { parseBundle } from '../bundle.js';
import type { Principal } from '../../auth/principal.js';
import {
  isCompartmentType,
  mayAccess,
  patientMaySearch,
  PERMISSION_OF,
  scopeAllows,
  type Interaction,
} from '../../auth/policy.js';
import type { Permission } from '../../auth/scopes.js';
import { smartConfiguration } from '../../auth/smart.js';

export { FHIR_BODY_LIMIT };

export { FHIR_JSON };
const DEFAULT_HISTORY_COUNT = 50;
const MAX_HISTORY_COUNT = 1000;

/** Authentication of FHIR requests (src/auth/service.ts). */
export interface FhirAuth {
  /**
   * The principal of a request from its Authorization header, for the FHIR base at `origin`.
   * Throws an error with `status` 401 (and `oauthError`) when the token is missing or invalid.
   */
  authenticate(authorization: string | undefined, origin: string): Promise<Principal>;
  /** The ledger author of a write by the principal. */
  authorOf(principal: Principal): string;
}

export interface FhirRoutesOptions {
  readonly repository: FhirRepository;
  readonly auth: FhirAuth;
  /** Consent enforcement and the access log (src/access): every disclosure is decided and logged. */
  readonly access: AccessService;
  /** The committed ledger, for the Consent and AuditEvent views. */
  readonly chain: Chain;
  /** Public base URL of the node (e.g. https://fhir.example.org); derived from the request if absent. */
  readonly publicUrl?: string;
  /** Record exchange with other custodians (networks): $everything then spans them. */
  readonly exchange?: ExchangeClient;
  readonly software: { name: string; version: string };
}

type Params = { type: string; id: string; vid: string };
type Prefer = 'minimal' | 'representation' | 'OperationOutcome';

function preferReturn(request: FastifyRequest): Prefer {
  const prefer = request.headers['prefer'];
  const match = typeof prefer === 'string' ? /return=(minimal|representation|OperationOutcome)/.exec(prefer) : null;
  return (match?.[1] as Prefer | undefined) ?? 'representation';
}

function lenient(request: FastifyRequest): boolean {
  const prefer = request.headers['prefer'];
  return typeof prefer === 'string' && /handling=lenient/.test(prefer);
}

/** `W/"3"` (or a bare `3`) → 3. */
function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"?([1-9][0-9]{0,8})"?$/.exec(header.trim());
  if (!match) throw badRequest(`If-Match must be an ETag like W/"3", got ${header.slice(0, 40)}`);
  return Number(match[1]);
}

function rawQuery(request: FastifyRequest): URLSearchParams {
  const q = request.url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : request.url.slice(q + 1));
}

function version(raw: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw notFound(`version ${raw.slice(0, 20)} does not exist`);
  return Number(raw);
}

function pageParams(query: URLSearchParams): { count: number; offset: number; since?: number } {
  const count = query.get('_count') ?? String(DEFAULT_HISTORY_COUNT);
  const offset = query.get('_offset') ?? '0';
  if (!/^[0-9]{1,4}$/.test(count)) throw badRequest('_count must be a non-negative integer');
  if (!/^[0-9]{1,9}$/.test(offset)) throw badRequest('_offset must be a non-negative integer');
  const since = query.get('_since');
  let sinceMs: number | undefined;
  if (since !== null) {
    sinceMs = Date.parse(since);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(since) || Number.isNaN(sinceMs))
      throw badRequest('_since must be an instant like 2024-01-01T00:00:00Z');
  }
  return {
    count: Math.min(Number(count), MAX_HISTORY_COUNT),
    offset: Number(offset),
    ...(sinceMs !== undefined && { since: sinceMs }),
  };
}

/** Whether the client's If-None-Match names this version (it already has it). */
function unchangedFor(request: FastifyRequest, version: number): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  return typeof ifNoneMatch === 'string' && ifNoneMatch.replace(/^W\//, '') === `"${version}"`;
}

const notModified = (reply: FastifyReply, version: number): FastifyReply =>
  reply.status(304).header('ETag', `W/"${version}"`).send();

/** A 403 for want of scope (or outside a patient token's compartment): RFC 6750 insufficient_scope. */
class ScopeDenied extends FhirError {}

/**
 * The search as a custodian runs it: without the patient anchor (it adds its own) and at this
 * page's count and offset (a `_cursor` is an offset too, and the next link pages by `_offset`).
 */
function forwardedSearch(params: URLSearchParams, anchors: readonly string[], page: SearchQuery): URLSearchParams {
  const paging = ['_count', '_offset', '_cursor'];
  const forwarded = new URLSearchParams([...params].filter(([name]) => !anchors.includes(name) && !paging.includes(name)));
  forwarded.set('_count', String(page.count));
  if (page.offset > 0) forwarded.set('_offset', String(page.offset));
  return forwarded;
}

/** Whether a custodian holds matches past this page: its total says so or, uncounted, it filled the page. */
function matchesBeyondPage(answer: { resources: readonly RemoteResource[]; total?: number }, page: SearchQuery): boolean {
  if (answer.total !== undefined) return answer.total > page.offset + page.count;
  return answer.resources.filter((r) => r.mode === 'match').length >= page.count;
}

export const fhirRoutes: FastifyPluginAsync<FhirRoutesOptions> = async (app: FastifyInstance, options) => {
  const { repository, auth } = options;
  const originOf = (request: FastifyRequest): string =>
    (options.publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
  const baseOf = (request: FastifyRequest): string => `${originOf(request)}/fhir`;

  // --- authentication and scopes --------------------------------------------------------------
  // Every /fhir request carries a bearer token except the CapabilityStatement and SMART discovery.
  const PUBLIC = new Set(['/metadata', '/.well-known/smart-configuration']);
  app.decorateRequest('principal', undefined);
  app.addHook('preHandler', async (request, reply) => {
    const path = request.url.split('?')[0]!.slice(app.prefix.length) || '/';
    if (PUBLIC.has(path) && request.method === 'GET') return;
    try {
      request.principal = await auth.authenticate(request.headers.authorization, originOf(request));
    } catch (error) {
      const failure = error as Error & { status?: number; oauthError?: string };
      if (failure.status !== 401) throw error;
      const challenge = `Bearer realm="${baseOf(request)}"${
        failure.oauthError ? `, error="${failure.oauthError}", error_description="${failure.message.replace(/"/g, "'")}"` : ''
      }`;
      return reply
        .status(401)
        .header('WWW-Authenticate', challenge)
        .type(FHIR_JSON)
        .send(outcome([{ severity: 'error', code: 'login', diagnostics: failure.message }]));
    }
  });

  const author = (request: FastifyRequest) => ({ author: auth.authorOf(principalOf(request)) });
  const forbidden = (diagnostics: string, expression?: string) =>
    new ScopeDenied(403, [
      { severity: 'error', code: 'forbidden', diagnostics, ...(expression !== undefined && { expression: [expression] }) },
    ]);
  const WORD: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

  /** The scope check of an interaction on a type (403 if no scope grants it). */
  function requireScope(principal: Principal, type: string, permission: Permission): void {
    if (!scopeAllows(principal, type, permission))
      throw forbidden(`the access token's scopes do not allow ${WORD[permission]} on ${type === '*' ? 'all types' : type}`);
  }
  function requireInteraction(request: FastifyRequest, type: string, interaction: Interaction): Principal {
    const principal = principalOf(request);
    requireScope(principal, type, PERMISSION_OF[interaction]);
    return principal;
  }
  const storedPatientOf = (type: string, id: string) => repository.storedPatientOf(type, id);
  /** Scope and (for patients) compartment on one resource. */
  function requireAccess(principal: Principal, resource: Resource, permission: Permission): void {
    requireScope(principal, resource.resourceType, permission);
    if (!mayAccess(principal, resource, permission, storedPatientOf))
      throw forbidden(`${resource.resourceType}/${resource.id ?? ''} is outside the patient compartment of this token`);
  }
  /** The current version, if any, must be accessible too (a patient may not take over another's resource). */
  function requireCurrentAccess(principal: Principal, type: string, id: string, permission: Permission): void {
    if (principal.kind !== 'patient') return;
    const current = repository.current(type, id);
    if (!current || current.deleted) {
      if (!isCompartmentType(type) && permission !== 'c') throw forbidden(`${type} is outside the patient compartment`);
      return;
    }
    requireAccess(principal, repository.read(type, id).resource, permission);
  }
  /**
   * A conditional create or update searches (and a create may return what it found): it needs s
   * and r on the type besides c or u, and is not open to patient tokens (the match could be
   * another patient's resource).
   */
  function requireConditional(principal: Principal, type: string): void {
    if (principal.kind === 'patient') throw forbidden('conditional creates and updates are not open to patient tokens');
    requireScope(principal, type, 's');
    requireScope(principal, type, 'r');
  }
  const readable = (principal: Principal) => (resource: Resource | null | undefined) =>
    resource !== null && resource !== undefined && mayAccess(principal, resource, 'r', storedPatientOf);

  // --- consent enforcement (./enforcement.ts) ----------------------------------------------------
  const { access } = options;
  const enforcement = new Enforcement(repository, access);
  const visibilityFor = (principal: Principal, type: string) => enforcement.visibilityFor(principal, type);
  const visibleTo = (principal: Principal) => enforcement.visibleTo(principal);
  const requireVisible = (principal: Principal, type: string, id: string, action?: AccessAction, version?: number) =>
    enforcement.requireVisible(principal, type, id, action, version);
  const disclose = (principal: Principal, action: AccessAction, resources: readonly (Resource | null | undefined)[]) =>
    enforcement.disclose(principal, action, resources);

  /**
   * What a write by `principal` may see: the target of an update and the records it references
   * resolve within the principal's visibility, and whatever lies outside it is answered exactly
   * like a record that does not exist (src/fhir/repository.ts, WriterScope).
   *
   * Creating with an id of one's choosing (a PUT to an id the caller does not see) cannot be
   * answered alike for a free id (created) and for one a hidden record holds (neither created nor
   * overwritten): it is left to callers that see every record of the type here (the treatment rule
   * `organization`) and to the organization's own backend services (system tokens), which import
   * with their ids. Practitioners under the `authors` or `none` rule and patients get one refusal
   * (405) for every id they do not see, free or taken. Residual: under `authors`/`none` a system
   * token does not see records only practitioners wrote, and a PUT to such an id answers 404 where a
   * free id is created — the organization's own backend can tell those ids are taken; taking
   * update-as-create from every backend would be the price of closing it.
   */
  const writerScope = (principal: Principal): WriterScope => ({
    sees: (type) => visibilityFor(principal, type),
    createsWithId: (type) => principal.kind === 'system' || visibilityFor(principal, type).treatment === 'all',
  });
  /**
   * A patient token writes and deletes only in its compartment types; the rule depends on the type
   * alone, so it is applied before anything about the id is looked at.
   */
  function requireWritableType(principal: Principal, type: string): void {
    if (principal.kind === 'patient' && !isCompartmentType(type)) throw forbidden(`${type} is outside the patient compartment`);
  }

  /** The extra search parameter that confines a patient's search to their compartment. */
  function compartmentOf(principal: Principal, type: string): readonly [string, string] | undefined {
    if (principal.kind !== 'patient') return undefined;
    if (!patientMaySearch(type)) throw forbidden(`${type} is outside the patient compartment`);
    if (type === 'Patient') return ['_id', principal.patient];
    return isCompartmentType(type) ? ['patient', `Patient/${principal.patient}`] : undefined;
  }
  async function search(request: FastifyRequest, type: string, params: URLSearchParams) {
    const principal = requireInteraction(request, type, 'search');
    requireScope(principal, type, 'r');
    const compartment = compartmentOf(principal, type);
    const result = repository.search(type, params, {
      lenient: lenient(request),
      visibility: visibilityFor(principal, type),
      ...(compartment && { compartment }),
    });
    const ok = readable(principal);
    // Included resources are of other types, which a consent may not cover: checked one by one.
    const visible = visibleTo(principal);
    const matches = result.matches.filter(ok);
    const included = result.included.filter((r) => ok(r) && visible(r));
    await disclose(principal, 'search', [...matches, ...included]);
    return { ...result, matches, included };
  }
  async function history(request: FastifyRequest, scope: { type?: string; id?: string }) {
    const principal = requireInteraction(request, scope.type ?? '*', 'history');
    if (principal.kind === 'patient') {
      if (scope.id === undefined) throw forbidden('a patient token can list the history of single resources only');
      requireCurrentAccess(principal, scope.type!, scope.id, 'r');
    }
    requireScope(principal, scope.type ?? '*', 'r');
    if (scope.id !== undefined) await requireVisible(principal, scope.type!, scope.id, 'history');
    const visibility = scope.id === undefined ? visibilityFor(principal, scope.type ?? '*') : undefined;
    const result = repository.history(scope, pageParams(rawQuery(request)), visibility);
    const ok = readable(principal);
    const entries = result.entries.map((e) => (e.resource === null || ok(e.resource) ? e : { ...e, resource: null }));
    await disclose(
      principal,
      'history',
      entries.map((e) => e.resource),
    );
    return { ...result, entries };
  }

  // Prototype-poisoning-safe JSON for every JSON flavour; an empty body (DELETE/GET sent with a
  // Content-Type, as some clients do) is no body rather than an error.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // No text/plain parser: a resource sent as text is 415 (and raw text uploads to /Binary stay bytes).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    ['application/json', 'application/fhir+json', 'application/json-patch+json'],
    { parseAs: 'string', bodyLimit: FHIR_BODY_LIMIT },
    (request, body, done) => (body === '' ? done(null, undefined) : json(request, body as string, done)),
  );
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string));
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    if (error instanceof ScopeDenied)
      reply.header('WWW-Authenticate', `Bearer realm="${baseOf(request)}", error="insufficient_scope"`);
    if (error instanceof FhirError) return sendOutcome(reply, error.status, outcome(error.issues));
    const fail = (status: number, code: 'invalid' | 'too-costly' | 'not-supported' | 'structure', diagnostics: string) =>
      sendOutcome(reply, status, outcome([{ severity: 'error', code, diagnostics }]));
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return fail(413, 'too-costly', 'request body is too large');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return fail(415, 'not-supported', 'send application/fhir+json or application/json');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return fail(400, 'structure', 'request body is not valid JSON');
    }
    if (error instanceof SyntaxError) return fail(400, 'structure', 'request body is not valid JSON');
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return fail(error.statusCode, 'invalid', error.message);
    }
    request.log.error({ err: error }, 'unhandled FHIR error');
    return sendOutcome(reply, 500, outcome([{ severity: 'error', code: 'exception', diagnostics: 'internal error' }]));
  });
  app.setNotFoundHandler((request, reply) =>
    sendOutcome(
      reply,
      404,
      outcome([
        { severity: 'error', code: 'not-found', diagnostics: `no FHIR endpoint ${request.method} ${request.url.split('?')[0]}` },
      ]),
    ),
  );

  function sendOutcome(reply: FastifyReply, status: number, body: object): FastifyReply {
    return reply.status(status).type(FHIR_JSON).send(body);
  }

  function sendStored(request: FastifyRequest, reply: FastifyReply, stored: Stored, status = 200): FastifyReply {
    const { resource } = stored;
    reply
      .status(status)
      .type(FHIR_JSON)
      .header('ETag', `W/"${stored.version}"`)
      .header('Last-Modified', new Date(stored.lastUpdated).toUTCString());
    return reply.send(resource);
  }

  function sendSaved(request: FastifyRequest, reply: FastifyReply, saved: SavedResult, createdStatus = 201): FastifyReply {
    const status = saved.created ? createdStatus : 200;
    const { resourceType, id } = saved.resource;
    reply
      .status(status)
      .header('ETag', `W/"${saved.version}"`)
      .header('Last-Modified', new Date(saved.lastUpdated).toUTCString());
    if (saved.created || createdStatus === 200)
      reply.header('Location', `${baseOf(request)}/${resourceType}/${id}/_history/${saved.version}`);
    switch (preferReturn(request)) {
      case 'minimal':
        return reply.send();
      case 'OperationOutcome':
        return reply
          .type(FHIR_JSON)
          .send(informational(`${resourceType}/${id} version ${saved.version} committed to the ledger`));
      case 'representation':
        return reply.type(FHIR_JSON).send(saved.resource);
    }
  }

  await app.register(binaryUploadRoutes, {
    repository,
    send: (request, reply, saved) => sendSaved(request, reply, saved),
    // A patient token can neither upload nor replace a Binary (it may read its own: src/auth/policy.ts).
    authorize: (request, resource, interaction) => {
      const principal = requireInteraction(request, 'Binary', interaction);
      requireAccess(principal, resource, PERMISSION_OF[interaction]);
      return { actor: author(request), writer: writerScope(principal) };
    },
  });

  // Consent and AuditEvent: read-only views of the ledger (./ledger-views.ts).
  await app.register(ledgerViewRoutes, { repository, chain: options.chain, baseOf });
  // Emergency access and its review: ./access-operations.ts.
  await app.register(accessOperationRoutes, { repository, access });

  // --- whole system ---------------------------------------------------------------------------

  app.get('/metadata', async (request, reply) =>
    reply.type(FHIR_JSON).send(capabilityStatement(baseOf(request), options.software)),
  );
  // SMART App Launch 2 discovery, relative to the FHIR base (public like the CapabilityStatement).
  app.get('/.well-known/smart-configuration', async (request, reply) =>
    reply
      .header('cache-control', 'no-cache')
      .type('application/json')
      .send(smartConfiguration(originOf(request))),
  );

  // transaction (all or nothing, one ledger transaction) and batch Bundles: src/fhir/bundle.ts.
  app.post<{ Body: unknown }>('/', { bodyLimit: FHIR_BODY_LIMIT }, async (request, reply) => {
    const prefer = typeof request.headers['prefer'] === 'string' && /return=/.test(request.headers['prefer']);
    const principal = principalOf(request);
    const parsed = parseBundle(request.body, baseOf(request));
    checkBundle(principal, parsed);
    const refused: { type: string; id: string }[] = [];
    const matched: Resource[] = [];
    const bundle = await processBundle(repository, request.body, author(request), {
      base: baseOf(request),
      prefer: prefer ? preferReturn(request) : 'minimal',
      visibility: (type) => visibilityFor(principal, type),
      reads: {
        refused: (type, id) => refused.push({ type, id }),
        check: (resource) => requireAccess(principal, resource, 'r'),
        matched: (resource) => matched.push(resource),
      },
      createsWithId: writerScope(principal).createsWithId,
    });
    // Search results inside a batch lose what the token may not read (their _include targets).
    const ok = readable(principal);
    const visible = visibleTo(principal);
    const disclosed: Resource[] = [];
    // Reads and searches disclose; the representation of a write only returns what the caller wrote.
    for (const [i, entry] of (bundle.entry ?? []).entries()) {
      const inner = entry.resource;
      const kind = parsed.entries[i]?.request.kind;
      if (kind !== 'read' && kind !== 'search') continue;
      if (inner?.resourceType === 'Bundle' && inner.type === 'searchset' && inner.entry) {
        inner.entry = inner.entry.filter(
          (e) => e.search?.mode === 'outcome' || (ok(e.resource) && (e.search?.mode === 'match' || visible(e.resource))),
        );
        disclosed.push(...inner.entry.flatMap((e) => (e.resource && e.search?.mode !== 'outcome' ? [e.resource] : [])));
      } else if (inner) disclosed.push(inner);
    }
    // A conditional create that found its resource returns it (or at least its id and version):
    // a read, logged like one. checkBundle required r on its type (no patient tokens), and the
    // match was searched within what the caller may see.
    await Promise.all([disclose(principal, 'read', [...disclosed, ...matched]), enforcement.refuse(principal, 'read', refused)]);
    return reply.type(FHIR_JSON).send(bundle);
  });

  app.get('/_history', async (request, reply) => {
    const page = pageParams(rawQuery(request));
    const { entries, total } = await history(request, {});
    return reply.type(FHIR_JSON).send(historyBundle(baseOf(request), '/_history', entries, { ...page, total }));
  });

  // --- type level ------------------------------------------------------------------------------

  app.get<{ Params: Pick<Params, 'type'> }>('/:type', async (request, reply) => {
    const { type } = request.params;
    const params = rawQuery(request);
    if (type === 'Provenance') return reply.type(FHIR_JSON).send(await provenanceSearch(request, params));
    const result = await search(request, type, params);
    const remote = await searchOtherCustodians(principalOf(request), type, params, result);
    return reply.type(FHIR_JSON).send(searchsetBundle(baseOf(request), type, params, result, remote));
  });

  app.post<{ Params: Pick<Params, 'type'>; Body: unknown }>('/:type/_search', async (request, reply) => {
    const { type } = request.params;
    const params = rawQuery(request);
    if (request.body instanceof URLSearchParams) for (const [k, v] of request.body) params.append(k, v);
    if (type === 'Provenance') return reply.type(FHIR_JSON).send(await provenanceSearch(request, params));
    const result = await search(request, type, params);
    const remote = await searchOtherCustodians(principalOf(request), type, params, result);
    return reply.type(FHIR_JSON).send(searchsetBundle(baseOf(request), type, params, result, remote));
  });

  app.post<{ Params: Pick<Params, 'type'>; Body: unknown }>('/:type', { bodyLimit: FHIR_BODY_LIMIT }, async (request, reply) => {
    const body = request.body as { resourceType?: unknown } | undefined;
    if (body?.resourceType !== request.params.type) {
      throw badRequest(`the body must be a ${request.params.type} resource`);
    }
    const principal = principalOf(request);
    requireAccess(principal, body as Resource, 'c');
    const ifNoneExist = request.headers['if-none-exist'];
    if (typeof ifNoneExist === 'string') requireConditional(principal, request.params.type);
    // The match is searched within what the caller may see (a hidden resource does not match, so
    // a new one is created as if it did not exist); a match returned is a read: decided and logged.
    const saved = await repository.create(body, author(request), {
      writer: writerScope(principal),
      ...(typeof ifNoneExist === 'string' && { ifNoneExist, visibility: visibilityFor(principal, request.params.type) }),
    });
    if (!saved.created) {
      requireAccess(principal, saved.resource, 'r');
      await disclose(principal, 'read', [saved.resource]);
    }
    return sendSaved(request, reply, saved);
  });

  app.get<{ Params: Pick<Params, 'type'> }>('/:type/_history', async (request, reply) => {
    const { type } = request.params;
    const page = pageParams(rawQuery(request));
    const { entries, total } = await history(request, { type });
    return reply.type(FHIR_JSON).send(historyBundle(baseOf(request), `/${type}/_history`, entries, { ...page, total }));
  });

  // --- instance level --------------------------------------------------------------------------

  app.get<{ Params: Pick<Params, 'type' | 'id'> }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    if (type === 'Provenance') {
      const principal = requireInteraction(request, 'Provenance', 'read');
      if (principal.kind === 'patient') throw forbidden('Provenance is outside the patient compartment');
      // Who wrote what about a patient: decided and logged like a read of the target. A hidden
      // target is answered exactly like an unknown record, whatever the version (its type and id
      // stay unsaid), and the refusal is logged as for a read of it.
      const target = provenanceTargetOf(repository, id);
      if (target && enforcement.isHidden(principal, target.type, target.id)) {
        await enforcement.refuse(principal, 'read', [target]);
        throw provenanceNotFound(id);
      }
      const provenance = readProvenance(repository, id);
      if (target) await disclose(principal, 'read', [{ resourceType: target.type, id: target.id } as Resource]);
      return reply.type(FHIR_JSON).send(provenance);
    }
    const principal = requireInteraction(request, type, 'read');
    await requireVisible(principal, type, id, 'read');
    if (type === 'Binary' && wantsRawContent(request)) {
      // Checked against the ledger and the content file against its sealed hash before a byte leaves.
      const { stored, content } = await repository.binaryContent(id);
      requireAccess(principal, stored.resource, 'r');
      await disclose(principal, 'read', [stored.resource]);
      if (unchangedFor(request, stored.version)) {
        if (content.body instanceof Readable) content.body.destroy();
        return notModified(reply, stored.version);
      }
      return sendRawContent(reply, stored, content);
    }
    const stored = repository.read(type, id);
    requireAccess(principal, stored.resource, 'r');
    await disclose(principal, 'read', [stored.resource]);
    if (unchangedFor(request, stored.version)) return notModified(reply, stored.version);
    return sendStored(request, reply, stored);
  });

  app.put<{ Params: Pick<Params, 'type' | 'id'>; Body: unknown }>(
    '/:type/:id',
    { bodyLimit: FHIR_BODY_LIMIT },
    async (request, reply) => {
      const { type, id } = request.params;
      // Whether the id is held, hidden or free decides nothing before the body is validated; then
      // the repository answers a hidden id exactly like a free one (see writerScope).
      const principal = requireInteraction(request, type, 'update');
      const ifMatch = parseIfMatch(request.headers['if-match']);
      if (request.body !== null && typeof request.body === 'object') requireAccess(principal, request.body as Resource, 'u');
      requireWritableType(principal, type);
      // The compartment of the current version, for a patient: only of a version the caller sees.
      if (!enforcement.isHidden(principal, type, id)) requireCurrentAccess(principal, type, id, 'u');
      const saved = await repository.update(type, id, request.body, author(request), {
        ...(ifMatch !== undefined && { ifMatch }),
        writer: writerScope(principal),
      });
      return sendSaved(request, reply, saved);
    },
  );

  app.patch<{ Params: Pick<Params, 'type' | 'id'>; Body: unknown }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    const contentType = request.headers['content-type'] ?? '';
    if (!contentType.startsWith('application/json-patch+json')) {
      throw FhirError.of(415, 'not-supported', 'PATCH takes a JSON Patch (application/json-patch+json)');
    }
    const principal = requireInteraction(request, type, 'patch');
    // A patch reads what it patches (a `test` operation, or a path that does not resolve, answers
    // according to the content): it needs the right to read the resource, as a GET does, and the
    // read is logged before any operation is applied.
    requireScope(principal, type, 'r');
    const ifMatch = parseIfMatch(request.headers['if-match']);
    requireWritableType(principal, type);
    await requireVisible(principal, type, id);
    requireCurrentAccess(principal, type, id, 'u');
    const saved = await repository.patch(type, id, request.body, author(request), {
      ...(ifMatch !== undefined && { ifMatch }),
      writer: writerScope(principal),
      read: async (current) => {
        requireAccess(principal, current.resource, 'r');
        await disclose(principal, 'read', [current.resource]);
      },
    });
    return sendSaved(request, reply, saved, 200);
  });

  app.delete<{ Params: Pick<Params, 'type' | 'id'> }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    const principal = requireInteraction(request, type, 'delete');
    // Nothing about the id decides an answer before its visibility: a hidden resource is 404 with
    // the words of an absent one, If-Match and patient compartment checked only on one the caller sees.
    const ifMatch = parseIfMatch(request.headers['if-match']);
    requireWritableType(principal, type);
    await requireVisible(principal, type, id);
    requireCurrentAccess(principal, type, id, 'd');
    if (ifMatch !== undefined) {
      const current = repository.read(type, id);
      if (current.version !== ifMatch) throw preconditionFailed(`${type}/${id} is at version ${current.version}, not ${ifMatch}`);
    }
    await repository.delete(type, id, author(request));
    return reply.status(204).send();
  });

  app.get<{ Params: Pick<Params, 'type' | 'id'> }>('/:type/:id/_history', async (request, reply) => {
    const { type, id } = request.params;
    const page = pageParams(rawQuery(request));
    const { entries, total } = await history(request, { type, id });
    return reply.type(FHIR_JSON).send(historyBundle(baseOf(request), `/${type}/${id}/_history`, entries, { ...page, total }));
  });

  app.get<{ Params: Params }>('/:type/:id/_history/:vid', async (request, reply) => {
    const { type, id, vid } = request.params;
    const principal = requireInteraction(request, type, 'vread');
    // A hidden resource answers like a missing one, version and all.
    const v = version(vid);
    await requireVisible(principal, type, id, 'read', v);
    const stored = repository.vread(type, id, v);
    requireAccess(principal, stored.resource, 'r');
    await disclose(principal, 'read', [stored.resource]);
    return sendStored(request, reply, stored);
  });

  app.get<{ Params: Pick<Params, 'id'> }>('/Patient/:id/$everything', async (request, reply) => {
    const principal = requireInteraction(request, 'Patient', 'everything');
    if (principal.kind === 'patient' && principal.patient !== request.params.id)
      throw forbidden('a patient token can only ask for its own $everything');
    await requireVisible(principal, 'Patient', request.params.id, 'everything');
    const visible = visibleTo(principal);
    const resources = repository.everything(request.params.id).filter((r) => readable(principal)(r) && visible(r));
    await disclose(principal, 'everything', resources);
    const { remote, problems } = await fromOtherCustodians(principal, request.params.id);
    return reply.type(FHIR_JSON).send(collectionBundle('searchset', baseOf(request), resources, remote, problems));
  });

  /**
   * A practitioner's view of a patient spans every custodian holding their records (record
   * exchange): each decides on its own ledger state and logs the access there. Custodians that
   * could not answer are reported in an OperationOutcome, never silently left out.
   */
  async function fromOtherCustodians(
    principal: Principal,
    patientId: string,
  ): Promise<{ remote: RemoteResource[]; problems?: OperationOutcome }> {
    const pseudonym = repository.vault.patientPseudonym(patientId);
    if (!options.exchange || principal.kind !== 'practitioner' || pseudonym === undefined) return { remote: [] };
    const results = await options.exchange.fromAll(principal.id, pseudonym, { kind: 'everything' });
    return { remote: results.flatMap((r) => (r.ok ? r.resources : [])), ...custodianProblems(results) };
  }

  /** Custodians that could not answer, as an OperationOutcome: a partial record never looks complete. */
  function custodianProblems(results: readonly CustodianResult[]): { problems?: OperationOutcome } {
    const failed = results.flatMap((r) => (r.ok ? [] : [r]));
    if (failed.length === 0) return {};
    return {
      problems: outcome(
        failed.map((f) => ({
          severity: 'warning',
          code: 'incomplete',
          diagnostics: `records held by ${f.custodian} are missing: ${f.code}: ${f.message}`,
        })),
      ),
    };
  }

  /**
   * A practitioner's search within one patient's compartment (`patient=`/`subject=` one Patient,
   * or Patient?_id=) spans the other custodians of that patient's records too: each runs it on its
   * own records and ledger state at this page's `_count` and `_offset`, so page k holds every
   * source's page k after this node's, and following `next` reaches every match once. `_sort`
   * orders each source's matches, not the page as a whole.
   */
  async function searchOtherCustodians(
    principal: Principal,
    type: string,
    params: URLSearchParams,
    result: SearchOutcome,
  ): Promise<RemoteMatches | undefined> {
    if (!options.exchange || principal.kind !== 'practitioner' || params.has('_summary')) return undefined;
    const anchors = type === 'Patient' ? ['_id'] : ['patient', 'subject'];
    const values = anchors.flatMap((name) => params.getAll(name));
    const id = values.length === 1 ? /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(values[0]!)?.[1] : undefined;
    const pseudonym = id === undefined || !repository.current('Patient', id) ? undefined : repository.vault.patientPseudonym(id);
    if (pseudonym === undefined) return undefined;
    const results = await options.exchange.fromAll(principal.id, pseudonym, {
      kind: 'search',
      type,
      params: forwardedSearch(params, anchors, result.query).toString(),
    });
    const answered = results.flatMap((r) => (r.ok ? [r] : []));
    const totals = results.map((r) => (r.ok ? r.total : undefined));
    return {
      entries: answered.flatMap((r) => r.resources),
      ...(totals.every((t) => t !== undefined) && { total: totals.reduce((sum, t) => sum + t, 0) }),
      // A custodian that failed keeps no page alive: its OperationOutcome says the page is incomplete.
      more: answered.some((r) => matchesBeyondPage(r, result.query)),
      ...custodianProblems(results),
    };
  }

  /** Every entry of a transaction or batch is checked before any runs; one denial refuses the Bundle. */
  function checkBundle(principal: Principal, bundle: ReturnType<typeof parseBundle>): void {
    for (const entry of bundle.entries) {
      const { request } = entry;
      const where = `Bundle.entry[${entry.index}]`;
      try {
        switch (request.kind) {
          case 'create':
            if (entry.resource !== null && typeof entry.resource === 'object')
              requireAccess(principal, { ...(entry.resource as Resource), resourceType: request.type } as Resource, 'c');
            else requireScope(principal, request.type, 'c');
            if (request.ifNoneExist !== undefined) requireConditional(principal, request.type);
            break;
          case 'update':
            requireScope(principal, request.type, 'u');
            if (entry.resource !== null && typeof entry.resource === 'object')
              requireAccess(principal, { ...(entry.resource as Resource), resourceType: request.type } as Resource, 'u');
            requireWritableType(principal, request.type);
            // As for PUT: a hidden target is answered by the write like an absent one, not refused here.
            if (!enforcement.isHidden(principal, request.type, request.id))
              requireCurrentAccess(principal, request.type, request.id, 'u');
            break;
          case 'conditional-update':
            requireScope(principal, request.type, 'u');
            requireConditional(principal, request.type);
            break;
          case 'delete':
            requireScope(principal, request.type, 'd');
            requireWritableType(principal, request.type);
            if (!enforcement.isHidden(principal, request.type, request.id))
              requireCurrentAccess(principal, request.type, request.id, 'd');
            break;
          case 'read':
            // Only the scope here: whether the resource may be read is decided per entry, after
            // it is found, as a direct read decides it (another patient's record answers like a
            // missing one, not as a refusal of the whole Bundle).
            requireScope(principal, request.type, 'r');
            break;
          case 'search':
            requireScope(principal, request.type, 's');
            requireScope(principal, request.type, 'r');
            if (principal.kind === 'patient') throw forbidden('searches inside a Bundle are not open to patient tokens');
            break;
        }
      } catch (error) {
        if (error instanceof ScopeDenied) throw forbidden(`${where}: ${error.issues[0]?.diagnostics ?? 'forbidden'}`, where);
        throw error;
      }
    }
  }

  /**
   * Provenance?target=: a hidden target has none, exactly like an unknown one (and, as in any
   * search, nothing is logged for it); what is found is logged as a search of the target.
   */
  async function provenanceSearch(request: FastifyRequest, params: URLSearchParams): Promise<object> {
    const names = [...new Set(params.keys())].filter((k) => k !== '_format');
    const unknown = names.filter((k) => k !== 'target');
    if (unknown.length > 0) throw badRequest(`Provenance search supports only target (got ${unknown.join(', ')})`);
    const principal = requireInteraction(request, 'Provenance', 'search');
    requireScope(principal, 'Provenance', 'r');
    if (principal.kind === 'patient') throw forbidden('Provenance is outside the patient compartment');
    const targets = params.getAll('target');
    if (targets.length !== 1) throw badRequest('Provenance search needs exactly one target');
    const [, targetType, targetId] =
      /^([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(targets[0]!) ?? [];
    const hidden =
      targetType !== undefined &&
      targetId !== undefined &&
      repository.isHidden(targetType, targetId, visibilityFor(principal, targetType));
    const found: Resource[] = hidden ? [] : provenanceForTarget(repository, targets[0]!);
    if (found.length > 0) await disclose(principal, 'search', [{ resourceType: targetType, id: targetId } as Resource]);
    return collectionBundle('searchset', baseOf(request), found);
  }
};
