import { Link } from './router';

export function Home() {
  return (
    <>
      <h1>MedLedger</h1>
      <p className="lead">
        Your health record, held encrypted by the organizations that care for you. Who may see it is decided by consents you sign
        on your own device, and every access is on a ledger anyone in the network can verify.
      </p>
      <div className="cards">
        <section className="card">
          <h2>
            <Link to="/patient">Patient portal</Link>
          </h2>
          <p>See your whole record and its trends, share it, see who looked at it, download it or ask for erasure.</p>
        </section>
        <section className="card">
          <h2>
            <Link to="/clinician">Clinician workspace</Link>
          </h2>
          <p>Find patients, read and update charts, and open emergency access when it matters — accounted for.</p>
        </section>
        <section className="card">
          <h2>
            <Link to="/explorer">Ledger explorer</Link>
          </h2>
          <p>Blocks and transactions (no health data), with inclusion and consistency proofs checked in this browser.</p>
        </section>
      </div>
    </>
  );
}
