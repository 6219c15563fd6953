/**
 * Live ledger transactions about one subject (a patient's pseudonym) from the node's event
 * stream, read with the signed-in user's token (src/client/event-stream.ts). The stream reconnects on
 * its own and resends Last-Event-ID, so nothing committed while disconnected is missed.
 */
import { useEffect, useRef, useState } from 'react';
// Narrow import: the event stream alone, not the whole SDK.
import { openEventStream, type StreamState } from '../../../src/client/event-stream.js';
import type { TxView } from '../api/ledger';
import type { Session } from '../auth/oauth';

export function useSubjectEvents(subject: string | undefined, session: Session, onTx: (tx: TxView) => void): StreamState {
  const [state, setState] = useState<StreamState>('connecting');
  const handler = useRef(onTx);
  handler.current = onTx;
  const token = session.accessToken;
  useEffect(() => {
    if (!subject) return;
    return openEventStream(`/api/v1/subjects/${encodeURIComponent(subject)}/events`, {
      token,
      onEvent: (event) => {
        if (event.event === 'tx') handler.current(JSON.parse(event.data) as TxView);
      },
      onState: setState,
    });
  }, [subject, token]);
  return state;
}
