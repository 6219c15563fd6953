/**
 * Worker thread of the FHIR benchmark: `clients` closed-loop HTTP clients (node:http, keep-alive,
 * see http-client.ts) POSTing Observations to `${url}/fhir/Observation`. Runs off the server's thread so
 * client JSON and HTTP work does not share the event loop with the node being measured.
 *
 * workerData: { url, authorization (Bearer token), clients, perClient, templates: Observation JSON (subject filled per request),
 * patients: Patient ids }. Posts back { latencies: Float64Array, failures, firstFailure, seconds }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BenchHttpClient } from './http-client.js';

interface ClientJob {
  readonly url: string;
  /** `Bearer …` access token for the FHIR API. */
  readonly authorization: string;
  readonly clients: number;
  readonly perClient: number;
  readonly templates: readonly Record<string, unknown>[];
  readonly patients: readonly string[];
}

const job = workerData as ClientJob;
const http = new BenchHttpClient(job.url, job.clients);
const headers = { 'content-type': 'application/fhir+json', prefer: 'return=representation', authorization: job.authorization };

async function main(): Promise<void> {
  const latencies = new Float64Array(job.clients * job.perClient);
  let failures = 0;
  let firstFailure: string | undefined;
  let n = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: job.clients }, async (_, c) => {
      for (let i = 0; i < job.perClient; i++) {
        const k = c * job.perClient + i;
        const template = job.templates[k % job.templates.length]!;
        const patient = job.patients[k % job.patients.length]!;
        const body = JSON.stringify({ ...template, subject: { reference: `Patient/${patient}` } });
        const sent = performance.now();
        const res = await http.request('POST', '/fhir/Observation', headers, body);
        latencies[n++] = performance.now() - sent;
        if (res.status !== 201) {
          failures++;
          firstFailure ??= `${res.status} ${res.body.toString('utf8', 0, 300)}`;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  http.close();
  parentPort!.postMessage({ latencies, failures, firstFailure, seconds });
}

await main();
