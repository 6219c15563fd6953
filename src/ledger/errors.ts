/** Stable error codes of the ledger plane. Clients switch on `code`; `message` is for people. */
export type LedgerErrorCode =
  | 'tx.too_large'
  | 'tx.malformed'
  | 'tx.non_canonical'
  | 'tx.unknown_type'
  | 'tx.wrong_chain'
  | 'tx.bad_signature'
  | 'tx.expired'
  | 'tx.replayed'
  | 'tx.sequence_gap'
  | 'tx.duplicate'
  | 'tx.unknown_signer'
  | 'tx.signer_inactive'
  | 'tx.key_mismatch'
  | 'tx.unauthorized'
  | 'tx.invalid'
  | 'state.conflict'
  | 'state.not_found'
  | 'state.limit'
  | 'node.overloaded'
  | 'node.shutting_down';

export interface LedgerError {
  readonly code: LedgerErrorCode;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: LedgerError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: LedgerErrorCode, message: string): Result<T> {
  return { ok: false, error: { code, message } };
}
