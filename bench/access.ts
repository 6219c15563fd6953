/**
 * Access decision latency (issue target: p99 ≤ 1 ms) on a real node: P patients enrolled, each
 * granting consent to a second organization, some with several grants and periods; decisions for
 * practitioners with and without grants, memo warm (same height) and cold (a new block just
 * committed). `node dist/bench/access.js [patients]` writes bench/results/access.{json,md}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair, keyPairFromSeed } from '../src/crypto/ed25519.js';
import { initDataDir, ORG_KEY } from '../src/node/data-dir.js';
import { LedgerNode } from '../src/node/ledger-node.js';
import { decide, type Requester } from '../src/access/policy.js';
import { HeightMemoAccessState } from '../src/access/ledger-state.js';
import type { SignedTx } from '../src/ledger/tx.js';

const PASSPHRASE = 'bench passphrase';
const DECISIONS = 200_000;

export interface AccessBenchRow {
  readonly case: string;
  readonly decisions: number;
  readonly permits: number;
  readonly cold: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface AccessBenchResult {
  readonly patients: number;
  readonly consents: number;
  readonly rows: readonly AccessBenchRow[];
}

/** The markdown rows of the access section. */
export function accessTable(result: AccessBenchResult): string[] {
  return [
    '',
    `| access decision (${result.patients.toLocaleString('en')} patients, ${result.consents.toLocaleString('en')} consents) | decisions | permitted | p50 (ms) | p99 (ms) | max (ms) |`,
    '|---|---:|---:|---:|---:|---:|',
    ...result.rows.map(
      (r) =>
        `| ${r.case} | ${r.decisions} | ${r.permits} | ${r.p50Ms.toFixed(4)} | ${r.p99Ms.toFixed(4)} | ${r.maxMs.toFixed(2)} |`,
    ),
  ];
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function commitAll(node: LedgerNode, txs: SignedTx[]): Promise<void> {
  const outcomes = await Promise.all(txs.map((tx) => node.submit(tx.wire)));
  const failed = outcomes.find((o) => !o.ok);
  if (failed && !failed.ok) throw new Error(`${failed.error.code}: ${failed.error.message}`);
}

export async function runAccessBench(patients: number): Promise<AccessBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'medledger-bench-access-'));
  try {
    initDataDir(dir, { chain: 'bench', orgId: 'org_bench-a', orgName: 'Bench A', passphrase: PASSPHRASE });
    const node = LedgerNode.open({ dataDir: dir, passphrase: PASSPHRASE });
    const orgA = new Identity('bench', 'org_bench-a', keyPairFromSeed(node.keystore.secretKey(ORG_KEY)!), 0);
    const orgB = new Identity('bench', 'org_bench-b');
    const pracA = 'prac_a-clinician';
    const pracB = 'prac_b-clinician';
    // Organizations are admitted by the validators; the solo node's own approval suffices.
    const admitted = await node.submitAsValidator({
      type: 'governance.propose',
      body: { id: 'gov_admit-b', until: 1000, action: 'admit-organization', org: orgB.id, key: orgB.publicKey, name: 'Bench B' },
    });
    if (!admitted.ok) throw new Error(`${admitted.error.code}: ${admitted.error.message}`);
    await commitAll(node, [
      orgA.sign({
        type: 'participant.register',
        body: { kind: 'practitioner', id: pracA, key: generateKeyPair().publicKey, org: orgA.id, roles: ['clinician'] },
      }),
      orgB.sign({
        type: 'participant.register',
        body: { kind: 'practitioner', id: pracB, key: generateKeyPair().publicKey, org: orgB.id, roles: ['clinician'] },
      }),
    ]);
    const people = Array.from({ length: patients }, () => new Identity('bench', randomPseudonym('pat')));
    await commitAll(
      node,
      people.map((p) => orgA.sign({ type: 'participant.register', body: { kind: 'patient', id: p.id, key: p.publicKey } })),
    );
    const now = Date.now();
    // Half grant org B everything; a quarter grant two narrower consents; the rest grant nothing.
    const grants: SignedTx[] = [];
    people.forEach((p, i) => {
      const id = (): string => randomPseudonym('cns');
      if (i % 4 < 2)
        grants.push(p.sign({ type: 'consent.grant', body: { id: id(), patient: p.id, grantee: orgB.id, purpose: 'TREAT' } }));
      else if (i % 4 === 2) {
        grants.push(
          p.sign({
            type: 'consent.grant',
            body: { id: id(), patient: p.id, grantee: pracB, purpose: 'TREAT', types: ['Observation'], until: now + 86_400_000 },
          }),
        );
        grants.push(
          p.sign({
            type: 'consent.grant',
            body: { id: id(), patient: p.id, grantee: orgB.id, purpose: 'HRESCH', types: ['Condition'] },
          }),
        );
      }
    });
    await commitAll(node, grants);

    const requesters: Requester[] = [
      { kind: 'practitioner', id: pracB, org: orgB.id },
      { kind: 'practitioner', id: pracA, org: orgA.id },
    ];
    const types = ['Observation', 'Condition', 'MedicationRequest'];
    const measure = (label: string, coldEvery: number): AccessBenchRow => {
      const state = new HeightMemoAccessState(node.chain.app);
      const times = new Float64Array(DECISIONS);
      let permits = 0;
      let cold = 0;
      for (let i = 0; i < DECISIONS; i++) {
        // A "cold" decision sees a fresh memo, as after a new block.
        const memo = coldEvery > 0 && i % coldEvery === 0 ? new HeightMemoAccessState(node.chain.app) : state;
        if (memo !== state) cold++;
        const patient = people[(i * 7919) % people.length]!.id;
        const start = process.hrtime.bigint();
        const decision = decide(memo, 'authors', {
          requester: requesters[i % 2]!,
          record: { patient, type: types[i % 3]!, custodian: orgA.id, authors: [pracA] },
          purpose: 'TREAT',
          now,
        });
        times[i] = Number(process.hrtime.bigint() - start) / 1e6;
        if (decision.permit) permits++;
      }
      times.sort();
      return {
        case: label,
        decisions: DECISIONS,
        permits,
        cold,
        p50Ms: percentile(times, 0.5),
        p99Ms: percentile(times, 0.99),
        maxMs: times[times.length - 1]!,
      };
    };
    const rows = [measure('memo warm', 0), measure('memo cold (new state per decision)', 1)];
    await node.close();

    return { patients, consents: grants.length, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node dist/bench/access.js [patients]`: this section alone, written to bench/results/access.{json,md}.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runAccessBench(Number(process.argv[2] ?? 2_000));
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
  const date = new Date().toISOString();
  const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'access.json'), `${JSON.stringify({ date, machine, ...result }, null, 2)}\n`);
  const table = [
    `MedLedger access decision benchmark — ${date.slice(0, 10)}, ${machine.cpus} cores, Node ${machine.node}`,
    ...accessTable(result),
  ];
  writeFileSync(join(outDir, 'access.md'), `${table.join('\n')}\n`);
  console.log(table.join('\n'));
}
