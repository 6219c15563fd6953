/** Shared test fixtures: throwaway data directories, running nodes and signing identities. */
import { mkdtempSync, rmSync } from 'node:fs';
import { decodeTx } from '../../src/ledger/tx.js';
import { openExchange } from '../../src/node/exchange.js';
import { openAccess, startErasureWorker, type AccessLayer } from '../../src/node/access-ledger.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Identity, randomPseudonym } from '../../src/client/identity.js';
import { generateKeyPair, keyPairFromSeed, type KeyPair } from '../../src/crypto/ed25519.js';
import type { SignedTx, Tx } from '../../src/ledger/tx.js';
import type { AccessEvent } from '../../src/ledger/payloads/access.js';
import type { PractitionerRole } from '../../src/ledger/payloads/participant.js';
import { initDataDir, ORG_KEY } from '../../src/node/data-dir.js';
import { LedgerNode } from '../../src/node/ledger-node.js';
import { buildHttpServer } from '../../src/server/http.js';
import { FhirRepository } from '../../src/fhir/repository.js';
import { AuthService } from '../../src/auth/service.js';
import { registerBearer } from './fhir-api.js';
import type { SequencerOptions, SubmitOutcome } from '../../src/consensus/solo/sequencer.js';

export const PASSPHRASE = 'test passphrase, not a secret';
export const CHAIN = 'test-chain';
export const FOUNDER = 'org_test-hospital';

export function tempDir(prefix = 'medledger-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestNode {
  readonly dir: string;
  readonly node: LedgerNode;
  /** The founding organization, signing with the key from the node's keystore. */
  readonly org: Identity;
  submit(tx: SignedTx): Promise<SubmitOutcome>;
  /** Submits and fails the test unless the transaction commits. */
  commit(tx: SignedTx): Promise<SubmitOutcome & { ok: true }>;
  /**
   * Registers a practitioner of the founding organization, signed by the node (which keeps the
   * organization's sequence numbers, also for the FHIR writes it signs); fails unless it commits.
   */
  addPractitioner(id: string, roles?: readonly PractitionerRole[]): Promise<void>;
  /**
   * Admits another organization through governance (this solo node's validator is the only one,
   * so its proposal is approved and executed in its block); fails unless it commits. Returns the
   * organization's signing identity.
   */
  admitOrganization(id: string, keys: KeyPair, name: string): Promise<Identity>;
  /**
   * Enrolls a patient pseudonym (e.g. the one the vault made for a FHIR Patient) on the ledger with a
   * fresh key, signed by the node; fails unless it commits. Returns the patient's signing identity.
   */
  enrollPatient(pseudonym: string): Promise<Identity>;
  close(): Promise<void>;
}

export function initTestDir(dir: string): void {
  initDataDir(dir, { chain: CHAIN, orgId: FOUNDER, orgName: 'Test Hospital', passphrase: PASSPHRASE });
}

export async function startTestNode(options: { dir?: string; sequencer?: SequencerOptions } = {}): Promise<TestNode> {
  const temp = options.dir ? undefined : tempDir();
  const dir = options.dir ?? temp!.path;
  if (temp) initTestDir(dir);
  const node = LedgerNode.open({
    dataDir: dir,
    passphrase: PASSPHRASE,
    ...(options.sequencer && { sequencer: options.sequencer }),
  });
  const orgRecord = node.chain.app.participant(FOUNDER)!;
  const org = new Identity(CHAIN, FOUNDER, keyPairFromSeed(node.keystore.secretKey(ORG_KEY)!), orgRecord.nextSeq);
  const submit = (tx: SignedTx) => node.submit(tx.wire);
  return {
    dir,
    node,
    org,
    submit,
    async commit(tx) {
      const outcome = await submit(tx);
      if (!outcome.ok) throw new Error(`expected commit, got ${outcome.error.code}: ${outcome.error.message}`);
      return outcome;
    },
    async addPractitioner(id, roles = ['clinician']) {
      const outcome = await node.submitOwn({
        type: 'participant.register',
        body: { kind: 'practitioner', id, key: generateKeyPair().publicKey, org: FOUNDER, roles: [...roles] },
      });
      if (!outcome.ok) throw new Error(`expected commit, got ${outcome.error.code}: ${outcome.error.message}`);
    },
    async admitOrganization(id, keys, name) {
      const outcome = await node.submitAsValidator({
        type: 'governance.propose',
        body: {
          id: `gov_admit-${id.slice('org_'.length)}`,
          until: node.chain.head().height + 100,
          action: 'admit-organization',
          org: id,
          key: keys.publicKey,
          name,
        },
      });
      if (!outcome.ok) throw new Error(`expected commit, got ${outcome.error.code}: ${outcome.error.message}`);
      return new Identity(CHAIN, id, keys);
    },
    async enrollPatient(pseudonym) {
      const keys = generateKeyPair();
      const outcome = await node.submitOwn({
        type: 'participant.register',
        body: { kind: 'patient', id: pseudonym, key: keys.publicKey },
      });
      if (!outcome.ok) throw new Error(`expected commit, got ${outcome.error.code}: ${outcome.error.message}`);
      return new Identity(CHAIN, pseudonym, keys);
    },
    async close() {
      await node.close();
      temp?.remove();
    },
  };
}

export interface TestServer extends TestNode {
  readonly app: FastifyInstance;
  readonly url: string;
  /** The FHIR repository, when started with `fhir: true` (its API is at `${url}/fhir`). */
  readonly fhir?: FhirRepository;
  /** Authentication: bearer tokens for the ledger API (and SMART on FHIR with `fhir: true`). */
  readonly auth: AuthService;
  /** Access control and the access log (with `fhir: true`). */
  readonly access?: AccessLayer;
  /**
   * A backend-service access token with `system/*.cruds` (one hour), minted with the node key: staff
   * on the ledger API. `call`/`authFetch` of support/fhir-api.ts send it to this server by default.
   */
  readonly token: string;
}

/** A node with its HTTP API on an ephemeral port on 127.0.0.1. */
export async function startTestServer(
  options: { dir?: string; fhir?: boolean; exchange?: { peers: ReadonlyMap<string, string> } } = {},
): Promise<TestServer> {
  const testNode = await startTestNode(options.dir !== undefined ? { dir: options.dir } : {});
  const fhir = options.fhir ? await FhirRepository.open(testNode.node, testNode.dir) : undefined;
  const auth = await AuthService.open(testNode.node, testNode.dir);
  const access = options.fhir ? openAccess(testNode.node, testNode.dir) : undefined;
  const erasure = fhir ? startErasureWorker(testNode.node, fhir) : undefined;
  const exchange =
    fhir && access && options.exchange ? openExchange(testNode.node, fhir, access.service, options.exchange.peers) : undefined;
  const app = await buildHttpServer(
    testNode.node,
    fhir && access ? { fhir, auth, access, ...(exchange && { exchange }) } : { auth },
  );
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = await auth.mint({
    origin: url,
    subject: 'test-suite',
    clientId: 'test-suite',
    scope: 'system/*.cruds',
    ttlSeconds: 3600,
  });
  registerBearer(url, token);
  return {
    ...testNode,
    app,
    url,
    ...(fhir && { fhir }),
    auth,
    ...(access && { access }),
    token,
    async close() {
      await app.close();
      auth.close();
      erasure?.stop();
      await access?.close();
      await fhir?.close();
      await testNode.close();
    },
  };
}

/** A new patient registration signed by `registrar`, with a fresh pseudonym and key. */
export function registerPatient(registrar: Identity, keyPair: KeyPair = generateKeyPair()): { tx: SignedTx; patient: Identity } {
  const id = randomPseudonym('pat');
  const tx = registrar.sign({ type: 'participant.register', body: { kind: 'patient', id, key: keyPair.publicKey } });
  return { tx, patient: new Identity(registrar.chain, id, keyPair) };
}

export function registerPractitioner(
  org: Identity,
  id: string,
  roles: ('clinician' | 'nurse' | 'registrar' | 'admin' | 'privacy-officer' | 'analyst')[] = ['clinician'],
  keyPair: KeyPair = generateKeyPair(),
): { tx: SignedTx; practitioner: Identity } {
  const tx = org.sign({
    type: 'participant.register',
    body: { kind: 'practitioner', id, key: keyPair.publicKey, org: org.id, roles },
  });
  return { tx, practitioner: new Identity(org.chain, id, keyPair) };
}

/** The transactions committed after block `height`, in order. */
function* txsSince(node: LedgerNode, height: number): Generator<Tx> {
  for (let h = height + 1; h <= node.chain.head().height; h++) {
    for (const stored of node.chain.store.blockTxs(node.chain.store.block(h)!)) {
      const tx = decodeTx(stored.wire, node.chain.chainId, { skipSignature: true });
      if (tx.ok) yield tx.value.tx;
    }
  }
}

/** Types of the transactions committed after block `height` (e.g. to tell record commits from access-log entries). */
export function txTypesSince(node: LedgerNode, height: number): string[] {
  return [...txsSince(node, height)].map((tx) => tx.type);
}

/** The access events committed after block `height`, in order. */
export function accessEventsSince(node: LedgerNode, height: number): AccessEvent[] {
  return [...txsSince(node, height)].flatMap((tx) => (tx.type === 'access.log' ? tx.body.events : []));
}
