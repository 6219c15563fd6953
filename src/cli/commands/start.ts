import { initDataDir, isInitialized, resolvePassphrase } from '../../node/data-dir.js';
import { LedgerNode } from '../../node/ledger-node.js';
import { FhirRepository } from '../../fhir/repository.js';
import { AuthService } from '../../auth/service.js';
import { describeDemoAccounts, ensureDemoAccounts, type DemoAccount } from '../../demo/accounts.js';
import { buildHttpServer, requestLogger } from '../../server/http.js';
import { loadDemo } from '../../demo/load.js';
import { ensureDemoDevices } from '../../demo/devices.js';
import { ensureDemoConsents } from '../../demo/consents.js';
import { DEMO_CHAIN, describeLoad } from './demo.js';
import { dataDirOf, helpText, parse, PASSPHRASE_FILE_HELP, UsageError } from '../args.js';
import { openAccess, startErasureWorker } from '../../node/access-ledger.js';
import { openExchange, parsePeers } from '../../node/exchange.js';
import { TREATMENT_RULES, type TreatmentRule } from '../../access/policy.js';
import { RETENTION_REASONS, type RetentionReason } from '../../ledger/payloads/erasure.js';
import type { RetentionRules } from '../../access/erasure.js';

/** `Type=ground,Type=ground` → retention rules (UsageError on anything else). */
export function parseRetention(text: string): RetentionRules {
  const rules: Record<string, RetentionReason> = {};
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const [type, reason] = item.split('=');
    if (!type || !/^[A-Z][A-Za-z]{1,63}$/.test(type) || !(RETENTION_REASONS as readonly string[]).includes(reason ?? ''))
      throw new UsageError(`--retain takes Type=ground pairs (grounds: ${RETENTION_REASONS.join(', ')}), got "${item}"`);
    rules[type] = reason as RetentionReason;
  }
  return rules;
}

export const startSpec = {
  name: 'start',
  summary: 'run a node (solo sequencer, or ABCI application of a CometBFT node) with its HTTP API',
  usage:
    'medledger start [--data DIR] [--port N] [--host ADDR] [--public-url URL] [--treatment-rule RULE] [--peers ORG=URL,…] [--demo] [--passphrase-file FILE] [--abci ADDR --cometbft-rpc URL]',
  options: {
    abci: { type: 'string' },
    'cometbft-rpc': { type: 'string' },
    data: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    'treatment-rule': { type: 'string' },
    retain: { type: 'string' },
    peers: { type: 'string' },
    demo: { type: 'boolean' },
    'passphrase-file': { type: 'string' },
    quiet: { type: 'boolean' },
  },
  help: {
    abci: 'CometBFT chains: serve ABCI here for the local CometBFT node (unix:///path/abci.sock or tcp://127.0.0.1:26658)',
    'cometbft-rpc': 'CometBFT chains: the local CometBFT RPC that transactions are broadcast to (default http://127.0.0.1:26657)',
    data: 'data directory (default $MEDLEDGER_DATA or ./data)',
    port: 'HTTP port (default $PORT or 8080)',
    host: 'listen address (default 127.0.0.1)',
    'public-url':
      'URL clients reach the node at (default $MEDLEDGER_PUBLIC_URL, else taken from each request): the OAuth issuer is URL/oauth and access tokens are for URL/fhir',
    'treatment-rule':
      'who at this organization sees records without a consent (default $MEDLEDGER_TREATMENT_RULE, else authors): authors (a practitioner keeps what they wrote), organization (every practitioner sees all it holds) or none',
    retain:
      'resource types this organization keeps despite erasure requests, with the legal ground, e.g. "Immunization=public-health-reporting,DiagnosticReport=statutory-retention" (default $MEDLEDGER_RETAIN; grounds: statutory-retention, legal-hold, public-health-reporting)',
    peers:
      'other organizations\' nodes for record exchange, e.g. "org_b=https://b.example,org_c=http://10.0.0.3:8080" (default $MEDLEDGER_PEERS; `medledger network` sets it)',
    demo: 'initialize a demo chain first if the data directory is empty, and load the demo data set once',
    'passphrase-file': PASSPHRASE_FILE_HELP,
    quiet: 'no request logging',
  },
} as const;

export async function runStart(argv: string[]): Promise<number> {
  const { values } = parse(startSpec, argv);
  if (values.help) return (void console.log(helpText(startSpec)), 0);
  const dir = dataDirOf(values.data);
  const port = Number(values.port ?? process.env['PORT'] ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port "${values.port}"`);
  const host = values.host ?? process.env['HOST'] ?? '127.0.0.1';
  const publicUrl = values['public-url'] ?? process.env['MEDLEDGER_PUBLIC_URL'];
  if (publicUrl !== undefined && !/^https?:\/\/[^/?#\s]+$/.test(publicUrl.replace(/\/+$/, '')))
    throw new UsageError(`--public-url must be scheme://host[:port] without a path, got "${publicUrl}"`);
  const treatmentRule = values['treatment-rule'] ?? process.env['MEDLEDGER_TREATMENT_RULE'] ?? 'authors';
  if (!(TREATMENT_RULES as readonly string[]).includes(treatmentRule))
    throw new UsageError(`--treatment-rule must be one of ${TREATMENT_RULES.join(', ')}, got "${treatmentRule}"`);
  const retention = parseRetention(values.retain ?? process.env['MEDLEDGER_RETAIN'] ?? '');
  let peers: Map<string, string>;
  try {
    peers = parsePeers(values.peers ?? process.env['MEDLEDGER_PEERS'] ?? '');
  } catch (error) {
    throw new UsageError(`--peers: ${(error as Error).message}`);
  }
  if (values.demo && !isInitialized(dir)) {
    initDataDir(dir, DEMO_CHAIN);
    console.log(`initialized a demo chain in ${dir}`);
  }
  const node = LedgerNode.open({
    dataDir: dir,
    passphrase: resolvePassphrase(dir, undefined, values['passphrase-file']),
    ...(values.abci !== undefined && {
      cometbft: { abci: values.abci, rpc: values['cometbft-rpc'] ?? 'http://127.0.0.1:26657' },
    }),
  });
  // Under CometBFT, serve ABCI first: the CometBFT node connects to it as it starts.
  if (node.abci) {
    await node.abci.listen();
    console.log(`ABCI application for CometBFT listening on ${values.abci}`);
  }
  const fhir = await FhirRepository.open(node, dir);
  const auth = await AuthService.open(node, dir);
  const access = openAccess(node, dir, { rule: treatmentRule as TreatmentRule });
  const erasure = startErasureWorker(node, fhir, { retention });
  const exchange = openExchange(node, fhir, access.service, peers);
  // The demo data set, on first start only (loadDemo does nothing once its organization exists).
  let demoAccounts: DemoAccount[] = [];
  if (values.demo) {
    console.log(describeLoad(await loadDemo(fhir)));
    // The web app signs in from wherever the node is reached: its public URL, or this host and port.
    const origins = publicUrl
      ? [publicUrl.replace(/\/+$/, '')]
      : [`http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`, `http://localhost:${port}`];
    demoAccounts = await ensureDemoAccounts(node, fhir, auth, { origins });
    const consents = await ensureDemoConsents(node, fhir);
    if (consents.enrolled > 0)
      console.log(`enrolled ${consents.enrolled} demo patients on the ledger; ${consents.consented} consented to treatment here`);
    const worn = await ensureDemoDevices(node, fhir);
    if (worn.devices > 0) console.log(`registered ${worn.devices} demo wearables with ${worn.samples} samples`);
  }
  const app = await buildHttpServer(node, {
    logger: values.quiet ? false : requestLogger('info'),
    fhir,
    auth,
    access,
    exchange,
    ...(publicUrl !== undefined && { publicUrl: publicUrl.replace(/\/+$/, '') }),
  });
  const address = await app.listen({ port, host });
  const head = node.chain.head();
  console.log(`MedLedger node for chain "${node.chain.chainId}" at height ${head.height}, listening on ${address}`);
  if (values.demo) console.log(describeDemoAccounts(demoAccounts, publicUrl?.replace(/\/+$/, '') ?? address));
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing queued transactions and stopping`);
    await app.close();
    auth.close();
    erasure.stop();
    await access.close();
    await fhir.close();
    await node.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return new Promise<number>(() => {});
}
