/**
 * Cross-organization reads on a real 4-validator CometBFT network, over HTTP with real access
 * tokens: organization 1 holds a patient's records; organization 2 registers the same patient by
 * pseudonym, and its clinician's Patient/$everything spans both custodians — only while the
 * patient's consent to organization 2 is in force (granted → the records; revoked or expired →
 * nothing) or the clinician opened emergency access. Every decision organization 1 takes is an
 * access event on the ledger that all four nodes hold. Needs cometbft (see cometbft-network.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair, keyPairFromSeed, type KeyPair } from '../src/crypto/ed25519.js';
import { AuthStore } from '../src/auth/store.js';
import { mintAccessToken, signingKey } from '../src/auth/tokens.js';
import { ORG_KEY, paths, resolvePassphrase } from '../src/node/data-dir.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { VaultStore, vaultPaths } from '../src/vault/store.js';
import { PSEUDONYM_SYSTEM } from '../src/fhir/repository.js';
import type { TxPayload } from '../src/ledger/tx.js';
import type { PractitionerRole } from '../src/ledger/payloads/participant.js';
import { cometbftBinary, startOrg, stopOrg, type NetworkOrg } from '../src/consensus/cometbft/network.js';
import { tempDir } from './support/fixtures.js';
import { apiOf, createTestNetwork, getJson, staffToken, submitTx, waitFor } from './support/network.js';

const binary = cometbftBinary();
const required = process.env['MEDLEDGER_REQUIRE_ALL'] === '1';
const skip = !binary && !required ? 'cometbft not installed (PATH or COMETBFT_BIN); see .ci/run' : false;
const CHAIN = 'exchange-net';
const MARKER = `netmarker${randomBytes(4).toString('hex')}`;

interface LedgerTx {
  tx: { type: string; signer: string; body: { events?: { actor: string; decision: string; basis?: string; grant?: string }[] } };
}

describe('record exchange on a 4-validator CometBFT network', { skip, timeout: 240_000 }, () => {
  let temp: { path: string; remove: () => void };
  let orgs: readonly NetworkOrg[];
  let a: NetworkOrg;
  let b: NetworkOrg;
  let tokenA: string;
  let tokenB: string;
  let pseudonym: string;
  let patient: Identity;
  let patientAtA: string;
  let patientAtB: string;
  const orgKeys = new Map<string, KeyPair>();

  /** An organization's transaction, signed with its key at its next sequence number. */
  async function asOrg(org: NetworkOrg, payload: TxPayload): Promise<void> {
    const { nextSeq } = await getJson<{ nextSeq: number }>(org, `/api/v1/participants/${org.id}`);
    await submitTx(org, new Identity(CHAIN, org.id, orgKeys.get(org.id)!, nextSeq).sign(payload));
  }

  /** A practitioner on the ledger with a login account and a 10-minute token for their node's FHIR API. */
  async function clinician(org: NetworkOrg, id: string, roles: PractitionerRole[] = ['clinician']): Promise<string> {
    await asOrg(org, {
      type: 'participant.register',
      body: { kind: 'practitioner', id, key: generateKeyPair().publicKey, org: org.id, roles },
    });
    const keystore = FileKeyStore.open(paths(org.dataDir).keystore, resolvePassphrase(org.dataDir));
    const store = AuthStore.open(org.dataDir, keystore);
    try {
      await store.addAccount({ id, kind: 'practitioner', username: id.slice(5), password: 'long enough password', display: id });
      const key = await signingKey(store, { create: false });
      return await mintAccessToken(key, {
        origin: apiOf(org),
        subject: id,
        clientId: 'medledger-cli',
        scope: 'user/*.cruds',
        ttlSeconds: 600,
      });
    } finally {
      store.close();
    }
  }

  async function fhir<T = Resource>(org: NetworkOrg, token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${apiOf(org)}/fhir/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** What organization 2's clinician sees of the patient, across custodians. */
  async function everythingAtB(): Promise<BundleEntry[]> {
    const reply = await fhir<Bundle>(b, tokenB, 'GET', `Patient/${patientAtB}/$everything`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const outcome = reply.body.entry?.find((e) => e.search?.mode === 'outcome')?.resource as OperationOutcome | undefined;
    assert.equal(outcome, undefined, `a custodian failed: ${JSON.stringify(outcome)}`);
    return reply.body.entry ?? [];
  }
  const fromA = (entries: BundleEntry[]) => entries.filter((e) => e.fullUrl?.startsWith(`${apiOf(a)}/fhir/`));

  /** Waits until every node's ledger holds an access event of organization 2's clinician matching `match`. */
  async function onEveryLedger(match: (e: NonNullable<LedgerTx['tx']['body']['events']>[number]) => boolean): Promise<void> {
    for (const org of orgs) {
      await waitFor(`${org.id} to hold the access event`, async () => {
        const { txs } = await getJson<{ txs: LedgerTx[] }>(
          org,
          `/api/v1/subjects/${pseudonym}/txs?limit=50`,
          await staffToken(org),
        );
        return txs.some(
          (t) =>
            t.tx.type === 'access.log' &&
            t.tx.signer === a.id &&
            (t.tx.body.events ?? []).some((e) => e.actor === 'prac_b-er' && match(e)),
        );
      });
    }
  }

  before(async () => {
    assert.ok(binary, 'cometbft is required (MEDLEDGER_REQUIRE_ALL=1): install it as .ci/run does or set COMETBFT_BIN');
    temp = tempDir('mlxnet-');
    const network = await createTestNetwork(temp.path, CHAIN);
    orgs = network.orgs;
    [a, b] = [orgs[0]!, orgs[1]!];
    for (const org of [a, b]) {
      const keystore = FileKeyStore.open(paths(org.dataDir).keystore, resolvePassphrase(org.dataDir));
      orgKeys.set(org.id, keyPairFromSeed(keystore.secretKey(ORG_KEY)!));
    }
    await Promise.all(orgs.map((org) => startOrg(org)));
    tokenA = await clinician(a, 'prac_a-gp');
    tokenB = await clinician(b, 'prac_b-er');

    // Organization 1 records a patient's history; the patient enrolls with a key of their own.
    const created = await fhir(a, tokenA, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Example' }] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    patientAtA = created.body.id!;
    const obs = await fhir(a, tokenA, 'POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }], text: `systolic ${MARKER}` },
      subject: { reference: `Patient/${created.body.id}` },
      valueQuantity: { value: 128, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
    });
    assert.equal(obs.status, 201, JSON.stringify(obs.body));
    const keystore = FileKeyStore.open(paths(a.dataDir).keystore, resolvePassphrase(a.dataDir));
    const vault = new VaultStore(vaultPaths(a.dataDir).db, keystore, { readonly: true });
    try {
      pseudonym = vault.pseudonymOf(created.body.id!)!;
    } finally {
      vault.close();
    }
    const keys = generateKeyPair();
    await asOrg(a, { type: 'participant.register', body: { kind: 'patient', id: pseudonym, key: keys.publicKey } });
    patient = new Identity(CHAIN, pseudonym, keys);
    // Organization 2's node commits the same block a moment later.
    await waitFor(`${b.id} to see the enrollment`, async () => {
      const res = await fetch(`${apiOf(b)}/api/v1/participants/${pseudonym}`);
      return res.status === 200;
    });

    // Organization 2 registers the same person by their network pseudonym.
    const linked = await fhir(b, tokenB, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: PSEUDONYM_SYSTEM, value: pseudonym }],
      name: [{ family: 'Example' }],
    });
    assert.equal(linked.status, 201, JSON.stringify(linked.body));
    patientAtB = linked.body.id!;
  });

  after(async () => {
    if (orgs) await Promise.all(orgs.map((org) => stopOrg(org, 'SIGKILL')));
    temp?.remove();
  });

  it('without a grant, organization 2 sees only its own record and the refusal is on every ledger', async () => {
    const entries = await everythingAtB();
    assert.deepEqual(fromA(entries), []);
    assert.deepEqual(
      entries.map((e) => e.resource?.resourceType),
      ['Patient'],
    );
    await onEveryLedger((e) => e.decision === 'deny');
  });

  let consent: string;
  it('the patient grants organization 2: its clinician reads organization 1’s records, logged under the consent everywhere', async () => {
    consent = randomPseudonym('cns');
    await submitTx(
      b,
      patient.sign({
        type: 'consent.grant',
        body: { id: consent, patient: pseudonym, grantee: b.id, purpose: 'TREAT', until: Date.now() + 3_600_000 },
      }),
    );
    const remote = fromA(await everythingAtB());
    assert.deepEqual(remote.map((e) => e.resource?.resourceType).sort(), ['Observation', 'Patient']);
    assert.match(JSON.stringify(remote), new RegExp(MARKER));
    await onEveryLedger((e) => e.decision === 'permit' && e.basis === 'consent' && e.grant === consent);
    // A search in the patient's compartment spans both custodians as well.
    const search = await fhir<Bundle>(
      b,
      tokenB,
      'GET',
      `Observation?patient=Patient/${patientAtB}&code=http://loinc.org|8480-6&_total=accurate`,
    );
    assert.equal(search.status, 200, JSON.stringify(search.body));
    assert.equal(search.body.total, 1);
    assert.deepEqual(
      fromA(search.body.entry ?? []).map((e) => [e.search?.mode, e.resource?.resourceType]),
      [['match', 'Observation']],
    );
    const none = await fhir<Bundle>(b, tokenB, 'GET', `Observation?patient=Patient/${patientAtB}&code=http://loinc.org|2339-0`);
    assert.deepEqual(none.body.entry ?? [], []);
  });

  it('revoked → denied; a consent that expired → denied', async () => {
    await submitTx(a, patient.sign({ type: 'consent.revoke', body: { id: consent } }));
    assert.deepEqual(fromA(await everythingAtB()), []);
    const brief = randomPseudonym('cns');
    const until = Date.now() + 6000;
    await submitTx(
      b,
      patient.sign({
        type: 'consent.grant',
        body: { id: brief, patient: pseudonym, grantee: b.id, purpose: 'TREAT', until },
      }),
    );
    assert.equal(fromA(await everythingAtB()).length, 2, 'in force');
    await new Promise((r) => setTimeout(r, until - Date.now() + 500));
    assert.deepEqual(fromA(await everythingAtB()), [], 'expired');
  });

  it('break-glass at organization 2 opens organization 1’s records too, accounted for on every ledger', async () => {
    const opened = await fhir(b, tokenB, 'POST', `Patient/${patientAtB}/$break-glass`, {
      resourceType: 'Parameters',
      parameter: [
        { name: 'reason', valueCode: 'emergency-treatment' },
        { name: 'justification', valueString: 'unconscious on arrival, history needed' },
        { name: 'minutes', valueInteger: 30 },
      ],
    });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.equal(fromA(await everythingAtB()).length, 2);
    await onEveryLedger((e) => e.decision === 'permit' && e.basis === 'break-glass');
  });

  const PULSE = 'http://loinc.org|8867-4';
  /** Organization 2's search for the patient's pulse readings, `_count=2`. */
  const pulseSearch = () => `Observation?patient=Patient/${patientAtB}&code=${PULSE}&_count=2`;
  const link = (page: Bundle, relation: string) => page.link?.find((l) => l.relation === relation)?.url;
  const matches = (page: Bundle) => (page.entry ?? []).filter((e) => e.search?.mode === 'match');

  /** `n` pulse readings of `subject` at `org` (one transaction Bundle); their fullUrls there. */
  async function pulses(org: NetworkOrg, token: string, subject: string, n: number): Promise<string[]> {
    const entry = Array.from({ length: n }, (_, i) => ({
      resource: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${subject}` },
        valueQuantity: { value: 60 + i, unit: '/min' },
      },
      request: { method: 'POST', url: 'Observation' },
    }));
    const reply = await fhir<Bundle>(org, token, 'POST', '', { resourceType: 'Bundle', type: 'transaction', entry });
    assert.equal(reply.status, 200, JSON.stringify(reply.body).slice(0, 500));
    return (reply.body.entry ?? []).map(
      (e) => `${apiOf(org)}/fhir/${/(?:^|\/)(Observation\/[^/]+)/.exec(e.response!.location!)![1]}`,
    );
  }

  /** One page of a search by organization 2's clinician. */
  async function pageAtB(path: string): Promise<Bundle> {
    const reply = await fhir<Bundle>(b, tokenB, 'GET', path);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  }

  /** Organization 2's pages of `query`, following `next` (absolute, on organization 2's base). */
  async function pagesAtB(query: string): Promise<Bundle[]> {
    const pages: Bundle[] = [];
    for (let path: string | undefined = query; path !== undefined && pages.length < 10;) {
      const page = await pageAtB(path);
      pages.push(page);
      const next = link(page, 'next');
      assert.ok(next === undefined || next.startsWith(`${apiOf(b)}/fhir/Observation?`), next);
      path = next?.slice(`${apiOf(b)}/fhir/`.length);
    }
    return pages;
  }

  it('a compartment search pages through every custodian: page k holds each one’s page k, until none has more', async () => {
    const local = await pulses(b, tokenB, patientAtB, 3);
    const remote = await pulses(a, tokenA, patientAtA, 5);
    // Counted or not (a custodian's full page then keeps the next link), the same three pages.
    for (const counted of [true, false]) {
      const pages = await pagesAtB(`${pulseSearch()}${counted ? '&_total=accurate' : ''}`);
      assert.deepEqual(
        pages.map((page) => matches(page).map((e) => (local.includes(e.fullUrl!) ? 'local' : 'remote'))),
        [['local', 'local', 'remote', 'remote'], ['local', 'remote', 'remote'], ['remote']],
      );
      const seen = pages.flatMap(matches);
      assert.deepEqual(seen.map((e) => e.fullUrl).sort(), [...local, ...remote].sort());
      for (const e of seen) assert.ok(e.fullUrl!.endsWith(`/Observation/${e.resource!.id}`), e.fullUrl);
      assert.deepEqual(
        pages.map((page) => page.total),
        counted ? [8, 8, 8] : [undefined, undefined, undefined],
      );
      assert.deepEqual(
        pages.slice(1).map((page) => link(page, 'previous')),
        pages.slice(0, -1).map((page) => link(page, 'self')),
      );
    }
    const beyond = await pageAtB(`${pulseSearch()}&_total=accurate&_offset=8`);
    assert.deepEqual([beyond.entry, beyond.total, link(beyond, 'next')], [undefined, 8, undefined]);
  });

  it('a custodian down on a later page is reported missing from it, not silently left out', async () => {
    const second = `${pulseSearch()}&_offset=2`;
    const atB = (page: Bundle) => matches(page).flatMap((e) => (e.fullUrl!.startsWith(`${apiOf(b)}/`) ? [e.fullUrl] : []));
    const healthy = await pageAtB(second);
    assert.equal(matches(healthy).length - atB(healthy).length, 2, 'organization 1’s page 2 while it is up');
    await stopOrg(a);
    try {
      const page = await pageAtB(second);
      assert.deepEqual(
        matches(page).map((e) => e.fullUrl),
        atB(healthy),
      );
      const outcome = page.entry?.find((e) => e.search?.mode === 'outcome')?.resource as OperationOutcome | undefined;
      assert.deepEqual(
        outcome?.issue.map((i) => [i.code, i.diagnostics?.includes(a.id)]),
        [['incomplete', true]],
      );
    } finally {
      await startOrg(a);
    }
    const { height } = await getJson<{ height: number }>(b, '/api/v1/status');
    await waitFor(`${a.id} to catch up`, async () => (await getJson<{ height: number }>(a, '/api/v1/status')).height >= height);
  });

  it('a population query by organization 2’s analyst merges every custodian’s partial before suppressing small cells', async () => {
    const DIABETES = 'http://snomed.info/sct|44054006';
    const analyst = await clinician(b, 'prac_b-analyst', ['analyst']);
    /** `n` patients with diabetes at `org` (one transaction Bundle); their pseudonyms there. */
    async function cohort(org: NetworkOrg, token: string, n: number): Promise<string[]> {
      const entry = Array.from({ length: n }, (_, i) => [
        {
          fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          resource: { resourceType: 'Patient', birthDate: `19${50 + i}-05-01`, gender: i % 2 ? 'female' : 'male' },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: {
            resourceType: 'Condition',
            subject: { reference: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
            code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
            onsetDateTime: '2025-03-10',
          },
          request: { method: 'POST', url: 'Condition' },
        },
      ]).flat();
      const reply = await fhir<Bundle>(org, token, 'POST', '', { resourceType: 'Bundle', type: 'transaction', entry });
      assert.equal(reply.status, 200, JSON.stringify(reply.body).slice(0, 500));
      const ids = (reply.body.entry ?? []).flatMap((e) => /(?:^|\/)Patient\/([^/]+)/.exec(e.response?.location ?? '')?.[1] ?? []);
      assert.equal(ids.length, n);
      const keystore = FileKeyStore.open(paths(org.dataDir).keystore, resolvePassphrase(org.dataDir));
      const vault = new VaultStore(vaultPaths(org.dataDir).db, keystore, { readonly: true });
      try {
        return ids.map((id) => vault.pseudonymOf(id)!);
      } finally {
        vault.close();
      }
    }
    const atA = await cohort(a, tokenA, 7);
    const atB = await cohort(b, tokenB, 6);
    // Everyone but the last patient at organization 1 opts in to public-health use by organization 2.
    const optIn = async (org: NetworkOrg, pseudonyms: string[]) => {
      for (const id of pseudonyms) {
        const keys = generateKeyPair();
        await asOrg(org, { type: 'participant.register', body: { kind: 'patient', id, key: keys.publicKey } });
        if (id === atA[6]) continue;
        await submitTx(
          org,
          new Identity(CHAIN, id, keys).sign({
            type: 'consent.grant',
            body: { id: randomPseudonym('cns'), patient: id, grantee: b.id, purpose: 'PUBHLTH', types: ['Condition'] },
          }),
        );
      }
    };
    await optIn(a, atA);
    await optIn(b, atB);
    const res = await fetch(`${apiOf(b)}/api/v1/population/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${analyst}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        purpose: 'PUBHLTH',
        type: 'Condition',
        code: DIABETES,
        interval: 'year',
        from: '2025-01-01T00:00:00Z',
        to: '2026-01-01T00:00:00Z',
      }),
    });
    const answer = (await res.json()) as {
      optedIn: number | null;
      cells: { period: string; patients: number | null; suppressed: boolean }[];
      custodians: { answered: string[]; missing: unknown[] };
    };
    assert.equal(res.status, 200, JSON.stringify(answer));
    // 6 + 6 opted in: each custodian alone is under k = 10, together they are not; the 7th never counts.
    assert.equal(answer.optedIn, 12, JSON.stringify(answer));
    assert.deepEqual(
      answer.cells.map((c) => [c.period.slice(0, 4), c.patients, c.suppressed]),
      [['2025', 12, false]],
    );
    assert.deepEqual([...answer.custodians.answered].sort(), orgs.map((o) => o.id).sort());
    assert.deepEqual(answer.custodians.missing, []);
    // Organization 1 logged the query for each of its six opted-in patients, on every ledger.
    for (const id of atA.slice(0, 6))
      for (const org of orgs)
        await waitFor(`${org.id}: aggregate event for ${id}`, async () => {
          const { txs } = await getJson<{ txs: LedgerTx[] }>(org, `/api/v1/subjects/${id}/txs?limit=20`, await staffToken(org));
          return txs.some(
            (t) =>
              t.tx.type === 'access.log' &&
              t.tx.signer === a.id &&
              (t.tx.body.events ?? []).some((e) => e.actor === 'prac_b-analyst' && e.decision === 'permit'),
          );
        });
  });

  it('all four nodes still agree on the latest block', async () => {
    const { height } = await getJson<{ height: number }>(a, '/api/v1/status');
    const hashes = await Promise.all(
      orgs.map(async (org) => {
        await waitFor(
          `${org.id} at ${height}`,
          async () => (await getJson<{ height: number }>(org, '/api/v1/status')).height >= height,
        );
        return (await getJson<{ hash: string }>(org, `/api/v1/blocks/${height}`)).hash;
      }),
    );
    assert.equal(new Set(hashes).size, 1);
  });
});
