/**
 * `medledger device simulate`: a simulated wearable for demos and tests. It registers a device
 * key to a patient (or reuses one from --key), then sends signed batches of plausible heart rate,
 * SpO2, steps, blood pressure and glucose for a span of time to a running node.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPair, keyPairFromSeed, Signer } from '../../crypto/ed25519.js';
import { base64urlOf } from '../../client/encoding.js';
import { fromHex, toHex } from '../../crypto/bytes.js';
import { DEVICE_CODES } from '../../devices/codes.js';
import { simulateBatches } from '../../devices/simulate.js';
import { helpText, nodeUrlOf, parse, UsageError } from '../args.js';

export const deviceSpec = {
  name: 'device',
  summary: 'device data: `simulate` a wearable sending signed measurement batches to a node',
  usage:
    'medledger device simulate --patient ID [--token TOKEN] [--key FILE] [--hours H] [--end TIME] [--codes C,…] [--batch N] [--seed N] [--node URL]',
  options: {
    node: { type: 'string' },
    patient: { type: 'string' },
    token: { type: 'string' },
    key: { type: 'string' },
    hours: { type: 'string' },
    end: { type: 'string' },
    codes: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
  },
  help: {
    node: 'node URL (default $MEDLEDGER_NODE or http://127.0.0.1:$PORT|8080)',
    patient: 'the FHIR Patient id (or pat_ pseudonym) the device belongs to',
    token:
      'bearer token to register a new device (the patient, a clinician/nurse, or a backend service); default $MEDLEDGER_TOKEN',
    key: 'device key file: reused if it exists, else the new device and its key are saved there (mode 600)',
    hours: 'hours of data to simulate (default 24)',
    end: 'end of the simulated span, ISO 8601 (default now)',
    codes: `LOINC codes to simulate, comma-separated (default all: ${DEVICE_CODES.map((c) => c.code).join(',')})`,
    batch: 'most samples per batch (default 1000, at most 10000)',
    seed: 'random seed (default 1): the same seed gives the same samples',
  },
} as const;

interface KeyFile {
  readonly device: string;
  readonly seed: string;
}

async function json(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { code: 'http', message: text.slice(0, 200) };
  }
}

export async function runDevice(argv: string[]): Promise<number> {
  const { values, positionals } = parse(deviceSpec, argv);
  if (values.help || positionals[0] !== 'simulate') {
    console.log(helpText(deviceSpec));
    return values.help ? 0 : 2;
  }
  if (!values.patient) throw new UsageError(`--patient is required\n\n${helpText(deviceSpec)}`);
  const node = nodeUrlOf(values.node).replace(/\/$/, '');
  const hours = Number(values.hours ?? 24);
  if (!(hours > 0 && hours <= 24 * 366)) throw new UsageError('--hours must be more than 0 and at most a year');
  const end = values.end ? Date.parse(values.end) : Date.now();
  if (!Number.isFinite(end)) throw new UsageError('--end is not an ISO 8601 time');
  const batchSamples = Number(values.batch ?? 1000);
  if (!Number.isSafeInteger(batchSamples) || batchSamples < 1 || batchSamples > 10_000)
    throw new UsageError('--batch must be 1..10000');
  const codes = values.codes?.split(',').map((c) => c.trim());
  const unknown = codes?.filter((c) => !DEVICE_CODES.some((d) => d.code === c)) ?? [];
  if (unknown.length > 0) throw new UsageError(`unknown codes: ${unknown.join(', ')}`);

  const status = await json(await fetch(`${node}/api/v1/status`));
  const chain = status['chain'];
  if (typeof chain !== 'string') throw new Error(`no chain id from ${node}/api/v1/status`);

  let keyFile: KeyFile;
  if (values.key && existsSync(values.key)) {
    keyFile = JSON.parse(readFileSync(values.key, 'utf8')) as KeyFile;
  } else {
    const token = values.token ?? process.env['MEDLEDGER_TOKEN'];
    if (!token) throw new UsageError('registering a new device needs --token (or $MEDLEDGER_TOKEN)');
    const keys = generateKeyPair();
    const res = await fetch(`${node}/api/v1/patients/${encodeURIComponent(values.patient)}/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ publicKey: base64urlOf(keys.publicKey) }),
    });
    const body = await json(res);
    if (res.status !== 201)
      throw new Error(`device registration refused (${res.status}): ${String(body['code'])}: ${String(body['message'])}`);
    keyFile = { device: body['device'] as string, seed: toHex(keys.secretKey) };
    if (values.key) writeFileSync(values.key, JSON.stringify(keyFile), { mode: 0o600 });
    console.error(`registered ${keyFile.device} to ${values.patient}`);
  }
  const seed = fromHex(keyFile.seed);
  if (!seed) throw new Error('the key file holds no valid seed');
  const signer = new Signer(keyPairFromSeed(seed));
  // Batch numbers from the clock keep increasing across runs with the same key.
  const batches = simulateBatches(
    {
      chain,
      device: keyFile.device,
      from: end - Math.round(hours * 3_600_000),
      to: end,
      batchSamples,
      firstSeq: Date.now(),
      seed: Number(values.seed ?? 1),
      ...(codes && { codes }),
    },
    signer,
  );
  const started = performance.now();
  let accepted = 0;
  let duplicates = 0;
  let refused = 0;
  let failed = 0;
  for (const batch of batches) {
    const res = await fetch(`${node}/api/v1/devices/${keyFile.device}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: batch.wire,
    });
    const body = await json(res);
    if (res.status === 201) {
      accepted += body['accepted'] as number;
      duplicates += body['duplicates'] as number;
    } else {
      refused += 1;
      if (body['code'] !== 'device.duplicate') {
        failed += 1;
        console.error(`batch ${batch.batch.seq}: ${String(body['code'])}: ${String(body['message'])}`);
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      device: keyFile.device,
      batches: batches.length,
      accepted,
      duplicates,
      refused,
      seconds: Math.round(seconds * 100) / 100,
      samplesPerSecond: Math.round(accepted / seconds),
    }),
  );
  // Batches refused as duplicates (data the node already has) are not failures.
  return failed > 0 ? 1 : 0;
}
