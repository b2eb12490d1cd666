/**
 * Plumbing for the pub/sub tests: a server plus N connected clients whose server-side sockets are
 * known (matched by request path, so clients can connect in parallel), message recorders, a raw
 * TCP subscriber that can stop reading, and cleanup that leaves no handle open.
 */
import type { IncomingMessage } from "node:http";
import { inflateRawSync, constants as zlibConstants } from "node:zlib";
import { type ClientOptions, type ServerOptions, WebSocket } from "../../src/index.js";
import { startServer, stopServer, type TestServer, until } from "./api-util.js";
import type { ParsedFrame } from "./frame-reader.js";
import { type HandshakeOptions, RawClient } from "./raw-client.js";

export { delay, stopServer, type TestServer, until, waitEvent } from "./api-util.js";

/** One message as a client received it. */
export interface Received {
  /** The payload decoded as UTF-8 (every test message is text or UTF-8 bytes). */
  text: string;
  /** The payload bytes. */
  bytes: Buffer;
  /** The isBinary flag of the `message` event. */
  isBinary: boolean;
}

/** A connected client, its server-side socket, and what the client received. */
export interface Peer {
  /** The client end (a socketeer client). */
  client: WebSocket;
  /** The server end, as passed to the server's `connection` event. */
  server: WebSocket;
  /** Messages the client received, in order. */
  received: Received[];
  /** Errors the client emitted. */
  errors: Error[];
  /** The close code the client saw, once closed. */
  closeCode: number | null;
}

/** Starts a server on 127.0.0.1:0 (see {@link startServer}). */
export function startPubSub(options: Omit<ServerOptions, "port"> = {}): Promise<TestServer> {
  return startServer(options);
}

let nextPeerId = 0;

/**
 * Connects `count` clients to `srv` in parallel and pairs each with its server-side socket (each
 * client asks for a unique path, which the `connection` event's request carries).
 */
export async function connectPeers(
  srv: TestServer,
  count: number,
  clientOptions: ClientOptions = {},
): Promise<Peer[]> {
  const waiting = new Map<string, (ws: WebSocket) => void>();
  const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
    const resolve = waiting.get(request.url ?? "");
    if (resolve !== undefined) {
      waiting.delete(request.url ?? "");
      resolve(ws);
    }
  };
  srv.wss.on("connection", onConnection);
  try {
    const pending: Array<Promise<Peer>> = [];
    for (let i = 0; i < count; i++) {
      const path = `/peer-${nextPeerId++}`;
      const serverSide = new Promise<WebSocket>((resolve) => waiting.set(path, resolve));
      const client = new WebSocket(`${srv.url}${path}`, clientOptions);
      // `server` is filled in once the server's `connection` event names it; the listeners below
      // write into this same object, so it is returned as is.
      const peer: Peer = {
        client,
        server: client,
        received: [],
        errors: [],
        closeCode: null,
      };
      client.on("message", (data, isBinary) => {
        const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
        peer.received.push({ text: bytes.toString("utf8"), bytes, isBinary });
      });
      client.on("error", (error) => peer.errors.push(error));
      client.on("close", (code) => {
        peer.closeCode = code;
      });
      const opened = new Promise<void>((resolve, reject) => {
        client.once("open", () => resolve());
        client.once("close", (code) => reject(new Error(`client closed (${code}) before open`)));
      });
      pending.push(
        withTimeout(
          Promise.all([serverSide, opened]).then(([server]) => {
            peer.server = server;
            return peer;
          }),
          5000,
          `peer ${path} to connect`,
        ),
      );
    }
    return await Promise.all(pending);
  } finally {
    srv.wss.off("connection", onConnection);
  }
}

/** Rejects with a message naming `what` when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Waits until `peer` has received at least `count` messages; fails at once (naming the client's
 * errors) if the client closes first, rather than waiting out the deadline.
 */
export async function receivedCount(peer: Peer, count: number, ms = 5000): Promise<void> {
  await until(
    () => peer.received.length >= count || peer.closeCode !== null,
    ms,
    `${count} messages (have ${peer.received.length})`,
  );
  if (peer.received.length < count) {
    const errors = peer.errors.map((e) => e.message).join("; ");
    throw new Error(
      `client closed (${peer.closeCode}) after ${peer.received.length} of ${count} messages` +
        (errors === "" ? "" : `: ${errors}`),
    );
  }
}

/** The texts a peer received, in order. */
export function texts(peer: Peer): string[] {
  return peer.received.map((m) => m.text);
}

/** Waits until the client of `peer` has seen its close event. */
export function clientClosed(peer: Peer, ms = 5000): Promise<void> {
  return until(() => peer.closeCode !== null, ms, "client close");
}

/** Terminates every client and the server (always call it in `finally`). */
export async function closeAll(srv: TestServer, peers: readonly Peer[] = []): Promise<void> {
  for (const peer of peers) peer.client.terminate();
  await stopServer(srv.wss);
}

/** A raw TCP subscriber: the handshake done by hand, then frames read (or not) at will. */
export interface RawSubscriber {
  /** The raw client; `raw.socket.pause()` makes it stop reading. */
  raw: RawClient;
  /** Its server-side socket. */
  server: WebSocket;
}

/**
 * Opens a raw client on `srv` and returns it with its server-side socket. `options` go to the
 * handshake (e.g. a `Sec-WebSocket-Extensions` header).
 */
export async function rawSubscriber(
  srv: TestServer,
  options: HandshakeOptions = {},
): Promise<RawSubscriber> {
  const path = `/raw-${nextPeerId++}`;
  const server = new Promise<WebSocket>((resolve) => {
    const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
      if (request.url !== path) return;
      srv.wss.off("connection", onConnection);
      resolve(ws);
    };
    srv.wss.on("connection", onConnection);
  });
  const raw = await RawClient.open(srv.port, { path, ...options });
  return { raw, server: await withTimeout(server, 5000, "raw subscriber's server socket") };
}

/** The payload of a server data frame, inflated when RSV1 is set (RFC 7692 §7.2.2). */
export function framePayload(frame: ParsedFrame, windowBits = 15): Buffer {
  if (!frame.rsv1) return frame.payload;
  // The tail removed by the sender (RFC 7692 §7.2.2) ends a sync flush, not the stream: inflate
  // up to it without expecting a final block. The smallest output chunk makes zlib inflate through
  // its window of 2^windowBits bytes; with one big output buffer it would resolve distances from
  // the buffer itself and accept a stream made with a larger window than negotiated.
  return inflateRawSync(Buffer.concat([frame.payload, Buffer.from([0x00, 0x00, 0xff, 0xff])]), {
    windowBits,
    chunkSize: 64,
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
}

/** A text that deflate shrinks a lot (so a compressed frame is visibly smaller than its text). */
export function compressible(label: string, size: number): string {
  const unit = `${label} the quick brown fox jumps over the lazy dog; `;
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}
