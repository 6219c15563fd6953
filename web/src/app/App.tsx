/** The app shell: navigation, client routes, and one lazily loaded bundle per area. */
import { lazy, Suspense, useEffect, useRef, useState } from 'react';
import { completeSignIn, currentSession } from '../auth/oauth';
import { Busy, ErrorBoundary, ErrorBox } from '../ui/feedback';
import { Link, navigate, useLocation } from './router';
import { Home } from './Home';

const PatientPortal = lazy(() => import('../patient/PatientPortal'));
const ClinicianWorkspace = lazy(() => import('../clinician/ClinicianWorkspace'));
const Explorer = lazy(() => import('../explorer/Explorer'));
const PopulationDashboard = lazy(() => import('../population/PopulationDashboard'));

const AREAS: { path: string; label: string; practitioners?: true }[] = [
  { path: '/patient', label: 'Patient portal' },
  { path: '/clinician', label: 'Clinician workspace' },
  { path: '/population', label: 'Population health', practitioners: true },
  { path: '/explorer', label: 'Ledger explorer' },
];

function Callback({ query }: { query: URLSearchParams }) {
  const [error, setError] = useState<unknown>();
  const started = useRef(false);
  useEffect(() => {
    // The code is single use: never exchange it twice (StrictMode runs effects twice).
    if (started.current) return;
    started.current = true;
    completeSignIn(query).then(({ returnTo }) => navigate(returnTo, { replace: true }), setError);
  }, [query]);
  if (error === undefined) return <Busy label="Finishing sign-in…" />;
  return (
    <>
      <h1>Sign-in</h1>
      <ErrorBox error={error} />
      <p>
        <Link to="/">Back to the start page</Link>
      </p>
    </>
  );
}

function Area({ path, search }: { path: string; search: URLSearchParams }) {
  if (path === '/') return <Home />;
  if (path === '/app/callback') return <Callback query={search} />;
  if (path === '/patient' || path.startsWith('/patient/')) return <PatientPortal path={path} />;
  if (path === '/clinician' || path.startsWith('/clinician/')) return <ClinicianWorkspace path={path} />;
  if (path === '/explorer' || path.startsWith('/explorer/')) return <Explorer path={path} />;
  if (path === '/population') return <PopulationDashboard />;
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{path}</code>. <Link to="/">Go to the start page</Link>.
      </p>
    </>
  );
}

export function App() {
  const { path, search } = useLocation();
  const main = useRef<HTMLElement>(null);
  // Move focus to the new page's content on navigation (not on the first load, where the skip link
  // comes first), so keyboard and screen reader users follow.
  const shownPath = useRef(path);
  useEffect(() => {
    if (path === shownPath.current) return;
    shownPath.current = path;
    main.current?.focus();
  }, [path]);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          MedLedger
        </Link>
        <nav aria-label="Areas">
          <ul>
            {/* Practitioner-only areas are linked once a practitioner is signed in (the page itself asks to sign in). */}
            {AREAS.filter((a) => !a.practitioners || currentSession('clinician')).map((a) => (
              <li key={a.path}>
                <Link to={a.path} aria-current={path.startsWith(a.path) ? 'page' : undefined}>
                  {a.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <ErrorBoundary key={path.split('/')[1]}>
          <Suspense fallback={<Busy label="Loading…" />}>
            <Area path={path} search={search} />
          </Suspense>
        </ErrorBoundary>
      </main>
    </>
  );
}
