/**
 * Ledger state for access decisions, memoized: a search that decides hundreds of records for one
 * patient reads each (patient, grantee) grant list once, and a block that grants, revokes or opens
 * emergency access empties the memo (blocks of other transactions leave it).
 */
import type { BreakGlass } from '../state/access.js';
import type { Consent } from '../state/consents.js';
import type { AccessState } from './policy.js';

/** What the memo reads through: the node's Application (committed state only). */
export interface CommittedAccessState extends AccessState {
  /** The height of the last committed block that changed a consent or an emergency access. */
  grantsChangedAt(): number;
}

const MAX_ENTRIES = 100_000;

export class HeightMemoAccessState implements AccessState {
  readonly #source: CommittedAccessState;
  #height = -1;
  readonly #consents = new Map<string, readonly Consent[]>();
  readonly #openings = new Map<string, BreakGlass | null>();

  constructor(source: CommittedAccessState) {
    this.#source = source;
  }

  consentsFor(patient: string, grantee: string): readonly Consent[] {
    this.#sync();
    const key = `${patient}/${grantee}`;
    let found = this.#consents.get(key);
    if (found === undefined) {
      found = this.#source.consentsFor(patient, grantee);
      this.#consents.set(key, found);
    }
    return found;
  }

  latestBreakGlass(patient: string, practitioner: string): BreakGlass | undefined {
    this.#sync();
    const key = `${patient}/${practitioner}`;
    let found = this.#openings.get(key);
    if (found === undefined) {
      found = this.#source.latestBreakGlass(patient, practitioner) ?? null;
      this.#openings.set(key, found);
    }
    return found ?? undefined;
  }

  #sync(): void {
    const height = this.#source.grantsChangedAt();
    if (height !== this.#height || this.#consents.size + this.#openings.size > MAX_ENTRIES) {
      this.#consents.clear();
      this.#openings.clear();
      this.#height = height;
    }
  }
}
