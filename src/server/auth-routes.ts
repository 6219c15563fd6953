/**
 * HTTP wiring of authentication: SMART discovery, the authorization server (oidc-provider) under
 * /oauth, and its login and consent pages.
 *
 * - GET /.well-known/smart-configuration and GET /fhir/.well-known/smart-configuration (the FHIR
 *   base, where SMART App Launch 2 looks for it);
 * - /oauth/* → oidc-provider (authorize /oauth/auth, token /oauth/token, JWKS /oauth/jwks,
 *   introspection /oauth/token/introspection, revocation /oauth/token/revocation, OpenID
 *   discovery /oauth/.well-known/openid-configuration);
 * - /oauth/interaction/{uid} (GET), …/login, …/confirm, …/abort (POST): the login and consent
 *   pages. Passwords arrive in a form body and go nowhere but the scrypt check.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/service.js';
import { consentPage, describeScope, errorPage, loginPage } from '../auth/pages.js';
import { parseScope } from '../auth/scopes.js';
import { smartConfiguration } from '../auth/smart.js';

export interface AuthRoutesOptions {
  readonly auth: AuthService;
  readonly publicUrl?: string;
}

export function originOf(request: FastifyRequest, publicUrl?: string): string {
  return (publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
}

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .status(status)
    .header('cache-control', 'no-store')
    .header(
      // No form-action: browsers apply it to the redirects after a form post, and the consent
      // form ends in a redirect to the app's redirect_uri on another origin.
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    )
    .header('x-frame-options', 'DENY')
    .type('text/html; charset=utf-8')
    .send(body);
}

export const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (app: FastifyInstance, options) => {
  const { auth } = options;
  const origin = (request: FastifyRequest) => originOf(request, options.publicUrl);

  app.get('/.well-known/smart-configuration', { schema: { hide: true } }, async (request, reply) =>
    reply.header('cache-control', 'no-cache').send(smartConfiguration(origin(request))),
  );

  // The authorization server itself: requests go to oidc-provider untouched (it reads the body).
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    const callbacks = new WeakMap<object, ReturnType<Awaited<ReturnType<AuthService['provider']>>['callback']>>();
    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      const provider = await auth.provider(origin(request)).catch(() => {
        throw Object.assign(new Error('this node does not answer for that host name; set --public-url'), { statusCode: 421 });
      });
      let callback = callbacks.get(provider);
      if (!callback) callbacks.set(provider, (callback = provider.callback()));
      reply.hijack();
      const raw = request.raw as typeof request.raw & { originalUrl?: string };
      const url = raw.url ?? '/oauth';
      raw.originalUrl = url;
      raw.url = url.slice('/oauth'.length) || '/';
      callback(raw, reply.raw);
    };
    scope.all('/oauth/*', { schema: { hide: true } }, handle);
  });

  // Login and consent pages.
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_r, body, done) =>
      done(null, new URLSearchParams(body as string)),
    );
    type Uid = { Params: { uid: string } };

    const details = async (request: FastifyRequest, reply: FastifyReply) => {
      const provider = await auth.provider(origin(request));
      try {
        return { provider, interaction: await provider.interactionDetails(request.raw, reply.raw) };
      } catch {
        return undefined;
      }
    };
    const expired = (reply: FastifyReply) =>
      html(
        reply,
        400,
        errorPage('Sign-in expired', 'This sign-in request expired or was already used. Start again from the app.'),
      );
    const clientName = async (provider: Awaited<ReturnType<typeof details>>, clientId: string) => {
      const client = await provider!.provider.Client.find(clientId);
      return (client?.['clientName'] as string | undefined) ?? clientId;
    };

    scope.get<Uid>('/oauth/interaction/:uid', { schema: { hide: true } }, async (request, reply) => {
      const found = await details(request, reply);
      if (!found || found.interaction.uid !== request.params.uid) return expired(reply);
      const { interaction } = found;
      const client = await clientName(found, interaction.params['client_id'] as string);
      const base = `/oauth/interaction/${interaction.uid}`;
      if (interaction.prompt.name === 'login') return html(reply, 200, loginPage({ action: `${base}/login`, client }));
      const plan = consentPlan(auth, found, interaction);
      const account = auth.store.account(interaction.session?.accountId ?? '');
      return html(
        reply,
        200,
        consentPage({
          action: `${base}/confirm`,
          abort: `${base}/abort`,
          client,
          user: account ? `${account.display} (${account.username})` : 'unknown',
          scopes: [...plan.oidc, ...plan.resource].map((s) => ({ scope: s, meaning: describeScope(s) })),
          refused: plan.refused,
        }),
      );
    });

    scope.post<Uid & { Body: URLSearchParams }>(
      '/oauth/interaction/:uid/login',
      { schema: { hide: true } },
      async (request, reply) => {
        const found = await details(request, reply);
        if (!found || found.interaction.uid !== request.params.uid || found.interaction.prompt.name !== 'login')
          return expired(reply);
        const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
        const username = (form.get('username') ?? '').trim().toLowerCase().slice(0, 64);
        const again = (status: number, error: string) =>
          clientName(found, found.interaction.params['client_id'] as string).then((client) =>
            html(
              reply,
              status,
              loginPage({ action: `/oauth/interaction/${found.interaction.uid}/login`, client, username, error }),
            ),
          );
        const wait = auth.logins.retryAfter(username);
        if (wait > 0) {
          reply.header('retry-after', String(Math.ceil(wait / 1000)));
          return again(429, `Too many failed sign-ins for this username. Try again in ${Math.ceil(wait / 60_000)} minutes.`);
        }
        const account = await auth.store.login(username, form.get('password') ?? '');
        if (!account) {
          auth.logins.fail(username);
          return again(401, 'Wrong username or password.');
        }
        auth.logins.succeed(username);
        reply.hijack();
        await found.provider.interactionFinished(
          request.raw,
          reply.raw,
          { login: { accountId: account.id } },
          { mergeWithLastSubmission: false },
        );
      },
    );

    scope.post<Uid>('/oauth/interaction/:uid/confirm', { schema: { hide: true } }, async (request, reply) => {
      const found = await details(request, reply);
      if (!found || found.interaction.uid !== request.params.uid || found.interaction.prompt.name !== 'consent')
        return expired(reply);
      const { provider, interaction } = found;
      const accountId = interaction.session!.accountId;
      const clientId = interaction.params['client_id'] as string;
      const grant = interaction.grantId
        ? (await provider.Grant.find(interaction.grantId))!
        : new provider.Grant({ accountId, clientId });
      const plan = consentPlan(auth, found, interaction);
      if (plan.oidc.length > 0) grant.addOIDCScope(plan.oidc.join(' '));
      for (const [resource, scopes] of Object.entries(plan.byResource)) {
        if (scopes.granted.length > 0) grant.addResourceScope(resource, scopes.granted.join(' '));
        if (scopes.refused.length > 0) grant.rejectResourceScope(resource, scopes.refused.join(' '));
      }
      const missingClaims = interaction.prompt.details['missingOIDCClaims'] as string[] | undefined;
      if (missingClaims?.length) grant.addOIDCClaims(missingClaims);
      const grantId = await grant.save();
      reply.hijack();
      await provider.interactionFinished(request.raw, reply.raw, { consent: { grantId } }, { mergeWithLastSubmission: true });
    });

    scope.post<Uid>('/oauth/interaction/:uid/abort', { schema: { hide: true } }, async (request, reply) => {
      const found = await details(request, reply);
      if (!found || found.interaction.uid !== request.params.uid) return expired(reply);
      reply.hijack();
      await found.provider.interactionFinished(
        request.raw,
        reply.raw,
        { error: 'access_denied', error_description: 'the user denied access' },
        { mergeWithLastSubmission: false },
      );
    });
  });
};

type Interaction = Awaited<ReturnType<import('oidc-provider').default['interactionDetails']>>;

/**
 * What a consent grants: OIDC scopes asked for, and resource scopes the client is registered for
 * AND that fit the account (a patient gets `patient/` scopes, a clinician `user/` scopes). The
 * rest is refused, so the consent prompt does not come back for it.
 */
function consentPlan(
  auth: AuthService,
  _found: unknown,
  interaction: Interaction,
): {
  oidc: string[];
  resource: string[];
  refused: string[];
  byResource: Record<string, { granted: string[]; refused: string[] }>;
} {
  const details = interaction.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const account = auth.store.account(interaction.session?.accountId ?? '');
  const oidc = details.missingOIDCScope ?? [];
  const byResource: Record<string, { granted: string[]; refused: string[] }> = {};
  const resource: string[] = [];
  const refused: string[] = [];
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    const entry = { granted: [] as string[], refused: [] as string[] };
    for (const token of scopes) {
      const parsed = parseScope(token);
      const fits =
        parsed.ok &&
        'scope' in parsed &&
        account !== undefined &&
        (account.kind === 'patient' ? parsed.scope.context !== 'system' : parsed.scope.context === 'user');
      (fits ? entry.granted : entry.refused).push(token);
    }
    byResource[indicator] = entry;
    resource.push(...entry.granted);
    refused.push(...entry.refused);
  }
  return { oidc, resource, refused, byResource };
}
