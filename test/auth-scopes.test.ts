/** SMART scope parsing and the scope/compartment policy (pure), with property tests. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatScope,
  grants,
  intersect,
  parseScope,
  parseScopes,
  PERMISSIONS,
  SCOPE_CONTEXTS,
  type Permission,
} from '../src/auth/scopes.js';
import { inCompartment, mayAccess, scopeAllows } from '../src/auth/policy.js';
import type { Principal } from '../src/auth/principal.js';

const TYPES = ['Patient', 'Observation', 'Condition', 'Binary', 'Practitioner', '*'];
const permsArb = fc
  .subarray([...PERMISSIONS], { minLength: 1 })
  .map((ps) => PERMISSIONS.filter((p) => ps.includes(p)) as Permission[]);
const scopeArb = fc.record({
  context: fc.constantFrom(...SCOPE_CONTEXTS),
  type: fc.constantFrom(...TYPES),
  permissions: permsArb,
});

describe('SMART scopes: parsing', () => {
  it('parses v2 scopes', () => {
    assert.deepEqual(parseScope('patient/*.rs'), { ok: true, scope: { context: 'patient', type: '*', permissions: ['r', 's'] } });
    assert.deepEqual(parseScope('user/Observation.cruds'), {
      ok: true,
      scope: { context: 'user', type: 'Observation', permissions: ['c', 'r', 'u', 'd', 's'] },
    });
    assert.deepEqual(parseScope('system/*.r'), { ok: true, scope: { context: 'system', type: '*', permissions: ['r'] } });
  });

  it('maps v1 read/write/* to rs/cud/cruds', () => {
    const perms = (s: string) => {
      const p = parseScope(s);
      return p.ok && 'scope' in p ? p.scope.permissions.join('') : undefined;
    };
    assert.equal(perms('patient/Observation.read'), 'rs');
    assert.equal(perms('user/*.write'), 'cud');
    assert.equal(perms('system/*.*'), 'cruds');
  });

  it('rejects malformed resource scopes and granular queries; keeps other scopes', () => {
    for (const bad of [
      'patient/*.sr',
      'patient/*.rr',
      'user/*.x',
      'user/*.',
      'user/observation.r',
      'system/Observation',
      'patient/Observation.rs?category=laboratory',
      'user/*.crudsx',
    ]) {
      assert.equal(parseScope(bad).ok, false, bad);
    }
    assert.deepEqual(parseScope('launch/patient'), { ok: true, other: 'launch/patient' });
    assert.deepEqual(parseScope('openid'), { ok: true, other: 'openid' });
    const { scopes, rejected } = parseScopes('openid  fhirUser patient/*.rs patient/*.rs bogus/*.x user/*.zz');
    assert.deepEqual(scopes.other, ['openid', 'fhirUser', 'bogus/*.x']);
    assert.equal(scopes.resources.length, 1);
    assert.deepEqual(rejected, ['user/*.zz']);
  });

  it('property: format then parse is the identity on v2 scopes', () => {
    fc.assert(
      fc.property(scopeArb, (scope) => {
        const parsed = parseScope(formatScope(scope));
        assert.ok(parsed.ok && 'scope' in parsed);
        assert.deepEqual(parsed.scope, { ...scope });
      }),
    );
  });

  it('property: any permission string that is not an ordered subset of cruds is rejected', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SCOPE_CONTEXTS), fc.string({ minLength: 1, maxLength: 6 }), (context, suffix) => {
        const valid = /^c?r?u?d?s?$/.test(suffix) || ['read', 'write', '*'].includes(suffix);
        const parsed = parseScope(`${context}/Observation.${suffix}`);
        if (!valid || suffix.includes(' ')) assert.equal(parsed.ok && 'scope' in parsed, false, suffix);
        else assert.equal(parsed.ok, true, suffix);
      }),
    );
  });

  it('property: parsing never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => void parseScopes(s)));
  });

  it('property: grants is exact — a scope grants p on t iff its context matches, type is t or *, and p is listed', () => {
    fc.assert(
      fc.property(
        fc.array(scopeArb, { maxLength: 5 }),
        fc.constantFrom(...SCOPE_CONTEXTS),
        fc.constantFrom(...TYPES.slice(0, 5)),
        fc.constantFrom(...PERMISSIONS),
        (resources, ctx, type, p) => {
          const expected = resources.some(
            (s) => s.context === ctx && (s.type === '*' || s.type === type) && s.permissions.includes(p),
          );
          assert.equal(grants({ resources, other: [] }, [ctx], type, p), expected);
        },
      ),
    );
  });

  it('property: intersect never grants more than either side', () => {
    fc.assert(
      fc.property(
        fc.array(scopeArb, { maxLength: 4 }),
        fc.array(scopeArb, { maxLength: 4 }),
        fc.constantFrom(...SCOPE_CONTEXTS),
        fc.constantFrom(...TYPES.slice(0, 5)),
        fc.constantFrom(...PERMISSIONS),
        (a, b, ctx, type, p) => {
          const both = intersect({ resources: a, other: [] }, { resources: b, other: [] });
          if (grants(both, [ctx], type, p)) {
            assert.ok(grants({ resources: a, other: [] }, [ctx], type, p));
            assert.ok(grants({ resources: b, other: [] }, [ctx], type, p));
          }
        },
      ),
    );
  });
});

describe('SMART scopes: policy', () => {
  const scopes = (s: string) => parseScopes(s).scopes;
  const patient: Principal = {
    kind: 'patient',
    id: 'pat_aaaaaaaaaaaaaaaaaaaaaaaaaa',
    patient: 'p1',
    scopes: scopes('patient/*.cruds'),
    client: 'app',
  };
  const clinician: Principal = {
    kind: 'practitioner',
    id: 'prac_x',
    org: 'org_a',
    roles: ['clinician'],
    scopes: scopes('user/Observation.rs patient/*.cruds'),
    client: 'app',
  };
  const system: Principal = { kind: 'system', client: 'svc', org: 'org_a', scopes: scopes('system/*.r user/*.cruds') };
  const obs = (p: string) =>
    ({ resourceType: 'Observation', status: 'final', code: {}, subject: { reference: `Patient/${p}` } }) as never;

  it('each principal uses only its own scope context', () => {
    assert.equal(scopeAllows(clinician, 'Observation', 'r'), true);
    assert.equal(scopeAllows(clinician, 'Observation', 'c'), false);
    assert.equal(
      scopeAllows(clinician, 'Condition', 'r'),
      false,
      'patient/ scopes do not apply to a practitioner without launch context',
    );
    assert.equal(scopeAllows(system, 'Condition', 'r'), true);
    assert.equal(scopeAllows(system, 'Condition', 'c'), false, 'user/ scopes do not apply to a backend service');
    assert.equal(scopeAllows(patient, 'Condition', 'd'), true);
  });

  it('a patient is confined to their compartment; directory types are read-only', () => {
    assert.equal(mayAccess(patient, obs('p1'), 'r'), true);
    assert.equal(mayAccess(patient, obs('p2'), 'r'), false);
    assert.equal(mayAccess(patient, { resourceType: 'Patient', id: 'p2' } as never, 'r'), false);
    assert.equal(mayAccess(patient, { resourceType: 'Patient', id: 'p1' } as never, 'u'), true);
    assert.equal(inCompartment(patient, { resourceType: 'Practitioner', id: 'd1' } as never, 'r'), true);
    assert.equal(inCompartment(patient, { resourceType: 'Practitioner', id: 'd1' } as never, 'u'), false);
    assert.equal(inCompartment(patient, { resourceType: 'Binary', id: 'b' } as never, 'r'), false, 'whose is unknown');
    const owners = new Map([
      ['mine', 'p1'],
      ['theirs', 'p2'],
    ]);
    const storedPatientOf = (_type: string, id: string) => owners.get(id);
    const binary = (id: string) => ({ resourceType: 'Binary', id }) as never;
    assert.equal(inCompartment(patient, binary('mine'), 'r', storedPatientOf), true, 'their own Binary');
    assert.equal(inCompartment(patient, binary('theirs'), 'r', storedPatientOf), false, "another patient's");
    assert.equal(inCompartment(patient, binary('org-level'), 'r', storedPatientOf), false, 'the organization’s');
    assert.equal(inCompartment(patient, binary('mine'), 'u', storedPatientOf), false, 'read only');
    assert.equal(inCompartment(clinician, obs('p2'), 'r'), true);
  });
});
