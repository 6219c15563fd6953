/** The clinician workspace: patient search, charts, forms, emergency access. */
import { useMemo } from 'react';
import { Fhir } from '../api/fhir';
import { SignInGate } from '../auth/SignInGate';
import { Chart } from './Chart';
import { PatientSearch } from './PatientSearch';

export default function ClinicianWorkspace({ path }: { path: string }) {
  return (
    <SignInGate role="clinician" title="Clinician workspace">
      {(session, signOut) => <Workspace path={path} fhir={new Fhir(session)} subject={session.subject} onSignOut={signOut} />}
    </SignInGate>
  );
}

function Workspace({ path, fhir, subject, onSignOut }: { path: string; fhir: Fhir; subject: string; onSignOut: () => void }) {
  const chart = /^\/clinician\/patient\/([A-Za-z0-9\-.]{1,64})$/.exec(path);
  // One FHIR client per signed-in user for the lifetime of the workspace.
  const client = useMemo(() => fhir, [subject]);
  return (
    <>
      <div className="area-head">
        <p className="meta">
          Signed in as <code>{subject}</code> ·{' '}
          <button type="button" className="link" onClick={onSignOut}>
            Sign out
          </button>
        </p>
      </div>
      {chart ? <Chart fhir={client} id={chart[1]!} /> : <PatientSearch fhir={client} />}
    </>
  );
}
