/**
 * `medledger token` and `medledger account` as child processes beside a running node: an operator
 * adds an account, mints a token for it with the keystore's signing key, and the token works
 * against the node's FHIR API; the demo accounts are created by ensureDemoAccounts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { runCli, type CliRun } from './support/cli.js';
import { PASSPHRASE, startTestServer, type TestServer } from './support/fixtures.js';
import { verifyAccessToken } from '../src/auth/tokens.js';
import { DEMO_PRACTITIONERS, ensureDemoAccounts, WEB_CLIENT_ID } from '../src/demo/accounts.js';

const cli = (args: readonly string[]): Promise<CliRun> => runCli(args, { env: { MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE } });

let server: TestServer;
let patientId: string;

before(async () => {
  server = await startTestServer({ fhir: true });
  const res = await fetch(`${server.url}/fhir/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Cli' }] }),
  });
  patientId = ((await res.json()) as Patient).id!;
});

after(async () => {
  await server.close();
});

describe('medledger account and token (beside a running node)', () => {
  it('have --help', async () => {
    for (const command of ['token', 'account']) {
      const r = await cli([command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`medledger ${command}`));
      assert.equal(r.stderr, '');
    }
  });

  it('adds a patient account and mints a working patient token for it', async () => {
    const passwordFile = join(server.dir, 'pw.txt');
    writeFileSync(passwordFile, 'cli-patient-password\n');
    const added = await cli([
      'account',
      'add',
      '--data',
      server.dir,
      '--username',
      'carol',
      '--password-file',
      passwordFile,
      '--patient',
      patientId,
    ]);
    assert.equal(added.code, 0, added.stderr);
    const list = await cli(['account', 'list', '--data', server.dir]);
    assert.match(list.stdout, /carol/);
    assert.ok(!list.stdout.includes('cli-patient-password'));

    const minted = await cli(['token', '--data', server.dir, '--user', 'carol', '--scope', 'patient/*.rs', '--url', server.url]);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    const claims = await verifyAccessToken(server.auth!.key, token, server.url);
    assert.equal(claims.patient, patientId);
    assert.ok(claims.exp - claims.iat === 600, 'default lifetime is 10 minutes');
    const own = await fetch(`${server.url}/fhir/Patient/${patientId}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(own.status, 200);
    const search = (await (
      await fetch(`${server.url}/fhir/Patient`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as Bundle;
    assert.deepEqual(
      search.entry?.map((e) => e.resource?.id),
      [patientId],
    );
  });

  it('refuses unknown users, bad scopes, scopes of the wrong context and overlong lifetimes', async () => {
    const base = ['token', '--data', server.dir, '--url', server.url];
    for (const args of [
      ['--user', 'nobody', '--scope', 'user/*.rs'],
      ['--user', 'carol', '--scope', 'patient/*.xyz'],
      ['--user', 'carol', '--scope', 'system/*.rs'],
      ['--user', 'carol', '--scope', 'patient/*.rs', '--ttl', '999999'],
      ['--user', 'carol'],
    ]) {
      const r = await cli([...base, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '', 'no token printed');
    }
  });
});

describe('demo accounts', () => {
  it('registers the demo practitioners on the ledger, creates the accounts and the web client, idempotently', async () => {
    const first = await ensureDemoAccounts(server.node, server.fhir!, server.auth!);
    const again = await ensureDemoAccounts(server.node, server.fhir!, server.auth!);
    assert.deepEqual(again, first);
    for (const p of DEMO_PRACTITIONERS) {
      const participant = server.node.chain.app.participant(p.id);
      assert.equal(participant?.status, 'active');
      assert.equal(participant?.org, server.org.id);
      assert.ok(await server.auth!.store.login(p.username, p.password));
    }
    assert.ok(first.some((a) => a.username === 'patient1'));
    assert.ok(server.auth!.store.client(WEB_CLIENT_ID));
    const minted = await cli([
      'token',
      '--data',
      server.dir,
      '--user',
      'clinician',
      '--scope',
      'user/*.cruds',
      '--url',
      server.url,
    ]);
    assert.equal(minted.code, 0, minted.stderr);
    // The token works against the FHIR API (which patients the clinician sees is up to consents).
    const res = await fetch(`${server.url}/fhir/Patient?_count=1`, {
      headers: { authorization: `Bearer ${minted.stdout.trim()}` },
    });
    assert.equal(res.status, 200);
  });
});
