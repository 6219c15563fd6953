/**
 * Mutual authentication of node-to-node exchange: the requesting node signs each request with its
 * organization's ledger key (Ed25519), the custodian signs its response over the request's nonce;
 * each side checks the other's signature against the key the ledger holds for that organization
 * now. Requests carry a time and a random nonce: a custodian refuses stale or replayed ones. TLS
 * (across machines) protects confidentiality of the metadata; these signatures bind who asked whom
 * for what, whatever the transport.
 *
 * Header `MedLedger-Exchange: from=<org>;to=<org>;at=<ms>;nonce=<base64url>;sig=<base64>` on the
 * request, `MedLedger-Exchange-Signature: <base64>` on the response.
 */
import { fromBase64, toBase64 } from '../crypto/bytes.js';
import { SIGNATURE_SIZE, verify, type Signer } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { encodeCanonical } from '../ledger/codec.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';

export const REQUEST_HEADER = 'medledger-exchange';
export const RESPONSE_HEADER = 'medledger-exchange-signature';
/** How far a request's time may be from the custodian's clock. */
export const MAX_SKEW_MS = 120_000;

export interface Stamp {
  readonly from: string;
  readonly to: string;
  readonly at: number;
  readonly nonce: string;
}

const NONCE = /^[A-Za-z0-9_-]{22}$/;

const requestBytes = (chain: string, stamp: Stamp, path: string, body: Uint8Array): Uint8Array =>
  encodeCanonical({ domain: 'medledger/exchange-request/v1', chain, ...stamp, path, body: sha256(body) });

const responseBytes = (chain: string, stamp: Stamp, status: number, body: Uint8Array): Uint8Array =>
  encodeCanonical({ domain: 'medledger/exchange-response/v1', chain, ...stamp, status, body: sha256(body) });

export function newStamp(from: string, to: string, now: number): Stamp {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
  return { from, to, at: now, nonce };
}

/** The request header for POSTing `body` to `path` at the custodian. */
export function signRequest(chain: string, signer: Signer, stamp: Stamp, path: string, body: Uint8Array): string {
  const sig = toBase64(signer.sign(requestBytes(chain, stamp, path, body)));
  return `from=${stamp.from};to=${stamp.to};at=${stamp.at};nonce=${stamp.nonce};sig=${sig}`;
}

export type Parsed =
  { readonly ok: true; readonly stamp: Stamp; readonly sig: Uint8Array } | { readonly ok: false; readonly reason: string };

/** Parses a request header strictly (no signature check yet). */
export function parseRequestHeader(header: string | undefined): Parsed {
  if (header === undefined || header.length > 400) return { ok: false, reason: `missing or oversized ${REQUEST_HEADER} header` };
  const fields = new Map<string, string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    if (eq < 1 || fields.has(name)) return { ok: false, reason: `malformed ${REQUEST_HEADER} header` };
    fields.set(name, part.slice(eq + 1).trim());
  }
  const [from, to, at, nonce, sig] = ['from', 'to', 'at', 'nonce', 'sig'].map((k) => fields.get(k) ?? '');
  const signature = fromBase64(sig!);
  if (
    fields.size !== 5 ||
    !ID_PATTERNS.organization.test(from!) ||
    !ID_PATTERNS.organization.test(to!) ||
    !/^[0-9]{1,15}$/.test(at!) ||
    !NONCE.test(nonce!) ||
    signature?.length !== SIGNATURE_SIZE
  )
    return { ok: false, reason: `malformed ${REQUEST_HEADER} header` };
  return { ok: true, stamp: { from: from!, to: to!, at: Number(at), nonce: nonce! }, sig: signature };
}

export function verifyRequest(
  chain: string,
  stamp: Stamp,
  sig: Uint8Array,
  key: Uint8Array,
  path: string,
  body: Uint8Array,
): boolean {
  return verify(sig, requestBytes(chain, stamp, path, body), key);
}

export function signResponse(chain: string, signer: Signer, stamp: Stamp, status: number, body: Uint8Array): string {
  return toBase64(signer.sign(responseBytes(chain, stamp, status, body)));
}

export function verifyResponse(
  chain: string,
  stamp: Stamp,
  header: string | null,
  key: Uint8Array,
  status: number,
  body: Uint8Array,
): boolean {
  const sig = header === null ? undefined : fromBase64(header);
  return sig?.length === SIGNATURE_SIZE && verify(sig, responseBytes(chain, stamp, status, body), key);
}

/** Nonces seen within the accepted time window; a request whose nonce is here is a replay. */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  /** Records the nonce; false if it was already used (or the guard is full of live nonces). */
  admit(stamp: Stamp, now: number): boolean {
    const key = `${stamp.from}/${stamp.nonce}`;
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.#max) {
      for (const [k, expiry] of this.#seen) if (expiry < now) this.#seen.delete(k);
      if (this.#seen.size >= this.#max) return false;
    }
    this.#seen.set(key, stamp.at + MAX_SKEW_MS);
    return true;
  }
}
