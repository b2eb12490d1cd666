/**
 * The client's opening handshake (RFC 6455 §4.1): URL checks, the HTTP upgrade request, redirects,
 * and validation of the server's 101 before the socket is handed to {@link WebSocket}.
 */
import {
  type Agent,
  type ClientRequest,
  type ClientRequestArgs,
  request as httpRequest,
  type IncomingMessage,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { type ExtensionOffer, parseExtensions } from "../protocol/extensions.js";
import { acceptKey, generateKey, validateClientProtocols } from "../protocol/handshake.js";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "./deflate.js";
import { type HeartbeatOptions, sharedHeartbeatWheel } from "./heartbeat.js";
import {
  ClientSettings,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_MAX_PAYLOAD,
  type WebSocket,
} from "./websocket.js";

/** Client options: ws 8's, plus `heartbeat` and `maxBufferedAmount`. TLS options pass through. */
export interface ClientOptions extends Omit<ConnectionOptions, "timeout"> {
  /** Extra request headers. */
  headers?: Record<string, string | string[] | number>;
  /** Value of the `Origin` header (`Sec-WebSocket-Origin` for protocol version 8). */
  origin?: string;
  /** 13 (default) or 8. */
  protocolVersion?: number;
  /** Fail if the handshake has not finished after this many ms (default: no limit, as in ws). */
  handshakeTimeout?: number;
  /** Follow 3xx redirects (default false). */
  followRedirects?: boolean;
  /** Most redirects to follow (default 10). */
  maxRedirects?: number;
  /** HTTP agent for the request. */
  agent?: Agent;
  /** Makes the connection instead of `net.connect`/`tls.connect`. */
  createConnection?: ClientRequestArgs["createConnection"];
  /** Largest message accepted, in bytes (default 100 MiB; 0 = no limit). */
  maxPayload?: number;
  /** Skip UTF-8 validation of received text. */
  skipUTF8Validation?: boolean;
  /** Offer permessage-deflate (default true, as in ws). */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Answer pings automatically (default true). */
  autoPong?: boolean;
  /** Emit several messages in one tick (default true). */
  allowSynchronousEvents?: boolean;
  /** Wait this long for the server's close frame (default 30,000 ms). */
  closeTimeout?: number;
  /** Calls `request.end()` yourself, e.g. after writing a body or extra headers. */
  finishRequest?: (request: ClientRequest, socket: WebSocket) => void;
  /** Basic auth as `user:password` (also taken from the URL). */
  auth?: string;
  /** Ping the server after `interval` ms of silence; terminate after `timeout` more. Off by default. */
  heartbeat?: HeartbeatOptions | false;
  /** Close with 1008 when the unsent backlog passes this many bytes (default 64 MiB; 0 = off). */
  maxBufferedAmount?: number;
  /** Local interface to connect from. */
  localAddress?: string;
  /** Request method is always GET; kept for ws option-bag compatibility. */
  family?: number;
}

const ALLOWED_PROTOCOLS = new Set(["ws:", "wss:", "http:", "https:", "ws+unix:"]);

/** Starts the handshake for `ws`; all failures are reported as 'error' then 'close' (1006). */
export function initAsClient(
  ws: WebSocket,
  address: string | URL,
  protocols: string[],
  options: ClientOptions,
): void {
  const opts: ClientOptions = {
    protocolVersion: 13,
    maxPayload: DEFAULT_MAX_PAYLOAD,
    skipUTF8Validation: false,
    perMessageDeflate: true,
    followRedirects: false,
    maxRedirects: 10,
    autoPong: true,
    allowSynchronousEvents: true,
    closeTimeout: DEFAULT_CLOSE_TIMEOUT,
    maxBufferedAmount: DEFAULT_MAX_BUFFERED_AMOUNT,
    ...options,
  };
  if (opts.protocolVersion !== 8 && opts.protocolVersion !== 13) {
    throw new RangeError(
      `Unsupported protocol version: ${opts.protocolVersion} (supported versions: 8, 13)`,
    );
  }

  let url: URL;
  if (address instanceof URL)
    url = new URL(address.href); // never modify the caller's object
  else {
    try {
      url = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  // One settings object per client socket; it also holds the handshake state (see
  // ClientSettings). A redirect makes a new one and carries the count over.
  const previous = ws._settings;
  const redirects = previous instanceof ClientSettings ? previous.redirects : 0;
  const settings = new ClientSettings(
    {
      isServer: false,
      protocol: "",
      perMessageDeflate: null,
      maxPayload: opts.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      skipUTF8Validation: opts.skipUTF8Validation === true,
      allowSynchronousEvents: opts.allowSynchronousEvents !== false,
      autoPong: opts.autoPong !== false,
      closeTimeout: opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      heartbeat: null,
      maxBufferedAmount: opts.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT,
    },
    url.href,
    redirects,
  );
  ws._settings = settings;

  const isSecure = url.protocol === "wss:";
  const isUnix = url.protocol === "ws+unix:";
  let invalid: string | undefined;
  if (!ALLOWED_PROTOCOLS.has(url.protocol)) {
    invalid = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';
  } else if (isUnix && !url.pathname) invalid = "The URL's pathname is empty";
  else if (url.hash) invalid = "The URL contains a fragment identifier";
  if (invalid !== undefined) {
    const error = new SyntaxError(invalid);
    if (redirects === 0) throw error;
    failHandshake(ws, error);
    return;
  }
  validateClientProtocols(protocols);

  const defaultPort = isSecure ? 443 : 80;
  const key = generateKey();
  const request = isSecure ? httpsRequest : httpRequest;
  const perMessageDeflate =
    opts.perMessageDeflate === false
      ? null
      : new PerMessageDeflate(
          opts.perMessageDeflate === true ? undefined : opts.perMessageDeflate,
          false,
          opts.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        );

  const headers: Record<string, string | string[] | number> = {
    ...opts.headers,
    "Sec-WebSocket-Version": String(opts.protocolVersion),
    "Sec-WebSocket-Key": key,
    Connection: "Upgrade",
    Upgrade: "websocket",
  };
  if (perMessageDeflate !== null) headers["Sec-WebSocket-Extensions"] = perMessageDeflate.offer();
  if (protocols.length > 0) headers["Sec-WebSocket-Protocol"] = protocols.join(",");
  if (opts.origin) {
    if (opts.protocolVersion === 13) headers.Origin = opts.origin;
    else headers["Sec-WebSocket-Origin"] = opts.origin;
  }

  const {
    headers: _h,
    origin: _o,
    protocolVersion: _v,
    handshakeTimeout,
    followRedirects,
    maxRedirects,
    finishRequest,
    perMessageDeflate: _p,
    heartbeat,
    ...rest
  } = opts;
  const requestOptions: ClientRequestArgs & ConnectionOptions = {
    ...(rest as ClientRequestArgs & ConnectionOptions),
    headers,
    method: "GET",
    path: isUnix ? undefined : url.pathname + url.search,
    timeout: handshakeTimeout,
  };
  if (isUnix) {
    // ws+unix:/path/to.sock:/request/path?query — after the first ':' is the request path.
    const target = url.pathname + url.search;
    const colon = target.indexOf(":");
    requestOptions.socketPath = colon === -1 ? target : target.slice(0, colon);
    requestOptions.path = colon === -1 ? "/" : target.slice(colon + 1);
  } else {
    requestOptions.host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    requestOptions.port = url.port ? Number(url.port) : defaultPort;
    requestOptions.createConnection =
      opts.createConnection ??
      ((isSecure ? tlsConnection : netConnection) as ClientRequestArgs["createConnection"]);
    if (requestOptions.createConnection === undefined) delete requestOptions.createConnection;
  }
  if (
    isSecure &&
    requestOptions.servername === undefined &&
    isIP(requestOptions.host ?? "") === 0
  ) {
    requestOptions.servername = requestOptions.host ?? undefined;
  }
  if (opts.auth) requestOptions.auth = opts.auth;
  else if (url.username || url.password) {
    requestOptions.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  }
  if (requestOptions.auth === undefined) delete requestOptions.auth;

  let req: ClientRequest;
  try {
    req = request(requestOptions);
  } catch (error) {
    failHandshake(ws, error as Error);
    return;
  }
  settings.request = req;
  // ws 8: on a redirect, 'redirect' fires with the NEW request, before it is sent, so a
  // listener can still set headers on it.
  if (redirects > 0) ws.emit("redirect", url.href, req);

  if (handshakeTimeout !== undefined) {
    req.on("timeout", () => abortRequest(ws, settings, req, "Opening handshake has timed out"));
  }
  req.on("error", (error) => {
    if (settings.request !== req) return;
    settings.request = null;
    failHandshake(ws, error);
  });

  req.on("response", (res) => {
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location !== undefined && followRedirects && status >= 300 && status < 400) {
      req.destroy();
      res.resume();
      if (settings.request !== req) return;
      settings.request = null;
      if (++settings.redirects > (maxRedirects ?? 10)) {
        failHandshake(ws, new Error("Maximum redirects exceeded"));
        return;
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        failHandshake(ws, new SyntaxError(`Invalid URL: ${location}`));
        return;
      }
      // Never carry credentials to another origin, nor downgrade them from wss: to ws: (ws #2013).
      const sameHost =
        next.host === url.host &&
        (isUnix ? next.pathname.split(":")[0] === url.pathname.split(":")[0] : true);
      const downgrade = isSecure && next.protocol !== "wss:";
      const nextHeaders = { ...options.headers };
      const nextOptions: ClientOptions = { ...options };
      if (!sameHost || downgrade) {
        for (const name of Object.keys(nextHeaders)) {
          const lower = name.toLowerCase();
          if (lower === "authorization" || lower === "cookie" || lower === "host")
            delete nextHeaders[name];
        }
        delete nextOptions.auth;
      }
      nextOptions.headers = nextHeaders;
      if (ws.readyState !== ws.CONNECTING) return;
      initAsClient(ws, next, protocols, nextOptions);
      return;
    }
    if (settings.request !== req) return;
    if (ws.listenerCount("unexpected-response") > 0) {
      settings.request = null;
      ws.emit("unexpected-response", req, res);
      return;
    }
    res.resume();
    abortRequest(ws, settings, req, `Unexpected server response: ${status}`);
  });

  req.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
    ws.emit("upgrade", res);
    if (ws.readyState !== ws.CONNECTING || settings.request !== req) {
      socket.destroy();
      return;
    }
    settings.request = null;
    const fail = (message: string): void => {
      socket.destroy();
      failHandshake(ws, new Error(message));
    };
    const upgrade = res.headers.upgrade;
    if (upgrade === undefined || upgrade.toLowerCase() !== "websocket")
      return fail("Invalid Upgrade header");
    if (res.headers["sec-websocket-accept"] !== acceptKey(key))
      return fail("Invalid Sec-WebSocket-Accept header");

    const serverProtocol = res.headers["sec-websocket-protocol"];
    let protocolError: string | undefined;
    if (serverProtocol !== undefined) {
      if (protocols.length === 0)
        protocolError = "Server sent a subprotocol but none was requested";
      else if (!protocols.includes(serverProtocol))
        protocolError = "Server sent an invalid subprotocol";
    } else if (protocols.length > 0) protocolError = "Server sent no subprotocol";
    if (protocolError !== undefined) return fail(protocolError);

    const extensionsHeader = res.headers["sec-websocket-extensions"];
    let negotiated: PerMessageDeflate | null = null;
    if (extensionsHeader !== undefined) {
      if (perMessageDeflate === null) {
        return fail("Server sent a Sec-WebSocket-Extensions header but no extension was requested");
      }
      let offers: ExtensionOffer[];
      try {
        offers = parseExtensions(extensionsHeader);
      } catch {
        return fail("Invalid Sec-WebSocket-Extensions header");
      }
      if (offers.length !== 1 || offers[0]!.name !== PerMessageDeflate.extensionName) {
        return fail("Server indicated an extension that was not requested");
      }
      try {
        perMessageDeflate.acceptResponse(offers);
      } catch (error) {
        return fail(`Invalid Sec-WebSocket-Extensions header: ${(error as Error).message}`);
      }
      negotiated = perMessageDeflate;
    }

    // Clients with the same heartbeat settings share one wheel (one timer) per process.
    if (heartbeat) settings.heartbeat = sharedHeartbeatWheel(heartbeat);
    ws._setSocket(socket, head, serverProtocol ?? "", negotiated, settings);
    ws.emit("open");
  });

  if (finishRequest) finishRequest(req, ws);
  else req.end();
}

function netConnection(options: ClientRequestArgs): Socket {
  const path = options.socketPath;
  if (path !== undefined && path !== null) return netConnect({ path });
  return netConnect(options as Parameters<typeof netConnect>[0]);
}

function tlsConnection(options: ClientRequestArgs & ConnectionOptions): Socket {
  return tlsConnect(options as ConnectionOptions);
}

/** Aborts the request and reports `message` as the handshake failure. */
function abortRequest(
  ws: WebSocket,
  settings: ClientSettings,
  req: ClientRequest,
  message: string,
): void {
  if (settings.request === req) settings.request = null;
  req.destroy();
  failHandshake(ws, new Error(message));
}

function failHandshake(ws: WebSocket, error: Error): void {
  if (ws.readyState === ws.CLOSED) return;
  ws._readyState = ws.CLOSING;
  process.nextTick(() => ws._failHandshake(error));
}
