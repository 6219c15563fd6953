/**
 * Read-only FHIR views of ledger facts: `Consent` (patient-signed grants) and `AuditEvent` (the
 * access log), searched through the ledger's subject index and paged by log position. They are
 * not stored resources: the ledger is their source of truth, so they cannot be written here.
 *
 * Who sees what: a patient sees their own consents and every access to their record; a
 * practitioner sees consents granted to them or their organization and their own accesses (a
 * refused one names the patient by pseudonym only: see the AuditEvent route); a privacy officer
 * sees everything about their organization's practitioners; a backend system what concerns its
 * organization.
 */
import type { AuditEvent, Bundle, Consent as FhirConsent } from '@medplum/fhirtypes';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import { scopeAllows } from '../../auth/policy.js';
import { auditEventResource, consentResource, ledgerIdOf, PARTICIPANT_SYSTEM } from '../../access/fhir-views.js';
import { decodeTx } from '../../ledger/tx.js';
import type { Chain } from '../../node/chain.js';
import type { Consent } from '../../state/consents.js';
import { FhirError, notFound } from '../outcome.js';
import type { FhirRepository } from '../repository.js';
import { FHIR_JSON, principalOf } from './request.js';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 200;
/** Transactions examined per page at most, so a sparse subject cannot make one request scan the log. */
const MAX_SCAN = 2000;

export interface LedgerViewOptions {
  readonly repository: FhirRepository;
  readonly chain: Chain;
  readonly baseOf: (request: FastifyRequest) => string;
  readonly clock?: () => number;
}

const forbidden = (diagnostics: string): FhirError => FhirError.of(403, 'forbidden', diagnostics);

const isOfficer = (p: Principal): boolean => p.kind === 'practitioner' && p.roles.includes('privacy-officer');
const orgOf = (p: Principal): string | undefined => (p.kind === 'patient' ? undefined : p.org);

function pageParams(query: URLSearchParams): { count: number; cursor: number | undefined } {
  const count = query.get('_count') ?? String(DEFAULT_COUNT);
  const cursor = query.get('_cursor');
  if (!/^[0-9]{1,4}$/.test(count)) throw FhirError.of(400, 'invalid', `_count must be 0..${MAX_COUNT}`);
  if (cursor !== null && !/^[0-9]{1,15}$/.test(cursor))
    throw FhirError.of(400, 'invalid', '_cursor is not a cursor of this server');
  return { count: Math.min(Number(count), MAX_COUNT), cursor: cursor === null ? undefined : Number(cursor) };
}

export const ledgerViewRoutes: FastifyPluginAsync<LedgerViewOptions> = async (app, options) => {
  const { repository, chain } = options;
  const clock = options.clock ?? Date.now;

  /** `Patient/123`, `123` → the pseudonym linked to that Patient at this node. */
  function pseudonymOf(reference: string): string | undefined {
    const id = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(reference)?.[1];
    return id === undefined ? undefined : repository.vault.patientPseudonym(id);
  }
  const patientIdOf = (pseudonym: string): string | undefined => repository.vault.patientIdOf(pseudonym);

  function requireScope(principal: Principal, type: string, permission: 'r' | 's'): void {
    if (!scopeAllows(principal, type, permission))
      throw forbidden(`the access token's scopes do not allow ${permission === 'r' ? 'read' : 'search'} on ${type}`);
  }

  /** Which grants the principal may see. */
  function seesConsent(principal: Principal, consent: Consent): boolean {
    if (principal.kind === 'patient') return consent.patient === principal.id;
    const org = orgOf(principal)!;
    if (consent.grantee === org) return true;
    if (principal.kind === 'practitioner' && consent.grantee === principal.id) return true;
    return isOfficer(principal) && chain.app.participant(consent.grantee)?.org === org;
  }

  /**
   * Walks transactions about `subject`, newest first from `cursor`, until `count` items are
   * collected. Pages end on transaction boundaries (one access log may hold several events), so
   * a page can hold a few more than `count`; `next` is the cursor of the following page.
   */
  function collect<T>(
    subject: string,
    cursor: number | undefined,
    count: number,
    expand: (index: number, tx: ReturnType<typeof decodeTx>) => T[],
  ): { items: T[]; next: number | undefined } {
    const items: T[] = [];
    let before = cursor;
    let scanned = 0;
    let exhausted = false;
    while (items.length < count && scanned < MAX_SCAN && !exhausted) {
      const page = chain.store.txsBySubject(subject, { limit: 100, ...(before !== undefined && { before }) });
      exhausted = page.length < 100;
      for (const stored of page) {
        scanned++;
        items.push(...expand(stored.index, decodeTx(stored.wire, chain.chainId, { skipSignature: true })));
        before = stored.index;
        if (items.length >= count) {
          exhausted = false;
          break;
        }
      }
    }
    const more = count > 0 && before !== undefined && chain.store.txsBySubject(subject, { limit: 1, before }).length > 0;
    return { items, next: more ? before : undefined };
  }

  function bundle(
    request: FastifyRequest,
    type: string,
    resources: (FhirConsent | AuditEvent)[],
    next: number | undefined,
  ): Bundle {
    const base = options.baseOf(request);
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    const self = `${base}/${type}${query.size > 0 ? `?${query}` : ''}`;
    query.delete('_cursor');
    if (next !== undefined) query.set('_cursor', String(next));
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [
        { relation: 'self', url: self },
        ...(next !== undefined ? [{ relation: 'next', url: `${base}/${type}?${query}` }] : []),
      ],
      ...(resources.length > 0 && {
        entry: resources.map((resource) => ({
          fullUrl: `${base}/${type}/${resource.id}`,
          resource,
          search: { mode: 'match' as const },
        })),
      }),
    };
  }

  /** The subject to search by: the patient asked about (checked), or the requester's own id. */
  function subjectFor(principal: Principal, query: URLSearchParams): string {
    const patient = query.get('patient');
    if (patient === null) {
      if (principal.kind === 'patient') return principal.id;
      return principal.kind === 'practitioner' && !isOfficer(principal) ? principal.id : orgOf(principal)!;
    }
    const pseudonym = pseudonymOf(patient);
    if (principal.kind === 'patient') {
      if (pseudonym !== principal.id) throw forbidden('a patient token may only see its own patient');
      return pseudonym;
    }
    // An unknown patient is answered like a known one with nothing visible.
    return pseudonym ?? 'pat_unknown';
  }

  app.get('/Consent', async (request, reply) => {
    const principal = principalOf(request);
    requireScope(principal, 'Consent', 's');
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    for (const key of query.keys()) {
      if (!['patient', '_count', '_cursor'].includes(key))
        throw FhirError.of(400, 'not-supported', `Consent search supports patient, _count and _cursor; not ${key}`);
    }
    const { count, cursor } = pageParams(query);
    const now = clock();
    const seen = new Set<string>();
    const { items, next } = collect(subjectFor(principal, query), cursor, count, (_index, tx) => {
      if (!tx.ok || tx.value.tx.type !== 'consent.grant') return [];
      const consent = chain.app.consent(tx.value.tx.body.id);
      if (!consent || seen.has(consent.id) || !seesConsent(principal, consent)) return [];
      seen.add(consent.id);
      const patientId = patientIdOf(consent.patient);
      return [consentResource(consent, { now, ...(patientId !== undefined && { patientId }) })];
    });
    return reply.type(FHIR_JSON).send(bundle(request, 'Consent', items, next));
  });

  app.get<{ Params: { id: string } }>('/Consent/:id', async (request, reply) => {
    const principal = principalOf(request);
    requireScope(principal, 'Consent', 'r');
    const consent = /^cns-[a-z2-7]{26}$/.test(request.params.id) ? chain.app.consent(ledgerIdOf(request.params.id)) : undefined;
    if (!consent || !seesConsent(principal, consent)) throw notFound(`Consent/${request.params.id.slice(0, 64)} is not known`);
    const patientId = patientIdOf(consent.patient);
    return reply.type(FHIR_JSON).send(consentResource(consent, { now: clock(), ...(patientId !== undefined && { patientId }) }));
  });

  app.get('/AuditEvent', async (request, reply) => {
    const principal = principalOf(request);
    requireScope(principal, 'AuditEvent', 's');
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    for (const key of query.keys()) {
      if (!['patient', 'agent', '_count', '_cursor'].includes(key))
        throw FhirError.of(400, 'not-supported', `AuditEvent search supports patient, agent, _count and _cursor; not ${key}`);
    }
    const agentParam = query.get('agent');
    const agent = agentParam === null ? undefined : agentParam.replace(`${PARTICIPANT_SYSTEM}|`, '');
    if (agent !== undefined && !/^(?:org|prac|pat)_[a-z0-9-]{1,40}$/.test(agent))
      throw FhirError.of(400, 'invalid', 'agent must be a ledger participant id');
    // Practitioners other than privacy officers see only their own accesses.
    if (principal.kind === 'practitioner' && !isOfficer(principal) && agent !== undefined && agent !== principal.id)
      throw forbidden('only privacy officers list other practitioners’ accesses');
    const subject = agent !== undefined && query.get('patient') === null ? agent : subjectFor(principal, query);
    const org = orgOf(principal);
    const ownOnly = principal.kind === 'practitioner' && !isOfficer(principal);
    const { count, cursor } = pageParams(query);
    const { items, next } = collect(subject, cursor, count, (index, tx) => {
      if (!tx.ok || tx.value.tx.type !== 'access.log') return [];
      const { signer } = tx.value.tx;
      const out: AuditEvent[] = [];
      tx.value.tx.body.events.forEach((event, position) => {
        if (agent !== undefined && event.actor !== agent) return;
        const visible =
          principal.kind === 'patient' ? event.patient === principal.id : ownOnly ? event.actor === principal.id : signer === org;
        if (!visible || (subject.startsWith('pat_') && event.patient !== subject)) return;
        // A practitioner's own refusal is about a record they may not see: shown to them as the
        // ledger API shows it to every staff member (the patient's pseudonym, no Patient
        // reference), and never matched by a search by patient, which would link the two. The
        // patient and the organization's privacy officers and systems see the whole event.
        const refusedToViewer = ownOnly && event.decision === 'deny';
        if (refusedToViewer && query.get('patient') !== null) return;
        const patientId = refusedToViewer ? undefined : patientIdOf(event.patient);
        const purpose = 'grant' in event && event.basis === 'consent' ? chain.app.consent(event.grant)?.purpose : undefined;
        out.push(auditEventResource({ index, hash: tx.value.hash, signer }, position, event, patientId, purpose));
      });
      return out;
    });
    return reply.type(FHIR_JSON).send(bundle(request, 'AuditEvent', items, next));
  });

  // Neither is written through FHIR: consents are signed by patients, the access log by the node.
  for (const type of ['Consent', 'AuditEvent']) {
    const refuse = async (): Promise<never> => {
      throw FhirError.of(
        405,
        'not-supported',
        type === 'Consent'
          ? 'consents are patient-signed ledger transactions (consent.grant / consent.revoke), not FHIR writes'
          : 'the access log is written by the node, never by clients',
      );
    };
    app.post(`/${type}`, refuse);
    app.put(`/${type}/:id`, refuse);
    app.patch(`/${type}/:id`, refuse);
    app.delete(`/${type}/:id`, refuse);
  }
};
