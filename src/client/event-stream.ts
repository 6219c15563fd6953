/**
 * Server-sent events (the node's /api/v1/events streams) read with fetch(), in browsers and Node,
 * so the bearer token travels in the Authorization header:
 * EventSource cannot send headers, and a token in a URL ends up in proxy and server logs. Like
 * EventSource it reconnects after a drop and resends Last-Event-ID, so the node replays what was
 * missed; unlike it, a refusal (401/403) ends the stream instead of retrying forever.
 */

export interface ServerEvent {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

export type StreamState = 'connecting' | 'live' | 'offline';

const RETRY_MS = 3000;

/** The SSE wire format (WHATWG HTML §9.2.6), fed chunk by chunk. */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;
  /** The last id seen, for Last-Event-ID (kept across events, as the spec says). */
  lastEventId: string | undefined;
  retryMs: number | undefined;

  constructor(private readonly onEvent: (event: ServerEvent) => void) {}

  push(chunk: string): void {
    this.#buffer += chunk;
    const lines = this.#buffer.split(/\r\n|\r|\n/);
    // The last piece may be a line still arriving (a lone '\r' at the end is resolved next time, harmlessly as a blank line).
    this.#buffer = lines.pop()!;
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value)) this.retryMs = Number(value);
  }

  #dispatch(): void {
    if (this.#id !== undefined) this.lastEventId = this.#id;
    if (this.#data.length > 0) {
      this.onEvent({
        event: this.#event || 'message',
        data: this.#data.join('\n'),
        ...(this.lastEventId !== undefined && { id: this.lastEventId }),
      });
    }
    this.#event = '';
    this.#data = [];
    this.#id = undefined;
  }
}

export interface EventStreamOptions {
  /** A bearer token of the node (subject streams need one; the block stream does not). */
  readonly token?: string;
  readonly onEvent: (event: ServerEvent) => void;
  readonly onState?: (state: StreamState) => void;
  /** Wait before reconnecting, unless the stream said otherwise (`retry:`). */
  readonly retryMs?: number;
}

/** Follows the stream at `url` until the returned function is called. */
export function openEventStream(url: string, options: EventStreamOptions): () => void {
  const controller = new AbortController();
  const parser = new SseParser(options.onEvent);
  const onState = options.onState ?? (() => {});

  const connect = async (): Promise<'retry' | 'stop'> => {
    onState('connecting');
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    if (parser.lastEventId !== undefined) headers['last-event-id'] = parser.lastEventId;
    const response = await fetch(url, { headers, signal: controller.signal });
    if (response.status === 401 || response.status === 403) return 'stop';
    if (!response.ok || !response.body) return 'retry';
    onState('live');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'retry';
      parser.push(value);
    }
  };

  void (async () => {
    while (!controller.signal.aborted) {
      const next = await connect().catch(() => 'retry' as const);
      if (controller.signal.aborted) return;
      if (next === 'stop') return onState('offline');
      onState('connecting');
      await new Promise((resolve) => setTimeout(resolve, parser.retryMs ?? options.retryMs ?? RETRY_MS));
    }
  })();
  return () => controller.abort();
}
