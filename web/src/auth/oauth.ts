/**
 * Sign-in through the node's own SMART on FHIR authorization server: authorization code with
 * PKCE (S256) as the public client `medledger-web`. The verifier and state live in
 * sessionStorage only until the callback; the access token lives in sessionStorage for this tab
 * (never in localStorage, never logged) and is dropped when it expires.
 */
import { sha256 } from '@noble/hashes/sha2.js';
// Narrow imports: the shell must not pull the whole SDK (curves, Argon2) into the first load.
import { base64urlOf } from '../../../src/client/encoding.js';
import { randomBytes } from '../../../src/client/random.js';

export const CLIENT_ID = 'medledger-web';
export type Role = 'patient' | 'clinician';

export interface Session {
  readonly role: Role;
  readonly accessToken: string;
  readonly expiresAt: number;
  /** The token's subject: the patient's pseudonym (pat_…) or the practitioner (prac_…). */
  readonly subject: string;
  /** For a patient: their FHIR Patient id (the token response's launch context). */
  readonly patient?: string;
}

const SCOPES: Record<Role, string> = {
  patient: 'openid fhirUser launch/patient patient/*.rs',
  clinician: 'openid fhirUser user/*.cruds',
};

const PENDING = 'medledger.pending-sign-in';
const sessionKey = (role: Role) => `medledger.session.${role}`;
const redirectUri = () => `${location.origin}/app/callback`;

export async function beginSignIn(role: Role, returnTo: string): Promise<void> {
  const verifier = base64urlOf(randomBytes(32));
  const state = base64urlOf(randomBytes(16));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, role, returnTo }));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(),
    scope: SCOPES[role],
    state,
    code_challenge: base64urlOf(sha256(new TextEncoder().encode(verifier))),
    code_challenge_method: 'S256',
    aud: `${location.origin}/fhir`,
  });
  location.assign(`/oauth/auth?${params.toString()}`);
}

function claimsOf(jwt: string): Record<string, unknown> {
  const payload = jwt.split('.')[1] ?? '';
  const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(json) as Record<string, unknown>;
}

/** Finishes the code flow on /app/callback; returns where to go next. */
export async function completeSignIn(query: URLSearchParams): Promise<{ session: Session; returnTo: string }> {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as {
    verifier: string;
    state: string;
    role: Role;
    returnTo: string;
  } | null;
  sessionStorage.removeItem(PENDING);
  if (query.get('error')) {
    const reason = query.get('error_description') ?? query.get('error');
    throw new Error(`Sign-in did not complete: ${reason}`);
  }
  if (!pending || query.get('state') !== pending.state)
    throw new Error('This sign-in was not started here (or was already used). Please sign in again.');
  const code = query.get('code');
  if (!code) throw new Error('The sign-in answer carries no authorization code.');
  let response: Response;
  try {
    response = await fetch('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri(),
        client_id: CLIENT_ID,
        code_verifier: pending.verifier,
      }).toString(),
    });
  } catch {
    throw new Error('The node could not be reached to finish signing in.');
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok || typeof body['access_token'] !== 'string')
    throw new Error(`Sign-in failed: ${String(body['error_description'] ?? body['error'] ?? response.status)}`);
  const accessToken = body['access_token'];
  const claims = claimsOf(accessToken);
  const session: Session = {
    role: pending.role,
    accessToken,
    expiresAt: Date.now() + Number(body['expires_in'] ?? 600) * 1000,
    subject: String(claims['sub']),
    ...(typeof body['patient'] === 'string' && { patient: body['patient'] }),
  };
  if (pending.role === 'patient' && session.patient === undefined)
    throw new Error('This account is not a patient account. Use the clinician workspace instead.');
  if (pending.role === 'clinician' && session.patient !== undefined)
    throw new Error('This is a patient account. Use the patient portal instead.');
  sessionStorage.setItem(sessionKey(pending.role), JSON.stringify(session));
  return { session, returnTo: pending.returnTo };
}

export function currentSession(role: Role): Session | undefined {
  const session = JSON.parse(sessionStorage.getItem(sessionKey(role)) ?? 'null') as Session | null;
  if (!session) return undefined;
  if (session.expiresAt <= Date.now()) {
    sessionStorage.removeItem(sessionKey(role));
    return undefined;
  }
  return session;
}

export function signOut(role: Role): void {
  sessionStorage.removeItem(sessionKey(role));
}
