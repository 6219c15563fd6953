/**
 * The ABCI 2.0 socket server CometBFT v0.38 talks to. CometBFT opens four connections
 * (consensus, mempool, info/query, state sync snapshots) to the same address; each carries
 * length-prefixed Requests and expects the Responses in the same order. Responses are written
 * when CometBFT sends Flush (it flushes after every request it waits on), so a burst of CheckTx
 * becomes one socket write. Every connection is served by the same handler, one request at a
 * time in arrival order — the handler is synchronous, which also keeps the state machine free of
 * interleaving between connections.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { Request, Response } from 'cosmjs-types/tendermint/abci/types';
import { decodeRequest, encodeResponse, FrameReader } from './wire.js';

/** Answers one request (anything but Flush and Echo, which the server answers itself). */
export type AbciHandler = (request: Request) => Response;

export type ListenAddress = { readonly path: string } | { readonly host: string; readonly port: number };

/** Parses `unix:///path/to.sock`, `tcp://host:port` or `host:port`. */
export function parseAbciAddress(address: string): ListenAddress {
  if (address.startsWith('unix://')) return { path: address.slice('unix://'.length) };
  const rest = address.startsWith('tcp://') ? address.slice('tcp://'.length) : address;
  const match = /^(.*):(\d+)$/.exec(rest);
  if (!match) throw new Error(`invalid ABCI address "${address}" (expected unix:///path or tcp://host:port)`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

export class AbciServer {
  readonly #server: Server;
  readonly #handler: AbciHandler;
  readonly #sockets = new Set<Socket>();
  readonly #onError: (error: unknown) => void;

  constructor(handler: AbciHandler, onError: (error: unknown) => void = () => {}) {
    this.#handler = handler;
    this.#onError = onError;
    this.#server = createServer((socket) => this.#serve(socket));
  }

  async listen(address: ListenAddress): Promise<void> {
    if ('path' in address) rmSync(address.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      const done = (): void => {
        this.#server.off('error', reject);
        resolve();
      };
      if ('path' in address) this.#server.listen(address.path, done);
      else this.#server.listen(address.port, address.host, done);
    });
  }

  /** Number of open CometBFT connections. */
  get connections(): number {
    return this.#sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader();
    let pending: Uint8Array[] = [];
    socket.on('data', (chunk: Buffer) => {
      try {
        // Responses up to the last Flush of this chunk go out in one write: under load CometBFT
        // pipelines many CheckTx+Flush pairs into one chunk, and one syscall each adds up.
        let flushed = 0;
        for (const message of reader.push(chunk)) {
          const request = decodeRequest(message);
          pending.push(encodeResponse(this.#answer(request)));
          if (request.flush) flushed = pending.length;
        }
        if (flushed > 0) {
          socket.write(flushed === 1 ? pending[0]! : Buffer.concat(pending.slice(0, flushed)));
          pending = pending.slice(flushed);
        }
      } catch (error) {
        // A broken stream or a failing handler: tell CometBFT (it stops) and drop the connection.
        this.#onError(error);
        const message = error instanceof Error ? error.message : String(error);
        pending.push(encodeResponse({ exception: { error: message } }));
        socket.end(Buffer.concat(pending));
        pending = [];
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #answer(request: Request): Response {
    if (request.flush) return { flush: {} };
    if (request.echo) return { echo: { message: request.echo.message } };
    return this.#handler(request);
  }
}
