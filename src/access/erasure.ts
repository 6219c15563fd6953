/**
 * Carries out patients' erasure requests addressed to this node's organization: for each
 * committed `erasure.request`, the records it covers (named ones, or everything held about the
 * patient) are crypto-shredded in the vault — ciphertext and every wrapped key deleted — except
 * those the organization must retain by its explicit retention rules, and a tombstone saying
 * which were erased and which retained (and why) is committed. Requests are found again after a
 * restart, so a crash between shredding and tombstone only repeats work that is idempotent.
 */
import type { RetentionReason } from '../ledger/payloads/erasure.js';
import { MAX_RECORD_ENTRIES } from '../ledger/payloads/record.js';
import type { TxPayload } from '../ledger/tx.js';
import type { ErasureRequest } from '../state/erasure.js';
import type { RecordHead } from '../state/records.js';
import type { SubmitResult } from './service.js';

/** Resource types the organization keeps despite an erasure request, and on which ground. */
export type RetentionRules = Readonly<Record<string, RetentionReason>>;

/** What erasure needs from the vault. */
export interface ErasableVault {
  /** Every record this node holds about the patient (by pseudonym), with its resource type. */
  recordsOf(patient: string): { readonly record: string; readonly type: string }[];
  /** The resource type of one record held here, if any. */
  typeOf(record: string): string | undefined;
  /** Deletes every version's ciphertext and wrapped key and the record's index entries. Idempotent. */
  erase(records: readonly string[]): Promise<void>;
}

export interface ErasureLedger {
  readonly org: string;
  erasureRequest(id: string): ErasureRequest | undefined;
  recordHead(id: string): RecordHead | undefined;
  /** Ids of requests not yet complete (listed from state by key prefix). */
  openRequests(): string[];
  submit(payload: TxPayload): Promise<SubmitResult>;
}

export interface ErasureOutcome {
  readonly request: string;
  readonly erased: number;
  readonly retained: { readonly record: string; readonly reason: RetentionReason }[];
}

export class ErasureWorker {
  readonly #ledger: ErasureLedger;
  readonly #vault: ErasableVault;
  readonly #retention: RetentionRules;
  readonly #running = new Map<string, Promise<ErasureOutcome>>();

  constructor(ledger: ErasureLedger, vault: ErasableVault, retention: RetentionRules = {}) {
    this.#ledger = ledger;
    this.#vault = vault;
    this.#retention = retention;
  }

  /** Processes every open request addressed to this organization (on start and after each block). */
  async catchUp(): Promise<ErasureOutcome[]> {
    const mine = this.#ledger.openRequests().filter((id) => this.#ledger.erasureRequest(id)?.custodian === this.#ledger.org);
    return Promise.all(mine.map((id) => this.process(id)));
  }

  /** Carries out one request; concurrent calls for the same request share one run. */
  process(id: string): Promise<ErasureOutcome> {
    let run = this.#running.get(id);
    if (!run) {
      run = this.#process(id).finally(() => this.#running.delete(id));
      this.#running.set(id, run);
    }
    return run;
  }

  async #process(id: string): Promise<ErasureOutcome> {
    const request = this.#ledger.erasureRequest(id);
    if (!request || request.custodian !== this.#ledger.org) throw new Error(`no erasure request ${id} for ${this.#ledger.org}`);
    if (request.status === 'completed') return { request: id, erased: 0, retained: [] };
    const covered = request.records
      ? request.records.map((record) => ({ record, type: this.#vault.typeOf(record) }))
      : this.#vault.recordsOf(request.patient);
    const erase: string[] = [];
    const retained: { record: string; reason: RetentionReason }[] = [];
    for (const { record, type } of covered) {
      const head = this.#ledger.recordHead(record);
      // Only this custodian's live records about the patient; already-erased ones are done.
      if (!head || head.custodian !== this.#ledger.org || head.patient !== request.patient || head.erased) continue;
      const reason = type === undefined ? undefined : this.#retention[type];
      if (reason) retained.push({ record, reason });
      else erase.push(record);
    }
    // Shred first: the tombstone must never claim an erasure that has not happened.
    await this.#vault.erase(erase);
    const all = [...erase.map((record) => ({ erase: record })), ...retained.map((r) => ({ retain: r }))];
    const chunks = Math.max(1, Math.ceil(all.length / MAX_RECORD_ENTRIES));
    for (let i = 0; i < chunks; i++) {
      const part = all.slice(i * MAX_RECORD_ENTRIES, (i + 1) * MAX_RECORD_ENTRIES);
      const outcome = await this.#ledger.submit({
        type: 'erasure.tombstone',
        body: {
          request: id,
          erased: part.flatMap((p) => ('erase' in p ? [p.erase] : [])),
          retained: part.flatMap((p) => ('retain' in p ? [p.retain] : [])),
          done: i === chunks - 1,
        },
      });
      if (!outcome.ok) throw new Error(`tombstone for ${id} refused: ${outcome.error.code}: ${outcome.error.message}`);
    }
    return { request: id, erased: erase.length, retained };
  }
}
