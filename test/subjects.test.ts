/**
 * The subject index: committed transactions listed by the participant, consent, break-glass
 * opening or erasure request they concern — "who accessed my record" without a log scan — over
 * the ledger API, with paging, and rebuilt for a data directory written before the index existed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3-multiple-ciphers';
import { randomPseudonym } from '../src/client/identity.js';
import { utf8 } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import { subjectsOf } from '../src/ledger/subjects.js';
import { paths } from '../src/node/data-dir.js';
import type { TxPayload } from '../src/ledger/tx.js';
import { authFetch } from './support/fhir-api.js';
import {
  registerPatient,
  registerPractitioner,
  startTestNode,
  startTestServer,
  tempDir,
  initTestDir,
} from './support/fixtures.js';

const consentId = (label: string): string => randomPseudonym('cns', sha256(utf8(label)));

describe('subject index', () => {
  test('subjectsOf names signer, patient, grantee and grant', () => {
    const tx = {
      chain: 'c',
      signer: 'pat_aaaaaaaaaaaaaaaaaaaaaaaaaa',
      key: new Uint8Array(32),
      seq: 0,
      type: 'consent.grant',
      body: { id: consentId('x'), patient: 'pat_aaaaaaaaaaaaaaaaaaaaaaaaaa', grantee: 'org_b', purpose: 'TREAT' },
    } as const;
    assert.deepEqual(subjectsOf(tx), [consentId('x'), 'org_b', 'pat_aaaaaaaaaaaaaaaaaaaaaaaaaa']);
  });

  test('a patient lists the transactions about them over HTTP, newest first, in pages', async () => {
    const server = await startTestServer();
    try {
      const { tx, patient } = registerPatient(server.org);
      await server.commit(tx);
      const clinician = 'prac_subject-clinician';
      await server.commit(registerPractitioner(server.org, clinician).tx);
      const grant: TxPayload = {
        type: 'consent.grant',
        body: { id: consentId('http'), patient: patient.id, grantee: server.org.id, purpose: 'TREAT' },
      };
      await server.commit(patient.sign(grant));
      for (let i = 0; i < 3; i++) {
        const log: TxPayload = {
          type: 'access.log',
          body: {
            events: [
              {
                actor: clinician,
                patient: patient.id,
                action: 'read',
                at: Date.now() + i,
                records: [],
                decision: 'permit',
                basis: 'consent',
                grant: consentId('http'),
              },
            ],
          },
        };
        await server.commit(server.org.sign(log));
      }
      const page1 = (await (await authFetch(`${server.url}/api/v1/subjects/${patient.id}/txs?limit=3`)).json()) as {
        txs: { index: number; tx: { type: string } }[];
        next?: { before: number };
      };
      assert.deepEqual(
        page1.txs.map((t) => t.tx.type),
        ['access.log', 'access.log', 'access.log'],
      );
      assert.ok(page1.txs[0]!.index > page1.txs[1]!.index, 'newest first');
      assert.ok(page1.next);
      const page2 = (await (
        await authFetch(`${server.url}/api/v1/subjects/${patient.id}/txs?before=${page1.next.before}`)
      ).json()) as {
        txs: { tx: { type: string } }[];
        next?: unknown;
      };
      assert.deepEqual(
        page2.txs.map((t) => t.tx.type),
        ['consent.grant', 'participant.register'],
      );
      assert.equal(page2.next, undefined);
      const byGrant = (await (await authFetch(`${server.url}/api/v1/subjects/${consentId('http')}/txs`)).json()) as {
        txs: unknown[];
      };
      assert.equal(byGrant.txs.length, 4, 'the grant and the three accesses under it');
      const bad = await authFetch(`${server.url}/api/v1/subjects/Jane%20Doe/txs`);
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { code: string }).code, 'request.invalid');
    } finally {
      await server.close();
    }
  });

  test('a privacy officer lists the emergency accesses awaiting review, in pages, until reviewed', async () => {
    const server = await startTestServer();
    try {
      await server.commit(registerPractitioner(server.org, 'prac_bg-clinician').tx);
      const { tx, patient } = registerPatient(server.org);
      await server.commit(tx);
      const openings: string[] = [];
      for (let i = 0; i < 3; i++) {
        const id = randomPseudonym('bg', sha256(utf8(`bg-${i}`)));
        openings.push(id);
        const open: TxPayload = {
          type: 'access.break_glass',
          body: {
            id,
            practitioner: 'prac_bg-clinician',
            patient: patient.id,
            reason: 'imminent-risk',
            justification: sha256(utf8('why')),
            minutes: 30,
          },
        };
        await server.commit(server.org.sign(open));
      }
      const list = async (query = ''): Promise<{ openings: { id: string }[]; next?: { after: string } }> =>
        (await (
          await authFetch(`${server.url}/api/v1/organizations/${server.org.id}/break-glass/unreviewed${query}`)
        ).json()) as {
          openings: { id: string }[];
          next?: { after: string };
        };
      const first = await list('?limit=2');
      const rest = await list(`?after=${first.next!.after}`);
      assert.deepEqual(
        [...first.openings, ...rest.openings].map((o) => o.id),
        [...openings].sort(),
      );
      const reviewTx: TxPayload = {
        type: 'access.review',
        body: { opening: openings[0]!, outcome: 'justified', notes: sha256(utf8('ok')) },
      };
      await server.commit(server.org.sign(reviewTx));
      assert.deepEqual(
        (await list()).openings.map((o) => o.id),
        openings.slice(1).sort(),
      );
    } finally {
      await server.close();
    }
  });

  test('a data directory without index rows is indexed when the node opens', async () => {
    const dir = tempDir();
    try {
      initTestDir(dir.path);
      let t = await startTestNode({ dir: dir.path });
      const { tx, patient } = registerPatient(t.org);
      await t.commit(tx);
      await t.close();
      const db = new Database(paths(dir.path).ledger);
      db.exec('DELETE FROM tx_subjects');
      db.close();
      t = await startTestNode({ dir: dir.path });
      assert.equal(t.node.chain.store.txsBySubject(patient.id).length, 1);
      await t.close();
    } finally {
      dir.remove();
    }
  });
});
