/**
 * `WebSocketServer`: the server side of the opening handshake (RFC 6455 §4.2), with ws 8's API.
 *
 * Three modes, as in ws: `{ port }` creates and owns an `http` server, `{ server }` attaches to an
 * existing http/https server (pages and WebSockets on one port), `{ noServer: true }` leaves the
 * `upgrade` event to the app, which calls {@link WebSocketServer.handleUpgrade}.
 *
 * Every rejected handshake is answered exactly once with a short plain-text HTTP response and the
 * socket is ended; nothing is read from a request header without checking it exists (Node drops
 * headers past `maxHeadersCount` but still fires `upgrade`, ws CVE-2024-37890). Where ws and the
 * RFC disagree the RFC wins (see the README's list): an unsupported `Sec-WebSocket-Version` gets
 * 426 (RFC 6455 §4.2.2, §4.4), not 400; `Connection` must carry the `upgrade` token and the request
 * must be HTTP/1.1 or later (§4.2.1); `handleProtocols` may only pick a protocol the client offered
 * (§4.2.2), anything else fails the handshake with 500.
 */
import { EventEmitter } from "node:events";
import type * as http from "node:http";
import type * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type ExtensionOffer, parseExtensions } from "../protocol/extensions.js";
import {
  acceptKey,
  isSupportedVersion,
  isValidKey,
  parseProtocolList,
  SUPPORTED_VERSIONS_HEADER,
} from "../protocol/handshake.js";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "./deflate.js";
import { HandshakeServer } from "./handshake-server.js";
import { type HeartbeatOptions, HeartbeatWheel } from "./heartbeat.js";
import { abortHandshake, hasToken } from "./http-response.js";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_MAX_PAYLOAD,
  isAttached,
  SocketSettings,
  type SocketSetup,
  socketErrorListener,
  type TopicRegistry,
  WebSocket,
} from "./websocket.js";

/**
 * Default `headersTimeout` of a server we create (`port` mode): a client gets this long to send
 * its complete request head. Node's own default (60 s) lets a slowloris hold a socket for a
 * minute per trickled header; a WebSocket handshake is a few hundred bytes.
 */
export const DEFAULT_HEADERS_TIMEOUT = 10_000;

/**
 * Default `requestTimeout` of a server we create (`port` mode): the whole request, body included,
 * must arrive within this. Node enforces it only until the upgrade, so open WebSockets are not
 * affected.
 */
export const DEFAULT_REQUEST_TIMEOUT = 30_000;

/** What `verifyClient` is given. */
export interface VerifyClientInfo<Request extends http.IncomingMessage = http.IncomingMessage> {
  /**
   * The `Origin` header (`Sec-WebSocket-Origin` for protocol version 8), or `undefined` when the
   * client sent none (non-browser clients usually don't).
   */
  origin: string | undefined;
  /** True when the request came over TLS. */
  secure: boolean;
  /** The upgrade request. */
  req: Request;
}

/**
 * Asynchronous `verifyClient`'s answer: `ok` false rejects with `code` (default 401), `message`
 * as the body (default the status text) and extra response `headers`.
 */
export type VerifyClientDone = (
  ok: boolean,
  code?: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
) => void;

/** Synchronous `verifyClient`: return false to reject with 401. */
export type VerifyClientSync<Request extends http.IncomingMessage = http.IncomingMessage> = (
  info: VerifyClientInfo<Request>,
) => boolean;

/** Asynchronous `verifyClient` (recognised, as in ws, by declaring two parameters). */
export type VerifyClientAsync<Request extends http.IncomingMessage = http.IncomingMessage> = (
  info: VerifyClientInfo<Request>,
  done: VerifyClientDone,
) => void;

/**
 * The `verifyClient` option: a {@link VerifyClientSync} or a {@link VerifyClientAsync} (both are
 * assignable to this). Declared as one signature rather than their union so that an inline arrow
 * function gets its parameter types inferred; which form it is, is decided at run time by its
 * declared parameter count, as in ws. A sync hook's result is read as a boolean (truthy accepts).
 */
export type VerifyClient<Request extends http.IncomingMessage = http.IncomingMessage> = (
  info: VerifyClientInfo<Request>,
  done: VerifyClientDone,
) => unknown;

/**
 * Picks the subprotocol from those the client offered (called only when it offered some). Return
 * one of `protocols`, or `false` to answer without `Sec-WebSocket-Protocol`. Returning a name the
 * client did not offer fails the handshake with 500 (RFC 6455 §4.2.2; ws would send it).
 */
export type HandleProtocols<Request extends http.IncomingMessage = http.IncomingMessage> = (
  protocols: Set<string>,
  request: Request,
) => string | false;

/** The `WebSocketServer` options: ws 8's, plus `heartbeat`, `maxBufferedAmount` and timeouts. */
export interface ServerOptions<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof http.IncomingMessage = typeof http.IncomingMessage,
> {
  /** Port to listen on: creates an http server that answers plain requests with 426. */
  port?: number | undefined;
  /** Host to bind in `port` mode (default: all interfaces). */
  host?: string | undefined;
  /** Listen backlog in `port` mode (default: Node's, 511). */
  backlog?: number | undefined;
  /** An existing http or https server to attach to. */
  server?: http.Server<U> | https.Server<U> | undefined;
  /** Handle no server at all: the app calls `handleUpgrade` from its own `upgrade` listener. */
  noServer?: boolean | undefined;
  /** Accept only requests for this pathname (the query string is ignored). */
  path?: string | undefined;
  /** Accept or reject each handshake; see {@link VerifyClientSync} and {@link VerifyClientAsync}. */
  verifyClient?: VerifyClient<InstanceType<U>> | undefined;
  /** Choose the subprotocol; default: the client's first. */
  handleProtocols?: HandleProtocols<InstanceType<U>> | undefined;
  /** Keep the open sockets in `server.clients` (default true). */
  clientTracking?: boolean | undefined;
  /** Largest message accepted, in bytes (default 100 MiB); 0 means no limit. */
  maxPayload?: number | undefined;
  /** Negotiate permessage-deflate (RFC 7692): `true` or options (default false). */
  perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
  /** Skip UTF-8 validation of text messages and close reasons (default false). */
  skipUTF8Validation?: boolean | undefined;
  /** Answer pings automatically (default true). */
  autoPong?: boolean | undefined;
  /** Emit several `message`/`ping`/`pong` events in one tick (default true, as ws 8.17+). */
  allowSynchronousEvents?: boolean | undefined;
  /** The socket class to instantiate: `WebSocket` or a subclass (default `WebSocket`). */
  WebSocket?: T | undefined;
  /** Milliseconds to wait for the peer's close frame after `close()` (default 30 000). */
  closeTimeout?: number | undefined;
  /**
   * Ping clients idle for `interval` ms and terminate those that do not answer within `timeout`
   * ms. Off by default (ws has no such option). One timer serves every socket of the server.
   */
  heartbeat?: HeartbeatOptions | false | undefined;
  /**
   * Unsent backlog, in bytes, past which a connection whose peer stopped reading is closed with
   * 1008 (default `DEFAULT_MAX_BUFFERED_AMOUNT`, 64 MiB); 0 disables the cap.
   */
  maxBufferedAmount?: number | undefined;
  /**
   * Backlog, in bytes, above which `send` answers "buffered" and a publish treats a subscriber
   * as slow (default `DEFAULT_MAX_BACKPRESSURE`, 1 MiB); 0 disables.
   */
  maxBackpressure?: number | undefined;
  /**
   * What a publish does with a slow subscriber: skip it ("drop", the default) or close it with
   * 1008 ("close").
   */
  backpressurePolicy?: "drop" | "close" | undefined;
  /**
   * `port` mode only: ms a client has to send its request head (default
   * {@link DEFAULT_HEADERS_TIMEOUT}, 10 s; 0 disables). Guards against slowloris clients.
   */
  headersTimeout?: number | undefined;
  /**
   * `port` mode only: ms a client has to send its whole request (default
   * {@link DEFAULT_REQUEST_TIMEOUT}, 30 s; 0 disables). Must not be below `headersTimeout`.
   */
  requestTimeout?: number | undefined;
}

/** Events of a {@link WebSocketServer}, with their listener arguments. */
export interface WebSocketServerEventMap<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof http.IncomingMessage = typeof http.IncomingMessage,
> {
  /** A handshake completed. */
  connection: [socket: InstanceType<T>, request: InstanceType<U>];
  /** The 101 response lines, about to be written; listeners may change the array. */
  headers: [headers: string[], request: InstanceType<U>];
  /** The server we listen with (port or server mode) is bound. */
  listening: [];
  /** An error of the underlying http server, or a broken user hook (see the module comment). */
  error: [error: Error];
  /** A malformed handshake; the listener owns the reply (the socket is left open). */
  wsClientError: [error: Error, socket: Duplex, request: InstanceType<U>];
  /** The server has closed. */
  close: [];
}

/** The 101 response up to the accept value (RFC 6455 §4.2.2 step 5). */
const RESPONSE_START =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Accept: ";

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

/**
 * What the per-http-server router needs from each WebSocketServer attached to it. A structural
 * type so that servers with different generic parameters share one registry.
 */
interface RoutedServer {
  shouldHandle(request: http.IncomingMessage): boolean;
  /** Handles the upgrade, emitting `connection` on success. */
  routeUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** The WebSocketServers attached to one http server, and the single `upgrade` listener. */
interface Router {
  servers: RoutedServer[];
  listener: (request: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
}

const routers = new WeakMap<EventEmitter, Router>();

/**
 * Attaches `target` to the http server's router. The one shared listener sends each upgrade to the
 * first attached server whose `shouldHandle` accepts it, so servers split by `path` coexist (in ws
 * each would answer the others' requests with 400). A request none of them accepts is answered 400
 * by the first one, unless some other `upgrade` listener is registered on the http server: then
 * it is that listener's request and we leave the socket alone.
 */
function attachToRouter(httpServer: EventEmitter, target: RoutedServer): void {
  let router = routers.get(httpServer);
  if (router === undefined) {
    const servers: RoutedServer[] = [];
    const listener = (request: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
      for (const server of servers) {
        if (server.shouldHandle(request)) {
          server.routeUpgrade(request, socket, head);
          return;
        }
      }
      const first = servers[0];
      if (first !== undefined && httpServer.listenerCount("upgrade") === 1) {
        // handleUpgrade validates the headers first and then refuses the path with 400, so a lone
        // server answers exactly as ws would.
        first.routeUpgrade(request, socket, head);
      }
    };
    router = { servers, listener };
    routers.set(httpServer, router);
    httpServer.on("upgrade", listener);
  }
  router.servers.push(target);
}

/** Detaches `target`; the shared listener goes with the last attached server. */
function detachFromRouter(httpServer: EventEmitter, target: RoutedServer): void {
  const router = routers.get(httpServer);
  if (router === undefined) return;
  const index = router.servers.indexOf(target);
  if (index !== -1) router.servers.splice(index, 1);
  if (router.servers.length === 0) {
    httpServer.removeListener("upgrade", router.listener);
    routers.delete(httpServer);
  }
}

/**
 * A WebSocket server: a drop-in for ws 8's `WebSocketServer`. See the module comment for the
 * modes and where it is stricter than ws.
 *
 * @typeParam T - the socket class (`options.WebSocket`)
 * @typeParam U - the request class of the http server
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface below: typed event overloads only.
export class WebSocketServer<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof http.IncomingMessage = typeof http.IncomingMessage,
> extends EventEmitter {
  /** The options given, with defaults filled in (as ws exposes them). */
  readonly options: ServerOptions<T, U>;
  /**
   * The open sockets (when `clientTracking` is on; otherwise always empty, where ws leaves the
   * property undefined).
   */
  readonly clients: Set<InstanceType<T>> = new Set();

  private _state = RUNNING;
  /** The http server we listen with, until close(). */
  private _server: http.Server<U> | https.Server<U> | HandshakeServer | null = null;
  /** True when we created `_server` (port mode) and so must close it. */
  private readonly _ownServer: boolean;
  private _removeListeners: (() => void) | null = null;
  private readonly _tracking: boolean;
  private _shouldEmitClose = false;
  private readonly _socketClass: T;
  private readonly _deflateOptions: PerMessageDeflateOptions | null;
  private readonly _heartbeatOptions: HeartbeatOptions | null;
  private _heartbeat: HeartbeatWheel | null = null;
  /**
   * The settings every accepted socket shares (made on the first handshake, once pub/sub and the
   * heartbeat are wired; remade if the options are changed later).
   */
  private _socketSettings: SocketSettings | null = null;
  private readonly _router: RoutedServer;
  /**
   * @internal Set by the pub/sub layer's subclass (src/pubsub/server.ts) and handed to every
   * accepted socket; the node layer never imports pub/sub itself.
   */
  protected _topicRegistry: TopicRegistry | null = null;

  /**
   * @param options - see {@link ServerOptions}; exactly one of `port`, `server`, `noServer`
   * @param callback - added as a `listening` listener (port mode)
   * @throws TypeError unless exactly one of `port`, `server` and `noServer` is given
   */
  constructor(options?: ServerOptions<T, U>, callback?: () => void) {
    super();
    // ws's types make the options optional; without them it throws the same TypeError.
    options ??= {};
    const modes =
      (options.port != null ? 1 : 0) + (options.server ? 1 : 0) + (options.noServer ? 1 : 0);
    if (modes !== 1) {
      throw new TypeError(
        'One and only one of the "port", "server", or "noServer" options must be specified',
      );
    }
    this.options = {
      allowSynchronousEvents: true,
      autoPong: true,
      clientTracking: true,
      closeTimeout: DEFAULT_CLOSE_TIMEOUT,
      maxPayload: DEFAULT_MAX_PAYLOAD,
      perMessageDeflate: false,
      skipUTF8Validation: false,
      maxBufferedAmount: DEFAULT_MAX_BUFFERED_AMOUNT,
      heartbeat: false,
      ...options,
    };
    this._socketClass = options.WebSocket ?? (WebSocket as T);
    this._tracking = this.options.clientTracking !== false;
    const deflate = this.options.perMessageDeflate;
    this._deflateOptions = deflate === true ? {} : deflate ? deflate : null;
    if (this._deflateOptions !== null) {
      // Fail at construction, not at the first handshake, on invalid deflate options.
      new PerMessageDeflate(this._deflateOptions, true, 0).cleanup();
    }
    const heartbeat = this.options.heartbeat;
    this._heartbeatOptions = heartbeat
      ? { interval: heartbeat.interval, timeout: heartbeat.timeout }
      : null;

    // One callback for every routed upgrade, not a closure per handshake.
    const emitConnection = (ws: InstanceType<T>, req: InstanceType<U>): void => {
      this.emit("connection", ws, req);
    };
    this._router = {
      shouldHandle: (request) => this.shouldHandle(request as InstanceType<U>),
      routeUpgrade: (request, socket, head) =>
        this.handleUpgrade(request as InstanceType<U>, socket, head, emitConnection),
    };

    if (options.port != null) {
      const requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
      // headersTimeout > requestTimeout is refused (as Node's http server does), so a lone short
      // requestTimeout lowers the default headersTimeout with it instead of throwing.
      const headersTimeout =
        options.headersTimeout ??
        (requestTimeout > 0
          ? Math.min(DEFAULT_HEADERS_TIMEOUT, requestTimeout)
          : DEFAULT_HEADERS_TIMEOUT);
      // Our own listener rather than http.createServer(): see handshake-server.ts for why.
      const server = new HandshakeServer({ headersTimeout, requestTimeout });
      this._server = server;
      this._ownServer = true;
      this.attach(server);
      const listenOptions: { port: number; host?: string; backlog?: number } = {
        port: options.port,
      };
      if (options.host != null) listenOptions.host = options.host;
      if (options.backlog != null) listenOptions.backlog = options.backlog;
      server.listen(listenOptions, callback);
    } else {
      this._ownServer = false;
      if (options.server) {
        this._server = options.server;
        this.attach(options.server);
      }
      // ws adds the callback only in port mode (it is passed to listen()); so do we.
    }
  }

  /** Adds our `listening`/`error` forwarding and the routed `upgrade` listener. */
  private attach(server: http.Server<U> | https.Server<U> | HandshakeServer): void {
    const onListening = (): void => {
      this.emit("listening");
    };
    const onError = (error: Error): void => {
      this.emit("error", error);
    };
    server.on("listening", onListening);
    server.on("error", onError);
    attachToRouter(server, this._router);
    this._removeListeners = () => {
      server.removeListener("listening", onListening);
      server.removeListener("error", onError);
      detachFromRouter(server, this._router);
    };
  }

  /**
   * The address the http server is bound to, as `net.Server.address()` reports it; `null` after
   * `close()` or before binding.
   *
   * @throws Error in noServer mode
   */
  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    return this._server === null ? null : this._server.address();
  }

  /**
   * Stops accepting connections: later handshakes get 503, our own http server (port mode) stops
   * listening, our listeners leave an external one (which stays open). Open sockets are NOT closed
   * (ws 8); `close` is emitted once they have all gone (when tracked) and our server has closed.
   *
   * @param callback - a one-time `close` listener; given an Error if the server was already closed
   */
  close(callback?: (error?: Error) => void): void {
    if (this._state === CLOSED) {
      if (callback) this.once("close", () => callback(new Error("The server is not running")));
      process.nextTick(() => this.emitClose());
      return;
    }
    if (callback) this.once("close", callback);
    if (this._state === CLOSING) return;
    this._state = CLOSING;

    const server = this._server;
    if (this._ownServer && server !== null) {
      // Our listeners stay until the server is closed: an upgrade already being parsed gets a
      // clean 503 rather than a dropped socket.
      server.close(() => {
        this._removeListeners?.();
        this._removeListeners = null;
        this._server = null;
        // Node's http server does not count upgraded sockets, so its close says nothing about
        // them: wait for the tracked clients as in the other modes (ws 8).
        this.emitCloseWhenClientsGone();
      });
      return;
    }
    this._removeListeners?.();
    this._removeListeners = null;
    this._server = null;
    this.emitCloseWhenClientsGone();
  }

  private emitCloseWhenClientsGone(): void {
    if (this._tracking && this.clients.size > 0) this._shouldEmitClose = true;
    else process.nextTick(() => this.emitClose());
  }

  private emitClose(): void {
    this._state = CLOSED;
    this._heartbeat?.stop();
    this._heartbeat = null;
    this.emit("close");
  }

  /**
   * True when this server takes `request`: with `path` set, the request's pathname (query string
   * ignored) must equal it. Override to route differently (as in ws).
   */
  shouldHandle(request: InstanceType<U>): boolean {
    const path = this.options.path;
    if (path) {
      const url = request.url ?? "";
      const query = url.indexOf("?");
      const pathname = query === -1 ? url : url.slice(0, query);
      if (pathname !== path) return false;
    }
    return true;
  }

  /**
   * Runs the opening handshake on an upgrade request (RFC 6455 §4.2). On success writes the 101,
   * attaches a socket and calls `callback(ws, request)`; otherwise answers with an HTTP error (or
   * emits `wsClientError`) and never calls it.
   *
   * @param request - the upgrade request
   * @param socket - its socket, as given to the http server's `upgrade` event
   * @param head - bytes received after the request head
   * @param callback - called with the open socket
   * @throws Error when called twice for one socket
   */
  handleUpgrade(
    request: InstanceType<U>,
    socket: Duplex,
    head: Buffer,
    callback: (client: InstanceType<T>, request: InstanceType<U>) => void,
  ): void {
    // Stays for the connection's whole life: the WebSocket keeps this listener (see _setSocket).
    socket.on("error", socketErrorListener);
    const headers = request.headers;

    if (request.method !== "GET") {
      this.refuse(request, socket, 405, "Invalid HTTP method", { Allow: "GET" });
      return;
    }
    // RFC 6455 §4.2.1 item 1: HTTP/1.1 or later. ws does not check.
    if (
      typeof request.httpVersionMajor === "number" &&
      (request.httpVersionMajor < 1 ||
        (request.httpVersionMajor === 1 && request.httpVersionMinor < 1))
    ) {
      this.refuse(request, socket, 400, "Invalid HTTP version");
      return;
    }
    const upgrade = headers.upgrade;
    if (upgrade === undefined || !hasToken(upgrade, "websocket")) {
      this.refuse(request, socket, 400, "Invalid Upgrade header");
      return;
    }
    // RFC 6455 §4.2.1 item 4. Node fires `upgrade` only with this token, but handleUpgrade may be
    // given any request, and Node drops headers past maxHeadersCount. ws does not check.
    if (!hasToken(headers.connection, "upgrade")) {
      this.refuse(request, socket, 400, "Invalid Connection header");
      return;
    }
    const key = headers["sec-websocket-key"];
    if (key === undefined || !isValidKey(key)) {
      this.refuse(request, socket, 400, "Missing or invalid Sec-WebSocket-Key header");
      return;
    }
    const version = headers["sec-websocket-version"];
    if (!isSupportedVersion(version)) {
      // RFC 6455 §4.2.2, §4.4: 426 with the versions we speak (ws answers 400).
      this.refuse(request, socket, 426, "Missing or invalid Sec-WebSocket-Version header", {
        "Sec-WebSocket-Version": SUPPORTED_VERSIONS_HEADER,
      });
      return;
    }
    if (!this.shouldHandle(request)) {
      abortHandshake(socket, 400);
      return;
    }

    let protocols: Set<string> | null = null;
    const protocolHeader = headers["sec-websocket-protocol"];
    if (protocolHeader !== undefined) {
      try {
        protocols = parseProtocolList(protocolHeader);
      } catch {
        this.refuse(request, socket, 400, "Invalid Sec-WebSocket-Protocol header");
        return;
      }
    }

    let deflateOffers: ExtensionOffer[] | null = null;
    const extensionHeader = headers["sec-websocket-extensions"];
    if (this._deflateOptions !== null && extensionHeader !== undefined) {
      let offers: ExtensionOffer[];
      try {
        offers = parseExtensions(extensionHeader);
      } catch {
        this.refuse(request, socket, 400, "Invalid Sec-WebSocket-Extensions header");
        return;
      }
      // Unknown extensions are ignored (RFC 6455 §9.1); unacceptable deflate offers are declined
      // later by the negotiation, which answers without the extension.
      deflateOffers = offers.filter((offer) => offer.name === PerMessageDeflate.extensionName);
      if (deflateOffers.length === 0) deflateOffers = null;
    }

    // No point asking verifyClient about a handshake we will refuse anyway.
    if (this._state !== RUNNING) {
      abortHandshake(socket, 503);
      return;
    }

    const verifyClient = this.options.verifyClient;
    if (!verifyClient) {
      this.completeUpgrade(request, socket, head, key, protocols, deflateOffers, callback);
      return;
    }
    const complete = (): void =>
      this.completeUpgrade(request, socket, head, key, protocols, deflateOffers, callback);
    const info: VerifyClientInfo<InstanceType<U>> = {
      origin: version === "8" ? asString(headers["sec-websocket-origin"]) : headers.origin,
      secure: isSecure(request),
      req: request,
    };
    if (verifyClient.length === 2) {
      let answered = false;
      const done: VerifyClientDone = (ok, code, message, responseHeaders) => {
        // A hook that answers twice must not get a second response onto the socket.
        if (answered) return;
        answered = true;
        if (ok) complete();
        else this.reject(socket, code, message, responseHeaders);
      };
      try {
        (verifyClient as VerifyClientAsync<InstanceType<U>>)(info, done);
      } catch (error) {
        if (!answered) {
          answered = true;
          this.failHandshake(socket, error, "verifyClient threw");
        }
      }
      return;
    }
    let ok: unknown;
    try {
      ok = (verifyClient as VerifyClientSync<InstanceType<U>>)(info);
    } catch (error) {
      this.failHandshake(socket, error, "verifyClient threw");
      return;
    }
    if (ok) complete();
    else abortHandshake(socket, 401);
  }

  /** verifyClient said no: `code` must be a real error or redirect status, else it is our bug. */
  private reject(
    socket: Duplex,
    code: number | undefined,
    message: string | undefined,
    headers: http.OutgoingHttpHeaders | undefined,
  ): void {
    const status = code || 401;
    if (!Number.isInteger(status) || status < 300 || status > 599) {
      // A 1xx/2xx here would tell the client the upgrade succeeded; never send that.
      this.failHandshake(
        socket,
        new RangeError(`verifyClient rejected with an invalid status code: ${String(code)}`),
        "verifyClient",
      );
      return;
    }
    try {
      abortHandshake(socket, status, message, headers);
    } catch (error) {
      // Invalid header names or values from the app (formatHeaders refuses CR/LF and the like).
      this.failHandshake(socket, error, "verifyClient gave invalid response headers");
    }
  }

  /**
   * A header-validation failure: ws semantics, the `wsClientError` listener (if any) owns the
   * reply; otherwise we answer.
   */
  private refuse(
    request: InstanceType<U>,
    socket: Duplex,
    code: number,
    message: string,
    headers?: http.OutgoingHttpHeaders,
  ): void {
    if (this.listenerCount("wsClientError") > 0) {
      const error = new Error(message);
      Error.captureStackTrace(error, this.refuse);
      this.emit("wsClientError", error, socket, request);
      return;
    }
    abortHandshake(socket, code, message, headers, request.method === "HEAD");
  }

  /**
   * A user hook misbehaved (threw, or returned something the protocol forbids). The client gets
   * 500; the app hears of it through `error` when it listens, or a process warning otherwise, so
   * a peer able to trigger the bug cannot crash the process with it.
   */
  private failHandshake(socket: Duplex, cause: unknown, context: string): void {
    abortHandshake(socket, 500);
    const error =
      cause instanceof Error ? cause : new Error(`${context}: ${String(cause)}`, { cause });
    if (this.listenerCount("error") > 0) this.emit("error", error);
    else process.emitWarning(error);
  }

  private completeUpgrade(
    request: InstanceType<U>,
    socket: Duplex,
    head: Buffer,
    key: string,
    protocols: Set<string> | null,
    deflateOffers: ExtensionOffer[] | null,
    callback: (client: InstanceType<T>, request: InstanceType<U>) => void,
  ): void {
    // The client went away (or half-closed) while verifyClient was deciding.
    if (socket.destroyed || !socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    // A socket a WebSocket was attached to (no WeakSet entry per connection for this check).
    if (isAttached(socket)) {
      throw new Error(
        "server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration",
      );
    }
    if (this._state !== RUNNING) {
      abortHandshake(socket, 503);
      return;
    }

    let protocol = "";
    if (protocols !== null && protocols.size > 0) {
      const handleProtocols = this.options.handleProtocols;
      let selected: unknown;
      try {
        selected = handleProtocols
          ? handleProtocols(protocols, request)
          : protocols.values().next().value;
      } catch (error) {
        this.failHandshake(socket, error, "handleProtocols threw");
        return;
      }
      if (selected !== false && selected !== null && selected !== undefined && selected !== "") {
        // RFC 6455 §4.2.2 step 5.4: the server answers with one of the client's values or none.
        // A name from anywhere else would also be written unchecked into the response.
        if (typeof selected !== "string" || !protocols.has(selected)) {
          this.failHandshake(
            socket,
            new TypeError(
              `handleProtocols returned ${JSON.stringify(selected)}, which the client did not offer`,
            ),
            "handleProtocols",
          );
          return;
        }
        protocol = selected;
      }
    }

    let deflate: PerMessageDeflate | null = null;
    let extensionResponse: string | null = null;
    if (deflateOffers !== null && this._deflateOptions !== null) {
      deflate = new PerMessageDeflate(this._deflateOptions, true, this.options.maxPayload ?? 0);
      extensionResponse = deflate.accept(deflateOffers);
      if (extensionResponse === null) {
        deflate.cleanup();
        deflate = null;
      }
    }

    let response = `${RESPONSE_START}${acceptKey(key)}`;
    if (protocol !== "") response += `\r\nSec-WebSocket-Protocol: ${protocol}`;
    if (extensionResponse !== null) {
      response += `\r\nSec-WebSocket-Extensions: ${extensionResponse}`;
    }

    let ws: InstanceType<T>;
    try {
      // Listeners may add lines (cookies, tracing headers) or change ours, as in ws. Without
      // one, the response is built as one string, with no array of lines to join.
      if (this.listenerCount("headers") > 0) {
        const lines = response.split("\r\n");
        this.emit("headers", lines, request);
        response = lines.join("\r\n");
      }
      ws = new this._socketClass(null, undefined, this.options) as InstanceType<T>;
    } catch (error) {
      deflate?.cleanup();
      this.failHandshake(socket, error, "handshake");
      return;
    }

    // One write: status line, headers and the blank line leave in a single segment.
    socket.write(`${response}\r\n\r\n`);

    if (this._heartbeatOptions !== null && this._heartbeat === null) {
      this._heartbeat = new HeartbeatWheel(this._heartbeatOptions);
    }
    const setup: SocketSetup = {
      isServer: true,
      protocol,
      perMessageDeflate: deflate,
      maxPayload: this.options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      skipUTF8Validation: this.options.skipUTF8Validation === true,
      allowSynchronousEvents: this.options.allowSynchronousEvents !== false,
      autoPong: this.options.autoPong !== false,
      closeTimeout: this.options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      heartbeat: this._heartbeat,
      maxBufferedAmount: this.options.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT,
      topics: this._topicRegistry,
      maxBackpressure: this.options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE,
    };
    // One settings object for all our sockets rather than a copy in each.
    let settings = this._socketSettings;
    if (settings === null || !settings.matches(setup)) {
      settings = new SocketSettings(setup, this._tracking ? this : null);
      this._socketSettings = settings;
    }
    ws._setSocket(socket, head, protocol, deflate, settings, true);
    // Tracked sockets leave `clients` through _untrack (no 'close' listener per socket).
    if (this._tracking) this.clients.add(ws);
    callback(ws, request);
  }

  /**
   * @internal A tracked socket is closing (called just before its 'close' event). The server is
   * the sockets' owner (`SocketOwner`, checked where it is passed to `SocketSettings`); no
   * `implements` clause, as that type is internal.
   */
  _untrack(socket: WebSocket): void {
    this.clients.delete(socket as InstanceType<T>);
    if (this._shouldEmitClose && this.clients.size === 0) {
      this._shouldEmitClose = false;
      process.nextTick(() => this.emitClose());
    }
  }
}

/** Typed listener overloads for the server's events. */
export interface WebSocketServer<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof http.IncomingMessage = typeof http.IncomingMessage,
> {
  /** Listens for a server event. */
  on<K extends keyof WebSocketServerEventMap<T, U>>(
    event: K,
    listener: (this: WebSocketServer<T, U>, ...args: WebSocketServerEventMap<T, U>[K]) => void,
  ): this;
  /** Listens for any event. */
  on(
    event: string | symbol,
    listener: (this: WebSocketServer<T, U>, ...args: never[]) => void,
  ): this;
  /** Listens for a server event once. */
  once<K extends keyof WebSocketServerEventMap<T, U>>(
    event: K,
    listener: (this: WebSocketServer<T, U>, ...args: WebSocketServerEventMap<T, U>[K]) => void,
  ): this;
  /** Listens for any event once. */
  once(
    event: string | symbol,
    listener: (this: WebSocketServer<T, U>, ...args: never[]) => void,
  ): this;
  /** Removes a listener. */
  off<K extends keyof WebSocketServerEventMap<T, U>>(
    event: K,
    listener: (this: WebSocketServer<T, U>, ...args: WebSocketServerEventMap<T, U>[K]) => void,
  ): this;
  /** Removes a listener. */
  off(
    event: string | symbol,
    listener: (this: WebSocketServer<T, U>, ...args: never[]) => void,
  ): this;
  /** Listens for a server event. */
  addListener<K extends keyof WebSocketServerEventMap<T, U>>(
    event: K,
    listener: (this: WebSocketServer<T, U>, ...args: WebSocketServerEventMap<T, U>[K]) => void,
  ): this;
  /** Listens for any event. */
  addListener(
    event: string | symbol,
    listener: (this: WebSocketServer<T, U>, ...args: never[]) => void,
  ): this;
  /** Removes a listener. */
  removeListener<K extends keyof WebSocketServerEventMap<T, U>>(
    event: K,
    listener: (this: WebSocketServer<T, U>, ...args: WebSocketServerEventMap<T, U>[K]) => void,
  ): this;
  /** Removes a listener. */
  removeListener(
    event: string | symbol,
    listener: (this: WebSocketServer<T, U>, ...args: never[]) => void,
  ): this;
  /** Emits a server event. */
  emit<K extends keyof WebSocketServerEventMap<T, U>>(
    event: K,
    ...args: WebSocketServerEventMap<T, U>[K]
  ): boolean;
  /** Emits any event. */
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/** A header that Node gives as a string, or the first of an array (defensive). */
function asString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** True when the request came over TLS (https server, or a TLS socket given to handleUpgrade). */
function isSecure(request: http.IncomingMessage): boolean {
  const socket = request.socket as
    | (typeof request.socket & { encrypted?: boolean; authorized?: boolean })
    | null;
  return socket !== null && (socket.encrypted === true || socket.authorized === true);
}
