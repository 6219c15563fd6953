/** `medledger network`: a local network of N organizations on CometBFT (see consensus/cometbft/network.ts). */
import { createNetwork, loadNetwork, orgStatus, startOrg, stopOrg, type NetworkOrg } from '../../consensus/cometbft/network.js';
import { helpText, parse, UsageError } from '../args.js';

export const networkSpec = {
  name: 'network',
  summary: 'create, start, inspect and stop a local network of organizations on CometBFT',
  usage: 'medledger network create|start|status|stop --dir DIR [--orgs N] [--org I] [options]',
  options: {
    dir: { type: 'string' },
    orgs: { type: 'string' },
    org: { type: 'string' },
    chain: { type: 'string' },
    'base-port': { type: 'string' },
    'http-base-port': { type: 'string' },
    'timeout-commit': { type: 'string' },
    'timeout-propose': { type: 'string' },
    gossip: { type: 'string' },
  },
  help: {
    dir: 'network directory (default ./network)',
    orgs: 'create: number of organizations, each a validator (default 4)',
    org: 'start/stop: only organization I (1-based)',
    chain: 'create: chain id (default medledger-net)',
    'base-port': 'create: CometBFT ports: organization I uses BASE+10I (p2p) and BASE+10I+1 (RPC) (default 26600)',
    'http-base-port': 'create: organization I serves HTTP on BASE+I (default 8100)',
    'timeout-commit': 'create: CometBFT timeout_commit in ms (default 1000)',
    'timeout-propose': 'create: CometBFT timeout_propose in ms (default 3000)',
    gossip: 'create: CometBFT p2p flush throttle and consensus gossip sleep in ms (default 100; lower = lower latency, more CPU)',
  },
} as const;

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

export async function runNetwork(argv: string[]): Promise<number> {
  const { values, positionals } = parse(networkSpec, argv);
  if (values.help || positionals.length === 0) return (void console.log(helpText(networkSpec)), values.help ? 0 : 2);
  const dir = values.dir ?? './network';
  const action = positionals[0];
  const only = (orgs: readonly NetworkOrg[]): readonly NetworkOrg[] => {
    if (values.org === undefined) return orgs;
    const org = orgs.find((o) => o.index === int(values.org, 'org', 0));
    if (!org) throw new UsageError(`no organization ${values.org}`);
    return [org];
  };
  switch (action) {
    case 'create': {
      const network = createNetwork({
        dir,
        orgs: int(values.orgs, 'orgs', 4),
        ...(values.chain !== undefined && { chain: values.chain }),
        basePort: int(values['base-port'], 'base-port', 26600),
        httpBasePort: int(values['http-base-port'], 'http-base-port', 8100),
        timeoutCommitMs: int(values['timeout-commit'], 'timeout-commit', 1000),
        timeoutProposeMs: int(values['timeout-propose'], 'timeout-propose', 3000),
        gossipMs: int(values.gossip, 'gossip', 100),
      });
      console.log(`created network "${network.chain}" of ${network.orgs.length} organizations in ${network.dir}`);
      for (const org of network.orgs)
        console.log(`  ${org.id}: data ${org.dataDir}, cometbft home ${org.cometHome}, p2p ${org.p2pPort}, rpc ${org.rpcPort}`);
      console.log('start it with `medledger network start --dir DIR`');
      return 0;
    }
    case 'start': {
      const network = loadNetwork(dir);
      for (const org of only(network.orgs)) {
        const pids = await startOrg(org);
        console.log(
          `${org.id}: http://127.0.0.1:${org.httpPort} (medledger pid ${pids.medledger}, cometbft pid ${pids.cometbft}, rpc http://127.0.0.1:${org.rpcPort})`,
        );
      }
      return 0;
    }
    case 'status': {
      const network = loadNetwork(dir);
      for (const org of network.orgs) {
        const s = await orgStatus(org);
        const procs = `medledger ${s.processes.medledger ?? 'down'}, cometbft ${s.processes.cometbft ?? 'down'}`;
        console.log(
          s.error !== undefined
            ? `${org.id}: unreachable (${procs})`
            : `${org.id}: height ${s.height}, app hash ${s.appHash}, peers ${s.peers}${s.catchingUp ? ', catching up' : ''} (${procs}) http://127.0.0.1:${org.httpPort}`,
        );
      }
      return 0;
    }
    case 'stop': {
      const network = loadNetwork(dir);
      for (const org of only(network.orgs)) {
        await stopOrg(org);
        console.log(`${org.id}: stopped`);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown network action "${action}" (create, start, status, stop)`);
  }
}
