import { createContext, useContext } from 'react';
import type { Session } from '../auth/oauth';
import type { Fhir, Resource } from '../api/fhir';
import type { Async } from '../ui/useAsync';
import type { KeyState } from './keyring';

export interface PatientArea {
  readonly session: Session;
  readonly fhir: Fhir;
  /** Everything in the patient's record ($everything), reloaded when a record commits. */
  readonly record: Async<Resource[]>;
  readonly keys: KeyState;
  setKeys(state: KeyState): void;
  /** The founding organization of the chain (this node's organization), for grants and erasure. */
  readonly organization?: { id: string; name?: string };
}

export const PatientContext = createContext<PatientArea | undefined>(undefined);

export function usePatient(): PatientArea {
  const area = useContext(PatientContext);
  if (!area) throw new Error('usePatient outside the patient portal');
  return area;
}
