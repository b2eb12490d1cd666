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
 * are enforced by a shared deadline queue (`deadlines.ts`), not a timer per connection.
 */
import * as http from "node:http";
import * as net from "node:net";
import { findHeadEnd, isHeadFailure, parseRequestHead } from "../protocol/http-head.js";
import { cancelDeadline, Deadline, startDeadline } from "./deadlines.js";
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

const UPGRADE_REQUIRED_BODY = "Upgrade Required";

/** The head-phase state of a connection, found from the socket in the shared listeners. */
const kPendingHead = Symbol("socketeer:pending-head");
interface HeadSocket extends net.Socket {
  [kPendingHead]?: PendingHead | null;
}

/**
 * A connection whose head is still arriving. An object with methods and shared listener
 * functions rather than closures per connection; it is also the connection's entry in the
 * head-timeout queue (`deadlines.ts`).
 */
class PendingHead extends Deadline {
  private readonly server: HandshakeServer;
  private readonly socket: HeadSocket;
  /** The head so far, when it did not come in one read. */
  private gathered: Buffer | null = null;
  private used = 0;

  constructor(server: HandshakeServer, socket: HeadSocket) {
    super();
    this.server = server;
    this.socket = socket;
  }

  onData(chunk: Buffer): void {
    const maxHeaderSize = this.server.maxHeaderSize;
    let gathered = this.gathered;
    if (gathered === null) {
      const end = findHeadEnd(chunk, 0);
      if (end !== -1) return this.complete(chunk, end);
      if (chunk.length > maxHeaderSize + 3) return this.finish(431);
      // A head that does not come in one read is gathered into one buffer of the largest
      // allowed size, each byte copied once (concatenating on every read would copy a head
      // dribbled a byte at a time 8,000 times over).
      gathered = Buffer.allocUnsafe(maxHeaderSize + 4);
      this.gathered = gathered;
    }
    const used = this.used;
    const copied = chunk.copy(gathered, used);
    const end = findHeadEnd(gathered.subarray(0, used + copied), used - 3);
    if (end !== -1) return this.complete(Buffer.concat([gathered.subarray(0, used), chunk]), end);
    this.used = used + copied;
    if (this.used === gathered.length) this.finish(431);
  }

  private complete(data: Buffer, end: number): void {
    if (end - 4 > this.server.maxHeaderSize) return this.finish(431);
    this.finish(0);
    this.server.handleHead(this.socket, data, end);
  }

  /** Ends the head phase: 0 when the head is complete or the peer left, else a status to send. */
  finish(status: number): void {
    const socket = this.socket;
    if (socket[kPendingHead] !== this) return; // finished already
    this.server.pendingHeads--;
    cancelDeadline(this);
    this.gathered = null;
    socket[kPendingHead] = null;
    socket.removeListener("data", onHeadData);
    socket.removeListener("close", onHeadClose);
    if (status !== 0) {
      stopFlowing(socket);
      abortHandshake(socket, status);
    }
  }

  /** The head took longer than the server's limit. */
  expire(): void {
    this.finish(408);
  }
}

function onHeadData(this: HeadSocket, chunk: Buffer): void {
  this[kPendingHead]?.onData(chunk);
}
function onHeadClose(this: HeadSocket): void {
  this[kPendingHead]?.finish(0);
}

/**
 * A TCP server for WebSocket upgrades only. Emits `upgrade` `(request, socket, head)` like
 * `http.Server`; answers everything else itself.
 */
export class HandshakeServer extends net.Server {
  /** As `http.Server#headersTimeout` (read for each new connection). */
  headersTimeout: number;
  /** As `http.Server#requestTimeout` (read for each new connection). */
  requestTimeout: number;
  /** The largest request head accepted, in bytes. */
  readonly maxHeaderSize: number;
  /** @internal Connections whose head is still arriving. */
  pendingHeads = 0;

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
  }

  /** The tightest of the two timeouts, or 0 when neither applies. */
  private headLimit(): number {
    const { headersTimeout: a, requestTimeout: b } = this;
    if (a > 0 && b > 0) return Math.min(a, b);
    return Math.max(a, b, 0);
  }

  private accept(socket: HeadSocket): void {
    const pending = new PendingHead(this, socket);
    socket[kPendingHead] = pending;
    this.pendingHeads++;
    const limit = this.headLimit();
    if (limit > 0) startDeadline(pending, limit);
    // Until the socket is handed over, a peer's reset must not become an uncaught 'error'.
    socket.on("error", destroyOnError);
    socket.on("close", onHeadClose);
    socket.on("data", onHeadData);
  }

  /** @internal A complete head arrived (the head phase has ended). */
  handleHead(socket: net.Socket, data: Buffer, end: number): void {
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
}

/**
 * Leaves the socket neither flowing nor paused, so a later 'data' listener (the WebSocket's)
 * starts the flow again; Node's http server resets it the same way before 'upgrade'. The
 * property is writable at runtime though typed read-only.
 */
function stopFlowing(socket: net.Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
}
