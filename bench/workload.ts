/**
 * Benchmark workload: an organization enrolls registrar practitioners, who then enroll patients
 * (random pseudonyms and keys). Each registrar signs with its own sequence, so many clients can
 * submit concurrently, as the desks of a hospital would.
 */
import { randomBytes } from 'node:crypto';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import type { SignedTx } from '../src/ledger/tx.js';

export function registrarTxs(org: Identity, count: number): { txs: SignedTx[]; registrars: Identity[] } {
  const registrars: Identity[] = [];
  const txs: SignedTx[] = [];
  for (let i = 0; i < count; i++) {
    const keyPair = generateKeyPair();
    const id = `prac_bench-registrar-${i}`;
    txs.push(
      org.sign({
        type: 'participant.register',
        body: { kind: 'practitioner', id, key: keyPair.publicKey, org: org.id, roles: ['registrar'] },
      }),
    );
    registrars.push(new Identity(org.chain, id, keyPair));
  }
  return { txs, registrars };
}

/** One patient enrollment. The patient key is random bytes: only the registrar signs here. */
export function enrollment(registrar: Identity): Uint8Array {
  return registrar.sign({
    type: 'participant.register',
    body: { kind: 'patient', id: randomPseudonym('pat', randomBytes(17)), key: new Uint8Array(randomBytes(32)) },
  }).wire;
}
