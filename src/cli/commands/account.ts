import { existsSync, readFileSync } from 'node:fs';
import { paths, resolvePassphrase } from '../../node/data-dir.js';
import { FileKeyStore } from '../../storage/file-keystore.js';
import { AuthStore, authPaths } from '../../auth/store.js';
import { VaultStore, vaultPaths } from '../../vault/store.js';
import { dataDirOf, helpText, parse, PASSPHRASE_FILE_HELP, UsageError } from '../args.js';

export const accountSpec = {
  name: 'account',
  summary: 'manage local login accounts (clinicians and patients): list, add, disable, enable',
  usage: [
    'medledger account list [--data DIR]',
    '       medledger account add --username NAME --password-file FILE (--practitioner prac_… [--fhir-practitioner ID] | --patient FHIR_PATIENT_ID) [--display TEXT] [--data DIR]',
    '       medledger account disable|enable ID [--data DIR]',
  ].join('\n'),
  options: {
    data: { type: 'string' },
    username: { type: 'string' },
    'password-file': { type: 'string' },
    practitioner: { type: 'string' },
    patient: { type: 'string' },
    'fhir-practitioner': { type: 'string' },
    display: { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    data: 'data directory of the node (default $MEDLEDGER_DATA or ./data); the node may be running',
    username: 'login name (lowercase letters, digits, . _ @ -)',
    'password-file': 'file whose first line is the password (at least 8 characters); it is stored only as an scrypt hash',
    practitioner: 'a practitioner of this organization registered on the ledger (prac_…)',
    patient: 'a FHIR Patient id held by this node; the account is its ledger pseudonym',
    'fhir-practitioner': "the practitioner's own FHIR Practitioner id at this node (their fhirUser in ID tokens)",
    display: 'name shown on the consent page',
    'passphrase-file': PASSPHRASE_FILE_HELP,
  },
} as const;

export async function runAccount(argv: string[]): Promise<number> {
  const { values, positionals } = parse(accountSpec, argv);
  const [action, id] = positionals;
  if (values.help || !action) return (void console.log(helpText(accountSpec)), values.help ? 0 : 2);
  const dir = dataDirOf(values.data);
  if (!existsSync(authPaths(dir).db)) throw new Error(`${dir} has no account database yet (start the node once first)`);
  const keystore = FileKeyStore.open(paths(dir).keystore, resolvePassphrase(dir, undefined, values['passphrase-file']));
  const store = AuthStore.open(dir, keystore);
  try {
    switch (action) {
      case 'list':
        for (const a of store.accounts())
          console.log(
            `${a.id.padEnd(32)} ${a.kind.padEnd(12)} ${a.username.padEnd(20)} ${a.patient ? `Patient/${a.patient} ` : ''}${a.disabled ? '(disabled)' : ''}`,
          );
        return 0;
      case 'add': {
        if (!values.username) throw new UsageError('account add needs --username');
        if (!values['password-file']) throw new UsageError('account add needs --password-file');
        if ((values.practitioner === undefined) === (values.patient === undefined))
          throw new UsageError('account add needs exactly one of --practitioner and --patient');
        const password = readFileSync(values['password-file'], 'utf8').split('\n')[0]!;
        let accountId = values.practitioner;
        if (values.patient !== undefined) {
          const vault = new VaultStore(vaultPaths(dir).db, keystore, { readonly: true });
          try {
            accountId = vault.pseudonymOf(values.patient);
          } finally {
            vault.close();
          }
          if (!accountId) throw new UsageError(`this node holds no Patient/${values.patient}`);
        }
        const account = await store.addAccount({
          id: accountId!,
          kind: values.patient !== undefined ? 'patient' : 'practitioner',
          username: values.username,
          password,
          ...(values.patient !== undefined && { patient: values.patient }),
          ...(values['fhir-practitioner'] !== undefined && { fhirUser: `Practitioner/${values['fhir-practitioner']}` }),
          display: values.display ?? values.username,
        });
        console.log(`added ${account.kind} account ${account.username} (${account.id})`);
        return 0;
      }
      case 'disable':
      case 'enable': {
        if (!id || !store.account(id)) throw new UsageError(`no account "${id ?? ''}"`);
        store.setDisabled(id, action === 'disable');
        console.log(`${action}d ${id}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown account action "${action}"\n\n${helpText(accountSpec)}`);
    }
  } finally {
    store.close();
  }
}
