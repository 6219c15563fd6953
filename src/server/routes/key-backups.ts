/**
 * Patients' encrypted key backups at their organization's node (the node cannot open them):
 *   PUT /key-backups/{patient}/{kind}  — signed by the patient's current ledger key (see
 *       src/client/backup-upload.ts); the backup must be for that patient and that key.
 *   GET /key-backups/{patient}/{kind}  — to the patient only, signed in with a patient token,
 *       e.g. on a new device or after losing it (the recovery path in README).
 */
import { bearerPrincipal } from '../bearer.js';
import type { FastifyPluginAsync } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import type { AccessStore } from '../../access/store.js';
import { backupUploadMessage } from '../../client/backup-upload.js';
import { parseKeyBackup } from '../../client/backup.js';
import { bytesOfBase64url } from '../../client/encoding.js';
import { equalBytes } from '../../crypto/bytes.js';
import { verify } from '../../crypto/ed25519.js';
import type { Chain } from '../../node/chain.js';
import { ApiError, errorSchema } from '../errors.js';

/** How far the upload's signing time may be from the node's clock. */
export const UPLOAD_WINDOW_MS = 5 * 60_000;

export interface KeyBackupRoutesOptions {
  readonly chain: Chain;
  readonly store: AccessStore;
  /** Verifies a bearer token (throws with `status` 401 when it is missing or invalid). */
  readonly authenticate: (authorization: string | undefined, origin: string) => Promise<Principal>;
  readonly clock?: () => number;
}

const params = {
  type: 'object',
  required: ['patient', 'kind'],
  properties: {
    patient: { type: 'string', pattern: '^pat_[a-z2-7]{26}$' },
    kind: { type: 'string', enum: ['passphrase', 'recovery-code'] },
  },
} as const;

type Params = { patient: string; kind: 'passphrase' | 'recovery-code' };

export const keyBackupRoutes: FastifyPluginAsync<KeyBackupRoutesOptions> = async (app, options) => {
  const { chain, store } = options;
  const clock = options.clock ?? Date.now;

  app.put<{ Params: Params; Body: { backup: string; signedAt: number; signature: string } }>(
    '/key-backups/:patient/:kind',
    {
      schema: {
        summary: "Store a patient's encrypted key backup (signed by the patient's current key)",
        params,
        body: {
          type: 'object',
          required: ['backup', 'signedAt', 'signature'],
          additionalProperties: false,
          properties: {
            backup: { type: 'string', maxLength: 4096 },
            signedAt: { type: 'integer', minimum: 0 },
            signature: { type: 'string', pattern: '^[A-Za-z0-9_-]{86}$' },
          },
        },
        response: { 400: errorSchema, 403: errorSchema, 409: errorSchema, 422: errorSchema },
      },
    },
    async (request, reply) => {
      const { patient, kind } = request.params;
      const { backup, signedAt, signature } = request.body;
      const participant = chain.app.participant(patient);
      if (participant?.kind !== 'patient' || participant.status !== 'active')
        throw new ApiError('state.not_found', `no active patient ${patient} on the ledger`);
      const now = clock();
      if (Math.abs(now - signedAt) > UPLOAD_WINDOW_MS)
        throw new ApiError('request.invalid', 'signedAt is too far from the node clock');
      const sig = bytesOfBase64url(signature);
      if (!sig || !verify(sig, backupUploadMessage(chain.chainId, patient, kind, backup, signedAt), participant.key))
        throw new ApiError('auth.forbidden', "the upload is not signed by the patient's current key");
      const parsed = parseKeyBackup(backup);
      if (!parsed.ok) throw new ApiError('request.invalid', `not a key backup: ${parsed.error.message}`);
      if (parsed.value.patient !== patient || parsed.value.secret !== kind)
        throw new ApiError('request.invalid', `the backup is not a ${kind} backup of ${patient}`);
      if (!equalBytes(parsed.value.publicKey, participant.key))
        throw new ApiError('request.invalid', "the backup is not of the patient's current key");
      const previous = store.backup(patient, kind);
      if (previous && previous.stored >= signedAt) throw new ApiError('state.conflict', 'a newer backup is already stored');
      store.putBackup(patient, kind, backup, signedAt);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: Params }>(
    '/key-backups/:patient/:kind',
    {
      schema: {
        summary: "A patient's encrypted key backup, to that patient (patient bearer token)",
        params,
        response: { 401: errorSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const principal = await bearerPrincipal(options.authenticate, request, 'sign in as the patient');
      if (principal.kind !== 'patient' || principal.id !== request.params.patient)
        throw new ApiError('auth.forbidden', 'only the patient may fetch their key backup');
      const found = store.backup(request.params.patient, request.params.kind);
      if (!found) throw new ApiError('not_found', `no ${request.params.kind} backup is stored for ${request.params.patient}`);
      return { backup: found.backup, signedAt: found.stored };
    },
  );
};
