/**
 * Scope enforcement: which FHIR interactions a principal's SMART scopes allow (pure).
 *
 * Interactions map to permissions as SMART App Launch 2 defines them: create → c, read and vread →
 * r, update and patch → u, delete → d, search and history → s (and r on every resource returned).
 * Scope contexts by principal: a practitioner uses `user/` scopes, a patient `patient/` (and
 * `user/`, which for a patient user means the same compartment), a backend service `system/`.
 *
 * For a patient the scopes are further limited to their own compartment (the resource's patient
 * link, PATIENT_LINK in src/fhir/repository.ts): their Patient resource and resources about them.
 * A Binary names its patient only indirectly (securityContext, resolved when it was written), so
 * the caller tells whose a stored Binary is; a patient may read their own Binaries but not write
 * any. Practitioner, PractitionerRole and Organization may be read; nothing else outside the
 * compartment can be read or written. Whether a practitioner may see a given
 * patient is consent's decision (src/access/), not this module's.
 */
import type { Resource } from '@medplum/fhirtypes';
import { PATIENT_LINK } from '../fhir/repository.js';
import type { Principal } from './principal.js';
import { grants, type Permission, type ScopeContext } from './scopes.js';

export type Interaction = 'create' | 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'search' | 'history' | 'everything';

export const PERMISSION_OF: Readonly<Record<Interaction, Permission>> = {
  create: 'c',
  read: 'r',
  vread: 'r',
  update: 'u',
  patch: 'u',
  delete: 'd',
  search: 's',
  history: 's',
  everything: 'r',
};

/** Types a patient may read outside their compartment: directory data, not about another patient. */
const DIRECTORY_TYPES: ReadonlySet<string> = new Set(['Practitioner', 'PractitionerRole', 'Organization']);

export function contextsOf(principal: Principal): readonly ScopeContext[] {
  switch (principal.kind) {
    case 'practitioner':
      return ['user'];
    case 'patient':
      return ['patient', 'user'];
    case 'system':
      return ['system'];
  }
}

/** Whether the scopes allow `permission` on resources of `type` at all. */
export function scopeAllows(principal: Principal, type: string, permission: Permission): boolean {
  return grants(principal.scopes, contextsOf(principal), type, permission);
}

/** The FHIR Patient id a resource is about (its own id for a Patient), if any. */
export function patientIdOfResource(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  const link = PATIENT_LINK[resource.resourceType];
  if (link === undefined) return undefined;
  const reference = (resource as unknown as Record<string, { reference?: string } | undefined>)[link]?.reference;
  const match = reference === undefined ? null : /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
  return match?.[1];
}

/** Whether a type has a patient compartment link at this server (Patient itself included). */
export function isCompartmentType(type: string): boolean {
  return type === 'Patient' || PATIENT_LINK[type] !== undefined;
}

/** The FHIR Patient id a stored resource belongs to as the vault recorded it (for a Binary). */
export type StoredPatientOf = (type: string, id: string) => string | undefined;

/**
 * The compartment rule: true for practitioners and systems; for a patient, true for their own
 * resources, and for directory types when only reading.
 */
export function inCompartment(
  principal: Principal,
  resource: Resource,
  permission: Permission,
  storedPatientOf?: StoredPatientOf,
): boolean {
  if (principal.kind !== 'patient') return true;
  const reading = permission === 'r' || permission === 's';
  if (DIRECTORY_TYPES.has(resource.resourceType)) return reading;
  if (resource.resourceType === 'Binary') {
    return reading && resource.id !== undefined && storedPatientOf?.('Binary', resource.id) === principal.patient;
  }
  return patientIdOfResource(resource) === principal.patient;
}

/** Scope and compartment together, for one resource (read before returning it, or written). */
export function mayAccess(
  principal: Principal,
  resource: Resource,
  permission: Permission,
  storedPatientOf?: StoredPatientOf,
): boolean {
  return (
    scopeAllows(principal, resource.resourceType, permission) && inCompartment(principal, resource, permission, storedPatientOf)
  );
}

/**
 * Whether a patient may search or list `type` at all: compartment types (restricted to their
 * compartment by the caller) and directory types.
 */
export function patientMaySearch(type: string): boolean {
  return isCompartmentType(type) || DIRECTORY_TYPES.has(type);
}
