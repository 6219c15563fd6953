import { existsSync } from 'node:fs';
import { paths, resolvePassphrase } from '../../node/data-dir.js';
import { FileKeyStore } from '../../storage/file-keystore.js';
import { AuthStore, authPaths } from '../../auth/store.js';
import { parseScopes } from '../../auth/scopes.js';
import { ACCESS_TOKEN_TTL_SECONDS, mintAccessToken, signingKey } from '../../auth/tokens.js';
import { dataDirOf, helpText, nodeUrlOf, parse, PASSPHRASE_FILE_HELP, UsageError } from '../args.js';

export const MAX_CLI_TOKEN_TTL_SECONDS = 24 * 3600;

export const tokenSpec = {
  name: 'token',
  summary: 'mint an access token for a local account or a backend service, for scripts (reads the signing key from the keystore)',
  usage:
    'medledger token (--user ID|USERNAME | --system) --scope SCOPES [--ttl SECONDS] [--url URL] [--client NAME] [--data DIR]',
  options: {
    data: { type: 'string' },
    user: { type: 'string' },
    system: { type: 'boolean' },
    scope: { type: 'string' },
    ttl: { type: 'string' },
    url: { type: 'string' },
    client: { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    data: 'data directory of the node (default $MEDLEDGER_DATA or ./data); the node may be running',
    user: 'the account: a practitioner (prac_…), a patient pseudonym (pat_…) or a username',
    system:
      "a backend-service token of the node's organization instead of an account's (system/ scopes), " +
      'e.g. for `medledger verify --node` or other readers of the ledger API',
    scope: 'SMART scopes, e.g. "user/*.cruds" for a clinician or "patient/*.rs" for a patient',
    ttl: `lifetime in seconds (default ${ACCESS_TOKEN_TTL_SECONDS}, at most ${MAX_CLI_TOKEN_TTL_SECONDS})`,
    url: 'the node URL the token is for, as clients reach it (default $MEDLEDGER_NODE or http://127.0.0.1:$PORT|8080)',
    client: 'client id recorded in the token (default medledger-cli)',
    'passphrase-file': PASSPHRASE_FILE_HELP,
  },
} as const;

/**
 * Prints one access token (and nothing else) on stdout, signed with the node's token key exactly
 * as the authorization server signs them, so `curl -H "Authorization: Bearer $(medledger token …)"`
 * works. Reads the keystore and the auth database without writing; safe beside a running node.
 */
export async function runToken(argv: string[]): Promise<number> {
  const { values } = parse(tokenSpec, argv);
  if (values.help) return (void console.log(helpText(tokenSpec)), 0);
  if (values.user && values.system) throw new UsageError('use either --user or --system');
  if (!values.user && !values.system) throw new UsageError(`--user or --system is required\n\n${helpText(tokenSpec)}`);
  if (!values.scope) throw new UsageError(`--scope is required\n\n${helpText(tokenSpec)}`);
  const ttl = values.ttl === undefined ? ACCESS_TOKEN_TTL_SECONDS : Number(values.ttl);
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_CLI_TOKEN_TTL_SECONDS)
    throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${MAX_CLI_TOKEN_TTL_SECONDS}`);
  const { scopes, rejected } = parseScopes(values.scope);
  if (rejected.length > 0) throw new UsageError(`not valid SMART scopes: ${rejected.join(' ')}`);
  if (scopes.resources.length === 0) throw new UsageError('--scope names no resource scope (e.g. user/*.rs)');
  const dir = dataDirOf(values.data);
  if (!existsSync(authPaths(dir).db)) throw new Error(`${dir} has no accounts yet (start the node once first)`);
  const keystore = FileKeyStore.open(paths(dir).keystore, resolvePassphrase(dir, undefined, values['passphrase-file']));
  const store = AuthStore.open(dir, keystore, { readonly: true });
  const clientId = values.client ?? 'medledger-cli';
  try {
    if (!values.user) {
      if (scopes.resources.some((s) => s.context !== 'system'))
        throw new UsageError('a --system token takes system/ scopes only');
      const key = await signingKey(store, { create: false });
      // A backend service's token names its client as the subject (src/auth/service.ts).
      console.log(
        await mintAccessToken(key, {
          origin: nodeUrlOf(values.url),
          subject: clientId,
          clientId,
          scope: values.scope,
          ttlSeconds: ttl,
        }),
      );
      return 0;
    }
    const account = store.account(values.user) ?? store.accountByUsername(values.user);
    if (!account) throw new UsageError(`no account "${values.user}"`);
    if (account.disabled) throw new UsageError(`the account ${account.id} is disabled`);
    const wrong = scopes.resources.filter((s) =>
      account.kind === 'patient' ? s.context !== 'patient' && s.context !== 'user' : s.context !== 'user',
    );
    if (wrong.length > 0)
      throw new UsageError(
        `a ${account.kind} token takes ${account.kind === 'patient' ? 'patient/ (or user/)' : 'user/'} scopes, not ${wrong
          .map((s) => s.context + '/')
          .join(', ')}`,
      );
    const key = await signingKey(store, { create: false });
    const token = await mintAccessToken(key, {
      origin: nodeUrlOf(values.url),
      subject: account.id,
      clientId,
      scope: values.scope,
      ttlSeconds: ttl,
      ...(account.patient !== undefined && { patient: account.patient }),
    });
    console.log(token);
    return 0;
  } finally {
    store.close();
  }
}
