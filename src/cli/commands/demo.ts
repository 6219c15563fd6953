import { readFileSync } from 'node:fs';
import { initDataDir, isInitialized, resolvePassphrase } from '../../node/data-dir.js';
import { ensureDemoConsents } from '../../demo/consents.js';
import { LedgerNode } from '../../node/ledger-node.js';
import { FhirRepository } from '../../fhir/repository.js';
import { loadDemo, type DemoLoadResult } from '../../demo/load.js';
import { DEMO_DEFAULTS } from '../../demo/generator.js';
import { AuthService } from '../../auth/service.js';
import { describeDemoAccounts, ensureDemoAccounts } from '../../demo/accounts.js';
import { dataDirOf, helpText, nodeUrlOf, parse, PASSPHRASE_FILE_HELP, UsageError } from '../args.js';

export const DEMO_CHAIN = { chain: 'medledger-demo', orgId: 'org_demo-hospital', orgName: 'Demo General Hospital' } as const;

export const demoSpec = {
  name: 'demo',
  summary: 'load the demo data set (organization, practitioners, patient histories) and the demo accounts into a data directory',
  usage: 'medledger demo [--data DIR] [--patients N] [--passphrase-file FILE]',
  options: {
    data: { type: 'string' },
    patients: { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    data: 'data directory (default $MEDLEDGER_DATA or ./data); a demo chain is initialized there if it is empty',
    patients: `number of patients (default ${DEMO_DEFAULTS.patients})`,
    'passphrase-file': PASSPHRASE_FILE_HELP,
  },
} as const;

/** One line about a load: what was loaded and how fast, or that it was already there. */
export function describeLoad(result: DemoLoadResult): string {
  if (!result.loaded) return 'demo data already loaded; nothing to do';
  const seconds = result.ms / 1000;
  return (
    `loaded ${result.resources} demo resources (${result.patients} patients) in ${seconds.toFixed(1)} s ` +
    `(${Math.round(result.resources / Math.max(seconds, 0.001))} resources/s)`
  );
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parse(demoSpec, argv);
  if (values.help) return (void console.log(helpText(demoSpec)), 0);
  const dir = dataDirOf(values.data);
  const patients = values.patients === undefined ? DEMO_DEFAULTS.patients : Number(values.patients);
  if (!Number.isSafeInteger(patients) || patients < 0 || patients > 100_000) {
    throw new UsageError(`--patients must be a whole number from 0 to 100000, got "${values.patients}"`);
  }
  if (!isInitialized(dir)) {
    const file = values['passphrase-file'];
    const passphrase = file !== undefined ? readFileSync(file, 'utf8').trim() : process.env['MEDLEDGER_KEY_PASSPHRASE'];
    initDataDir(dir, { ...DEMO_CHAIN, ...(passphrase !== undefined && { passphrase }) });
    console.log(`initialized a demo chain in ${dir}`);
  }
  // Opening the node takes the data directory's lock: this fails cleanly if a node runs there.
  const node = LedgerNode.open({ dataDir: dir, passphrase: resolvePassphrase(dir, undefined, values['passphrase-file']) });
  try {
    const fhir = await FhirRepository.open(node, dir);
    const auth = await AuthService.open(node, dir);
    try {
      console.log(describeLoad(await loadDemo(fhir, { patients })));
      const accounts = await ensureDemoAccounts(node, fhir, auth);
      const consents = await ensureDemoConsents(node, fhir);
      console.log(
        `demo patients enrolled on the ledger: ${consents.enrolled}; consented to treatment here: ${consents.consented}`,
      );
      console.log(describeDemoAccounts(accounts, nodeUrlOf(undefined)));
    } finally {
      auth.close();
      await fhir.close();
    }
  } finally {
    await node.close();
  }
  return 0;
}
