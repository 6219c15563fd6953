/**
 * Record exchange wiring for one node: the custodian side (answers other organizations' nodes)
 * and the asking side (fetches from them for this node's practitioners), both keyed by the
 * organization's ledger key from the keystore.
 */
import { keyPairFromSeed, Signer } from '../crypto/ed25519.js';
import { ExchangeCustodian } from '../exchange/custodian.js';
import { ExchangeClient } from '../exchange/requester.js';
import type { AccessService } from '../access/service.js';
import { Enforcement } from '../fhir/rest/enforcement.js';
import type { FhirRepository } from '../fhir/repository.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';
import { DataDirError, ORG_KEY } from './data-dir.js';
import type { LedgerNode } from './ledger-node.js';

export interface ExchangeLayer {
  readonly client: ExchangeClient;
  readonly custodian: ExchangeCustodian;
  readonly orgSigner: Signer;
}

export class PeerListError extends Error {}

/** `org_a=https://a.example,org_b=http://127.0.0.1:8081` → peer map (PeerListError on anything else). */
export function parsePeers(text: string): Map<string, string> {
  const peers = new Map<string, string>();
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    const org = item.slice(0, eq);
    const url = item.slice(eq + 1).replace(/\/+$/, '');
    if (eq < 1 || !ID_PATTERNS.organization.test(org) || !/^https?:\/\/[^/?#\s]+$/.test(url))
      throw new PeerListError(`peers are org_…=scheme://host[:port] pairs, got "${item}"`);
    if (peers.has(org)) throw new PeerListError(`${org} is listed twice`);
    peers.set(org, url);
  }
  return peers;
}

export function openExchange(
  node: LedgerNode,
  repository: FhirRepository,
  access: AccessService,
  peers: ReadonlyMap<string, string>,
): ExchangeLayer {
  const seed = node.keystore.secretKey(ORG_KEY);
  if (!seed) throw new DataDirError('the keystore has no organization key');
  const orgSigner = new Signer(keyPairFromSeed(seed));
  return {
    orgSigner,
    custodian: new ExchangeCustodian(node, new Enforcement(repository, access)),
    client: new ExchangeClient({ chain: node.chain, org: node.org.id, orgSigner, orgSeed: seed, peers }),
  };
}
