/**
 * The OAuth 2 / OpenID Connect authorization server: panva's oidc-provider, configured for SMART
 * App Launch 2 and mounted under /oauth by src/server/auth-routes.ts.
 *
 * - authorization code with PKCE for every client (S256 only; plain and missing challenges are
 *   refused), for the web app and third-party apps (public clients, token endpoint auth `none`);
 * - client_credentials with private_key_jwt (RS384 / ES384, also RS256 / ES256) for backend services;
 * - access tokens are JWTs (at+jwt, RS256, the node key) for the FHIR API as resource server,
 *   ACCESS_TOKEN_TTL_SECONDS long; refresh tokens (offline_access) rotate;
 * - introspection and revocation endpoints (revocation covers refresh tokens and grants; JWT access
 *   tokens simply expire);
 * - sessions, interactions, codes, grants and refresh tokens persist in the encrypted auth database.
 */
import type Provider from 'oidc-provider';
import type { Adapter, AdapterPayload, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { decodeJwt } from 'jose';
import { randomBytes } from 'node:crypto';
import { parseScope } from './scopes.js';
import type { AuthStore } from './store.js';
import { ACCESS_TOKEN_TTL_SECONDS, audienceOf, issuerOf, type SigningKey } from './tokens.js';

export const OIDC_SCOPES = ['openid', 'fhirUser', 'profile', 'launch/patient', 'offline_access', 'online_access'] as const;

/** oidc-provider's storage on the auth database. Clients come from the `clients` table. */
class SqliteAdapter implements Adapter {
  constructor(
    private readonly store: AuthStore,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const expires = expiresIn ? Date.now() + expiresIn * 1000 : null;
    this.store.db
      .prepare(
        'INSERT OR REPLACE INTO oidc (model, id, payload, grant_id, uid, user_code, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        this.model,
        id,
        JSON.stringify(payload),
        payload.grantId ?? null,
        payload.uid ?? null,
        payload.userCode ?? null,
        expires,
      );
    if (Math.random() < 0.01) this.store.db.prepare('DELETE FROM oidc WHERE expires_at < ?').run(Date.now());
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.model === 'Client') {
      // The stored `scope` also lists the SMART resource scopes the client may get; oidc-provider
      // only accepts its own (OpenID) scopes there, and the resource scopes are checked by
      // getResourceServerInfo against the stored list.
      const client = this.store.client(id);
      if (!client) return undefined;
      const scope = typeof client['scope'] === 'string' ? client['scope'] : '';
      const oidc = scope.split(' ').filter((s) => (OIDC_SCOPES as readonly string[]).includes(s));
      const { scope: _all, ...rest } = client;
      return (oidc.length > 0 ? { ...rest, scope: oidc.join(' ') } : rest) as AdapterPayload;
    }
    return this.#row('id = ?', id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#row('uid = ?', uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#row('user_code = ?', userCode);
  }

  async consume(id: string): Promise<void> {
    const row = await this.#row('id = ?', id);
    if (!row) return;
    this.store.db
      .prepare('UPDATE oidc SET payload = ? WHERE model = ? AND id = ?')
      .run(JSON.stringify({ ...row, consumed: Math.floor(Date.now() / 1000) }), this.model, id);
  }

  async destroy(id: string): Promise<void> {
    this.store.db.prepare('DELETE FROM oidc WHERE model = ? AND id = ?').run(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.db.prepare('DELETE FROM oidc WHERE grant_id = ?').run(grantId);
  }

  async #row(where: string, value: string): Promise<AdapterPayload | undefined> {
    const row = this.store.db
      .prepare(`SELECT payload, expires_at FROM oidc WHERE model = ? AND ${where}`)
      .get(this.model, value) as { payload: string; expires_at: number | null } | undefined;
    if (!row || (row.expires_at !== null && row.expires_at < Date.now())) return undefined;
    return JSON.parse(row.payload) as AdapterPayload;
  }
}

/** Requested scope tokens (authorization request, code or refresh token being exchanged). */
function requestedScopes(ctx: KoaContextWithOIDC): string[] {
  const entities = ctx.oidc.entities as Record<string, { scope?: string } | undefined>;
  const sources = [ctx.oidc.params?.['scope'], entities['AuthorizationCode']?.scope, entities['RefreshToken']?.scope];
  return sources.flatMap((s) => (typeof s === 'string' ? s.split(' ') : [])).filter((s) => s !== '');
}

export interface ProviderDependencies {
  readonly store: AuthStore;
  readonly key: SigningKey;
  /** Whether a scope token is one the client may be granted at all (its registered scope list). */
  readonly clientAllows: (clientScope: string | undefined, token: string) => boolean;
}

let library: Promise<typeof import('oidc-provider')> | undefined;

/**
 * oidc-provider, loaded on first use. Its import-time runtime check warns on Node 20 (it
 * recommends 22+); the project supports Node 20, so that one advisory line is dropped rather than
 * printed by every CLI command.
 */
function loadLibrary(): Promise<typeof import('oidc-provider')> {
  library ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return library;
}

/** An oidc-provider instance for a node reached at `origin` (issuer `${origin}/oauth`). */
export async function createProvider(origin: string, deps: ProviderDependencies): Promise<Provider> {
  const { default: Provider, errors } = await loadLibrary();
  const { store, key } = deps;
  const audience = audienceOf(origin);
  const cookieKeys = store.secretOrCreate('cookie-keys', () => JSON.stringify([randomBytes(32).toString('base64url')]));

  const configuration: Configuration = {
    adapter: (name: string) => new SqliteAdapter(store, name),
    jwks: { keys: [key.privateJwk as never] },
    cookies: {
      keys: JSON.parse(cookieKeys) as string[],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    pkce: { required: () => true },
    scopes: [...OIDC_SCOPES],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    // SMART wants fhirUser in the ID token itself, not only from the userinfo endpoint.
    conformIdTokenClaims: false,
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    clientAuthMethods: ['none', 'private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS384', 'ES384', 'RS256', 'ES256'],
      idTokenSigningAlgValues: ['RS256'],
    },
    extraParams: {
      // SMART: the authorization request names the FHIR server it wants a token for.
      aud(_ctx: KoaContextWithOIDC, value: string | undefined) {
        if (value !== undefined && value.replace(/\/+$/, '') !== audience)
          throw new errors.InvalidRequest(`aud must be this server's FHIR base URL ${audience}`);
      },
      launch: null,
    } as never,
    // Browser apps may call the token endpoint from the origins of their own redirect URIs.
    clientBasedCORS: (_ctx, origin, client) =>
      origin !== 'null' &&
      client.clientAuthMethod === 'none' &&
      (client.redirectUris ?? []).some((uri) => URL.canParse(uri) && new URL(uri).origin === origin),
    async findAccount(_ctx, sub) {
      const account = store.account(sub);
      if (!account || account.disabled) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          name: account.display,
          ...(account.fhirUser !== undefined && { fhirUser: `${audience}/${account.fhirUser}` }),
        }),
      };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // A client may introspect or revoke only its own tokens.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx: KoaContextWithOIDC, resource: string, client) {
          if (resource !== audience) throw new errors.InvalidTarget(`the only resource here is ${audience}`);
          const stored = store.client(client.clientId)?.['scope'];
          const clientScope = typeof stored === 'string' ? stored : undefined;
          const scope = requestedScopes(ctx)
            .filter((t) => {
              const parsed = parseScope(t);
              return parsed.ok && 'scope' in parsed && deps.clientAllows(clientScope, t);
            })
            .join(' ');
          return {
            scope,
            audience,
            accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      const accountId = (token as { accountId?: string }).accountId;
      const patient = accountId === undefined ? undefined : store.account(accountId)?.patient;
      return patient === undefined ? undefined : { patient };
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_SECONDS,
      ClientCredentials: ACCESS_TOKEN_TTL_SECONDS,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 30 * 24 * 3600,
      RefreshToken: 30 * 24 * 3600,
    },
    rotateRefreshToken: true,
    // offline_access: a refresh token that outlives the session; online_access (SMART): one that
    // ends with the user's session at the authorization server.
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || code.scopes.has('online_access')),
    interactions: { url: (_ctx, interaction) => `/oauth/interaction/${interaction.uid}` },
    async renderError(ctx, out) {
      ctx.type = 'html';
      const { errorPage } = await import('./pages.js');
      ctx.body = errorPage('Sign-in problem', `${out.error}: ${out.error_description ?? ''}`);
    },
  };

  const provider = new Provider(issuerOf(origin), configuration);
  // SMART: the token response names the patient in context (patient accounts).
  provider.use(async (ctx, next) => {
    // OpenID Connect drops offline_access unless the request says prompt=consent; SMART apps ask
    // for offline_access without it. Such a request gets prompt=consent added, so the user is
    // always asked before an app is given a refresh token.
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const query = new URLSearchParams(ctx.querystring);
      if (query.get('scope')?.split(' ').includes('offline_access') && !query.has('prompt') && !query.has('request')) {
        query.set('prompt', 'consent');
        const before = ctx.url;
        ctx.querystring = query.toString();
        // Keep the mount path derivable (originalUrl = mount path + url).
        const raw = ctx.req as typeof ctx.req & { originalUrl?: string };
        if (raw.originalUrl?.endsWith(before)) raw.originalUrl = raw.originalUrl.slice(0, -before.length) + ctx.url;
      }
    }
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (typeof body?.['access_token'] !== 'string') return;
    try {
      const claims = decodeJwt(body['access_token']);
      if (typeof claims['patient'] === 'string') body['patient'] = claims['patient'];
    } catch {
      // not a JWT: nothing to add
    }
  });
  return provider;
}
