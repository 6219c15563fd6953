/**
 * Emergency access as FHIR operations:
 *   POST /Patient/{id}/$break-glass   Parameters { reason: code, justification: string, minutes: integer }
 *   POST /$break-glass-review         Parameters { opening: string, outcome: code, notes: string }
 * The clinician's written justification and the officer's notes stay encrypted at this node; the
 * ledger gets the opening (who, which patient pseudonym, coded reason, commitment, duration) and
 * the review. Opening one notifies the patient through their event stream and access log.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { FastifyPluginAsync } from 'fastify';
import { AccessDenied, type AccessService } from '../../access/service.js';
import { scopeAllows } from '../../auth/policy.js';
import { BREAK_GLASS_REASONS, MAX_BREAK_GLASS_MINUTES, REVIEW_OUTCOMES } from '../../ledger/payloads/access.js';
import { badRequest, FhirError, notFound } from '../outcome.js';
import type { FhirRepository } from '../repository.js';
import { FHIR_JSON, principalOf } from './request.js';

export interface AccessOperationOptions {
  readonly repository: FhirRepository;
  readonly access: AccessService;
}

/** The named parameters of a Parameters body, each at most once. */
function parametersOf(body: unknown, allowed: readonly string[]): Map<string, ParametersParameter> {
  const input = body as Parameters | undefined;
  if (input?.resourceType !== 'Parameters') throw badRequest('the body must be a Parameters resource');
  const out = new Map<string, ParametersParameter>();
  for (const p of input.parameter ?? []) {
    if (!allowed.includes(p.name ?? ''))
      throw badRequest(`unknown parameter "${String(p.name).slice(0, 40)}" (allowed: ${allowed.join(', ')})`);
    if (out.has(p.name!)) throw badRequest(`parameter "${p.name}" given twice`);
    out.set(p.name!, p);
  }
  return out;
}

const codeOf = (p: ParametersParameter | undefined): string | undefined => p?.valueCode ?? p?.valueString;

function denied(error: unknown): never {
  if (error instanceof AccessDenied) {
    const status = error.code === 'access.forbidden' ? 403 : error.code === 'access.not_found' ? 404 : 422;
    throw FhirError.of(status, status === 403 ? 'forbidden' : status === 404 ? 'not-found' : 'business-rule', error.message);
  }
  throw error;
}

export const accessOperationRoutes: FastifyPluginAsync<AccessOperationOptions> = async (app, { repository, access }) => {
  app.post<{ Params: { id: string }; Body: unknown }>('/Patient/:id/$break-glass', async (request, reply) => {
    const principal = principalOf(request);
    // Opening a chart needs a token that may read it at all.
    if (!scopeAllows(principal, 'Patient', 'r'))
      throw FhirError.of(403, 'forbidden', "the access token's scopes do not allow reading Patient");
    const params = parametersOf(request.body, ['reason', 'justification', 'minutes']);
    const reason = codeOf(params.get('reason'));
    if (!reason || !(BREAK_GLASS_REASONS as readonly string[]).includes(reason))
      throw badRequest(`reason must be one of ${BREAK_GLASS_REASONS.join(', ')}`);
    const justification = params.get('justification')?.valueString;
    if (justification === undefined) throw badRequest('justification (string) is required');
    const minutes = params.get('minutes')?.valueInteger ?? 60;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_BREAK_GLASS_MINUTES)
      throw badRequest(`minutes must be 1..${MAX_BREAK_GLASS_MINUTES}`);
    // The patient is named by FHIR id; the ledger knows them only by pseudonym.
    const facts = repository.current('Patient', request.params.id)
      ? repository.recordOf('Patient', request.params.id)
      : undefined;
    if (!facts?.patient) throw notFound(`Patient/${request.params.id.slice(0, 64)} does not exist`);
    const opening = await access
      .openBreakGlass(principal, {
        patient: facts.patient,
        reason: reason as (typeof BREAK_GLASS_REASONS)[number],
        justification,
        minutes,
      })
      .catch(denied);
    const result: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'opening', valueString: opening.id },
        { name: 'until', valueInstant: new Date(opening.until).toISOString() },
        { name: 'reviewFlagged', valueBoolean: true },
      ],
    };
    return reply.type(FHIR_JSON).send(result);
  });

  app.post<{ Body: unknown }>('/$break-glass-review', async (request, reply) => {
    const principal = principalOf(request);
    const params = parametersOf(request.body, ['opening', 'outcome', 'notes']);
    const opening = params.get('opening')?.valueString;
    const outcome = codeOf(params.get('outcome'));
    if (!opening || !/^bg_[a-z2-7]{26}$/.test(opening)) throw badRequest('opening must be a break-glass id (bg_…)');
    if (!outcome || !(REVIEW_OUTCOMES as readonly string[]).includes(outcome))
      throw badRequest(`outcome must be one of ${REVIEW_OUTCOMES.join(', ')}`);
    const reviewed = await access
      .reviewBreakGlass(principal, {
        opening,
        outcome: outcome as (typeof REVIEW_OUTCOMES)[number],
        notes: params.get('notes')?.valueString ?? '',
      })
      .catch(denied);
    const result: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'opening', valueString: reviewed.id },
        { name: 'outcome', valueCode: reviewed.review!.outcome },
        { name: 'reviewer', valueString: reviewed.review!.by },
      ],
    };
    return reply.type(FHIR_JSON).send(result);
  });
};
