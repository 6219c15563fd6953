/** Consistency between two checkpoints: the later log extends the earlier one, checked here. */
import { useState, type FormEvent } from 'react';
import { ledger, must, trustFromGenesis } from '../api/ledger';
import { Busy } from '../ui/feedback';
import { checkConsistency } from '../sdk';

export function Consistency() {
  const [older, setOlder] = useState('1');
  const [newer, setNewer] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string }>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setResult(undefined);
    try {
      const trust = await trustFromGenesis();
      const a = must(await ledger.checkpoint(Number(older)));
      const b = must(await ledger.checkpoint(newer === '' ? undefined : Number(newer)));
      const proof = must(await ledger.consistencyProof(a.checkpoint.size, b.checkpoint.size));
      const checked = checkConsistency(a, b, proof, trust);
      setResult(
        checked.ok
          ? {
              ok: true,
              text: `✔ The log of size ${b.checkpoint.size} extends the log of size ${a.checkpoint.size}: nothing was rewritten.`,
            }
          : { ok: false, text: `✘ ${checked.error.message}` },
      );
    } catch (e) {
      setResult({ ok: false, text: `✘ ${e instanceof Error ? e.message : String(e)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="consistency-title">
      <h2 id="consistency-title">Consistency between checkpoints</h2>
      <form className="row" onSubmit={(e) => void submit(e)}>
        <div>
          <label htmlFor="older">Older checkpoint (block height)</label>
          <input id="older" type="number" min={1} value={older} onChange={(e) => setOlder(e.target.value)} />
        </div>
        <div>
          <label htmlFor="newer">Newer checkpoint (block height; empty: latest)</label>
          <input id="newer" type="number" min={1} value={newer} onChange={(e) => setNewer(e.target.value)} />
        </div>
        <button type="submit" className="secondary" disabled={busy}>
          Check consistency
        </button>
      </form>
      {busy && <Busy label="Checking…" />}
      {result && (
        <p role="status" className={result.ok ? 'verified' : 'error'} data-testid="consistency-result">
          {result.text}
        </p>
      )}
    </section>
  );
}
