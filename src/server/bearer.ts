/**
 * Bearer-token authentication for the node's JSON API routes (key backups, enrollment, devices,
 * population): the principal of a request, or the API's `auth.required` error when the token is
 * missing or invalid (src/auth/service.ts refuses tokens with status 401 only).
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { ApiError } from './errors.js';

/** Verifies a bearer token for the node at `origin` (throws with `status` 401 when it is missing or invalid). */
export type Authenticate = (authorization: string | undefined, origin: string) => Promise<Principal>;

export async function bearerPrincipal(
  authenticate: Authenticate,
  request: FastifyRequest,
  /** Said instead of the token's problem, e.g. "sign in as the patient". */
  unauthenticated?: string,
): Promise<Principal> {
  try {
    return await authenticate(request.headers.authorization, `${request.protocol}://${request.host}`);
  } catch (error) {
    if ((error as { status?: number }).status === 401)
      throw new ApiError('auth.required', unauthenticated ?? (error as Error).message);
    throw error;
  }
}
