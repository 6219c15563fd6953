/**
 * Consent enforcement over the repository, shared by the FHIR routes and record exchange (a
 * custodian serving another organization's practitioner): scopes say what kind of interaction a
 * token may make; ledger state (consents, the treatment rule, emergency access) says whose records
 * a principal may see. Hidden records are filtered in SQL before counting and paging, answered like
 * missing ones (404), and every disclosure and refusal about a patient is on the ledger before the
 * response leaves.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../auth/principal.js';
import type { AccessService, Disclosure } from '../../access/service.js';
import type { AccessAction } from '../../ledger/payloads/access.js';
import { notFound } from '../outcome.js';
import type { FhirRepository, VisibilityFilter } from '../repository.js';

export class Enforcement {
  constructor(
    readonly repository: FhirRepository,
    readonly access: AccessService,
  ) {}

  /** What `principal` may see of `type` ('*': of every type at once). */
  visibilityFor(principal: Principal, type: string): VisibilityFilter {
    const scope = this.access.scope(principal, type);
    const t = scope.treatment;
    const treatment: VisibilityFilter['treatment'] =
      t.kind === 'none' || t.custodian !== this.repository.organization
        ? 'none'
        : t.kind === 'custodian'
          ? 'all'
          : { author: t.author };
    return { patients: [...scope.patients], treatment };
  }

  /** A per-resource check for one request: the filter of each type is built once, not per resource. */
  visibleTo(principal: Principal): (resource: Resource | null | undefined) => boolean {
    const filters = new Map<string, VisibilityFilter>();
    return (resource) => {
      if (resource?.id === undefined) return false;
      let filter = filters.get(resource.resourceType);
      if (!filter) filters.set(resource.resourceType, (filter = this.visibilityFor(principal, resource.resourceType)));
      return this.repository.isVisible(resource.resourceType, resource.id, filter);
    };
  }

  /** Whether the resource exists here but outside what the principal may see. */
  isHidden(principal: Principal, type: string, id: string): boolean {
    return this.repository.isHidden(type, id, this.visibilityFor(principal, type));
  }

  /**
   * A resource the principal may not see is answered exactly like one that does not exist (for a
   * vread, like its `version`); a refused read about a patient is logged (without the record id).
   */
  async requireVisible(principal: Principal, type: string, id: string, action?: AccessAction, version?: number): Promise<void> {
    if (!this.isHidden(principal, type, id)) return;
    if (action !== undefined) await this.refuse(principal, action, [{ type, id }]);
    throw notFound(`${version === undefined ? `${type}/${id}` : `${type}/${id}/_history/${version}`} does not exist`);
  }

  /**
   * Logs refused accesses to hidden resources: one refusal per patient, without the record ids
   * (what requireVisible logs), for requests that refuse several at once (a batch).
   */
  async refuse(principal: Principal, action: AccessAction, targets: readonly { type: string; id: string }[]): Promise<void> {
    const patients = new Set<string>();
    for (const { type, id } of targets) {
      const patient = this.repository.recordOf(type, id)?.patient;
      if (patient !== undefined) patients.add(patient);
    }
    await Promise.all([...patients].map((patient) => this.access.log(principal, action, patient, [])));
  }

  /** Logs, per patient, the records a response discloses and on which basis; resolves once on the ledger. */
  async disclose(principal: Principal, action: AccessAction, resources: readonly (Resource | null | undefined)[]): Promise<void> {
    const byPatient = new Map<string, Disclosure[]>();
    for (const resource of resources) {
      if (resource?.id === undefined) continue;
      const facts = this.repository.recordOf(resource.resourceType, resource.id);
      if (facts?.patient === undefined) continue;
      const decision = this.access.decide(principal, this.access.facts(facts.record, resource.resourceType, facts.patient));
      const list = byPatient.get(facts.patient) ?? [];
      list.push({ record: facts.record, decision });
      byPatient.set(facts.patient, list);
    }
    await Promise.all([...byPatient].map(([patient, list]) => this.access.log(principal, action, patient, list)));
  }
}
