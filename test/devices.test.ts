/**
 * Device data end to end on a real node (SQLite, HTTP on 127.0.0.1): a device registered to a
 * patient sends signed batches; forged, replayed, duplicate and malformed batches are refused
 * with nothing stored; each batch is one Observation and one ledger commitment, readable through
 * FHIR; the series API downsamples and its reads are decided and logged like FHIR reads.
 */
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { base64urlOf } from '../src/client/encoding.js';
import { encodeCanonical } from '../src/ledger/codec.js';
import { decodeTx } from '../src/ledger/tx.js';
import { signBatch, type BatchBody, type Series } from '../src/devices/batch.js';
import { samplesOfObservation } from '../src/devices/observation.js';
import { simulateBatches } from '../src/devices/simulate.js';
import { validateResource } from '../src/fhir/validation/validate.js';
import { startTestServer, txTypesSince, type TestServer } from './support/fixtures.js';
import { call } from './support/fhir-api.js';

const HOUR = 3_600_000;

describe('device batches', () => {
  let server: TestServer;
  let patientId: string;
  let pseudonym: string;
  let device: string;
  let patientToken: string;
  const asPatient = () => ({ headers: { authorization: `Bearer ${patientToken}` } });
  const deviceKeys = generateKeyPair();
  const signer = new Signer(deviceKeys);
  const start = Date.UTC(2026, 10, 20, 8, 0, 0);

  const post = async (wire: Uint8Array, to = device) =>
    fetch(`${server.url}/api/v1/devices/${to}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: wire,
    });
  const api = async (path: string, init: RequestInit & { token?: string } = {}) => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${init.token ?? server.token}`,
        ...(init.body !== undefined && { 'content-type': 'application/json' }),
      },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const batch = (seq: number, series: Series[], chain = server.node.chain.chainId, dev = device): BatchBody => ({
    chain,
    device: dev,
    seq,
    series,
  });
  const hr = (startAt: number, values: number[]): Series => ({ code: '8867-4', start: startAt, period: 1000, values });
  const stored = () => server.fhir!.vault.db.prepare('SELECT count(*) FROM device_samples').pluck().get() as number;
  const versions = () => server.fhir!.vault.db.prepare('SELECT count(*) FROM versions').pluck().get() as number;

  before(async () => {
    server = await startTestServer({ fhir: true });
    const created = await call(`${server.url}/fhir`, 'POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Wearer' }] },
    });
    assert.equal(created.status, 201);
    patientId = created.body.id!;
    pseudonym = server.fhir!.vault.patientPseudonym(patientId)!;
    await server.enrollPatient(pseudonym);
    await server.auth!.store.addAccount({
      id: pseudonym,
      kind: 'patient',
      username: 'wearer',
      password: 'wearer-password-1',
      patient: patientId,
      display: 'Wearer',
    });
    patientToken = await server.auth!.mint({
      origin: server.url,
      subject: pseudonym,
      clientId: 'test-suite',
      scope: 'patient/*.rs',
      ttlSeconds: 3600,
      patient: patientId,
    });
    const registered = await api(`/patients/${patientId}/devices`, {
      method: 'POST',
      body: JSON.stringify({ publicKey: base64urlOf(deviceKeys.publicKey) }),
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    device = registered.body['device'] as string;
    assert.equal(server.node.chain.app.participant(device)?.patient, pseudonym);
  });
  after(async () => server.close());

  test('a signed batch is accepted: one Observation, one record commitment, samples indexed', async () => {
    const height = server.node.chain.head().height;
    const signed = signBatch(
      batch(0, [hr(start, [70, 71, 72, 73]), { code: '59408-5', start, period: 60_000, values: [97, 98] }]),
      signer,
    );
    const res = await post(signed.wire);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(body['accepted'], 6);
    assert.equal(body['duplicates'], 0);
    assert.deepEqual(txTypesSince(server.node, height), ['record.commit'], 'one ledger transaction for the batch');
    const commit = server.node.chain.app.recordHead(body['record'] as string);
    assert.equal(commit?.version, 1);
    assert.equal(server.node.chain.app.recordVersion(body['record'] as string, 1)?.author, device, 'authored by the device');
    // Readable through FHIR, and a valid R4 Observation.
    const read = await call<Observation>(`${server.url}/fhir`, 'GET', `/${body['observation'] as string}`, asPatient());
    assert.equal(read.status, 200, read.text);
    assert.ok(validateResource(read.body).ok, JSON.stringify(validateResource(read.body)));
    assert.deepEqual(
      samplesOfObservation(read.body).map((s) => [s.code, s.values]),
      [
        ['8867-4', [70, 71, 72, 73]],
        ['59408-5', [97, 98]],
      ],
    );
    const search = await call<Bundle>(
      `${server.url}/fhir`,
      'GET',
      `/Observation?patient=${patientId}&code=http://loinc.org|8867-4`,
      asPatient(),
    );
    assert.equal(search.status, 200);
    assert.deepEqual(
      search.body.entry?.map((e) => e.resource?.id),
      [(body['observation'] as string).split('/')[1]],
    );
    assert.equal(stored(), 6);
  });

  test('forged, wrong-chain, replayed, duplicate and malformed batches are refused and store nothing', async () => {
    const before = { samples: stored(), versions: versions(), height: server.node.chain.head().height };
    const expect = async (wire: Uint8Array, status: number, code: string, to?: string) => {
      const res = await post(wire, to);
      const body = (await res.json()) as { code: string };
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(body.code, code);
    };
    const fresh = [hr(start + HOUR, [80, 81])];
    // Forged: signed by another key.
    await expect(signBatch(batch(1, fresh), new Signer(generateKeyPair())).wire, 401, 'device.bad_signature');
    // Tampered after signing: a value changed in the signed body.
    const good = signBatch(batch(1, fresh), signer);
    const tampered = signBatch(batch(1, [hr(start + HOUR, [80, 99])]), signer);
    await expect(encodeCanonical([tampered.body, good.signature]), 401, 'device.bad_signature');
    // Another chain.
    await expect(signBatch(batch(1, fresh, 'other-chain'), signer).wire, 400, 'device.wrong_chain');
    // Replayed: seq 0 again (same bytes), and an older seq with new samples.
    await expect(
      signBatch(batch(0, [hr(start, [70, 71, 72, 73]), { code: '59408-5', start, period: 60_000, values: [97, 98] }]), signer)
        .wire,
      409,
      'device.replayed',
    );
    await expect(signBatch(batch(0, fresh), signer).wire, 409, 'device.replayed');
    // Duplicate: a new seq carrying only samples already stored.
    await expect(signBatch(batch(5, [hr(start, [70, 71])]), signer).wire, 409, 'device.duplicate');
    // Malformed: garbage, unknown code, out of range, overlapping samples, empty, wrong device in URL.
    await expect(new Uint8Array([1, 2, 3]), 400, 'device.malformed');
    await expect(
      signBatch(batch(1, [{ code: '1234-5', start, period: 1000, values: [1] }]), signer).wire,
      400,
      'device.malformed',
    );
    await expect(signBatch(batch(1, [hr(start + HOUR, [999])]), signer).wire, 400, 'device.malformed');
    await expect(
      signBatch(batch(1, [hr(start + HOUR, [80, 81]), hr(start + HOUR + 1000, [82])]), signer).wire,
      400,
      'device.malformed',
    );
    await expect(signBatch(batch(1, []), signer).wire, 400, 'device.malformed');
    await expect(good.wire, 400, 'device.malformed', 'dev_aaaaaaaaaaaaaaaaaaaaaaaaaa');
    // An unknown device, and samples from the future.
    const stranger = 'dev_bbbbbbbbbbbbbbbbbbbbbbbbbb';
    await expect(signBatch(batch(1, fresh, undefined, stranger), signer).wire, 404, 'device.unknown', stranger);
    await expect(signBatch(batch(1, [hr(Date.now() + 24 * HOUR, [70])]), signer).wire, 400, 'device.future');
    assert.deepEqual(
      { samples: stored(), versions: versions(), height: server.node.chain.head().height },
      before,
      'nothing stored',
    );
    // The genuine batch still goes through afterwards.
    const ok = await post(good.wire);
    assert.equal(ok.status, 201);
  });

  test('samples the device already sent are dropped from a partly new batch', async () => {
    const res = await post(signBatch(batch(2, [hr(start + 2000, [72, 73, 74, 75, 76])]), signer).wire);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.deepEqual([body['accepted'], body['duplicates']], [3, 2]);
    const read = await call<Observation>(`${server.url}/fhir`, 'GET', `/${body['observation'] as string}`, asPatient());
    assert.deepEqual(
      samplesOfObservation(read.body).map((s) => [s.start, s.values]),
      [[start + 4000, [74, 75, 76]]],
    );
  });

  test('the series API downsamples for charts and logs the access', async () => {
    const sim = simulateBatches(
      {
        chain: server.node.chain.chainId,
        device,
        from: start + 2 * HOUR,
        to: start + 4 * HOUR,
        codes: ['8867-4'],
        firstSeq: 10,
        batchSamples: 720,
      },
      signer,
    );
    for (const b of sim) assert.equal((await post(b.wire)).status, 201);
    const from = new Date(start + 2 * HOUR).toISOString();
    const to = new Date(start + 4 * HOUR).toISOString();
    const path = `/patients/${patientId}/device-series?code=8867-4&from=${from}&to=${to}&points=12`;
    // The organization's backend service has no consent: refused, and the refusal is on the ledger.
    const height = server.node.chain.head().height;
    const refused = await api(path);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.deepEqual(txTypesSince(server.node, height), ['access.log']);
    const series = await api(path, { token: patientToken });
    assert.equal(series.status, 200, JSON.stringify(series.body));
    const points = series.body['points'] as { t: string; n: number; min: number; max: number; mean: number }[];
    assert.equal(points.length, 12);
    assert.equal(series.body['bucketMs'], 10 * 60_000);
    assert.ok(points.every((p) => p.n === 120 && p.min <= p.mean && p.mean <= p.max));
    assert.equal(series.body['samples'], 1440);
    // Hour buckets come from the hourly roll-up and agree with the samples.
    const hourly = await api(`/patients/${patientId}/device-series?code=8867-4&from=${from}&to=${to}&points=2`, {
      token: patientToken,
    });
    assert.equal(hourly.status, 200, JSON.stringify(hourly.body));
    assert.equal(hourly.body['bucketMs'], HOUR);
    const hours = hourly.body['points'] as typeof points;
    assert.equal(hours.length, 2);
    for (const [i, h] of hours.entries()) {
      const part = points.slice(i * 6, i * 6 + 6);
      assert.equal(h.n, 720);
      assert.equal(h.min, Math.min(...part.map((p) => p.min)));
      assert.equal(h.max, Math.max(...part.map((p) => p.max)));
      assert.ok(Math.abs(h.mean - part.reduce((sum, p) => sum + p.mean, 0) / 6) < 0.01);
    }
    const forged = await api(path, { token: 'not-a-token' });
    assert.deepEqual([forged.status, forged.body['code']], [401, 'auth.required']);
    const bad = await api(`/patients/${patientId}/device-series?code=12345-6`, { token: patientToken });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['code'], 'device.invalid');
    const [latest] = server.node.chain.store.txsBySubject(pseudonym, { limit: 1 });
    const logged = decodeTx(latest!.wire, server.node.chain.chainId);
    assert.ok(logged.ok && logged.value.tx.type === 'access.log', 'the series read is on the ledger');
    const event = logged.value.tx.type === 'access.log' ? logged.value.tx.body.events[0]! : undefined;
    assert.equal(event?.decision, 'permit');
    assert.equal(event?.records.length, sim.length, 'it names the batches the series was computed from');
    const registry = await api(`/patients/${patientId}/devices`);
    assert.equal(registry.status, 200);
    const [entry] = registry.body['devices'] as Record<string, unknown>[];
    assert.equal(entry!['id'], device);
    assert.equal(entry!['batches'], undefined, 'without a consent, only the (public) registry entry');
    const devices = await api(`/patients/${patientId}/devices`, { token: patientToken });
    assert.equal(devices.status, 200);
    const list = devices.body['devices'] as { id: string; batches: number }[];
    assert.deepEqual(
      list.map((d) => d.id),
      [device],
    );
    assert.ok(list[0]!.batches >= 3 + sim.length);
  });

  test('`medledger device simulate` registers a device and sends its batches', async () => {
    const keyFile = join(server.dir, 'sim-device.json');
    const args = [
      'dist/src/cli/main.js',
      'device',
      'simulate',
      '--node',
      server.url,
      '--patient',
      patientId,
      '--token',
      server.token!,
    ];
    const run = async (extra: string[]) =>
      JSON.parse((await promisify(execFile)(process.execPath, [...args, '--key', keyFile, ...extra])).stdout) as Record<
        string,
        number
      >;
    const first = await run(['--hours', '2', '--codes', '8867-4,59408-5', '--end', new Date(start + 30 * HOUR).toISOString()]);
    assert.equal(first['refused'], 0);
    assert.equal(first['accepted'], 2 * 720 + 2 * 60);
    // Again with the same key and span: new batch numbers, but every sample is a duplicate.
    const again = await run(['--hours', '2', '--codes', '8867-4,59408-5', '--end', new Date(start + 30 * HOUR).toISOString()]);
    assert.equal(again['accepted'], 0);
    assert.equal(again['refused'], again['batches']);
  });

  test('JSON bodies work too; a suspended device is refused; the routes are in the OpenAPI document', async () => {
    const keys = generateKeyPair();
    // A clinician without access to the patient's record may not add a device to it.
    const clinician = 'prac_dev-clinician';
    await server.addPractitioner(clinician);
    await server.auth!.store.addAccount({
      id: clinician,
      kind: 'practitioner',
      username: 'dev-clinician',
      password: 'dev-clinician-pw',
      display: 'c',
    });
    const clinicianToken = await server.auth!.mint({
      origin: server.url,
      subject: clinician,
      clientId: 'test-suite',
      scope: 'user/*.cruds',
      ttlSeconds: 600,
    });
    const blind = await api(`/patients/${patientId}/devices`, {
      method: 'POST',
      token: clinicianToken,
      body: JSON.stringify({ publicKey: base64urlOf(generateKeyPair().publicKey) }),
    });
    assert.equal(blind.status, 403, JSON.stringify(blind.body));
    const registered = await api(`/patients/${pseudonym}/devices`, {
      method: 'POST',
      body: JSON.stringify({ publicKey: Buffer.from(keys.publicKey).toString('hex') }),
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const second = registered.body['device'] as string;
    const wire = (seq: number, at: number) =>
      Buffer.from(signBatch(batch(seq, [hr(at, [66])], undefined, second), new Signer(keys)).wire).toString('base64');
    const json = await fetch(`${server.url}/api/v1/devices/${second}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ batch: wire(0, start + 10 * HOUR) }),
    });
    assert.equal(json.status, 201, await json.text());
    assert.ok((await server.node.submitOwn({ type: 'participant.set_status', body: { id: second, status: 'suspended' } })).ok);
    const suspended = await fetch(`${server.url}/api/v1/devices/${second}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ batch: wire(1, start + 11 * HOUR) }),
    });
    assert.equal(suspended.status, 403);
    assert.equal(((await suspended.json()) as { code: string }).code, 'device.inactive');
    const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const path of [
      '/api/v1/devices/{device}/batches',
      '/api/v1/patients/{patient}/device-series',
      '/api/v1/population/query',
    ])
      assert.ok(openapi.paths[path], `${path} is documented`);
  });
});
