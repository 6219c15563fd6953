/**
 * Population health over HTTP (src/population):
 *   POST /population/query   an aggregate over the patients who opted in (research or public-health
 *                            consent): counts, rates and means per period and stratum, small cells
 *                            suppressed (k stated in the answer). Analysts only; every query is on
 *                            the ledger as access events before the answer leaves.
 */
import { bearerPrincipal } from '../bearer.js';
import { ApiError } from '../errors.js';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import { GROUP_BY, INTERVALS, type GroupBy, type Interval } from '../../population/aggregate.js';
import {
  POPULATION_PURPOSES,
  POPULATION_TYPES,
  PopulationError,
  type PopulationService,
  type PopulationPurpose,
  type PopulationType,
} from '../../population/service.js';

export interface PopulationRoutesOptions {
  readonly population: PopulationService;
  readonly authenticate: (authorization: string | undefined, origin: string) => Promise<Principal>;
  readonly clock?: () => number;
}

interface QueryBody {
  readonly purpose: PopulationPurpose;
  readonly type: PopulationType;
  readonly code: string;
  readonly interval?: Interval;
  readonly from?: string;
  readonly to?: string;
  readonly groupBy?: GroupBy[];
}

const YEAR_MS = 365 * 86_400_000;

export const populationRoutes: FastifyPluginAsync<PopulationRoutesOptions> = async (app, options) => {
  const clock = options.clock ?? Date.now;

  app.setErrorHandler((error: Error, _request, reply) => {
    if (error instanceof PopulationError) {
      return reply.status(error.code === 'population.forbidden' ? 403 : 400).send({ code: error.code, message: error.message });
    }
    if (error instanceof ApiError) return reply.status(error.status).send({ code: error.code, message: error.message });
    throw error;
  });

  const principalOf = (request: FastifyRequest): Promise<Principal> => bearerPrincipal(options.authenticate, request);

  app.post<{ Body: QueryBody }>(
    '/population/query',
    {
      schema: {
        summary: 'Aggregate statistics over opted-in patients (analysts; small cells suppressed; logged on the ledger)',
        body: {
          type: 'object',
          required: ['purpose', 'type', 'code'],
          additionalProperties: false,
          properties: {
            purpose: { type: 'string', enum: [...POPULATION_PURPOSES] },
            type: { type: 'string', enum: [...POPULATION_TYPES] },
            code: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^,\\s]+$' },
            interval: { type: 'string', enum: [...INTERVALS] },
            from: { type: 'string', maxLength: 40 },
            to: { type: 'string', maxLength: 40 },
            groupBy: { type: 'array', maxItems: 3, uniqueItems: true, items: { type: 'string', enum: [...GROUP_BY] } },
          },
        },
      },
    },
    async (request) => {
      const principal = await principalOf(request);
      const body = request.body;
      const now = clock();
      const to = body.to === undefined ? now : Date.parse(body.to);
      const from = body.from === undefined ? to - 5 * YEAR_MS : Date.parse(body.from);
      if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
        throw new PopulationError('population.invalid', '`from` and `to` must be ISO 8601 times with from < to');
      }
      const query = {
        purpose: body.purpose,
        type: body.type,
        code: body.code,
        interval: body.interval ?? 'month',
        from,
        to,
        groupBy: body.groupBy ?? [],
        asOf: Math.min(to, now),
      };
      const answer = await options.population.query(principal, query);
      return {
        purpose: query.purpose,
        type: query.type,
        code: query.code,
        interval: query.interval,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        groupBy: query.groupBy,
        agesAsOf: new Date(query.asOf).toISOString(),
        k: answer.result.k,
        suppression: `cells with fewer than ${answer.result.k} patients, or from a stratum with fewer than ${answer.result.k} opted-in patients, are suppressed (numbers null); a mean needs values from at least ${answer.result.k} patients`,
        optedIn: answer.result.optedIn,
        height: answer.height,
        custodians: answer.custodians,
        suppressedCells: answer.result.suppressedCells,
        cells: answer.result.cells,
      };
    },
  );
};
