/**
 * Raw server for testing the library's CLIENT: accepts TCP on 127.0.0.1, reads the opening
 * handshake request, answers with a literal response (a correct 101 computed from the key by
 * default, or any status, headers or text), then lets the test write forged frames and read the
 * client's frames (unmasked by the reader, masking keys kept for RFC 6455 §5.3 checks).
 */
import { createServer, type Server, type Socket } from "node:net";
import {
  computeAccept,
  type HeaderOverrides,
  type HttpHead,
  headerValue,
  RawPeer,
  renderHeaders,
  type WriteHeadOptions,
  writeHead,
} from "./raw-client.js";

/** An HTTP request head with its request line split out. */
export interface HttpRequestHead extends HttpHead {
  /** e.g. `GET`. */
  method: string;
  /** Request target, e.g. `/chat?x=1`. */
  path: string;
  /** e.g. `1.1`. */
  httpVersion: string;
}

/** Splits the request line of a request head. */
export function toRequestHead(head: HttpHead): HttpRequestHead {
  const [method = "", path = "", version = ""] = head.startLine.split(" ");
  return { ...head, method, path, httpVersion: version.replace(/^HTTP\//, "") };
}

/** What to answer: by default a correct `101 Switching Protocols` for the request's key. */
export interface ResponseOptions extends WriteHeadOptions {
  /** Status code. Default 101. */
  status?: number;
  /** Reason phrase. Default `Switching Protocols` for 101, `Error` otherwise. */
  statusText?: string;
  /**
   * Overrides of the default headers (null removes one, an array repeats it) and extra headers.
   * Defaults for 101: `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept: <correct>`.
   * Defaults otherwise: `Connection: close`, `Content-Length: <body length>`.
   */
  headers?: HeaderOverrides;
  /** Literal lines appended after the headers, unchecked. */
  extraLines?: readonly string[];
  /** Body text after the head (non-101 responses). Default empty. */
  body?: string;
}

/** One accepted connection: the client's request, then frame I/O (`sendFrame` unmasked by default). */
export class RawServerConnection extends RawPeer {
  /** Wraps an accepted socket; the request head is read by {@link RawServer.accept}. */
  constructor(socket: Socket) {
    super(socket, "server");
  }

  /** Waits for the request head (done for you by {@link RawServer.accept}). */
  async readRequest(timeoutMs = 2000): Promise<HttpRequestHead> {
    return toRequestHead(await this.readHead(timeoutMs));
  }

  /** The request head; throws if it has not arrived yet. */
  get request(): HttpRequestHead {
    if (this.receivedHead === null) throw new Error("no request head yet");
    return toRequestHead(this.receivedHead);
  }

  /** The client's `Sec-WebSocket-Key`, if it sent one. */
  get key(): string | undefined {
    return headerValue(this.request, "sec-websocket-key");
  }

  /** Value of a request header (all occurrences joined with ", "). */
  header(name: string): string | undefined {
    return headerValue(this.request, name);
  }

  /** Builds the response text for `options` (see {@link ResponseOptions}). */
  buildResponse(options: Omit<ResponseOptions, "append" | "dribble"> = {}): string {
    const status = options.status ?? 101;
    const body = options.body ?? "";
    const statusText = options.statusText ?? (status === 101 ? "Switching Protocols" : "Error");
    const defaults: Array<[string, string]> =
      status === 101
        ? [
            ["Upgrade", "websocket"],
            ["Connection", "Upgrade"],
            ["Sec-WebSocket-Accept", computeAccept(this.key ?? "")],
          ]
        : [
            ["Connection", "close"],
            ["Content-Length", String(Buffer.byteLength(body))],
          ];
    const extra = (options.extraLines ?? []).map((l) => `${l}\r\n`).join("");
    return `HTTP/1.1 ${status} ${statusText}\r\n${renderHeaders(defaults, options.headers)}${extra}\r\n${body}`;
  }

  /**
   * Answers the handshake. Pass options (default: a correct 101) or literal response text/bytes.
   * Resolves once everything is written (dribbled responses take a while).
   */
  respond(
    response: ResponseOptions | string | Uint8Array = {},
    write: WriteHeadOptions = {},
  ): Promise<void> {
    if (typeof response === "string" || response instanceof Uint8Array) {
      return writeHead(this.socket, response, write);
    }
    return writeHead(this.socket, this.buildResponse(response), { ...write, ...response });
  }
}

/** A raw TCP server on 127.0.0.1, port 0; hands out connections whose request head was read. */
export class RawServer {
  /** Every connection accepted, for cleanup. */
  readonly connections: RawServerConnection[] = [];
  private backlog: RawServerConnection[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {
    server.on("connection", (socket) => {
      // Wrap at once so no byte of the request is missed.
      const conn = new RawServerConnection(socket);
      this.connections.push(conn);
      this.backlog.push(conn);
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    });
  }

  /** Starts listening on `host` (default 127.0.0.1), port 0. */
  static listen(host = "127.0.0.1"): Promise<RawServer> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, host, () => {
        server.removeListener("error", reject);
        const address = server.address();
        if (address === null || typeof address === "string") {
          reject(new Error("no TCP address"));
          return;
        }
        resolve(new RawServer(server, address.port));
      });
    });
  }

  /** `ws://127.0.0.1:<port><path>`. */
  url(path = "/"): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /**
   * The next accepted connection with its request head read. Rejects after `timeoutMs` if no client
   * connects or its head is incomplete.
   */
  async accept(timeoutMs = 2000): Promise<RawServerConnection> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const conn = this.backlog.shift();
      if (conn !== undefined) {
        await conn.readRequest(Math.max(1, deadline - Date.now()));
        return conn;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no connection within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve();
        }, remaining);
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.waiters.push(wake);
      });
    }
  }

  /**
   * Accepts the next connection and answers a correct 101; the usual start of a client framing test.
   */
  async acceptWebSocket(
    timeoutMs = 2000,
    response: ResponseOptions = {},
  ): Promise<RawServerConnection> {
    const conn = await this.accept(timeoutMs);
    await conn.respond(response);
    return conn;
  }

  /** Destroys every connection and stops listening. */
  async close(): Promise<void> {
    for (const conn of this.connections) conn.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
