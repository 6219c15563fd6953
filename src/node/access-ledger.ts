/**
 * The node as the access service sees it (src/access/service.ts): committed state for decisions
 * and search scopes, and transaction submission signed by the organization or — when the
 * keystore holds their key — by one of its practitioners, so the ledger names who acted.
 */
import { Identity } from '../client/identity.js';
import { keyPairFromSeed } from '../crypto/ed25519.js';
import type { TxPayload } from '../ledger/tx.js';
import { AccessService, type AccessLedger, type AccessServiceOptions, type SubmitResult } from '../access/service.js';
import { AccessStore } from '../access/store.js';
import { ErasureWorker, type RetentionRules } from '../access/erasure.js';
import type { FhirRepository } from '../fhir/repository.js';
import type { CommittedBlock } from './chain.js';
import type { LedgerNode } from './ledger-node.js';

export function accessLedgerOf(node: LedgerNode): AccessLedger {
  const { chain } = node;
  const practitioners = new Map<string, Identity>();

  const signerFor = (id: string): Identity | undefined => {
    const cached = practitioners.get(id);
    if (cached) return cached;
    const participant = chain.app.participant(id);
    const seed = node.keystore.secretKey(id);
    if (participant?.kind !== 'practitioner' || participant.org !== node.org.id || !seed) return undefined;
    const identity = new Identity(chain.chainId, id, keyPairFromSeed(seed));
    // Only a key the ledger lists as current may sign; a rotated-away key in the keystore may not.
    if (!Buffer.from(identity.publicKey).equals(participant.key)) return undefined;
    practitioners.set(id, identity);
    return identity;
  };

  return {
    org: node.org.id,
    grantsChangedAt: () => chain.app.grantsChangedAt(),
    consentsFor: (patient, grantee) => chain.app.consentsFor(patient, grantee),
    latestBreakGlass: (patient, practitioner) => chain.app.latestBreakGlass(patient, practitioner),
    stateKeys: (prefix, options) => chain.store.stateKeys(prefix, options),
    participant: (id) => chain.app.participant(id),
    breakGlass: (id) => chain.app.breakGlass(id),
    recordAuthors(record) {
      const head = chain.app.recordHead(record);
      const authors = new Set<string>();
      for (let v = 1; v <= (head?.version ?? 0); v++) {
        const author = chain.app.recordVersion(record, v)?.author;
        if (author !== undefined) authors.add(author);
      }
      return [...authors];
    },
    async submit(signer: string, payload: TxPayload): Promise<SubmitResult> {
      const identity = signer === node.org.id ? undefined : signerFor(signer);
      if (!identity) return node.submitOwn(payload);
      return node.sequencer.submitOwn({ signer, payload, sign: (p, seq) => identity.signAt(p, seq) });
    },
  };
}

export interface AccessLayer {
  readonly service: AccessService;
  readonly store: AccessStore;
  /** Waits for access events in flight, then closes the store. */
  close(): Promise<void>;
}

/** Opens the node's access layer: the encrypted access store and the access service over the ledger. */
export function openAccess(node: LedgerNode, dataDir: string, options: AccessServiceOptions = {}): AccessLayer {
  const store = AccessStore.open(dataDir, node.keystore);
  const service = new AccessService(accessLedgerOf(node), store, options);
  return {
    service,
    store,
    async close() {
      await service.recorder.drain();
      store.close();
    },
  };
}

/**
 * Carries out erasure requests addressed to this organization as their blocks commit, and those
 * left open by a previous run (src/access/erasure.ts). Returns a function that stops it.
 */
export function startErasureWorker(
  node: LedgerNode,
  repository: FhirRepository,
  options: { readonly retention?: RetentionRules; readonly onError?: (error: Error) => void } = {},
): { readonly worker: ErasureWorker; stop(): void } {
  const { chain } = node;
  const onError = options.onError ?? ((error: Error) => console.error(`erasure: ${error.message}`));
  const worker = new ErasureWorker(
    {
      org: node.org.id,
      erasureRequest: (id) => chain.app.erasureRequest(id),
      recordHead: (id) => chain.app.recordHead(id),
      openRequests: () =>
        chain.store
          .stateKeys('erasure/', { limit: 10_000 })
          .map((key) => key.slice('erasure/'.length))
          .filter((id) => chain.app.erasureRequest(id)?.status === 'requested'),
      submit: (payload) => node.submitOwn(payload),
    },
    {
      recordsOf: (patient) => repository.recordsOfPatient(patient),
      typeOf: (record) => repository.typeOfRecord(record),
      erase: (records) => repository.erase(records),
    },
    options.retention ?? {},
  );
  const onBlock = (block: CommittedBlock): void => {
    for (const { tx } of block.txs) {
      if (tx.type === 'erasure.request' && tx.body.custodian === node.org.id)
        void worker.process(tx.body.id).catch((error: Error) => onError(error));
    }
  };
  chain.on('block', onBlock);
  void worker.catchUp().catch((error: Error) => onError(error));
  return { worker, stop: () => void chain.off('block', onBlock) };
}
