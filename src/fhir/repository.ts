/**
 * The FHIR repository of a node: validated resources in the encrypted vault, each version committed
 * to the ledger, with the search index kept in step inside the vault's commit transaction.
 *
 * This is where FHIR semantics live (ids, versions, conditional operations, references, the patient
 * compartment); the REST layer only translates HTTP to these calls and back.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import jsonPatch from 'fast-json-patch';
import type { Statement } from 'better-sqlite3-multiple-ciphers';
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { LedgerNode } from '../node/ledger-node.js';
import {
  IntegrityError,
  Vault,
  VaultError,
  type BatchItem,
  type JsonObject,
  type ReadResult,
  type WriteResult,
} from '../vault/vault.js';
import type { ResourceRow } from '../vault/store.js';
import { badRequest, conflict, FhirError, gone, notFound, notSupported, preconditionFailed, unprocessable } from './outcome.js';
import {
  extractIndexEntries,
  IndexWriter,
  parseSearch,
  runSearch,
  SEARCH_RESOURCE_TYPES,
  type SearchQuery,
} from './search/index.js';
import { collectReferences, validateResource } from './validation/validate.js';
import { rowVisible, visibleSql, type VisibilityFilter } from './search/visibility.js';
import {
  attachmentTooLarge,
  INLINE_DATA_MAX_BYTES,
  MAX_ATTACHMENT_BYTES,
  presented,
  rawContent,
  type RawContent,
} from './attachments.js';
import { CONTENT_FIELD, withoutContentRef, type ContentRef } from '../vault/content-ref.js';
import { ContentTooLarge } from '../vault/content-store.js';
import { attachedBinaries, securityContextOf } from './security-context.js';

export type { VisibilityFilter };

/** Types clients may write. Provenance is derived from the ledger; Consent and AuditEvent come with access control. */
export const WRITABLE_TYPES = [
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Encounter',
  'Observation',
  'Condition',
  'AllergyIntolerance',
  'MedicationRequest',
  'Immunization',
  'Procedure',
  'DiagnosticReport',
  'DocumentReference',
  'CarePlan',
  'Binary',
] as const;
export type WritableType = (typeof WRITABLE_TYPES)[number];

const WRITABLE: ReadonlySet<string> = new Set(WRITABLE_TYPES);
const SEARCHABLE: ReadonlySet<string> = new Set(SEARCH_RESOURCE_TYPES);
/** Types this node knows but never takes writes for (405, not 404): derived from the ledger or from access control. */
const READ_ONLY: ReadonlySet<string> = new Set(['Provenance', 'Consent', 'AuditEvent']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/(\d{1,9}))?$/;
/** Bytes a base64 string decodes to, near enough to compare with a threshold. */
const base64Size = (b64: string): number => Math.floor((b64.length * 3) / 4);

/** A Binary without its inline data (which has gone to a content file). */
function withoutData(resource: Resource): Resource {
  const { data: _data, ...rest } = resource as Resource & { data?: string };
  return rest as Resource;
}

/**
 * Where each type names its patient (the patient compartment's link for the types we store). A
 * Binary has none: it takes the patient of the resource its securityContext names (./security-context.ts).
 */
export const PATIENT_LINK: Readonly<Record<string, string>> = {
  Encounter: 'subject',
  Observation: 'subject',
  Condition: 'subject',
  AllergyIntolerance: 'patient',
  MedicationRequest: 'subject',
  Immunization: 'patient',
  Procedure: 'subject',
  DiagnosticReport: 'subject',
  DocumentReference: 'subject',
  CarePlan: 'subject',
};

/** Who acts, on whose behalf the ledger will record it. */
export interface Actor {
  /** Ledger participant id of the author (the organization or one of its practitioners). */
  readonly author: string;
}

export interface Stored {
  readonly resource: Resource;
  readonly version: number;
  readonly lastUpdated: number;
}

export interface SavedResult extends Stored {
  /** True when the write created the resource (201), false when it updated it (200). */
  readonly created: boolean;
}

export interface HistoryEntry {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly lastUpdated: number;
  /** Null for a delete. */
  readonly resource: Resource | null;
  /** Whether this version created the resource (version 1, or the first after a delete). */
  readonly method: 'POST' | 'PUT' | 'DELETE';
}

export interface SearchOutcome {
  readonly query: SearchQuery;
  readonly matches: Resource[];
  readonly included: Resource[];
  readonly total?: number;
  readonly nextOffset?: number;
}

/** One write or delete of {@link FhirRepository.commitMany}. */
export type PlannedWrite =
  | {
      readonly op: 'write';
      readonly type: string;
      readonly id: string;
      readonly resource: Resource;
      readonly expectedVersion?: number;
    }
  | { readonly op: 'delete'; readonly type: string; readonly id: string; readonly expectedVersion?: number };

export interface CommittedWrite {
  readonly type: string;
  readonly id: string;
  /** The stored resource; null for a delete. */
  readonly resource: Resource | null;
  readonly version: number;
  readonly lastUpdated: number;
  /** True when the write created the resource (or re-created a deleted one). */
  readonly created: boolean;
}

export interface RepositoryOptions {
  readonly clock?: () => number;
}

/**
 * What the author of a write may see (src/access), for the write's own lookups: its target and the
 * records it references. A record outside it is answered exactly like one that does not exist —
 * same status, same words — so a write can never tell a hidden record from an absent one. Writes
 * without a writer scope are the node's own (the demo loader, tests) and see everything.
 */
export interface WriterScope {
  /** The visibility of the writer per resource type. */
  readonly sees: (type: string) => VisibilityFilter;
  /**
   * Whether the writer may create a resource of `type` with an id of its choosing (update as
   * create). Only a writer to whom no record of the type is hidden can be let do it without
   * leaking: an id taken by a hidden record could be neither created nor overwritten, so the
   * answer would tell it from a free id. Everyone else is refused for every id they do not see,
   * taken or not (405, the answer FHIR gives when a server does not allow client-defined ids).
   */
  readonly createsWithId: (type: string) => boolean;
}

export class FhirRepository {
  readonly vault: Vault;
  readonly #node: LedgerNode;
  /** Whether a resource has a version by an author (the `authors` treatment rule), prepared once. */
  #authoredBy: Statement<[number, string]> | undefined;
  /** Conditional creates in flight, per resource type (see #conditionally). */
  readonly #conditional = new Map<string, Promise<unknown>>();

  private constructor(node: LedgerNode, vault: Vault) {
    this.#node = node;
    this.vault = vault;
  }

  static async open(node: LedgerNode, dataDir: string, options: RepositoryOptions = {}): Promise<FhirRepository> {
    let writer: IndexWriter | undefined;
    const vault = await Vault.open(node, dataDir, {
      ...(options.clock && { clock: options.clock }),
      // The index changes in the same SQLite transaction as the version it describes.
      onCommit: ({ res, type, resource, vault: v }) => {
        writer ??= new IndexWriter(v.db);
        if (resource === null) writer.remove(res);
        else writer.replace(res, type, extractIndexEntries(resource as unknown as Resource));
      },
    });
    vault.db.exec('CREATE INDEX IF NOT EXISTS versions_by_time ON versions (last_updated, res, version)');
    vault.db.exec('CREATE INDEX IF NOT EXISTS current_by_patient ON current (patient)');
    return new FhirRepository(node, vault);
  }

  /** The organization this node keeps records for: the default author until requests are authenticated. */
  get organization(): string {
    return this.#node.org.id;
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /**
   * POST. With `ifNoneExist`, a resource matching the search (among those `visibility` lets the
   * caller see: a hidden match is never returned or revealed) is returned instead.
   */
  async create(
    input: unknown,
    actor: Actor,
    options: { ifNoneExist?: string; visibility?: VisibilityFilter; content?: ContentRef; writer?: WriterScope } = {},
  ): Promise<SavedResult> {
    const resource = this.#validate(input);
    const type = resource.resourceType;
    this.#checkWritable(type);
    const ifNoneExist = options.ifNoneExist;
    const writer = options.writer;
    if (ifNoneExist === undefined) {
      const id = randomUUID();
      return this.#save(type, id, { ...resource, id } as Resource, actor, 0, options.content, writer);
    }
    if (options.content) throw badRequest('a raw upload cannot be a conditional create');
    return this.#conditionally(type, async () => {
      const existing = this.#conditionalMatch(type, ifNoneExist, options.visibility);
      if (existing.length === 1) return { ...this.#storedOf(existing[0]!), created: false };
      if (existing.length > 1) throw preconditionFailed(`If-None-Exist matched ${existing.length} ${type} resources`);
      const id = randomUUID();
      return this.#save(type, id, { ...resource, id } as Resource, actor, 0, undefined, writer);
    });
  }

  /**
   * Runs conditional creates of one type one after the other, each from its search to its commit:
   * two concurrent creates with the same If-None-Exist (which the vault would otherwise coalesce
   * into one ledger commit, neither seeing the other) thus make one resource, the second finding
   * the first. Unconditional writes are not held up.
   */
  #conditionally<T>(type: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#conditional.get(type) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#conditional.set(type, tail);
    void tail.then(() => {
      if (this.#conditional.get(type) === tail) this.#conditional.delete(type);
    });
    return result;
  }

  /**
   * Runs `task` in turn with the conditional creates of every type in `types` (a Bundle with
   * conditional entries); types are taken in sorted order, so two such Bundles cannot wait on
   * each other.
   */
  serializeConditional<T>(types: readonly string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(types)].sort();
    const step = (i: number): Promise<T> => (i === sorted.length ? task() : this.#conditionally(sorted[i]!, () => step(i + 1)));
    return step(0);
  }

  /**
   * PUT: updates, or creates with the client's id. `ifMatch` is the version the client saw.
   * `content` (create too): a Binary's bytes already in a vault content file (a raw upload).
   * With a `writer`, the body is validated first, whatever the id; then a target the writer does
   * not see is handled like an absent one (see {@link checkUpdateTarget}).
   */
  async update(
    type: string,
    id: string,
    input: unknown,
    actor: Actor,
    options: { ifMatch?: number; content?: ContentRef; writer?: WriterScope } = {},
  ): Promise<SavedResult> {
    this.#checkWritable(type);
    checkId(id);
    const resource = this.#validate(input);
    if (resource.resourceType !== type)
      throw badRequest(`resourceType ${resource.resourceType} does not match the URL (${type})`);
    if (resource.id === undefined) throw badRequest('an update must carry the resource id', `${type}.id`);
    if (resource.id !== id) throw badRequest(`resource id ${resource.id} does not match the URL (${id})`, `${type}.id`);
    this.checkUpdateTarget(type, id, options.writer);
    return this.#save(type, id, resource, actor, options.ifMatch, options.content, options.writer);
  }

  /**
   * Whether `writer` may PUT to `type/id`: always to a resource it sees (deleted or not: a PUT
   * re-creates it); to an id it does not see — free, or taken by a record hidden from it — only
   * if it may create with ids of its choosing, and never over a hidden record. The refusal for a
   * free id and for a hidden one is the same 405 with the same words (no If-Match, content or
   * reference is looked at before it), so the answer tells nothing about the id. A writer that
   * creates with its own ids sees every record of the type (or is the organization's own backend,
   * see the routes), so for it a hidden id does not arise (or is its accepted residual).
   */
  checkUpdateTarget(type: string, id: string, writer: WriterScope | undefined): void {
    if (writer === undefined) return;
    const row = this.vault.resource(type, id);
    if (row !== undefined && this.#within(row, writer.sees(type))) return;
    if (row === undefined && writer.createsWithId(type)) return;
    if (row !== undefined && writer.createsWithId(type)) throw notFound(`${type}/${id} does not exist`);
    throw updateCreateRefused(type, id);
  }

  /**
   * JSON Patch (RFC 6902) applied to the current version, then validated like an update. A patch
   * reads the current content (a `test` operation, or one whose path does not resolve, answers
   * according to it): `read` runs with the version the operations will apply to before any of them
   * is applied — the caller checks the right to read it and logs the access there.
   */
  async patch(
    type: string,
    id: string,
    operations: unknown,
    actor: Actor,
    options: { ifMatch?: number; writer?: WriterScope; read?: (current: Stored) => Promise<void> } = {},
  ): Promise<SavedResult> {
    this.#checkWritable(type);
    checkId(id);
    if (options.writer && this.isHidden(type, id, options.writer.sees(type))) throw notFound(`${type}/${id} does not exist`);
    const current = this.read(type, id);
    if (options.ifMatch !== undefined && options.ifMatch !== current.version) {
      throw preconditionFailed(`${type}/${id} is at version ${current.version}, not ${options.ifMatch}`);
    }
    await options.read?.(current);
    const patched = applyJsonPatch(current.resource, operations);
    if (patched['resourceType'] !== type || patched['id'] !== id)
      throw unprocessable('a patch may not change resourceType or id');
    return this.#save(type, id, this.#validate(patched), actor, current.version, undefined, options.writer);
  }

  async delete(type: string, id: string, actor: Actor): Promise<void> {
    this.#checkWritable(type);
    checkId(id);
    const row = this.vault.resource(type, id);
    if (!row) throw notFound(`${type}/${id} does not exist`);
    if (row.deleted) return;
    try {
      await this.vault.delete(type, id, actor.author);
    } catch (error) {
      if (error instanceof VaultError && error.code === 'vault.gone') return;
      throw translateVaultError(error);
    }
  }

  async #save(
    type: string,
    id: string,
    resource: Resource,
    actor: Actor,
    expectedVersion: number | undefined,
    content?: ContentRef,
    writer?: WriterScope,
  ): Promise<SavedResult> {
    if (content && (type !== 'Binary' || (resource as { data?: unknown }).data !== undefined))
      throw badRequest('only a Binary without data can take uploaded content');
    const data = type === 'Binary' && !content ? (resource as { data?: unknown }).data : undefined;
    if (typeof data === 'string' && base64Size(data) > INLINE_DATA_MAX_BYTES)
      return this.#saveDataAsContent(type, id, resource, data, actor, expectedVersion, writer);
    this.#checkReferences(resource, undefined, writer?.sees);
    const before = this.vault.resource(type, id);
    const kept = this.#keepSecurityContext(resource, before);
    const patient = this.#patientOf(kept, id);
    this.#checkAttachments(kept, id, patient, undefined, writer?.sees);
    let written: WriteResult;
    try {
      written = await this.vault.write({
        type,
        id,
        resource: withoutServerMeta(kept),
        author: actor.author,
        ...(patient !== undefined && { patient }),
        ...(expectedVersion !== undefined && { expectedVersion }),
        ...(content && { content }),
      });
    } catch (error) {
      throw translateVaultError(error);
    }
    return {
      // The uploaded bytes are not echoed back: the representation describes them.
      resource: withoutContentRef(written.resource!) as unknown as Resource,
      version: written.version,
      lastUpdated: written.lastUpdated,
      created: before === undefined || before.deleted,
    };
  }

  /** A JSON Binary's large `data` moved into a content file, then saved like a raw upload. */
  async #saveDataAsContent(
    type: string,
    id: string,
    resource: Resource,
    data: string,
    actor: Actor,
    expectedVersion: number | undefined,
    writer: WriterScope | undefined,
  ): Promise<SavedResult> {
    const content = await this.#contentFromData(data);
    try {
      const saved = await this.#save(type, id, withoutData(resource), actor, expectedVersion, content, writer);
      // The answer shows the resource as written: its data came in inline, so it goes back inline.
      return { ...saved, resource: { ...saved.resource, data } as Resource };
    } catch (error) {
      this.vault.discardContent(content.id);
      throw error;
    } finally {
      content.key.fill(0);
    }
  }

  /** Base64 `data` decoded into a new content file (413 past the attachment limit). */
  async #contentFromData(data: string): Promise<ContentRef> {
    try {
      return await this.vault.contents.write(Readable.from([Buffer.from(data, 'base64')]), MAX_ATTACHMENT_BYTES);
    } catch (error) {
      if (error instanceof ContentTooLarge) throw attachmentTooLarge();
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  read(type: string, id: string): Stored {
    this.#checkKnown(type);
    checkId(id);
    return this.#found(type, id, this.#read(type, id));
  }

  vread(type: string, id: string, version: number): Stored {
    this.#checkKnown(type);
    checkId(id);
    return this.#found(type, id, this.#read(type, id, version), version);
  }

  #read(type: string, id: string, version?: number): ReadResult {
    try {
      return this.vault.read(type, id, version);
    } catch (error) {
      throw translateVaultError(error);
    }
  }

  #found(type: string, id: string, result: ReadResult, version?: number): Stored {
    const ok = this.#existing(type, id, result, version);
    return { resource: this.#presented(type, id, ok), version: ok.version, lastUpdated: ok.lastUpdated };
  }

  #existing(type: string, id: string, result: ReadResult, version?: number): ReadResult & { status: 'ok' } {
    const what = version === undefined ? `${type}/${id}` : `${type}/${id}/_history/${version}`;
    if (result.status === 'not_found') throw notFound(`${what} does not exist`);
    if (result.status === 'gone') throw gone(`${what} was deleted`);
    return result;
  }

  /** A stored version as FHIR JSON: a Binary's content file inlined (./attachments.ts). */
  #presented(type: string, id: string, result: ReadResult & { status: 'ok' }): Resource {
    try {
      return presented(
        this.vault.contents,
        { type, id, record: result.record, version: result.version },
        result.resource,
      ) as unknown as Resource;
    } catch (error) {
      throw translateVaultError(error);
    }
  }

  /**
   * The current version of a Binary for a raw download: checked against the ledger like a read,
   * its content file against the sealed hash, before anything is returned (./attachments.ts).
   */
  async binaryContent(id: string): Promise<{ stored: Stored; content: RawContent }> {
    checkId(id);
    const result = this.#existing('Binary', id, this.#read('Binary', id));
    let content: RawContent;
    try {
      content = await rawContent(
        this.vault.contents,
        { type: 'Binary', id, record: result.record, version: result.version },
        result.resource,
      );
    } catch (error) {
      throw translateVaultError(error);
    }
    return {
      stored: { resource: content.resource as unknown as Resource, version: result.version, lastUpdated: result.lastUpdated },
      content,
    };
  }

  #storedOf(res: number): Stored {
    const row = this.vault.db.prepare('SELECT type, id FROM current WHERE res = ?').get(res) as { type: string; id: string };
    return this.read(row.type, row.id);
  }

  /** Current, non-deleted resources by index row id, in the given order. */
  resourcesByRes(resIds: readonly number[]): Resource[] {
    if (resIds.length === 0) return [];
    const rows = this.vault.db
      .prepare('SELECT res, type, id FROM current WHERE deleted = 0 AND version > 0 AND res IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(resIds)) as { res: number; type: string; id: string }[];
    const byRes = new Map(rows.map((r) => [r.res, r]));
    const out: Resource[] = [];
    for (const res of resIds) {
      const row = byRes.get(res);
      if (!row) continue;
      const result = this.#read(row.type, row.id);
      if (result.status === 'ok') out.push(this.#presented(row.type, row.id, result));
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // History

  /** Instance, type (type given) or system history, newest first. */
  history(
    scope: { type?: string; id?: string },
    page: { count: number; offset: number; since?: number },
    visibility?: VisibilityFilter,
  ): { entries: HistoryEntry[]; total: number } {
    if (scope.type !== undefined) this.#checkKnown(scope.type);
    const where: string[] = ["v.state = 'committed'"];
    const params: (string | number)[] = [];
    if (scope.type !== undefined) {
      where.push('c.type = ?');
      params.push(scope.type);
    }
    if (scope.id !== undefined) {
      checkId(scope.id);
      if (!this.vault.resource(scope.type!, scope.id)) throw notFound(`${scope.type}/${scope.id} does not exist`);
      where.push('c.id = ?');
      params.push(scope.id);
    }
    if (page.since !== undefined) {
      where.push('v.last_updated >= ?');
      params.push(page.since);
    }
    if (visibility) {
      const visible = visibleSql('c', visibility);
      where.push(visible.sql);
      params.push(...(visible.params as (string | number)[]));
    }
    const from = `FROM versions v JOIN current c ON c.res = v.res WHERE ${where.join(' AND ')}`;
    const db = this.vault.db;
    const total = (db.prepare(`SELECT count(*) AS n ${from}`).get(...params) as { n: number }).n;
    const rows = db
      .prepare(
        `SELECT c.type, c.id, v.version, v.deleted, v.last_updated ${from} ORDER BY v.last_updated DESC, v.res DESC, v.version DESC LIMIT ? OFFSET ?`,
      )
      .all(...params, page.count, page.offset) as {
      type: string;
      id: string;
      version: number;
      deleted: number;
      last_updated: number;
    }[];
    const entries = rows.map((r): HistoryEntry => {
      const result = this.#read(r.type, r.id, r.version);
      const resource = result.status === 'ok' ? this.#presented(r.type, r.id, result) : null;
      const previousDeleted = r.version > 1 && this.#read(r.type, r.id, r.version - 1).status === 'gone';
      const method = resource === null ? 'DELETE' : r.version === 1 || previousDeleted ? 'POST' : 'PUT';
      return { type: r.type, id: r.id, version: r.version, lastUpdated: r.last_updated, resource, method };
    });
    return { entries, total };
  }

  // -------------------------------------------------------------------------------------------
  // Search

  /** Search; with `visibility`, matches, total and includes count only what the caller may see. */
  search(
    type: string,
    params: URLSearchParams,
    options: { lenient?: boolean; visibility?: VisibilityFilter; compartment?: readonly [string, string] } = {},
  ): SearchOutcome {
    this.#checkKnown(type);
    if (!SEARCHABLE.has(type)) throw notSupported(`search is not supported on ${type}`);
    const parsed = parseSearch(type, params, {
      ...(options.lenient !== undefined && { lenient: options.lenient }),
      ...(options.compartment && { compartment: options.compartment }),
    });
    if (!parsed.ok) throw new FhirError(400, parsed.issues);
    const query = parsed.query;
    if (query.summary !== undefined && query.summary !== 'count' && query.summary !== 'false') {
      throw notSupported(`_summary=${query.summary} is not supported (count and false are)`);
    }
    const result = runSearch(this.vault.db, query, options.visibility);
    return {
      query,
      matches: this.resourcesByRes(result.matches),
      included: this.resourcesByRes(result.included),
      ...(result.total !== undefined && { total: result.total }),
      ...(result.nextOffset !== undefined && { nextOffset: result.nextOffset }),
    };
  }

  /**
   * Patient/{id}/$everything: the patient and every current resource in their compartment (those
   * `visibility` allows; the caller checks the Patient itself is visible first).
   */
  everything(patientId: string, visibility?: VisibilityFilter): Resource[] {
    const patient = this.read('Patient', patientId).resource;
    const pseudonym = this.vault.patientPseudonym(patientId);
    if (pseudonym === undefined) return [patient];
    const visible = visibility ? visibleSql('c', visibility) : { sql: '1', params: [] };
    const rows = this.vault.db
      .prepare(
        `SELECT res FROM current c WHERE patient = ? AND deleted = 0 AND version > 0 AND NOT (type = 'Patient' AND id = ?) AND ${visible.sql} ORDER BY type, res`,
      )
      .pluck()
      .all(pseudonym, patientId, ...visible.params) as number[];
    return [patient, ...this.resourcesByRes(rows)];
  }

  /** Whether the resource (current row, deleted or not) is within `visibility`. */
  isVisible(type: string, id: string, visibility: VisibilityFilter): boolean {
    const row = this.vault.resource(type, id);
    return row !== undefined && this.#within(row, visibility);
  }

  /** Whether a stored row lies within `visibility` (checked on every reference of every write: no SQL unless needed). */
  #within(row: ResourceRow, visibility: VisibilityFilter): boolean {
    return rowVisible(row, visibility, (res, author) => {
      this.#authoredBy ??= this.vault.db.prepare('SELECT 1 FROM versions WHERE res = ? AND author = ? LIMIT 1');
      return this.#authoredBy.get(res, author) !== undefined;
    });
  }

  /** Whether the resource exists here but lies outside `visibility`: to be answered like a missing one. */
  isHidden(type: string, id: string, visibility: VisibilityFilter): boolean {
    return this.current(type, id) !== undefined && !this.isVisible(type, id, visibility);
  }

  // -------------------------------------------------------------------------------------------
  // Erasure (src/access/erasure.ts carries out patients' requests)

  /** Every record held about a patient (by pseudonym), with its resource type. */
  recordsOfPatient(pseudonym: string): { record: string; type: string }[] {
    return this.vault.db.prepare('SELECT record, type FROM current WHERE patient = ? ORDER BY res').all(pseudonym) as {
      record: string;
      type: string;
    }[];
  }

  typeOfRecord(record: string): string | undefined {
    return this.vault.db.prepare('SELECT type FROM current WHERE record = ?').pluck().get(record) as string | undefined;
  }

  /**
   * Crypto-shreds records: every version's ciphertext and wrapped data key, the resource row, its
   * search index entries and, for a Patient, the link to its pseudonym — in one vault transaction
   * with secure delete (freed space is zeroed, not left in free pages), followed by a WAL
   * checkpoint so no earlier page image survives in the log file. Idempotent.
   */
  async erase(records: readonly string[]): Promise<void> {
    if (records.length === 0) return;
    const db = this.vault.db;
    const files: string[] = [];
    const writer = new IndexWriter(db);
    const find = db.prepare('SELECT res, type, id FROM current WHERE record = ?');
    db.pragma('secure_delete = ON');
    try {
      this.vault.transaction(() => {
        for (const record of records) {
          const row = find.get(record) as { res: number; type: string; id: string } | undefined;
          if (!row) continue;
          writer.remove(row.res);
          files.push(...this.vault.forgetContents(row.res));
          db.prepare('DELETE FROM versions WHERE res = ?').run(row.res);
          db.prepare('DELETE FROM current WHERE res = ?').run(row.res);
          if (row.type === 'Patient') db.prepare('DELETE FROM patient_links WHERE patient_id = ?').run(row.id);
        }
      });
    } finally {
      db.pragma('secure_delete = OFF');
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    // The content keys went with the versions; the files (ciphertext only) go now. A crash before
    // this leaves files no version holds, which the vault sweeps when it opens.
    for (const id of files) this.vault.contents.remove(id);
  }

  /** The ledger record behind a resource and the pseudonym of the patient it is about. */
  recordOf(type: string, id: string): { readonly record: string; readonly patient?: string } | undefined {
    const row = this.vault.resource(type, id);
    return row && { record: row.record, ...(row.patient !== null && { patient: row.patient }) };
  }

  // -------------------------------------------------------------------------------------------
  // Many writes at once (transaction and batch Bundles, src/fhir/bundle.ts)

  /** The checks of a write without the write: a valid resource of a writable type (FhirError otherwise). */
  checkWrite(type: string, input: unknown): Resource {
    this.#checkWritable(type);
    const resource = this.#validate(input);
    if (resource.resourceType !== type) throw badRequest(`resourceType ${resource.resourceType} does not match ${type}`);
    return resource;
  }

  /**
   * Reference checks of a write; `local` holds the `Type/id`s the same transaction writes, `sees`
   * what the writer may see (a record hidden from it is answered like a missing one).
   */
  checkReferences(resource: Resource, local?: ReadonlySet<string>, sees?: (type: string) => VisibilityFilter): void {
    this.#checkReferences(resource, local, sees);
  }

  /** The FHIR Patient id a stored resource belongs to, as the vault recorded it when it was written. */
  storedPatientOf(type: string, id: string): string | undefined {
    const pseudonym = this.vault.resource(type, id)?.patient;
    return pseudonym === null || pseudonym === undefined ? undefined : this.vault.patientIdOf(pseudonym);
  }

  /** The current version of a resource (deleted or not), or undefined if it never existed. */
  current(type: string, id: string): { version: number; deleted: boolean } | undefined {
    this.#checkKnown(type);
    checkId(id);
    const row = this.vault.resource(type, id);
    return row && { version: row.version, deleted: row.deleted };
  }

  /** Conditional operations: at most two current resources matching a search (enough to tell 0, 1, many). */
  conditionalMatches(type: string, query: string, visibility?: VisibilityFilter): { id: string; version: number }[] {
    this.#checkKnown(type);
    const resIds = this.#conditionalMatch(type, query, visibility);
    if (resIds.length === 0) return [];
    const rows = this.vault.db
      .prepare('SELECT id, version FROM current WHERE res IN (SELECT value FROM json_each(?)) ORDER BY res')
      .all(JSON.stringify(resIds)) as { id: string; version: number }[];
    return rows;
  }

  /**
   * Checked writes and deletes (see checkWrite/checkReferences) committed ALL OR NOTHING in one
   * ledger transaction (Vault.writeMany). Patients are linked to their pseudonyms first, so the
   * other resources of the same commit find them. Results are in the order of `ops`. `sees`: what
   * the writer may see (attachments of Binaries hidden from it are treated like absent ones).
   */
  async commitMany(
    ops: readonly PlannedWrite[],
    actor: Actor,
    sees?: (type: string) => VisibilityFilter,
  ): Promise<CommittedWrite[]> {
    const before = ops.map((op) => this.vault.resource(op.type, op.id));
    const resources = ops.map((op, i) =>
      op.op === 'write' ? this.#keepSecurityContext({ ...op.resource, id: op.id } as Resource, before[i]) : undefined,
    );
    // Patients first, then what names them, then Binaries (whose securityContext may be another
    // entry): `local` holds the patient of each resource this commit writes, by `Type/id`.
    const local = new Map<string, string | undefined>();
    const patients = new Map<number, string | undefined>();
    for (const pass of ['Patient', 'other', 'Binary'] as const) {
      resources.forEach((resource, i) => {
        if (resource === undefined) return;
        const type = resource.resourceType;
        if ((type === 'Patient' || type === 'Binary' ? type : 'other') !== pass) return;
        const patient = this.#patientOf(resource, ops[i]!.id, local) ?? before[i]?.patient ?? undefined;
        patients.set(i, patient);
        local.set(`${type}/${ops[i]!.id}`, patient);
      });
    }
    resources.forEach((resource, i) => resource && this.#checkAttachments(resource, ops[i]!.id, patients.get(i), local, sees));
    // Large Binary data goes to content files first, as for a single write; dropped if the commit fails.
    const moved = new Map<number, { readonly content: ContentRef; readonly data: string }>();
    let written: WriteResult[];
    try {
      for (const [i, resource] of resources.entries()) {
        const data = resource?.resourceType === 'Binary' ? (resource as { data?: unknown }).data : undefined;
        if (typeof data !== 'string' || base64Size(data) <= INLINE_DATA_MAX_BYTES) continue;
        moved.set(i, { content: await this.#contentFromData(data), data });
        resources[i] = withoutData(resource!);
      }
      const items: BatchItem[] = ops.map((op, i) => {
        const expected = op.expectedVersion !== undefined ? { expectedVersion: op.expectedVersion } : {};
        if (op.op === 'delete') return { op: 'delete', type: op.type, id: op.id, ...expected };
        const patient = patients.get(i);
        const content = moved.get(i)?.content;
        return {
          type: op.type,
          id: op.id,
          resource: withoutServerMeta(resources[i]!),
          ...(patient !== undefined && { patient }),
          ...(content && { content }),
          ...expected,
        };
      });
      written = await this.vault.writeMany(items, actor.author);
    } catch (error) {
      for (const { content } of moved.values()) this.vault.discardContent(content.id);
      throw translateVaultError(error);
    } finally {
      for (const { content } of moved.values()) content.key.fill(0);
    }
    return written.map((w, i) => {
      const inline = moved.get(i)?.data;
      return {
        type: ops[i]!.type,
        id: ops[i]!.id,
        // As written: the reference to the content file never leaves, the data it came as does.
        resource: (inline === undefined || w.resource === null
          ? w.resource
          : { ...withoutContentRef(w.resource), data: inline }) as unknown as Resource | null,
        version: w.version,
        lastUpdated: w.lastUpdated,
        created: w.resource !== null && (before[i] === undefined || before[i]!.deleted),
      };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Rules

  #validate(input: unknown): Resource {
    if (typeof input === 'object' && input !== null && CONTENT_FIELD in input)
      throw badRequest(`${CONTENT_FIELD} is reserved for the server`, CONTENT_FIELD);
    const result = validateResource(input);
    if (!result.ok) throw new FhirError(400, result.issues);
    return result.resource;
  }

  #checkKnown(type: string): void {
    if (!WRITABLE.has(type) && !SEARCHABLE.has(type)) throw notFound(`resource type ${type} is not supported`);
  }

  #checkWritable(type: string): void {
    if (!READ_ONLY.has(type)) this.#checkKnown(type);
    if (!WRITABLE.has(type)) throw FhirError.of(405, 'not-supported', `${type} resources are not written through this API`);
  }

  /**
   * Every relative reference must point at a current resource of this node (or a contained one),
   * or at one of `local` (`Type/id` written by the same transaction Bundle).
   *
   * With `sees` (what the writer may see), a record hidden from the writer is answered exactly
   * like a missing one: `Type/id does not exist`, whatever its versions. A reference the current
   * version of the written resource (which the writer sees) already holds is kept unchecked, found
   * or not: it tells the writer nothing it had not read, and the constant answer reveals nothing
   * about the target (so an amendment of a record whose patient the writer does not see, or whose
   * target was deleted or erased since, goes through).
   */
  #checkReferences(resource: Resource, local?: ReadonlySet<string>, sees?: (type: string) => VisibilityFilter): void {
    const contained = new Set(((resource as { contained?: { id?: string }[] }).contained ?? []).map((c) => `#${c.id ?? ''}`));
    let kept: ReadonlySet<string> | undefined;
    for (const { path, reference } of collectReferences(resource)) {
      if (reference.startsWith('#')) {
        if (reference !== '#' && !contained.has(reference)) throw unprocessable(`${reference} names no contained resource`, path);
        continue;
      }
      if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) {
        throw unprocessable(`${reference} can only be resolved inside a transaction Bundle`, path);
      }
      if (/^[a-z][a-z0-9+.-]*:/i.test(reference)) continue; // an absolute URL: a resource elsewhere
      const match = RELATIVE_REFERENCE.exec(reference);
      if (!match) throw unprocessable(`${reference} is not a valid reference`, path);
      const [, type, id, version] = match;
      if (type === resource.resourceType && id === resource.id) continue; // self-reference
      if (local?.has(`${type}/${id}`)) continue;
      const row = this.vault.resource(type!, id!);
      const seen = row !== undefined && (sees === undefined || this.#within(row, sees(type!)));
      const missing = !seen || row.deleted;
      if (!missing && (version === undefined || Number(version) <= row.version)) continue;
      if (sees !== undefined && (kept ??= this.#currentReferences(resource, sees)).has(reference)) continue;
      if (missing) throw unprocessable(`${type}/${id} does not exist`, path);
      throw unprocessable(`${reference} does not exist`, path);
    }
  }

  /** The references of the current version of `resource` (by its type and id), if the writer sees it. */
  #currentReferences(resource: Resource, sees: (type: string) => VisibilityFilter): ReadonlySet<string> {
    const { resourceType: type, id } = resource;
    if (id === undefined || !this.isVisible(type, id, sees(type))) return new Set();
    const current = this.#read(type, id);
    return new Set(current.status === 'ok' ? collectReferences(current.resource).map((r) => r.reference) : []);
  }

  /**
   * The ledger pseudonym of the patient a resource is about (created for a new Patient). `local`:
   * the patients of the resources written by the same commit, by `Type/id` (a Binary's
   * securityContext may name one of them).
   */
  #patientOf(resource: Resource, id: string, local?: ReadonlyMap<string, string | undefined>): string | undefined {
    if (resource.resourceType === 'Patient') {
      const claimed = (resource as Patient).identifier?.find((i) => i.system === PSEUDONYM_SYSTEM)?.value;
      if (claimed === undefined) return this.vault.patientPseudonym(id, { create: true });
      // A patient known elsewhere on the network (e.g. the pseudonym shown in their portal): this
      // Patient is linked to it, so their records at other custodians belong to the same person.
      if (this.#node.chain.app.participant(claimed)?.kind !== 'patient')
        throw unprocessable(`${claimed} is not a patient enrolled on the ledger`, 'Patient.identifier');
      try {
        this.vault.linkPatient(id, claimed);
      } catch (error) {
        throw translateVaultError(error);
      }
      return claimed;
    }
    if (resource.resourceType === 'Binary') {
      const context = securityContextOf(resource);
      if (context === undefined) return undefined;
      const key = `${context.type}/${context.id}`;
      if (local?.has(key)) return local.get(key);
      if (context.type === 'Patient') return this.vault.patientPseudonym(context.id);
      // Any resource held here: its row names its patient (none for organization-level data).
      return this.vault.resource(context.type, context.id)?.patient ?? undefined;
    }
    const link = PATIENT_LINK[resource.resourceType];
    if (link === undefined) return undefined;
    const reference = (resource as unknown as Record<string, { reference?: string } | undefined>)[link]?.reference;
    const match = reference === undefined ? null : RELATIVE_REFERENCE.exec(reference);
    if (!match || match[1] !== 'Patient') return undefined;
    return this.vault.patientPseudonym(match[2]!);
  }

  /**
   * An update of a Binary without a securityContext keeps the current one: a Binary keeps its
   * patient for life (the vault and the ledger refuse another), and its representation says so.
   */
  #keepSecurityContext(resource: Resource, current: { readonly deleted: boolean } | undefined): Resource {
    if (resource.resourceType !== 'Binary' || resource.securityContext !== undefined || !current || current.deleted)
      return resource;
    const stored = this.#read('Binary', resource.id!);
    const kept = stored.status === 'ok' ? stored.resource['securityContext'] : undefined;
    return kept === undefined ? resource : ({ ...resource, securityContext: kept } as Resource);
  }

  /**
   * A resource about a patient may attach (`Attachment.url` = `Binary/{id}`) only Binaries of the
   * same patient: an attachment of no patient would escape the patient's consent and survive their
   * erasure. Such a Binary cannot be adopted later (a record keeps its patient for life); it must
   * be uploaded with the patient as its security context. Binaries not held here are not checked,
   * nor (with `sees`) those hidden from the writer: they are answered like absent ones (a hidden
   * record always has a patient, so no Binary of no patient slips through this way).
   */
  #checkAttachments(
    resource: Resource,
    id: string,
    patient: string | undefined,
    local?: ReadonlyMap<string, string | undefined>,
    sees?: (type: string) => VisibilityFilter,
  ): void {
    const type = resource.resourceType;
    const owner = patient ?? this.vault.resource(type, id)?.patient ?? undefined;
    if (owner === undefined || type === 'Binary') return;
    for (const attached of attachedBinaries(resource)) {
      const key = `Binary/${attached.id}`;
      const row = local?.has(key) ? { patient: local.get(key) ?? null } : this.vault.resource('Binary', attached.id);
      if (!row || row.patient === owner) continue;
      if (!local?.has(key) && sees !== undefined && !this.isVisible('Binary', attached.id, sees('Binary'))) continue;
      const whose = row.patient === null ? 'belongs to no patient' : 'belongs to another patient';
      throw unprocessable(
        `${type}/${id} attaches ${key}, which ${whose}: upload the attachment with the patient as its security context (securityContext or X-Security-Context)`,
        attached.path,
      );
    }
  }

  #conditionalMatch(type: string, query: string, visibility?: VisibilityFilter): number[] {
    const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
    if ([...params.keys()].length === 0) throw badRequest('If-None-Exist holds no search parameters');
    const parsed = parseSearch(type, params, {});
    if (!parsed.ok) throw new FhirError(400, parsed.issues);
    return runSearch(this.vault.db, { ...parsed.query, count: 2, offset: 0, include: [], revinclude: [] }, visibility).matches;
  }

  async close(): Promise<void> {
    await this.vault.close();
  }
}

/**
 * The answer to a PUT to an id the writer does not see when it may not create with ids of its
 * choosing: one text for a free id and for an id taken by a record hidden from it.
 */
export function updateCreateRefused(type: string, id: string): FhirError {
  return FhirError.of(
    405,
    'not-supported',
    `${type}/${id} does not exist, and this token may not create a resource with an id of its choosing: POST it instead`,
  );
}

function checkId(id: string): void {
  if (!ID.test(id)) throw badRequest(`"${id.slice(0, 80)}" is not a valid resource id`);
}

/** versionId and lastUpdated are the server's; a client's values are dropped, the rest of meta kept. */
function withoutServerMeta(resource: Resource): JsonObject {
  const { meta, ...rest } = resource as Resource & { meta?: Record<string, unknown> };
  if (meta === undefined) return rest as JsonObject;
  const { versionId: _v, lastUpdated: _l, ...keep } = meta;
  return (Object.keys(keep).length > 0 ? { ...rest, meta: keep } : rest) as JsonObject;
}

/**
 * Identifier system of a patient's ledger pseudonym: a Patient created with one is linked to that
 * pseudonym instead of a new one (how a second organization registers a patient of the network).
 */
export const PSEUDONYM_SYSTEM = 'urn:medledger:patient-pseudonym';

function translateVaultError(error: unknown): unknown {
  if (error instanceof IntegrityError) {
    return FhirError.of(500, 'exception', `${error.type}/${error.id} version ${error.version} failed its ledger integrity check`);
  }
  if (!(error instanceof VaultError)) return error;
  switch (error.code) {
    case 'vault.version_conflict':
      return preconditionFailed(error.message);
    case 'vault.not_found':
      return notFound(error.message);
    case 'vault.gone':
      return gone(error.message);
    case 'vault.invalid':
      return badRequest(error.message);
    case 'vault.patient_mismatch':
      return unprocessable(error.message);
    case 'vault.closed':
    case 'node.shutting_down':
    case 'node.overloaded':
      return FhirError.of(503, 'transient', error.message);
    default:
      return conflict(`the ledger refused the write: ${error.message}`);
  }
}

/** RFC 6902 JSON Patch on a copy; any failing operation (including `test`) rejects the whole patch. */
function applyJsonPatch(document: Resource, operations: unknown): Record<string, unknown> {
  if (!Array.isArray(operations) || operations.length === 0) throw badRequest('a JSON Patch is a non-empty array of operations');
  const copy = structuredClone(document) as unknown as Record<string, unknown>;
  const invalid = jsonPatch.validate(operations as jsonPatch.Operation[], copy);
  if (invalid) {
    // Malformed operations are the client's syntax error; operations that do not fit the resource are 422.
    const malformed = [
      'SEQUENCE_NOT_AN_ARRAY',
      'OPERATION_NOT_AN_OBJECT',
      'OPERATION_OP_INVALID',
      'OPERATION_PATH_INVALID',
      'OPERATION_FROM_REQUIRED',
      'OPERATION_VALUE_REQUIRED',
    ];
    const where = `patch operation ${invalid.index ?? '?'}`;
    if (malformed.includes(invalid.name)) throw badRequest(`${where}: ${invalid.name.toLowerCase().replace(/_/g, ' ')}`);
    throw unprocessable(`${where}: ${invalid.name.toLowerCase().replace(/_/g, ' ')}`);
  }
  try {
    // Validated above; prototype modifications are refused by the library.
    const result = jsonPatch.applyPatch(copy, operations as jsonPatch.Operation[], false, true, true).newDocument;
    if (typeof result !== 'object' || result === null || Array.isArray(result))
      throw unprocessable('the patch does not leave a resource');
    return result;
  } catch (error) {
    if (error instanceof jsonPatch.JsonPatchError)
      throw unprocessable(`patch operation ${error.index ?? '?'}: ${error.name.toLowerCase().replace(/_/g, ' ')}`);
    throw error;
  }
}
