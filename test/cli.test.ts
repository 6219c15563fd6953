/**
 * The real `medledger` command as child processes (bin/medledger.js → dist/src/cli/main.js):
 * help and usage errors, init, the keystore commands, a node started with `start`, key rotation
 * against that node, audits of its data directory and its API, and a clean stop on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, cliEnv, ROOT, runCli, showRun as show, type CliRun } from './support/cli.js';
import { tempDir } from './support/fixtures.js';

const PASSPHRASE = 'cli test passphrase, not a secret';

/** The environment of every child: no inherited MedLedger settings, an explicit passphrase. */
const childEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
  cliEnv({ MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE, ...extra });

/** Runs `medledger ARGS` to completion; never throws on a non-zero exit. */
const cli = (args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliRun> =>
  runCli(args, { ...options, env: { MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE, ...options.env } });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

/** `keys list` output as name → public key (hex). */
function parseKeyList(stdout: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^(\S+)\s+([0-9a-f]{64})\s+created /.exec(line);
    if (match) keys.set(match[1]!, match[2]!);
  }
  return keys;
}

describe('medledger CLI', { timeout: 180_000 }, () => {
  before(() => {
    assert.ok(existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')), 'the CLI is built (run tsc first)');
  });

  describe('help and usage', () => {
    const commands = ['init', 'start', 'keys', 'verify'];

    it('prints the command list for --help, -h and help, exiting 0', async () => {
      for (const flag of ['--help', '-h', 'help']) {
        const r = await cli([flag]);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /Usage: medledger <command>/);
        for (const command of commands) assert.match(r.stdout, new RegExp(`^  ${command}\\s`, 'm'), `${flag} lists ${command}`);
      }
    });

    for (const command of commands) {
      it(`${command} --help prints its usage and options, exiting 0`, async () => {
        const r = await cli([command, '--help']);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, new RegExp(`^medledger ${command} — `));
        assert.match(r.stdout, new RegExp(`Usage: medledger ${command}`));
        assert.match(r.stdout, /Options:/);
        assert.match(r.stdout, /-h, --help/);
        assert.equal(r.stderr, '');
      });
    }

    const usageErrors: [what: string, args: string[], stderr: RegExp][] = [
      ['no command', [], /Usage: medledger <command>/],
      ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
      ['unknown option', ['verify', '--bogus'], /Unknown option '--bogus'/],
      [
        'verify with both --data and --node',
        ['verify', '--data', 'x', '--node', 'http://127.0.0.1:9'],
        /either --data or --node/,
      ],
      ['keys without an action', ['keys'], /medledger keys/],
    ];
    for (const [what, args, pattern] of usageErrors) {
      it(`${what} exits 2`, async () => {
        const r = await cli(args);
        assert.equal(r.code, 2, show(r));
        assert.match(r.stdout + r.stderr, pattern, show(r));
      });
    }
  });

  describe("a node's life: init, keys, start, rotate, verify, stop", () => {
    const temp = tempDir('medledger-cli-');
    const data = join(temp.path, 'node');
    let node: ChildProcess | undefined;
    let nodeOutput = '';
    let url = '';
    let orgKeyBefore = '';

    after(async () => {
      if (node && node.exitCode === null && node.signalCode === null) {
        const exited = new Promise((resolve) => node!.once('exit', resolve));
        node.kill('SIGKILL');
        await exited;
      }
      temp.remove();
    });

    it('init creates a data directory with a keystore and a ledger', async () => {
      const r = await cli(['init', '--data', data, '--org-id', 'org_cli-hospital', '--org-name', 'CLI Hospital']);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /initialized chain "medledger-local"/);
      assert.match(r.stdout, /founding organization: org_cli-hospital \(CLI Hospital\)/);
      assert.ok(existsSync(join(data, 'keystore.json')));
      assert.ok(existsSync(join(data, 'ledger.sqlite')));
      assert.equal(
        existsSync(join(data, 'keystore.passphrase')),
        false,
        'the passphrase came from the environment, none is generated',
      );
      orgKeyBefore = /organization key:\s+([0-9a-f]{64})/.exec(r.stdout)?.[1] ?? '';
      assert.equal(orgKeyBefore.length, 64);
    });

    it('a second init refuses to overwrite the node', async () => {
      const r = await cli(['init', '--data', data]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /already holds a node/);
    });

    it('keys list shows the node and org keys', async () => {
      const r = await cli(['keys', 'list', '--data', data]);
      assert.equal(r.code, 0, show(r));
      const keys = parseKeyList(r.stdout);
      assert.deepEqual([...keys.keys()].sort(), ['node', 'org']);
      assert.equal(keys.get('org'), orgKeyBefore);
    });

    it('keys list with the wrong passphrase fails without printing keys', async () => {
      const r = await cli(['keys', 'list', '--data', data], { env: { MEDLEDGER_KEY_PASSPHRASE: 'a wrong passphrase!' } });
      assert.equal(r.code, 1, show(r));
      assert.equal(parseKeyList(r.stdout).size, 0);
      assert.match(r.stderr, /^medledger: /);
    });

    it('keys create NAME adds a key, and refuses a duplicate name', async () => {
      const r = await cli(['keys', 'create', 'clinic-1', '--data', data]);
      assert.equal(r.code, 0, show(r));
      const created = /^clinic-1 ([0-9a-f]{64})$/m.exec(r.stdout)?.[1];
      assert.ok(created, show(r));
      const list = parseKeyList((await cli(['keys', 'list', '--data', data])).stdout);
      assert.equal(list.get('clinic-1'), created);
      assert.equal(list.size, 3);

      const again = await cli(['keys', 'create', 'clinic-1', '--data', data]);
      assert.equal(again.code, 2, show(again));
      assert.match(again.stderr, /exists already/);
    });

    it('start runs the node; /healthz answers', { timeout: 30_000 }, async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      node = spawn(process.execPath, [BIN, 'start', '--data', data, '--port', String(port), '--quiet'], {
        cwd: ROOT,
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      node.stdout!.on('data', (chunk: Buffer) => (nodeOutput += chunk.toString()));
      node.stderr!.on('data', (chunk: Buffer) => (nodeOutput += chunk.toString()));

      const deadline = Date.now() + 20_000;
      let health: { status: string; height: number } | undefined;
      while (!health) {
        assert.ok(node.exitCode === null, `the node exited early:\n${nodeOutput}`);
        assert.ok(Date.now() < deadline, `the node did not answer /healthz in time:\n${nodeOutput}`);
        try {
          const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
          if (response.ok) health = (await response.json()) as { status: string; height: number };
        } catch {
          await sleep(100);
        }
      }
      assert.deepEqual(health, { status: 'ok', height: 0 });
      assert.match(nodeOutput, /listening on http:\/\/127\.0\.0\.1:/);
    });

    it('keys rotate org --node URL rotates the key on the ledger and in the keystore', { timeout: 60_000 }, async () => {
      const r = await cli(['keys', 'rotate', 'org', '--node', url, '--data', data]);
      assert.equal(r.code, 0, `${show(r)}\n--- node\n${nodeOutput}`);
      const height = Number(/rotated org for org_cli-hospital at height (\d+)/.exec(r.stdout)?.[1]);
      assert.equal(height, 1, show(r));
      const announced = /new public key ([0-9a-f]{64})/.exec(r.stdout)?.[1];

      const keys = parseKeyList((await cli(['keys', 'list', '--data', data])).stdout);
      const newKey = keys.get('org');
      assert.ok(newKey);
      assert.notEqual(newKey, orgKeyBefore, 'the org key changed');
      assert.equal(newKey, announced);
      assert.equal(keys.get(`org.retired-${height}`), orgKeyBefore, 'the old key is kept as retired');
      assert.equal(keys.has('org.next'), false, 'no half-finished rotation is left');

      const response = await fetch(`${url}/api/v1/participants/org_cli-hospital`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200);
      const participant = (await response.json()) as { key: string; rotations: number; nextSeq: number };
      assert.equal(participant.key, newKey, 'the ledger has the key the keystore now holds');
      assert.equal(participant.rotations, 1);
      assert.equal(participant.nextSeq, 1);
    });

    it('keys rotate refuses the validator key', async () => {
      const r = await cli(['keys', 'rotate', 'node', '--node', url, '--data', data]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /governance/);
    });

    it('verify --data DIR exits 0 while the node runs', { timeout: 60_000 }, async () => {
      const r = await cli(['verify', '--data', data]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^OK chain "medledger-local": 1 blocks, 1 transactions, log root [0-9a-f]{64}/);
    });

    it(
      'verify --node URL exits 0 with a system token (--token or $MEDLEDGER_TOKEN), also with --json; 1 without one',
      { timeout: 60_000 },
      async () => {
        const minted = await cli(['token', '--system', '--scope', 'system/*.rs', '--url', url, '--data', data]);
        assert.equal(minted.code, 0, show(minted));
        const token = minted.stdout.trim();
        const r = await cli(['verify', '--node', url, '--token', token]);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /^OK chain "medledger-local": 1 blocks, 1 transactions/);

        const anonymous = await cli(['verify', '--node', url]);
        assert.notEqual(anonymous.code, 0, show(anonymous));
        assert.match(anonymous.stdout + anonymous.stderr, /staff bearer token/);

        const json = await cli(['verify', '--node', url, '--json'], { env: { MEDLEDGER_TOKEN: token } });
        assert.equal(json.code, 0, show(json));
        const report = JSON.parse(json.stdout) as { ok: boolean; chain: string; height: number; txs: number; problem?: unknown };
        assert.deepEqual(
          { ok: report.ok, chain: report.chain, height: report.height, txs: report.txs },
          {
            ok: true,
            chain: 'medledger-local',
            height: 1,
            txs: 1,
          },
        );
        assert.equal(report.problem, undefined);
      },
    );

    it('SIGTERM stops the node cleanly and releases the data directory', { timeout: 30_000 }, async () => {
      assert.ok(node);
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        node!.once('exit', (code, signal) => resolve([code, signal])),
      );
      node.kill('SIGTERM');
      const [code, signal] = await exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, nodeOutput);
      assert.match(nodeOutput, /SIGTERM: finishing queued transactions and stopping/);
      assert.equal(existsSync(join(data, 'LOCK')), false, 'the lock is released');

      // The stopped node's ledger still verifies.
      const r = await cli(['verify', '--data', data]);
      assert.equal(r.code, 0, show(r));
    });
  });
});
