/**
 * Consents and access events as FHIR R4 resources: every shape they take validates against the
 * R4 schema, carries what a reader needs (status, period, grantee, purpose, classes; BALP agent,
 * outcome, patient and record entities) and nothing clinical.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AccessEvent } from '../src/ledger/payloads/access.js';
import { validateResource } from '../src/fhir/validation/validate.js';
import {
  auditEventResource,
  consentResource,
  consentStatus,
  PARTICIPANT_SYSTEM,
  RECORD_SYSTEM,
} from '../src/access/fhir-views.js';
import type { Consent } from '../src/state/consents.js';

const PATIENT = 'pat_abcdefghijklmnopqrstuvwxyz';
const T0 = Date.UTC(2026, 0, 1);

const consentArb: fc.Arbitrary<Consent> = fc
  .record(
    {
      types: fc.subarray(['Condition', 'Observation', 'MedicationRequest'], { minLength: 1 }),
      from: fc.integer({ min: 0, max: 1000 }),
      span: fc.integer({ min: 1, max: 1000 }),
      revoked: fc.integer({ min: 0, max: 2000 }),
      purpose: fc.constantFrom('TREAT' as const, 'HRESCH' as const, 'PUBHLTH' as const),
      grantee: fc.constantFrom('org_city-clinic', 'prac_dr-who'),
    },
    { requiredKeys: ['purpose', 'grantee'] },
  )
  .map((r) => ({
    id: 'cns_abcdefghijklmnopqrstuvwxyz',
    patient: PATIENT,
    grantee: r.grantee,
    purpose: r.purpose,
    ...(r.types && { types: r.types }),
    ...(r.from !== undefined && { from: T0 + r.from * 60_000 }),
    ...(r.span !== undefined && { until: T0 + ((r.from ?? 0) + r.span) * 60_000 }),
    grantedAt: 5,
    grantedTime: T0,
    ...(r.revoked !== undefined && { revokedAt: 9, revokedTime: T0 + r.revoked * 60_000 }),
  }));

function assertValid(resource: unknown): void {
  const result = validateResource(resource);
  assert.ok(result.ok, JSON.stringify(result.ok ? [] : result.issues, null, 1));
}

describe('Consent view', () => {
  test('every consent shape is a valid R4 Consent naming grantee, purpose, period and classes', () => {
    fc.assert(
      fc.property(consentArb, fc.boolean(), fc.integer({ min: 0, max: 3000 }), (consent, known, minutes) => {
        const now = T0 + minutes * 60_000;
        const resource = consentResource(consent, { now, ...(known && { patientId: 'example-patient' }) });
        assertValid(resource);
        assert.equal(resource.status, consentStatus(consent, now));
        assert.equal(resource.provision?.actor?.[0]?.reference.identifier?.value, consent.grantee);
        assert.equal(resource.provision?.purpose?.[0]?.code, consent.purpose);
        assert.deepEqual(
          resource.provision?.class?.map((c) => c.code),
          consent.types,
        );
        assert.equal(resource.patient?.reference, known ? 'Patient/example-patient' : undefined);
      }),
      { numRuns: 100 },
    );
  });

  test('status: active until revoked or past its end', () => {
    const base: Consent = {
      id: 'cns_abcdefghijklmnopqrstuvwxyz',
      patient: PATIENT,
      grantee: 'org_a',
      purpose: 'TREAT',
      grantedAt: 1,
      grantedTime: T0,
      until: T0 + 10,
    };
    assert.equal(consentStatus(base, T0 + 9), 'active');
    assert.equal(consentStatus(base, T0 + 10), 'inactive');
    assert.equal(consentStatus({ ...base, revokedAt: 2, revokedTime: T0 + 1 }, T0 + 2), 'inactive');
  });
});

describe('AuditEvent view (IHE BALP)', () => {
  const tx = { index: 41, hash: new Uint8Array(32).fill(7), signer: 'org_city-clinic' };
  const events: AccessEvent[] = [
    {
      actor: 'prac_dr-who',
      patient: PATIENT,
      action: 'read',
      at: T0,
      records: ['rec_abcdefghijklmnopqrstuvwxyz'],
      decision: 'permit',
      basis: 'consent',
      grant: 'cns_abcdefghijklmnopqrstuvwxyz',
    },
    {
      actor: 'prac_dr-who',
      patient: PATIENT,
      action: 'everything',
      at: T0,
      records: [],
      decision: 'permit',
      basis: 'break-glass',
      grant: 'bg_abcdefghijklmnopqrstuvwxyz',
    },
    { actor: 'org_city-clinic', patient: PATIENT, action: 'search', at: T0, records: [], decision: 'deny' },
    { actor: PATIENT, patient: PATIENT, action: 'history', at: T0, records: [], decision: 'permit', basis: 'self' },
  ];

  test('each access event is a valid AuditEvent with agent, outcome, purpose and entities', () => {
    events.forEach((event, i) => {
      const resource = auditEventResource(tx, i, event, i % 2 === 0 ? 'example-patient' : undefined);
      assertValid(resource);
      assert.equal(resource.id, `41-${i}`);
      assert.equal(resource.agent[0]?.who?.identifier?.system, PARTICIPANT_SYSTEM);
      assert.equal(resource.agent[0]?.who?.identifier?.value, event.actor);
    });
    const [consented, emergency, denied] = events.map((e, i) => auditEventResource(tx, i, e));
    assert.deepEqual(consented!.agent[0]?.policy, ['urn:medledger:consent:cns_abcdefghijklmnopqrstuvwxyz']);
    assert.equal(consented!.entity?.filter((e) => e.what?.identifier?.system === RECORD_SYSTEM).length, 1);
    assert.equal(emergency!.purposeOfEvent?.[0]?.coding?.[0]?.code, 'ETREAT');
    assert.equal(consented!.purposeOfEvent?.[0]?.coding?.[0]?.code, 'TREAT');
    // A population query's event shows the purpose of the consent it relied on.
    const research = auditEventResource(tx, 0, events[0]!, undefined, 'PUBHLTH');
    assertValid(research);
    assert.equal(research.purposeOfEvent?.[0]?.coding?.[0]?.code, 'PUBHLTH');
    assert.equal(denied!.outcome, '4');
    assert.equal(consented!.outcome, '0');
  });
});
