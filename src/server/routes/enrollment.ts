/**
 * POST /enrollments — a signed-in patient enrolls the key made on their device (see
 * src/client/enrollment.ts). The patient token says who they are (the organization linked the
 * account to its Patient when it created the login); the signature by the new key proves the
 * device holds it. Only a pseudonym not yet on the ledger can be enrolled this way: replacing a
 * key is `participant.rotate_key`, signed by the current key, never something the node does.
 */
import { bearerPrincipal } from '../bearer.js';
import type { FastifyPluginAsync } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import { enrollmentMessage } from '../../client/enrollment.js';
import { bytesOfBase64url } from '../../client/encoding.js';
import { verify } from '../../crypto/ed25519.js';
import type { LedgerNode } from '../../node/ledger-node.js';
import { ApiError, errorSchema } from '../errors.js';
import { UPLOAD_WINDOW_MS } from './key-backups.js';

export interface EnrollmentRoutesOptions {
  readonly node: LedgerNode;
  /** Verifies a bearer token (throws with `status` 401 when it is missing or invalid). */
  readonly authenticate: (authorization: string | undefined, origin: string) => Promise<Principal>;
  readonly clock?: () => number;
}

export const enrollmentRoutes: FastifyPluginAsync<EnrollmentRoutesOptions> = async (app, options) => {
  const { node } = options;
  const clock = options.clock ?? Date.now;

  app.post<{ Body: { publicKey: string; signedAt: number; signature: string } }>(
    '/enrollments',
    {
      schema: {
        summary: "Enroll the signed-in patient's device key on the ledger (patient bearer token; signed by the new key)",
        body: {
          type: 'object',
          required: ['publicKey', 'signedAt', 'signature'],
          additionalProperties: false,
          properties: {
            publicKey: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
            signedAt: { type: 'integer', minimum: 0 },
            signature: { type: 'string', pattern: '^[A-Za-z0-9_-]{86}$' },
          },
        },
        response: { 400: errorSchema, 401: errorSchema, 403: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const principal = await bearerPrincipal(options.authenticate, request, 'sign in as the patient');
      if (principal.kind !== 'patient') throw new ApiError('auth.forbidden', 'only a signed-in patient enrolls their own key');
      const patient = principal.id;
      if (node.chain.app.participant(patient)) throw new ApiError('state.conflict', `${patient} is already enrolled`);
      const { signedAt } = request.body;
      if (Math.abs(clock() - signedAt) > UPLOAD_WINDOW_MS)
        throw new ApiError('request.invalid', 'signedAt is too far from the node clock');
      const key = bytesOfBase64url(request.body.publicKey);
      const signature = bytesOfBase64url(request.body.signature);
      if (
        !key ||
        key.length !== 32 ||
        !signature ||
        !verify(signature, enrollmentMessage(node.chain.chainId, patient, key, signedAt), key)
      )
        throw new ApiError('auth.forbidden', 'the request is not signed by the key to enroll');
      const outcome = await node.submitOwn({ type: 'participant.register', body: { kind: 'patient', id: patient, key } });
      if (!outcome.ok) throw new ApiError(outcome.error.code, outcome.error.message);
      return reply.status(201).send({ patient, height: outcome.receipt.height });
    },
  );
};
