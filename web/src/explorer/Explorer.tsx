/** The ledger explorer: latest blocks and transactions (no health data on the ledger), proofs checked here. */
import { useState } from 'react';
import { blocks, status } from '../api/ledger';
import { currentSession } from '../auth/oauth';
import { Link, navigate } from '../app/router';
import { Busy, ErrorBox } from '../ui/feedback';
import { useAsync } from '../ui/useAsync';
import { decodeTx } from '../sdk';
import { Consistency } from './Consistency';
import { Integrity } from './Integrity';
import { TxDetail } from './TxDetail';

const LATEST = 10;
const bytesOfBase64 = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const { sha256 } = await import('@noble/hashes/sha2.js');
  return Array.from(sha256(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

interface TxLine {
  hash: string;
  /** Known to signed-in staff only: transaction bodies are not public. */
  type?: string;
  signer?: string;
}

function Overview() {
  const chain = useAsync(status, []);
  // Staff (a signed-in clinician) see what each transaction is; anyone else its hash.
  const staff = currentSession('clinician');
  const latest = useAsync(async () => {
    const s = await status();
    const from = Math.max(1, s.height - LATEST + 1);
    const page = await blocks(from, LATEST, staff);
    return Promise.all(
      page.blocks.reverse().map(async (b) => ({
        height: b.header.height,
        hash: b.hash,
        time: b.header.time,
        txs: await Promise.all(
          b.txs.map(async (b64): Promise<TxLine> => {
            if (!staff) return { hash: b64 };
            const wire = bytesOfBase64(b64);
            const tx = decodeTx(wire, s.chain, { skipSignature: true });
            return {
              hash: await sha256Hex(wire),
              type: tx.ok ? tx.value.tx.type : 'unreadable',
              signer: tx.ok ? tx.value.tx.signer : '',
            };
          }),
        ),
      })),
    );
  }, [staff?.accessToken]);
  const [hash, setHash] = useState('');
  return (
    <>
      <section aria-labelledby="status-title">
        <h2 id="status-title">Chain</h2>
        {chain.error !== undefined && <ErrorBox error={chain.error} onRetry={chain.reload} />}
        {chain.value && (
          <dl className="facts">
            <div>
              <dt>Chain</dt>
              <dd>{chain.value.chain}</dd>
            </div>
            <div>
              <dt>Height</dt>
              <dd data-testid="height">{chain.value.height}</dd>
            </div>
            <div>
              <dt>Log size</dt>
              <dd>{chain.value.logSize}</dd>
            </div>
            <div>
              <dt>Consensus</dt>
              <dd>{chain.value.consensus}</dd>
            </div>
            <div>
              <dt>Validators</dt>
              <dd>
                {chain.value.validators.map((v) => (
                  <span key={v.key} className="validator">
                    {v.name} <code>{v.key.slice(0, 16)}…</code>
                  </span>
                ))}
              </dd>
            </div>
          </dl>
        )}
      </section>
      <form
        className="open-by-id"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/explorer/tx/${hash.trim().toLowerCase()}`);
        }}
      >
        <label htmlFor="tx-hash">Find a transaction by hash</label>
        <input id="tx-hash" value={hash} onChange={(e) => setHash(e.target.value)} spellCheck={false} autoComplete="off" />
        <button type="submit" className="secondary">
          Show
        </button>
      </form>
      <section aria-labelledby="blocks-title">
        <h2 id="blocks-title">Latest blocks</h2>
        {!staff && (
          <p data-testid="explorer-public">
            Transactions are shown by hash: what they say links people, so it is shown to signed-in staff only.
          </p>
        )}
        {latest.error !== undefined && <ErrorBox error={latest.error} onRetry={latest.reload} />}
        {!latest.value && !latest.error && <Busy label="Loading blocks…" />}
        <ol className="blocks">
          {latest.value?.map((b) => (
            <li key={b.height}>
              <strong>Block {b.height}</strong> <small>{time(b.time)}</small> <code>{b.hash.slice(0, 16)}…</code>
              <ul>
                {b.txs.slice(0, 8).map((t) => (
                  <li key={t.hash}>
                    {t.type !== undefined ? (
                      <>
                        <Link to={`/explorer/tx/${t.hash}`}>{t.type}</Link> by <code>{t.signer}</code>
                      </>
                    ) : (
                      <Link to={`/explorer/tx/${t.hash}`}>
                        <code>{t.hash.slice(0, 16)}…</code>
                      </Link>
                    )}
                  </li>
                ))}
                {b.txs.length > 8 && <li>and {b.txs.length - 8} more</li>}
              </ul>
            </li>
          ))}
        </ol>
      </section>
      <Consistency />
      <Integrity />
    </>
  );
}

export default function Explorer({ path }: { path: string }) {
  const tx = /^\/explorer\/tx\/([^/]+)$/.exec(path);
  return (
    <>
      <h1>Ledger explorer</h1>
      <p className="lead">
        The ledger holds no health data: only pseudonyms, keys, commitments, consents and access events. Every proof here is
        checked in this browser against validator keys pinned from the genesis document.
      </p>
      {tx ? <TxDetail hash={decodeURIComponent(tx[1]!)} /> : <Overview />}
    </>
  );
}
