/**
 * SMART on FHIR scopes (App Launch 2), parsed without side effects.
 *
 * A resource scope is `context/Type.perms`: context `patient` | `user` | `system`, Type a FHIR
 * resource type or `*`, perms a non-empty subset of `c r u d s` written in that order
 * (`patient/*.rs`, `user/Observation.cruds`, `system/*.r`).
 *
 * SMART v1 suffixes are MAPPED, as the App Launch 2 scope table does it: `.read` → `.rs`,
 * `.write` → `.cud`, `.*` → `.cruds`. Granular v2 scopes with a search query
 * (`patient/Observation.rs?category=…`) are REJECTED for now: the server does not yet evaluate
 * the query, and granting the whole type instead would widen what the user agreed to.
 *
 * Every other scope (`openid`, `fhirUser`, `launch/patient`, `offline_access`, …) is kept as is in
 * `other`; scopes that look like resource scopes but are malformed are returned as `rejected`.
 */

export const SCOPE_CONTEXTS = ['patient', 'user', 'system'] as const;
export type ScopeContext = (typeof SCOPE_CONTEXTS)[number];

export const PERMISSIONS = ['c', 'r', 'u', 'd', 's'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Scopes that are not about resources, which this server knows. */
export const NON_RESOURCE_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'launch/patient',
  'offline_access',
  'online_access',
] as const;

export interface ResourceScope {
  readonly context: ScopeContext;
  /** A FHIR resource type, or `*` for every type. */
  readonly type: string;
  /** Granted permissions, in c r u d s order, non-empty. */
  readonly permissions: readonly Permission[];
}

export interface ScopeSet {
  readonly resources: readonly ResourceScope[];
  /** Non-resource scopes, as requested (openid, fhirUser, launch/patient, …). */
  readonly other: readonly string[];
}

export type ParsedScope =
  | { readonly ok: true; readonly scope: ResourceScope }
  | { readonly ok: true; readonly other: string }
  | { readonly ok: false; readonly reason: string };

const TYPE = /^(?:\*|[A-Z][A-Za-z]{1,63})$/;
const V1: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
/** A plain scope token: printable ASCII without space, quote or backslash (RFC 6749 §3.3). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/;

/** Parses one scope token. */
export function parseScope(token: string): ParsedScope {
  if (!SCOPE_TOKEN.test(token)) return { ok: false, reason: 'not a valid scope token' };
  const slash = token.indexOf('/');
  const context = slash < 0 ? '' : token.slice(0, slash);
  if (!(SCOPE_CONTEXTS as readonly string[]).includes(context)) return { ok: true, other: token };
  const rest = token.slice(slash + 1);
  if (rest.includes('?')) return { ok: false, reason: 'granular scopes with a query are not supported' };
  const dot = rest.lastIndexOf('.');
  if (dot < 0) {
    // launch/patient-like tokens never start with a resource context; anything else is malformed.
    return { ok: false, reason: 'a resource scope is context/Type.permissions' };
  }
  const type = rest.slice(0, dot);
  const suffix = rest.slice(dot + 1);
  if (!TYPE.test(type)) return { ok: false, reason: `"${type.slice(0, 64)}" is not a resource type` };
  const permissions = V1[suffix] ?? permissionsOf(suffix);
  if (permissions === undefined)
    return { ok: false, reason: `"${suffix.slice(0, 16)}" is not a permission string (c r u d s in that order)` };
  return { ok: true, scope: { context: context as ScopeContext, type, permissions } };
}

function permissionsOf(suffix: string): Permission[] | undefined {
  if (suffix.length === 0 || suffix.length > 5) return undefined;
  const out: Permission[] = [];
  let last = -1;
  for (const ch of suffix) {
    const index = (PERMISSIONS as readonly string[]).indexOf(ch);
    if (index <= last) return undefined; // unknown letter, repeated, or out of order
    out.push(ch as Permission);
    last = index;
  }
  return out;
}

/** Parses a space-separated scope string. Unknown or malformed resource scopes are `rejected`. */
export function parseScopes(scope: string | undefined): { scopes: ScopeSet; rejected: string[] } {
  const resources: ResourceScope[] = [];
  const other: string[] = [];
  const rejected: string[] = [];
  const seen = new Set<string>();
  for (const token of (scope ?? '').split(' ')) {
    if (token === '' || seen.has(token)) continue;
    seen.add(token);
    const parsed = parseScope(token);
    if (!parsed.ok) rejected.push(token);
    else if ('scope' in parsed) resources.push(parsed.scope);
    else other.push(parsed.other);
  }
  return { scopes: { resources, other }, rejected };
}

/** The v2 spelling of a resource scope (`patient/Observation.rs`). */
export function formatScope(scope: ResourceScope): string {
  return `${scope.context}/${scope.type}.${scope.permissions.join('')}`;
}

/** The scope string of a set, resource scopes in their v2 spelling. */
export function formatScopes(set: ScopeSet): string {
  return [...set.other, ...set.resources.map(formatScope)].join(' ');
}

/** Whether any scope of one of `contexts` grants `permission` on `type`. */
export function grants(set: ScopeSet, contexts: readonly ScopeContext[], type: string, permission: Permission): boolean {
  return set.resources.some(
    (s) => contexts.includes(s.context) && (s.type === '*' || s.type === type) && s.permissions.includes(permission),
  );
}

/** Keeps only the resource scopes of the given contexts (e.g. a system client asking for patient/ scopes). */
export function restrictContexts(set: ScopeSet, contexts: readonly ScopeContext[]): ScopeSet {
  return { resources: set.resources.filter((s) => contexts.includes(s.context)), other: set.other };
}

/**
 * The part of `requested` that `allowed` covers: each requested resource scope is narrowed to the
 * permissions some allowed scope of the same context grants on its type (a `*` request is only
 * kept where an allowed `*` covers it). Non-resource scopes are kept when allowed names them.
 */
export function intersect(requested: ScopeSet, allowed: ScopeSet): ScopeSet {
  const resources: ResourceScope[] = [];
  for (const r of requested.resources) {
    const permissions = r.permissions.filter((p) =>
      allowed.resources.some(
        (a) => a.context === r.context && (a.type === '*' || a.type === r.type) && a.permissions.includes(p),
      ),
    );
    if (permissions.length > 0) resources.push({ context: r.context, type: r.type, permissions });
  }
  return { resources, other: requested.other.filter((o) => allowed.other.includes(o)) };
}
