/** Amend an entry: edit its FHIR JSON and save it as a new version (PUT with If-Match). */
import { useState, type FormEvent } from 'react';
import type { Fhir, Resource } from '../api/fhir';
import { Busy, ErrorBox } from '../ui/feedback';

export function AmendForm({ fhir, resource, onDone }: { fhir: Fhir; resource: Resource; onDone: () => void }) {
  const { meta: _meta, ...editable } = resource;
  const [text, setText] = useState(JSON.stringify(editable, null, 2));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let body: Resource;
    try {
      body = JSON.parse(text) as Resource;
    } catch {
      setError(new Error('That is not valid JSON.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      // Refused with 412 if someone else amended it meanwhile.
      await fhir.send('PUT', `${resource.resourceType}/${resource.id}`, body, {
        ...(resource.meta?.versionId && { 'if-match': `W/"${resource.meta.versionId}"` }),
      });
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="amend" onSubmit={(e) => void submit(e)} aria-labelledby="amend-title">
      <h2 id="amend-title">
        Amend {resource.resourceType}/{resource.id}
      </h2>
      <label htmlFor="amend-json">The entry as FHIR JSON (the previous version stays in the history)</label>
      <textarea id="amend-json" rows={14} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
      <button type="submit" disabled={busy}>
        Save amendment
      </button>
      {busy && <Busy label="Saving…" />}
      {error !== undefined && <ErrorBox error={error} />}
    </form>
  );
}
