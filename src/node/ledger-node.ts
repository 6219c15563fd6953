/**
 * One running MedLedger node: data directory, keystore, chain and the consensus adapter — the
 * solo sequencer, or (for a chain whose genesis says cometbft) the ABCI application behind a
 * CometBFT node — wired together. The HTTP server and the CLI build on this.
 */
import { Identity } from '../client/identity.js';
import { Signer, keyPairFromSeed } from '../crypto/ed25519.js';
import type { TxPayload } from '../ledger/tx.js';
import { validatorIdOf, type GovernancePayload } from '../ledger/payloads/governance.js';
import { SoloSequencer, type OwnTx, type SequencerOptions, type SubmitOutcome } from '../consensus/solo/sequencer.js';
import { AbciApp } from '../consensus/cometbft/app.js';
import { AbciServer, parseAbciAddress } from '../consensus/cometbft/server.js';
import { CometSubmitter } from '../consensus/cometbft/submitter.js';
import type { SignedTx } from '../ledger/tx.js';
import { VerifyPool } from '../crypto/verify-pool.js';
import { Admission } from './admission.js';
import { FileKeyStore } from '../storage/file-keystore.js';
import { SqliteLedgerStore } from '../storage/sqlite/ledger-store.js';
import { Chain } from './chain.js';
import { DataDirError, lockDataDir, NODE_KEY, ORG_KEY, paths } from './data-dir.js';

export interface NodeOptions {
  readonly dataDir: string;
  readonly passphrase: string;
  readonly sequencer?: SequencerOptions;
  /** Required for a CometBFT chain: where to serve ABCI and the local CometBFT RPC. */
  readonly cometbft?: { readonly abci: string; readonly rpc: string; readonly commitTimeoutMs?: number };
}

/** What the node hands transactions to: the solo sequencer or the CometBFT submitter. */
export interface Sequencer {
  submit(tx: SignedTx): Promise<SubmitOutcome>;
  submitOwn(own: OwnTx): Promise<SubmitOutcome>;
  readonly backlog: number;
  close(): Promise<void>;
}

export class LedgerNode {
  readonly chain: Chain;
  readonly sequencer: Sequencer;
  /** CometBFT mode: the ABCI server (call listen()); undefined on the solo sequencer. */
  readonly abci: { readonly app: AbciApp; readonly server: AbciServer; listen(): Promise<void> } | undefined;
  readonly keystore: FileKeyStore;
  readonly nodeSigner: Signer;
  /** The organization this node runs for, signing with the organization key from the keystore. */
  readonly org: Identity;
  readonly #unlock: () => void;
  readonly #store: SqliteLedgerStore;
  readonly #pool = new VerifyPool();
  readonly #admission: Admission;
  readonly #admitting = new Set<Promise<SubmitOutcome>>();
  #closing = false;

  private constructor(
    chain: Chain,
    store: SqliteLedgerStore,
    keystore: FileKeyStore,
    signer: Signer,
    unlock: () => void,
    options: NodeOptions,
  ) {
    this.chain = chain;
    this.#store = store;
    this.keystore = keystore;
    this.nodeSigner = signer;
    this.#unlock = unlock;
    if (chain.genesis.consensus === 'cometbft') {
      const comet = options.cometbft;
      if (!comet) throw new DataDirError('this chain runs on CometBFT: give the ABCI address and the CometBFT RPC');
      // Crash tests: MEDLEDGER_CRASH_BEFORE_COMMIT=H kills the process in Commit of block H, after
      // FinalizeBlock and before anything of the block is persisted.
      const crashAt = Number(process.env['MEDLEDGER_CRASH_BEFORE_COMMIT'] ?? 0);
      const app = new AbciApp(
        chain,
        signer,
        crashAt > 0 ? (height) => void (height === crashAt && process.kill(process.pid, 'SIGKILL')) : undefined,
      );
      const server = new AbciServer(app.handle, (error) => console.error(`ABCI: ${String(error)}`));
      this.sequencer = new CometSubmitter(app, comet);
      this.abci = { app, server, listen: () => server.listen(parseAbciAddress(comet.abci)) };
    } else {
      if (options.cometbft) throw new DataDirError('this chain runs on the solo sequencer, not CometBFT (no --abci)');
      this.sequencer = new SoloSequencer(chain, signer, options.sequencer);
      this.abci = undefined;
    }
    this.#admission = new Admission(chain.chainId, this.#pool);
    const orgSeed = keystore.secretKey(ORG_KEY);
    if (!orgSeed) throw new DataDirError('the keystore has no organization key');
    const orgKeys = keyPairFromSeed(orgSeed);
    const orgId = chain.app.participantIdForKey(orgKeys.publicKey);
    if (!orgId) throw new DataDirError('the organization key is not registered on the ledger');
    this.org = new Identity(chain.chainId, orgId, orgKeys);
  }

  static open(options: NodeOptions): LedgerNode {
    const p = paths(options.dataDir);
    if (!FileKeyStore.exists(p.keystore))
      throw new DataDirError(`${options.dataDir} holds no node; run \`medledger init\` first`);
    const unlock = lockDataDir(options.dataDir);
    try {
      const keystore = FileKeyStore.open(p.keystore, options.passphrase);
      const seed = keystore.secretKey(NODE_KEY);
      if (!seed) throw new DataDirError('the keystore has no node key');
      const signer = new Signer(keyPairFromSeed(seed));
      const store = new SqliteLedgerStore(p.ledger);
      const chain = Chain.open(store);
      // Solo: this node seals every block, so it must be a validator. Under CometBFT a node
      // outside the validator set runs as a full node (e.g. after governance removed it).
      const solo = chain.genesis.consensus !== 'cometbft';
      if (solo && !chain.app.validators().some((v) => Buffer.from(v.key).equals(signer.publicKey))) {
        store.close();
        throw new DataDirError('this node key is not a validator of the chain');
      }
      return new LedgerNode(chain, store, keystore, signer, unlock, options);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  /** Decodes untrusted bytes, checks the signature and waits for commit or rejection. */
  async submit(wire: Uint8Array): Promise<SubmitOutcome> {
    if (this.#closing) return { ok: false, error: { code: 'node.shutting_down', message: 'the node is shutting down' } };
    // Tracked until handed to the sequencer, so close() waits for signature checks in flight.
    const admission = this.#admission
      .admit(wire)
      .then((admitted) => (admitted.ok ? this.sequencer.submit(admitted.value) : admitted));
    this.#admitting.add(admission);
    void admission.finally(() => this.#admitting.delete(admission));
    return admission;
  }

  /**
   * Submits a transaction of this node's organization. It is signed as it enters a block, so many
   * may be in flight at once and a rejected one does not hold up the rest.
   */
  submitOwn(payload: TxPayload): Promise<SubmitOutcome> {
    if (this.#closing)
      return Promise.resolve({ ok: false, error: { code: 'node.shutting_down', message: 'the node is shutting down' } });
    return this.sequencer.submitOwn({ signer: this.org.id, payload, sign: (p, seq) => this.org.signAt(p, seq) });
  }

  /**
   * Submits a governance transaction signed by this node's validator key (as `val_<address>`).
   * With a single validator (solo) a proposal is approved, and executed, in its own block.
   */
  submitAsValidator(payload: GovernancePayload): Promise<SubmitOutcome> {
    if (this.#closing)
      return Promise.resolve({ ok: false, error: { code: 'node.shutting_down', message: 'the node is shutting down' } });
    const validator = new Identity(this.chain.chainId, validatorIdOf(this.nodeSigner.publicKey), this.nodeSigner);
    return this.sequencer.submitOwn({ signer: validator.id, payload, sign: (p, seq) => validator.signAt(p, seq) });
  }

  /** Stops taking transactions, commits or answers everything already taken, then releases the data directory. */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#admitting.size > 0) await Promise.allSettled([...this.#admitting]);
    await this.sequencer.close();
    await this.abci?.server.close();
    await this.#pool.close();
    this.#store.close();
    this.#unlock();
  }
}
