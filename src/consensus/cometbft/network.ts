/**
 * A MedLedger network on CometBFT, laid out in one directory: per organization a MedLedger data
 * directory (keystore with node and organization keys, ledger) and a CometBFT home whose validator
 * key is the MedLedger node key. All share one MedLedger genesis (founder + members, validators =
 * node keys, consensus: cometbft) and the CometBFT genesis derived from it (same chain id and
 * time, the same validators at equal power, no app state: InitChain checks that both agree).
 *
 * Processes: per organization `medledger start --abci unix://…/abci.sock` (ABCI server + HTTP
 * API) and `cometbft start`, both detached, logging into the organization directory. Used by
 * `medledger network` and the integration tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync, accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64, toHex } from '../../crypto/bytes.js';
import { generateKeyPair, keyPairFromSeed, type KeyPair } from '../../crypto/ed25519.js';
import { encodeGenesis, type Genesis } from '../../ledger/genesis.js';
import { Chain } from '../../node/chain.js';
import { NODE_KEY, ORG_KEY, paths } from '../../node/data-dir.js';
import { FileKeyStore } from '../../storage/file-keystore.js';
import { SqliteLedgerStore } from '../../storage/sqlite/ledger-store.js';
import { validatorAddress } from './app.js';

export const NETWORK_FILE = 'network.json';

export interface NetworkOrg {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly cometHome: string;
  readonly abci: string;
  readonly p2pPort: number;
  readonly rpcPort: number;
  readonly httpPort: number;
  readonly nodeId: string;
}

export interface Network {
  readonly chain: string;
  readonly dir: string;
  readonly orgs: readonly NetworkOrg[];
}

export interface CreateOptions {
  readonly dir: string;
  readonly orgs: number;
  readonly chain?: string;
  /** First CometBFT port: organization i uses base+10i (p2p) and base+10i+1 (RPC). */
  readonly basePort?: number;
  /** First HTTP port: organization i listens on httpBase+i. */
  readonly httpBasePort?: number;
  readonly timeoutCommitMs?: number;
  readonly timeoutProposeMs?: number;
  /** Consensus step timeouts (prevote, precommit). */
  readonly timeoutVoteMs?: number;
  /** p2p flush throttle and consensus gossip sleep (CometBFT default 100 ms). */
  readonly gossipMs?: number;
  readonly time?: number;
}

export class NetworkError extends Error {}

/** The cometbft binary: $COMETBFT_BIN, then PATH, then $GOPATH/bin or ~/go/bin. */
export function cometbftBinary(): string | undefined {
  const explicit = process.env['COMETBFT_BIN'];
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  dirs.push(join(process.env['GOPATH'] ?? join(homedir(), 'go'), 'bin'));
  for (const dir of dirs) {
    const candidate = join(dir, 'cometbft');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function requireBinary(): string {
  const bin = cometbftBinary();
  if (!bin)
    throw new NetworkError(
      'cometbft not found: install it with `go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.26` or set COMETBFT_BIN',
    );
  return bin;
}

export function loadNetwork(dir: string): Network {
  const file = join(dir, NETWORK_FILE);
  if (!existsSync(file)) throw new NetworkError(`${dir} holds no network; run \`medledger network create\` first`);
  return JSON.parse(readFileSync(file, 'utf8')) as Network;
}

export function createNetwork(options: CreateOptions): Network {
  const bin = requireBinary();
  const dir = resolve(options.dir);
  if (existsSync(join(dir, NETWORK_FILE))) throw new NetworkError(`${dir} already holds a network`);
  if (options.orgs < 1 || options.orgs > 50) throw new NetworkError('--orgs must be 1..50');
  const chain = options.chain ?? 'medledger-net';
  const basePort = options.basePort ?? 26600;
  const httpBase = options.httpBasePort ?? 8100;
  const time = options.time ?? Date.now();
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const members: { index: number; id: string; name: string; dir: string; node: KeyPair; org: KeyPair; passphrase: string }[] = [];
  for (let i = 1; i <= options.orgs; i++) {
    members.push({
      index: i,
      id: `org_${i}`,
      name: `Organization ${i}`,
      dir: join(dir, `org${i}`),
      node: generateKeyPair(),
      org: generateKeyPair(),
      passphrase: toBase64(generateKeyPair().secretKey),
    });
  }
  const genesis: Genesis = {
    chain,
    time,
    founder: { id: members[0]!.id, name: members[0]!.name, key: members[0]!.org.publicKey },
    members: members.slice(1).map((m) => ({ id: m.id, name: m.name, key: m.org.publicKey })),
    validators: members.map((m) => ({ name: m.id, key: m.node.publicKey })),
    consensus: 'cometbft',
  };
  const encodedGenesis = encodeGenesis(genesis);

  const orgs: NetworkOrg[] = [];
  let cometGenesis: Record<string, unknown> | undefined;
  for (const m of members) {
    const dataDir = join(m.dir, 'data');
    const cometHome = join(m.dir, 'cometbft');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const p = paths(dataDir);
    writeFileSync(p.passphrase, `${m.passphrase}\n`, { mode: 0o600 });
    const keystore = FileKeyStore.create(p.keystore, m.passphrase);
    keystore.put(NODE_KEY, m.node.secretKey);
    keystore.put(ORG_KEY, m.org.secretKey);
    const store = new SqliteLedgerStore(p.ledger);
    try {
      Chain.open(store, encodedGenesis);
    } finally {
      store.close();
    }

    const init = spawnSync(bin, ['init', '--home', cometHome], { encoding: 'utf8' });
    if (init.status !== 0) throw new NetworkError(`cometbft init failed: ${init.stderr}`);
    writeFileSync(join(cometHome, 'config', 'priv_validator_key.json'), privValidatorKey(m.node), { mode: 0o600 });
    const shown = spawnSync(bin, ['show-node-id', '--home', cometHome], { encoding: 'utf8' });
    if (shown.status !== 0) throw new NetworkError(`cometbft show-node-id failed: ${shown.stderr}`);
    cometGenesis ??= JSON.parse(readFileSync(join(cometHome, 'config', 'genesis.json'), 'utf8')) as Record<string, unknown>;
    orgs.push({
      index: m.index,
      id: m.id,
      name: m.name,
      dir: m.dir,
      dataDir,
      cometHome,
      abci: `unix://${join(m.dir, 'abci.sock')}`,
      p2pPort: basePort + 10 * m.index,
      rpcPort: basePort + 10 * m.index + 1,
      httpPort: httpBase + m.index,
      nodeId: shown.stdout.trim(),
    });
  }

  // One CometBFT genesis for all, derived from the MedLedger genesis.
  const sharedGenesis = JSON.stringify(
    {
      ...cometGenesis,
      genesis_time: new Date(time).toISOString(),
      chain_id: chain,
      initial_height: '1',
      validators: members.map((m) => ({
        address: toHex(validatorAddress(m.node.publicKey)).toUpperCase(),
        pub_key: { type: 'tendermint/PubKeyEd25519', value: toBase64(m.node.publicKey) },
        power: '10', // = VALIDATOR_POWER (state/governance.ts)
        name: m.id,
      })),
      app_hash: '',
    },
    null,
    2,
  );
  for (const org of orgs) {
    writeFileSync(join(org.cometHome, 'config', 'genesis.json'), sharedGenesis);
    const peers = orgs
      .filter((o) => o !== org)
      .map((o) => `${o.nodeId}@127.0.0.1:${o.p2pPort}`)
      .join(',');
    const configPath = join(org.cometHome, 'config', 'config.toml');
    writeFileSync(
      configPath,
      editToml(readFileSync(configPath, 'utf8'), {
        '': { proxy_app: org.abci, moniker: org.id, log_level: 'info' },
        // The MedLedger node broadcasts transactions in JSON-RPC batches (consensus/cometbft/submitter.ts).
        rpc: { laddr: `tcp://127.0.0.1:${org.rpcPort}`, max_request_batch_size: 256 },
        p2p: {
          laddr: `tcp://127.0.0.1:${org.p2pPort}`,
          persistent_peers: peers,
          addr_book_strict: false,
          allow_duplicate_ip: true,
          // CometBFT batches p2p messages for this long; every consensus step waits for it.
          flush_throttle_timeout: `${options.gossipMs ?? 100}ms`,
        },
        // Room for the transactions in flight on a loaded network (default 5,000).
        mempool: { size: 20_000 },
        // MedLedger indexes its own transactions; CometBFT's kv index would be unused work on every node.
        tx_index: { indexer: 'null' },
        consensus: {
          timeout_propose: `${options.timeoutProposeMs ?? 3000}ms`,
          timeout_prevote: `${options.timeoutVoteMs ?? 1000}ms`,
          timeout_precommit: `${options.timeoutVoteMs ?? 1000}ms`,
          timeout_commit: `${options.timeoutCommitMs ?? 1000}ms`,
          peer_gossip_sleep_duration: `${options.gossipMs ?? 100}ms`,
        },
        instrumentation: { prometheus: false },
      }),
    );
  }
  const network: Network = { chain, dir, orgs };
  writeFileSync(join(dir, NETWORK_FILE), `${JSON.stringify(network, null, 2)}\n`);
  return network;
}

/** CometBFT's priv_validator_key.json for a MedLedger node key (Ed25519 seed ‖ public key). */
export function privValidatorKey(keys: KeyPair): string {
  const full = keyPairFromSeed(keys.secretKey);
  const priv = new Uint8Array(64);
  priv.set(full.secretKey);
  priv.set(full.publicKey, 32);
  return JSON.stringify(
    {
      address: toHex(validatorAddress(full.publicKey)).toUpperCase(),
      pub_key: { type: 'tendermint/PubKeyEd25519', value: toBase64(full.publicKey) },
      priv_key: { type: 'tendermint/PrivKeyEd25519', value: toBase64(priv) },
    },
    null,
    2,
  );
}

/** Sets keys in a CometBFT config.toml (section '' = top level); every key must already exist. */
export function editToml(text: string, edits: Record<string, Record<string, string | number | boolean>>): string {
  const lines = text.split('\n');
  let section = '';
  const seen = new Set<string>();
  const out = lines.map((line) => {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      return line;
    }
    const kv = /^(\s*)([A-Za-z0-9_-]+)\s*=/.exec(line);
    const value = kv ? edits[section]?.[kv[2]!] : undefined;
    if (!kv || value === undefined) return line;
    seen.add(`${section}.${kv[2]}`);
    return `${kv[1]}${kv[2]} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
  });
  for (const [sec, values] of Object.entries(edits))
    for (const key of Object.keys(values))
      if (!seen.has(`${sec}.${key}`)) throw new NetworkError(`config.toml has no ${sec || '(top level)'} key ${key}`);
  return out.join('\n');
}

export interface OrgProcesses {
  readonly medledger?: number;
  readonly cometbft?: number;
}

const pidFile = (org: NetworkOrg): string => join(org.dir, 'pids.json');

export function orgProcesses(org: NetworkOrg): OrgProcesses {
  if (!existsSync(pidFile(org))) return {};
  const pids = JSON.parse(readFileSync(pidFile(org), 'utf8')) as OrgProcesses;
  return {
    ...(pids.medledger !== undefined && isAlive(pids.medledger) && { medledger: pids.medledger }),
    ...(pids.cometbft !== undefined && isAlive(pids.cometbft) && { cometbft: pids.cometbft }),
  };
}

/** Whether `pid` runs. An exited child its parent has not reaped yet (a zombie) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) state ..."; comm may contain spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

/** The other organizations' HTTP APIs, for record exchange (`--peers`), from the network file beside the org. */
function peersOf(org: NetworkOrg): string {
  const file = join(dirname(org.dir), NETWORK_FILE);
  if (!existsSync(file)) return '';
  const network = JSON.parse(readFileSync(file, 'utf8')) as Network;
  return network.orgs
    .filter((o) => o.id !== org.id)
    .map((o) => `${o.id}=http://127.0.0.1:${o.httpPort}`)
    .join(',');
}

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/** Starts one organization: its MedLedger node (ABCI server + HTTP), then its CometBFT node. */
export async function startOrg(org: NetworkOrg, timeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): Promise<OrgProcesses> {
  const bin = requireBinary();
  const running = orgProcesses(org);
  if (running.medledger !== undefined || running.cometbft !== undefined)
    throw new NetworkError(`${org.id} is already running (pids ${JSON.stringify(running)})`);
  const socket = org.abci.slice('unix://'.length);
  rmSync(socket, { force: true });
  const log = (name: string): number => openSync(join(org.dir, name), 'a');
  const medLog = log('medledger.log');
  const medledger = spawn(
    process.execPath,
    [
      // e.g. MEDLEDGER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the nodes.
      ...(env['MEDLEDGER_NODE_FLAGS']?.split(/\s+/).filter(Boolean) ?? []),
      CLI,
      'start',
      '--data',
      org.dataDir,
      '--port',
      String(org.httpPort),
      '--abci',
      org.abci,
      '--cometbft-rpc',
      `http://127.0.0.1:${org.rpcPort}`,
      '--peers',
      peersOf(org),
      '--quiet',
    ],
    { detached: true, stdio: ['ignore', medLog, medLog], env },
  );
  medledger.unref();
  closeSync(medLog);
  writeFileSync(pidFile(org), JSON.stringify({ medledger: medledger.pid }));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(socket)) {
    if (!isAlive(medledger.pid!)) throw new NetworkError(`${org.id}: medledger exited: ${logTail(org)}`);
    if (Date.now() > deadline) throw new NetworkError(`${org.id}: the ABCI socket did not appear`);
    await sleep(50);
  }
  const cometLog = log('cometbft.log');
  const cometbft = spawn(bin, ['start', '--home', org.cometHome], { detached: true, stdio: ['ignore', cometLog, cometLog] });
  cometbft.unref();
  closeSync(cometLog);
  const pids = { medledger: medledger.pid!, cometbft: cometbft.pid! };
  writeFileSync(pidFile(org), JSON.stringify(pids));
  // Ready once the HTTP API answers.
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${org.httpPort}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not yet
    }
    if (!isAlive(medledger.pid!)) throw new NetworkError(`${org.id}: medledger exited: ${logTail(org)}`);
    if (Date.now() > deadline) throw new NetworkError(`${org.id}: the HTTP API did not come up`);
    await sleep(100);
  }
  return pids;
}

/** Stops one organization: CometBFT first, then MedLedger (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopOrg(org: NetworkOrg, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  const pids = orgProcesses(org);
  for (const pid of [pids.cometbft, pids.medledger]) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, signal);
    } catch {
      continue;
    }
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It exited between the check and the kill (ESRCH): what we wanted.
      }
    }
    while (isAlive(pid)) await sleep(20);
  }
  rmSync(pidFile(org), { force: true });
}

export interface OrgStatus {
  readonly org: NetworkOrg;
  readonly processes: OrgProcesses;
  readonly height?: number;
  readonly appHash?: string;
  readonly catchingUp?: boolean;
  readonly peers?: number;
  readonly error?: string;
}

export async function orgStatus(org: NetworkOrg): Promise<OrgStatus> {
  const processes = orgProcesses(org);
  try {
    const rpc = `http://127.0.0.1:${org.rpcPort}`;
    const status = (await (await fetch(`${rpc}/status`, { signal: AbortSignal.timeout(2000) })).json()) as {
      result: { sync_info: { latest_block_height: string; latest_app_hash: string; catching_up: boolean } };
    };
    const net = (await (await fetch(`${rpc}/net_info`, { signal: AbortSignal.timeout(2000) })).json()) as {
      result: { n_peers: string };
    };
    return {
      org,
      processes,
      height: Number(status.result.sync_info.latest_block_height),
      appHash: status.result.sync_info.latest_app_hash,
      catchingUp: status.result.sync_info.catching_up,
      peers: Number(net.result.n_peers),
    };
  } catch (error) {
    return { org, processes, error: error instanceof Error ? error.message : String(error) };
  }
}

function logTail(org: NetworkOrg): string {
  const path = join(org.dir, 'medledger.log');
  const text = existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
  return `${text} (${path})`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
