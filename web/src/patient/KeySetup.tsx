/** First sign-in: make the key here, enroll it, store the encrypted backups, hand over the kit. */
import { useState, type FormEvent } from 'react';
import { Busy, ErrorBox } from '../ui/feedback';
import type { NobleSigner, RecoveryKit } from '../sdk';
import { usePatient } from './context';
import { recoverWithKit, setUpKeys, unlock, type SetupStep } from './keyring';

const STEPS: Record<SetupStep, string> = {
  keys: 'Making your key and encrypting its backups on this device (this takes a few seconds)…',
  enroll: 'Registering your new public key on the ledger…',
  backup: 'Storing your encrypted backups at your organization…',
};

const MIN_PASSPHRASE = 10;

function download(name: string, text: string, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function Kit({ kit, onDone }: { kit: RecoveryKit; onDone: () => void }) {
  return (
    <section className="kit" aria-labelledby="kit-title">
      <h2 id="kit-title" tabIndex={-1} ref={(el) => el?.focus()}>
        Your recovery kit
      </h2>
      <p>
        Your key is ready and on the ledger. Keep this kit somewhere safe, away from this device: with it you can recover your key
        if you forget your passphrase. It is shown only now.
      </p>
      <pre className="kit-text" data-testid="recovery-kit">
        {kit.text}
      </pre>
      <div className="actions">
        <button type="button" onClick={() => download('medledger-recovery-kit.txt', kit.text)}>
          Download recovery kit
        </button>
        <button type="button" className="secondary" onClick={() => window.print()}>
          Print
        </button>
        <button type="button" className="secondary" onClick={onDone}>
          I have saved my kit — continue
        </button>
      </div>
    </section>
  );
}

export function KeySetup() {
  const { session, setKeys } = usePatient();
  const [passphrase, setPassphrase] = useState('');
  const [confirm, setConfirm] = useState('');
  const [step, setStep] = useState<SetupStep | undefined>();
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<{ signer: NobleSigner; kit: RecoveryKit }>();

  const problem =
    passphrase.length > 0 && passphrase.length < MIN_PASSPHRASE
      ? `Use at least ${MIN_PASSPHRASE} characters.`
      : confirm.length > 0 && confirm !== passphrase
        ? 'The two passphrases differ.'
        : undefined;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (problem || passphrase.length < MIN_PASSPHRASE || confirm !== passphrase) {
      setError(new Error(problem ?? `Choose a passphrase of at least ${MIN_PASSPHRASE} characters and type it twice.`));
      return;
    }
    setError(undefined);
    try {
      setDone(await setUpKeys(session, passphrase, setStep));
    } catch (e) {
      setError(e);
    } finally {
      setStep(undefined);
    }
  };

  if (done) return <Kit kit={done.kit} onDone={() => setKeys({ kind: 'unlocked', signer: done.signer })} />;
  return (
    <section aria-labelledby="setup-title" className="narrow">
      <h1 id="setup-title">Set up your key</h1>
      <p>
        Welcome. Before you can share your record you need your own signing key. It is made here, on this device; your
        organization never sees it. A backup encrypted with your passphrase is stored at your organization, which cannot open it.
      </p>
      <form onSubmit={(e) => void submit(e)} aria-describedby={problem ? 'passphrase-problem' : undefined}>
        <label htmlFor="passphrase">Passphrase (at least {MIN_PASSPHRASE} characters)</label>
        <input
          id="passphrase"
          type="password"
          autoComplete="new-password"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
          required
          minLength={MIN_PASSPHRASE}
        />
        <label htmlFor="passphrase-confirm">Passphrase again</label>
        <input
          id="passphrase-confirm"
          type="password"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          required
        />
        {problem && (
          <p id="passphrase-problem" className="field-error">
            {problem}
          </p>
        )}
        <button type="submit" disabled={step !== undefined}>
          Create my key
        </button>
      </form>
      {step && <Busy label={STEPS[step]} />}
      {error !== undefined && <ErrorBox error={error} />}
    </section>
  );
}

/** Opens the key for signing on this device, from the passphrase backup at the node. */
export function Unlock({ purpose }: { purpose: string }) {
  const { session, setKeys } = usePatient();
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const signer = await unlock(session, passphrase);
      setKeys({ kind: 'unlocked', signer });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <form className="unlock" onSubmit={(e) => void submit(e)}>
        <p>To {purpose}, open your key on this device with your passphrase.</p>
        <label htmlFor="unlock-passphrase">Your passphrase</label>
        <input
          id="unlock-passphrase"
          type="password"
          autoComplete="current-password"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
          required
        />
        <button type="submit" disabled={busy}>
          Open my key
        </button>
        {busy && <Busy label="Opening your key backup…" />}
        {error !== undefined && <ErrorBox error={error} />}
      </form>
      <Recover />
    </>
  );
}

/** Lost passphrase: recover with the kit's code, re-key at once, and get a new kit. */
function Recover() {
  const { session, setKeys } = usePatient();
  const [code, setCode] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [step, setStep] = useState<SetupStep | undefined>();
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<{ signer: NobleSigner; kit: RecoveryKit }>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (passphrase.length < MIN_PASSPHRASE) {
      setError(new Error(`Choose a new passphrase of at least ${MIN_PASSPHRASE} characters.`));
      return;
    }
    setError(undefined);
    setStep('keys');
    try {
      setDone(await recoverWithKit(session, code, passphrase, setStep));
    } catch (e) {
      setError(e);
    } finally {
      setStep(undefined);
    }
  };
  if (done) return <Kit kit={done.kit} onDone={() => setKeys({ kind: 'unlocked', signer: done.signer })} />;
  return (
    <details className="recover">
      <summary>Forgot your passphrase? Recover with your recovery kit</summary>
      <form onSubmit={(e) => void submit(e)}>
        <p>Your key is replaced at once by a new one made here, and you get a new kit; the old kit then stops working.</p>
        <label htmlFor="recovery-code">Recovery code from your kit</label>
        <input id="recovery-code" value={code} onChange={(e) => setCode(e.target.value)} autoComplete="off" spellCheck={false} />
        <label htmlFor="new-passphrase">New passphrase (at least {MIN_PASSPHRASE} characters)</label>
        <input
          id="new-passphrase"
          type="password"
          autoComplete="new-password"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
        />
        <button type="submit" disabled={step !== undefined}>
          Recover my key
        </button>
        {step && <Busy label={STEPS[step]} />}
        {error !== undefined && <ErrorBox error={error} />}
      </form>
    </details>
  );
}
