/**
 * Failed sign-ins per username: after MAX_FAILURES failures within WINDOW_MS the username is locked
 * until the oldest failure leaves the window, without even checking the password. In memory (a
 * restart clears it); bounded in size. The scrypt cost of each check (~0.1 s) already slows
 * guessing; this stops a sustained guess at one account.
 */
export const MAX_FAILURES = 5;
export const WINDOW_MS = 15 * 60_000;
const MAX_TRACKED = 10_000;

export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();

  /** Milliseconds until `username` may try again (0: now). */
  retryAfter(username: string, now = Date.now()): number {
    const recent = this.#recent(username, now);
    if (recent.length < MAX_FAILURES) return 0;
    return recent[recent.length - MAX_FAILURES]! + WINDOW_MS - now;
  }

  fail(username: string, now = Date.now()): void {
    if (this.#failures.size >= MAX_TRACKED && !this.#failures.has(username)) {
      for (const [name] of this.#failures) {
        this.#failures.delete(name);
        if (this.#failures.size < MAX_TRACKED / 2) break;
      }
    }
    this.#failures.set(username, [...this.#recent(username, now), now]);
  }

  succeed(username: string): void {
    this.#failures.delete(username);
  }

  #recent(username: string, now: number): number[] {
    return (this.#failures.get(username) ?? []).filter((t) => t > now - WINDOW_MS);
  }
}
