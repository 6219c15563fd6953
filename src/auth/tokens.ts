/**
 * Access tokens: JWTs (RFC 9068, `typ: at+jwt`) signed RS256 by the node's authorization-server
 * key and verified by the FHIR API with jose against the same key — no round trip per request.
 *
 * Why JWT and not opaque + introspection: the FHIR API and the authorization server run in the
 * same node, so the API can check a signature in microseconds, and operator-minted tokens (the
 * `medledger token` command, which runs beside the node without talking to it) need no shared
 * token table. The price is that a JWT cannot be revoked before it expires, so access tokens
 * live ACCESS_TOKEN_TTL_SECONDS (10 minutes); the account and, for practitioners, the ledger
 * participant status are checked again on every request, so a disabled account or a suspended
 * practitioner is refused at once anyway.
 *
 * RS256 because SMART App Launch and OpenID Connect require it for ID tokens; one key signs both.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  type JsonWebKey as NodeJwk,
  type KeyObject,
} from 'node:crypto';
import { calculateJwkThumbprint, errors, jwtVerify, SignJWT, type JWK } from 'jose';
import type { AuthStore } from './store.js';

export const ACCESS_TOKEN_TTL_SECONDS = 600;
export const TOKEN_ALG = 'RS256';
/** Leeway for expiry and issue times, against clock skew between token makers and this node. */
export const CLOCK_TOLERANCE_SECONDS = 30;

export interface SigningKey {
  readonly kid: string;
  /** Private JWK (with kid, alg, use). */
  readonly privateJwk: JWK;
  /** Public JWK (with kid, alg, use). */
  readonly publicJwk: JWK;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** The node's token signing key from the auth database (created there on first use unless readonly). */
export async function signingKey(store: AuthStore, options: { create?: boolean } = {}): Promise<SigningKey> {
  const make = (): string => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return JSON.stringify(privateKey.export({ format: 'jwk' }));
  };
  const raw = options.create === false ? store.secret('signing-key') : store.secretOrCreate('signing-key', make);
  if (raw === undefined) throw new Error('the node has no token signing key yet (start the node once first)');
  const base = JSON.parse(raw) as JWK;
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = base;
  const kid = await calculateJwkThumbprint(publicPart as JWK);
  const privateJwk: JWK = { ...base, kid, alg: TOKEN_ALG, use: 'sig' };
  const publicJwk: JWK = { ...publicPart, kid, alg: TOKEN_ALG, use: 'sig' };
  return {
    kid,
    privateJwk,
    publicJwk,
    privateKey: createPrivateKey({ key: base as NodeJwk, format: 'jwk' }),
    publicKey: createPublicKey({ key: publicPart as NodeJwk, format: 'jwk' }),
  };
}

/** The issuer and FHIR audience of a node reached at `origin` (scheme://host[:port]). */
export function issuerOf(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/oauth`;
}
export function audienceOf(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/fhir`;
}

export interface AccessTokenClaims {
  readonly iss: string;
  readonly aud: string;
  /** The account (`prac_…`, `pat_…`) or, for a backend service, its client id. */
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
  /** The FHIR Patient id of the launch context (patient accounts). */
  readonly patient?: string;
}

export interface MintOptions {
  readonly origin: string;
  readonly subject: string;
  readonly clientId: string;
  readonly scope: string;
  readonly patient?: string;
  readonly ttlSeconds?: number;
  /** Seconds since the epoch (tests). */
  readonly now?: number;
}

/** Signs an access token exactly like the authorization server issues them (operator CLI, tests). */
export async function mintAccessToken(key: SigningKey, options: MintOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const ttl = options.ttlSeconds ?? ACCESS_TOKEN_TTL_SECONDS;
  return new SignJWT({
    client_id: options.clientId,
    scope: options.scope,
    ...(options.patient !== undefined && { patient: options.patient }),
  })
    .setProtectedHeader({ alg: TOKEN_ALG, typ: 'at+jwt', kid: key.kid })
    .setIssuer(issuerOf(options.origin))
    .setAudience(audienceOf(options.origin))
    .setSubject(options.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

export class TokenError extends Error {
  constructor(
    readonly reason: 'expired' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies a bearer token for the FHIR API at `origin`: signature by the node key (RS256 only),
 * `typ` at+jwt, issuer, audience, expiry (30 s clock tolerance) and the claims a principal needs.
 */
export async function verifyAccessToken(
  key: SigningKey,
  token: string,
  origin: string,
  options: { now?: number } = {},
): Promise<AccessTokenClaims> {
  try {
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [TOKEN_ALG],
      typ: 'at+jwt',
      issuer: issuerOf(origin),
      audience: audienceOf(origin),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['sub', 'exp', 'iat', 'client_id'],
      ...(options.now !== undefined && { currentDate: new Date(options.now * 1000) }),
    });
    if (typeof payload['client_id'] !== 'string') throw new TokenError('invalid', 'the token names no client');
    if (payload['patient'] !== undefined && typeof payload['patient'] !== 'string')
      throw new TokenError('invalid', 'malformed patient claim');
    return {
      iss: payload.iss!,
      aud: audienceOf(origin),
      sub: payload.sub!,
      client_id: payload['client_id'],
      scope: typeof payload['scope'] === 'string' ? payload['scope'] : '',
      iat: payload.iat!,
      exp: payload.exp!,
      jti: typeof payload.jti === 'string' ? payload.jti : '',
      ...(typeof payload['patient'] === 'string' && { patient: payload['patient'] }),
    };
  } catch (error) {
    if (error instanceof TokenError) throw error;
    if (error instanceof errors.JWTExpired) throw new TokenError('expired', 'the access token has expired');
    if (error instanceof errors.JWTClaimValidationFailed)
      throw new TokenError('invalid', `the access token is not for this server (${error.claim})`);
    throw new TokenError('invalid', 'the access token is invalid');
  }
}
