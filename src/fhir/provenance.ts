/**
 * Provenance derived from the ledger: one Provenance per resource version, naming who wrote it,
 * when, and the ledger transaction that committed it. Nothing is stored twice: these resources are
 * built from the vault's version rows and the ledger's record state on every request.
 */
import type { Provenance, Resource } from '@medplum/fhirtypes';
import { toHex } from '../crypto/bytes.js';
import type { HistoryEntry as VaultHistoryEntry } from '../vault/vault.js';
import { badRequest, type FhirError, notFound } from './outcome.js';
import type { FhirRepository } from './repository.js';

export const LEDGER_TX_EXTENSION = 'https://medledger.dev/fhir/StructureDefinition/ledger-transaction';
const PARTICIPANT_SYSTEM = 'urn:medledger:participant';
const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
const PROVENANCE_ID = /^([a-z2-7]{26})-([1-9][0-9]{0,8})$/;
const TARGET = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([1-9][0-9]{0,8}))?$/;

function provenanceOf(type: string, id: string, v: VaultHistoryEntry, previousDeleted: boolean): Provenance {
  const activity = v.deleted ? 'DELETE' : v.version === 1 || previousDeleted ? 'CREATE' : 'UPDATE';
  return {
    resourceType: 'Provenance',
    id: `${v.record.slice('rec_'.length)}-${v.version}`,
    target: [{ reference: `${type}/${id}/_history/${v.version}` }],
    recorded: new Date(v.lastUpdated).toISOString(),
    activity: { coding: [{ system: DATA_OPERATION, code: activity }] },
    agent: [{ who: { identifier: { system: PARTICIPANT_SYSTEM, value: v.author } } }],
    ...(v.txHash !== null && {
      extension: [
        {
          url: LEDGER_TX_EXTENSION,
          extension: [
            { url: 'hash', valueString: toHex(v.txHash) },
            ...(v.height !== null ? [{ url: 'height', valueInteger: v.height }] : []),
            { url: 'record', valueString: v.record },
          ],
        },
      ],
    }),
  };
}

/** Provenance of every version of one resource, newest first. */
export function provenanceForTarget(repository: FhirRepository, target: string): Provenance[] {
  const match = TARGET.exec(target);
  if (!match) throw badRequest(`target must be a relative reference like Observation/123, got "${target.slice(0, 80)}"`);
  const [, type, id, version] = match;
  if (!repository.vault.resource(type!, id!)) return [];
  const versions = repository.vault.history(type!, id!);
  const all = versions.map((v, i) => provenanceOf(type!, id!, v, versions[i + 1]?.deleted ?? false));
  return version === undefined ? all : all.filter((p) => p.target[0]!.reference!.endsWith(`/_history/${version}`));
}

/** The 404 of a Provenance id this node cannot answer (also what a caller gets for a hidden target). */
export const provenanceNotFound = (provenanceId: string): FhirError =>
  notFound(`Provenance/${provenanceId.slice(0, 80)} does not exist`);

/** The resource whose record a Provenance id names (whatever the version), if this node holds it. */
export function provenanceTargetOf(repository: FhirRepository, provenanceId: string): { type: string; id: string } | undefined {
  const match = PROVENANCE_ID.exec(provenanceId);
  if (!match) return undefined;
  return repository.vault.db.prepare('SELECT type, id FROM current WHERE record = ?').get(`rec_${match[1]}`) as
    { type: string; id: string } | undefined;
}

export function readProvenance(repository: FhirRepository, provenanceId: string): Provenance {
  const target = provenanceTargetOf(repository, provenanceId);
  const version = PROVENANCE_ID.exec(provenanceId)?.[2];
  const found = target && provenanceForTarget(repository, `${target.type}/${target.id}/_history/${version}`)[0];
  if (!found) throw provenanceNotFound(provenanceId);
  return found;
}

export function isProvenance(resource: Resource): resource is Provenance {
  return resource.resourceType === 'Provenance';
}
