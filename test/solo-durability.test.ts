/**
 * "Acknowledged means durable" with the solo sequencer's fsync off the event loop: a block is
 * committed at once (the next one builds on it) but nobody hears of it — no receipt, no rejection
 * that may rest on it, no 'block' event — until the store says it is on disk; what arrives meanwhile
 * waits and goes into the next block, which is produced only after that.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SoloSequencer, type SubmitOutcome } from '../src/consensus/solo/sequencer.js';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { Identity } from '../src/client/identity.js';
import { encodeGenesis } from '../src/ledger/genesis.js';
import { Chain } from '../src/node/chain.js';
import { SqliteLedgerStore } from '../src/storage/sqlite/ledger-store.js';
import { CHAIN, FOUNDER, registerPractitioner, tempDir } from './support/fixtures.js';

/** A ledger store whose disk syncs finish only when the test releases them. */
class GatedStore extends SqliteLedgerStore {
  readonly waiting: (() => void)[] = [];
  override sync(): Promise<void> {
    return new Promise<void>((release) => this.waiting.push(release)).then(() => super.sync());
  }
  release(): void {
    for (const go of this.waiting.splice(0)) go();
  }
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  return done;
};

describe('solo sequencer durability', () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('tells nobody of a block before the store has synced it; later arrivals wait for the next block', async () => {
    const founderKeys = generateKeyPair();
    const founder = new Identity(CHAIN, FOUNDER, founderKeys);
    const store = new GatedStore(join(dir.path, 'ledger.sqlite'));
    const genesis = encodeGenesis({
      chain: CHAIN,
      time: Date.now(),
      founder: { id: FOUNDER, name: 'Test Hospital', key: founderKeys.publicKey },
      validators: [{ name: 'solo', key: founderKeys.publicKey }],
    });
    const chain = Chain.open(store, genesis);
    const sequencer = new SoloSequencer(chain, new Signer(founderKeys));
    const blocks: number[] = [];
    chain.on('block', (b: { header: { height: number } }) => blocks.push(b.header.height));
    try {
      const first: Promise<SubmitOutcome> = sequencer.submit(registerPractitioner(founder, 'prac_first').tx);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(chain.head().height, 1, 'block 1 is committed and is the head');
      assert.equal(await settled(first), false, 'but no receipt before its sync');
      assert.deepEqual(blocks, [], 'and no block event');

      const second = sequencer.submit(registerPractitioner(founder, 'prac_second').tx);
      const replay = sequencer.submit(registerPractitioner(founder, 'prac_first').tx); // rejected by block 1's state
      assert.equal(await settled(second), false);
      assert.equal(await settled(replay), false, 'a rejection resting on block 1 waits too');
      assert.equal(chain.head().height, 1, 'no block 2 while block 1 is reaching the disk');

      store.release();
      const receipt = await first;
      assert.ok(receipt.ok && receipt.receipt.height === 1);
      assert.deepEqual(blocks, [1]);
      // Block 2 (the later arrivals) is produced after block 1's sync; it waits for its own.
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(chain.head().height, 2);
      assert.equal(await settled(second), false);
      store.release();
      const [two, refused] = await Promise.all([second, replay]);
      assert.ok(two.ok && two.receipt.height === 2);
      assert.equal(refused.ok, false);
      assert.deepEqual(blocks, [1, 2]);
    } finally {
      store.release();
      await sequencer.close();
      store.close();
    }
  });
});
