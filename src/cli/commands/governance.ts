/**
 * `medledger governance`: list, propose and approve validator governance actions. Proposals and
 * approvals are signed here with the node's validator key (from the data directory's keystore;
 * the node may be running) and submitted to a node's ledger API like any other transaction.
 */
import { randomBytes } from 'node:crypto';
import { Identity } from '../../client/identity.js';
import { LedgerClient } from '../../client/index.js';
import { fromHex, toHex } from '../../crypto/bytes.js';
import { keyPairFromSeed } from '../../crypto/ed25519.js';
import { GOVERNANCE_ACTIONS, PROPOSAL_ID, validatorIdOf, type GovernanceAction } from '../../ledger/payloads/governance.js';
import type { TxPayload } from '../../ledger/tx.js';
import { NODE_KEY, paths, resolvePassphrase } from '../../node/data-dir.js';
import { FileKeyStore } from '../../storage/file-keystore.js';
import { dataDirOf, helpText, nodeUrlOf, parse, PASSPHRASE_FILE_HELP, UsageError } from '../args.js';

export const governanceSpec = {
  name: 'governance',
  summary: 'validator governance: list, propose and approve admitting/removing organizations and validators',
  usage: [
    'medledger governance list [--node URL]',
    '       medledger governance propose --action admit-organization --org ORG --key HEX --name NAME [--id gov_…] [--blocks N] [--data DIR] [--node URL]',
    '       medledger governance propose --action remove-organization --org ORG [...]',
    '       medledger governance propose --action add-validator --key HEX --name NAME [...]',
    '       medledger governance propose --action remove-validator --key HEX [...]',
    '       medledger governance approve gov_… [--data DIR] [--node URL]',
  ].join('\n'),
  options: {
    node: { type: 'string' },
    data: { type: 'string' },
    action: { type: 'string' },
    org: { type: 'string' },
    key: { type: 'string' },
    name: { type: 'string' },
    id: { type: 'string' },
    blocks: { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    node: 'the node (default $MEDLEDGER_NODE or http://127.0.0.1:$PORT|8080)',
    data: 'data directory holding this validator’s node key (default $MEDLEDGER_DATA or ./data); the node may be running',
    action: `propose: ${GOVERNANCE_ACTIONS.join(', ')}`,
    org: 'propose: the organization id (org_…) to admit or remove',
    key: 'propose: the Ed25519 public key in hex (the organization key, or the validator node key)',
    name: 'propose: the organization name, or the validator name',
    id: 'propose: the proposal id (default: gov_ and random characters)',
    blocks: 'propose: how many blocks from now the proposal may be approved (default 10000)',
    'passphrase-file': PASSPHRASE_FILE_HELP,
  },
} as const;

type Values = ReturnType<typeof parse<typeof governanceSpec.options>>['values'];

function keyOf(values: Values): Uint8Array {
  const key = values.key !== undefined ? fromHex(values.key.toLowerCase()) : undefined;
  if (key?.length !== 32) throw new UsageError('--key must be a 32-byte Ed25519 public key in hex');
  return key;
}

function need(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UsageError(`this action needs --${flag}`);
  return value;
}

function actionOf(values: Values): GovernanceAction {
  switch (values.action) {
    case 'admit-organization':
      return { action: values.action, org: need(values.org, 'org'), key: keyOf(values), name: need(values.name, 'name') };
    case 'remove-organization':
      return { action: values.action, org: need(values.org, 'org') };
    case 'add-validator':
      return { action: values.action, key: keyOf(values), name: need(values.name, 'name') };
    case 'remove-validator':
      return { action: values.action, key: keyOf(values) };
    default:
      throw new UsageError(`--action must be one of ${GOVERNANCE_ACTIONS.join(', ')}`);
  }
}

async function getJson<T>(node: string, path: string): Promise<T> {
  const response = await fetch(`${node.replace(/\/+$/, '')}/api/v1${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as T & { code?: string; message?: string };
  if (!response.ok) throw new Error(`${body.code ?? response.status}: ${body.message ?? 'request failed'}`);
  return body;
}

interface GovernanceView {
  readonly height: number;
  readonly validators: readonly { id: string; name: string; key: string; nextSeq: number }[];
  readonly proposals: readonly { id: string; action: string; status: string; counted: number; needed: number; until: number }[];
}

/** Signs `payload` with this data directory's validator key and submits it. */
async function submitAsValidator(values: Values, build: (height: number) => TxPayload): Promise<number> {
  const dir = dataDirOf(values.data);
  const keystore = FileKeyStore.open(paths(dir).keystore, resolvePassphrase(dir, undefined, values['passphrase-file']));
  const seed = keystore.secretKey(NODE_KEY);
  if (!seed) throw new Error(`${dir} holds no node key`);
  const keys = keyPairFromSeed(seed);
  const id = validatorIdOf(keys.publicKey);
  const node = nodeUrlOf(values.node);
  const view = await getJson<GovernanceView>(node, '/governance');
  const me = view.validators.find((v) => v.id === id);
  if (!me) throw new Error(`this node key (${id}) is not a current validator`);
  const chain = (await getJson<{ chain: string }>(node, '/status')).chain;
  const tx = new Identity(chain, id, keys, me.nextSeq).sign(build(view.height));
  const receipt = await new LedgerClient(node).submit(tx.wire);
  if (!receipt.ok) {
    console.error(`refused: ${receipt.error.message}`);
    return 1;
  }
  console.log(`committed ${toHex(tx.hash)} at block ${receipt.value.height} (signed by ${id})`);
  return 0;
}

export async function runGovernance(argv: string[]): Promise<number> {
  const { values, positionals } = parse(governanceSpec, argv);
  const [command, target] = positionals;
  if (values.help || !command) return (void console.log(helpText(governanceSpec)), values.help ? 0 : 2);
  switch (command) {
    case 'list': {
      const view = await getJson<GovernanceView>(nodeUrlOf(values.node), '/governance');
      console.log(`validators at block ${view.height}:`);
      for (const v of view.validators) console.log(`  ${v.id}  ${v.name}  ${v.key}`);
      console.log('proposals:');
      for (const p of view.proposals)
        console.log(`  ${p.id}  ${p.action}  ${p.status}  ${p.counted}/${p.needed} approvals  until block ${p.until}`);
      return 0;
    }
    case 'propose': {
      const action = actionOf(values);
      const id = values.id ?? `gov_${randomBytes(8).toString('hex')}`;
      if (!PROPOSAL_ID.test(id)) throw new UsageError('--id must look like gov_ followed by lowercase letters, digits and -');
      const blocks = Number(values.blocks ?? 10_000);
      if (!Number.isSafeInteger(blocks) || blocks < 1) throw new UsageError('--blocks must be a positive integer');
      const code = await submitAsValidator(values, (height) => ({
        type: 'governance.propose',
        body: { id, until: height + blocks, ...action },
      }));
      if (code === 0) console.log(`proposal ${id}`);
      return code;
    }
    case 'approve':
      if (!target || !PROPOSAL_ID.test(target)) throw new UsageError('approve needs the proposal id (gov_…)');
      return submitAsValidator(values, () => ({ type: 'governance.approve', body: { proposal: target } }));
    default:
      throw new UsageError(`unknown governance command "${command}"\n\n${helpText(governanceSpec)}`);
  }
}
