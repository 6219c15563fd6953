/**
 * FHIR R4 `transaction` and `batch` Bundles (POST /fhir).
 *
 * transaction — all or nothing. Every entry is resolved first (POST gets a server id or, with
 * `ifNoneExist`, the one matching resource; PUT `Type/id` updates or creates with the client's id;
 * PUT `Type?search` updates its single match or creates; DELETE `Type/id`), every `urn:uuid:` /
 * `urn:oid:` fullUrl is rewritten to `Type/id` in every reference of every entry, then every
 * resource is validated and its references checked (a reference may name another entry of the
 * bundle) — all BEFORE anything is written. Then the whole bundle is ONE Vault.writeMany: one
 * ledger transaction. Any failure is one OperationOutcome whose expressions name the entry
 * (`Bundle.entry[3].resource.status`), and nothing is stored. GET entries are refused in a
 * transaction (they would have to run after the commit, where their failure could no longer undo
 * it); they are served in a batch. A transaction writes at most MAX_RECORD_ENTRIES resources.
 *
 * batch — each entry on its own (no references between entries), each with its own status or
 * OperationOutcome in the `batch-response`.
 *
 * The pure parts (parsing, URL forms, reference rewriting, error paths, response entries) are
 * separate from the repository I/O (resolve, check, commit).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, BundleEntryResponse, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { MAX_RECORD_ENTRIES } from '../ledger/payloads/record.js';
import { badRequest, FhirError, notFound, outcome, preconditionFailed } from './outcome.js';
import type { Actor, CommittedWrite, FhirRepository, PlannedWrite, Stored, VisibilityFilter, WriterScope } from './repository.js';
import { searchsetBundle } from './rest/bundles.js';

/** Most resources one transaction Bundle writes: what one ledger transaction commits atomically. */
export const MAX_TRANSACTION_WRITES = MAX_RECORD_ENTRIES;
/** Most entries of a batch Bundle. */
export const MAX_BATCH_ENTRIES = 10_000;
/**
 * Most search entries of a batch Bundle: each is a search like `GET Type?…` (bounded by
 * SEARCH_LIMITS, up to ~100 ms on a large node), so ten thousand of them would hold the node for
 * minutes. A client with more searches sends more batches.
 */
export const MAX_BATCH_SEARCHES = 100;

export type EntryRequest =
  | { readonly kind: 'create'; readonly type: string; readonly ifNoneExist?: string }
  | { readonly kind: 'update'; readonly type: string; readonly id: string; readonly ifMatch?: number }
  | { readonly kind: 'conditional-update'; readonly type: string; readonly query: string; readonly ifMatch?: number }
  | { readonly kind: 'delete'; readonly type: string; readonly id: string; readonly ifMatch?: number }
  | { readonly kind: 'read'; readonly type: string; readonly id: string; readonly version?: number }
  | { readonly kind: 'search'; readonly type: string; readonly query: string };

export interface ParsedEntry {
  readonly index: number;
  readonly fullUrl?: string;
  readonly resource?: unknown;
  readonly request: EntryRequest;
}

export interface ParsedBundle {
  readonly type: 'transaction' | 'batch';
  readonly entries: readonly ParsedEntry[];
}

export interface BundleOptions {
  /** Absolute base of the FHIR API (…/fhir) for fullUrl and location; relative if absent. */
  readonly base?: string;
  /** Prefer: return=… — the resource (representation), an OperationOutcome, or neither (minimal, default). */
  readonly prefer?: 'minimal' | 'representation' | 'OperationOutcome';
  /**
   * What the caller may see, per resource type (src/access): reads, searches and conditional
   * matches stay within it, and a hidden resource is answered like one that does not exist —
   * as the target of a write and as the target of a reference alike.
   */
  readonly visibility?: (type: string) => VisibilityFilter;
  /** The caller's access decisions on what the Bundle reads (src/fhir/rest/routes.ts logs them). */
  readonly reads?: BundleReads;
  /**
   * Whether the caller may create resources of a type with ids of its choosing (a PUT to an id
   * it does not see); default: yes. See WriterScope in ./repository.ts.
   */
  readonly createsWithId?: (type: string) => boolean;
}

/**
 * What a Bundle reads, for the caller to decide and log as it does a direct read: a GET entry of
 * a resource it may not see is answered like a missing one and reported as refused; one that is
 * found is checked (scope and compartment) for that entry alone; a conditional create that finds
 * its resource returns it, so it is reported as read.
 */
export interface BundleReads {
  readonly refused: (type: string, id: string) => void;
  /** Throws a FhirError (that entry's answer) if the resource may not be read. */
  readonly check: (resource: Resource) => void;
  readonly matched: (resource: Resource) => void;
}

/** The writer scope of a bundle's writes: none (the node's own, seeing everything) without `visibility`. */
function writerOf(options: BundleOptions): WriterScope | undefined {
  const sees = options.visibility;
  if (sees === undefined) return undefined;
  return { sees, createsWithId: options.createsWithId ?? (() => true) };
}

/** Throws 404 for a resource the caller may not see, exactly as for one that does not exist. */
function requireVisible(repository: FhirRepository, type: string, id: string, options: BundleOptions): void {
  if (options.visibility && repository.isHidden(type, id, options.visibility(type)))
    throw notFound(`${type}/${id} does not exist`);
}

/**
 * A read entry of a resource the caller may not see: reported as refused and answered exactly as
 * the read (or vread) of one that does not exist.
 */
function requireReadable(repository: FhirRepository, request: EntryRequest & { kind: 'read' }, options: BundleOptions): void {
  const { type, id, version } = request;
  if (!options.visibility || !repository.isHidden(type, id, options.visibility(type))) return;
  options.reads?.refused(type, id);
  throw notFound(`${version === undefined ? `${type}/${id}` : `${type}/${id}/_history/${version}`} does not exist`);
}

// ---------------------------------------------------------------------------------------------
// Pure: parsing

const TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const UUID_URN = /^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const OID_URN = /^urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const at = (index: number, rest = ''): string => `Bundle.entry[${index}]${rest}`;

/** `W/"3"` or `3` → 3. */
function parseEtag(value: unknown, index: number): number | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === 'string' ? /^(?:W\/)?"?([1-9][0-9]{0,8})"?$/.exec(value.trim()) : null;
  if (!match) throw badRequest('request.ifMatch must be an ETag like W/"3"', at(index, '.request.ifMatch'));
  return Number(match[1]);
}

/** The request URL of an entry, relative to the FHIR base (an absolute URL under `base` is accepted). */
export function parseEntryRequest(request: unknown, index: number, base?: string): EntryRequest {
  if (!isObject(request)) throw badRequest('every entry needs a request (method and url)', at(index, '.request'));
  const method = request['method'];
  const rawUrl = request['url'];
  if (typeof method !== 'string') throw badRequest('request.method is required', at(index, '.request.method'));
  if (typeof rawUrl !== 'string' || rawUrl === '') throw badRequest('request.url is required', at(index, '.request.url'));
  let url = rawUrl;
  if (base !== undefined && url.startsWith(`${base}/`)) url = url.slice(base.length + 1);
  if (url.startsWith('/')) url = url.slice(1);
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? undefined : url.slice(q + 1);
  const segments = path.split('/');
  const type = segments[0] ?? '';
  const badUrl = (why: string) =>
    badRequest(`request.url ${JSON.stringify(rawUrl.slice(0, 100))}: ${why}`, at(index, '.request.url'));
  if (!TYPE.test(type)) throw badUrl('must start with a resource type');
  const id = segments[1];
  if (id !== undefined && !ID.test(id)) throw badUrl('is not a valid resource id');
  const ifMatch = parseEtag(request['ifMatch'], index);
  const withMatch = ifMatch !== undefined ? { ifMatch } : {};
  switch (method) {
    case 'POST': {
      if (segments.length !== 1 || query !== undefined) throw badUrl('a create (POST) names only the type');
      const ifNoneExist = request['ifNoneExist'];
      if (ifNoneExist !== undefined && (typeof ifNoneExist !== 'string' || ifNoneExist.replace(/^\?/, '') === '')) {
        throw badRequest('request.ifNoneExist must be search parameters', at(index, '.request.ifNoneExist'));
      }
      return { kind: 'create', type, ...(ifNoneExist !== undefined && { ifNoneExist }) };
    }
    case 'PUT':
      if (segments.length === 1 && query !== undefined && query !== '')
        return { kind: 'conditional-update', type, query, ...withMatch };
      if (segments.length !== 2 || query !== undefined) throw badUrl('an update (PUT) is Type/id or Type?search');
      return { kind: 'update', type, id: id!, ...withMatch };
    case 'DELETE':
      if (segments.length === 1 && query !== undefined) {
        throw FhirError.of(400, 'not-supported', 'conditional delete is not supported', at(index, '.request.url'));
      }
      if (segments.length !== 2 || query !== undefined) throw badUrl('a delete is Type/id');
      return { kind: 'delete', type, id: id!, ...withMatch };
    case 'GET':
      if (segments.length === 1) return { kind: 'search', type, query: query ?? '' };
      if (segments.length === 2 && query === undefined) return { kind: 'read', type, id: id! };
      if (segments.length === 4 && segments[2] === '_history' && /^[1-9][0-9]{0,8}$/.test(segments[3]!) && query === undefined) {
        return { kind: 'read', type, id: id!, version: Number(segments[3]) };
      }
      throw badUrl('GET supports Type/id, Type/id/_history/vid and Type?search');
    case 'PATCH':
    case 'HEAD':
      throw FhirError.of(400, 'not-supported', `${method} entries are not supported`, at(index, '.request.method'));
    default:
      throw badRequest(`unknown request.method ${JSON.stringify(method.slice(0, 20))}`, at(index, '.request.method'));
  }
}

/** Structure of a transaction or batch Bundle; any structural fault is a 400 for the whole bundle. */
export function parseBundle(body: unknown, base?: string): ParsedBundle {
  if (!isObject(body) || body['resourceType'] !== 'Bundle') throw badRequest('POST to the base takes a Bundle resource');
  const type = body['type'];
  if (type !== 'transaction' && type !== 'batch') {
    throw badRequest(`Bundle.type must be transaction or batch, got ${JSON.stringify(type)}`, 'Bundle.type');
  }
  const rawEntries = body['entry'] ?? [];
  if (!Array.isArray(rawEntries)) throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
  if (type === 'batch' && rawEntries.length > MAX_BATCH_ENTRIES) {
    throw FhirError.of(400, 'too-costly', `a batch holds at most ${MAX_BATCH_ENTRIES} entries`, 'Bundle.entry');
  }
  const fullUrls = new Set<string>();
  const entries = rawEntries.map((raw: unknown, index): ParsedEntry => {
    if (!isObject(raw)) throw badRequest('an entry must be an object', at(index));
    const request = parseEntryRequest(raw['request'], index, base);
    const fullUrl = raw['fullUrl'];
    if (fullUrl !== undefined) {
      if (typeof fullUrl !== 'string' || fullUrl === '') throw badRequest('fullUrl must be a URI', at(index, '.fullUrl'));
      if (fullUrl.startsWith('urn:') && !UUID_URN.test(fullUrl) && !OID_URN.test(fullUrl)) {
        throw badRequest(
          `fullUrl ${JSON.stringify(fullUrl.slice(0, 80))} is not a valid urn:uuid or urn:oid`,
          at(index, '.fullUrl'),
        );
      }
      if (fullUrls.has(fullUrl)) throw badRequest(`fullUrl ${fullUrl} appears twice in the Bundle`, at(index, '.fullUrl'));
      fullUrls.add(fullUrl);
    }
    const resource = raw['resource'];
    const writes = request.kind === 'create' || request.kind === 'update' || request.kind === 'conditional-update';
    if (writes && !isObject(resource)) throw badRequest(`a ${request.kind} entry needs a resource`, at(index, '.resource'));
    if (!writes && resource !== undefined)
      throw badRequest(`a ${request.kind} entry carries no resource`, at(index, '.resource'));
    if (writes && (resource as Record<string, unknown>)['resourceType'] !== request.type) {
      throw badRequest(`the resource must be a ${request.type} (request.url)`, at(index, '.resource.resourceType'));
    }
    return {
      index,
      request,
      ...(typeof fullUrl === 'string' && { fullUrl }),
      ...(resource !== undefined && { resource }),
    };
  });
  const searches = entries.filter((e) => e.request.kind === 'search').length;
  if (searches > MAX_BATCH_SEARCHES) {
    throw FhirError.of(400, 'too-costly', `a batch holds at most ${MAX_BATCH_SEARCHES} search entries`, 'Bundle.entry');
  }
  return { type, entries };
}

// ---------------------------------------------------------------------------------------------
// Pure: references and errors

/**
 * A deep copy of `value` with every `reference` string found in `map` replaced (at any depth,
 * contained resources included).
 */
export function rewriteReferences<T>(value: T, map: ReadonlyMap<string, string>): T {
  if (map.size === 0) return structuredClone(value);
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!isObject(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(v)) {
      out[key] = key === 'reference' && typeof child === 'string' ? (map.get(child) ?? child) : walk(child);
    }
    return out;
  };
  return walk(value) as T;
}

/** The error of one entry: expressions re-rooted at `Bundle.entry[i]` (`Observation.status` → `Bundle.entry[i].resource.status`). */
export function entryError(error: unknown, index: number): unknown {
  if (!(error instanceof FhirError)) return error;
  const prefix = `entry ${index}: `;
  const issues = error.issues.map((issue): OperationOutcomeIssue => {
    if (issue.diagnostics?.startsWith(prefix)) return issue; // already the entry's
    const expression = (issue.expression ?? []).map((e) =>
      e.startsWith('Bundle.entry[') ? e : e.replace(/^[A-Z][A-Za-z]*(?=\.|$|\[)/, at(index, '.resource')),
    );
    return {
      ...issue,
      ...(issue.diagnostics !== undefined && { diagnostics: `${prefix}${issue.diagnostics}` }),
      expression: expression.length > 0 ? expression : [at(index)],
    };
  });
  return new FhirError(error.status, issues);
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  410: '410 Gone',
  412: '412 Precondition Failed',
  422: '422 Unprocessable Entity',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};
const statusText = (status: number): string => STATUS_TEXT[status] ?? String(status);

/** The response entry of a write (or of a conditional create that found its resource). */
export function writeResponseEntry(
  stored: { resource: Resource | null; type: string; id: string; version: number; lastUpdated: number },
  status: number,
  options: BundleOptions,
): BundleEntry {
  const prefix = options.base !== undefined ? `${options.base}/` : '';
  const response: BundleEntryResponse = {
    status: statusText(status),
    etag: `W/"${stored.version}"`,
    lastModified: new Date(stored.lastUpdated).toISOString(),
    ...(stored.resource !== null && { location: `${prefix}${stored.type}/${stored.id}/_history/${stored.version}` }),
    ...(options.prefer === 'OperationOutcome' && {
      outcome: outcome([
        {
          severity: 'information',
          code: 'informational',
          diagnostics: `${stored.type}/${stored.id} version ${stored.version} committed to the ledger`,
        },
      ]),
    }),
  };
  return {
    ...(stored.resource !== null && { fullUrl: `${prefix}${stored.type}/${stored.id}` }),
    ...(stored.resource !== null && options.prefer === 'representation' && { resource: stored.resource }),
    response,
  };
}

function errorResponseEntry(error: unknown): BundleEntry {
  const fhir = error instanceof FhirError ? error : FhirError.of(500, 'exception', 'internal error');
  return { response: { status: statusText(fhir.status), outcome: outcome(fhir.issues) } };
}

// ---------------------------------------------------------------------------------------------
// I/O: resolve, check, commit

/** What an entry does once resolved against the repository. */
type Planned =
  | {
      readonly index: number;
      readonly action: 'write';
      readonly type: string;
      readonly id: string;
      readonly input: unknown;
      readonly expectedVersion?: number;
    }
  | {
      readonly index: number;
      readonly action: 'delete';
      readonly type: string;
      readonly id: string;
      readonly expectedVersion?: number;
    }
  /** A conditional create that matched, or a delete of a deleted resource: nothing to write. */
  | {
      readonly index: number;
      readonly action: 'none';
      readonly type: string;
      readonly id: string;
      readonly stored?: Stored;
      readonly status: number;
    };

/** Resolves one write entry's target (conditional matches run against the state before the bundle). */
function resolve(repository: FhirRepository, entry: ParsedEntry, options: BundleOptions): Planned {
  const { index, request } = entry;
  const visibility = options.visibility?.(request.type);
  switch (request.kind) {
    case 'create': {
      if (request.ifNoneExist !== undefined) {
        const matches = repository.conditionalMatches(request.type, request.ifNoneExist, visibility);
        if (matches.length > 1)
          throw preconditionFailed(`ifNoneExist matched ${matches.length} or more ${request.type} resources`);
        const match = matches[0];
        if (match) {
          const stored = repository.read(request.type, match.id);
          options.reads?.matched(stored.resource);
          return { index, action: 'none', type: request.type, id: match.id, stored, status: 200 };
        }
      }
      return { index, action: 'write', type: request.type, id: randomUUID(), input: entry.resource, expectedVersion: 0 };
    }
    case 'update': {
      const resource = entry.resource as Record<string, unknown>;
      if (resource['id'] === undefined) throw badRequest('an update must carry the resource id', `${request.type}.id`);
      if (resource['id'] !== request.id)
        throw badRequest(`resource id does not match the request url (${request.id})`, `${request.type}.id`);
      repository.current(request.type, request.id); // checks type and id
      // A target the caller does not see is answered like an absent one (never written over).
      repository.checkUpdateTarget(request.type, request.id, writerOf(options));
      return {
        index,
        action: 'write',
        type: request.type,
        id: request.id,
        input: entry.resource,
        ...(request.ifMatch !== undefined && { expectedVersion: request.ifMatch }),
      };
    }
    case 'conditional-update': {
      const matches = repository.conditionalMatches(request.type, request.query, visibility);
      if (matches.length > 1)
        throw preconditionFailed(`the conditional update matched ${matches.length} or more ${request.type} resources`);
      const resource = entry.resource as Record<string, unknown>;
      const match = matches[0];
      const given = typeof resource['id'] === 'string' ? resource['id'] : undefined;
      if (match) {
        if (given !== undefined && given !== match.id) {
          throw badRequest(`resource id ${given} is not the id of the matching resource`, `${request.type}.id`);
        }
        if (request.ifMatch !== undefined && request.ifMatch !== match.version) {
          throw preconditionFailed(`${request.type}/${match.id} is at version ${match.version}, not ${request.ifMatch}`);
        }
        return {
          index,
          action: 'write',
          type: request.type,
          id: match.id,
          input: entry.resource,
          expectedVersion: match.version,
        };
      }
      // No match: a create, with the client's id if it gave one (update as create).
      const id = given ?? randomUUID();
      if (given !== undefined) {
        repository.current(request.type, given);
        repository.checkUpdateTarget(request.type, given, writerOf(options));
      }
      return {
        index,
        action: 'write',
        type: request.type,
        id,
        input: entry.resource,
        ...(given === undefined && { expectedVersion: 0 }),
      };
    }
    case 'delete': {
      const current = repository.current(request.type, request.id);
      if (!current) throw notFound(`${request.type}/${request.id} does not exist`);
      requireVisible(repository, request.type, request.id, options);
      if (request.ifMatch !== undefined && request.ifMatch !== current.version) {
        throw preconditionFailed(`${request.type}/${request.id} is at version ${current.version}, not ${request.ifMatch}`);
      }
      if (current.deleted) return { index, action: 'none', type: request.type, id: request.id, status: 204 };
      return { index, action: 'delete', type: request.type, id: request.id, expectedVersion: current.version };
    }
    case 'read':
    case 'search':
      throw FhirError.of(
        400,
        'not-supported',
        'GET entries are not supported in a transaction (send them in a batch)',
        at(index, '.request.method'),
      );
  }
}

/**
 * Runs write entries (all of a transaction, or one entry of a batch) all or nothing; the
 * response entries in the order of `entries`. Errors carry the entry's index.
 */
function runWrites(
  repository: FhirRepository,
  entries: readonly ParsedEntry[],
  actor: Actor,
  options: BundleOptions & { local: boolean },
): Promise<BundleEntry[]> {
  // Conditional creates and updates run in turn with every other conditional write of their types,
  // from the search to the commit, so two of them can never both find nothing and both create.
  const conditional = entries.flatMap(({ request }) =>
    (request.kind === 'create' && request.ifNoneExist !== undefined) || request.kind === 'conditional-update'
      ? [request.type]
      : [],
  );
  const run = (): Promise<BundleEntry[]> => resolveAndCommit(repository, entries, actor, options);
  return conditional.length > 0 ? repository.serializeConditional(conditional, run) : run();
}

async function resolveAndCommit(
  repository: FhirRepository,
  entries: readonly ParsedEntry[],
  actor: Actor,
  options: BundleOptions & { local: boolean },
): Promise<BundleEntry[]> {
  // 1. Resolve every entry's target.
  const plans: Planned[] = [];
  for (const entry of entries) {
    try {
      plans.push(resolve(repository, entry, options));
    } catch (error) {
      throw entryError(error, entry.index);
    }
  }
  const writes = plans.filter((p) => p.action !== 'none').length;
  if (writes > MAX_TRANSACTION_WRITES) {
    throw FhirError.of(
      400,
      'too-costly',
      `a transaction writes at most ${MAX_TRANSACTION_WRITES} resources atomically (this one writes ${writes}); split it`,
      'Bundle.entry',
    );
  }
  // 2. fullUrl → Type/id, and the resources this bundle writes or deletes.
  const map = new Map<string, string>();
  const targets = new Map<string, number>();
  const written = new Set<string>();
  const deleted = new Set<string>();
  for (const [k, plan] of plans.entries()) {
    const entry = entries[k]!;
    const key = `${plan.type}/${plan.id}`;
    if (options.local && entry.fullUrl !== undefined && entry.fullUrl.startsWith('urn:')) map.set(entry.fullUrl, key);
    if (plan.action === 'none') continue;
    const previous = targets.get(key);
    if (previous !== undefined) {
      throw badRequest(
        `${key} is the target of entries ${previous} and ${plan.index}; a resource may appear once`,
        at(plan.index),
      );
    }
    targets.set(key, plan.index);
    (plan.action === 'delete' ? deleted : written).add(key);
  }
  // 3. Rewrite, validate and check references of every resource before anything is written.
  const ops: PlannedWrite[] = [];
  const opIndex: number[] = [];
  for (const plan of plans) {
    if (plan.action === 'none') continue;
    try {
      if (plan.action === 'delete') {
        ops.push({
          op: 'delete',
          type: plan.type,
          id: plan.id,
          ...(plan.expectedVersion !== undefined && { expectedVersion: plan.expectedVersion }),
        });
      } else {
        const input = rewriteReferences({ ...(plan.input as Record<string, unknown>), id: plan.id }, map);
        const resource = repository.checkWrite(plan.type, input);
        for (const ref of referencesTo(resource, deleted)) {
          throw FhirError.of(422, 'processing', `${ref.reference} is deleted by this transaction`, ref.path);
        }
        repository.checkReferences(resource, written, options.visibility);
        ops.push({
          op: 'write',
          type: plan.type,
          id: plan.id,
          resource,
          ...(plan.expectedVersion !== undefined && { expectedVersion: plan.expectedVersion }),
        });
      }
      opIndex.push(plan.index);
    } catch (error) {
      throw entryError(error, plan.index);
    }
  }
  // 4. One ledger transaction for all of it.
  let committed: CommittedWrite[];
  try {
    committed = ops.length > 0 ? await repository.commitMany(ops, actor, options.visibility) : [];
  } catch (error) {
    // A failure of the commit as a whole (a conflict under the lock, the ledger's refusal): name
    // the entry whose resource the message names.
    if (!(error instanceof FhirError)) throw error;
    const named = error.issues[0]?.diagnostics?.match(/^([A-Z][A-Za-z]*\/[A-Za-z0-9\-.]{1,64})\b/)?.[1];
    const index = opIndex.length === 1 ? opIndex[0] : named !== undefined ? targets.get(named) : undefined;
    throw index !== undefined ? entryError(error, index) : error;
  }
  const byIndex = new Map<number, CommittedWrite>(committed.map((c, i) => [opIndex[i]!, c]));
  return plans.map((plan) => {
    if (plan.action === 'none') {
      if (plan.stored) {
        const { resource, version, lastUpdated } = plan.stored;
        return writeResponseEntry({ resource, type: plan.type, id: plan.id, version, lastUpdated }, plan.status, options);
      }
      return { response: { status: statusText(plan.status) } };
    }
    const c = byIndex.get(plan.index)!;
    return writeResponseEntry(c, c.resource === null ? 204 : c.created ? 201 : 200, options);
  });
}

/** References (relative, by Type/id) from a resource to any of `keys`. */
function referencesTo(resource: Resource, keys: ReadonlySet<string>): { path: string; reference: string }[] {
  if (keys.size === 0) return [];
  const out: { path: string; reference: string }[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) return v.forEach((c: unknown, i) => walk(c, `${path}[${i}]`));
    if (!isObject(v)) return;
    for (const [k, c] of Object.entries(v)) {
      if (k === 'reference' && typeof c === 'string') {
        const m = /^([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(c);
        if (m && keys.has(m[1]!)) out.push({ path: `${path}.reference`, reference: c });
      } else walk(c, `${path}.${k}`);
    }
  };
  walk(resource, resource.resourceType);
  return out;
}

/** A transaction Bundle: all entries or none. Returns the `transaction-response` Bundle. */
export async function processTransaction(
  repository: FhirRepository,
  body: unknown,
  actor: Actor,
  options: BundleOptions = {},
): Promise<Bundle> {
  const parsed = parseBundle(body, options.base);
  if (parsed.type !== 'transaction') throw badRequest('not a transaction Bundle', 'Bundle.type');
  return transactionOf(repository, parsed, actor, options);
}

async function transactionOf(
  repository: FhirRepository,
  parsed: ParsedBundle,
  actor: Actor,
  options: BundleOptions,
): Promise<Bundle> {
  const entries = await runWrites(repository, parsed.entries, actor, { ...options, local: true });
  return { resourceType: 'Bundle', type: 'transaction-response', ...(entries.length > 0 && { entry: entries }) };
}

/** A batch Bundle: each entry on its own. Returns the `batch-response` Bundle. */
export async function processBatch(
  repository: FhirRepository,
  body: unknown,
  actor: Actor,
  options: BundleOptions = {},
): Promise<Bundle> {
  const parsed = parseBundle(body, options.base);
  if (parsed.type !== 'batch') throw badRequest('not a batch Bundle', 'Bundle.type');
  return batchOf(repository, parsed, actor, options);
}

async function batchOf(repository: FhirRepository, parsed: ParsedBundle, actor: Actor, options: BundleOptions): Promise<Bundle> {
  const out: BundleEntry[] = [];
  for (const entry of parsed.entries) {
    // Reads and searches run synchronously on SQLite: give other requests a turn between entries.
    if (out.length > 0) await new Promise((resolve) => setImmediate(resolve));
    try {
      const { request } = entry;
      if (request.kind === 'read') {
        requireReadable(repository, request, options);
        const stored =
          request.version === undefined
            ? repository.read(request.type, request.id)
            : repository.vread(request.type, request.id, request.version);
        options.reads?.check(stored.resource);
        out.push({
          ...writeResponseEntry({ ...stored, type: request.type, id: request.id }, 200, options),
          resource: stored.resource,
        });
      } else if (request.kind === 'search') {
        const params = new URLSearchParams(request.query);
        const visibility = options.visibility?.(request.type);
        const result = repository.search(request.type, params, visibility ? { visibility } : {});
        out.push({
          resource: searchsetBundle(options.base ?? '', request.type, params, result),
          response: { status: statusText(200) },
        });
      } else {
        const [result] = await runWrites(repository, [entry], actor, { ...options, local: false });
        out.push(result!);
      }
    } catch (error) {
      if (!(error instanceof FhirError)) throw error;
      out.push(errorResponseEntry(entryError(error, entry.index)));
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', ...(out.length > 0 && { entry: out }) };
}

/** POST /fhir: a transaction or a batch Bundle. */
export async function processBundle(
  repository: FhirRepository,
  body: unknown,
  actor: Actor,
  options: BundleOptions = {},
): Promise<Bundle> {
  const parsed = parseBundle(body, options.base);
  return parsed.type === 'transaction'
    ? transactionOf(repository, parsed, actor, options)
    : batchOf(repository, parsed, actor, options);
}
