/**
 * The access log writer: every access decision becomes an event in an `access.log` transaction
 * signed by the organization. Events are grouped like the sequencer groups transactions — while
 * one batch is being committed the next one fills — so auditing costs one transaction per batch,
 * not per read. `record` resolves once the event is committed, so a caller can refuse to
 * disclose anything whose access could not be logged.
 */
import type { LedgerError } from '../ledger/errors.js';
import { MAX_EVENTS_PER_TX, MAX_RECORDS_PER_EVENT, type AccessEvent } from '../ledger/payloads/access.js';
import type { TxPayload } from '../ledger/tx.js';

export type Submit = (payload: TxPayload) => Promise<{ readonly ok: true } | { readonly ok: false; readonly error: LedgerError }>;

export class AccessLogError extends Error {
  constructor(readonly error: LedgerError) {
    super(`access event not recorded: ${error.code}: ${error.message}`);
  }
}

interface Pending {
  readonly event: AccessEvent;
  /** Submitted in a transaction of its own (after its batch was refused). */
  readonly alone?: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Encoded sizes are bounded so a batch stays well under MAX_TX_BYTES (192 KiB). */
const BATCH_BYTES = 128 * 1024;
const EVENT_BYTES = 200;
const RECORD_BYTES = 32;

/** Refusals caused by the content of some event rather than by the node or the signer. */
const SINGLE_EVENT_FAULTS = new Set(['tx.invalid', 'tx.unauthorized', 'tx.malformed', 'tx.too_large']);

const sizeOf = (event: AccessEvent): number => EVENT_BYTES + RECORD_BYTES * event.records.length;

/** Splits an event that discloses more records than one event may name. */
export function splitEvent(event: AccessEvent): AccessEvent[] {
  if (event.records.length <= MAX_RECORDS_PER_EVENT) return [event];
  const parts: AccessEvent[] = [];
  for (let i = 0; i < event.records.length; i += MAX_RECORDS_PER_EVENT) {
    parts.push({ ...event, records: event.records.slice(i, i + MAX_RECORDS_PER_EVENT) });
  }
  return parts;
}

export class AccessRecorder {
  readonly #submit: Submit;
  #queue: Pending[] = [];
  readonly #outstanding = new Set<Promise<void>>();
  #inFlight = 0;
  readonly #maxInFlight: number;

  constructor(submit: Submit, options: { readonly maxInFlight?: number } = {}) {
    this.#submit = submit;
    this.#maxInFlight = options.maxInFlight ?? 2;
  }

  /** Resolves when the event (all of it, if it had to be split) is on the ledger. */
  record(event: AccessEvent): Promise<void> {
    return this.recordAll([event]);
  }

  /** Records several events, queued together so they share a transaction when they fit. */
  recordAll(events: readonly AccessEvent[]): Promise<void> {
    const parts = events.flatMap(splitEvent).map(
      (part) =>
        new Promise<void>((resolve, reject) => {
          this.#queue.push({ event: part, resolve, reject });
        }),
    );
    this.#pump();
    const done = Promise.all(parts).then(() => undefined);
    this.#outstanding.add(done);
    void done.catch(() => undefined).finally(() => this.#outstanding.delete(done));
    return done;
  }

  /** Waits until every event recorded so far has been committed or refused. */
  async drain(): Promise<void> {
    while (this.#outstanding.size > 0) await Promise.allSettled([...this.#outstanding]);
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#take();
      this.#inFlight += 1;
      void this.#submit({ type: 'access.log', body: { events: batch.map((p) => p.event) } })
        .then(
          (outcome) => {
            if (outcome.ok) for (const p of batch) p.resolve();
            else if (batch.length > 1 && SINGLE_EVENT_FAULTS.has(outcome.error.code)) {
              // One bad event must not take its neighbours down: retry each on its own.
              this.#queue.unshift(...batch.map((p) => ({ ...p, alone: true })));
            } else for (const p of batch) p.reject(new AccessLogError(outcome.error));
          },
          (error: unknown) => {
            for (const p of batch) p.reject(error instanceof Error ? error : new Error(String(error)));
          },
        )
        .finally(() => {
          this.#inFlight -= 1;
          this.#pump();
        });
    }
  }

  #take(): Pending[] {
    if (this.#queue[0]!.alone) return this.#queue.splice(0, 1);
    let bytes = 0;
    let count = 0;
    while (count < this.#queue.length && count < MAX_EVENTS_PER_TX && !this.#queue[count]!.alone) {
      const size = sizeOf(this.#queue[count]!.event);
      if (count > 0 && bytes + size > BATCH_BYTES) break;
      bytes += size;
      count += 1;
    }
    return this.#queue.splice(0, count);
  }
}
