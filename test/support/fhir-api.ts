/** Raw HTTP helpers for tests of the FHIR REST API at /fhir (plain fetch, no client library). */
import assert from 'node:assert/strict';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';

const bearers = new Map<string, string>();

/** Sends `token` as the bearer token on every `call`/`authFetch` to `origin` that names none itself. */
export function registerBearer(origin: string, token: string): void {
  bearers.set(new URL(origin).origin, token);
}

function withBearer(url: string, headers: Record<string, string>): Record<string, string> {
  if (Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) return headers;
  const token = bearers.get(new URL(url).origin);
  return token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` };
}

/** fetch with the registered bearer token of the URL's origin (see registerBearer). */
export function authFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  return fetch(url, { ...init, headers: withBearer(url, headers) });
}

export interface FhirReply<T = Resource> {
  readonly status: number;
  readonly headers: Headers;
  /** The raw body text ('' when empty). */
  readonly text: string;
  /** The parsed JSON body (undefined when empty). */
  readonly body: T;
}

export interface CallOptions {
  /** A value to JSON-encode, or a string sent as is. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** A fetch against `${base}${path}` (path may also be an absolute URL); JSON bodies default to application/fhir+json. */
export async function call<T = Resource>(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<FhirReply<T>> {
  const url = /^https?:/.test(path) ? path : `${base}${path}`;
  const headers: Record<string, string> = withBearer(url, { accept: 'application/fhir+json', ...options.headers });
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/fhir+json';
  }
  const response = await fetch(url, { method, headers, ...(body !== undefined && { body }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** Asserts an OperationOutcome with the given HTTP status and returns it. */
export function assertOutcome(reply: FhirReply<unknown>, status: number, code?: string): OperationOutcome {
  const outcome = reply.body as OperationOutcome | undefined;
  assert.equal(reply.status, status, `expected ${status}, got ${reply.status}: ${reply.text.slice(0, 500)}`);
  assert.equal(outcome?.resourceType, 'OperationOutcome', reply.text.slice(0, 300));
  assert.match(reply.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  assert.ok(outcome.issue.length > 0);
  if (code !== undefined)
    assert.ok(
      outcome.issue.some((i) => i.code === code),
      `expected an issue with code ${code}: ${reply.text.slice(0, 300)}`,
    );
  return outcome;
}

/** The resources of a Bundle's entries (optionally only those with the given search mode). */
export function entriesOf<T extends Resource = Resource>(bundle: Bundle, mode?: 'match' | 'include' | 'outcome'): T[] {
  return (bundle.entry ?? []).filter((e) => mode === undefined || e.search?.mode === mode).map((e) => e.resource as T);
}

export function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

/** Follows `next` links from a search or history URL, returning every entry's resource (guarding against loops). */
export async function collectPages(
  base: string,
  path: string,
  mode?: 'match',
): Promise<{ resources: Resource[]; pages: number }> {
  const resources: Resource[] = [];
  const seen = new Set<string>();
  let url: string | undefined = path;
  let pages = 0;
  while (url !== undefined) {
    assert.ok(!seen.has(url), `next link loops back to ${url}`);
    seen.add(url);
    const reply: FhirReply<Bundle> = await call<Bundle>(base, 'GET', url);
    assert.equal(reply.status, 200, reply.text.slice(0, 300));
    resources.push(...entriesOf(reply.body, mode));
    pages++;
    url = nextLink(reply.body);
  }
  return { resources, pages };
}

/** A resource without the server's meta.versionId / meta.lastUpdated (and without meta at all if nothing else is left). */
export function withoutServerMeta<T extends Resource>(resource: T): T {
  const { meta, ...rest } = resource as T & { meta?: Record<string, unknown> };
  if (meta === undefined) return rest as unknown as T;
  const { versionId: _v, lastUpdated: _l, ...keep } = meta;
  return (Object.keys(keep).length > 0 ? { ...rest, meta: keep } : rest) as unknown as T;
}
