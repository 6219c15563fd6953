/**
 * The CapabilityStatement: generated from the same tables the server runs on (writable types,
 * compiled search parameters), so it lists exactly what works.
 */
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { SEARCH_LIMITS, supportedSearchParams } from '../search/index.js';
import { WRITABLE_TYPES } from '../repository.js';

const RESULT_PARAMS = [
  { name: '_count', type: 'number', documentation: 'Page size (default 20, at most 1000).' },
  {
    name: '_sort',
    type: 'string',
    documentation: `Comma-separated, at most ${SEARCH_LIMITS.sortKeys} keys; _id, _lastUpdated and string, token and date parameters; "-" sorts descending.`,
  },
  { name: '_include', type: 'special', documentation: 'Type:param[:targetType], one level.' },
  { name: '_revinclude', type: 'special', documentation: 'Type:param[:targetType], one level.' },
  { name: '_summary', type: 'token', documentation: 'count or false.' },
  { name: '_total', type: 'token', documentation: 'none, estimate or accurate.' },
  { name: '_elements', type: 'string', documentation: 'Top-level elements to return (results are marked SUBSETTED).' },
] as const;

/** The bounds on one search (src/fhir/search/query.ts), as the CapabilityStatement states them. */
const SEARCH_LIMITS_TEXT =
  `A search takes at most ${SEARCH_LIMITS.parameters} parameters, ${SEARCH_LIMITS.valuesPerParameter} comma-separated values per parameter ` +
  `and ${SEARCH_LIMITS.values} values in all, of which at most ${SEARCH_LIMITS.containsValues} :contains values, and ${SEARCH_LIMITS.sortKeys} _sort keys; ` +
  'a larger search is refused with 400 and an OperationOutcome (too-costly) naming the parameter and the limit.';

function resourceEntry(type: string, writable: boolean): CapabilityStatementRestResource {
  const searchParams = supportedSearchParams(type).map((p) => ({
    name: p.code,
    type: p.type,
    ...(p.url !== undefined && { definition: p.url }),
  }));
  const reads = [{ code: 'read' as const }, { code: 'vread' as const }, { code: 'history-instance' as const }];
  const writes = writable
    ? [
        { code: 'create' as const },
        { code: 'update' as const },
        { code: 'patch' as const },
        { code: 'delete' as const },
        { code: 'history-type' as const },
      ]
    : [];
  return {
    type,
    interaction: [...reads, ...writes, ...(searchParams.length > 0 ? [{ code: 'search-type' as const }] : [])],
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: writable,
    // updateCreate depends on the token: see the resource documentation.
    ...(writable && {
      documentation:
        'Update-as-create (PUT with a client id) is open to system tokens and to practitioners who see every record of the type here; other callers get 405 for any id they do not see, so a hidden record is never told apart from a free id.',
    }),
    conditionalCreate: writable,
    conditionalUpdate: writable,
    conditionalDelete: 'not-supported',
    referencePolicy: ['literal', 'local', 'enforced'],
    ...(searchParams.length > 0 && {
      searchInclude: supportedSearchParams(type)
        .filter((p) => p.type === 'reference')
        .map((p) => `${type}:${p.code}`),
      searchParam: [...searchParams, ...RESULT_PARAMS.map((p) => ({ ...p }))],
    }),
    ...(type === 'Patient' && {
      operation: [
        { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
        // MedLedger's own: emergency access with a mandatory justification (see the README).
        { name: 'break-glass', definition: 'urn:medledger:operation:break-glass' },
      ],
    }),
  } as CapabilityStatementRestResource;
}

export function capabilityStatement(baseUrl: string, software: { name: string; version: string }): CapabilityStatement {
  const resources = [
    ...WRITABLE_TYPES.map((type) => resourceEntry(type, true)),
    {
      type: 'Provenance',
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      documentation: 'Derived from the ledger: one Provenance per resource version. Read-only.',
      searchParam: [{ name: 'target', type: 'reference' }],
    } as CapabilityStatementRestResource,
    {
      type: 'Consent',
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      documentation: 'Patient-signed consents on the ledger (consent.grant / consent.revoke). Read-only; paged with _cursor.',
      searchParam: [
        { name: 'patient', type: 'reference' },
        { name: '_count', type: 'number' },
      ],
    } as CapabilityStatementRestResource,
    {
      type: 'AuditEvent',
      interaction: [{ code: 'search-type' }],
      documentation: 'The access log on the ledger (access.log), IHE BALP shape. Read-only; paged with _cursor.',
      searchParam: [
        { name: 'patient', type: 'reference' },
        { name: 'agent', type: 'reference' },
        { name: '_count', type: 'number' },
      ],
    } as CapabilityStatementRestResource,
  ];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-25',
    kind: 'instance',
    software,
    implementation: { description: 'MedLedger node FHIR API', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        security: {
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
            },
          ],
          description: 'SMART App Launch 2: bearer access tokens from the authorization server named here; v2 scopes.',
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'authorize', valueUri: `${baseUrl.replace(/\/fhir$/, '')}/oauth/auth` },
                { url: 'token', valueUri: `${baseUrl.replace(/\/fhir$/, '')}/oauth/token` },
                { url: 'introspect', valueUri: `${baseUrl.replace(/\/fhir$/, '')}/oauth/token/introspection` },
                { url: 'revoke', valueUri: `${baseUrl.replace(/\/fhir$/, '')}/oauth/token/revocation` },
              ],
            },
          ],
        },
        documentation: `Every version is encrypted at this node and committed to the ledger before it is acknowledged; reads are checked against the ledger commitment. ${SEARCH_LIMITS_TEXT}`,
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
      },
    ],
  };
}
