/**
 * Validator governance in the state machine: a proposal executes in the block where strictly more
 * than 2/3 of the current validators (by count) have approved it — not at exactly 2/3 —, only
 * current validators vote, each once, proposals expire, validator-set changes change the
 * threshold, the last validator cannot be removed, and all of it is deterministic and in the
 * state root. Plus a real solo node: its own approval suffices, and `verify` replays the result.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Identity } from '../src/client/identity.js';
import { toHex } from '../src/crypto/bytes.js';
import type { Genesis } from '../src/ledger/genesis.js';
import type { TxPayload } from '../src/ledger/tx.js';
import { validatorIdOf, type GovernanceAction } from '../src/ledger/payloads/governance.js';
import { validatorChanges } from '../src/consensus/cometbft/app.js';
import { reachesThreshold } from '../src/state/governance.js';
import { auditDataDir } from '../src/verify/audit.js';
import {
  CHAIN,
  codeOf,
  commitAll,
  FOUNDER,
  freshKey,
  GENESIS,
  identity,
  keysFrom,
  MemoryLedger,
  payload,
  submit,
  validatorIdentity,
} from './support/memory-ledger.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSPHRASE, startTestNode, startTestServer } from './support/fixtures.js';
import { paths } from '../src/node/data-dir.js';

/** A chain with `n` validators (keys "v1".."vn"), and their signing identities. */
function network(n: number): { ledger: MemoryLedger; validators: Identity[]; genesis: Genesis } {
  const labels = Array.from({ length: n }, (_, i) => `v${i + 1}`);
  const genesis: Genesis = { ...GENESIS, validators: labels.map((l) => ({ name: l, key: keysFrom(l).publicKey })) };
  return { ledger: new MemoryLedger(genesis), validators: labels.map((l) => validatorIdentity(l)), genesis };
}

/** Submits a transaction expected to fail; a failed one uses no sequence number, so step back. */
function refused(ledger: MemoryLedger, who: Identity, p: TxPayload): string {
  const code = submit(ledger, who.sign(p));
  if (code !== 'ok') who.setNextSeq(who.nextSeq - 1);
  return code;
}

const admit = (org = 'org_newcomer'): GovernanceAction => ({
  action: 'admit-organization',
  org,
  key: keysFrom(`${org}-key`).publicKey,
  name: 'Newcomer Clinic',
});

describe('governance threshold', () => {
  test('strictly more than 2/3 by count', () => {
    const table: [number, number, boolean][] = [
      [1, 1, true],
      [1, 2, false],
      [2, 2, true],
      [2, 3, false], // exactly 2/3 is not enough
      [3, 3, true],
      [2, 4, false],
      [3, 4, true],
      [4, 6, false], // exactly 2/3
      [5, 6, true],
      [67, 100, true],
      [66, 100, false],
    ];
    for (const [approvals, n, expected] of table) assert.equal(reachesThreshold(approvals, n), expected, `${approvals}/${n}`);
  });

  test('4 validators: an organization is admitted with the third approval, in that block', () => {
    const { ledger, validators } = network(4);
    const [v1, v2, v3, v4] = validators as [Identity, Identity, Identity, Identity];
    commitAll(ledger, [v1.sign(payload.propose('gov_admit', admit()))]);
    assert.equal(ledger.app.proposal('gov_admit')?.status, 'pending');
    commitAll(ledger, [v2.sign(payload.approve('gov_admit'))]);
    assert.equal(ledger.participant('org_newcomer'), undefined, '2 of 4 is not more than 2/3');
    const block = commitAll(ledger, [v3.sign(payload.approve('gov_admit'))]);
    const org = ledger.participant('org_newcomer');
    assert.equal(org?.status, 'active');
    assert.equal(org?.registeredAt, ledger.height);
    assert.equal(org?.registeredBy, 'gov_admit');
    assert.ok(block.changes.some((c) => c.key === 'participant/org_newcomer'));
    const proposal = ledger.app.proposal('gov_admit')!;
    assert.equal(proposal.status, 'executed');
    assert.equal(proposal.executedAt, ledger.height);
    assert.deepEqual(proposal.approvals, [v1.id, v2.id, v3.id]);
    // A late fourth approval is refused: the proposal is done.
    assert.equal(submit(ledger, v4.sign(payload.approve('gov_admit'))), 'state.conflict');
    // The admitted organization signs with its key from now on.
    const newcomer = identity('org_newcomer', 'org_newcomer-key');
    assert.equal(
      submit(ledger, newcomer.sign(payload.practitioner('prac_new', freshKey(), 'org_newcomer', ['clinician']))),
      'ok',
    );
  });

  test('3 validators: two approvals (exactly 2/3) do not execute, the third does', () => {
    const { ledger, validators } = network(3);
    const [v1, v2, v3] = validators as [Identity, Identity, Identity];
    commitAll(ledger, [v1.sign(payload.propose('gov_three', admit())), v2.sign(payload.approve('gov_three'))]);
    assert.equal(ledger.app.proposal('gov_three')?.status, 'pending');
    assert.equal(ledger.participant('org_newcomer'), undefined);
    commitAll(ledger, [v3.sign(payload.approve('gov_three'))]);
    assert.equal(ledger.participant('org_newcomer')?.kind, 'organization');
  });

  test('one validator (solo): the proposal is its own approval and executes at once', () => {
    const ledger = new MemoryLedger();
    commitAll(ledger, [validatorIdentity().sign(payload.propose('gov_solo', admit()))]);
    assert.equal(ledger.participant('org_newcomer')?.status, 'active');
    assert.equal(ledger.app.proposal('gov_solo')?.status, 'executed');
  });
});

describe('who may vote, and how often', () => {
  test('a key that is not a validator, a participant, or a mismatched id is refused', () => {
    const { ledger, validators } = network(4);
    commitAll(ledger, [validators[0]!.sign(payload.propose('gov_who', admit()))]);
    const stranger = validatorIdentity('not-a-validator');
    assert.equal(submit(ledger, stranger.sign(payload.approve('gov_who'))), 'tx.unknown_signer');
    assert.equal(codeOf(ledger.app.checkTx(stranger.sign(payload.approve('gov_who')))), 'tx.unknown_signer');
    // The founding organization is no validator.
    assert.equal(submit(ledger, identity(FOUNDER, 'founder').sign(payload.approve('gov_who'))), 'tx.unauthorized');
    // A validator id signed with another key.
    const impostor = new (validators[1]!.constructor as typeof Identity)(CHAIN, validators[1]!.id, keysFrom('impostor'));
    assert.equal(submit(ledger, impostor.sign(payload.approve('gov_who'))), 'tx.key_mismatch');
    assert.deepEqual(ledger.app.proposal('gov_who')?.approvals, [validators[0]!.id]);
  });

  test('a validator votes once: a second approval and a replayed transaction are refused', () => {
    const { ledger, validators } = network(4);
    const [v1, v2] = validators as [Identity, Identity];
    commitAll(ledger, [v1.sign(payload.propose('gov_twice', admit()))]);
    assert.equal(submit(ledger, v1.sign(payload.approve('gov_twice'))), 'state.conflict', 'the proposer already approved');
    const approval = v2.sign(payload.approve('gov_twice'));
    assert.equal(submit(ledger, approval), 'ok');
    assert.equal(submit(ledger, approval), 'tx.replayed');
    assert.equal(codeOf(ledger.app.checkTx(approval)), 'tx.replayed');
    assert.equal(submit(ledger, v2.sign(payload.approve('gov_twice'))), 'state.conflict');
    // Two approvals of one validator in one block: the second fails.
    const { ledger: other, validators: vs } = network(4);
    commitAll(other, [vs[0]!.sign(payload.propose('gov_twice', admit()))]);
    const results = other.block([vs[1]!.sign(payload.approve('gov_twice')), vs[1]!.sign(payload.approve('gov_twice'))]).results;
    assert.deepEqual(results.map(codeOf), ['ok', 'state.conflict']);
    assert.deepEqual(other.app.proposal('gov_twice')?.approvals, [vs[0]!.id, vs[1]!.id]);
  });

  test('validators sign only governance transactions', () => {
    const { ledger, validators } = network(4);
    assert.equal(
      submit(ledger, validators[0]!.sign(payload.patient('pat_aaaaaaaaaaaaaaaaaaaaaaaaaa', freshKey()))),
      'tx.unauthorized',
    );
  });
});

describe('proposal lifecycle', () => {
  test('expiry: approvals after block `until` are refused; `until` must lie ahead', () => {
    const { ledger, validators } = network(4);
    const [v1, v2, v3] = validators as [Identity, Identity, Identity];
    commitAll(ledger, [v1.sign(payload.propose('gov_soon', admit(), ledger.height + 2))]);
    commitAll(ledger, [v2.sign(payload.approve('gov_soon'))]); // block until-1
    commitAll(ledger, []); // block until
    assert.equal(refused(ledger, v3, payload.approve('gov_soon')), 'state.conflict');
    assert.equal(ledger.participant('org_newcomer'), undefined);
    assert.equal(refused(ledger, v1, payload.propose('gov_past', admit('org_other'), ledger.height)), 'tx.invalid');
    assert.equal(refused(ledger, v1, payload.propose('gov_far', admit('org_other'), ledger.height + 200_000)), 'tx.invalid');
    // `until` is the next block: accepted.
    assert.equal(refused(ledger, v1, payload.propose('gov_next', admit('org_other'), ledger.height + 1)), 'ok');
  });

  test('bad proposals change nothing: duplicate id, taken organization id or key, unknown proposal', () => {
    const { ledger, validators } = network(4);
    const v1 = validators[0]!;
    commitAll(ledger, [v1.sign(payload.propose('gov_dup', admit()))]);
    const root = ledger.root;
    const before = ledger.height;
    assert.equal(refused(ledger, v1, payload.propose('gov_dup', admit('org_x'))), 'state.conflict');
    assert.equal(refused(ledger, v1, payload.propose('gov_taken', admit(FOUNDER))), 'state.conflict');
    const founderKey = { ...admit('org_y'), key: keysFrom('founder').publicKey } as GovernanceAction;
    assert.equal(refused(ledger, v1, payload.propose('gov_key', founderKey)), 'state.conflict');
    assert.equal(refused(ledger, validators[1]!, payload.approve('gov_nothing')), 'state.not_found');
    const nobody: GovernanceAction = { action: 'remove-organization', org: 'org_nobody' };
    assert.equal(refused(ledger, v1, payload.propose('gov_rm', nobody)), 'state.not_found');
    assert.equal(ledger.height, before + 5);
    assert.notEqual(toHex(ledger.root), toHex(root)); // empty blocks still advance the chain
    assert.deepEqual(
      ledger.app.proposals().map((p) => p.id),
      ['gov_dup'],
    );
  });

  test('remove-organization revokes it; its members can no longer sign', () => {
    const ledger = new MemoryLedger();
    const v = validatorIdentity();
    const org = identity('org_leaving', 'org_leaving-key');
    commitAll(ledger, [v.sign(payload.propose('gov_in', admit('org_leaving')))]);
    commitAll(ledger, [v.sign(payload.propose('gov_out', { action: 'remove-organization', org: org.id }))]);
    assert.equal(ledger.participant(org.id)?.status, 'revoked');
    assert.equal(submit(ledger, org.sign(payload.rotateKey(org.id, freshKey()))), 'tx.signer_inactive');
  });
});

describe('validator set changes', () => {
  test('add-validator raises the threshold; the new validator votes; removal drops votes and keys', () => {
    const { ledger, validators } = network(4);
    const [v1, v2, v3, v4] = validators as [Identity, Identity, Identity, Identity];
    const v5 = validatorIdentity('v5');
    const before = ledger.app.validators();
    commitAll(ledger, [v1.sign(payload.propose('gov_add', { action: 'add-validator', key: v5.publicKey, name: 'org_5' }))]);
    commitAll(ledger, [v2.sign(payload.approve('gov_add')), v3.sign(payload.approve('gov_add'))]);
    const after = ledger.app.validators();
    assert.deepEqual(
      after.map((v) => validatorIdOf(v.key)),
      [v1.id, v2.id, v3.id, v4.id, v5.id],
    );
    assert.equal(after[4]!.since, ledger.height);
    // What CometBFT is told: one new validator at the common power.
    assert.deepEqual(
      validatorChanges(before, after).map((u) => [toHex(u.pubKey.ed25519!), u.power]),
      [[toHex(v5.publicKey), 10n]],
    );

    // Five validators: three approvals no longer suffice, four do; v5 may vote.
    commitAll(ledger, [v5.sign(payload.propose('gov_five', admit()))]);
    commitAll(ledger, [v1.sign(payload.approve('gov_five')), v2.sign(payload.approve('gov_five'))]);
    assert.equal(ledger.participant('org_newcomer'), undefined, '3 of 5 is not more than 2/3');
    commitAll(ledger, [v3.sign(payload.approve('gov_five'))]);
    assert.equal(ledger.participant('org_newcomer')?.status, 'active');

    // Remove v4: it can no longer vote, and CometBFT is told power 0.
    const five = ledger.app.validators();
    commitAll(ledger, [v1.sign(payload.propose('gov_rm4', { action: 'remove-validator', key: v4.publicKey }))]);
    commitAll(ledger, [
      v2.sign(payload.approve('gov_rm4')),
      v3.sign(payload.approve('gov_rm4')),
      v5.sign(payload.approve('gov_rm4')),
    ]);
    assert.equal(ledger.app.validators().length, 4);
    assert.deepEqual(
      validatorChanges(five, ledger.app.validators()).map((u) => [toHex(u.pubKey.ed25519!), u.power]),
      [[toHex(v4.publicKey), 0n]],
    );
    assert.equal(ledger.app.validatorHistory().find((v) => toHex(v.key) === toHex(v4.publicKey))?.removedAt, ledger.height);
    assert.equal(submit(ledger, v4.sign(payload.propose('gov_late', admit('org_late')))), 'tx.signer_inactive');
    // A removed key is never re-added.
    assert.equal(
      submit(ledger, v1.sign(payload.propose('gov_back', { action: 'add-validator', key: v4.publicKey, name: 'again' }))),
      'state.conflict',
    );
  });

  test('approvals of a validator removed meanwhile no longer count', () => {
    const { ledger, validators } = network(4);
    const [v1, v2, v3, v4] = validators as [Identity, Identity, Identity, Identity];
    commitAll(ledger, [v4.sign(payload.propose('gov_pending', admit())), v1.sign(payload.approve('gov_pending'))]);
    commitAll(ledger, [v1.sign(payload.propose('gov_rm4', { action: 'remove-validator', key: v4.publicKey }))]);
    commitAll(ledger, [v2.sign(payload.approve('gov_rm4')), v3.sign(payload.approve('gov_rm4'))]);
    // Three validators left; of gov_pending's approvals only v1 counts, so v2 makes 2 of 3: not enough.
    commitAll(ledger, [v2.sign(payload.approve('gov_pending'))]);
    assert.equal(ledger.participant('org_newcomer'), undefined);
    commitAll(ledger, [v3.sign(payload.approve('gov_pending'))]);
    assert.equal(ledger.participant('org_newcomer')?.status, 'active');
  });

  test('the last validator cannot be removed', () => {
    const ledger = new MemoryLedger();
    const v = validatorIdentity();
    const key = keysFrom('validator').publicKey;
    assert.equal(submit(ledger, v.sign(payload.propose('gov_last', { action: 'remove-validator', key }))), 'state.conflict');
    assert.equal(ledger.app.validators().length, 1);
  });
});

describe('determinism', () => {
  test('the same governance history gives the same state root; a different one does not', () => {
    const run = (approver: number): string => {
      const { ledger, validators } = network(4);
      commitAll(ledger, [validators[0]!.sign(payload.propose('gov_det', admit()))]);
      commitAll(ledger, [validators[approver]!.sign(payload.approve('gov_det'))]);
      return toHex(ledger.root);
    };
    assert.equal(run(1), run(1));
    assert.notEqual(run(1), run(2));
  });
});

describe('a solo node', () => {
  test('admits an organization with its own validator key; verify replays it', async () => {
    const t = await startTestNode();
    let dir: string;
    try {
      dir = t.dir;
      const key = keysFrom('solo-newcomer').publicKey;
      const outcome = await t.node.submitAsValidator({
        type: 'governance.propose',
        body: {
          id: 'gov_solo-node',
          until: t.node.chain.head().height + 10,
          action: 'admit-organization',
          org: 'org_solo-new',
          key,
          name: 'Solo New',
        },
      });
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.equal(t.node.chain.app.participant('org_solo-new')?.status, 'active');
      const again = await t.node.submitAsValidator({ type: 'governance.approve', body: { proposal: 'gov_solo-node' } });
      assert.equal(again.ok ? 'ok' : again.error.code, 'state.conflict');
      const report = await auditDataDir(paths(dir).ledger);
      assert.equal(report.problem, undefined, JSON.stringify(report.problem));
      assert.equal(report.txs, 1);
    } finally {
      await t.close();
    }
  });
});

describe('medledger governance (CLI) against a solo node', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const cli = (args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const env: NodeJS.ProcessEnv = { ...process.env, MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE };
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'bin', 'medledger.js'), 'governance', ...args],
        { cwd: ROOT, env, timeout: 60_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });
  };

  test('propose executes with the node’s own approval; list and the HTTP listing show it; a bad vote is refused', async () => {
    const server = await startTestServer();
    try {
      const key = toHex(keysFrom('cli-newcomer').publicKey);
      const args = ['--data', server.dir, '--node', server.url];
      const proposed = await cli([
        'propose',
        '--action',
        'admit-organization',
        '--org',
        'org_cli-new',
        '--key',
        key,
        '--name',
        'CLI New',
        '--id',
        'gov_cli',
        ...args,
      ]);
      assert.equal(proposed.code, 0, proposed.stderr);
      assert.match(proposed.stdout, /^committed [0-9a-f]{64} at block \d+ \(signed by val_[0-9a-f]{40}\)$/m);
      assert.equal(server.node.chain.app.participant('org_cli-new')?.status, 'active');
      const listed = await cli(['list', '--node', server.url]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /gov_cli {2}admit-organization {2}executed {2}1\/1 approvals/);
      const view = (await (await fetch(`${server.url}/api/v1/governance`)).json()) as {
        validators: { id: string; nextSeq: number }[];
        proposals: { id: string; status: string; org: string; key: string }[];
      };
      assert.deepEqual(
        view.validators.map((v) => v.nextSeq),
        [1],
      );
      assert.deepEqual(view.proposals[0], { ...view.proposals[0], id: 'gov_cli', status: 'executed', org: 'org_cli-new', key });
      const one = await fetch(`${server.url}/api/v1/governance/proposals/gov_cli`);
      assert.equal(one.status, 200);
      assert.equal((await fetch(`${server.url}/api/v1/governance/proposals/gov_none`)).status, 404);
      // Approving an executed proposal: refused with the ledger's code, nothing changes.
      const again = await cli(['approve', 'gov_cli', ...args]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /state\.conflict/);
      const bad = await cli(['propose', '--action', 'crown-king', ...args]);
      assert.equal(bad.code, 2);
    } finally {
      await server.close();
    }
  });
});
