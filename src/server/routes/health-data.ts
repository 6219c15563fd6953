/**
 * Wires the device-data and population-health APIs into the node's HTTP service (one call from
 * http.ts, so that shared file changes by two lines).
 */
import type { FastifyInstance } from 'fastify';
import type { AuthService } from '../../auth/service.js';
import type { FhirRepository } from '../../fhir/repository.js';
import type { AccessLayer } from '../../node/access-ledger.js';
import type { LedgerNode } from '../../node/ledger-node.js';
import { DeviceService } from '../../devices/service.js';
import { deviceRoutes } from './devices.js';
import { PopulationService } from '../../population/service.js';
import { populationRoutes } from './population.js';
import type { ExchangeClient } from '../../exchange/requester.js';

export interface HealthDataOptions {
  readonly fhir: FhirRepository;
  readonly auth: AuthService;
  readonly access: AccessLayer;
  readonly publicUrl?: string;
  /** In a network: population queries gather the other custodians' partials through record exchange. */
  readonly exchange?: ExchangeClient;
}

export async function registerHealthDataRoutes(
  app: FastifyInstance,
  node: LedgerNode,
  options: HealthDataOptions,
): Promise<{ population: PopulationService }> {
  const authenticate = (authorization: string | undefined, origin: string) =>
    options.auth.authenticate(authorization, options.publicUrl ?? origin);
  const devices = DeviceService.open(node, options.fhir);
  app.addHook('onClose', async () => devices.close());
  await app.register(deviceRoutes, {
    prefix: '/api/v1',
    devices,
    repository: options.fhir,
    access: options.access.service,
    org: node.org.id,
    authenticate,
  });
  const exchange = options.exchange;
  const population = new PopulationService(node, options.fhir, options.access.service, {
    samples: devices.store,
    ...(exchange && { federation: (analyst, query) => exchange.partialsFromAll(analyst, query) }),
  });
  await app.register(populationRoutes, { prefix: '/api/v1', population, authenticate });
  return { population };
}
