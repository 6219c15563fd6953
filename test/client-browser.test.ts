/**
 * The client SDK as a browser would run it: a child Node process loads src/client/index.ts through
 * module hooks (test/support/browser-hooks.ts) that apply exactly the two aliases a web build needs
 * (src/crypto/ed25519 → src/client/browser/ed25519, src/crypto/hash → src/client/browser/hash),
 * refuse every Node built-in and any package but @noble/* from src/, and run without Buffer. The
 * results must be byte-identical to the node's (libsodium, node:crypto): keys, signatures,
 * transaction bytes, backups, recovery, checkpoints and every transparency-dev Merkle vector.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { keyPairFromSeed, verify } from '../src/crypto/ed25519.js';
import { fromBase64, fromHex, toHex } from '../src/crypto/bytes.js';
import { decodeTx, signingBytes } from '../src/ledger/tx.js';
import { EMPTY_ROOT, verifyConsistency, verifyInclusion } from '../src/ledger/merkle.js';

const support = (name: string): string => fileURLToPath(new URL(`./support/${name}`, import.meta.url));
const vectorDir = new URL('../../test/vectors/transparency-dev-merkle/', import.meta.url);

function runBrowserLike(script: string): { status: number | null; stdout: string; stderr: string; loaded: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'medledger-browser-'));
  const log = join(dir, 'loaded.txt');
  try {
    const child = spawnSync(process.execPath, ['--import', support('browser-register.js'), script], {
      env: { ...process.env, MEDLEDGER_BROWSER_LOG: log },
      encoding: 'utf8',
      timeout: 60_000,
    });
    let loaded: string[] = [];
    try {
      loaded = readFileSync(log, 'utf8').trim().split('\n');
    } catch {
      loaded = [];
    }
    return { status: child.status, stdout: child.stdout, stderr: child.stderr, loaded };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readVectors(name: string): Record<string, unknown>[] {
  const text = readFileSync(new URL(name, vectorDir), 'utf8');
  return JSON.parse(text.replace(/("(?:leafIdx|treeSize|size1|size2)":\s*)(\d{16,})/g, '$1"$2"'));
}
const b64 = (text: unknown): Uint8Array => fromBase64(String(text))!;
const u64 = (value: unknown): number => (typeof value === 'number' ? value : Number(BigInt(String(value))));
const proofOf = (value: unknown): Uint8Array[] => ((value as string[] | null) ?? []).map(b64);

describe('client SDK in a browser-like runtime', () => {
  it('runs end to end with only the two aliases, no Node built-ins, no sodium-native, no Buffer', () => {
    const run = runBrowserLike(support('browser-harness.js'));
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as Record<string, unknown> & { inclusion: boolean[]; consistency: boolean[] };

    assert.equal(out['buffer'], 'undefined');
    assert.ok(run.loaded.includes('dist/src/client/browser/ed25519.js'));
    assert.ok(run.loaded.includes('dist/src/client/browser/hash.js'));
    for (const forbidden of ['dist/src/crypto/ed25519.js', 'dist/src/crypto/hash.js'])
      assert.ok(!run.loaded.includes(forbidden), forbidden);

    const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nodeKeys = keyPairFromSeed(seed);
    assert.equal(out['publicKey'], toHex(nodeKeys.publicKey));
    const wire = fromHex(String(out['wire']))!;
    const decoded = decodeTx(wire, 'test-chain');
    assert.ok(decoded.ok, 'the node accepts the transaction signed in the browser');
    assert.equal(toHex(decoded.value.signature), out['signature']);
    assert.ok(verify(decoded.value.signature, signingBytes(decoded.value.body), nodeKeys.publicKey));
    for (const flag of ['decoded', 'aliasSameWire', 'backupOpened', 'recovered', 'included']) assert.equal(out[flag], true, flag);
    assert.equal(out['emptyRoot'], toHex(EMPTY_ROOT));

    const inclusion = readVectors('inclusion.json');
    const consistency = readVectors('consistency.json');
    assert.equal(out.inclusion.length, inclusion.length);
    assert.equal(out.consistency.length, consistency.length);
    inclusion.forEach((v, i) => {
      const node = verifyInclusion(
        b64(v['leafHash']),
        u64(v['leafIdx']),
        u64(v['treeSize']),
        proofOf(v['proof']),
        b64(v['root']),
      );
      assert.equal(out.inclusion[i], node, String(v['file']));
      assert.equal(node, !v['wantErr'], String(v['file']));
    });
    consistency.forEach((v, i) => {
      const node = verifyConsistency(u64(v['size1']), u64(v['size2']), proofOf(v['proof']), b64(v['root1']), b64(v['root2']));
      assert.equal(out.consistency[i], node, String(v['file']));
    });
    // Both outcomes occur: the happy paths verify, the tampered probes do not.
    assert.ok(out.inclusion.filter(Boolean).length >= 6 && out.inclusion.includes(false));
    assert.ok(out.consistency.filter(Boolean).length >= 6 && out.consistency.includes(false));
  });

  it('the hooks do refuse node-only modules (a module that imports node:fs fails to load)', () => {
    const run = runBrowserLike(fileURLToPath(new URL('../src/node/data-dir.js', import.meta.url)));
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /browser build: .* imports the Node built-in/);
  });
});
