/**
 * The node's device-stream and population-health APIs (README "Device data and population
 * health") with the signed-in user's bearer token. Plain JSON through requestJson, so refusals
 * arrive as ApiFailure with the node's code (e.g. `access.forbidden`, `population.forbidden`).
 */
import type { Session } from '../auth/oauth';
import type { DeviceSeries } from '../sdk';
import type { GroupBy, Interval, ResultCell as PopulationCell } from '../../../src/population/aggregate.js';
import { requestJson } from './http';

const bearer = (session: Session) => ({ authorization: `Bearer ${session.accessToken}` });
const patientPath = (patient: string) => `/api/v1/patients/${encodeURIComponent(patient)}`;

export interface DeviceInfo {
  readonly id: string;
  readonly status: string;
  /** The ledger height of its registration. */
  readonly registeredAt: number;
  readonly registeredBy: string;
  /** Absent when the reader may not see what this node stored from the device. */
  readonly batches?: number;
  readonly samples?: number;
  readonly lastSample?: number | null;
}

export interface DeviceCodeInfo {
  readonly code: string;
  readonly display: string;
  readonly unit: string;
  readonly category: string;
}

/** The series answer as the SDK types it (src/client/devices.ts). */
export type { DeviceSeries } from '../sdk';

export const patientDevices = (session: Session, patient: string) =>
  requestJson<{ devices: DeviceInfo[] }>(`${patientPath(patient)}/devices`, { headers: bearer(session) }).then((r) => r.devices);

export const deviceCodes = () => requestJson<{ codes: DeviceCodeInfo[] }>('/api/v1/device-codes').then((r) => r.codes);

export function deviceSeries(
  session: Session,
  patient: string,
  query: { code: string; from: number; to: number; points: number },
): Promise<DeviceSeries> {
  const params = new URLSearchParams({
    code: query.code,
    from: String(query.from),
    to: String(query.to),
    points: String(query.points),
  });
  return requestJson<DeviceSeries>(`${patientPath(patient)}/device-series?${params.toString()}`, { headers: bearer(session) });
}

export type Purpose = 'HRESCH' | 'PUBHLTH';
export type QueryType = 'Condition' | 'Observation';
/** Periods, strata and reported cells as the node's aggregation defines them (a pure module). */
export type { GroupBy, Interval, ResultCell as PopulationCell } from '../../../src/population/aggregate.js';

export interface PopulationQuery {
  readonly purpose: Purpose;
  readonly type: QueryType;
  readonly code: string;
  readonly interval: Interval;
  readonly from: string;
  readonly to: string;
  readonly groupBy: readonly GroupBy[];
}

/** The node's answer: the query as it ran (times as ISO strings), then the result. */
export interface PopulationAnswer extends PopulationQuery {
  readonly k: number;
  readonly suppression: string;
  /** Opted-in patients in all; null when fewer than k (withheld). */
  readonly optedIn: number | null;
  readonly height: number;
  readonly custodians: {
    readonly answered: readonly string[];
    readonly missing: readonly { custodian: string; reason: string }[];
  };
  readonly suppressedCells: number;
  readonly cells: readonly PopulationCell[];
}

export const populationQuery = (session: Session, query: PopulationQuery) =>
  requestJson<PopulationAnswer>('/api/v1/population/query', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(session) },
    body: JSON.stringify(query),
  });
