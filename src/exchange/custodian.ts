/**
 * The custodian side of record exchange: another organization's node asks, on behalf of one of
 * its practitioners, for a patient's records held here. The request is authenticated (./signing.ts),
 * the practitioner must be active at that organization on the ledger, and every record is decided
 * against this node's ledger state exactly as a FHIR read by that practitioner would be (consent to
 * the practitioner or their organization, or their open emergency access — never this node's
 * treatment relationship). What is disclosed, or that nothing was, is on the ledger before the
 * answer leaves; the answer holds sealed versions with data keys wrapped for the asking
 * organization only, and the ciphertext of any content file (attachment) a version references.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import { isCompartmentType } from '../auth/policy.js';
import { parseScopes } from '../auth/scopes.js';
import type { Enforcement } from '../fhir/rest/enforcement.js';
import type { LedgerNode } from '../node/ledger-node.js';
import {
  MAX_EXCHANGE_CONTENT_BYTES,
  MAX_EXCHANGE_ENTRIES,
  type ExchangeAnswer,
  type ExchangeRequest,
  type SealedEntry,
} from './protocol.js';
import { ContentIntegrityError } from '../vault/content-store.js';
import { IntegrityError } from '../vault/vault.js';
import { wrapFor } from './rewrap.js';

/** Scopes of a remote practitioner: reading only. Their own node checked their token's scopes. */
const REMOTE_SCOPES = parseScopes('user/*.rs').scopes;
/** How long a custodian waits for its ledger to reach the height the asking node saw. */
const CATCH_UP_MS = 5000;

export class ExchangeRefused extends Error {
  constructor(
    readonly code: 'exchange.forbidden' | 'exchange.invalid' | 'exchange.too_costly' | 'exchange.behind',
    message: string,
  ) {
    super(message);
  }
}

export class ExchangeCustodian {
  constructor(
    readonly node: LedgerNode,
    readonly enforcement: Enforcement,
  ) {}

  async serve(from: string, request: ExchangeRequest): Promise<ExchangeAnswer> {
    const { node, enforcement } = this;
    const { repository } = enforcement;
    await catchUp(node, request.height);
    const practitioner = node.chain.app.participant(request.requester);
    if (practitioner?.kind !== 'practitioner' || practitioner.org !== from || practitioner.status !== 'active')
      throw new ExchangeRefused('exchange.forbidden', `${request.requester} is not an active practitioner of ${from}`);
    const principal: Principal = {
      kind: 'practitioner',
      id: practitioner.id,
      org: from,
      roles: practitioner.roles ?? [],
      scopes: REMOTE_SCOPES,
      client: `exchange:${from}`,
    };
    const patientId = repository.vault.patientIdOf(request.patient);
    const visible = enforcement.visibleTo(principal);
    let found: { resource: Resource; mode: 'match' | 'include' }[] = [];
    let total: number | undefined;
    const { query } = request;
    if (patientId !== undefined && query.kind === 'everything') {
      found = repository
        .everything(patientId)
        .filter(visible)
        .map((resource) => ({ resource, mode: 'match' }));
    } else if (patientId !== undefined && query.kind === 'search') {
      const params = new URLSearchParams(query.params);
      // Confined to the patient's compartment, like a patient's own search.
      let compartment: readonly [string, string];
      if (query.type === 'Patient') compartment = ['_id', patientId];
      else if (isCompartmentType(query.type)) compartment = ['patient', `Patient/${patientId}`];
      else throw new ExchangeRefused('exchange.invalid', `${query.type} is outside the patient compartment`);
      params.delete('_summary');
      let result;
      try {
        result = repository.search(query.type, params, {
          visibility: enforcement.visibilityFor(principal, query.type),
          compartment,
        });
      } catch (error) {
        throw new ExchangeRefused('exchange.invalid', `the search is not valid here: ${(error as Error).message}`);
      }
      total = result.total;
      found = [
        ...result.matches.map((resource) => ({ resource, mode: 'match' as const })),
        ...result.included.filter(visible).map((resource) => ({ resource, mode: 'include' as const })),
      ];
    }
    if (found.length > MAX_EXCHANGE_ENTRIES)
      throw new ExchangeRefused('exchange.too_costly', `more than ${MAX_EXCHANGE_ENTRIES} records: ask per type`);
    const action = query.kind === 'everything' ? 'everything' : 'search';
    // Nothing visible is still an access decision about the patient: logged as a refusal.
    if (found.length === 0) await enforcement.access.log(principal, action, request.patient, []);
    else
      await enforcement.disclose(
        principal,
        action,
        found.map((f) => f.resource),
      );
    const recipient = node.chain.app.participant(from)!.key;
    const entries: SealedEntry[] = [];
    let contentBytes = 0;
    for (const { resource, mode } of found) {
      const sealed = repository.vault.sealedVersion(resource.resourceType, resource.id!, Number(resource.meta?.versionId));
      if (!sealed) continue;
      try {
        // An attachment's content file goes along as the ciphertext it is: the asking node checks
        // it against the reference sealed in the envelope (src/fhir/attachments.ts).
        let content: Uint8Array | undefined;
        if (sealed.content) {
          contentBytes += sealed.content.size;
          if (contentBytes > MAX_EXCHANGE_CONTENT_BYTES)
            throw new ExchangeRefused(
              'exchange.too_costly',
              `more than ${MAX_EXCHANGE_CONTENT_BYTES} bytes of attachments: ask per type`,
            );
          try {
            content = repository.vault.contents.ciphertextSync(sealed.content);
          } catch (error) {
            if (error instanceof ContentIntegrityError) throw new IntegrityError(sealed, error.message);
            throw error;
          }
        }
        const key = await wrapFor(recipient, sealed.dataKey, {
          chain: node.chain.chainId,
          record: sealed.record,
          version: sealed.version,
          recipient: from,
        });
        const { type, id, record, version, lastUpdated, envelope } = sealed;
        entries.push({ type, id, record, version, lastUpdated, mode, envelope, key, ...(content && { content }) });
      } finally {
        sealed.dataKey.fill(0);
      }
    }
    return { custodian: node.org.id, height: node.chain.head().height, entries, ...(total !== undefined && { total }) };
  }
}

/**
 * Waits (up to 5 s) until this node has committed `height`, the asking node's height: a consent or
 * a practitioner it just committed must count here too.
 */
export async function catchUp(node: LedgerNode, height: number): Promise<void> {
  const deadline = Date.now() + CATCH_UP_MS;
  while (node.chain.head().height < height) {
    if (Date.now() > deadline)
      throw new ExchangeRefused('exchange.behind', `this node has not yet committed height ${height}; try again`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
