/** The clinician workspace: patient search, charts, forms, emergency access. */
import { useMemo } from 'react';
import { SignedInAs } from '../auth/SignedInAs';
import { Fhir } from '../api/fhir';
import type { Session } from '../auth/oauth';
import { SignInGate } from '../auth/SignInGate';
import { Chart } from './Chart';
import { PatientSearch } from './PatientSearch';

export default function ClinicianWorkspace({ path }: { path: string }) {
  return (
    <SignInGate role="clinician" title="Clinician workspace">
      {(session, signOut) => <Workspace path={path} session={session} onSignOut={signOut} />}
    </SignInGate>
  );
}

function Workspace({ path, session, onSignOut }: { path: string; session: Session; onSignOut: () => void }) {
  const chart = /^\/clinician\/patient\/([A-Za-z0-9\-.]{1,64})$/.exec(path);
  const fhir = useMemo(() => new Fhir(session), [session]);
  return (
    <>
      <div className="area-head">
        <SignedInAs subject={session.subject} onSignOut={onSignOut} />
      </div>
      {chart ? <Chart fhir={fhir} id={chart[1]!} session={session} /> : <PatientSearch fhir={fhir} />}
    </>
  );
}
