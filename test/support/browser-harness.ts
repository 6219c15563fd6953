/**
 * Runs the client SDK the way a browser would (under ./browser-hooks.js, without Buffer): keys,
 * signing, backup, recovery, checkpoints and the transparency-dev Merkle vectors. Prints a JSON
 * summary on stdout for test/client-browser.test.ts. Reads its inputs before Buffer is removed.
 */
import { readFileSync } from 'node:fs';

const vectorDir = new URL('../../../test/vectors/transparency-dev-merkle/', import.meta.url);
const readVectors = (name: string): Record<string, unknown>[] =>
  JSON.parse(
    readFileSync(new URL(name, vectorDir), 'utf8').replace(/("(?:leafIdx|treeSize|size1|size2)":\s*)(\d{16,})/g, '$1"$2"'),
  );
const inclusion = readVectors('inclusion.json');
const consistency = readVectors('consistency.json');

Reflect.deleteProperty(globalThis, 'Buffer');
if (typeof (globalThis as { Buffer?: unknown }).Buffer !== 'undefined') throw new Error('Buffer is still there');

const sdk = await import('../../src/client/index.js');
const { decodeTx } = await import('../../src/ledger/tx.js');
const { signCheckpoint } = await import('../../src/ledger/block.js');
const merkle = await import('../../src/ledger/merkle.js');
// Resolves to src/client/browser/ed25519.js under the hooks, like every other import of it.
const ed25519 = await import('../../src/crypto/ed25519.js');

const b64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const u64 = (value: unknown): number => (typeof value === 'number' ? value : Number(BigInt(String(value))));
const proofOf = (value: unknown): Uint8Array[] => ((value as string[] | null) ?? []).map(b64);
const fast = { kdf: { alg: 'argon2id', memoryKiB: 64, passes: 1, parallelism: 1 }, allowWeakKdf: true } as const;

const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
const pair = sdk.keyPairFromSeed(seed);
const patient = sdk.randomPseudonym('pat');
const identity = new sdk.Identity('test-chain', patient, new sdk.NobleSigner(pair), 3);
const signed = identity.sign({ type: 'participant.rotate_key', body: { id: patient, key: sdk.generateKeyPair().publicKey } });
const decoded = decodeTx(signed.wire, 'test-chain');
// Identity with a plain key pair goes through the aliased Signer: the same bytes.
const viaAlias = new sdk.Identity('test-chain', patient, pair, 3).sign(signed.tx);

const backup = await sdk.createKeyBackup(patient, pair, { passphrase: 'browser passphrase' }, fast);
if (!backup.ok) throw new Error(backup.error.message);
const parsed = sdk.parseKeyBackup(sdk.encodeKeyBackup(backup.value));
if (!parsed.ok) throw new Error(parsed.error.message);
const reopened = await sdk.openKeyBackup(parsed.value, { passphrase: 'browser passphrase' }, { patient });
const kit = await sdk.createRecoveryKit(patient, pair);
if (!kit.ok) throw new Error(kit.error.message);
const recovered = await sdk.recoverKey(kit.value.backup, kit.value.code, { patient, publicKey: pair.publicKey });

const log = new merkle.MemoryLog();
const wires = [signed.wire, new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3]), new Uint8Array([4])];
for (const wire of wires) log.append(merkle.leafHash(wire));
const validator = new ed25519.Signer(pair);
const checkpoint = signCheckpoint({ chain: 'test-chain', size: log.size, root: log.root(), time: 1 }, validator);
const trust = { chain: 'test-chain', validators: [pair.publicKey] };
const included = sdk.checkInclusion(
  signed.wire,
  { index: 0, size: log.size, path: merkle.inclusionProof(log, 0, log.size) },
  checkpoint,
  trust,
);

const summary = {
  buffer: typeof (globalThis as { Buffer?: unknown }).Buffer,
  publicKey: sdk.hexOf(pair.publicKey),
  signature: sdk.hexOf(signed.signature),
  wire: sdk.hexOf(signed.wire),
  decoded: decoded.ok,
  aliasSameWire: sdk.hexOf(viaAlias.wire) === sdk.hexOf(signed.wire),
  emptyRoot: sdk.hexOf(merkle.EMPTY_ROOT),
  backupOpened: reopened.ok && sdk.hexOf(reopened.value.secretKey) === sdk.hexOf(seed),
  recovered: recovered.ok && sdk.hexOf(recovered.value.secretKey) === sdk.hexOf(seed),
  included: included.ok,
  inclusion: inclusion.map((v) =>
    merkle.verifyInclusion(
      b64(String(v['leafHash'])),
      u64(v['leafIdx']),
      u64(v['treeSize']),
      proofOf(v['proof']),
      b64(String(v['root'])),
    ),
  ),
  consistency: consistency.map((v) =>
    merkle.verifyConsistency(
      u64(v['size1']),
      u64(v['size2']),
      proofOf(v['proof']),
      b64(String(v['root1'])),
      b64(String(v['root2'])),
    ),
  ),
};
process.stdout.write(JSON.stringify(summary));
