/**
 * Typed errors of the client SDK. Functions that read untrusted input (a backup fetched from a
 * node, a recovery code typed by a person, a proof from the network) return a `ClientResult`, never
 * throw on bad input: callers switch on `code`; `message` is for people and names no secret.
 */
export type ClientErrorCode =
  | 'backup.malformed'
  | 'backup.unsupported'
  | 'backup.kdf_out_of_bounds'
  | 'backup.wrong_patient'
  | 'backup.wrong_key'
  | 'backup.cannot_open'
  | 'backup.weak_passphrase'
  | 'recovery.malformed'
  | 'recovery.checksum'
  | 'proof.malformed'
  | 'proof.untrusted_signer'
  | 'proof.bad_signature'
  | 'proof.wrong_chain'
  | 'proof.invalid'
  | 'api.http'
  | 'api.malformed';

export interface ClientError {
  readonly code: ClientErrorCode;
  readonly message: string;
}

export type ClientResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ClientError };

export function success<T>(value: T): ClientResult<T> {
  return { ok: true, value };
}

export function failure<T = never>(code: ClientErrorCode, message: string): ClientResult<T> {
  return { ok: false, error: { code, message } };
}
