/**
 * Demo patients on the ledger: each demo patient is enrolled under its pseudonym with a key
 * generated here — standing in for the patient's own device, which a demo does not have; the
 * key is not kept — and grants the node's organization consent for treatment, except every
 * tenth patient, who has not consented: their records stay hidden from clinicians until a
 * consent or an emergency access opens them. Three in four of those who consent also opt in to
 * research (HRESCH), so the population statistics have a cohort. The first DEMO_WEB_PATIENTS patients are the demo's
 * patient logins (src/demo/accounts.ts): they are left unenrolled, so that their first sign-in to
 * the web app makes their key on their own device and enrolls it (POST /api/v1/enrollments), as a
 * real patient would; until they share, clinicians do not see them. Idempotent: enrolled patients
 * are skipped.
 */
import { randomBytes } from 'node:crypto';
import { Identity, randomPseudonym } from '../client/identity.js';
import { generateKeyPair } from '../crypto/ed25519.js';
import type { FhirRepository } from '../fhir/repository.js';
import type { LedgerNode } from '../node/ledger-node.js';
import type { SignedTx } from '../ledger/tx.js';

/** Demo patients at these positions (0-based, in load order) have not consented. */
export const withholdsConsent = (position: number): boolean => position % 10 === 9;

/** Of the patients who consent to treatment, these also opt in to research (population statistics). */
export const joinsResearch = (position: number): boolean => !withholdsConsent(position) && position % 4 !== 3;

/** The first patients (in load order) get web logins and enroll themselves on first sign-in. */
export const DEMO_WEB_PATIENTS = 2;

export interface DemoConsents {
  readonly enrolled: number;
  readonly consented: number;
}

export async function ensureDemoConsents(node: LedgerNode, repository: FhirRepository): Promise<DemoConsents> {
  const patients = repository.vault.db
    .prepare("SELECT id FROM current WHERE type = 'Patient' AND deleted = 0 AND version > 0 ORDER BY res")
    .pluck()
    .all() as string[];
  let enrolled = 0;
  let consented = 0;
  const grants: Promise<unknown>[] = [];
  for (const [position, patientId] of patients.entries()) {
    const pseudonym = repository.vault.patientPseudonym(patientId, { create: true })!;
    if (node.chain.app.participant(pseudonym) || position < DEMO_WEB_PATIENTS) continue;
    const device = new Identity(node.chain.chainId, pseudonym, generateKeyPair());
    const registered = await node.submitOwn({
      type: 'participant.register',
      body: { kind: 'patient', id: pseudonym, key: device.publicKey },
    });
    if (!registered.ok) throw new Error(`enrolling ${pseudonym}: ${registered.error.message}`);
    enrolled++;
    if (withholdsConsent(position)) continue;
    const grant: SignedTx = device.sign({
      type: 'consent.grant',
      body: {
        id: randomPseudonym('cns', randomBytes(17)),
        patient: pseudonym,
        grantee: node.org.id,
        purpose: 'TREAT',
      },
    });
    const research: SignedTx | undefined = joinsResearch(position)
      ? device.sign({
          type: 'consent.grant',
          body: { id: randomPseudonym('cns', randomBytes(17)), patient: pseudonym, grantee: node.org.id, purpose: 'HRESCH' },
        })
      : undefined;
    grants.push(
      node.submit(grant.wire).then(async (outcome) => {
        if (!outcome.ok) throw new Error(`consent of ${pseudonym}: ${outcome.error.message}`);
        consented++;
        const opted = research && (await node.submit(research.wire));
        if (opted && !opted.ok) throw new Error(`research consent of ${pseudonym}: ${opted.error.message}`);
      }),
    );
  }
  await Promise.all(grants);
  return { enrolled, consented };
}
