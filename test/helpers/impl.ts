/**
 * The implementation under test, switchable with one environment variable, plus an event recorder
 * for the library's socket objects.
 *
 * Default: socketeer (`src/index.ts`). `SOCKETEER_IMPL=ws` runs the same suites against the `ws`
 * package, which is how the raw helpers were debugged and how ws's deviations are found. Both are
 * typed with ws's types: socketeer's public API is a drop-in for ws 8.
 */
import type { IncomingMessage } from "node:http";
import WebSocket, { WebSocketServer } from "ws";

/** The two classes every suite needs from the implementation under test. */
export interface Impl {
  /** `ws` or `socketeer`. */
  name: "ws" | "socketeer";
  /** The WebSocket class (client role when constructed with a URL). */
  WebSocket: typeof WebSocket.WebSocket;
  /** The WebSocketServer class. */
  WebSocketServer: typeof WebSocketServer;
}

/** Loads the implementation chosen by `SOCKETEER_IMPL` (`ws`, or anything else for socketeer). */
export async function loadImpl(): Promise<Impl> {
  if (process.env.SOCKETEER_IMPL === "ws") {
    return { name: "ws", WebSocket, WebSocketServer };
  }
  // src/index.ts replaces module.exports with the WebSocket class (ws's CommonJS shape), so a
  // dynamic import may expose the API only under `default`; accept either shape.
  type Api = Partial<Omit<Impl, "name">>;
  const ns = (await import("../../src/index.js")) as unknown as Api & { default?: Api };
  const api = ns.WebSocketServer !== undefined ? ns : (ns.default ?? {});
  if (api.WebSocket === undefined || api.WebSocketServer === undefined) {
    throw new Error("src/index.ts does not export WebSocket and WebSocketServer");
  }
  return { name: "socketeer", WebSocket: api.WebSocket, WebSocketServer: api.WebSocketServer };
}

/** One `close` event as the library reported it. */
export interface LoggedClose {
  /** Close code given to the app (1005: none in the peer's close frame; 1006: no close frame). */
  code: number;
  /** Reason bytes given to the app. */
  reason: Buffer;
}

/** One `message` event. */
export interface LoggedMessage {
  /** Message payload (a Buffer with the default `binaryType`). */
  data: Buffer;
  /** Whether it was a binary message. */
  isBinary: boolean;
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Records every event of one library socket, in order, from the moment it is attached. Attach it
 * synchronously in the `connection` handler (server) or right after construction (client), so the
 * recorder is also the `error` listener the "exactly one error" oracle needs.
 */
export class SocketLog {
  /** Event names in emission order. */
  readonly events: string[] = [];
  /** Every `error` event's argument. */
  readonly errors: Error[] = [];
  /** Every `close` event. */
  readonly closes: LoggedClose[] = [];
  /** Every `message` event. */
  readonly messages: LoggedMessage[] = [];
  /** Payloads of `ping` events. */
  readonly pings: Buffer[] = [];
  /** Payloads of `pong` events. */
  readonly pongs: Buffer[] = [];
  /** Status codes seen by `unexpected-response`. */
  readonly unexpectedResponses: number[] = [];
  private waiters: Array<() => void> = [];

  /**
   * @param ws - the library socket to watch
   * @param onUnexpectedResponse - when given, listens to `unexpected-response` (ws then emits no
   *   error by itself; the callback must end the request)
   */
  constructor(
    readonly ws: WebSocket,
    onUnexpectedResponse?: (req: unknown, res: IncomingMessage) => void,
  ) {
    ws.on("open", () => this.record("open"));
    ws.on("message", (data, isBinary) => {
      this.messages.push({ data: toBuffer(data), isBinary });
      this.record("message");
    });
    ws.on("ping", (data) => {
      this.pings.push(data);
      this.record("ping");
    });
    ws.on("pong", (data) => {
      this.pongs.push(data);
      this.record("pong");
    });
    ws.on("error", (err) => {
      this.errors.push(err);
      this.record("error");
    });
    ws.on("close", (code, reason) => {
      this.closes.push({ code, reason });
      this.record("close");
    });
    if (onUnexpectedResponse !== undefined) {
      ws.on("unexpected-response", (req, res) => {
        this.unexpectedResponses.push(res.statusCode ?? 0);
        this.record("unexpected-response");
        onUnexpectedResponse(req, res);
      });
    }
  }

  private record(event: string): void {
    this.events.push(event);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once `predicate()` holds; rejects after `timeoutMs` naming `what`. */
  async until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`${what}: not within ${timeoutMs} ms (events: ${this.events.join(", ")})`);
      }
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

  /** Resolves on `open`; rejects if the socket closes first or after `timeoutMs`. */
  async opened(timeoutMs = 2000): Promise<void> {
    await this.until(
      () => this.events.includes("open") || this.closes.length > 0,
      timeoutMs,
      "open",
    );
    if (!this.events.includes("open")) {
      throw new Error(`closed before open (events: ${this.events.join(", ")})`);
    }
  }

  /** Resolves with the first `close` event. */
  async closed(timeoutMs = 2000): Promise<LoggedClose> {
    await this.until(() => this.closes.length > 0, timeoutMs, "close event");
    return this.closes[0] as LoggedClose;
  }

  /** Resolves with message number `index` (0-based) once it arrived. */
  async message(index: number, timeoutMs = 2000): Promise<LoggedMessage> {
    await this.until(() => this.messages.length > index, timeoutMs, `message #${index}`);
    return this.messages[index] as LoggedMessage;
  }

  /** Events emitted after the first `close` (must stay empty). */
  afterClose(): string[] {
    const at = this.events.indexOf("close");
    return at === -1 ? [] : this.events.slice(at + 1);
  }
}
