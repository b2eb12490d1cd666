/**
 * Helpers for the WebSocketServer tests: raw handshakes over `net`, so every byte the server sends
 * back is visible (status line, headers, body, and whether the server ended the connection).
 */
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as net from "node:net";

/** The sample key and accept value of RFC 6455 §1.3. */
export const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
/** `acceptKey(SAMPLE_KEY)` as given in RFC 6455 §1.3. */
export const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** A parsed HTTP response head plus what followed it. */
export interface RawResponse {
  /** Everything received, as latin1 text. */
  raw: string;
  /** e.g. 400 */
  status: number;
  /** e.g. "HTTP/1.1 400 Bad Request" */
  statusLine: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Bytes after the blank line. */
  body: string;
  /** True when the server ended or closed the connection (we never did). */
  serverClosed: boolean;
}

/** Parses `raw` (a complete response head, maybe followed by a body). */
export function parseResponse(raw: string, serverClosed: boolean): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const status = Number(statusLine.split(" ")[1]);
  return {
    raw,
    status,
    statusLine,
    headers,
    body: end === -1 ? "" : raw.slice(end + 4),
    serverClosed,
  };
}

/**
 * Sends `request` on a fresh connection and collects the reply until the server closes the
 * connection, or `waitMs` passes (then `serverClosed` is false and we destroy the socket).
 */
export function rawRequest(port: number, request: string, waitMs = 3000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let raw = "";
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(raw, closed));
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.setEncoding("latin1");
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk: string) => {
      raw += chunk;
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A reset after the response still counts as the server closing; before it, it is a failure.
      if (raw.length > 0 || error.code === "ECONNRESET") finish(true);
      else if (!done) {
        done = true;
        clearTimeout(timer);
        reject(error);
      }
    });
  });
}

/** A valid upgrade request for `path`, with header lines replaced/added/removed by `overrides`. */
export function upgradeRequest(
  path = "/",
  overrides: Record<string, string | null> = {},
  method = "GET",
  version = "HTTP/1.1",
): string {
  const fields: Record<string, string | null> = {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": SAMPLE_KEY,
    "Sec-WebSocket-Version": "13",
    ...overrides,
  };
  let out = `${method} ${path} ${version}\r\n`;
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null) out += `${name}: ${value}\r\n`;
  }
  return `${out}\r\n`;
}

/** An http server listening on 127.0.0.1:0, and its port. */
export async function listenHttp(
  handler?: http.RequestListener,
): Promise<{ server: http.Server; port: number }> {
  const server = track(http.createServer(handler), closeHttp);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

/** Closes an http server, also dropping its idle connections. */
export async function closeHttp(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The port of a bound server address. */
export function portOf(address: AddressInfo | string | null): number {
  if (address === null || typeof address === "string") throw new Error("not bound to a port");
  return address.port;
}

/** Cleanups registered by {@link track}, run (and cleared) by {@link runCleanups}. */
const cleanups: Array<() => unknown> = [];

/**
 * Registers `cleanup` to run after the current test even when an assertion fails first, so a
 * failing test cannot leave a server or socket open (which would keep the test process alive).
 */
export function track<T>(resource: T, cleanup: (resource: T) => unknown): T {
  cleanups.push(() => cleanup(resource));
  return resource;
}

/** Runs every registered cleanup, newest first; use as `afterEach(runCleanups)`. */
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop() as () => unknown;
    try {
      await cleanup();
    } catch {
      // Already closed: nothing left to clean.
    }
  }
}

/** Cleanup for a WebSocketServer-like object: drop its clients, then close it. */
export function forceClose(wss: {
  clients: Set<{ terminate(): void }>;
  close(cb?: (error?: Error) => void): void;
}): Promise<void> {
  for (const ws of wss.clients) ws.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}
