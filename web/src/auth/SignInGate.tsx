/** Shows an area's content only with a session of the right role; otherwise a sign-in button. */
import { useState, type ReactNode } from 'react';
import { beginSignIn, currentSession, signOut, type Role, type Session } from './oauth';

const WHO: Record<Role, string> = { patient: 'patients', clinician: 'clinicians and other staff' };

export function SignInGate({
  role,
  title,
  children,
}: {
  role: Role;
  title: string;
  children: (s: Session, signOut: () => void) => ReactNode;
}) {
  const [session, setSession] = useState(() => currentSession(role));
  if (session) {
    return children(session, () => {
      signOut(role);
      setSession(undefined);
    });
  }
  return (
    <section className="signin">
      <h1>{title}</h1>
      <p>
        For {WHO[role]} with a MedLedger account. You sign in on your organization&apos;s node; this app never sees your password.
      </p>
      <button type="button" onClick={() => void beginSignIn(role, location.pathname)}>
        Sign in
      </button>
    </section>
  );
}
