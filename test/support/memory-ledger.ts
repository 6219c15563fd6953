/**
 * An in-memory ledger for state-machine tests: a Map is the committed store, blocks are applied
 * with finalizeBlock and committed by hand; plus a deterministic populated world of participants.
 */
import assert from 'node:assert/strict';
import { Identity, randomPseudonym, type RandomIdPrefix } from '../../src/client/identity.js';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { keyPairFromSeed, type KeyPair } from '../../src/crypto/ed25519.js';
import { sha256 } from '../../src/crypto/hash.js';
import type { LedgerErrorCode, Result } from '../../src/ledger/errors.js';
import { encodeGenesis, genesisHash, type Genesis } from '../../src/ledger/genesis.js';
import type { AccessEvent, BreakGlassReason } from '../../src/ledger/payloads/access.js';
import type { ConsentGrantBody } from '../../src/ledger/payloads/consent.js';
import type { ParticipantStatus, PractitionerRole } from '../../src/ledger/payloads/participant.js';
import type { SignedTx, TxPayload } from '../../src/ledger/tx.js';
import { validatorIdOf, type GovernanceAction } from '../../src/ledger/payloads/governance.js';
import { genesisState, LedgerApplication, type BlockOutcome } from '../../src/state/application.js';
import type { Participant } from '../../src/state/participants.js';
import type { StateChange, StateReader } from '../../src/state/store.js';
// ---------------------------------------------------------------------------------------------
// An in-memory ledger
// ---------------------------------------------------------------------------------------------

export const CHAIN = 'test-chain';
export const FOUNDER = 'org_test-hospital';
export const GENESIS_TIME = 1_700_000_000_000;
export const BLOCK_INTERVAL = 1_000;

/** Deterministic keys, so independently built ledgers hold the same participants. */
export function keysFrom(label: string): KeyPair {
  return keyPairFromSeed(sha256(utf8(`state-machine-test:key:${label}`)));
}

/** A deterministic 128-bit pseudonym (`pat_…` / `dev_…`) or random-format id (`rec_…`, `cns_…`, `bg_…`, `ers_…`). */
export function pseudonym(prefix: RandomIdPrefix, label: string): string {
  return randomPseudonym(prefix, sha256(utf8(`state-machine-test:id:${label}`)));
}

export const GENESIS: Genesis = {
  chain: CHAIN,
  time: GENESIS_TIME,
  founder: { id: FOUNDER, name: 'Test Hospital', key: keysFrom('founder').publicKey },
  validators: [{ name: 'validator-1', key: keysFrom('validator').publicKey }],
};

export type BlockResult = BlockOutcome & { results: Result<void>[] };

export class MemoryLedger {
  readonly store = new Map<string, Uint8Array>();
  readonly app: LedgerApplication;
  height = 0;
  time = GENESIS_TIME;

  constructor(genesis: Genesis = GENESIS) {
    const reader: StateReader = { get: (key) => this.store.get(key) };
    const initial = genesisState(genesis, genesisHash(encodeGenesis(genesis)), reader);
    this.#apply(initial.changes);
    this.app = new LedgerApplication(genesis, reader, 0, initial.stateRoot);
  }

  get root(): Uint8Array {
    return this.app.info().stateRoot;
  }

  /** Executes and commits the next block. */
  block(txs: readonly SignedTx[], time: number = this.time + BLOCK_INTERVAL): BlockResult {
    const height = this.height + 1;
    const outcome = this.app.finalizeBlock({ height, time }, txs);
    this.#apply(outcome.changes);
    this.app.commit(height, outcome);
    this.height = height;
    this.time = time;
    return outcome;
  }

  /** Executes the next block without committing it (a dry run). */
  preview(txs: readonly SignedTx[], time: number = this.time + BLOCK_INTERVAL): BlockResult {
    return this.app.finalizeBlock({ height: this.height + 1, time }, txs);
  }

  participant(id: string): Participant | undefined {
    return this.app.participant(id);
  }

  /** The committed store as comparable hex, in key order. */
  snapshot(): [string, string][] {
    return [...this.store].map(([k, v]): [string, string] => [k, toHex(v)]).sort(([a], [b]) => (a < b ? -1 : 1));
  }

  #apply(changes: readonly StateChange[]): void {
    for (const change of changes) {
      if (change.value === null) this.store.delete(change.key);
      else this.store.set(change.key, change.value);
    }
  }
}

export function codeOf(result: Result<void>): LedgerErrorCode | 'ok' {
  return result.ok ? 'ok' : result.error.code;
}

export function describeResult(result: Result<void>): string {
  return result.ok ? 'ok' : `${result.error.code} (${result.error.message})`;
}

/** Commits one block and fails the test unless every transaction in it applied. */
export function commitAll(ledger: MemoryLedger, txs: readonly SignedTx[], time?: number): BlockResult {
  const outcome = ledger.block(txs, time);
  outcome.results.forEach((r, i) => assert.ok(r.ok, `tx ${i} of block ${ledger.height} failed: ${describeResult(r)}`));
  return outcome;
}

/** Commits a block with one transaction and returns its result code. */
export function submit(ledger: MemoryLedger, tx: SignedTx, time?: number): LedgerErrorCode | 'ok' {
  const outcome = ledger.block([tx], time);
  return codeOf(outcome.results[0]!);
}

/**
 * Signs with the signer's next sequence number and commits it alone in a block (at `time`, if
 * given); the signer's sequence number then follows the ledger's, so a refusal leaves no gap.
 */
export function attempt(
  w: { readonly ledger: MemoryLedger },
  signer: Identity,
  p: TxPayload,
  time?: number,
): LedgerErrorCode | 'ok' {
  const code = submit(w.ledger, signer.sign(p), time);
  signer.setNextSeq(w.ledger.app.nextSeq(signer.id));
  return code;
}

export function hexOf(bytes: Uint8Array): string {
  return toHex(bytes);
}

export function changesHex(changes: readonly StateChange[]): [string, string | null][] {
  return changes.map((c) => [c.key, c.value === null ? null : toHex(c.value)]);
}

// --- Payload builders ------------------------------------------------------------------------

export const payload = {
  organization: (id: string, key: Uint8Array, name = 'Some Clinic'): TxPayload => ({
    type: 'participant.register',
    body: { kind: 'organization', id, key, name },
  }),
  practitioner: (id: string, key: Uint8Array, org: string, roles: PractitionerRole[]): TxPayload => ({
    type: 'participant.register',
    body: { kind: 'practitioner', id, key, org, roles },
  }),
  patient: (id: string, key: Uint8Array): TxPayload => ({
    type: 'participant.register',
    body: { kind: 'patient', id, key },
  }),
  device: (id: string, key: Uint8Array, patient: string): TxPayload => ({
    type: 'participant.register',
    body: { kind: 'device', id, key, patient },
  }),
  rotateKey: (id: string, key: Uint8Array): TxPayload => ({ type: 'participant.rotate_key', body: { id, key } }),
  setStatus: (id: string, status: ParticipantStatus): TxPayload => ({
    type: 'participant.set_status',
    body: { id, status },
  }),
  setRoles: (id: string, roles: PractitionerRole[]): TxPayload => ({
    type: 'participant.set_roles',
    body: { id, roles },
  }),
  /** A patient's consent: `grantee` may see the record for treatment (by default all of it, for ever). */
  grant: (
    id: string,
    patient: string,
    grantee: string,
    terms: Partial<Omit<ConsentGrantBody, 'id' | 'patient' | 'grantee'>> = {},
  ): TxPayload => ({
    type: 'consent.grant',
    body: { id, patient, grantee, purpose: 'TREAT', ...terms },
  }),
  revoke: (id: string): TxPayload => ({ type: 'consent.revoke', body: { id } }),
  /** Version `version` (default 1) of each record, about `patient` (or no patient), held by `custodian`. */
  recordCommit: (
    author: string,
    custodian: string,
    patient: string | undefined,
    records: readonly string[],
    version = 1,
  ): TxPayload => ({
    type: 'record.commit',
    body: {
      author,
      custodian,
      entries: records.map((record) => ({
        record,
        version,
        ...(patient !== undefined && { patient }),
        op: 'write' as const,
        commitment: sha256(utf8(`${record}/${version}`)),
      })),
    },
  }),
  /** Emergency access of `practitioner` to `patient` for `minutes`. */
  breakGlass: (
    id: string,
    practitioner: string,
    patient: string,
    minutes = 60,
    reason: BreakGlassReason = 'other',
  ): TxPayload => ({
    type: 'access.break_glass',
    body: { id, practitioner, patient, reason, justification: sha256(utf8(`justification of ${id}`)), minutes },
  }),
  /** Access events, signed by the organization that logs them. */
  accessLog: (...events: AccessEvent[]): TxPayload => ({ type: 'access.log', body: { events } }),
  /** A governance proposal (signed by a validator); approvable through block `until`. */
  propose: (id: string, action: GovernanceAction, until = 1_000): TxPayload => ({
    type: 'governance.propose',
    body: { id, until, ...action },
  }),
  approve: (proposal: string): TxPayload => ({ type: 'governance.approve', body: { proposal } }),
  /** Admits an organization (one validator: its proposal alone executes). */
  admitOrganization: (org: string, key: Uint8Array, name = 'Some Clinic'): TxPayload => ({
    type: 'governance.propose',
    body: { id: `gov_admit-${org.slice(4)}`, until: 1_000, action: 'admit-organization', org, key, name },
  }),
};

/** A validator of `genesis` signing governance transactions, by its key label. */
export function validatorIdentity(label = 'validator', nextSeq = 0): Identity {
  const keys = keysFrom(label);
  return new Identity(CHAIN, validatorIdOf(keys.publicKey), keys, nextSeq);
}

/** The single validator of GENESIS. */
export const VALIDATOR_LABEL = 'validator';

// --- A populated world -----------------------------------------------------------------------

export interface World {
  readonly ledger: MemoryLedger;
  /** The founding organization. */
  readonly orgA: Identity;
  readonly orgB: Identity;
  /** Practitioners of org A. */
  readonly adminA: Identity;
  readonly clinicianA: Identity;
  readonly registrarA: Identity;
  readonly analystA: Identity;
  /** A practitioner of org B. */
  readonly clinicianB: Identity;
  /** Enrolled by registrarA. */
  readonly patient: Identity;
  /** Enrolled by orgA. */
  readonly otherPatient: Identity;
  /** The patient's device, registered by the patient. */
  readonly device: Identity;
}

export function identity(id: string, label = id): Identity {
  return new Identity(CHAIN, id, keysFrom(label));
}

/** Builds the same world every time (deterministic keys and ids). */
export function buildWorld(): World {
  const ledger = new MemoryLedger();
  const orgA = identity(FOUNDER, 'founder');
  const orgB = identity('org_other-clinic');
  const adminA = identity('prac_admin-a');
  const clinicianA = identity('prac_clinician-a');
  const registrarA = identity('prac_registrar-a');
  const analystA = identity('prac_analyst-a');
  const clinicianB = identity('prac_clinician-b');
  const patient = identity(pseudonym('pat', 'patient'));
  const otherPatient = identity(pseudonym('pat', 'other-patient'));
  const device = identity(pseudonym('dev', 'device'));

  commitAll(ledger, [validatorIdentity().sign(payload.admitOrganization(orgB.id, orgB.publicKey, 'Other Clinic'))]);
  commitAll(ledger, [
    orgA.sign(payload.practitioner(adminA.id, adminA.publicKey, orgA.id, ['admin'])),
    orgA.sign(payload.practitioner(clinicianA.id, clinicianA.publicKey, orgA.id, ['clinician'])),
    orgA.sign(payload.practitioner(registrarA.id, registrarA.publicKey, orgA.id, ['registrar'])),
    orgA.sign(payload.practitioner(analystA.id, analystA.publicKey, orgA.id, ['analyst'])),
  ]);
  commitAll(ledger, [
    orgB.sign(payload.practitioner(clinicianB.id, clinicianB.publicKey, orgB.id, ['clinician', 'nurse'])),
    registrarA.sign(payload.patient(patient.id, patient.publicKey)),
    orgA.sign(payload.patient(otherPatient.id, otherPatient.publicKey)),
  ]);
  commitAll(ledger, [patient.sign(payload.device(device.id, device.publicKey, patient.id))]);
  return { ledger, orgA, orgB, adminA, clinicianA, registrarA, analystA, clinicianB, patient, otherPatient, device };
}

export function mustFind(ledger: MemoryLedger, id: string): Participant {
  const p = ledger.participant(id);
  assert.ok(p, `participant ${id} should exist`);
  return p;
}

let freshCounter = 0;
/** A key that no one holds yet. */
export function freshKey(): Uint8Array {
  return keysFrom(`fresh-${++freshCounter}`).publicKey;
}
