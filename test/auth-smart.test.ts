/**
 * SMART on FHIR authentication end to end over HTTP: discovery, authorization code + PKCE through
 * the login and consent pages (plain fetch with a cookie jar), backend services with
 * private_key_jwt signed by jose, token verification failures, scope enforcement on every FHIR
 * interaction, and logs that never hold tokens or passwords.
 */
import assert from 'node:assert/strict';
import { openAccess } from '../src/node/access-ledger.js';
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { startTestNode, startTestServer, type TestServer } from './support/fixtures.js';
import { FhirRepository } from '../src/fhir/repository.js';
import { AuthService } from '../src/auth/service.js';
import { buildHttpServer, requestLogger } from '../src/server/http.js';
import { CLOCK_TOLERANCE_SECONDS, mintAccessToken, signingKey, type SigningKey } from '../src/auth/tokens.js';
import { VerifiedTokens } from '../src/auth/verified-tokens.js';

const REDIRECT = 'http://127.0.0.1:9/callback';
const APP = 'test-app';
const PASSWORD = 'alice-demo-password-1';

let server: TestServer;
let base: string;
let patientId: string;
let otherPatientId: string;

class Jar {
  readonly cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function step(jar: Jar, url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
  });
  jar.take(response);
  return response;
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

function authorizeUrl(params: Record<string, string>): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: APP,
    redirect_uri: REDIRECT,
    scope: 'openid fhirUser launch/patient patient/*.rs',
    state: 'state-1',
    aud: base,
    ...params,
  });
  for (const [k, v] of Object.entries(params)) if (v === '') query.delete(k);
  return `${server.url}/oauth/auth?${query}`;
}

/** Runs the browser part of the code flow: login form, consent form; returns the redirect to the app. */
async function browserFlow(url: string, username: string, password: string): Promise<URL> {
  const jar = new Jar();
  let response = await step(jar, url);
  for (let i = 0; i < 10; i++) {
    assert.ok([302, 303].includes(response.status), `expected a redirect, got ${response.status}: ${await response.text()}`);
    const location = new URL(response.headers.get('location')!, server.url);
    if (location.href.startsWith(REDIRECT)) return location;
    if (location.pathname.startsWith('/oauth/interaction/')) {
      const page = await step(jar, location.href);
      const html = await page.text();
      assert.equal(page.status, 200, html);
      assert.match(html, /<html lang="en">/);
      if (html.includes('name="password"')) {
        assert.match(html, /<label for="username">/);
        assert.match(html, /<label for="password">/);
        response = await step(jar, `${location.href}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username, password }).toString(),
        });
        if (response.status === 401) throw new Error('login refused');
      } else {
        assert.match(html, /Allow access/);
        response = await step(jar, `${location.href}/confirm`, { method: 'POST' });
      }
    } else {
      response = await step(jar, location.href);
    }
  }
  throw new Error('too many redirects');
}

async function token(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function fhir(method: string, path: string, bearer: string | undefined, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: {
      accept: 'application/fhir+json',
      ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }),
      ...(body !== undefined && {
        'content-type': Array.isArray(body) ? 'application/json-patch+json' : 'application/fhir+json',
      }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

async function codeFlow(scope: string, username = 'alice', password = PASSWORD): Promise<Record<string, unknown>> {
  const verifier = randomBytes(32).toString('base64url');
  const redirect = await browserFlow(
    authorizeUrl({ scope, code_challenge: s256(verifier), code_challenge_method: 'S256' }),
    username,
    password,
  );
  assert.equal(redirect.searchParams.get('state'), 'state-1');
  const code = redirect.searchParams.get('code');
  assert.ok(code, `no code in ${redirect.href}`);
  const exchanged = await token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    client_id: APP,
    code_verifier: verifier,
  });
  assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
  return exchanged.body;
}

before(async () => {
  server = await startTestServer({ fhir: true });
  base = `${server.url}/fhir`;
  const created = async (name: string) => {
    const res = await fhir('POST', '/Patient', server.token, { resourceType: 'Patient', name: [{ family: name }] });
    assert.equal(res.status, 201);
    return ((await res.json()) as Patient).id!;
  };
  patientId = await created('Alpha');
  otherPatientId = await created('Beta');
  for (const [p, value] of [
    [patientId, 1],
    [otherPatientId, 2],
  ] as const) {
    const res = await fhir('POST', '/Observation', server.token, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'marker' },
      subject: { reference: `Patient/${p}` },
      valueQuantity: { value },
    });
    assert.equal(res.status, 201);
  }
  const auth = server.auth!;
  auth.store.putClient({
    client_id: APP,
    client_name: 'Test App',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope: 'openid fhirUser launch/patient offline_access online_access patient/*.cruds user/*.cruds',
  });
  await auth.store.addAccount({
    id: server.fhir!.vault.patientPseudonym(patientId)!,
    kind: 'patient',
    username: 'alice',
    password: PASSWORD,
    patient: patientId,
    display: 'Alice Alpha',
  });
});

after(async () => {
  await server.close();
});

describe('SMART discovery', () => {
  it('serves smart-configuration at the root and at the FHIR base, without a token', async () => {
    for (const url of [`${server.url}/.well-known/smart-configuration`, `${base}/.well-known/smart-configuration`]) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const config = (await res.json()) as Record<string, unknown>;
      assert.equal(config['token_endpoint'], `${server.url}/oauth/token`);
      assert.equal(config['authorization_endpoint'], `${server.url}/oauth/auth`);
      assert.deepEqual(config['code_challenge_methods_supported'], ['S256']);
      assert.ok((config['token_endpoint_auth_methods_supported'] as string[]).includes('private_key_jwt'));
      for (const c of [
        'launch-standalone',
        'client-public',
        'client-confidential-asymmetric',
        'permission-v2',
        'context-standalone-patient',
        'sso-openid-connect',
      ])
        assert.ok((config['capabilities'] as string[]).includes(c), c);
    }
    const jwks = (await (await fetch(`${server.url}/oauth/jwks`)).json()) as { keys: { kid: string; d?: string }[] };
    assert.equal(jwks.keys[0]!.kid, server.auth!.key.kid);
    assert.equal(jwks.keys[0]!.d, undefined, 'no private key material in the JWKS');
    const metadata = await fetch(`${base}/metadata`);
    assert.equal(metadata.status, 200, 'the CapabilityStatement stays public');
  });
});

describe('authorization code + PKCE (patient, standalone launch)', () => {
  it('logs in, consents and gets a short-lived JWT with the patient in context', async () => {
    const body = await codeFlow('openid fhirUser launch/patient patient/*.rs');
    assert.equal(body['token_type'], 'Bearer');
    assert.equal(body['expires_in'], 600);
    assert.equal(body['patient'], patientId);
    assert.ok(typeof body['id_token'] === 'string');
    assert.equal(decodeJwt(String(body['id_token']))['fhirUser'], `${base}/Patient/${patientId}`);
    assert.match(String(body['scope']), /patient\/\*\.rs/);
    const accessToken = String(body['access_token']);

    assert.equal((await fhir('GET', `/Patient/${patientId}`, accessToken)).status, 200);
    // Another patient's record is answered like a missing one (consent enforcement hides it).
    const other = await fhir('GET', `/Patient/${otherPatientId}`, accessToken);
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as OperationOutcome).resourceType, 'OperationOutcome');
    const search = (await (await fhir('GET', '/Observation', accessToken)).json()) as Bundle;
    assert.deepEqual(
      search.entry?.map((e) => (e.resource as { subject: { reference: string } }).subject.reference),
      [`Patient/${patientId}`],
      'a patient search is confined to their compartment',
    );
    const everything = await fhir('GET', `/Patient/${patientId}/$everything`, accessToken);
    assert.equal(everything.status, 200);
    assert.equal((await fhir('GET', `/Patient/${otherPatientId}/$everything`, accessToken)).status, 403);
    const create = await fhir('POST', '/Observation', accessToken, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: `Patient/${patientId}` },
    });
    assert.equal(create.status, 403, 'rs does not allow create');
  });

  it('a patient with write scope writes only into their own compartment', async () => {
    const accessToken = String((await codeFlow('openid patient/Observation.cruds')).access_token);
    const own = await fhir('POST', '/Observation', accessToken, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'self-reported' },
      subject: { reference: `Patient/${patientId}` },
    });
    assert.equal(own.status, 201);
    const foreign = await fhir('POST', '/Observation', accessToken, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: `Patient/${otherPatientId}` },
    });
    assert.equal(foreign.status, 403);
    const conditional = await fetch(`${base}/Observation`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${accessToken}`,
        'content-type': 'application/fhir+json',
        'if-none-exist': 'code:text=marker',
      },
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'marker' },
        subject: { reference: `Patient/${patientId}` },
      }),
    });
    assert.equal(conditional.status, 403, 'If-None-Exist could match another patient: not for patient tokens');
  });

  it('refuses PKCE plain, a missing challenge, a missing or wrong code_verifier, and a foreign aud', async () => {
    const verifier = randomBytes(32).toString('base64url');
    for (const params of [
      { code_challenge: verifier, code_challenge_method: 'plain' },
      { code_challenge: '', code_challenge_method: '' },
      { code_challenge: s256(verifier), code_challenge_method: 'S256', aud: 'https://elsewhere.example/fhir' },
    ]) {
      const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
      const location = res.headers.get('location') ?? '';
      const refused = location.startsWith(REDIRECT)
        ? new URL(location).searchParams.get('error')
        : res.status >= 400
          ? 'error'
          : null;
      assert.ok(refused, `expected a refusal for ${JSON.stringify(params)}, got ${res.status} ${location}`);
      assert.ok(!location.includes('/oauth/interaction/'), 'no login page for a bad request');
    }

    const redirect = await browserFlow(
      authorizeUrl({ code_challenge: s256(verifier), code_challenge_method: 'S256' }),
      'alice',
      PASSWORD,
    );
    const code = redirect.searchParams.get('code')!;
    const missing = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: APP });
    assert.equal(missing.status, 400);
    assert.equal(missing.body['error'], 'invalid_grant');
    const redirect2 = await browserFlow(
      authorizeUrl({ code_challenge: s256(verifier), code_challenge_method: 'S256' }),
      'alice',
      PASSWORD,
    );
    const wrong = await token({
      grant_type: 'authorization_code',
      code: redirect2.searchParams.get('code')!,
      redirect_uri: REDIRECT,
      client_id: APP,
      code_verifier: randomBytes(32).toString('base64url'),
    });
    assert.equal(wrong.body['error'], 'invalid_grant');
  });

  it('a wrong password gets the login page again with an error, and no code', async () => {
    await assert.rejects(
      browserFlow(
        authorizeUrl({ code_challenge: s256('x'.repeat(43)), code_challenge_method: 'S256' }),
        'alice',
        'wrong-password',
      ),
      /login refused/,
    );
  });
});

describe('authorization code + PKCE (clinician)', () => {
  it('a clinician gets user/ scopes (patient/ ones are refused on the consent page) and an online_access refresh token', async () => {
    await server.addPractitioner('prac_grey');
    await server.auth!.store.addAccount({
      id: 'prac_grey',
      kind: 'practitioner',
      username: 'grey',
      password: 'grey-password-1',
      display: 'Dr Grey',
      fhirUser: 'Practitioner/grey-1',
    });
    const body = await codeFlow('openid fhirUser online_access user/*.rs patient/*.rs', 'grey', 'grey-password-1');
    assert.equal(body['patient'], undefined, 'no patient context for a clinician');
    assert.equal(decodeJwt(String(body['id_token']))['fhirUser'], `${base}/Practitioner/grey-1`);
    const scopes = String(body['scope']).split(' ');
    assert.ok(scopes.includes('user/*.rs'));
    assert.ok(!scopes.includes('patient/*.rs'));
    assert.ok(typeof body['refresh_token'] === 'string', 'online_access gives a refresh token');
    const bearer = String(body['access_token']);
    // Scopes do not confine a clinician to one patient; the patient's consent does (no grant here,
    // so the record is hidden: see test/authz-matrix.test.ts).
    assert.equal((await fhir('GET', `/Patient/${otherPatientId}`, bearer)).status, 404);
    const create = await fhir('POST', '/Observation', bearer, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: `Patient/${patientId}` },
    });
    assert.equal(create.status, 403);
  });
});

describe('refresh tokens, revocation and sign-in throttling', () => {
  it('offline_access gives a refresh token that renews the same scopes, until it is revoked', async () => {
    const body = await codeFlow('openid offline_access patient/Observation.rs');
    const refresh = String(body['refresh_token']);
    assert.ok(refresh.length > 20, 'a refresh token');
    const renewed = await token({ grant_type: 'refresh_token', refresh_token: refresh, client_id: APP });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.match(String(renewed.body['scope']), /(^| )patient\/Observation\.rs( |$)/);
    assert.equal(renewed.body['patient'], patientId);
    const bearer = String(renewed.body['access_token']);
    assert.equal((await fhir('GET', '/Observation', bearer)).status, 200);
    assert.equal((await fhir('GET', '/Condition', bearer)).status, 403);
    const next = String(renewed.body['refresh_token']);
    const introspect = async (tokenValue: string, clientId: string) =>
      (await (
        await fetch(`${server.url}/oauth/token/introspection`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: tokenValue, client_id: clientId }).toString(),
        })
      ).json()) as { active: boolean; scope?: string };
    const own = await introspect(next, APP);
    assert.equal(own.active, true, 'a client introspects its own refresh token');
    assert.match(own.scope ?? '', /patient\/Observation\.rs/);
    const revoked = await fetch(`${server.url}/oauth/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: next, client_id: APP }).toString(),
    });
    assert.equal(revoked.status, 200);
    const after = await token({ grant_type: 'refresh_token', refresh_token: next, client_id: APP });
    assert.equal(after.body['error'], 'invalid_grant');
  });

  it('locks a username after 5 failed sign-ins, even for the right password', async () => {
    await server.auth!.store.addAccount({
      id: server.fhir!.vault.patientPseudonym(otherPatientId)!,
      kind: 'patient',
      username: 'bob',
      password: 'bob-password-123',
      patient: otherPatientId,
      display: 'Bob Beta',
    });
    const url = authorizeUrl({ code_challenge: s256('y'.repeat(43)), code_challenge_method: 'S256' });
    for (let i = 0; i < 5; i++) await assert.rejects(browserFlow(url, 'bob', `wrong-${i}`), /login refused/);
    const jar = new Jar();
    const start = await step(jar, url);
    const interaction = new URL(start.headers.get('location')!, server.url).href;
    await step(jar, interaction);
    const locked = await step(jar, `${interaction}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'bob', password: 'bob-password-123' }).toString(),
    });
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    assert.match(await locked.text(), /Too many failed sign-ins/);
  });
});

describe('CORS for browser apps', () => {
  it('the token endpoint answers cross-origin requests from the origin of a public client redirect URI only', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', client_id: APP }).toString(),
      });
    const allowed = await preflight('http://127.0.0.1:9');
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://127.0.0.1:9');
    const foreign = await preflight('http://evil.example');
    assert.notEqual(foreign.headers.get('access-control-allow-origin'), 'http://evil.example');
  });
});

describe('backend services: client_credentials with private_key_jwt', () => {
  it('issues a system token for an RS384 client assertion and enforces its scopes', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'svc-key-1', alg: 'RS384' };
    server.auth!.store.putClient({
      client_id: 'lab-system',
      client_name: 'Lab system',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS384',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: { keys: [jwk] },
      scope: 'system/*.rs system/Observation.c',
    });
    const assertion = (aud: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS384', kid: 'svc-key-1' })
        .setIssuer('lab-system')
        .setSubject('lab-system')
        .setAudience(aud)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(privateKey);
    const form = async (scope: string, aud = `${server.url}/oauth/token`) => ({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(aud),
    });
    const issued = await token(await form('system/*.rs system/Patient.d'));
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    assert.equal(issued.body['scope'], 'system/*.rs', 'scopes the client is not registered for are dropped');
    const bearer = String(issued.body['access_token']);
    assert.equal((await fhir('GET', `/Patient/${patientId}`, bearer)).status, 200);
    assert.equal((await fhir('GET', '/Observation?_count=1', bearer)).status, 200);
    assert.equal((await fhir('DELETE', `/Patient/${patientId}`, bearer)).status, 403);

    const unsigned = await token({ ...(await form('system/*.rs')), client_assertion: 'e30.e30.' });
    assert.equal(unsigned.status, 401);
    const { privateKey: otherKey } = await generateKeyPair('RS384');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS384', kid: 'svc-key-1' })
      .setIssuer('lab-system')
      .setSubject('lab-system')
      .setAudience(`${server.url}/oauth/token`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(otherKey);
    assert.equal((await token({ ...(await form('system/*.rs')), client_assertion: forged })).status, 401);
  });
  it('accepts ES384 client assertions too', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES384');
    server.auth!.store.putClient({
      client_id: 'ecg-system',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES384',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'ecg-1', alg: 'ES384' }] },
      scope: 'system/Observation.rs',
    });
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'ecg-1' })
      .setIssuer('ecg-system')
      .setSubject('ecg-system')
      .setAudience(`${server.url}/oauth/token`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
    const issued = await token({
      grant_type: 'client_credentials',
      scope: 'system/Observation.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const bearer = String(issued.body['access_token']);
    assert.equal((await fhir('GET', '/Observation?_count=1', bearer)).status, 200);
    // A batch search with _include returns only what the token may read: no Patient.
    const batch = await fhir('POST', '', bearer, {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: 'Observation?_include=Observation:patient' } }],
    });
    assert.equal(batch.status, 200);
    const inner = ((await batch.json()) as Bundle).entry![0]!.resource as Bundle;
    assert.ok((inner.entry ?? []).length > 0);
    assert.ok(
      inner.entry!.every((e) => e.resource?.resourceType === 'Observation'),
      'no included Patient',
    );
  });
});

describe('bearer token verification on /fhir', () => {
  const challenge = (res: Response) => res.headers.get('www-authenticate') ?? '';

  it('401 with WWW-Authenticate: Bearer for a missing, malformed, expired, foreign-signed or wrong-audience token', async () => {
    const missing = await fhir('GET', `/Patient/${patientId}`, undefined);
    assert.equal(missing.status, 401);
    assert.match(challenge(missing), /^Bearer /);
    assert.equal(((await missing.json()) as OperationOutcome).resourceType, 'OperationOutcome');

    const key = server.auth!.key;
    const mint = (k: SigningKey, options: Partial<Parameters<typeof mintAccessToken>[1]>) =>
      mintAccessToken(k, { origin: server.url, subject: 'svc', clientId: 'svc', scope: 'system/*.cruds', ...options });
    const now = Math.floor(Date.now() / 1000);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const stranger: SigningKey = { ...key, privateKey };
    const cases: [string, string][] = [
      ['garbage', 'not-a-token'],
      ['expired', await mint(key, { now: now - 3600, ttlSeconds: 600 })],
      ['wrong signature', await mint(stranger, {})],
      ['wrong audience', await mint(key, { origin: 'http://127.0.0.1:1' })],
    ];
    for (const [what, bearer] of cases) {
      const res = await fhir('GET', `/Patient/${patientId}`, bearer);
      assert.equal(res.status, 401, what);
      assert.match(challenge(res), /^Bearer .*error="invalid_token"/, what);
    }
    assert.match(challenge(await fhir('GET', '/Patient', (await mint(key, { now: now - 3600 })) as string)), /expired/);
  });

  it('a token verified once is not a pass for look-alikes: an altered signature or payload is still refused', async () => {
    const token = await server.auth!.mint({ origin: server.url, subject: 'svc', clientId: 'svc', scope: 'system/*.cruds' });
    assert.equal((await fhir('GET', `/Patient/${patientId}`, token)).status, 200);
    assert.equal((await fhir('GET', `/Patient/${patientId}`, token)).status, 200, 'the same token again');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds user/*.cruds' })).toString('base64url');
    for (const [what, forged] of [
      ['altered signature', `${header}.${payload}.${flip(signature)}`],
      ['altered payload', `${header}.${widened}.${signature}`],
    ]) {
      assert.equal((await fhir('GET', `/Patient/${patientId}`, forged)).status, 401, what);
    }
  });

  it('remembered tokens expire with their exp (plus the clock tolerance) and the oldest is forgotten first', () => {
    const cache = new VerifiedTokens(2);
    const claims = (exp: number) => ({ iss: 'i', aud: 'a', sub: 's', client_id: 'c', scope: '', iat: 0, exp, jti: 'j' });
    cache.put('t1', 'o', claims(1000));
    assert.equal(cache.get('t1', 'o', 1000 + CLOCK_TOLERANCE_SECONDS)?.exp, 1000);
    assert.equal(cache.get('t1', 'other-origin', 1000), undefined, 'verified for another origin only');
    assert.equal(cache.get('t1', 'o', 1001 + CLOCK_TOLERANCE_SECONDS), undefined, 'expired');
    assert.equal(cache.size, 0, 'an expired entry is dropped');
    cache.put('a', 'o', claims(5000));
    cache.put('b', 'o', claims(5000));
    cache.put('c', 'o', claims(5000));
    assert.equal(cache.get('a', 'o', 0), undefined, 'the oldest made room');
    assert.equal(cache.get('c', 'o', 0)?.exp, 5000);
  });

  it('a practitioner token needs an active practitioner of this organization on the ledger', async () => {
    const auth = server.auth!;
    await auth.store.addAccount({
      id: 'prac_ghost',
      kind: 'practitioner',
      username: 'ghost',
      password: 'ghost-password',
      display: 'Ghost',
    });
    const ghost = await auth.mint({ origin: server.url, subject: 'prac_ghost', clientId: APP, scope: 'user/*.cruds' });
    assert.equal((await fhir('GET', `/Patient/${patientId}`, ghost)).status, 401, 'not on the ledger');

    await server.addPractitioner('prac_house');
    await auth.store.addAccount({
      id: 'prac_house',
      kind: 'practitioner',
      username: 'house',
      password: 'house-password',
      display: 'Dr House',
    });
    const house = await auth.mint({ origin: server.url, subject: 'prac_house', clientId: APP, scope: 'user/*.cruds' });
    // A write names only records its author sees: house records about a patient he registered
    // himself (the test patient, which he does not see, would be "does not exist").
    const registered = await fhir('POST', '/Patient', house, { resourceType: 'Patient', name: [{ family: 'Of House' }] });
    assert.equal(registered.status, 201);
    const created = await fhir('POST', '/Observation', house, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'by house' },
      subject: { reference: `Patient/${((await registered.json()) as { id: string }).id}` },
    });
    assert.equal(created.status, 201);
    const id = ((await created.json()) as { id: string }).id;
    const version = server
      .fhir!.vault.db.prepare(
        "SELECT v.author FROM versions v JOIN current c ON c.res = v.res WHERE c.type = 'Observation' AND c.id = ?",
      )
      .get(id) as { author: string };
    assert.equal(version.author, 'prac_house', 'the authenticated practitioner is the ledger author');

    auth.store.setDisabled('prac_house', true);
    assert.equal((await fhir('GET', `/Patient/${patientId}`, house)).status, 401, 'a disabled account is refused at once');
  });
});

describe('scope enforcement per interaction', () => {
  let readOnly: string;
  let obsId: string;

  before(async () => {
    readOnly = await server.auth!.mint({ origin: server.url, subject: 'ro', clientId: 'ro', scope: 'system/Observation.r' });
    const search = (await (await fhir('GET', '/Observation?_count=1', server.token)).json()) as Bundle;
    obsId = search.entry![0]!.resource!.id!;
  });

  it('allows exactly what the scope names and answers 403 OperationOutcome for the rest', async () => {
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: `Patient/${patientId}` },
    };
    const cases: [string, string, unknown, number][] = [
      ['GET', `/Observation/${obsId}`, undefined, 200],
      ['GET', `/Observation/${obsId}/_history/1`, undefined, 200],
      ['GET', '/Observation', undefined, 403],
      ['POST', '/Observation/_search', undefined, 403],
      ['GET', `/Observation/${obsId}/_history`, undefined, 403],
      ['GET', '/Observation/_history', undefined, 403],
      ['GET', '/_history', undefined, 403],
      ['POST', '/Observation', obs, 403],
      ['PUT', `/Observation/${obsId}`, { ...obs, id: obsId }, 403],
      ['PATCH', `/Observation/${obsId}`, [{ op: 'replace', path: '/status', value: 'amended' }], 403],
      ['DELETE', `/Observation/${obsId}`, undefined, 403],
      ['GET', `/Patient/${patientId}`, undefined, 403],
      ['GET', `/Patient/${patientId}/$everything`, undefined, 403],
      ['GET', `/Provenance?target=Observation/${obsId}`, undefined, 403],
      [
        'POST',
        '',
        { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${patientId}` } }] },
        403,
      ],
      [
        'POST',
        '',
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: obs, request: { method: 'POST', url: 'Observation' } }],
        },
        403,
      ],
      [
        'POST',
        '',
        { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Observation/${obsId}` } }] },
        200,
      ],
      ['GET', '/metadata', undefined, 200],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await fhir(method, path, readOnly, body);
      const text = await res.text();
      assert.equal(res.status, status, `${method} ${path}: ${text.slice(0, 200)}`);
      if (status === 403) {
        assert.equal((JSON.parse(text) as OperationOutcome).resourceType, 'OperationOutcome');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="insufficient_scope"/);
      }
    }
    // A conditional create searches and may return the match: c alone is not enough.
    const createOnly = await server.auth!.mint({
      origin: server.url,
      subject: 'co',
      clientId: 'co',
      scope: 'system/Observation.c',
    });
    const conditional = await fetch(`${base}/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${createOnly}`, 'content-type': 'application/fhir+json', 'if-none-exist': 'code=marker' },
      body: JSON.stringify(obs),
    });
    assert.equal(conditional.status, 403);
    const plain = await fhir('POST', '/Observation', createOnly, obs);
    assert.equal(plain.status, 201);
    const binary = await fetch(`${base}/Binary`, {
      method: 'POST',
      headers: { authorization: `Bearer ${readOnly}`, 'content-type': 'application/pdf' },
      body: Buffer.from('%PDF-1.4'),
    });
    assert.equal(binary.status, 403);
  });
});

describe('logs', () => {
  it('never contain access tokens, authorization codes or passwords', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const node = await startTestNode();
    const repository = await FhirRepository.open(node.node, node.dir);
    const auth = await AuthService.open(node.node, node.dir);
    const access = openAccess(node.node, node.dir);
    const app = await buildHttpServer(node.node, {
      fhir: repository,
      auth,
      access,
      logger: { ...(requestLogger('info') as object), stream } as never,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const key = await signingKey(auth.store);
      const planted = await mintAccessToken(key, { origin: url, subject: 'svc', clientId: 'svc', scope: 'system/*.cruds' });
      const res = await fetch(`${url}/fhir/Patient?name=Secretname`, { headers: { authorization: `Bearer ${planted}` } });
      assert.equal(res.status, 200);
      // PHI in a body, and an emergency justification, never reach the log either.
      const created = await fetch(`${url}/fhir/Patient`, {
        method: 'POST',
        headers: { authorization: `Bearer ${planted}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Plantedfamilyname' }], birthDate: '1950-01-01' }),
      });
      assert.equal(created.status, 201);
      const patientId = ((await created.json()) as { id: string }).id;
      await fetch(`${url}/fhir/Patient/${patientId}/$break-glass`, {
        method: 'POST',
        headers: { authorization: `Bearer ${planted}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Parameters',
          parameter: [
            { name: 'reason', valueCode: 'other' },
            { name: 'justification', valueString: 'planted-justification-text' },
          ],
        }),
      });
      await fetch(`${url}/fhir/Patient`, { headers: { authorization: 'Bearer planted-bad-token-value' } });
      // The ledger API's gated routes (a good token, a bad one, none) and a subject's event stream.
      const { org } = node;
      const txs = await fetch(`${url}/api/v1/subjects/${org.id}/txs`, { headers: { authorization: `Bearer ${planted}` } });
      assert.equal(txs.status, 200);
      await fetch(`${url}/api/v1/blocks?from=1`, { headers: { authorization: 'Bearer planted-bad-token-value' } });
      await fetch(`${url}/api/v1/blocks?from=1`);
      const stream = await fetch(`${url}/api/v1/subjects/${org.id}/events`, { headers: { authorization: `Bearer ${planted}` } });
      assert.equal(stream.status, 200);
      await stream.body!.cancel();
      const secretPassword = 'planted-password-value-42';
      auth.store.putClient({
        client_id: APP,
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        scope: 'openid patient/*.rs',
      });
      const jar = new Jar();
      const start = await step(
        jar,
        `${url}/oauth/auth?${new URLSearchParams({ response_type: 'code', client_id: APP, redirect_uri: REDIRECT, scope: 'openid patient/*.rs', code_challenge: s256('v'.repeat(43)), code_challenge_method: 'S256', state: 'planted-state' })}`,
      );
      const interaction = new URL(start.headers.get('location')!, url).href;
      await step(jar, interaction);
      await step(jar, `${interaction}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'nobody', password: secretPassword }).toString(),
      });
    } finally {
      await app.close();
      auth.close();
      await access.close();
      await repository.close();
      await node.close();
    }
    const log = lines.join('');
    assert.ok(log.length > 0, 'the server logged requests');
    for (const secret of [
      'planted-password-value-42',
      'planted-bad-token-value',
      'Secretname',
      'planted-state',
      'eyJ',
      'Plantedfamilyname',
      '1950-01-01',
      'planted-justification-text',
    ]) {
      assert.ok(!log.includes(secret), `the log contains ${secret}`);
    }
  });
});

describe('public URL and host names', () => {
  it('with publicUrl the issuer and audience are fixed, whatever the Host header', async () => {
    const node = await startTestNode();
    const repository = await FhirRepository.open(node.node, node.dir);
    const auth = await AuthService.open(node.node, node.dir);
    const access = openAccess(node.node, node.dir);
    const app = await buildHttpServer(node.node, { fhir: repository, auth, access, publicUrl: 'https://fhir.example.org' });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const config = (await (await fetch(`${url}/.well-known/smart-configuration`)).json()) as Record<string, string>;
      assert.equal(config['issuer'], 'https://fhir.example.org/oauth');
      assert.equal(config['token_endpoint'], 'https://fhir.example.org/oauth/token');
      const good = await auth.mint({ origin: 'https://fhir.example.org', subject: 'svc', clientId: 'svc', scope: 'system/*.rs' });
      const local = await auth.mint({ origin: url, subject: 'svc', clientId: 'svc', scope: 'system/*.rs' });
      const read = (token: string) => fetch(`${url}/fhir/Patient`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal((await read(good)).status, 200);
      assert.equal((await read(local)).status, 401, 'a token for another audience');
    } finally {
      await app.close();
      auth.close();
      await access.close();
      await repository.close();
      await node.close();
    }
  });

  it('without publicUrl, a flood of made-up Host names gets 421 at /oauth, not a new authorization server each', async () => {
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const target = new URL(`${server.url}/oauth/jwks`);
        const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await get(`made-up-${i}.example:80`));
    assert.ok(statuses.includes(421), statuses.join(','));
    assert.ok(
      statuses.every((s) => s === 200 || s === 421),
      statuses.join(','),
    );
  });
});
