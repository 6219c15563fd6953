/**
 * Access tokens this node has verified, remembered until they expire. An RS256 verification costs
 * the event loop ~0.1 ms per request, and a client sends the same token for its whole life. The
 * key is the exact token string (and the origin it was verified for), so a hit is a token whose
 * signature and claims checked out before; expiry is checked again on every hit. Revocation is
 * unaffected: the account and the practitioner's ledger status are checked on every request after
 * this (AuthService.authenticate).
 */
import { CLOCK_TOLERANCE_SECONDS, type AccessTokenClaims } from './tokens.js';

export class VerifiedTokens {
  readonly #max: number;
  /** In insertion order, so the first entry is the oldest. */
  readonly #entries = new Map<string, AccessTokenClaims>();

  constructor(max = 4096) {
    this.#max = max;
  }

  /** The claims of a token verified earlier for `origin`, unless it has expired since (`now` in seconds). */
  get(token: string, origin: string, now: number): AccessTokenClaims | undefined {
    const key = `${origin} ${token}`;
    const claims = this.#entries.get(key);
    if (claims === undefined) return undefined;
    if (now > claims.exp + CLOCK_TOLERANCE_SECONDS) {
      this.#entries.delete(key);
      return undefined;
    }
    return claims;
  }

  put(token: string, origin: string, claims: AccessTokenClaims): void {
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(`${origin} ${token}`, claims);
  }

  get size(): number {
    return this.#entries.size;
  }
}
