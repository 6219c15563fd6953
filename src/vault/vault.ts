/**
 * The encrypted record vault of a node: FHIR resources stored as encrypted versions whose
 * ciphertext commitments are on the ledger (record.commit), so every version served is checked
 * against the ledger first.
 *
 * A write, per resource (serialized by an in-process lock):
 *   1. version = current + 1; a fresh 256-bit data key; the resource JSON (with id, meta.versionId
 *      and meta.lastUpdated stamped) is sealed with associated data binding type, id, version,
 *      author and the ledger record id; commitment = SHA-256(envelope); the data key is wrapped
 *      under the current KEK with label `${record}/${version}`.
 *   2. The version is stored durably as `pending`, then its commitment is submitted to the ledger.
 *   3. Committed → the version becomes `committed` and the resource row moves to it, in one SQLite
 *      transaction that also runs the index callbacks. Rejected → the pending row is deleted and a
 *      VaultError with the ledger's code is thrown.
 * `writeMany` does the same for up to MAX_RECORD_ENTRIES resources at once, all or nothing: their
 * locks taken together, every version pending in one SQLite transaction, ONE record.commit, and
 * one SQLite transaction marking them all committed (or dropping them all).
 * A crash between 2 and 3 is settled when the vault opens: a pending version the ledger holds
 * (same commitment) is committed, any other is deleted. Because of that, step 3 (and dropping a
 * rejected version) is not fsynced on its own (see GroupCommit): only step 2 and the ledger block
 * must be durable before a write is acknowledged.
 *
 * Reads check SHA-256(envelope) against the ledger's commitment for that version before
 * unwrapping anything; a mismatch or a version missing from the ledger is an IntegrityError and
 * nothing of the content is returned.
 *
 * A version may hold a content file (an attachment's bytes, content-store.ts): its reference —
 * file id, size, ciphertext SHA-256 and content key — is sealed into the version's JSON, so the
 * ledger commitment covers the content and erasing the version shreds the content key. The
 * `contents` table records which version holds which file, for audits, erasure and the sweep of
 * files no version holds (an upload cut short) when the vault opens.
 */
import { fillRandom } from '../crypto/random.js';
import { DecryptionError, generateDataKey, open as openEnvelope, seal } from '../crypto/aead.js';
import { equalBytes, utf8 } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { randomPseudonym } from '../client/identity.js';
import { encodeCanonical } from '../ledger/codec.js';
import type { LedgerErrorCode } from '../ledger/errors.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';
import { MAX_RECORD_ENTRIES, type RecordCommitBody, type RecordEntry } from '../ledger/payloads/record.js';
import type { LedgerNode } from '../node/ledger-node.js';
import { verifyVersions, type VerifyResult } from './check.js';
import { finishRotation, KekRing, type RotationResult } from './kek.js';
import { vaultPaths, VaultStore, wrapLabel, type ResourceRow, type VersionRow } from './store.js';
import { ContentStore } from './content-store.js';
import { CONTENT_FIELD, contentRefOf, contentRefToJson, type ContentLocation, type ContentRef } from './content-ref.js';

export type JsonObject = { [key: string]: unknown };

export type VaultErrorCode =
  | LedgerErrorCode
  | 'vault.invalid'
  | 'vault.version_conflict'
  | 'vault.not_found'
  | 'vault.gone'
  | 'vault.patient_mismatch'
  | 'vault.closed';

/** A write or delete that did not happen; `code` is the ledger's code when the ledger rejected it. */
export class VaultError extends Error {
  readonly code: VaultErrorCode;
  constructor(code: VaultErrorCode, message: string) {
    super(message);
    this.name = 'VaultError';
    this.code = code;
  }
}

/** Stored data that does not match the ledger or does not decrypt. Says nothing about the content. */
export class IntegrityError extends Error {
  readonly type: string;
  readonly id: string;
  readonly record: string;
  readonly version: number;
  constructor(where: { type: string; id: string; record: string; version: number }, reason: string) {
    super(`${where.type}/${where.id} version ${where.version} (${where.record}): ${reason}`);
    this.name = 'IntegrityError';
    this.type = where.type;
    this.id = where.id;
    this.record = where.record;
    this.version = where.version;
  }
}

/** What index writers see, inside the SQLite transaction that commits a version. */
export interface CommitContext {
  readonly res: number;
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly lastUpdated: number;
  /** The stored resource (with id and meta stamped), or null for a delete. */
  readonly resource: JsonObject | null;
  /** The vault's database, for writes in the same transaction. */
  readonly vault: Vault;
}

export type CommitHook = (ctx: CommitContext) => void;

export interface VaultOptions {
  /**
   * Runs inside the SQLite transaction of every committed version (writes, deletes and versions
   * settled by crash recovery): the place to keep a search index in step with the resources.
   */
  readonly onCommit?: CommitHook;
  /** Data keys re-wrapped per DB transaction during KEK rotation. */
  readonly rotationBatch?: number;
  readonly clock?: () => number;
}

export interface WriteRequest {
  readonly type: string;
  readonly id: string;
  readonly resource: JsonObject;
  /** The participant id of the author (the organization, a practitioner, a patient or a device). */
  readonly author: string;
  /** The patient's ledger pseudonym; a resource keeps its patient for life. */
  readonly patient?: string;
  /** Optimistic locking: the current version the writer saw (0 for "must not exist yet"). */
  readonly expectedVersion?: number;
  /** Runs in the commit transaction, after `VaultOptions.onCommit`. */
  readonly onCommit?: CommitHook;
  /** A file of {@link Vault.contents} this version holds; its reference is sealed into the version. */
  readonly content?: ContentRef;
}

export interface WriteResult {
  readonly version: number;
  readonly record: string;
  readonly lastUpdated: number;
  readonly txHash: Uint8Array;
  readonly height: number;
  /** The resource as stored (id, meta.versionId and meta.lastUpdated stamped); null for a delete. */
  readonly resource: JsonObject | null;
}

/**
 * One item of {@link Vault.writeMany}: a write (as {@link WriteRequest}, the author being the
 * call's) or a delete.
 */
export type BatchItem =
  | (Omit<WriteRequest, 'author'> & { readonly op?: 'write' })
  | {
      readonly op: 'delete';
      readonly type: string;
      readonly id: string;
      readonly expectedVersion?: number;
      readonly onCommit?: CommitHook;
    };

/** A version ready to be sealed: its resource (null for a delete) with id and meta stamped. */
interface Prepared {
  readonly type: string;
  readonly id: string;
  readonly existing: ResourceRow | undefined;
  readonly version: number;
  readonly record: string;
  readonly lastUpdated: number;
  readonly patient: string | undefined;
  readonly stored: JsonObject | null;
  readonly content: ContentLocation | undefined;
  readonly onCommit: CommitHook | undefined;
}

interface Sealed {
  readonly envelope: Uint8Array;
  readonly wrapped: { wrapped: Uint8Array; kek: number };
  readonly commitment: Uint8Array;
}

export interface VersionInfo {
  readonly version: number;
  readonly record: string;
  readonly author: string;
  readonly lastUpdated: number;
  readonly txHash: Uint8Array | null;
  readonly height: number | null;
}

export type ReadResult =
  | ({ readonly status: 'ok'; readonly resource: JsonObject } & VersionInfo)
  | ({ readonly status: 'gone' } & VersionInfo)
  | { readonly status: 'not_found' };

export type HistoryEntry = VersionInfo & { readonly deleted: boolean; readonly resource: JsonObject | null };

export type { VerifyResult } from './check.js';

const TYPE_PATTERN = /^[A-Z][A-Za-z]{0,63}$/;
const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const AUTHOR_PATTERN = /^(?:org|prac|pat|dev)_[a-z0-9-]{1,40}$/;
const AD_DOMAIN = 'medledger/vault-version/v1';

/** Associated data of a version's envelope: binds it to the resource, version, author and record. */
export function associatedData(type: string, id: string, version: number, author: string, record: string): Uint8Array {
  return encodeCanonical({ domain: AD_DOMAIN, type, id, version, author, record });
}

/** A per-key promise chain: one task per key at a time, in arrival order. */
class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.runAll([key], task);
  }

  /**
   * One task holding several keys: it joins the queue of every key at once (in sorted order, in
   * one synchronous step, so two multi-key tasks can never each hold a key the other waits for)
   * and runs once all the tasks queued before it on any of its keys have finished.
   */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const previous = sorted.map((key) => this.#tails.get(key)).filter((p) => p !== undefined);
    const ready = previous.length === 0 ? Promise.resolve() : previous.length === 1 ? previous[0]! : Promise.all(previous);
    const result = ready.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    for (const key of sorted) this.#tails.set(key, tail);
    void tail.then(() => {
      for (const key of sorted) if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Whether a task holds or waits for the key. */
  busy(key: string): boolean {
    return this.#tails.has(key);
  }

  idle(): Promise<unknown> {
    return Promise.all([...this.#tails.values()]);
  }
}

/** Marks the VaultErrors thrown because the ledger rejected a record.commit (nothing was kept). */
const LEDGER_REJECTIONS = new WeakSet<object>();

interface QueuedWrite {
  readonly request: WriteRequest;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit for the vault database: operations queued in the same turn of the event loop run in
 * one SQLite transaction, each in its own savepoint so one that throws is rolled back alone.
 *
 * The transaction is committed without an fsync of its own; a caller whose operation must be
 * durable (`durable`, the default) hears back once the WAL has been fdatasync'ed after the commit —
 * on the thread pool (VaultStore.syncWal), so the event loop goes on parsing, validating and
 * sealing the next requests while the disk works, and flushes meanwhile share the next sync.
 *
 * An operation queued with `durable: false` does not wait for any sync: it only records what the
 * durable state (pending rows + the committed ledger) already implies, and crash recovery
 * re-derives it (marking versions the ledger holds committed, dropping the others). Its frames
 * reach the OS at commit (a killed process loses nothing) and the disk with the next sync; a power
 * loss can only drop a suffix of such transactions (WAL order), which recovery settles again.
 */
class GroupCommit {
  readonly #store: VaultStore;
  #queue: { op: () => unknown; durable: boolean; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  constructor(store: VaultStore) {
    this.#store = store;
  }

  run<T>(op: () => T, options: { durable?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#queue.length === 0) setImmediate(() => this.#flush());
      this.#queue.push({ op, durable: options.durable !== false, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#store.transactionUnsynced(() => {
        for (const item of batch) {
          if (batch.length === 1) {
            // No neighbour to protect: no savepoint needed.
            try {
              results.push({ ok: true, value: item.op() });
            } catch (error) {
              results.push({ ok: false, error });
              throw error;
            }
            continue;
          }
          try {
            results.push({ ok: true, value: this.#store.transaction(item.op) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      const single = batch.length === 1 ? results[0] : undefined;
      for (const item of batch) item.reject(single && !single.ok ? single.error : error);
      return;
    }
    const settle = (item: (typeof batch)[number], i: number): void => {
      const r = results[i]!;
      if (r.ok) item.resolve(r.value);
      else item.reject(r.error);
    };
    // The non-durable operations need not wait for the disk.
    batch.forEach((item, i) => {
      if (!item.durable) settle(item, i);
    });
    if (batch.every((item) => !item.durable)) return;
    this.#store.syncWal().then(
      () =>
        batch.forEach((item, i) => {
          if (item.durable) settle(item, i);
        }),
      (error: unknown) => {
        for (const item of batch) if (item.durable) item.reject(error);
      },
    );
  }
}

export class Vault {
  /** Content files of versions (attachments), outside the database. */
  readonly contents: ContentStore;
  readonly #node: LedgerNode;
  readonly #store: VaultStore;
  readonly #keks: KekRing;
  readonly #options: VaultOptions;
  readonly #clock: () => number;
  readonly #locks = new KeyedLock();
  readonly #group: GroupCommit;
  /** Single writes waiting to be coalesced (see #flushWrites). */
  #queued: QueuedWrite[] = [];
  #rotation: Promise<RotationResult> | undefined;
  #closed = false;

  private constructor(node: LedgerNode, store: VaultStore, keks: KekRing, contents: ContentStore, options: VaultOptions) {
    this.contents = contents;
    this.#node = node;
    this.#store = store;
    this.#keks = keks;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#group = new GroupCommit(store);
  }

  /**
   * Opens (or creates) the vault of the node's data directory, settles versions left pending by a
   * crash and finishes a KEK rotation cut short.
   */
  static async open(node: LedgerNode, dataDir: string, options: VaultOptions = {}): Promise<Vault> {
    const store = new VaultStore(vaultPaths(dataDir).db, node.keystore);
    try {
      const keks = KekRing.open(node.keystore);
      const contents = new ContentStore(dataDir);
      const vault = new Vault(node, store, keks, contents, options);
      vault.#recover();
      // Nothing is in flight yet: a file no version holds is an upload that never committed.
      contents.sweep((id) => store.contentHeld(id));
      if (keks.ids().length > 1) await finishRotation(keks, store, options.rotationBatch);
      return vault;
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /** The vault database, for modules (the FHIR search index) that keep their tables in it. */
  get db(): VaultStore['db'] {
    return this.#store.db;
  }

  /** Runs `fn` in one SQLite transaction of the vault database. */
  transaction<T>(fn: () => T): T {
    return this.#store.transaction(fn);
  }

  /** The id of the KEK new data keys are wrapped under. */
  get currentKek(): number {
    return this.#keks.currentId;
  }

  /** The current resource row (also for the FHIR layer: `res` is the search index row id). */
  resource(type: string, id: string): ResourceRow | undefined {
    const row = this.#store.resource(type, id);
    return row && row.version > 0 ? row : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /**
   * One version of one resource. Concurrent writes (those arriving in the same turn of the event
   * loop, typically while the previous commit was being made durable) are coalesced: each is
   * prepared on its own (a conflict or patient mismatch fails only that write), then the valid ones
   * by one author share one pending SQLite transaction, ONE record.commit and one commit
   * transaction. Should the ledger reject that shared commit, every version of it is retried alone,
   * so a write fails only for its own reason. Each caller still hears back only once its own version
   * is committed to the ledger.
   */
  async write(request: WriteRequest): Promise<WriteResult> {
    checkAuthor(request.author);
    checkWrite(request);
    if (this.#closed) throw new VaultError('vault.closed', 'the vault is closed');
    return new Promise<WriteResult>((resolve, reject) => {
      if (this.#queued.length === 0) setImmediate(() => this.#flushWrites());
      this.#queued.push({ request, resolve, reject });
    });
  }

  /**
   * Groups the queued writes by author into coalesced commits. A write whose resource is busy (a
   * write to it in flight) or already in the group goes alone, behind the others on its lock, so
   * consecutive writes to one resource keep their order and never hold up a group.
   */
  #flushWrites(): void {
    const queued = this.#queued;
    this.#queued = [];
    const groups = new Map<string, QueuedWrite[]>();
    const alone: QueuedWrite[] = [];
    const taken = new Set<string>();
    for (const q of queued) {
      const key = `${q.request.type}/${q.request.id}`;
      if (taken.has(key) || this.#locks.busy(key)) {
        alone.push(q);
        continue;
      }
      taken.add(key);
      let group = groups.get(q.request.author);
      if (!group) groups.set(q.request.author, (group = []));
      group.push(q);
    }
    for (const [author, group] of groups) {
      for (let i = 0; i < group.length; i += MAX_RECORD_ENTRIES) {
        const chunk = group.slice(i, i + MAX_RECORD_ENTRIES);
        if (chunk.length === 1) {
          alone.unshift(chunk[0]!);
          continue;
        }
        const keys = chunk.map((q) => `${q.request.type}/${q.request.id}`);
        // Not #serialized: these writes were accepted before any close, which waits for them.
        this.#locks
          .runAll(keys, () => this.#applyCoalesced(chunk, author))
          .catch((error: unknown) => {
            for (const q of chunk) q.reject(error);
          });
      }
    }
    for (const q of alone) this.#writeAlone(q.request).then(q.resolve, q.reject);
  }

  /** One write alone, under its resource's lock. */
  #writeAlone(request: WriteRequest): Promise<WriteResult> {
    return this.#locks.run(`${request.type}/${request.id}`, async () => {
      const [result] = await this.#apply([this.#prepareWrite(request)], request.author);
      return result!;
    });
  }

  /** Under the locks of all their resources: coalesced writes of one author (see write). */
  async #applyCoalesced(chunk: readonly QueuedWrite[], author: string): Promise<void> {
    const ready: { q: QueuedWrite; p: Prepared }[] = [];
    for (const q of chunk) {
      try {
        ready.push({ q, p: this.#prepareWrite(q.request) });
      } catch (error) {
        q.reject(error);
      }
    }
    if (ready.length === 0) return;
    let results: (WriteResult | { error: unknown })[];
    try {
      results = await this.#apply(
        ready.map((r) => r.p),
        author,
        { isolateHooks: true },
      );
    } catch (error) {
      if (!(error instanceof VaultError && LEDGER_REJECTIONS.has(error)) || ready.length === 1) {
        for (const r of ready) r.q.reject(error);
        return;
      }
      // The ledger refused the shared commit and nothing of it was kept: each write on its own
      // (still under the locks), so only the writes the ledger refuses fail.
      await Promise.all(
        ready.map(async ({ q }) => {
          try {
            const [result] = await this.#apply([this.#prepareWrite(q.request)], author);
            q.resolve(result!);
          } catch (e) {
            q.reject(e);
          }
        }),
      );
      return;
    }
    results.forEach((result, i) => {
      const { q } = ready[i]!;
      if ('error' in result) q.reject(result.error);
      else q.resolve(result);
    });
  }

  async delete(type: string, id: string, author: string, expectedVersion?: number): Promise<WriteResult> {
    checkName(type, id);
    checkAuthor(author);
    return this.#serialized([`${type}/${id}`], async () => {
      const [result] = await this.#apply([this.#prepareDelete(type, id, expectedVersion)], author);
      return result!;
    });
  }

  /**
   * Writes and deletes of several resources by one author, all or nothing: every version is sealed
   * and stored pending in one SQLite transaction, ONE record.commit carries all of them to the
   * ledger, and on commit they are marked committed (index hooks included) in one SQLite
   * transaction; on rejection every pending version is dropped. The per-resource locks of all the
   * resources are taken together, in sorted order. Results are in the order of `items`.
   *
   * At most {@link MAX_RECORD_ENTRIES} items, since that is what one ledger transaction holds.
   * With `chunk: true` a longer list is split into consecutive commits of that size — then each
   * chunk is atomic, but the whole is NOT: a later chunk can fail after earlier ones committed.
   */
  async writeMany(items: readonly BatchItem[], author: string, options: { chunk?: boolean } = {}): Promise<WriteResult[]> {
    checkAuthor(author);
    if (items.length === 0) return [];
    if (items.length > MAX_RECORD_ENTRIES) {
      if (!options.chunk) {
        throw new VaultError(
          'vault.invalid',
          `${items.length} versions cannot be committed atomically: one ledger transaction holds at most ${MAX_RECORD_ENTRIES}`,
        );
      }
      const results: WriteResult[] = [];
      for (let i = 0; i < items.length; i += MAX_RECORD_ENTRIES) {
        results.push(...(await this.writeMany(items.slice(i, i + MAX_RECORD_ENTRIES), author)));
      }
      return results;
    }
    const keys = new Set<string>();
    for (const item of items) {
      if (item.op === 'delete') checkName(item.type, item.id);
      else checkWrite(item);
      const key = `${item.type}/${item.id}`;
      if (keys.has(key)) throw new VaultError('vault.invalid', `${key} appears more than once in one commit`);
      keys.add(key);
    }
    return this.#serialized([...keys], () =>
      this.#apply(
        items.map((item) =>
          item.op === 'delete'
            ? this.#prepareDelete(item.type, item.id, item.expectedVersion, item.onCommit)
            : this.#prepareWrite(item),
        ),
        author,
      ),
    );
  }

  #serialized<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new VaultError('vault.closed', 'the vault is closed'));
    return this.#locks.runAll(keys, task);
  }

  /** Under the resource's lock: the next version, sealed (step 1 of a write). */
  #prepareWrite(request: Omit<WriteRequest, 'author'>): Prepared {
    const { type, id } = request;
    const existing = this.#store.resource(type, id);
    const current = existing?.version ?? 0;
    checkExpected(request.expectedVersion, current, type, id);
    const patient = request.patient ?? existing?.patient ?? undefined;
    if (existing && (existing.patient ?? undefined) !== patient) {
      throw new VaultError('vault.patient_mismatch', `${type}/${id} belongs to another patient`);
    }
    const version = current + 1;
    const record = existing?.record ?? randomPseudonym('rec', fillRandom(new Uint8Array(17)));
    const lastUpdated = this.#clock();
    const meta = isObject(request.resource['meta']) ? request.resource['meta'] : {};
    const stored: JsonObject = {
      ...request.resource,
      resourceType: type,
      id,
      meta: { ...meta, versionId: String(version), lastUpdated: new Date(lastUpdated).toISOString() },
      ...(request.content && { [CONTENT_FIELD]: contentRefToJson(request.content) }),
    };
    const content = request.content && { id: request.content.id, size: request.content.size, sha256: request.content.sha256 };
    return { type, id, existing, version, record, lastUpdated, patient, stored, content, onCommit: request.onCommit };
  }

  /** Under the resource's lock: the delete version (step 1 of a delete). */
  #prepareDelete(type: string, id: string, expectedVersion: number | undefined, onCommit?: CommitHook): Prepared {
    const existing = this.resource(type, id);
    if (!existing) throw new VaultError('vault.not_found', `${type}/${id} does not exist`);
    checkExpected(expectedVersion, existing.version, type, id);
    if (existing.deleted) throw new VaultError('vault.gone', `${type}/${id} is already deleted`);
    return {
      type,
      id,
      existing,
      version: existing.version + 1,
      record: existing.record,
      lastUpdated: this.#clock(),
      patient: existing.patient ?? undefined,
      stored: null,
      content: undefined,
      onCommit,
    };
  }

  /**
   * Steps 1–3 for prepared versions by one author: seal, store pending, one record.commit, commit.
   * A failing index hook throws (the versions stay committed); with `isolateHooks` it is reported
   * in the failing version's place instead, the others' results unaffected.
   */
  #apply(prepared: readonly Prepared[], author: string): Promise<WriteResult[]>;
  #apply(
    prepared: readonly Prepared[],
    author: string,
    options: { isolateHooks: true },
  ): Promise<(WriteResult | { error: unknown })[]>;
  async #apply(
    prepared: readonly Prepared[],
    author: string,
    options: { isolateHooks?: boolean } = {},
  ): Promise<(WriteResult | { error: unknown })[]> {
    const sealed = prepared.map((p) => this.#seal(p, author));
    // Durable before the ledger hears of it, so a crash never leaves a commitment without its data.
    const resIds = await this.#group.run(() =>
      prepared.map((p, i) => {
        const res = p.existing?.res ?? this.#store.insertResource(p.type, p.id, p.record, p.lastUpdated, p.patient);
        const s = sealed[i];
        this.#store.insertPending({
          res,
          version: p.version,
          envelope: s?.envelope ?? null,
          wrappedKey: s?.wrapped.wrapped ?? null,
          kek: s?.wrapped.kek ?? null,
          author,
          lastUpdated: p.lastUpdated,
          deleted: p.stored === null,
        });
        if (p.content) this.#store.insertContent(res, p.version, p.content);
        return res;
      }),
    );
    const entries = prepared.map((p, i): RecordEntry => {
      const common = { record: p.record, version: p.version, ...(p.patient !== undefined && { patient: p.patient }) };
      const s = sealed[i];
      return s ? { ...common, op: 'write', commitment: s.commitment } : { ...common, op: 'delete' };
    });
    const body: RecordCommitBody = { author, custodian: this.#node.org.id, entries };
    const pending = prepared.map((p, i) => ({ res: resIds[i]!, version: p.version }));
    const first = prepared[0]!;
    const what =
      prepared.length === 1
        ? `${first.type}/${first.id} version ${first.version}`
        : `${prepared.length} versions (${first.type}/${first.id} version ${first.version}, …)`;
    const receipt = await this.#submit(pending, body, what);
    const commits = prepared.map((p, i) => ({
      ctx: {
        res: resIds[i]!,
        type: p.type,
        id: p.id,
        version: p.version,
        lastUpdated: p.lastUpdated,
        resource: p.stored,
        vault: this,
      },
      hook: p.onCommit,
    }));
    const hookErrors = await this.#commit(commits, receipt);
    if (hookErrors && !options.isolateHooks) throw hookErrors.find((e) => e !== undefined)!.error;
    return prepared.map((p, i) =>
      hookErrors?.[i]
        ? hookErrors[i]
        : {
            version: p.version,
            record: p.record,
            lastUpdated: p.lastUpdated,
            txHash: receipt.hash,
            height: receipt.height,
            resource: p.stored,
          },
    );
  }

  /** A fresh data key seals the version; its commitment and the wrapped key. Null for a delete. */
  #seal(p: Prepared, author: string): Sealed | null {
    if (p.stored === null) return null;
    const dataKey = generateDataKey();
    try {
      const envelope = seal(dataKey, utf8(JSON.stringify(p.stored)), associatedData(p.type, p.id, p.version, author, p.record));
      const wrapped = this.#keks.wrap(dataKey, wrapLabel(p.record, p.version));
      return { envelope, wrapped, commitment: sha256(envelope) };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Submits the commitments; on rejection the pending versions are dropped and a VaultError thrown. */
  async #submit(
    pending: readonly { res: number; version: number }[],
    body: RecordCommitBody,
    what: string,
  ): Promise<{ hash: Uint8Array; height: number }> {
    let outcome;
    try {
      outcome = await this.#node.submitOwn({ type: 'record.commit', body });
    } catch (error) {
      // Unknown outcome: settle the pending rows against what the ledger says.
      for (const p of pending) this.#settle(this.#store.version(p.res, p.version));
      throw error;
    }
    if (!outcome.ok) {
      // Not durable by itself: after a crash, recovery drops pending versions the ledger lacks
      // (and the sweep then deletes their content files).
      const files = await this.#group.run(() => pending.flatMap((p) => this.#dropPending(p.res, p.version)), {
        durable: false,
      });
      for (const id of files) this.contents.remove(id);
      const rejection = new VaultError(outcome.error.code, `${what}: ${outcome.error.message}`);
      LEDGER_REJECTIONS.add(rejection);
      throw rejection;
    }
    return outcome.receipt;
  }

  /**
   * Marks the versions committed and moves the resources to them; hooks run in the same
   * transaction. Undefined if every hook ran, otherwise the error of each version whose hooks threw.
   */
  async #commit(
    commits: readonly { ctx: CommitContext; hook: CommitHook | undefined }[],
    receipt: { hash: Uint8Array | null; height: number },
  ): Promise<({ error: unknown } | undefined)[] | undefined> {
    // Not durable by itself: the pending rows and the ledger block are, and recovery commits a
    // pending version the ledger holds. So this transaction needs no fsync of its own.
    return this.#group.run(() => this.#commitNow(commits, receipt), { durable: false });
  }

  /**
   * Inside a transaction: commits the versions. A hook that throws is undone for its own version
   * only (the versions all stay committed); the result lists each such version's error.
   */
  #commitNow(
    commits: readonly { ctx: CommitContext; hook: CommitHook | undefined }[],
    receipt: { hash: Uint8Array | null; height: number },
  ): ({ error: unknown } | undefined)[] | undefined {
    const core = (ctx: CommitContext): void => {
      this.#store.markCommitted(ctx.res, ctx.version, receipt.hash, receipt.height);
      this.#store.setCurrent(ctx.res, ctx.version, ctx.resource === null, ctx.lastUpdated);
    };
    const hooks = (ctx: CommitContext, hook: CommitHook | undefined): void => {
      this.#options.onCommit?.(ctx);
      hook?.(ctx);
    };
    try {
      this.#store.transaction(() => {
        for (const { ctx, hook } of commits) {
          core(ctx);
          hooks(ctx, hook);
        }
      });
      return undefined;
    } catch {
      // The ledger has the versions: the vault must record them even if an index hook failed.
      // Again, each version's hooks in a savepoint of their own.
      const errors: ({ error: unknown } | undefined)[] = [];
      this.#store.transaction(() => {
        for (const { ctx, hook } of commits) {
          core(ctx);
          try {
            this.#store.transaction(() => hooks(ctx, hook));
            errors.push(undefined);
          } catch (error) {
            errors.push({ error });
          }
        }
      });
      return errors.some((e) => e !== undefined) ? errors : undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  read(type: string, id: string, version?: number): ReadResult {
    this.#checkOpen();
    const row = this.resource(type, id);
    if (!row) return { status: 'not_found' };
    const v = this.#store.version(row.res, version ?? row.version);
    if (!v || v.state !== 'committed') return { status: 'not_found' };
    return this.#open(row, v);
  }

  /** Every committed version, newest first, each checked against the ledger like a read. */
  history(type: string, id: string): HistoryEntry[] {
    this.#checkOpen();
    const row = this.resource(type, id);
    if (!row) return [];
    return this.#store.committedVersions(row.res).map((v) => {
      const result = this.#open(row, v);
      if (result.status === 'not_found') throw new Error('unreachable');
      const { status, ...info } = result;
      return { ...info, deleted: status === 'gone', resource: result.status === 'ok' ? result.resource : null };
    });
  }

  #open(row: ResourceRow, v: VersionRow): ReadResult {
    const where = { type: row.type, id: row.id, record: row.record, version: v.version };
    const ledger = this.#node.chain.app.recordVersion(row.record, v.version);
    if (!ledger) throw new IntegrityError(where, 'the ledger has no such version');
    const info: VersionInfo = {
      version: v.version,
      record: row.record,
      author: ledger.author,
      lastUpdated: v.lastUpdated,
      txHash: v.txHash,
      height: v.height,
    };
    if (v.deleted) {
      if (ledger.commitment !== undefined) throw new IntegrityError(where, 'stored as a delete but the ledger has a write');
      return { status: 'gone', ...info };
    }
    if (ledger.commitment === undefined) throw new IntegrityError(where, 'the ledger has a delete for this version');
    const { envelope, dataKey } = this.#unseal(row, v, ledger.commitment);
    try {
      // The author comes from the ledger: a stored author that was altered fails here.
      return { status: 'ok', resource: decryptVersion(dataKey, envelope, { ...where, author: ledger.author }), ...info };
    } finally {
      dataKey.fill(0);
    }
  }

  /** A stored write checked against its ledger commitment, with its data key unwrapped (the caller wipes it). */
  #unseal(row: ResourceRow, v: VersionRow, commitment: Uint8Array): { envelope: Uint8Array; dataKey: Uint8Array } {
    const where = { type: row.type, id: row.id, record: row.record, version: v.version };
    if (!v.envelope || !v.wrappedKey || v.kek === null) throw new IntegrityError(where, 'the stored version is incomplete');
    if (!equalBytes(sha256(v.envelope), commitment)) {
      throw new IntegrityError(where, 'the ciphertext does not match the ledger commitment');
    }
    try {
      return { envelope: v.envelope, dataKey: this.#keks.unwrap(v.kek, v.wrappedKey, wrapLabel(row.record, v.version)) };
    } catch (error) {
      if (error instanceof DecryptionError) throw new IntegrityError(where, `does not decrypt: ${error.message}`);
      throw error;
    }
  }

  /**
   * A committed version as it is sealed — envelope and data key, checked against the ledger like
   * a read — for re-wrapping to another custodian's node (src/exchange). The caller wipes the key.
   * Undefined for a version that is not a committed write.
   */
  sealedVersion(type: string, id: string, version: number): SealedVersion | undefined {
    this.#checkOpen();
    const row = this.resource(type, id);
    const v = row && this.#store.version(row.res, version);
    if (!row || !v || v.state !== 'committed' || v.deleted) return undefined;
    const ledger = this.#node.chain.app.recordVersion(row.record, version);
    if (ledger?.commitment === undefined)
      throw new IntegrityError({ type, id, record: row.record, version }, 'the ledger has no write for this version');
    const { envelope, dataKey } = this.#unseal(row, v, ledger.commitment);
    const content = this.#store.contentOf(row.res, version);
    return {
      type,
      id,
      record: row.record,
      version,
      author: ledger.author,
      lastUpdated: v.lastUpdated,
      envelope,
      dataKey,
      ...(content && { content }),
    };
  }

  /**
   * Checks every committed version against the ledger (write ↔ commitment = SHA-256(envelope),
   * delete ↔ delete, no version row missing) and every resource's current version against the
   * ledger head (see check.ts), and every content file against the ciphertext hash the vault
   * indexes; returns the first mismatch. With `decrypt`, also unwraps and opens every envelope
   * and checks its sealed content reference against that index.
   */
  verifyAll(options: { decrypt?: boolean } = {}): VerifyResult {
    this.#checkOpen();
    const open = (r: ResourceRow, v: VersionRow): string | undefined => {
      try {
        const opened = this.#open(r, v);
        return opened.status === 'ok' ? this.#checkContentRef(r, v, opened.resource) : undefined;
      } catch (error) {
        if (error instanceof IntegrityError) return error.message;
        throw error;
      }
    };
    return verifyVersions(this.#store, this.#node.chain.app, {
      contents: this.contents,
      ...(options.decrypt && { open }),
    });
  }

  /** The sealed content reference of a version must name what the `contents` table indexes. */
  #checkContentRef(r: ResourceRow, v: VersionRow, resource: JsonObject): string | undefined {
    let ref: ContentRef | undefined;
    try {
      ref = contentRefOf(resource);
    } catch (error) {
      return (error as Error).message;
    }
    const row = this.#store.contentOf(r.res, v.version);
    if (ref === undefined) return row === undefined ? undefined : 'the vault lists a content file the version does not hold';
    if (row === undefined || row.id !== ref.id || row.size !== ref.size || !equalBytes(row.sha256, ref.sha256))
      return 'the content reference differs from the vault index';
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Patients

  /** The ledger pseudonym linked to a FHIR Patient id (off-ledger), created on first use when asked. */
  patientPseudonym(patientId: string, options: { create?: boolean } = {}): string | undefined {
    this.#checkOpen();
    if (!ID_PATTERN.test(patientId)) throw new VaultError('vault.invalid', `invalid Patient id "${patientId}"`);
    const existing = this.#store.pseudonymOf(patientId);
    if (existing || !options.create) return existing;
    const pseudonym = randomPseudonym('pat', fillRandom(new Uint8Array(17)));
    // No fsync of its own: a new pseudonym reaches the ledger only in the record.commit of a write,
    // whose pending rows come after this link in the WAL and are synced before the ledger sees
    // them (GroupCommit), so the link is on disk first. Lost alone, it was never used.
    this.#store.transactionUnsynced(() => this.#store.link(patientId, pseudonym, this.#clock()));
    return pseudonym;
  }

  /** Links a FHIR Patient id to an existing pseudonym (e.g. one the patient enrolled with). */
  linkPatient(patientId: string, pseudonym: string): void {
    this.#checkOpen();
    if (!ID_PATTERN.test(patientId)) throw new VaultError('vault.invalid', `invalid Patient id "${patientId}"`);
    if (!ID_PATTERNS.patient.test(pseudonym)) throw new VaultError('vault.invalid', `invalid patient pseudonym "${pseudonym}"`);
    const existing = this.#store.pseudonymOf(patientId);
    if (existing === pseudonym) return;
    if (existing !== undefined) throw new VaultError('state.conflict', `Patient/${patientId} is linked to another pseudonym`);
    if (this.#store.patientOf(pseudonym) !== undefined)
      throw new VaultError('state.conflict', `${pseudonym} is linked to another Patient`);
    this.#store.link(patientId, pseudonym, this.#clock());
  }

  /** The FHIR Patient id linked to a pseudonym. */
  patientIdOf(pseudonym: string): string | undefined {
    this.#checkOpen();
    return this.#store.patientOf(pseudonym);
  }

  // -------------------------------------------------------------------------------------------
  // Keys, recovery, lifecycle

  /**
   * Creates a new KEK, re-wraps every data key under it (batches of DB transactions) and deletes
   * the old KEKs from the keystore. Writes go on meanwhile, under the new KEK.
   */
  rotateKek(): Promise<RotationResult> {
    this.#checkOpen();
    const previous = this.#rotation ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => {
        this.#keks.create();
        return finishRotation(this.#keks, this.#store, this.#options.rotationBatch);
      });
    this.#rotation = next;
    return next;
  }

  /** Settles versions left pending by a crash against the ledger. */
  #recover(): { committed: number; dropped: number } {
    let committed = 0;
    let dropped = 0;
    for (const v of this.#store.pendingVersions()) {
      if (this.#settle(v)) committed += 1;
      else dropped += 1;
    }
    return { committed, dropped };
  }

  /** Commits a pending version the ledger holds with the same commitment; drops it otherwise. */
  #settle(v: VersionRow | undefined): boolean {
    if (!v || v.state !== 'pending') return false;
    const row = this.#store.resourceByRes(v.res);
    if (!row) return false;
    const ledger = this.#node.chain.app.recordVersion(row.record, v.version);
    const matches =
      ledger !== undefined &&
      ledger.author === v.author &&
      (v.deleted
        ? ledger.commitment === undefined
        : ledger.commitment !== undefined && v.envelope !== null && equalBytes(sha256(v.envelope), ledger.commitment));
    if (!matches) {
      const files = this.#store.transaction(() => this.#dropPending(v.res, v.version));
      for (const id of files) this.contents.remove(id);
      return false;
    }
    let resource: JsonObject | null = null;
    if (!v.deleted) {
      const opened = this.#open(row, { ...v, state: 'committed' });
      resource = opened.status === 'ok' ? opened.resource : null;
    }
    const ctx: CommitContext = {
      res: v.res,
      type: row.type,
      id: row.id,
      version: v.version,
      lastUpdated: v.lastUpdated,
      resource,
      vault: this,
    };
    // The transaction hash is not known after a crash; the height is the ledger's.
    const failed = this.#store.transaction(() =>
      this.#commitNow([{ ctx, hook: undefined }], { hash: null, height: ledger.height }),
    );
    if (failed) throw failed[0]!.error;
    return true;
  }

  /**
   * Inside the transaction that erases a resource: forgets the content files of all its versions;
   * returns their ids, for the caller to delete once the transaction has committed.
   */
  forgetContents(res: number): string[] {
    return this.#store.dropContents(res);
  }

  /** Deletes a content file unless a version holds it: cleanup after a write that failed. */
  discardContent(id: string): void {
    if (!this.#store.contentHeld(id)) this.contents.remove(id);
  }

  /** Inside a transaction: drops a pending version; returns the content file it held, to delete after. */
  #dropPending(res: number, version: number): string[] {
    const content = this.#store.contentOf(res, version);
    this.#store.dropPending(res, version);
    return content ? [content.id] : [];
  }

  #checkOpen(): void {
    if (this.#closed) throw new VaultError('vault.closed', 'the vault is closed');
  }

  /** Waits for writes in flight and a rotation, then closes the database. The node stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Writes accepted but not yet coalesced take their locks in the flush already scheduled.
    if (this.#queued.length > 0) await new Promise((resolve) => setImmediate(resolve));
    await this.#locks.idle();
    await this.#rotation?.catch(() => undefined);
    this.#store.close();
  }
}

function checkAuthor(author: string): void {
  if (!AUTHOR_PATTERN.test(author)) throw new VaultError('vault.invalid', `invalid author "${author}"`);
}

/** The checks of a write request that need no state (the caller checks the author). */
function checkWrite(request: Omit<WriteRequest, 'author'>): void {
  const { type, id, resource } = request;
  checkName(type, id);
  if (request.patient !== undefined && !ID_PATTERNS.patient.test(request.patient)) {
    throw new VaultError('vault.invalid', `invalid patient pseudonym "${request.patient}"`);
  }
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    throw new VaultError('vault.invalid', 'the resource must be a JSON object');
  }
  if (resource['resourceType'] !== undefined && resource['resourceType'] !== type) {
    throw new VaultError('vault.invalid', `resourceType ${String(resource['resourceType'])} does not match ${type}`);
  }
  if (resource['id'] !== undefined && resource['id'] !== id) {
    throw new VaultError('vault.invalid', `resource id ${String(resource['id'])} does not match ${id}`);
  }
  // Only the vault seals a content reference, from `content`.
  if (CONTENT_FIELD in resource) throw new VaultError('vault.invalid', `${CONTENT_FIELD} is reserved`);
}

function checkName(type: string, id: string): void {
  if (!TYPE_PATTERN.test(type)) throw new VaultError('vault.invalid', `invalid resource type "${type}"`);
  if (!ID_PATTERN.test(id)) throw new VaultError('vault.invalid', `invalid resource id "${id}"`);
}

function checkExpected(expected: number | undefined, current: number, type: string, id: string): void {
  if (expected !== undefined && expected !== current) {
    throw new VaultError('vault.version_conflict', `${type}/${id} is at version ${current}, not ${expected}`);
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where a version belongs: what its envelope's associated data binds (the author as on the ledger). */
export interface VersionAddress {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly author: string;
  readonly record: string;
}

/** A committed write as sealed at its custodian (see Vault.sealedVersion). */
export interface SealedVersion extends VersionAddress {
  readonly lastUpdated: number;
  readonly envelope: Uint8Array;
  readonly dataKey: Uint8Array;
  /** The content file the version holds, if any (its reference is inside the envelope). */
  readonly content?: ContentLocation;
}

/**
 * Opens a version's envelope into its resource: it must decrypt under the associated data of
 * exactly this address and hold a JSON object of that type and id. IntegrityError otherwise,
 * saying nothing of the content. Used for local reads and for records received from another node.
 */
export function decryptVersion(dataKey: Uint8Array, envelope: Uint8Array, at: VersionAddress): JsonObject {
  let plaintext: Uint8Array;
  try {
    plaintext = openEnvelope(dataKey, envelope, associatedData(at.type, at.id, at.version, at.author, at.record));
  } catch (error) {
    if (error instanceof DecryptionError) throw new IntegrityError(at, `does not decrypt: ${error.message}`);
    throw error;
  }
  let resource: unknown;
  try {
    resource = JSON.parse(Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.length).toString('utf8'));
  } catch {
    throw new IntegrityError(at, 'the decrypted content is not JSON');
  } finally {
    plaintext.fill(0);
  }
  if (!isObject(resource)) throw new IntegrityError(at, 'the decrypted content is not a JSON object');
  return resource;
}
