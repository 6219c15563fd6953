/** Erasure request: what it means, then an erasure.request signed here and its progress from the ledger. */
import { useState } from 'react';
import { subjectTxs } from '../api/ledger';
import { Busy, ErrorBox, Notice } from '../ui/feedback';
import { randomPseudonym } from '../sdk';
import { usePatient } from './context';
import { signAndSubmit } from './keyring';
import { Unlock } from './KeySetup';

export function Erasure() {
  const { keys, session, organization } = usePatient();
  const [understood, setUnderstood] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [request, setRequest] = useState<{ id: string; height: number }>();
  const [progress, setProgress] = useState<string>();

  const submit = async () => {
    if (keys.kind !== 'unlocked' || !organization) return;
    setBusy(true);
    setError(undefined);
    try {
      const id = randomPseudonym('ers');
      const receipt = await signAndSubmit(session, keys.signer, {
        type: 'erasure.request',
        body: { id, patient: session.subject, custodian: organization.id },
      });
      setRequest({ id, height: receipt.height });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const check = async () => {
    if (!request) return;
    try {
      const txs = await subjectTxs(session, request.id);
      const tombstones = txs.filter((t) => t.tx.type === 'erasure.tombstone');
      setProgress(
        tombstones.length === 0
          ? 'Your organization has not finished erasing yet.'
          : `Done: your organization committed ${tombstones.length} erasure record(s) to the ledger.`,
      );
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="erasure-title" className="narrow">
      <h2 id="erasure-title">Ask for erasure</h2>
      <p>If you ask {organization?.name ?? 'your organization'} to erase your record:</p>
      <ul>
        <li>It destroys the encrypted copies of your records and the keys that open them. This cannot be undone.</li>
        <li>Records it must keep by law (for example for statutory retention) are kept, and it tells you which and why.</li>
        <li>
          The ledger keeps only what it already had: opaque commitments, your consents and the access log — never your health
          data. It still verifies afterwards.
        </li>
        <li>Clinicians there will no longer see your history, which may matter for your care.</li>
      </ul>
      {request ? (
        <>
          <Notice>
            Your erasure request <code>{request.id}</code> is on the ledger (block {request.height}).
          </Notice>
          <button type="button" className="secondary" onClick={() => void check()}>
            Check progress
          </button>
          {progress && <p role="status">{progress}</p>}
        </>
      ) : keys.kind !== 'unlocked' ? (
        <Unlock purpose="sign an erasure request" />
      ) : (
        <>
          <label className="inline">
            <input type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.target.checked)} />I understand that this
            erases my records at {organization?.id} and cannot be undone.
          </label>
          <button type="button" className="danger" disabled={!understood || busy} onClick={() => void submit()}>
            Sign and send the erasure request
          </button>
        </>
      )}
      {busy && <Busy label="Signing and committing your request…" />}
      {error !== undefined && <ErrorBox error={error} />}
    </section>
  );
}
