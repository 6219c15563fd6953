/** Response Bundles: searchset and history, with absolute links. */
import type { Bundle, BundleEntry, BundleLink, Coding, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { HistoryEntry, SearchOutcome } from '../repository.js';

/** FHIR arrays are never empty: an empty Bundle has no `entry` at all. */
function nonEmpty(entry: BundleEntry[]): { entry?: BundleEntry[] } {
  return entry.length > 0 ? { entry } : {};
}

/** Keeps only the requested top-level elements (plus what every resource must carry). */
export function subset(resource: Resource, elements: readonly string[]): Resource {
  const keep = new Set(['resourceType', 'id', 'meta', ...elements]);
  const out = Object.fromEntries(Object.entries(resource).filter(([k]) => keep.has(k))) as Resource;
  const tag: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
  out.meta = { ...(out.meta ?? {}), tag: [...(out.meta?.tag ?? []), tag] };
  return out;
}

/** The request's own parameters with the page offset replaced: self and next links. */
function pageLink(base: string, type: string, params: URLSearchParams, offset: number | undefined): string {
  const next = new URLSearchParams(params);
  next.delete('_offset');
  next.delete('_cursor');
  if (offset !== undefined && offset > 0) next.set('_offset', String(offset));
  const query = next.toString();
  return `${base}/${type}${query ? `?${query}` : ''}`;
}

/** What other custodians added to a search (record exchange): their entries, totals and failures. */
export interface RemoteMatches {
  readonly entries: readonly (RemoteEntry & { readonly mode: 'match' | 'include' })[];
  /** Their matches in total, when every one of them counted. */
  readonly total?: number;
  /** Some custodian holds matches beyond this page (they run the search at this page's offset). */
  readonly more: boolean;
  readonly problems?: OperationOutcome;
}

/**
 * The next page's offset, while this node or another custodian has matches beyond this page.
 * None with `_count=0`: that link would repeat this request and a client following it would never stop.
 */
function nextPageOffset(result: SearchOutcome, remote: RemoteMatches | undefined): number | undefined {
  const { offset, count } = result.query;
  if (count === 0) return undefined;
  return result.nextOffset !== undefined || remote?.more ? offset + count : undefined;
}

export function searchsetBundle(
  base: string,
  type: string,
  params: URLSearchParams,
  result: SearchOutcome,
  remote?: RemoteMatches,
): Bundle {
  const elements = result.query.elements;
  const entry = (resource: Resource, mode: 'match' | 'include', home = base): BundleEntry => ({
    fullUrl: `${home}/${resource.resourceType}/${resource.id}`,
    resource: elements && mode === 'match' ? subset(resource, elements) : resource,
    search: { mode },
  });
  const link: BundleLink[] = [{ relation: 'self', url: pageLink(base, type, params, result.query.offset) }];
  const next = nextPageOffset(result, remote);
  if (next !== undefined) link.push({ relation: 'next', url: pageLink(base, type, params, next) });
  if (result.query.offset > 0) {
    link.push({ relation: 'previous', url: pageLink(base, type, params, Math.max(0, result.query.offset - result.query.count)) });
  }
  const warnings = result.query.warnings;
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total !== undefined && { total: result.total + (remote ? (remote.total ?? 0) : 0) }),
    link,
    ...nonEmpty([
      ...result.matches.map((r) => entry(r, 'match')),
      ...(remote?.entries ?? []).filter((r) => r.mode === 'match').map((r) => entry(r.resource, 'match', r.base)),
      ...result.included.map((r) => entry(r, 'include')),
      ...(remote?.entries ?? []).filter((r) => r.mode === 'include').map((r) => entry(r.resource, 'include', r.base)),
      ...(remote?.problems ? [{ resource: remote.problems, search: { mode: 'outcome' as const } }] : []),
      ...(warnings.length > 0
        ? [
            {
              resource: { resourceType: 'OperationOutcome', issue: [...warnings] } as Resource,
              search: { mode: 'outcome' as const },
            },
          ]
        : []),
    ]),
  };
}

export function historyBundle(
  base: string,
  path: string,
  entries: readonly HistoryEntry[],
  page: { count: number; offset: number; total: number },
): Bundle {
  const link: BundleLink[] = [{ relation: 'self', url: `${base}${path}?_count=${page.count}&_offset=${page.offset}` }];
  if (page.offset + entries.length < page.total) {
    link.push({ relation: 'next', url: `${base}${path}?_count=${page.count}&_offset=${page.offset + page.count}` });
  }
  return {
    resourceType: 'Bundle',
    type: 'history',
    total: page.total,
    link,
    ...nonEmpty(
      entries.map((e) => ({
        fullUrl: `${base}/${e.type}/${e.id}`,
        ...(e.resource !== null && { resource: e.resource }),
        request: { method: e.method, url: e.method === 'POST' ? e.type : `${e.type}/${e.id}` },
        response: {
          status: e.resource === null ? '204 No Content' : e.method === 'POST' ? '201 Created' : '200 OK',
          etag: `W/"${e.version}"`,
          lastModified: new Date(e.lastUpdated).toISOString(),
        },
      })),
    ),
  };
}

/** A resource held by another custodian (record exchange), with its home FHIR base. */
export interface RemoteEntry {
  readonly base: string;
  readonly resource: Resource;
}

/**
 * A searchset of whole resources ($everything): this node's, then those fetched from other
 * custodians (fullUrl at their home), then an OperationOutcome entry if some custodian could not
 * answer, so a partial record never looks complete.
 */
export function collectionBundle(
  type: 'searchset',
  base: string,
  resources: readonly Resource[],
  remote: readonly RemoteEntry[] = [],
  problems?: OperationOutcome,
): Bundle {
  const match = (home: string, resource: Resource): BundleEntry => ({
    fullUrl: `${home}/${resource.resourceType}/${resource.id}`,
    resource,
    search: { mode: 'match' },
  });
  return {
    resourceType: 'Bundle',
    type,
    total: resources.length + remote.length,
    ...nonEmpty([
      ...resources.map((resource) => match(base, resource)),
      ...remote.map((r) => match(r.base, r.resource)),
      ...(problems ? [{ resource: problems, search: { mode: 'outcome' as const } }] : []),
    ]),
  };
}
