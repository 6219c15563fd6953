/**
 * Device data over HTTP (src/devices):
 *   POST /devices/{device}/batches                 a signed batch (application/octet-stream wire bytes,
 *                                                  or JSON {"batch": "<base64>"}); no bearer token: the
 *                                                  device key's signature authenticates it
 *   POST /patients/{patient}/devices               register a device key to a patient (bearer token)
 *   GET  /patients/{patient}/devices               the patient's devices
 *   GET  /patients/{patient}/device-series?code=&from=&to=&points=   a downsampled series for charts
 *   GET  /device-codes                             the measurement codes devices may send
 * `{patient}` is the FHIR Patient id at this node (or the patient's ledger pseudonym).
 *
 * Access: a patient reaches only their own devices and series; practitioners and backend services
 * need `Observation` read scope and, for series, the same consent decision as a FHIR read of the
 * batch Observations — which is logged on the ledger before the answer leaves.
 */
import { bearerPrincipal } from '../bearer.js';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import { scopeAllows } from '../../auth/policy.js';
import type { AccessService } from '../../access/service.js';
import type { FhirRepository } from '../../fhir/repository.js';
import { bytesOfBase64url } from '../../client/encoding.js';
import { fromBase64 } from '../../crypto/bytes.js';
import { ID_PATTERNS } from '../../ledger/payloads/participant.js';
import { ApiError } from '../errors.js';
import { DEVICE_CODES, parseDeviceCode } from '../../devices/codes.js';
import { DeviceError, type DeviceService } from '../../devices/service.js';
import { MAX_BATCH_BYTES } from '../../devices/batch.js';

export interface DeviceRoutesOptions {
  readonly devices: DeviceService;
  readonly repository: FhirRepository;
  readonly access: AccessService;
  readonly org: string;
  readonly authenticate: (authorization: string | undefined, origin: string) => Promise<Principal>;
  readonly clock?: () => number;
}

const DAY_MS = 86_400_000;

/** ISO 8601 date/time or ms since the epoch. */
function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new DeviceError('device.invalid', `${name} is not a time (ISO 8601 or ms since the epoch)`);
  return ms;
}

export const deviceRoutes: FastifyPluginAsync<DeviceRoutesOptions> = async (app, options) => {
  const { devices, repository, access } = options;
  const clock = options.clock ?? Date.now;

  app.setErrorHandler((error: Error & { validation?: unknown; status?: number }, _request, reply) => {
    if (error instanceof DeviceError) return reply.status(error.status).send({ code: error.code, message: error.message });
    if (error instanceof ApiError) return reply.status(error.status).send({ code: error.code, message: error.message });
    throw error;
  });

  const principalOf = (request: FastifyRequest): Promise<Principal> => bearerPrincipal(options.authenticate, request);

  /** The ledger pseudonym of a patient held here, from a FHIR Patient id or the pseudonym itself. */
  function pseudonymOf(patient: string): { pseudonym: string; patientId: string } {
    if (ID_PATTERNS.patient.test(patient)) {
      const patientId = repository.vault.patientIdOf(patient);
      if (patientId !== undefined) return { pseudonym: patient, patientId };
    } else if (/^[A-Za-z0-9\-.]{1,64}$/.test(patient)) {
      const pseudonym = repository.vault.patientPseudonym(patient);
      if (pseudonym !== undefined) return { pseudonym, patientId: patient };
    }
    throw new ApiError('not_found', `no patient ${patient} at this node`);
  }

  function requireOwnOrStaff(principal: Principal, pseudonym: string, permission: 'r' | 'c'): void {
    if (!scopeAllows(principal, 'Observation', permission)) {
      throw new ApiError(
        'auth.forbidden',
        `the token's scopes do not allow Observation ${permission === 'r' ? 'reads' : 'writes'}`,
      );
    }
    if (principal.kind === 'patient' && principal.id !== pseudonym) {
      throw new ApiError('auth.forbidden', 'a patient reaches only their own devices');
    }
  }

  app.get(
    '/device-codes',
    { schema: { summary: 'Measurement codes devices may send (LOINC, UCUM units, ranges)' } },
    async () => ({
      codes: DEVICE_CODES.map(({ code, display, unit, min, max, category }) => ({
        system: 'http://loinc.org',
        code,
        display,
        unit,
        min,
        max,
        category,
      })),
    }),
  );

  app.addContentTypeParser('application/cbor', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post<{ Params: { device: string }; Body: Buffer | { batch?: unknown } }>(
    '/devices/:device/batches',
    {
      bodyLimit: 2 * MAX_BATCH_BYTES,
      schema: {
        summary: 'Submit a signed device batch',
        description: 'Body: the batch wire bytes (application/octet-stream or application/cbor), or JSON {"batch": "<base64>"}.',
        params: { type: 'object', properties: { device: { type: 'string', pattern: '^dev_[a-z2-7]{26}$' } } },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let wire: Uint8Array | undefined;
      if (Buffer.isBuffer(body)) wire = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      else if (body && typeof body === 'object' && typeof body.batch === 'string')
        wire = fromBase64(body.batch) ?? bytesOfBase64url(body.batch);
      if (wire === undefined) throw new DeviceError('device.malformed', 'body must be the batch bytes or {"batch": "<base64>"}');
      const result = await devices.ingest(wire, request.params.device);
      return reply.status(201).send(result);
    },
  );

  app.post<{ Params: { patient: string }; Body: { publicKey: string; id?: string } }>(
    '/patients/:patient/devices',
    {
      schema: {
        summary: "Register a device key to a patient (signed on the ledger by this node's organization)",
        body: {
          type: 'object',
          required: ['publicKey'],
          additionalProperties: false,
          properties: {
            publicKey: { type: 'string', minLength: 43, maxLength: 64, description: 'Ed25519 public key, base64url or hex' },
            id: { type: 'string', pattern: '^dev_[a-z2-7]{26}$' },
          },
        },
      },
    },
    async (request, reply) => {
      const principal = await principalOf(request);
      const { pseudonym } = pseudonymOf(request.params.patient);
      requireOwnOrStaff(principal, pseudonym, 'c');
      if (principal.kind === 'practitioner' && !principal.roles.some((r) => r === 'clinician' || r === 'nurse')) {
        throw new ApiError('auth.forbidden', "devices are registered by the patient or the patient's care team");
      }
      // A device writes into the patient's record: a clinician adds one only to a record they may
      // read (consent, emergency access, or the organization-wide treatment rule), never blindly.
      if (principal.kind === 'practitioner') {
        const decision = access.decide(principal, {
          patient: pseudonym,
          type: 'Observation',
          custodian: options.org,
          authors: [],
        });
        if (!decision.permit) throw new ApiError('auth.forbidden', `no access to this patient's record: ${decision.reason}`);
      }
      const text = request.body.publicKey;
      const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : bytesOfBase64url(text);
      if (!key || key.length !== 32)
        throw new DeviceError('device.invalid', 'publicKey must be a 32-byte Ed25519 key (base64url or hex)');
      const registered = await devices.register(pseudonym, new Uint8Array(key), request.body.id);
      return reply.status(201).send({ ...registered, patient: pseudonym });
    },
  );

  app.get<{ Params: { patient: string } }>(
    '/patients/:patient/devices',
    { schema: { summary: "A patient's registered devices and what this node stored from each" } },
    async (request) => {
      const principal = await principalOf(request);
      const { pseudonym } = pseudonymOf(request.params.patient);
      requireOwnOrStaff(principal, pseudonym, 'r');
      const list = devices.devicesOf(pseudonym);
      // The registry part is public on the ledger; what this node stored from a device (counts,
      // last sample time) is shown to whoever may read that device's data.
      return {
        patient: pseudonym,
        devices: list.map((d) => {
          const decision = access.decide(principal, {
            patient: pseudonym,
            type: 'Observation',
            custodian: options.org,
            authors: [d.id],
          });
          if (decision.permit) return d;
          const { batches: _b, samples: _s, lastSample: _l, ...registry } = d;
          return registry;
        }),
      };
    },
  );

  app.get<{ Params: { patient: string }; Querystring: { code?: string; from?: string; to?: string; points?: string } }>(
    '/patients/:patient/device-series',
    { schema: { summary: 'A downsampled device series (min, max, mean, count per bucket) for charts' } },
    async (request, reply) => {
      const principal = await principalOf(request);
      const { pseudonym, patientId } = pseudonymOf(request.params.patient);
      requireOwnOrStaff(principal, pseudonym, 'r');
      const q = request.query;
      const code = q.code === undefined ? undefined : parseDeviceCode(q.code);
      if (!code) throw new DeviceError('device.invalid', `code must be one of ${DEVICE_CODES.map((c) => c.code).join(', ')}`);
      const to = parseTime(q.to, 'to') ?? clock();
      const from = parseTime(q.from, 'from') ?? to - 7 * DAY_MS;
      // By default one point per hour of the default week: answered from the hourly roll-up.
      const points = q.points === undefined ? 168 : Number(q.points);
      const series = devices.series(pseudonym, code, from, to, points);
      // The decision a FHIR read of these batch Observations gets (their author is the device).
      const decision = access.decide(principal, {
        patient: pseudonym,
        type: 'Observation',
        custodian: options.org,
        authors: series.devices,
      });
      const disclosures = series.records.map((record) => ({ record, decision }));
      if (!decision.permit) {
        await access.log(principal, 'read', pseudonym, disclosures);
        return reply.status(403).send({ code: 'access.forbidden', message: decision.reason });
      }
      if (disclosures.length > 0) await access.log(principal, 'read', pseudonym, disclosures);
      return {
        patient: patientId,
        code: { system: 'http://loinc.org', code: code.code, display: code.display, unit: code.unit },
        from: new Date(series.from).toISOString(),
        to: new Date(series.to).toISOString(),
        bucketMs: series.bucketMs,
        samples: series.samples,
        points: series.points.map((p) => ({ ...p, t: new Date(p.t).toISOString() })),
      };
    },
  );
};
