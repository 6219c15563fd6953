/**
 * The asking side of record exchange: this node fetches, for one of its practitioners, a
 * patient's records held by other custodians. Which organizations hold records of the patient
 * comes from the ledger (record commitments name their custodian); where their nodes are, from the
 * node's peer list. Every answer is checked before anything is used: the custodian's signature,
 * then per version the ledger's commitment (SHA-256 of the envelope), custodian and patient, the
 * data key wrapped for this organization, and the envelope's associated data (type, id, version,
 * ledger author, record). A custodian that fails any check contributes nothing.
 */
import type { Resource } from '@medplum/fhirtypes';
import { equalBytes } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import type { Signer } from '../crypto/ed25519.js';
import { decodeTx } from '../ledger/tx.js';
import type { Chain } from '../node/chain.js';
import { decryptVersion, IntegrityError } from '../vault/vault.js';
import { receivedWith } from '../fhir/attachments.js';
import {
  AGGREGATE_PATH,
  answerFromJson,
  EXCHANGE_PATH,
  ProtocolError,
  type ExchangeQuery,
  type SealedEntry,
} from './protocol.js';
import { unwrapWith, UnwrapError } from './rewrap.js';
import { newStamp, RESPONSE_HEADER, REQUEST_HEADER, signRequest, verifyResponse } from './signing.js';

export interface RemoteResource {
  readonly custodian: string;
  /** The custodian node's FHIR base, for the entry's fullUrl. */
  readonly base: string;
  readonly resource: Resource;
  readonly mode: 'match' | 'include';
}

/** What one custodian contributed: resources, or why nothing. */
export type CustodianResult =
  | { readonly custodian: string; readonly ok: true; readonly resources: RemoteResource[]; readonly total?: number }
  | { readonly custodian: string; readonly ok: false; readonly code: string; readonly message: string };

/** One custodian's partial result of a population query, or why there is none. */
export type PartialResult =
  | { readonly custodian: string; readonly ok: true; readonly partial: unknown }
  | { readonly custodian: string; readonly ok: false; readonly code: string; readonly message: string };

export interface ExchangeClientOptions {
  readonly chain: Chain;
  /** This node's organization and its key (signs requests; opens wrapped keys). */
  readonly org: string;
  readonly orgSigner: Signer;
  readonly orgSeed: Uint8Array;
  /** Base URL of each other organization's node, e.g. {org_b: 'https://b.example'}. */
  readonly peers: ReadonlyMap<string, string>;
  readonly timeoutMs?: number;
}

class Refused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const CATCH_UP_MS = 5000;

/** Runs one custodian's part; a refusal or a network error becomes that custodian's failure. */
async function settle<T extends { ok: true }>(
  custodian: string,
  task: () => Promise<T>,
): Promise<({ custodian: string } & T) | { custodian: string; ok: false; code: string; message: string }> {
  try {
    return { custodian, ...(await task()) };
  } catch (error) {
    if (error instanceof Refused) return { custodian, ok: false, code: error.code, message: error.message };
    const message = error instanceof Error ? error.message : String(error);
    return { custodian, ok: false, code: 'exchange.unreachable', message: `${custodian}: ${message}` };
  }
}

export class ExchangeClient {
  readonly #o: ExchangeClientOptions;
  /** Custodians holding records of a patient, as of a log index (extended incrementally). */
  readonly #custodians = new Map<string, { index: number; orgs: Set<string> }>();

  constructor(options: ExchangeClientOptions) {
    this.#o = options;
  }

  get peers(): ReadonlyMap<string, string> {
    return this.#o.peers;
  }

  /** Other organizations that committed records of the patient (from the ledger's subject index). */
  custodiansOf(patient: string): string[] {
    const { chain } = this.#o;
    const known = this.#custodians.get(patient) ?? { index: -1, orgs: new Set<string>() };
    let newest = known.index;
    let before: number | undefined;
    scan: for (;;) {
      const page = chain.store.txsBySubject(patient, { limit: 500, ...(before !== undefined && { before }) });
      for (const stored of page) {
        if (stored.index <= known.index) break scan;
        newest = Math.max(newest, stored.index);
        const decoded = decodeTx(stored.wire, chain.chainId, { skipSignature: true });
        if (decoded.ok && decoded.value.tx.type === 'record.commit') known.orgs.add(decoded.value.tx.body.custodian);
      }
      if (page.length < 500) break;
      before = page.at(-1)!.index;
    }
    this.#custodians.set(patient, { index: newest, orgs: known.orgs });
    return [...known.orgs].filter((org) => org !== this.#o.org).sort();
  }

  /** Asks every other custodian of the patient's records, in parallel. */
  async fromAll(requester: string, patient: string, query: ExchangeQuery): Promise<CustodianResult[]> {
    return Promise.all(this.custodiansOf(patient).map((custodian) => this.fromOne(custodian, requester, patient, query)));
  }

  async fromOne(custodian: string, requester: string, patient: string, query: ExchangeQuery): Promise<CustodianResult> {
    return settle(custodian, async () => ({ ok: true as const, ...(await this.#ask(custodian, requester, patient, query)) }));
  }

  /**
   * Every other organization's partial result of a population query for one of this node's
   * analysts (only aggregates leave a custodian; see src/population). The caller validates them.
   */
  async partialsFromAll(analyst: string, query: unknown): Promise<PartialResult[]> {
    const others = [...this.#o.peers.keys()].filter((org) => org !== this.#o.org).sort();
    return Promise.all(
      others.map((custodian) =>
        settle(custodian, async () => {
          const json = await this.#post(custodian, AGGREGATE_PATH, {
            requester: analyst,
            query,
            height: this.#o.chain.head().height,
          });
          const partial = (json as { partial?: unknown }).partial;
          if (partial === undefined) throw new Refused('exchange.malformed', `${custodian} sent no partial`);
          return { ok: true as const, partial };
        }),
      ),
    );
  }

  /** POSTs a signed request to a custodian's node; the answer's JSON once its signature checks out. */
  async #post(custodian: string, path: string, payload: unknown): Promise<unknown> {
    const { chain, org, orgSigner, peers } = this.#o;
    const base = peers.get(custodian);
    if (base === undefined) throw new Refused('exchange.no_peer', `no node address is configured for ${custodian}`);
    const key = chain.app.participant(custodian);
    if (key?.kind !== 'organization' || key.status !== 'active')
      throw new Refused('exchange.forbidden', `${custodian} is not an active organization`);
    const body = Buffer.from(JSON.stringify(payload));
    const stamp = newStamp(org, custodian, Date.now());
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REQUEST_HEADER]: signRequest(chain.chainId, orgSigner, stamp, path, body) },
      body,
      signal: AbortSignal.timeout(this.#o.timeoutMs ?? 15_000),
    });
    const raw = new Uint8Array(await response.arrayBuffer());
    if (!verifyResponse(chain.chainId, stamp, response.headers.get(RESPONSE_HEADER), key.key, response.status, raw))
      throw new Refused('exchange.unauthenticated', `the answer of ${custodian} is not signed by its ledger key`);
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(raw).toString('utf8'));
    } catch {
      throw new Refused('exchange.malformed', `the answer of ${custodian} is not JSON`);
    }
    if (response.status !== 200) {
      const error = json as { code?: unknown; message?: unknown };
      throw new Refused(String(error.code ?? 'exchange.failed'), `${custodian}: ${String(error.message ?? response.status)}`);
    }
    return json;
  }

  async #ask(
    custodian: string,
    requester: string,
    patient: string,
    query: ExchangeQuery,
  ): Promise<{ resources: RemoteResource[]; total?: number }> {
    const { chain, peers } = this.#o;
    const json = await this.#post(custodian, EXCHANGE_PATH, { requester, patient, query, height: chain.head().height });
    let answer;
    try {
      answer = answerFromJson(json);
    } catch (error) {
      if (error instanceof ProtocolError) throw new Refused('exchange.malformed', `${custodian}: ${error.message}`);
      throw error;
    }
    if (answer.custodian !== custodian) throw new Refused('exchange.malformed', `${custodian} answered as ${answer.custodian}`);
    const base = peers.get(custodian)!;
    await this.#catchUp(answer.height);
    const resources: RemoteResource[] = [];
    for (const entry of answer.entries) {
      resources.push({
        custodian,
        base: `${base}/fhir`,
        mode: entry.mode,
        resource: await this.#open(custodian, patient, entry),
      });
    }
    return { resources, ...(answer.total !== undefined && { total: answer.total }) };
  }

  /** One sealed version, checked against this node's ledger and opened. */
  async #open(custodian: string, patient: string, entry: SealedEntry): Promise<Resource> {
    const { chain, org, orgSeed } = this.#o;
    const bad = (reason: string) =>
      new Refused('exchange.integrity', `${custodian}: ${entry.record} v${entry.version}: ${reason}`);
    const head = chain.app.recordHead(entry.record);
    const version = chain.app.recordVersion(entry.record, entry.version);
    if (!head || head.custodian !== custodian) throw bad('not a record of this custodian on the ledger');
    if (head.patient !== patient) throw bad('not a record of this patient on the ledger');
    if (version?.commitment === undefined) throw bad('the ledger has no such write');
    if (!equalBytes(sha256(entry.envelope), version.commitment)) throw bad('the ciphertext does not match the ledger commitment');
    const context = { chain: chain.chainId, record: entry.record, version: entry.version, recipient: org };
    let dataKey: Uint8Array;
    try {
      dataKey = await unwrapWith(orgSeed, entry.key, context);
    } catch (error) {
      if (error instanceof UnwrapError) throw bad(error.message);
      throw error;
    }
    try {
      const at = { type: entry.type, id: entry.id, version: entry.version, author: version.author, record: entry.record };
      const resource = decryptVersion(dataKey, entry.envelope, at);
      if (resource['resourceType'] !== entry.type || resource['id'] !== entry.id) throw bad('the content is another resource');
      return receivedWith(at, resource, entry.content) as unknown as Resource;
    } catch (error) {
      if (error instanceof IntegrityError) throw bad(error.message);
      throw error;
    } finally {
      dataKey.fill(0);
    }
  }

  async #catchUp(height: number): Promise<void> {
    const deadline = Date.now() + CATCH_UP_MS;
    while (this.#o.chain.head().height < height) {
      if (Date.now() > deadline) throw new Refused('exchange.behind', `this node has not yet committed height ${height}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
