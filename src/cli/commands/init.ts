import { readFileSync } from 'node:fs';
import { toHex } from '../../crypto/bytes.js';
import { initDataDir } from '../../node/data-dir.js';
import { dataDirOf, helpText, parse } from '../args.js';

export const initSpec = {
  name: 'init',
  summary: 'create a new chain: genesis with the founding organization, keys encrypted at rest',
  usage: 'medledger init [--data DIR] [--chain ID] [--org-id ID] [--org-name NAME] [--passphrase-file FILE]',
  options: {
    data: { type: 'string' },
    chain: { type: 'string' },
    'org-id': { type: 'string' },
    'org-name': { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    data: 'data directory (default $MEDLEDGER_DATA or ./data)',
    chain: 'chain id (default medledger-local)',
    'org-id': 'founding organization id, e.g. org_st-mary (default org_founder)',
    'org-name': 'founding organization display name',
    'passphrase-file': 'file holding the keystore passphrase (default: $MEDLEDGER_KEY_PASSPHRASE, else a generated one)',
  },
} as const;

export function runInit(argv: string[]): number {
  const { values } = parse(initSpec, argv);
  if (values.help) return (void console.log(helpText(initSpec)), 0);
  const dir = dataDirOf(values.data);
  const passphrase = values['passphrase-file']
    ? readFileSync(values['passphrase-file'], 'utf8').trim()
    : process.env['MEDLEDGER_KEY_PASSPHRASE'];
  const result = initDataDir(dir, {
    chain: values.chain ?? 'medledger-local',
    orgId: values['org-id'] ?? 'org_founder',
    orgName: values['org-name'] ?? 'Founding Organization',
    ...(passphrase !== undefined && { passphrase }),
  });
  console.log(`initialized chain "${result.genesis.chain}" in ${dir}`);
  console.log(`  founding organization: ${result.genesis.founder.id} (${result.genesis.founder.name})`);
  console.log(`  organization key:      ${toHex(result.genesis.founder.key)}`);
  console.log(`  validator key:         ${toHex(result.genesis.validators[0]!.key)}`);
  if (result.generatedPassphraseFile) {
    console.log(`  keystore passphrase was generated into ${result.generatedPassphraseFile}`);
    console.log(
      '  (for production, keep the passphrase outside the data directory: MEDLEDGER_KEY_PASSPHRASE or --passphrase-file)',
    );
  }
  return 0;
}
