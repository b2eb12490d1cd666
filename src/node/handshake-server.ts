/**
 * The listener behind `new WebSocketServer({ port })`: a `net.Server` that reads each
 * connection's request head itself and emits `upgrade` exactly as Node's http server does.
 *
 * Why not `http.createServer()`: a port-mode server only ever answers upgrades, and Node's http
 * server spends about a tenth of a handshake's CPU on per-connection machinery an upgrade never
 * uses (parser pooling, response objects, keep-alive bookkeeping). Here a connection costs one
 * `data` listener until its head is complete, one strict parse (`protocol/http-head.ts`) and an
 * `IncomingMessage` carrying the result, so `verifyClient`, `handleProtocols`, `headers` and the
 * `connection` event see the same request object as behind Node's server.
 *
 * Limits, as Node's http server applies them: a head over `maxHeaderSize` bytes gets 431, a
 * malformed one 400 (and an HTTP/2+ request line 505), one not complete within `headersTimeout` (or `requestTimeout`, if shorter)
 * 408; a request that is not an upgrade gets 426. All of these close the connection. Timeouts
 * are enforced by one sweep per server, not a timer per connection.
 */
import * as http from "node:http";
import * as net from "node:net";
import { findHeadEnd, isHeadFailure, parseRequestHead } from "../protocol/http-head.js";
import { abortHandshake, destroyOnError, hasToken } from "./http-response.js";

/** Limits for request heads (the WebSocketServer passes its resolved options). */
export interface HandshakeServerOptions {
  /** Milliseconds allowed for the whole head to arrive; 0 disables. */
  headersTimeout: number;
  /** Milliseconds allowed for the whole request (the head, for an upgrade); 0 disables. */
  requestTimeout: number;
  /** Largest head accepted, in bytes (default: Node's `http.maxHeaderSize`, 16 KiB). */
  maxHeaderSize?: number | undefined;
}

/** How often the sweep at most runs: it also runs at half the shortest timeout. */
const SWEEP_INTERVAL = 2_000;

const UPGRADE_REQUIRED_BODY = "Upgrade Required";

/** A connection whose head is still arriving. */
interface PendingHead {
  /** When the connection was accepted (ms since the epoch). */
  readonly since: number;
  /** Ends the head phase: 0 when the head is complete or the peer left, else a status to send. */
  readonly finish: (status: number) => void;
}

/**
 * A TCP server for WebSocket upgrades only. Emits `upgrade` `(request, socket, head)` like
 * `http.Server`; answers everything else itself.
 */
export class HandshakeServer extends net.Server {
  /** As `http.Server#headersTimeout`. */
  headersTimeout: number;
  /** As `http.Server#requestTimeout`. */
  requestTimeout: number;
  /** The largest request head accepted, in bytes. */
  readonly maxHeaderSize: number;
  private readonly pending = new Set<PendingHead>();
  private sweepTimer: NodeJS.Timeout | null = null;

  /**
   * @param options - head limits
   * @throws RangeError for a negative or non-integer limit, or a `headersTimeout` above a
   *   non-zero `requestTimeout` (the same rule as Node's http server)
   */
  constructor(options: HandshakeServerOptions) {
    // noDelay: small frames (pings, chat messages) go out at once, as behind ws's http server.
    super({ noDelay: true });
    for (const [name, value] of Object.entries(options)) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
        throw new RangeError(`${name} must be a non-negative integer, got ${String(value)}`);
      }
    }
    if (options.requestTimeout > 0 && options.headersTimeout > options.requestTimeout) {
      throw new RangeError("headersTimeout must be less than or equal to requestTimeout");
    }
    this.headersTimeout = options.headersTimeout;
    this.requestTimeout = options.requestTimeout;
    this.maxHeaderSize = options.maxHeaderSize ?? http.maxHeaderSize;
    this.on("connection", (socket: net.Socket) => this.accept(socket));
    this.on("listening", () => this.startSweep());
    this.on("close", () => this.stopSweep());
  }

  /** The tightest of the two timeouts, or 0 when neither applies. */
  private headLimit(): number {
    const { headersTimeout: a, requestTimeout: b } = this;
    if (a > 0 && b > 0) return Math.min(a, b);
    return Math.max(a, b, 0);
  }

  private accept(socket: net.Socket): void {
    // A head that does not come in one read is gathered into one buffer of the largest allowed
    // size, each byte copied once (concatenating on every read would copy a head dribbled a
    // byte at a time 8,000 times over).
    let gathered: Buffer | null = null;
    let used = 0;
    const onData = (chunk: Buffer): void => {
      if (gathered === null) {
        const end = findHeadEnd(chunk, 0);
        if (end !== -1) return complete(chunk, end);
        if (chunk.length > this.maxHeaderSize + 3) return finish(431);
        gathered = Buffer.allocUnsafe(this.maxHeaderSize + 4);
      }
      const copied = chunk.copy(gathered, used);
      const end = findHeadEnd(gathered.subarray(0, used + copied), used - 3);
      if (end !== -1) return complete(Buffer.concat([gathered.subarray(0, used), chunk]), end);
      used += copied;
      if (used === gathered.length) finish(431);
    };
    const complete = (data: Buffer, end: number): void => {
      if (end - 4 > this.maxHeaderSize) return finish(431);
      finish(0);
      this.handleHead(socket, data, end);
    };
    const onClose = (): void => finish(0);
    /** Ends the head phase; a status answers it and closes the connection. */
    const finish = (status: number): void => {
      this.pending.delete(entry);
      gathered = null;
      socket.removeListener("data", onData);
      socket.removeListener("close", onClose);
      if (status !== 0) {
        stopFlowing(socket);
        abortHandshake(socket, status);
      }
    };
    const entry: PendingHead = { since: Date.now(), finish };
    this.pending.add(entry);
    // Until the socket is handed over, a peer's reset must not become an uncaught 'error'.
    socket.on("error", destroyOnError);
    socket.on("close", onClose);
    socket.on("data", onData);
  }

  private handleHead(socket: net.Socket, data: Buffer, end: number): void {
    // Bytes after the head stay in the socket until the WebSocket reads them: with no 'data'
    // listener and flowing reset to null, Node buffers instead of dropping them (Node's own
    // server does the same before emitting 'upgrade').
    stopFlowing(socket);
    const parsed = parseRequestHead(data.toString("latin1", 0, end - 4));
    if (isHeadFailure(parsed)) {
      abortHandshake(socket, parsed.status, parsed.reason);
      return;
    }
    const request = new http.IncomingMessage(socket);
    request.method = parsed.method;
    request.url = parsed.url;
    request.httpVersionMajor = parsed.versionMajor;
    request.httpVersionMinor = parsed.versionMinor;
    request.httpVersion = `${parsed.versionMajor}.${parsed.versionMinor}`;
    request.headers = parsed.headers as http.IncomingHttpHeaders;
    request.rawHeaders = parsed.rawHeaders;
    request.complete = true;
    // The request has no body (what follows the head belongs to the WebSocket): end the stream
    // now, as Node's server does, so that an app reading or resuming `req` gets 'end' at once
    // instead of resuming the socket and eating the first frames.
    request.push(null);
    const upgrade = parsed.headers.upgrade;
    const connection = parsed.headers.connection;
    // The test Node's http server uses to choose 'upgrade' over 'request'.
    const isUpgrade =
      typeof upgrade === "string" &&
      typeof connection === "string" &&
      hasToken(connection, "upgrade");
    if (isUpgrade && this.listenerCount("upgrade") > 0) {
      (request as { upgrade?: boolean }).upgrade = true;
      // From here the upgrade handler owns the socket and its errors (handleUpgrade adds the
      // same listener; ws-style apps add their own).
      socket.removeListener("error", destroyOnError);
      this.emit("upgrade", request, socket, data.subarray(end));
      return;
    }
    // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
    abortHandshake(
      socket,
      426,
      UPGRADE_REQUIRED_BODY,
      { Upgrade: "websocket", Connection: "Upgrade, close" },
      parsed.method === "HEAD",
    );
  }

  private startSweep(): void {
    if (this.sweepTimer !== null) return;
    const limit = this.headLimit();
    const every = limit > 0 ? Math.max(50, Math.min(SWEEP_INTERVAL, Math.floor(limit / 2))) : 0;
    if (every === 0) return;
    this.sweepTimer = setInterval(() => this.sweep(), every);
    // The sweep alone must not keep the process alive.
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Answers 408 to every connection whose head has taken longer than the limit. */
  private sweep(): void {
    const limit = this.headLimit();
    if (limit === 0) return;
    const deadline = Date.now() - limit;
    for (const entry of this.pending) {
      if (entry.since > deadline) continue;
      entry.finish(408);
    }
  }
}

/**
 * Leaves the socket neither flowing nor paused, so a later 'data' listener (the WebSocket's)
 * starts the flow again; Node's http server resets it the same way before 'upgrade'. The
 * property is writable at runtime though typed read-only.
 */
function stopFlowing(socket: net.Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
}
