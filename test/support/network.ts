/** Helpers for tests that run a real CometBFT network (src/consensus/cometbft/network.ts). */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { toBase64 } from '../../src/crypto/bytes.js';
import type { SignedTx } from '../../src/ledger/tx.js';
import { createNetwork, type Network, type NetworkOrg } from '../../src/consensus/cometbft/network.js';
import { AuthStore } from '../../src/auth/store.js';
import { mintAccessToken, signingKey } from '../../src/auth/tokens.js';
import { paths, resolvePassphrase } from '../../src/node/data-dir.js';
import { FileKeyStore } from '../../src/storage/file-keystore.js';

export const apiOf = (org: NetworkOrg): string => `http://127.0.0.1:${org.httpPort}`;

/**
 * A backend-service token of the node running on `dataDir` at `origin` (staff on its ledger API:
 * transaction bodies), minted with the token key from the data directory as `medledger token
 * --system` does.
 */
export async function staffTokenFor(dataDir: string, origin: string, passphrase = resolvePassphrase(dataDir)): Promise<string> {
  const keystore = FileKeyStore.open(paths(dataDir).keystore, passphrase);
  const store = AuthStore.open(dataDir, keystore, { readonly: true });
  try {
    const key = await signingKey(store, { create: false });
    return await mintAccessToken(key, {
      origin,
      subject: 'network-test',
      clientId: 'network-test',
      scope: 'system/*.rs',
      ttlSeconds: 3600,
    });
  } finally {
    store.close();
  }
}

export const staffToken = (org: NetworkOrg): Promise<string> => staffTokenFor(org.dataDir, apiOf(org));

/** GET on `org`'s node; `token`: a bearer token of that node (transaction bodies need one). */
export async function getJson<T>(org: NetworkOrg, path: string, token?: string): Promise<T> {
  const res = await fetch(`${apiOf(org)}${path}`, {
    signal: AbortSignal.timeout(5000),
    ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
  });
  assert.equal(res.status, 200, `${org.id} GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}

/** Submits through `org`'s node and fails the test unless the transaction commits. */
export async function submitTx(org: NetworkOrg, tx: SignedTx, timeoutMs = 30_000): Promise<{ height: number; index: number }> {
  const res = await fetch(`${apiOf(org)}/api/v1/txs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tx: toBase64(tx.wire) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json()) as { height: number; index: number; code?: string; message?: string };
  assert.equal(res.status, 200, `${org.id} POST /txs: ${JSON.stringify(body)}`);
  return body;
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // a node still starting
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A base port with 4 organizations' ports free: p2p base+10i, RPC base+10i+1, HTTP base+5+i. */
export async function freeBase(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), where other tests' port-0 listeners land.
    const base = 10_000 + Math.floor(Math.random() * 400) * 50;
    const ports = [1, 2, 3, 4].flatMap((i) => [base + 10 * i, base + 10 * i + 1, base + 5 + i]);
    if ((await Promise.all(ports.map(free))).every(Boolean)) return base;
  }
  throw new Error('no free ports');
}

/** A 4-organization network in `dir` on free ports, with consensus timeouts short enough for tests. */
export async function createTestNetwork(dir: string, chain: string): Promise<Network> {
  const base = await freeBase();
  return createNetwork({
    dir,
    orgs: 4,
    chain,
    basePort: base,
    httpBasePort: base + 5,
    timeoutCommitMs: 150,
    timeoutProposeMs: 800,
    timeoutVoteMs: 300,
    gossipMs: 20,
  });
}
