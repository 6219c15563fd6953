/**
 * The web app (web/, built by Vite into dist/web) served at `/`. Only the built files are routes
 * (`wildcard: false`), so nothing shadows the API; any other GET that asks for HTML and is not
 * under an API prefix gets index.html, because the app routes on the client (/patient, /explorer…).
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** dist/web, next to the compiled server (dist/src/server). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * The app loads nothing from elsewhere and runs no inline script, so a strict policy costs nothing
 * and limits what an injected string could do; blob: serves the downloads it makes (kit, Bundle).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Paths the app must never answer for: the node's own APIs. */
const API_PREFIXES = ['/fhir', '/api', '/oauth', '/.well-known', '/openapi.json', '/healthz'];

export function isAppRoute(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const path = request.url.split('?')[0]!;
  if (API_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`))) return false;
  // A missing asset (has a file extension) is a 404, not the app.
  if (/\.[a-z0-9]{1,8}$/i.test(path)) return false;
  return (request.headers.accept ?? '').includes('text/html');
}

/** Registers the built app when it exists; returns the SPA fallback for the not-found handler. */
export async function registerWebApp(
  app: FastifyInstance,
  root: string = WEB_ROOT,
): Promise<((request: FastifyRequest, reply: FastifyReply) => FastifyReply) | undefined> {
  if (!existsSync(`${root}/index.html`)) return undefined;
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    index: 'index.html',
    // Hashed asset names change with their content; index.html must be revalidated.
    setHeaders: (res, path) => {
      res.setHeader('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    },
  });
  return (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').headers(SECURITY_HEADERS).sendFile('index.html');
}
