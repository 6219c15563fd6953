/**
 * What every /fhir route plugin shares about a request: the FHIR JSON media type and the
 * authenticated principal, which the preHandler in ./routes.ts attaches.
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import { FhirError } from '../outcome.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller of a /fhir request (set by the preHandler; absent only on public endpoints). */
    principal?: Principal;
  }
}

/** The request's principal; 401 if the route was reached unauthenticated. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw FhirError.of(401, 'login', 'not authenticated');
  return request.principal;
}
