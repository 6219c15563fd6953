import { toBase64, toHex } from '../../crypto/bytes.js';
import { generateKeyPair, keyPairFromSeed } from '../../crypto/ed25519.js';
import { Identity } from '../../client/identity.js';
import { NODE_KEY, ORG_KEY, paths, resolvePassphrase } from '../../node/data-dir.js';
import { FileKeyStore } from '../../storage/file-keystore.js';
import { dataDirOf, helpText, nodeUrlOf, parse, UsageError } from '../args.js';

export const keysSpec = {
  name: 'keys',
  summary: 'manage the node keystore: list, create, rotate',
  usage: [
    'medledger keys list   [--data DIR]',
    '       medledger keys create NAME [--data DIR]',
    '       medledger keys rotate NAME [--participant ID] [--node URL] [--data DIR]',
  ].join('\n'),
  options: {
    data: { type: 'string' },
    node: { type: 'string' },
    participant: { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    data: 'data directory (default $MEDLEDGER_DATA or ./data)',
    node: 'node API for rotate (default $MEDLEDGER_NODE or http://127.0.0.1:$PORT|8080)',
    participant: 'participant whose key NAME is (rotate; default: the founding organization for "org")',
    'passphrase-file': 'file holding the keystore passphrase',
  },
} as const;

export async function runKeys(argv: string[]): Promise<number> {
  const { values, positionals } = parse(keysSpec, argv);
  const [action, name] = positionals;
  if (values.help || !action) return (void console.log(helpText(keysSpec)), values.help ? 0 : 2);
  const dir = dataDirOf(values.data);
  const keystore = FileKeyStore.open(paths(dir).keystore, resolvePassphrase(dir, undefined, values['passphrase-file']));
  switch (action) {
    case 'list':
      for (const key of keystore.names()) {
        const pair = keyPairFromSeed(keystore.secretKey(key)!);
        console.log(`${key.padEnd(24)} ${toHex(pair.publicKey)}  created ${keystore.created(key)}`);
      }
      return 0;
    case 'create': {
      if (!name) throw new UsageError('keys create needs a NAME');
      if (keystore.names().includes(name)) throw new UsageError(`a key named "${name}" exists already`);
      const pair = generateKeyPair();
      keystore.put(name, pair.secretKey);
      console.log(`${name} ${toHex(pair.publicKey)}`);
      return 0;
    }
    case 'rotate':
      if (!name) throw new UsageError('keys rotate needs a NAME');
      return rotate(keystore, name, values.participant, nodeUrlOf(values.node));
    default:
      throw new UsageError(`unknown keys action "${action}"\n\n${helpText(keysSpec)}`);
  }
}

/**
 * Rotation: the new key is saved (as NAME.next) before the rotate transaction is sent, so a crash
 * at any point never loses the key the ledger may already require.
 */
async function rotate(
  keystore: FileKeyStore,
  name: string,
  participantOption: string | undefined,
  nodeUrl: string,
): Promise<number> {
  if (name === NODE_KEY) throw new UsageError('the validator key changes through governance, not `keys rotate`');
  const seed = keystore.secretKey(name);
  if (!seed) throw new UsageError(`no key named "${name}"`);
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(new URL(path, nodeUrl), { ...init, signal: AbortSignal.timeout(60_000) });
    const body = (await response.json()) as T & { code?: string; message?: string };
    if (!response.ok) throw new Error(`${body.code ?? response.status}: ${body.message ?? 'request failed'}`);
    return body;
  };
  const genesis = await api<{ genesis: { chain: string; founder: { id: string } } }>('/api/v1/genesis');
  const participantId = participantOption ?? (name === ORG_KEY ? genesis.genesis.founder.id : undefined);
  if (!participantId) throw new UsageError('--participant is required for keys other than "org"');
  const participant = await api<{ key: string; nextSeq: number }>(`/api/v1/participants/${participantId}`);
  const current = keyPairFromSeed(seed);
  if (participant.key !== toHex(current.publicKey)) throw new Error(`key "${name}" is not the current key of ${participantId}`);

  const next = generateKeyPair();
  keystore.put(`${name}.next`, next.secretKey);
  const identity = new Identity(genesis.genesis.chain, participantId, current, participant.nextSeq);
  const tx = identity.sign({ type: 'participant.rotate_key', body: { id: participantId, key: next.publicKey } });
  const receipt = await api<{ height: number; hash: string }>('/api/v1/txs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tx: toBase64(tx.wire) }),
  });
  keystore.put(`${name}.retired-${receipt.height}`, seed);
  keystore.put(name, next.secretKey);
  keystore.delete(`${name}.next`);
  console.log(`rotated ${name} for ${participantId} at height ${receipt.height} (tx ${receipt.hash})`);
  console.log(`new public key ${toHex(next.publicKey)}`);
  return 0;
}
