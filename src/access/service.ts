/**
 * Access control as the node's services use it: who the requester is on the ledger, the decision
 * for one record, the search scope for one type, the access log, and emergency access with its
 * review. Decisions read committed ledger state at request time (memoized per height); every
 * decision that discloses or refuses a patient's records is logged before the answer leaves.
 */
import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { randomPseudonym } from '../client/identity.js';
import type { LedgerError } from '../ledger/errors.js';
import type { AccessAction, AccessEvent, BreakGlassReason, ReviewOutcome } from '../ledger/payloads/access.js';
import type { ConsentPurpose } from '../ledger/payloads/consent.js';
import type { TxPayload } from '../ledger/tx.js';
import type { BreakGlass } from '../state/access.js';
import type { Participant } from '../state/participants.js';
import { HeightMemoAccessState } from './ledger-state.js';
import { decide, type Decision, type RecordFacts, type Requester, type TreatmentRule } from './policy.js';
import { AccessRecorder } from './recorder.js';
import { MAX_NOTE_LENGTH, type AccessStore } from './store.js';
import { searchScope, type SearchScope, type VisibilitySource } from './visibility.js';

export type SubmitResult = { readonly ok: true } | { readonly ok: false; readonly error: LedgerError };

/** What the service needs from the node. */
export interface AccessLedger extends VisibilitySource {
  /** This node's organization. */
  readonly org: string;
  participant(id: string): Participant | undefined;
  breakGlass(id: string): BreakGlass | undefined;
  /** Everyone who wrote a committed version of the record (ledger state). */
  recordAuthors(record: string): string[];
  /** Submits a transaction signed by the organization or by one of its practitioners whose key the node holds. */
  submit(signer: string, payload: TxPayload): Promise<SubmitResult>;
}

export class AccessDenied extends Error {
  constructor(
    readonly code: 'access.forbidden' | 'access.invalid' | 'access.not_found',
    message: string,
  ) {
    super(message);
  }
}

/** One record disclosed (or withheld) by a request. */
export interface Disclosure {
  readonly record: string;
  readonly decision: Decision;
}

export interface AccessServiceOptions {
  readonly rule?: TreatmentRule;
  readonly clock?: () => number;
}

const SCOPE_MEMO = 10_000;

export class AccessService {
  readonly rule: TreatmentRule;
  readonly recorder: AccessRecorder;
  readonly #ledger: AccessLedger;
  readonly #store: AccessStore;
  readonly #state: HeightMemoAccessState;
  readonly #clock: () => number;
  readonly #scopes = new Map<string, { height: number; scope: SearchScope }>();

  constructor(ledger: AccessLedger, store: AccessStore, options: AccessServiceOptions = {}) {
    this.#ledger = ledger;
    this.#store = store;
    this.rule = options.rule ?? 'authors';
    this.#clock = options.clock ?? Date.now;
    this.#state = new HeightMemoAccessState(ledger);
    this.recorder = new AccessRecorder((payload) => ledger.submit(ledger.org, payload));
  }

  requesterOf(principal: Principal): Requester {
    switch (principal.kind) {
      case 'practitioner':
        return { kind: 'practitioner', id: principal.id, org: principal.org };
      case 'patient':
        return { kind: 'patient', id: principal.id };
      case 'system':
        return { kind: 'organization', id: principal.org };
    }
  }

  /** What a decision needs about one record held by this node. */
  facts(record: string, type: string, patient: string): RecordFacts {
    return { patient, type, custodian: this.#ledger.org, authors: this.#ledger.recordAuthors(record) };
  }

  /** The ledger id recorded as the actor of the principal's accesses. */
  actorOf(principal: Principal): string {
    return principal.kind === 'system' ? principal.org : principal.id;
  }

  decide(principal: Principal, record: RecordFacts, purpose: ConsentPurpose = 'TREAT'): Decision {
    return decide(this.#state, this.rule, { requester: this.requesterOf(principal), record, purpose, now: this.#clock() });
  }

  /** What a search of `type` may return to the principal (see visibility.ts). */
  scope(principal: Principal, type: string, purpose: ConsentPurpose = 'TREAT'): SearchScope {
    const requester = this.requesterOf(principal);
    const height = this.#ledger.grantsChangedAt();
    const key = `${requester.kind}/${requester.id}/${type}/${purpose}`;
    const now = this.#clock();
    const memo = this.#scopes.get(key);
    // Valid for this height, and until the first consent or emergency access in it starts or ends.
    if (memo && memo.height === height && now < memo.scope.validUntil) return memo.scope;
    const scope = searchScope(this.#ledger, this.rule, { requester, type, purpose, now });
    if (this.#scopes.size >= SCOPE_MEMO) this.#scopes.clear();
    this.#scopes.set(key, { height, scope });
    return scope;
  }

  /**
   * Logs what a request disclosed about one patient — one event per basis — or that it was
   * refused. Resolves once the events are on the ledger: callers answer only after that.
   */
  async log(principal: Principal, action: AccessAction, patient: string, disclosures: readonly Disclosure[]): Promise<void> {
    const actor = this.actorOf(principal);
    const at = this.#clock();
    const groups = new Map<string, { decision: Decision; records: string[] }>();
    for (const d of disclosures) {
      const key = d.decision.permit ? `${d.decision.basis}/${'grant' in d.decision ? d.decision.grant : ''}` : 'deny';
      const group = groups.get(key) ?? { decision: d.decision, records: [] };
      group.records.push(d.record);
      groups.set(key, group);
    }
    if (groups.size === 0) groups.set('none', { decision: { permit: false, reason: 'nothing to disclose' }, records: [] });
    const events: AccessEvent[] = [...groups.values()].map(({ decision, records }) => {
      const common = { actor, patient, action, at, records };
      if (!decision.permit) return { ...common, decision: 'deny' };
      return 'grant' in decision
        ? { ...common, decision: 'permit', basis: decision.basis, grant: decision.grant }
        : { ...common, decision: 'permit', basis: decision.basis };
    });
    await this.recorder.recordAll(events);
  }

  /** Opens time-limited emergency access for a clinician or nurse of this organization. */
  async openBreakGlass(
    principal: Principal,
    request: {
      readonly patient: string;
      readonly reason: BreakGlassReason;
      readonly justification: string;
      readonly minutes: number;
    },
  ): Promise<BreakGlass> {
    if (principal.kind !== 'practitioner') throw new AccessDenied('access.forbidden', 'only practitioners open emergency access');
    const text = request.justification.trim();
    if (text.length < 10 || text.length > MAX_NOTE_LENGTH) {
      throw new AccessDenied('access.invalid', `the justification must be 10 to ${MAX_NOTE_LENGTH} characters`);
    }
    const id = randomPseudonym('bg', randomBytes(17));
    const justification = this.#store.put(id, 'justification', principal.id, text, this.#clock());
    const outcome = await this.#ledger.submit(this.#ledger.org, {
      type: 'access.break_glass',
      body: {
        id,
        practitioner: principal.id,
        patient: request.patient,
        reason: request.reason,
        justification,
        minutes: request.minutes,
      },
    });
    if (!outcome.ok) {
      this.#store.remove(id, 'justification');
      throw new AccessDenied(
        outcome.error.code === 'tx.unauthorized' ? 'access.forbidden' : 'access.invalid',
        outcome.error.message,
      );
    }
    return this.#ledger.breakGlass(id)!;
  }

  /** A privacy officer's review of an emergency access, with notes kept off the ledger. */
  async reviewBreakGlass(
    principal: Principal,
    request: { readonly opening: string; readonly outcome: ReviewOutcome; readonly notes: string },
  ): Promise<BreakGlass> {
    if (principal.kind !== 'practitioner' || !principal.roles.includes('privacy-officer')) {
      throw new AccessDenied('access.forbidden', 'only privacy officers review emergency accesses');
    }
    const opening = this.#ledger.breakGlass(request.opening);
    if (!opening || opening.org !== principal.org)
      throw new AccessDenied('access.not_found', `no emergency access ${request.opening}`);
    if (opening.review) throw new AccessDenied('access.invalid', `${opening.id} was already reviewed`);
    const text = request.notes.trim();
    if (text.length > MAX_NOTE_LENGTH)
      throw new AccessDenied('access.invalid', `review notes exceed ${MAX_NOTE_LENGTH} characters`);
    const notes = this.#store.put(opening.id, 'review', principal.id, text, this.#clock());
    // Signed by the officer when the node holds their key, so the ledger names the reviewer.
    const outcome = await this.#ledger.submit(principal.id, {
      type: 'access.review',
      body: { opening: opening.id, outcome: request.outcome, notes },
    });
    if (!outcome.ok) {
      this.#store.remove(opening.id, 'review');
      throw new AccessDenied(
        outcome.error.code === 'tx.unauthorized' ? 'access.forbidden' : 'access.invalid',
        outcome.error.message,
      );
    }
    return this.#ledger.breakGlass(opening.id)!;
  }

  /** The written justification of an emergency access, for its organization's privacy officers. */
  justification(principal: Principal, opening: string): string {
    const found = this.#ledger.breakGlass(opening);
    const officer =
      principal.kind === 'practitioner' && principal.roles.includes('privacy-officer') && found?.org === principal.org;
    if (!found || !officer) throw new AccessDenied('access.not_found', `no emergency access ${opening}`);
    const note = this.#store.note(opening, 'justification');
    if (!note) throw new AccessDenied('access.not_found', `the justification of ${opening} is not held by this node`);
    return note.text;
  }
}
