/**
 * "Verify integrity" in the browser: every block from genesis is fetched and checked — header
 * hash, link to the previous block, proposer is a trusted validator and signed it, the
 * transaction root, and the log root after the block recomputed from all leaves so far — then
 * the latest signed checkpoint must match. Signed-in staff get the transactions themselves, and
 * each must also decode with a valid signature; anyone else checks the blocks' leaf hashes.
 */
import { blocks, ledger, must, trustFromGenesis, type BlockView } from '../api/ledger';
import { currentSession } from '../auth/oauth';
import {
  blockHash,
  bytesOfHex,
  checkCheckpoint,
  CompactRange,
  decodeHeader,
  decodeTx,
  hexOf,
  leafHash,
  rootOfLeafHashes,
  verifyBlockSignature,
} from '../sdk';

const bytesOfBase64 = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const PAGE = 100;

export interface IntegrityReport {
  readonly blocks: number;
  readonly txs: number;
  readonly root: string;
}

/** The block's log leaves: from its transactions (each decoded, signature checked) or as published. */
function leavesOf(block: BlockView, chain: string, where: string): Uint8Array[] {
  if (block.leaves) return block.leaves.map((h) => bytesOfHex(h) ?? new Uint8Array());
  return block.txs.map((b64, i) => {
    const wire = bytesOfBase64(b64);
    const tx = decodeTx(wire, chain);
    if (!tx.ok) throw new Error(`${where}, transaction ${i}: ${tx.error.message}`);
    return leafHash(wire);
  });
}

export async function verifyIntegrity(
  onProgress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<IntegrityReport> {
  const trust = await trustFromGenesis();
  const checkpoint = must(await ledger.checkpoint());
  const head = must(checkCheckpoint(checkpoint, trust));
  const { height: total } = must(await ledger.status());
  const staff = currentSession('clinician');
  const log = CompactRange.empty();
  let previous: Uint8Array | undefined;
  let txs = 0;
  let checkedAt: { size: number; root: Uint8Array } | undefined;
  for (let from = 1; from <= total; from += PAGE) {
    if (signal.aborted) throw new Error('Stopped.');
    const page = await blocks(from, PAGE, staff);
    for (const block of page.blocks) {
      const height = block.header.height;
      if (height > total) break;
      const where = `block ${height}`;
      const headerBytes = bytesOfBase64(block.headerBytes);
      const header = must(decodeHeader(headerBytes));
      const hash = blockHash(headerBytes);
      if (hexOf(hash) !== block.hash) throw new Error(`${where}: its hash does not match its header`);
      if (header.chain !== trust.chain) throw new Error(`${where}: it is for chain ${header.chain}`);
      if (previous && !same(header.prevHash, previous)) throw new Error(`${where}: it does not link to block ${height - 1}`);
      if (!trust.validators.some((v) => same(v, header.proposer))) throw new Error(`${where}: its proposer is not a validator`);
      if (!verifyBlockSignature(hash, bytesOfBase64(block.signature), header.proposer))
        throw new Error(`${where}: the proposer's signature does not verify`);
      const leaves = leavesOf(block, trust.chain, where);
      if (leaves.length !== header.txCount || !same(rootOfLeafHashes(leaves), header.txRoot))
        throw new Error(`${where}: its transactions do not match its transaction root`);
      for (const leaf of leaves) log.append(leaf);
      if (log.size !== header.logSize || !same(log.root(), header.logRoot))
        throw new Error(`${where}: the log root after it does not match the transactions so far`);
      if (header.logSize === head.size) checkedAt = { size: header.logSize, root: header.logRoot };
      previous = hash;
      txs += leaves.length;
      onProgress(height, total);
    }
  }
  if (!checkedAt || !same(checkedAt.root, head.root))
    throw new Error('the latest signed checkpoint does not match the log rebuilt from the blocks');
  return { blocks: total, txs, root: hexOf(head.root) };
}
