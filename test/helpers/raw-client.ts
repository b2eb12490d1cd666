/**
 * Raw handshake writer: a `net` socket that speaks the opening handshake (RFC 6455 §4.1) as literal
 * text, so a test can send requests no real client would (missing, duplicated or huge headers, odd
 * keys and versions, frames glued to the request, a request dribbled byte by byte), read the
 * server's HTTP response head incrementally, then exchange forged frames.
 *
 * Also home to the pieces the raw server shares: the incremental HTTP head reader, the accept-key
 * computation and {@link RawPeer}, the socket wrapper both raw peers build on.
 */
import { createHash, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import {
  type FrameSpec,
  forgeFrame,
  toBytes,
  writeByteByByte,
  writeSplit,
} from "./frame-forger.js";
import {
  type CloseInfo,
  type ExpectCloseOptions,
  FrameReader,
  type ParsedFrame,
  type TcpEnd,
} from "./frame-reader.js";

/** The GUID of RFC 6455 §1.3, appended to the key to compute `Sec-WebSocket-Accept`. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** base64(SHA-1(key + GUID)), the `Sec-WebSocket-Accept` value for `key` (RFC 6455 §4.2.2). */
export function computeAccept(key: string): string {
  return createHash("sha1")
    .update(key + WEBSOCKET_GUID)
    .digest("base64");
}

/** A fresh valid `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1). */
export function generateKey(): string {
  return randomBytes(16).toString("base64");
}

/** An HTTP message head: start line and header lines, as received. */
export interface HttpHead {
  /** First line without CRLF, e.g. `HTTP/1.1 101 Switching Protocols` or `GET / HTTP/1.1`. */
  startLine: string;
  /** Header lines in arrival order, names as sent, values trimmed of surrounding whitespace. */
  headerLines: Array<[name: string, value: string]>;
  /** Values by lower-cased name, every occurrence kept (null prototype: any name is safe). */
  headers: Record<string, string[]>;
  /** The head's text up to and including the blank line. */
  raw: string;
}

/** Every value of header `name` joined with ", " (as HTTP list semantics allow), or undefined. */
export function headerValue(head: HttpHead, name: string): string | undefined {
  const values = head.headers[name.toLowerCase()];
  return values === undefined ? undefined : values.join(", ");
}

/** Parses a complete head (text up to and including CRLF CRLF). */
export function parseHttpHead(raw: string): HttpHead {
  const lines = raw.split("\r\n");
  const startLine = lines[0] ?? "";
  const headerLines: Array<[string, string]> = [];
  const headers: Record<string, string[]> = Object.create(null);
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).trim();
    headerLines.push([name, value]);
    const key = name.toLowerCase();
    const list = headers[key];
    if (list === undefined) headers[key] = [value];
    else list.push(value);
  }
  return { startLine, headerLines, headers, raw };
}

/**
 * Incremental HTTP head reader: feed chunks, get the head and the bytes after it once the blank
 * line arrived. Each chunk is scanned once (plus 3 bytes of overlap for a CRLF CRLF split across
 * chunks), so a dribbled head costs linear time.
 */
export class HttpHeadReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private tail = Buffer.alloc(0);

  /** @param maxBytes - refuse heads larger than this (keeps a hostile peer from filling memory) */
  constructor(readonly maxBytes = 1024 * 1024) {}

  /** Returns the head and the rest once complete, null while incomplete; throws when over the cap. */
  push(chunk: Buffer): { head: HttpHead; rest: Buffer } | null {
    // Look for CRLF CRLF in the last 3 bytes seen plus this chunk only.
    const window = Buffer.concat([this.tail, chunk]);
    const at = window.indexOf("\r\n\r\n");
    if (at === -1) {
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.size > this.maxBytes) throw new Error(`HTTP head over ${this.maxBytes} bytes`);
      this.tail = window.subarray(Math.max(0, window.length - 3));
      return null;
    }
    const endInChunk = at + 4 - this.tail.length;
    const all = Buffer.concat([...this.chunks, chunk.subarray(0, endInChunk)]);
    this.chunks = [];
    return { head: parseHttpHead(all.toString("latin1")), rest: chunk.subarray(endInChunk) };
  }
}

/** An HTTP response head with its status line split out. */
export interface HttpResponseHead extends HttpHead {
  /** e.g. `1.1`. */
  httpVersion: string;
  /** Numeric status, NaN if the status line is malformed. */
  status: number;
  /** Text after the status code. */
  statusText: string;
}

/** Splits the status line of a response head. */
export function toResponseHead(head: HttpHead): HttpResponseHead {
  const m = /^HTTP\/(\d+\.\d+) (\d{3})(?: (.*))?$/.exec(head.startLine);
  return {
    ...head,
    httpVersion: m?.[1] ?? "",
    status: m?.[2] === undefined ? Number.NaN : Number(m[2]),
    statusText: m?.[3] ?? "",
  };
}

/** How to write a request or response: extra bytes in the same write, or dribbled slowly. */
export interface WriteHeadOptions {
  /** Bytes written right after the head, in the same `write` (e.g. frames glued to the handshake). */
  append?: Uint8Array;
  /** Send the head (and `append`) in pieces of `chunkSize` bytes (default 1), `delayMs` apart. */
  dribble?: { delayMs: number; chunkSize?: number };
}

/** Writes a head (plus appended bytes) once or dribbled. */
export async function writeHead(
  socket: Socket,
  text: string | Uint8Array,
  options: WriteHeadOptions = {},
): Promise<void> {
  const head = typeof text === "string" ? Buffer.from(text, "latin1") : toBytes(text);
  const bytes = options.append ? Buffer.concat([head, toBytes(options.append)]) : head;
  const dribble = options.dribble;
  if (dribble === undefined) {
    socket.write(bytes);
    return;
  }
  const size = dribble.chunkSize ?? 1;
  if (size === 1) {
    await writeByteByByte(socket, bytes, dribble.delayMs);
    return;
  }
  const cuts: number[] = [];
  for (let i = size; i < bytes.length; i += size) cuts.push(i);
  await writeSplit(socket, bytes, cuts, dribble.delayMs);
}

/** Header overrides: a string replaces, an array repeats the header once per value, null removes. */
export type HeaderOverrides = Record<string, string | readonly string[] | null>;

/** Renders header lines: `defaults` in order with `overrides` applied (case-insensitive names). */
export function renderHeaders(
  defaults: ReadonlyArray<readonly [string, string]>,
  overrides: HeaderOverrides = {},
): string {
  const byLower = new Map<string, [string, string | readonly string[] | null]>();
  for (const [name, value] of Object.entries(overrides))
    byLower.set(name.toLowerCase(), [name, value]);
  const lines: string[] = [];
  const emit = (name: string, value: string | readonly string[] | null): void => {
    if (value === null) return;
    if (typeof value === "string") lines.push(`${name}: ${value}`);
    else for (const v of value) lines.push(`${name}: ${v}`);
  };
  for (const [name, value] of defaults) {
    const override = byLower.get(name.toLowerCase());
    if (override === undefined) emit(name, value);
    else {
      emit(name, override[1]);
      byLower.delete(name.toLowerCase());
    }
  }
  for (const [name, value] of byLower.values()) emit(name, value);
  return lines.map((l) => `${l}\r\n`).join("");
}

/** What to put in an upgrade request; every part can be overridden or made invalid. */
export interface UpgradeRequestOptions {
  /** Request method. Default `GET`. */
  method?: string;
  /** Request target. Default `/`. */
  path?: string;
  /** HTTP version in the request line. Default `1.1`. */
  httpVersion?: string;
  /** `Host` header value. Default `127.0.0.1:<port>` (or `127.0.0.1` without a port). */
  host?: string;
  /** Port for the default `Host` header. */
  port?: number;
  /** `Sec-WebSocket-Key`. Default: a fresh random valid key. */
  key?: string;
  /** `Sec-WebSocket-Version`. Default `13`. */
  version?: string;
  /** Overrides of the default headers (null removes one, an array duplicates it) and extra headers. */
  headers?: HeaderOverrides;
  /** Literal lines appended after the headers, unchecked (for malformed lines). No CRLF needed. */
  extraLines?: readonly string[];
}

/** Builds a literal upgrade request; returns its text and the key it carries. */
export function buildUpgradeRequest(options: UpgradeRequestOptions = {}): {
  text: string;
  key: string;
} {
  const key = options.key ?? generateKey();
  const host =
    options.host ?? (options.port === undefined ? "127.0.0.1" : `127.0.0.1:${options.port}`);
  const defaults: Array<[string, string]> = [
    ["Host", host],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", key],
    ["Sec-WebSocket-Version", options.version ?? "13"],
  ];
  const start = `${options.method ?? "GET"} ${options.path ?? "/"} HTTP/${options.httpVersion ?? "1.1"}\r\n`;
  const extra = (options.extraLines ?? []).map((l) => `${l}\r\n`).join("");
  return { text: `${start}${renderHeaders(defaults, options.headers)}${extra}\r\n`, key };
}

/**
 * A raw socket plus the frame I/O both raw peers share: an HTTP head first (the request for a raw
 * server, the response for a raw client), then frames. `role` only sets the default mask flag of
 * {@link sendFrame} (a client masks, RFC 6455 §5.3).
 */
export class RawPeer {
  /** The frames received after the HTTP head. */
  readonly frames = new FrameReader();
  /** Errors the socket reported (kept so a reset never crashes the test process). */
  readonly socketErrors: Error[] = [];
  /** The head received (request or response), once complete. */
  protected receivedHead: HttpHead | null = null;

  private headReader: HttpHeadReader | null = new HttpHeadReader();
  private headError: Error | null = null;
  private headWaiters: Array<() => void> = [];

  /**
   * @param socket - a connected socket; `setNoDelay` is turned on so split writes leave at once
   * @param role - which side this raw peer plays
   */
  constructor(
    readonly socket: Socket,
    readonly role: "client" | "server",
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.ended("end"));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.socketErrors.push(err);
      if (err.code === "ECONNRESET" || err.code === "EPIPE") this.ended("reset");
    });
    socket.on("close", () => this.ended("close"));
  }

  private onData(chunk: Buffer): void {
    if (this.headReader === null) {
      this.frames.push(chunk);
      return;
    }
    try {
      const done = this.headReader.push(chunk);
      if (done === null) return;
      this.headReader = null;
      this.receivedHead = done.head;
      if (done.rest.length > 0) this.frames.push(done.rest);
    } catch (err) {
      this.headError = err as Error;
      this.headReader = null;
    }
    this.wakeHead();
  }

  private ended(how: TcpEnd): void {
    this.frames.markEnded(how);
    this.wakeHead();
  }

  private wakeHead(): void {
    const waiters = this.headWaiters;
    this.headWaiters = [];
    for (const w of waiters) w();
  }

  /** Waits for the complete HTTP head; rejects on timeout, on an oversized head, or on TCP end. */
  protected async readHead(timeoutMs: number): Promise<HttpHead> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.receivedHead !== null) return this.receivedHead;
      if (this.headError !== null) throw this.headError;
      if (this.frames.tcpEnd !== null) {
        throw new Error(`connection ended (${this.frames.tcpEnd}) before a complete HTTP head`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no complete HTTP head within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.headWaiters = this.headWaiters.filter((w) => w !== wake);
          resolve();
        }, remaining);
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.headWaiters.push(wake);
      });
    }
  }

  /** Writes bytes as they are. */
  write(bytes: Uint8Array | string): void {
    if (!this.socket.destroyed) this.socket.write(toBytes(bytes));
  }

  /** Forges and writes one frame; `mask` defaults to true for a client, false for a server. */
  sendFrame(spec: FrameSpec): Buffer {
    const frame = forgeFrame({ mask: this.role === "client", ...spec });
    this.write(frame);
    return frame;
  }

  /** Writes `bytes` cut at `cuts`, `delayMs` apart (see {@link writeSplit}). */
  writeSplit(bytes: Uint8Array, cuts: readonly number[], delayMs = 5): Promise<void> {
    return writeSplit(this.socket, bytes, cuts, delayMs);
  }

  /** Writes `bytes` one byte at a time, `delayMs` apart. */
  writeByteByByte(bytes: Uint8Array, delayMs = 1): Promise<void> {
    return writeByteByByte(this.socket, bytes, delayMs);
  }

  /** Next frame from the library (see {@link FrameReader.nextFrame}). */
  nextFrame(timeoutMs = 2000): Promise<ParsedFrame> {
    return this.frames.nextFrame(timeoutMs);
  }

  /** Next close frame's code and reason (see {@link FrameReader.expectClose}). */
  expectClose(timeoutMs = 2000, options: ExpectCloseOptions = {}): Promise<CloseInfo> {
    return this.frames.expectClose(timeoutMs, options);
  }

  /** Resolves if no frame arrives within `ms`. */
  expectNoFrame(ms: number): Promise<void> {
    return this.frames.expectNoFrame(ms);
  }

  /** Resolves when the library has closed TCP (see {@link FrameReader.waitForTcpEnd}). */
  waitForTcpEnd(timeoutMs = 2000): Promise<TcpEnd> {
    return this.frames.waitForTcpEnd(timeoutMs);
  }

  /** Half-closes: sends FIN (an EOF for the library), keeps reading. */
  end(): void {
    this.socket.end();
  }

  /** Destroys the socket at once (idempotent); always call it in test cleanup. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Destroys the socket and waits for its `close` event. */
  async destroyAndWait(): Promise<void> {
    if (this.socket.closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.destroy();
    await closed;
  }
}

/** Options of {@link RawClient.handshake}: the request's content and how it is written. */
export interface HandshakeOptions extends UpgradeRequestOptions, WriteHeadOptions {
  /** Literal request text instead of a built one (then `key` is only what the test says it is). */
  rawRequest?: string | Uint8Array;
  /** How long to wait for the response head. Default 2000 ms. */
  timeoutMs?: number;
  /**
   * Keep our side of TCP open after the library's FIN (`allowHalfOpen`), so a test can tell a
   * library that closes TCP by itself from one that waits for the peer's FIN. Default false.
   */
  halfOpen?: boolean;
}

/** A raw WebSocket client socket: literal handshake, then forged frames out and parsed frames in. */
export class RawClient extends RawPeer {
  /** The `Sec-WebSocket-Key` sent (empty until a request was sent). */
  key = "";

  /** Opens TCP to `host:port` (no request yet); `halfOpen` as in {@link HandshakeOptions}. */
  static connect(
    port: number,
    host = "127.0.0.1",
    timeoutMs = 2000,
    halfOpen = false,
  ): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, allowHalfOpen: halfOpen });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`TCP connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeListener("error", reject);
        resolve(new RawClient(socket, "client"));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /**
   * Connects, sends an upgrade request (built from `options`, or `rawRequest`), and resolves with the
   * client once the response head arrived, whatever its status (check {@link response}).
   */
  static async handshake(port: number, options: HandshakeOptions = {}): Promise<RawClient> {
    const client = await RawClient.connect(port, "127.0.0.1", 2000, options.halfOpen ?? false);
    try {
      await client.sendRequest(options.rawRequest ?? { port, ...options }, options);
      await client.readResponse(options.timeoutMs ?? 2000);
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  /**
   * Like {@link handshake} but insists on a correct 101 (status, Upgrade, Accept); throws otherwise.
   * The usual start of a framing test.
   */
  static async open(port: number, options: HandshakeOptions = {}): Promise<RawClient> {
    const client = await RawClient.handshake(port, options);
    const res = client.response;
    const accept = headerValue(res, "sec-websocket-accept");
    if (res.status !== 101 || accept !== computeAccept(client.key)) {
      client.destroy();
      throw new Error(`handshake failed: ${res.startLine}, accept ${accept}`);
    }
    return client;
  }

  /** Sends a request: built from options, or literal text/bytes. */
  async sendRequest(
    request: string | Uint8Array | UpgradeRequestOptions,
    write: WriteHeadOptions = {},
  ): Promise<void> {
    let text: string | Uint8Array;
    if (typeof request === "string" || request instanceof Uint8Array) text = request;
    else {
      const built = buildUpgradeRequest(request);
      text = built.text;
      this.key = built.key;
    }
    await writeHead(this.socket, text, write);
  }

  /** Waits for the response head (see {@link RawPeer.readHead}). */
  async readResponse(timeoutMs = 2000): Promise<HttpResponseHead> {
    return toResponseHead(await this.readHead(timeoutMs));
  }

  /** The response head; throws if it has not arrived yet. */
  get response(): HttpResponseHead {
    if (this.receivedHead === null) throw new Error("no response head yet");
    return toResponseHead(this.receivedHead);
  }

  /** Bytes received after the response head so far (e.g. an error response body). */
  get bytesAfterHead(): number {
    return this.frames.totalBytes;
  }
}

/** Resolves after `ms` (re-exported for tests that pace raw peers). */
export const sleep = (ms: number): Promise<void> => delay(ms);
