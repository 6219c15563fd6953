/**
 * A node's data directory: the ledger database, the encrypted keystore and the lock that keeps two
 * processes from writing one ledger. `initDataDir` creates a new chain whose founding organization
 * and validator keys are generated here and never leave the keystore.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toBase64 } from '../crypto/bytes.js';
import { generateKeyPair } from '../crypto/ed25519.js';
import { encodeGenesis, type Genesis } from '../ledger/genesis.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';
import { CHAIN_ID_PATTERN } from '../ledger/tx.js';
import { FileKeyStore, KeystoreError } from '../storage/file-keystore.js';
import { SqliteLedgerStore } from '../storage/sqlite/ledger-store.js';
import { Chain } from './chain.js';

export const NODE_KEY = 'node';
export const ORG_KEY = 'org';

export const paths = (dir: string) => ({
  ledger: join(dir, 'ledger.sqlite'),
  keystore: join(dir, 'keystore.json'),
  passphrase: join(dir, 'keystore.passphrase'),
  lock: join(dir, 'LOCK'),
});

export interface InitOptions {
  readonly chain: string;
  readonly orgId: string;
  readonly orgName: string;
  /** Keystore passphrase; if absent a random one is written beside the keystore (demo setups). */
  readonly passphrase?: string;
  readonly time?: number;
}

export interface InitResult {
  readonly genesis: Genesis;
  readonly generatedPassphraseFile?: string;
}

export class DataDirError extends Error {}

export function isInitialized(dir: string): boolean {
  return existsSync(paths(dir).keystore) && existsSync(paths(dir).ledger);
}

export function initDataDir(dir: string, options: InitOptions): InitResult {
  if (!CHAIN_ID_PATTERN.test(options.chain)) throw new DataDirError(`invalid chain id "${options.chain}"`);
  if (!ID_PATTERNS.organization.test(options.orgId)) {
    throw new DataDirError(`invalid organization id "${options.orgId}" (expected org_ followed by lowercase letters, digits, -)`);
  }
  const p = paths(dir);
  if (existsSync(p.keystore) || existsSync(p.ledger)) throw new DataDirError(`${dir} already holds a node`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let passphrase = options.passphrase;
  let generatedPassphraseFile: string | undefined;
  if (passphrase === undefined) {
    passphrase = toBase64(generateKeyPair().secretKey);
    writeFileSync(p.passphrase, `${passphrase}\n`, { mode: 0o600 });
    generatedPassphraseFile = p.passphrase;
  }
  const keystore = FileKeyStore.create(p.keystore, passphrase);
  const nodeKey = generateKeyPair();
  const orgKey = generateKeyPair();
  keystore.put(NODE_KEY, nodeKey.secretKey);
  keystore.put(ORG_KEY, orgKey.secretKey);
  const genesis: Genesis = {
    chain: options.chain,
    time: options.time ?? Date.now(),
    founder: { id: options.orgId, name: options.orgName, key: orgKey.publicKey },
    validators: [{ name: options.orgId, key: nodeKey.publicKey }],
  };
  const store = new SqliteLedgerStore(p.ledger);
  try {
    Chain.open(store, encodeGenesis(genesis));
  } finally {
    store.close();
  }
  return { genesis, ...(generatedPassphraseFile && { generatedPassphraseFile }) };
}

/** Passphrase from the explicit option, then MEDLEDGER_KEY_PASSPHRASE, then a passphrase file. */
export function resolvePassphrase(dir: string, explicit?: string, file?: string): string {
  if (explicit !== undefined) return explicit;
  const fromEnv = process.env['MEDLEDGER_KEY_PASSPHRASE'];
  if (fromEnv) return fromEnv;
  const path = file ?? paths(dir).passphrase;
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  throw new KeystoreError('no keystore passphrase: set MEDLEDGER_KEY_PASSPHRASE or pass --passphrase-file');
}

/** An exclusive lock on the data directory; a lock left by a dead process is taken over. */
export function lockDataDir(dir: string): () => void {
  const { lock } = paths(dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      fsyncSync(fd);
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock that is empty or unreadable was left by a crash while it was being written.
      const text = readFileSync(lock, 'utf8').trim();
      const holder = /^[1-9][0-9]*$/.test(text) ? Number(text) : undefined;
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new DataDirError(`${dir} is in use by process ${holder}`);
      }
      rmSync(lock, { force: true });
    }
  }
  throw new DataDirError(`cannot lock ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
