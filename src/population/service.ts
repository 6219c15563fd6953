/**
 * Population queries on one node: who is in (patients held here with a research or public-health
 * consent in force, granted to this organization or to the analyst, covering the queried type),
 * their facts reduced to what the query needs, this node's partial result, and the access log.
 *
 * Only analysts (practitioners of this organization with the `analyst` role and search scope on
 * the queried type) may ask. Every query records one `aggregate` access event per opted-in patient
 * whose data it used — with the consent as basis and no record ids, so the ledger says neither
 * which records nor whether the patient matched — before the answer leaves. Patients see it in
 * their access log; patients who did not opt in are never read.
 */
import type { Condition, Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import { scopeAllows } from '../auth/policy.js';
import type { AccessService } from '../access/service.js';
import type { FhirRepository } from '../fhir/repository.js';
import type { AccessEvent } from '../ledger/payloads/access.js';
import type { ConsentPurpose } from '../ledger/payloads/consent.js';
import type { LedgerNode } from '../node/ledger-node.js';
import { appliesTo, inForce, type Consent } from '../state/consents.js';
import { parseDeviceCode } from '../devices/codes.js';
import { BATCH_SYSTEM } from '../devices/observation.js';
import type { DeviceSampleStore } from '../devices/store.js';
import { readPartial, readQuery } from './wire.js';
import {
  computePartial,
  finalize,
  mergePartials,
  DEFAULT_K,
  type AggregateSpec,
  type PatientFacts,
  type PopulationPartial,
  type PopulationResult,
} from './aggregate.js';

export const POPULATION_PURPOSES = ['HRESCH', 'PUBHLTH'] as const satisfies readonly ConsentPurpose[];
export type PopulationPurpose = (typeof POPULATION_PURPOSES)[number];
export const POPULATION_TYPES = ['Condition', 'Observation'] as const;
export type PopulationType = (typeof POPULATION_TYPES)[number];

export interface PopulationQuery extends AggregateSpec {
  readonly purpose: PopulationPurpose;
  readonly type: PopulationType;
  /** `system|code` (or a bare code) of the condition or observation. */
  readonly code: string;
}

export class PopulationError extends Error {
  constructor(
    readonly code: 'population.forbidden' | 'population.invalid',
    message: string,
  ) {
    super(message);
  }
}

export interface OptedIn {
  readonly pseudonym: string;
  readonly patientId: string;
  readonly consent: Consent;
}

export interface QueryAnswer {
  readonly query: PopulationQuery;
  readonly result: PopulationResult;
  /** Height of the ledger state the cohort was taken from. */
  readonly height: number;
  /** Custodians whose partial is in the result, and those whose is not (the result is then incomplete). */
  readonly custodians: { readonly answered: readonly string[]; readonly missing: readonly MissingCustodian[] };
}

export interface MissingCustodian {
  readonly custodian: string;
  readonly reason: string;
}

/** Other custodians' partials for one query (record exchange); see ExchangeClient.partialsFromAll. */
export type PartialsFromOthers = (
  analyst: string,
  query: PopulationQuery,
) => Promise<
  readonly (
    | { readonly custodian: string; readonly ok: true; readonly partial: unknown }
    | { readonly custodian: string; readonly ok: false; readonly code: string; readonly message: string }
  )[]
>;

const PAGE = 1000;

export class PopulationService {
  readonly #node: LedgerNode;
  readonly #repository: FhirRepository;
  readonly #access: AccessService;
  readonly #clock: () => number;
  readonly #k: number;
  /** The device sample index: device samples count in observation queries for their codes. */
  readonly #samples: DeviceSampleStore | undefined;
  /** In a network: the other custodians' partials. */
  readonly #federation: PartialsFromOthers | undefined;

  constructor(
    node: LedgerNode,
    repository: FhirRepository,
    access: AccessService,
    options: { clock?: () => number; k?: number; samples?: DeviceSampleStore; federation?: PartialsFromOthers } = {},
  ) {
    this.#federation = options.federation;
    this.#samples = options.samples;
    this.#node = node;
    this.#repository = repository;
    this.#access = access;
    this.#clock = options.clock ?? Date.now;
    this.#k = options.k ?? DEFAULT_K;
  }

  /** Patients held here whose consent in force lets `analyst` (or this organization) use `type` for `purpose`. */
  optedIn(purpose: PopulationPurpose, type: PopulationType, analyst: string, org = this.#node.org.id): OptedIn[] {
    const now = this.#clock();
    const links = this.#repository.vault.db
      .prepare('SELECT patient_id, pseudonym FROM patient_links ORDER BY pseudonym')
      .all() as {
      patient_id: string;
      pseudonym: string;
    }[];
    const out: OptedIn[] = [];
    for (const { patient_id: patientId, pseudonym } of links) {
      const consents = [
        ...this.#node.chain.app.consentsFor(pseudonym, org),
        ...this.#node.chain.app.consentsFor(pseudonym, analyst),
      ];
      const consent = consents.find((c) => c.purpose === purpose && appliesTo(c, purpose, type) && inForce(c, now));
      if (consent) out.push({ pseudonym, patientId, consent });
    }
    return out;
  }

  authorize(principal: Principal, type: PopulationType): { analyst: string } {
    if (principal.kind !== 'practitioner' || !principal.roles.includes('analyst') || principal.org !== this.#node.org.id) {
      throw new PopulationError('population.forbidden', 'population queries are for analysts of this organization');
    }
    if (!scopeAllows(principal, type, 's'))
      throw new PopulationError('population.forbidden', `the token's scopes do not allow searching ${type}`);
    return { analyst: principal.id };
  }

  /** This node's partial result (for the network: only aggregates leave the node) and the cohort it used. */
  partial(query: PopulationQuery, analyst: string, org = this.#node.org.id): { partial: PopulationPartial; cohort: OptedIn[] } {
    const cohort: OptedIn[] = [];
    const facts: PatientFacts[] = [];
    for (const p of this.optedIn(query.purpose, query.type, analyst, org)) {
      const f = this.#facts(query, p.patientId);
      // A Patient deleted or erased here is no longer in any population.
      if (f === undefined) continue;
      cohort.push(p);
      facts.push(f);
    }
    return { partial: computePartial(query, facts), cohort };
  }

  /**
   * A query: this node's partial and, in a network, every other custodian's (only aggregates leave
   * a node), merged before small cells are suppressed. The access events of this node's cohort are
   * on the ledger before the answer leaves; other custodians log their own.
   */
  async query(principal: Principal, query: PopulationQuery): Promise<QueryAnswer> {
    const { analyst } = this.authorize(principal, query.type);
    const height = this.#node.chain.head().height;
    const { partial, cohort } = this.partial(query, analyst);
    await this.#logAggregate(this.#access.actorOf(principal), cohort);
    const partials = [partial];
    const answered = [this.#node.org.id];
    const missing: MissingCustodian[] = [];
    for (const remote of this.#federation ? await this.#federation(analyst, query) : []) {
      try {
        if (!remote.ok) throw new PopulationError('population.invalid', `${remote.code}: ${remote.message}`);
        partials.push(readPartial(remote.partial));
        answered.push(remote.custodian);
      } catch (error) {
        missing.push({ custodian: remote.custodian, reason: (error as Error).message });
      }
    }
    return { query, result: finalize(mergePartials(...partials), this.#k), height, custodians: { answered, missing } };
  }

  /**
   * This node's partial for an analyst of another organization (record exchange): the cohort is
   * the patients whose research or public-health consent names that analyst or their organization.
   */
  async partialFor(from: string, request: { readonly requester: string; readonly query: unknown }): Promise<PopulationPartial> {
    const analyst = this.#node.chain.app.participant(request.requester);
    if (
      analyst?.kind !== 'practitioner' ||
      analyst.org !== from ||
      analyst.status !== 'active' ||
      !analyst.roles?.includes('analyst')
    )
      throw new PopulationError('population.forbidden', `${request.requester} is not an active analyst of ${from}`);
    const query = readQuery(request.query);
    const { partial, cohort } = this.partial(query, analyst.id, from);
    await this.#logAggregate(analyst.id, cohort);
    return partial;
  }

  /** One `aggregate` access event per patient whose data a query used, with the consent as basis. */
  async #logAggregate(actor: string, cohort: readonly OptedIn[]): Promise<void> {
    const at = this.#clock();
    const events: AccessEvent[] = cohort.map((p) => ({
      actor,
      patient: p.pseudonym,
      action: 'aggregate',
      at,
      records: [],
      decision: 'permit',
      basis: 'consent',
      grant: p.consent.id,
    }));
    if (events.length > 0) await this.#access.recorder.recordAll(events);
  }

  #facts(query: PopulationQuery, patientId: string): PatientFacts | undefined {
    const current = this.#repository.current('Patient', patientId);
    if (current === undefined || current.deleted) return undefined;
    const patient = this.#repository.read('Patient', patientId).resource as Patient;
    const address = patient.address?.[0];
    const region = address?.state ?? address?.country;
    const events: { t: number; value?: number }[] = [];
    for (const resource of this.#matching(query, patientId)) {
      // Device batches count through their samples (below), not as one event each.
      if ((resource as Observation).identifier?.some((i) => i.system === BATCH_SYSTEM)) continue;
      const event =
        query.type === 'Condition' ? conditionEvent(resource as Condition) : observationEvent(resource as Observation);
      if (event) events.push(event);
    }
    const device = query.type === 'Observation' ? parseDeviceCode(query.code) : undefined;
    const pseudonym = this.#repository.vault.patientPseudonym(patientId);
    const daily =
      device && pseudonym && this.#samples
        ? this.#samples
            .daily(pseudonym, device.slot, query.from, query.to)
            .map((d) => ({ day: d.day, n: d.n, sumMicros: BigInt(d.sum) * 1_000_000n }))
        : [];
    return {
      ...(daily.length > 0 && { daily }),
      ...(patient.birthDate !== undefined && { birthDate: patient.birthDate }),
      ...(region !== undefined && { region }),
      ...(patient.gender !== undefined && { sex: patient.gender }),
      events,
    };
  }

  /** The patient's current resources of the type with the code (search index, every page). */
  #matching(query: PopulationQuery, patientId: string): Resource[] {
    const out: Resource[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const params = new URLSearchParams({
        patient: `Patient/${patientId}`,
        code: query.code,
        _count: String(PAGE),
        _offset: String(offset),
      });
      const page = this.#repository.search(query.type, params);
      out.push(...page.matches);
      if (page.nextOffset === undefined) return out;
    }
  }
}

function time(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t : undefined;
}

function conditionEvent(c: Condition): { t: number } | undefined {
  const t = time(c.onsetDateTime) ?? time(c.onsetPeriod?.start) ?? time(c.recordedDate);
  return t === undefined ? undefined : { t };
}

function observationEvent(o: Observation): { t: number; value?: number } | undefined {
  const t = time(o.effectiveDateTime) ?? time(o.effectivePeriod?.start) ?? time(o.effectiveInstant) ?? time(o.issued);
  if (t === undefined) return undefined;
  const value = o.valueQuantity?.value;
  return typeof value === 'number' ? { t, value } : { t };
}
