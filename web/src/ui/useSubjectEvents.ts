/**
 * Live ledger transactions about one subject (a patient's pseudonym) from the node's event
 * stream (server-sent events). EventSource reconnects on its own and resends Last-Event-ID, so
 * nothing committed while disconnected is missed.
 */
import { useEffect, useRef, useState } from 'react';
import type { TxView } from '../api/ledger';

export function useSubjectEvents(subject: string | undefined, onTx: (tx: TxView) => void): 'connecting' | 'live' | 'offline' {
  const [state, setState] = useState<'connecting' | 'live' | 'offline'>('connecting');
  const handler = useRef(onTx);
  handler.current = onTx;
  useEffect(() => {
    if (!subject) return;
    const source = new EventSource(`/api/v1/subjects/${encodeURIComponent(subject)}/events`);
    source.onopen = () => setState('live');
    source.onerror = () => setState(source.readyState === EventSource.CLOSED ? 'offline' : 'connecting');
    source.addEventListener('tx', (event) => handler.current(JSON.parse((event as MessageEvent<string>).data) as TxView));
    return () => source.close();
  }, [subject]);
  return state;
}
