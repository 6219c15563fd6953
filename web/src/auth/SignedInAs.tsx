import type { ReactNode } from 'react';

/** "Signed in as <subject> · … · Sign out", the line under each signed-in area's heading. */
export function SignedInAs({
  subject,
  as,
  onSignOut,
  children,
}: {
  subject: string;
  /** A word before the subject, e.g. "patient". */
  as?: string;
  onSignOut: () => void;
  /** More status shown before the sign-out button. */
  children?: ReactNode;
}) {
  return (
    <p className="meta">
      Signed in as {as === undefined ? '' : `${as} `}
      <code>{subject}</code> · {children}
      {children === undefined ? null : ' · '}
      <button type="button" className="link" onClick={onSignOut}>
        Sign out
      </button>
    </p>
  );
}
