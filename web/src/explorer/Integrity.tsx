/** The "verify integrity" action with a progress bar. */
import { useRef, useState } from 'react';
import { verifyIntegrity, type IntegrityReport } from './integrity';

export function Integrity() {
  const [progress, setProgress] = useState<{ done: number; total: number }>();
  const [result, setResult] = useState<{ ok: true; report: IntegrityReport } | { ok: false; message: string }>();
  const abort = useRef<AbortController>(undefined);
  const running = abort.current !== undefined && progress !== undefined && result === undefined;
  const start = async () => {
    abort.current = new AbortController();
    setResult(undefined);
    setProgress({ done: 0, total: 1 });
    try {
      const report = await verifyIntegrity((done, total) => setProgress({ done, total }), abort.current.signal);
      setResult({ ok: true, report });
    } catch (e) {
      setResult({ ok: false, message: e instanceof Error ? e.message : String(e) });
    }
  };
  return (
    <section aria-labelledby="integrity-title">
      <h2 id="integrity-title">Verify integrity</h2>
      <p>Rebuilds the whole log here from every block and transaction, checking hashes, links, signatures and roots.</p>
      <button type="button" onClick={() => void start()} disabled={running}>
        Verify integrity
      </button>
      {running && (
        <button type="button" className="secondary" onClick={() => abort.current?.abort()}>
          Stop
        </button>
      )}
      {progress && (
        <div className="progress">
          <label htmlFor="integrity-progress">
            Checked {progress.done} of {progress.total} blocks
          </label>
          <progress id="integrity-progress" max={progress.total} value={progress.done} />
        </div>
      )}
      {result && (
        <p role="status" className={result.ok ? 'verified' : 'error'} data-testid="integrity-result">
          {result.ok
            ? `✔ All ${result.report.blocks} blocks and ${result.report.txs} transactions check out; log root ${result.report.root.slice(0, 16)}… matches the signed checkpoint.`
            : `✘ ${result.message}`}
        </p>
      )}
    </section>
  );
}
