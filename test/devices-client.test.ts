/**
 * The SDK's DeviceClient against a real node: a patient's phone registers its wearable, signs and
 * sends a batch, reads the chart series; errors surface with the node's stable code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceApiError, DeviceClient, generateKeyPair, NobleSigner, signBatch } from '../src/client/index.js';
import { startTestServer, type TestServer } from './support/fixtures.js';

describe('DeviceClient', () => {
  let server: TestServer;
  let patientId: string;
  let patientToken: string;

  before(async () => {
    server = await startTestServer({ fhir: true });
    patientId = (await server.fhir!.create({ resourceType: 'Patient' }, { author: server.org.id })).resource.id!;
    const pseudonym = server.fhir!.vault.patientPseudonym(patientId)!;
    await server.enrollPatient(pseudonym);
    await server.auth!.store.addAccount({
      id: pseudonym,
      kind: 'patient',
      username: 'sdk',
      password: 'sdk-password-123',
      patient: patientId,
      display: 'sdk',
    });
    patientToken = await server.auth!.mint({
      origin: server.url,
      subject: pseudonym,
      clientId: 'sdk',
      scope: 'patient/*.cruds',
      ttlSeconds: 600,
      patient: patientId,
    });
  });
  after(async () => server.close());

  test('register, send, chart; refusals carry the node code', async () => {
    const client = new DeviceClient(server.url, patientToken);
    const keys = generateKeyPair();
    const { device } = await client.register(patientId, keys.publicKey);
    const start = Date.UTC(2026, 10, 1);
    const batch = signBatch(
      {
        chain: server.node.chain.chainId,
        device,
        seq: 1,
        series: [{ code: '8867-4', start, period: 1000, values: [60, 62, 64] }],
      },
      new NobleSigner(keys),
    );
    const sent = await client.send(batch);
    assert.deepEqual([sent.accepted, sent.duplicates], [3, 0]);
    const series = await client.series(patientId, {
      code: '8867-4',
      from: new Date(start).toISOString(),
      to: new Date(start + 3000).toISOString(),
      points: 1,
    });
    assert.deepEqual(
      series.points.map((p) => [p.n, p.min, p.max, p.mean]),
      [[3, 60, 64, 62]],
    );
    await assert.rejects(
      client.send(batch),
      (e: unknown) => e instanceof DeviceApiError && e.status === 409 && e.code === 'device.replayed',
    );
  });
});
