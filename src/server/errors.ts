/** API errors: JSON `{ code, message }` with a stable code and the matching HTTP status. */
import type { LedgerErrorCode } from '../ledger/errors.js';

export type ApiErrorCode =
  | LedgerErrorCode
  | 'request.invalid'
  | 'request.malformed'
  | 'request.too_large'
  | 'request.unsupported_media_type'
  | 'request.timeout'
  | 'not_found'
  | 'auth.required'
  | 'auth.forbidden'
  | 'internal';

const STATUS: Record<ApiErrorCode, number> = {
  'tx.too_large': 413,
  'tx.malformed': 400,
  'tx.non_canonical': 400,
  'tx.unknown_type': 400,
  'tx.wrong_chain': 400,
  'tx.bad_signature': 400,
  'tx.invalid': 400,
  'tx.expired': 422,
  'tx.replayed': 409,
  'tx.sequence_gap': 409,
  'tx.duplicate': 409,
  'state.conflict': 409,
  'tx.unknown_signer': 403,
  'tx.signer_inactive': 403,
  'tx.key_mismatch': 403,
  'tx.unauthorized': 403,
  'state.not_found': 422,
  'state.limit': 422,
  'request.invalid': 400,
  'request.malformed': 400,
  'request.too_large': 413,
  'request.unsupported_media_type': 415,
  'request.timeout': 408,
  not_found: 404,
  'auth.required': 401,
  'auth.forbidden': 403,
  'node.overloaded': 503,
  'node.shutting_down': 503,
  internal: 500,
};

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;

  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.code = code;
    this.status = STATUS[code];
  }
}

export const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
} as const;

export function statusOf(code: ApiErrorCode): number {
  return STATUS[code];
}
