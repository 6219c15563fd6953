/**
 * The node's authentication service: the auth database, the token signing key, the
 * authorization server (one oidc-provider per public origin) and bearer-token verification for
 * the FHIR API, turning a token into a {@link Principal}.
 */
import type Provider from 'oidc-provider';
import type { LedgerNode } from '../node/ledger-node.js';
import { createProvider } from './provider.js';
import { ledgerAuthor, type Principal } from './principal.js';
import { intersect, parseScope, parseScopes } from './scopes.js';
import { AuthStore, type Account } from './store.js';
import { LoginThrottle } from './throttle.js';
import { VerifiedTokens } from './verified-tokens.js';
import { mintAccessToken, signingKey, TokenError, verifyAccessToken, type SigningKey } from './tokens.js';

/** At most this many origins (Host headers) get an authorization server instance each. */
const MAX_ORIGINS = 8;

export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    /** RFC 6750 error code for WWW-Authenticate (absent when no token was sent). */
    readonly oauthError: 'invalid_token' | 'insufficient_scope' | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `token` is covered by a client's registered scope list (resource scopes by intersection). */
export function clientAllows(clientScope: string | undefined, token: string): boolean {
  if (clientScope === undefined) return false;
  const allowed = parseScopes(clientScope).scopes;
  const parsed = parseScope(token);
  if (!parsed.ok) return false;
  if ('other' in parsed) return allowed.other.includes(parsed.other);
  const narrowed = intersect({ resources: [parsed.scope], other: [] }, allowed);
  return narrowed.resources.length === 1 && narrowed.resources[0]!.permissions.length === parsed.scope.permissions.length;
}

export class AuthService {
  readonly store: AuthStore;
  readonly key: SigningKey;
  /** Failed sign-ins per username (login page). */
  readonly logins = new LoginThrottle();
  readonly #node: LedgerNode;
  readonly #providers = new Map<string, Promise<Provider>>();
  readonly #verified = new VerifiedTokens();

  private constructor(node: LedgerNode, store: AuthStore, key: SigningKey) {
    this.#node = node;
    this.store = store;
    this.key = key;
  }

  /** Opens the auth database of the node's data directory (creating it and the signing key on first use). */
  static async open(node: LedgerNode, dataDir: string): Promise<AuthService> {
    const store = AuthStore.open(dataDir, node.keystore);
    try {
      return new AuthService(node, store, await signingKey(store));
    } catch (error) {
      store.close();
      throw error;
    }
  }

  get organization(): string {
    return this.#node.org.id;
  }

  /** The authorization server for a public origin (scheme://host:port). */
  provider(origin: string): Promise<Provider> {
    let provider = this.#providers.get(origin);
    if (provider) return provider;
    if (this.#providers.size >= MAX_ORIGINS) return Promise.reject(new Error('too many host names for this node'));
    provider = createProvider(origin, { store: this.store, key: this.key, clientAllows });
    this.#providers.set(origin, provider);
    return provider;
  }

  /** A token as the authorization server would issue it (operator CLI, tests, demo). */
  mint(options: Parameters<typeof mintAccessToken>[1]): Promise<string> {
    return mintAccessToken(this.key, options);
  }

  /**
   * The principal of a FHIR request at `origin` from its Authorization header: 401 without a
   * valid, unexpired token of this node for this FHIR base, or when its account or practitioner
   * is no longer active.
   */
  async authenticate(authorization: string | undefined, origin: string): Promise<Principal> {
    if (authorization === undefined || authorization === '')
      throw new AuthError(401, undefined, 'this FHIR server needs a bearer access token');
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization.trim());
    if (!match) throw new AuthError(401, 'invalid_token', 'the Authorization header is not a Bearer token');
    const token = match[1]!;
    let claims = this.#verified.get(token, origin, Math.floor(Date.now() / 1000));
    if (!claims) {
      try {
        claims = await verifyAccessToken(this.key, token, origin);
      } catch (error) {
        if (error instanceof TokenError) throw new AuthError(401, 'invalid_token', error.message);
        throw error;
      }
      this.#verified.put(token, origin, claims);
    }
    const scopes = parseScopes(claims.scope).scopes;
    const org = this.organization;
    if (claims.sub.startsWith('prac_') || claims.sub.startsWith('pat_')) {
      const account = this.store.account(claims.sub);
      if (!account || account.disabled) throw new AuthError(401, 'invalid_token', 'the account of this token is not active');
      return this.#accountPrincipal(account, claims.client_id, scopes);
    }
    if (claims.sub !== claims.client_id) throw new AuthError(401, 'invalid_token', 'the token names no account');
    return { kind: 'system', client: claims.client_id, org, scopes };
  }

  #accountPrincipal(account: Account, client: string, scopes: Principal['scopes']): Principal {
    if (account.kind === 'patient') {
      return { kind: 'patient', id: account.id, patient: account.patient!, scopes, client };
    }
    const participant = this.#node.chain.app.participant(account.id);
    if (!participant || participant.kind !== 'practitioner' || participant.status !== 'active')
      throw new AuthError(401, 'invalid_token', `${account.id} is not an active practitioner on the ledger`);
    if (participant.org !== this.organization)
      throw new AuthError(401, 'invalid_token', `${account.id} is not a practitioner of ${this.organization}`);
    return { kind: 'practitioner', id: account.id, org: this.organization, roles: participant.roles ?? [], scopes, client };
  }

  /** The ledger author of a write by `principal` (the organization still signs). */
  authorOf(principal: Principal): string {
    return ledgerAuthor(principal, this.organization, (id) => this.#node.chain.app.participant(id)?.status === 'active');
  }

  close(): void {
    this.store.close();
  }
}
