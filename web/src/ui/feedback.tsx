/** Shared status pieces: errors people can read, progress that screen readers announce. */
import { Component, type ReactNode } from 'react';
import { ApiFailure, errorText } from '../api/http';
import { signOut } from '../auth/oauth';

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div className="error" role="alert">
      <strong>Something went wrong.</strong> {errorText(error)}
      {error instanceof ApiFailure && error.status === 401 ? (
        <button
          type="button"
          className="secondary"
          onClick={() => {
            // Access tokens last minutes: drop the dead one and let the area offer sign-in again.
            signOut('patient');
            signOut('clinician');
            location.reload();
          }}
        >
          Sign in again
        </button>
      ) : (
        onRetry && (
          <button type="button" className="secondary" onClick={onRetry}>
            Try again
          </button>
        )
      )}
    </div>
  );
}

export function Busy({ label }: { label: string }) {
  return (
    <p className="busy" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <p className="notice" role="status">
      {children}
    </p>
  );
}

/** A render error in one area shows a message instead of blanking the whole app. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error?: unknown }> {
  override state: { error?: unknown } = {};
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override render() {
    return this.state.error !== undefined ? <ErrorBox error={this.state.error} /> : this.props.children;
  }
}
