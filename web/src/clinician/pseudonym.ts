/**
 * The ledger pseudonym of a chart's patient, for its live event stream. The node keeps the
 * Patient ↔ pseudonym link off the ledger; what a clinician who may read the Patient can see is
 * its Provenance, which names the ledger transaction that committed it — and that transaction's
 * entry for the Patient's record names the pseudonym.
 */
import type { Fhir, Resource } from '../api/fhir';
import { ledgerTx } from '../api/ledger';
import type { Session } from '../auth/oauth';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export async function pseudonymOf(fhir: Fhir, session: Session, patientId: string): Promise<string | undefined> {
  const provenance = (await fhir.search<Resource>(`Provenance?target=Patient/${encodeURIComponent(patientId)}`)) as Any[];
  for (const p of provenance) {
    const parts: Any[] = p.extension?.find((e: Any) => e.url?.endsWith('/ledger-transaction'))?.extension ?? [];
    const hash = parts.find((e) => e.url === 'hash')?.valueString;
    const record = parts.find((e) => e.url === 'record')?.valueString;
    if (!hash || !record) continue;
    const tx = await ledgerTx<{ tx: { body: { entries?: { record: string; patient?: string }[] } } }>(hash, session);
    const patient = tx.tx.body.entries?.find((e) => e.record === record)?.patient;
    if (patient) return patient;
  }
  return undefined;
}
