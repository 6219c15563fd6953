/**
 * One transaction, decoded, with its inclusion proof verified here against the latest checkpoint.
 * Transaction bodies link people, so they are shown to signed-in staff (or the patient they concern).
 */
import { useState } from 'react';
import { ApiFailure } from '../api/http';
import { ledger, ledgerTx, trustFromGenesis } from '../api/ledger';
import { Link } from '../app/router';
import { Busy, ErrorBox } from '../ui/feedback';
import { useAsync } from '../ui/useAsync';
import { bytesOfHex, hexOf, verifyTransaction } from '../sdk';

const HASH = /^[0-9a-f]{64}$/;

export function TxDetail({ hash }: { hash: string }) {
  const tx = useAsync(async () => {
    if (!HASH.test(hash)) throw new Error('A transaction hash is 64 hexadecimal characters.');
    try {
      return await ledgerTx(hash);
    } catch (e) {
      if (!(e instanceof ApiFailure)) throw e;
      if (e.status === 404) throw new Error(`No transaction ${hash.slice(0, 16)}… on this ledger.`, { cause: e });
      if (e.status === 401)
        throw new Error('Transactions link people, so this one is shown to signed-in staff only. Sign in, then come back.', {
          cause: e,
        });
      if (e.status === 403) throw new Error('This transaction is not about you.', { cause: e });
      throw e;
    }
  }, [hash]);
  const [proof, setProof] = useState<{ ok: boolean; text: string }>();
  const [busy, setBusy] = useState(false);

  const verify = async () => {
    setBusy(true);
    setProof(undefined);
    try {
      const trust = await trustFromGenesis();
      const result = await verifyTransaction(ledger, bytesOfHex(hash)!, trust);
      setProof(
        result.ok
          ? {
              ok: true,
              text: `Verified in this browser: leaf ${result.value.receipt.index} of the log of size ${result.value.checkpoint.size}, root ${hexOf(result.value.checkpoint.root).slice(0, 16)}…, under a checkpoint signed by a genesis validator (${result.value.receipt.proof.path.length} hashes in the audit path).`,
            }
          : { ok: false, text: `Not verified: ${result.error.message}` },
      );
    } catch (e) {
      setProof({ ok: false, text: `Not verified: ${e instanceof Error ? e.message : String(e)}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="tx-title">
      <p>
        <Link to="/explorer">← Latest blocks</Link>
      </p>
      <h2 id="tx-title">
        Transaction <code className="hash">{hash.slice(0, 16)}…</code>
      </h2>
      {tx.error !== undefined && <ErrorBox error={tx.error} onRetry={tx.reload} />}
      {!tx.value && !tx.error && <Busy label="Loading the transaction…" />}
      {tx.value && (
        <>
          <dl className="facts">
            <div>
              <dt>Type</dt>
              <dd>{String(tx.value.tx['type'])}</dd>
            </div>
            <div>
              <dt>Signer</dt>
              <dd>
                <code>{String(tx.value.tx['signer'])}</code>
              </dd>
            </div>
            <div>
              <dt>Block</dt>
              <dd>{tx.value.height}</dd>
            </div>
            <div>
              <dt>Log index</dt>
              <dd>{tx.value.index}</dd>
            </div>
          </dl>
          <details>
            <summary>Decoded body</summary>
            <pre className="json">{JSON.stringify(tx.value.tx['body'], null, 2)}</pre>
          </details>
          <button type="button" onClick={() => void verify()} disabled={busy}>
            Verify inclusion proof
          </button>
          {busy && <Busy label="Checking the proof…" />}
          {proof && (
            <p role="status" className={proof.ok ? 'verified' : 'error'} data-testid="proof-result">
              {proof.ok ? '✔ ' : '✘ '}
              {proof.text}
            </p>
          )}
        </>
      )}
    </section>
  );
}
