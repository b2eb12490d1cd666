/**
 * Shared plumbing for the socket/client API tests: a socketeer server on 127.0.0.1:0, a connected
 * client/server pair, event waits with deadlines, and cleanup that never leaves a handle open (the
 * runner must exit on its own).
 */
import type { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type ClientOptions,
  type ServerOptions,
  WebSocket,
  WebSocketServer,
} from "../../src/index.js";

/** A listening server and the URL to reach it. */
export interface TestServer {
  wss: WebSocketServer;
  port: number;
  url: string;
}

/** Starts a socketeer server on 127.0.0.1, port 0. */
export function startServer(options: Omit<ServerOptions, "port"> = {}): Promise<TestServer> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ ...options, port: 0, host: "127.0.0.1" }, () => {
      const port = (wss.address() as AddressInfo).port;
      resolve({ wss, port, url: `ws://127.0.0.1:${port}` });
    });
    wss.once("error", reject);
  });
}

/** Terminates every connection the server tracks and waits for the server to close. */
export async function stopServer(wss: WebSocketServer): Promise<void> {
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

/**
 * Resolves with the arguments of the next `event` from `emitter`; rejects after `ms`. Unlike
 * `events.once` it never rejects on 'error', so tests can wait for 'close' after an expected error.
 */
export function waitEvent<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  ms = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    emitter.once(event, listener);
  });
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms until true; rejects after `ms`. */
export async function until(
  condition: () => boolean,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await delay(5);
  }
}

/** A client and the server-side socket of the same connection, both open. */
export interface Pair extends TestServer {
  client: WebSocket;
  server: WebSocket;
  request: IncomingMessage;
}

/**
 * Starts a server and connects one client to it; resolves once both sides are open. The client
 * has an 'error' listener that records errors in `errors` so none is lost.
 */
export async function connectPair(
  serverOptions: Omit<ServerOptions, "port"> = {},
  clientOptions: ClientOptions = {},
  protocols?: string | string[],
): Promise<Pair & { errors: Error[] }> {
  const srv = await startServer(serverOptions);
  const connection = waitEvent<[WebSocket, IncomingMessage]>(srv.wss, "connection");
  const client =
    protocols === undefined
      ? new WebSocket(srv.url, clientOptions)
      : new WebSocket(srv.url, protocols, clientOptions);
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  const [[server, request]] = await Promise.all([connection, waitEvent(client, "open")]);
  return { ...srv, client, server, request, errors };
}

/** Ends a pair: terminates both sockets and closes the server. */
export async function closePair(pair: TestServer & { client: WebSocket }): Promise<void> {
  pair.client.terminate();
  await stopServer(pair.wss);
}

/** Collects messages of `ws` as `{ data, isBinary }` in arrival order. */
export function collectMessages(ws: EventEmitter): Array<{ data: unknown; isBinary: boolean }> {
  const out: Array<{ data: unknown; isBinary: boolean }> = [];
  ws.on("message", (data: unknown, isBinary: boolean) => out.push({ data, isBinary }));
  return out;
}
