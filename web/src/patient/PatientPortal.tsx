/** The patient portal: key setup on first sign-in, then the record, trends, sharing and more. */
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { SignedInAs } from '../auth/SignedInAs';
import { Fhir, type Bundle } from '../api/fhir';
import { requestJson } from '../api/http';
import { status, type TxView } from '../api/ledger';
import { Link } from '../app/router';
import { SignInGate } from '../auth/SignInGate';
import type { Session } from '../auth/oauth';
import { Busy, ErrorBox } from '../ui/feedback';
import { useAsync } from '../ui/useAsync';
import { useSubjectEvents } from '../ui/useSubjectEvents';
import { AccessLog } from './AccessLog';
import { PatientContext, type PatientArea } from './context';
import { DownloadRecord } from './DownloadRecord';
import { Erasure } from './Erasure';
import { initialKeyState, type KeyState } from './keyring';
import { KeySetup } from './KeySetup';
import { RecordDetail, RecordTimeline } from './RecordTimeline';
import { Sharing } from './Sharing';
import { Trends } from './Trends';

// Device charts load only when the tab is opened (shared with the clinician chart).
const DeviceStreams = lazy(() => import('../devices/DeviceStreams'));

const TABS = [
  { path: '/patient', label: 'My record' },
  { path: '/patient/trends', label: 'Trends' },
  { path: '/patient/devices', label: 'Devices' },
  { path: '/patient/sharing', label: 'Sharing' },
  { path: '/patient/access', label: 'Who accessed my record' },
  { path: '/patient/download', label: 'Download' },
  { path: '/patient/erasure', label: 'Erasure' },
];

interface Notification {
  readonly id: number;
  readonly text: string;
  readonly urgent: boolean;
  readonly count: number;
}

/** What a ledger transaction about me means, in words (or nothing worth a notification). */
function describe(tx: TxView, me: string): { text: string; urgent: boolean; recordChanged: boolean } | undefined {
  const body = tx.tx.body;
  switch (tx.tx.type) {
    case 'record.commit':
      return {
        text: `Your record was updated (${String((body['author'] as string) ?? tx.tx.signer)}).`,
        urgent: false,
        recordChanged: true,
      };
    case 'access.break_glass':
      return {
        text: `Emergency access to your record was opened by ${String(body['practitioner'])}.`,
        urgent: true,
        recordChanged: false,
      };
    case 'access.log': {
      const events = (body['events'] as { actor: string; patient: string; basis?: string }[]).filter(
        (e) => e.patient === me && e.actor !== me,
      );
      if (events.length === 0) return undefined;
      const actors = [...new Set(events.map((e) => e.actor))].join(', ');
      const urgent = events.some((e) => e.basis === 'break-glass');
      return {
        text: `Your record was accessed by ${actors}${urgent ? ' under emergency access' : ''}.`,
        urgent,
        recordChanged: false,
      };
    }
    case 'consent.grant':
      return { text: 'A consent you signed is on the ledger.', urgent: false, recordChanged: false };
    case 'consent.revoke':
      return { text: 'A consent was revoked.', urgent: false, recordChanged: false };
    default:
      return undefined;
  }
}

function Portal({ session, path, onSignOut }: { session: Session; path: string; onSignOut: () => void }) {
  const fhir = useMemo(() => new Fhir(session), [session]);
  const record = useAsync(async () => {
    const bundle = await fhir.get<Bundle>(`Patient/${encodeURIComponent(session.patient!)}/$everything`);
    return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  }, [fhir, session.patient]);
  const keyState = useAsync(() => initialKeyState(session.subject), [session.subject]);
  const [keys, setKeys] = useState<KeyState | undefined>();
  // The node's own organization holds this record: the one to share with and to ask for erasure.
  const organization = useAsync(async () => {
    const [node, genesis] = await Promise.all([
      status(),
      requestJson<{ genesis: { founder: { id: string; name?: string }; members?: { id: string; name?: string }[] } }>(
        '/api/v1/genesis',
      ),
    ]);
    const id = node.organization ?? genesis.genesis.founder.id;
    const known = [genesis.genesis.founder, ...(genesis.genesis.members ?? [])].find((o) => o.id === id);
    return { id, ...(known?.name !== undefined && { name: known.name }) };
  }, []);
  useEffect(() => {
    if (keyState.value) setKeys((k) => k ?? keyState.value);
  }, [keyState.value]);

  const [notifications, setNotifications] = useState<Notification[]>([]);
  const { reload } = record;
  const onTx = useCallback(
    (tx: TxView) => {
      const what = describe(tx, session.subject);
      if (!what) return;
      if (what.recordChanged) reload();
      // Repeats (a clinician reading page after page) fold into one line with a count.
      setNotifications((list) => {
        const same = list.find((n) => n.text === what.text);
        const rest = list.filter((n) => n !== same);
        return [{ id: tx.index, text: what.text, urgent: what.urgent, count: (same?.count ?? 0) + 1 }, ...rest].slice(0, 4);
      });
    },
    [reload, session.subject],
  );
  const live = useSubjectEvents(session.subject, session, onTx);

  if (keyState.error) return <ErrorBox error={keyState.error} onRetry={keyState.reload} />;
  if (!keys) return <Busy label="Checking your keys…" />;
  const area: PatientArea = {
    session,
    fhir,
    record,
    keys,
    setKeys,
    ...(organization.value && { organization: organization.value }),
  };
  if (keys.kind === 'unenrolled') {
    return (
      <PatientContext.Provider value={area}>
        <KeySetup />
      </PatientContext.Provider>
    );
  }
  const detail = /^\/patient\/record\/([A-Za-z]+)\/([A-Za-z0-9\-.]+)$/.exec(path);
  return (
    <PatientContext.Provider value={area}>
      <div className="area-head">
        <h1>My health record</h1>
        <SignedInAs subject={session.subject} as="patient" onSignOut={onSignOut}>
          updates <span className={`live state-${live}`}>{live}</span>
        </SignedInAs>
      </div>
      <nav aria-label="Patient portal" className="tabs">
        <ul>
          {TABS.map((t) => (
            <li key={t.path}>
              <Link to={t.path} aria-current={path === t.path ? 'page' : undefined}>
                {t.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <section aria-label="Notifications" className="notifications" aria-live="polite">
        {notifications.map((n) => (
          <p key={n.id} className={n.urgent ? 'notification urgent' : 'notification'}>
            {n.text}
            {n.count > 1 && <span className="count"> ({n.count}×)</span>}
          </p>
        ))}
      </section>
      {detail ? (
        <RecordDetail type={detail[1]!} id={detail[2]!} />
      ) : path === '/patient/trends' ? (
        <Trends />
      ) : path === '/patient/devices' ? (
        <Suspense fallback={<Busy label="Loading…" />}>
          <DeviceStreams session={session} patient={session.patient!} title="My devices" />
        </Suspense>
      ) : path === '/patient/sharing' ? (
        <Sharing />
      ) : path === '/patient/access' ? (
        <AccessLog />
      ) : path === '/patient/download' ? (
        <DownloadRecord />
      ) : path === '/patient/erasure' ? (
        <Erasure />
      ) : (
        <RecordTimeline />
      )}
    </PatientContext.Provider>
  );
}

export default function PatientPortal({ path }: { path: string }) {
  return (
    <SignInGate role="patient" title="Patient portal">
      {(session, signOut) => <Portal session={session} path={path} onSignOut={signOut} />}
    </SignInGate>
  );
}
