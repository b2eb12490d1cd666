/**
 * `WebSocket`: one connection, either side, with ws 8's API (EventEmitter events, `send`, `close`,
 * `ping`, …) plus the WHATWG surface (`addEventListener`, `onmessage`, …).
 *
 * The protocol work is done by the core's {@link FrameParser} and the batching {@link Sender}; this
 * class owns the connection state machine (RFC 6455 §7: CONNECTING → OPEN → CLOSING → CLOSED), the
 * close handshake and its timeout, and the Node socket. The client's opening handshake lives in
 * `client.ts`; the server's in `server.ts`.
 */
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { encodeClosePayload } from "../protocol/close.js";
import type { ProtocolError } from "../protocol/errors.js";
import {
  DEFAULT_MAX_FRAGMENTS,
  FrameParser,
  type FrameParserEvents,
} from "../protocol/frame-parser.js";
import { Opcode } from "../protocol/opcodes.js";
import { type ClientOptions, initAsClient } from "./client.js";
import type { PerMessageDeflate } from "./deflate.js";
import {
  type AddEventListenerOptions,
  addEventListener,
  type CloseEvent,
  type ErrorEvent,
  getOnAttribute,
  type MessageEvent,
  removeEventListener,
  setOnAttribute,
  type WebSocketEvent,
  type WebSocketEventListener,
} from "./event-target.js";
import { type HeartbeatMember, type HeartbeatWheel, sharedHeartbeatWheel } from "./heartbeat.js";
import { type SendCallback, Sender } from "./sender.js";

/** Default `maxPayload`: 100 MiB, as in ws, so apps that move large messages keep working. */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;
/** Default `closeTimeout`: how long to wait for the peer's close frame, as in ws. */
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
/**
 * Default `maxBufferedAmount`: when a peer stops reading and the unsent backlog passes this, the
 * connection is closed with 1008 instead of growing without bound. 64 MiB leaves room for apps
 * that send large messages in bursts (ws has no cap at all); set 0 to disable.
 */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 64 * 1024 * 1024;

/** Received binary data as `binaryType` presents it. */
export type BinaryType = "nodebuffer" | "arraybuffer" | "fragments" | "blob";

/** Anything `send` accepts. Numbers are sent as their decimal text, as ws does. */
export type Data =
  | string
  | Buffer
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | number
  | readonly Buffer[];

/** Per-message options for {@link WebSocket.send}. */
export interface SendOptions {
  /** Send as binary (default: true unless `data` is a string). */
  binary?: boolean;
  /** Compress when permessage-deflate is negotiated (default true). */
  compress?: boolean;
  /** Last fragment of the message (default true); false sends a fragment. */
  fin?: boolean;
  /**
   * Accepted for ws compatibility and ignored: RFC 6455 §5.1 requires clients to mask every
   * frame and servers to mask none, so the role decides.
   */
  mask?: boolean;
}

/**
 * What happened to a message given to `send` (beyond ws, which returns nothing):
 * "written" — queued, backlog under `maxBackpressure`; "buffered" — queued, but the backlog is
 * now over it (wait for 'drain'); "dropped" — not queued (socket not open, or the backlog is over
 * `maxBufferedAmount` and the connection is being closed with 1008).
 */
export type SendResult = "written" | "buffered" | "dropped";

/** Options of a publish from a socket (see `WebSocketServer.publish`). */
export interface SocketPublishOptions {
  /** Send as binary (default: true unless the data is a string). */
  binary?: boolean;
  /** Compress for subscribers that negotiated permessage-deflate (default true). */
  compress?: boolean;
}

/**
 * The server's topic registry as the socket sees it (implemented in `src/pubsub/hub.ts`; the
 * node layer knows only this shape). @internal
 */
export interface TopicRegistry {
  subscribe(member: WebSocket, topic: string): boolean;
  unsubscribe(member: WebSocket, topic: string): boolean;
  leaveAll(member: WebSocket, topics: Iterable<string>): void;
  publish(
    topic: string,
    payload: Buffer,
    binary: boolean,
    compress: boolean,
    except: WebSocket | null,
  ): { sent: number; dropped: number };
}

/** Default `maxBackpressure`: the backlog above which `send` answers "buffered" and a publish skips the subscriber. */
export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;

/** How the server (or the client handshake) attaches a connected transport. @internal */
export interface SocketSetup {
  /** The server's topic registry; null on clients and when pub/sub is not wired. */
  topics?: TopicRegistry | null;
  /** Soft backlog limit for "buffered" results and publish skipping (default 1 MiB). */
  maxBackpressure?: number;
  isServer: boolean;
  protocol: string;
  perMessageDeflate: PerMessageDeflate | null;
  maxPayload: number;
  skipUTF8Validation: boolean;
  allowSynchronousEvents: boolean;
  autoPong: boolean;
  closeTimeout: number;
  heartbeat: HeartbeatWheel | null;
  maxBufferedAmount: number;
}

const READY_STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"] as const;
const EMPTY = Buffer.alloc(0);
/** While our replies to the peer's pings and closes cannot be written, stop reading its frames. */
const CONTROL_HIGH_WATER = 1024 * 1024;

const kWebSocket = Symbol("socketeer:websocket");
interface OwnedSocket extends Duplex {
  [kWebSocket]?: WebSocket;
}

/** Events a socket emits, for typed listeners. */
export interface WebSocketEventMap {
  open: [];
  message: [data: Buffer | ArrayBuffer | Buffer[] | Blob, isBinary: boolean];
  close: [code: number, reason: Buffer];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  upgrade: [response: IncomingMessage];
  "unexpected-response": [request: import("node:http").ClientRequest, response: IncomingMessage];
  redirect: [url: string, request: import("node:http").ClientRequest];
  drain: [];
}

/** A WebSocket connection. See the module comment. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface below only adds typed event overloads.
export class WebSocket extends EventEmitter implements HeartbeatMember {
  /** The connection is being established. */
  static readonly CONNECTING = 0;
  /** The connection is open and ready to communicate. */
  static readonly OPEN = 1;
  /** The connection is closing. */
  static readonly CLOSING = 2;
  /** The connection is closed. */
  static readonly CLOSED = 3;
  /** The connection is being established. */
  readonly CONNECTING = 0;
  /** The connection is open and ready to communicate. */
  readonly OPEN = 1;
  /** The connection is closing. */
  readonly CLOSING = 2;
  /** The connection is closed. */
  readonly CLOSED = 3;

  /** @internal */ _readyState: 0 | 1 | 2 | 3 = WebSocket.CONNECTING;
  /** @internal */ _socket: OwnedSocket | null = null;
  /** @internal */ _protocol = "";
  /** @internal */ _isServer = true;
  /** @internal */ _url = "";
  /** @internal The client's handshake request, aborted by close() while connecting. */
  _req: import("node:http").ClientRequest | null = null;
  /** @internal Redirects followed so far (client). */
  _redirects = 0;

  private _binaryType: BinaryType = "nodebuffer";
  private _parser: FrameParser | null = null;
  private _sender: Sender | null = null;
  private _deflate: PerMessageDeflate | null = null;
  private _extensions = "";
  private _heartbeat: HeartbeatWheel | null = null;
  private _closeCode = 1006;
  private _closeReason: Buffer = EMPTY;
  private _closeFrameSent = false;
  private _closeFrameReceived = false;
  private _closeTimer: NodeJS.Timeout | null = null;
  private _closeTimeout = DEFAULT_CLOSE_TIMEOUT;
  private _autoPong = true;
  private _allowSynchronousEvents = true;
  private _maxBufferedAmount = DEFAULT_MAX_BUFFERED_AMOUNT;
  private _errorEmitted = false;
  private _paused = false;
  private _bufferedAfterClose = 0;
  private _readingPausedForControl = false;

  private _registry: TopicRegistry | null = null;
  private _topics: Set<string> | null = null;
  private _maxBackpressure = DEFAULT_MAX_BACKPRESSURE;
  private _drainWanted = false;

  /** @internal */ heartbeatSeen = 0;
  /** @internal */ heartbeatPinged = -1;

  /**
   * Opens a client connection (`address` given) or makes an unattached server-side socket
   * (`address` null, as the server does).
   * @param address - `ws:`, `wss:`, `http:`, `https:` or `ws+unix:` URL
   * @param protocols - subprotocols to offer, or client options when no protocols are given
   * @param options - client options
   */
  constructor(address: null, protocols?: undefined, options?: object);
  constructor(
    address: string | URL,
    protocols?: string | string[] | ClientOptions,
    options?: ClientOptions,
  );
  constructor(
    address: string | URL | null,
    protocols?: string | string[] | ClientOptions,
    options?: ClientOptions | object,
  ) {
    super();
    if (address === null) return;
    this._isServer = false;
    let list: string[] = [];
    let opts: ClientOptions | undefined = options as ClientOptions | undefined;
    if (protocols === undefined) list = [];
    else if (typeof protocols === "string") list = [protocols];
    else if (Array.isArray(protocols)) list = protocols;
    else if (typeof protocols === "object" && protocols !== null) {
      opts = protocols;
    }
    initAsClient(this, address, list, opts ?? {});
  }

  /** How binary messages are delivered: "nodebuffer" (default), "arraybuffer", "fragments", "blob". */
  get binaryType(): BinaryType {
    return this._binaryType;
  }
  set binaryType(type: BinaryType) {
    if (
      type === "nodebuffer" ||
      type === "arraybuffer" ||
      type === "fragments" ||
      type === "blob"
    ) {
      this._binaryType = type;
    }
  }

  /** Bytes passed to `send` and friends that have not reached the kernel yet. */
  get bufferedAmount(): number {
    const socket = this._socket;
    if (socket === null || this._readyState === WebSocket.CLOSED) return this._bufferedAfterClose;
    return socket.writableLength + (this._sender?.bufferedBytes ?? 0) + this._bufferedAfterClose;
  }

  /** Names of the negotiated extensions, comma-separated ("" or "permessage-deflate"). */
  get extensions(): string {
    return this._extensions;
  }

  /** True while reading is paused by {@link pause}. */
  get isPaused(): boolean {
    return this._paused;
  }

  /** The negotiated subprotocol, or "". */
  get protocol(): string {
    return this._protocol;
  }

  /** One of CONNECTING (0), OPEN (1), CLOSING (2), CLOSED (3). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this._readyState;
  }

  /** The URL this client connected to ("" on the server side). */
  get url(): string {
    return this._url;
  }

  /** @internal True when the close handshake completed both ways (for CloseEvent.wasClean). */
  get closedCleanly(): boolean {
    return this._closeFrameSent && this._closeFrameReceived;
  }

  /** `open` handler attribute. */
  get onopen(): ((event: WebSocketEvent) => void) | null {
    return getOnAttribute(this, "open") as ((event: WebSocketEvent) => void) | null;
  }
  set onopen(handler: ((event: WebSocketEvent) => void) | null) {
    setOnAttribute(this, "open", handler);
  }
  /** `message` handler attribute. */
  get onmessage(): ((event: MessageEvent) => void) | null {
    return getOnAttribute(this, "message") as ((event: MessageEvent) => void) | null;
  }
  set onmessage(handler: ((event: MessageEvent) => void) | null) {
    setOnAttribute(this, "message", handler);
  }
  /** `close` handler attribute. */
  get onclose(): ((event: CloseEvent) => void) | null {
    return getOnAttribute(this, "close") as ((event: CloseEvent) => void) | null;
  }
  set onclose(handler: ((event: CloseEvent) => void) | null) {
    setOnAttribute(this, "close", handler);
  }
  /** `error` handler attribute. */
  get onerror(): ((event: ErrorEvent) => void) | null {
    return getOnAttribute(this, "error") as ((event: ErrorEvent) => void) | null;
  }
  set onerror(handler: ((event: ErrorEvent) => void) | null) {
    setOnAttribute(this, "error", handler);
  }

  /** DOM-style listener registration ("open", "message", "close", "error"). */
  addEventListener(
    type: "message",
    listener: WebSocketEventListener<MessageEvent>,
    options?: AddEventListenerOptions,
  ): void;
  addEventListener(
    type: "close",
    listener: WebSocketEventListener<CloseEvent>,
    options?: AddEventListenerOptions,
  ): void;
  addEventListener(
    type: "error",
    listener: WebSocketEventListener<ErrorEvent>,
    options?: AddEventListenerOptions,
  ): void;
  addEventListener(
    type: "open",
    listener: WebSocketEventListener<WebSocketEvent>,
    options?: AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: WebSocketEventListener<never>,
    options?: AddEventListenerOptions,
  ): void {
    addEventListener(this, type, listener, options);
  }

  /** Removes a listener added with {@link addEventListener}. */
  removeEventListener(type: string, listener: WebSocketEventListener<never>): void {
    removeEventListener(this, type, listener);
  }

  /** @internal Attaches the connected transport and opens the socket. */
  _setSocket(socket: Duplex, head: Buffer, setup: SocketSetup): void {
    const owned = socket as OwnedSocket;
    this._isServer = setup.isServer;
    this._protocol = setup.protocol;
    this._deflate = setup.perMessageDeflate;
    this._extensions = setup.perMessageDeflate === null ? "" : "permessage-deflate";
    this._closeTimeout = setup.closeTimeout;
    this._autoPong = setup.autoPong;
    this._allowSynchronousEvents = setup.allowSynchronousEvents;
    this._maxBufferedAmount = setup.maxBufferedAmount;
    this._registry = setup.topics ?? null;
    this._maxBackpressure = setup.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
    this._parser = new FrameParser(
      {
        isServer: setup.isServer,
        maxPayload: setup.maxPayload,
        maxFragments: DEFAULT_MAX_FRAGMENTS,
        skipUTF8Validation: setup.skipUTF8Validation,
        inflater: setup.perMessageDeflate,
      },
      new ParserEvents(this),
    );
    const deflate = setup.perMessageDeflate;
    this._sender = new Sender(
      socket,
      !setup.isServer,
      deflate?.canCompress ? deflate : null,
      deflate?.threshold ?? 0,
      () => this._onFlushed(),
    );
    owned[kWebSocket] = this;
    this._socket = owned;
    const net = socket as Duplex & {
      setNoDelay?: (on: boolean) => void;
      setTimeout?: (ms: number) => void;
    };
    net.setTimeout?.(0);
    net.setNoDelay?.(true);
    // Bytes that came with the handshake are parsed on the next 'data' event, after the app has
    // had its chance to attach 'message' listeners in 'connection' / 'open'.
    if (head.length > 0) socket.unshift(head);
    socket.on("close", socketOnClose);
    socket.on("data", socketOnData);
    socket.on("end", socketOnEnd);
    socket.on("error", socketOnError);
    socket.on("drain", socketOnDrain);
    this._readyState = WebSocket.OPEN;
    if (setup.heartbeat !== null) {
      this._heartbeat = setup.heartbeat;
      setup.heartbeat.add(this);
    }
  }

  /** @internal Client: turns on the heartbeat once open. */
  _useHeartbeat(options: { interval: number; timeout: number }): void {
    this._heartbeat = sharedHeartbeatWheel(options);
    this._heartbeat.add(this);
  }

  /**
   * Sends a message. Strings go as text, everything else as binary, unless `options.binary` says
   * otherwise. Throws while CONNECTING; after close, calls back with an error.
   */
  send(data: Data, callback?: SendCallback): SendResult;
  send(data: Data, options: SendOptions, callback?: SendCallback): SendResult;
  send(data: Data, options?: SendOptions | SendCallback, callback?: SendCallback): SendResult {
    if (typeof options === "function") {
      callback = options;
      options = undefined;
    }
    if (this._readyState === WebSocket.CONNECTING) {
      throw new Error("WebSocket is not open: readyState 0 (CONNECTING)");
    }
    if (typeof data === "number") data = data.toString();
    if (isBlob(data)) {
      // ws 8.18+: a Blob is read asynchronously and sent in order with what follows it.
      if (this._readyState !== WebSocket.OPEN) {
        this.sendAfterClose(Buffer.alloc(0), callback);
        return "dropped";
      }
      this._sender!.sendBlob(
        data,
        options?.binary !== false,
        options?.fin !== false,
        options?.compress !== false,
        callback,
      );
      return this.backlogResult();
    }
    let payload: Buffer | string;
    let binary: boolean;
    if (typeof data === "string") {
      payload = data;
      binary = options?.binary === true;
    } else {
      payload = toBuffer(data);
      binary = options?.binary !== false;
    }
    if (this._readyState !== WebSocket.OPEN) {
      this.sendAfterClose(payload, callback);
      return "dropped";
    }
    if (this.overBacklog()) return "dropped";
    this._sender!.sendData(
      payload,
      binary,
      options?.fin !== false,
      options?.compress !== false,
      callback,
    );
    return this.backlogResult();
  }

  private backlogResult(): SendResult {
    if (this._maxBackpressure <= 0 || this.bufferedAmount <= this._maxBackpressure)
      return "written";
    // A "buffered" answer promises a 'drain'. Node emits its own only after a write was refused
    // (16 KiB and up), so below that we watch our flushes ourselves.
    this._drainWanted = true;
    this._sender!.notifyFlush = true;
    return "buffered";
  }

  /** @internal A flush the socket asked about reached the kernel (see backlogResult). */
  _onFlushed(): void {
    if (!this._drainWanted || this._readyState !== WebSocket.OPEN) return;
    if (this._socket!.writableNeedDrain) return; // Node's own 'drain' will follow
    if (this.bufferedAmount > this._maxBackpressure) {
      this._sender!.notifyFlush = true;
      return;
    }
    this._drainWanted = false;
    this.emit("drain");
  }

  // --- topics (beyond ws) ------------------------------------------------------------------

  /**
   * Subscribes this connection to `topic`; `server.publish(topic, …)` then reaches it. Only for
   * connections accepted by a {@link WebSocketServer}. Returns false if already subscribed.
   */
  subscribe(topic: string): boolean {
    const registry = this.requireRegistry();
    if (this._readyState !== WebSocket.OPEN && this._readyState !== WebSocket.CONNECTING)
      return false;
    if (!registry.subscribe(this, topic)) return false;
    (this._topics ??= new Set()).add(topic);
    return true;
  }

  /** Leaves `topic`; returns false if this connection was not subscribed. */
  unsubscribe(topic: string): boolean {
    const registry = this.requireRegistry();
    if (this._topics === null || !this._topics.delete(topic)) return false;
    registry.unsubscribe(this, topic);
    return true;
  }

  /** True when this connection is subscribed to `topic`. */
  isSubscribed(topic: string): boolean {
    return this._topics?.has(topic) === true;
  }

  /** The topics this connection is subscribed to. */
  get topics(): string[] {
    return this._topics === null ? [] : [...this._topics];
  }

  /**
   * Sends `data` to every subscriber of `topic` except this connection (the frame is encoded
   * once). Returns how many subscribers it was queued to and how many were skipped as slow.
   */
  publish(
    topic: string,
    data: Data,
    options: SocketPublishOptions = {},
  ): { sent: number; dropped: number } {
    const registry = this.requireRegistry();
    const { payload, binary } = publishPayload(data, options.binary);
    return registry.publish(topic, payload, binary, options.compress !== false, this);
  }

  private requireRegistry(): TopicRegistry {
    if (this._registry === null) {
      throw new Error("Topics are available on connections accepted by a WebSocketServer");
    }
    return this._registry;
  }

  /** @internal For the hub: true while open. */
  get isOpenForPublish(): boolean {
    return this._readyState === WebSocket.OPEN;
  }

  /** @internal For the hub: queues a frame encoded once for all subscribers. */
  _sendSharedFrame(frame: Buffer): void {
    this._sender!.sendFrame(frame);
  }

  /** @internal For the hub: a subscriber whose compression cannot be shared. */
  _sendForPublish(payload: Buffer, binary: boolean): void {
    this._sender!.sendWholeMessage(payload, binary, true);
  }

  /** @internal For the hub: how this subscriber's compressed frames can be made. */
  _sharedCompression(
    payloadLength: number,
  ):
    | { windowBits: number; zlibOptions: import("node:zlib").ZlibOptions | undefined }
    | null
    | "per-connection" {
    const deflate = this._deflate;
    if (deflate === null || !deflate.canCompress || payloadLength < deflate.threshold) return null;
    const shared = deflate.sharedCompression();
    return shared ?? "per-connection";
  }

  /** Sends a ping (payload ≤ 125 bytes). `mask` is ignored: the role decides (RFC 6455 §5.1). */
  ping(data?: Data, mask?: boolean | SendCallback, callback?: SendCallback): void {
    this.control(Opcode.PING, data, mask, callback);
  }

  /** Sends an unsolicited or manual pong (payload ≤ 125 bytes). */
  pong(data?: Data, mask?: boolean | SendCallback, callback?: SendCallback): void {
    this.control(Opcode.PONG, data, mask, callback);
  }

  private control(
    opcode: number,
    data: Data | undefined,
    mask: boolean | SendCallback | undefined,
    callback?: SendCallback,
  ): void {
    if (typeof data === "function") {
      callback = data as SendCallback;
      data = undefined;
    } else if (typeof mask === "function") callback = mask;
    if (this._readyState === WebSocket.CONNECTING) {
      throw new Error("WebSocket is not open: readyState 0 (CONNECTING)");
    }
    if (typeof data === "number") data = data.toString();
    const payload =
      data === undefined ? EMPTY : typeof data === "string" ? Buffer.from(data) : toBuffer(data);
    if (payload.length > 125)
      throw new RangeError("The data size must not be greater than 125 bytes");
    if (this._readyState !== WebSocket.OPEN) {
      this.sendAfterClose(payload, callback);
      return;
    }
    this._sender!.sendControl(opcode, payload, callback);
  }

  private sendAfterClose(data: Buffer | string, callback: SendCallback | undefined): void {
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    // ws keeps counting what the app tried to send after close in bufferedAmount.
    this._bufferedAfterClose += size;
    if (callback) {
      const state = this._readyState;
      process.nextTick(
        callback,
        new Error(`WebSocket is not open: readyState ${state} (${READY_STATES[state]})`),
      );
    }
  }

  /** Closes the backlog-capped connection with 1008 when the peer has stopped reading. */
  private overBacklog(): boolean {
    if (this._maxBufferedAmount <= 0) return false;
    const socket = this._socket!;
    const backlog = socket.writableLength + this._sender!.bufferedBytes;
    if (backlog <= this._maxBufferedAmount) return false;
    const error = new Error(
      `Send backlog over maxBufferedAmount (${this._maxBufferedAmount} bytes)`,
    );
    (error as Error & { code?: string }).code = "WS_ERR_BACKLOG_EXCEEDED";
    this.emitError(error);
    this.close(1008, "Send backlog exceeded");
    return true;
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). The socket is destroyed if the peer has not
   * answered within `closeTimeout`.
   * @param code - a close code valid on the wire (1000–1003, 1007–1014, 3000–4999)
   * @param reason - at most 123 bytes of UTF-8
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this._readyState === WebSocket.CLOSED) return;
    if (this._readyState === WebSocket.CONNECTING) {
      abortConnecting(this, "WebSocket was closed before the connection was established");
      return;
    }
    if (this._readyState === WebSocket.CLOSING) {
      if (this._closeFrameSent && (this._closeFrameReceived || this._parser!.finished))
        this._socket!.end();
      return;
    }
    const payload = encodeClosePayload(code, reason);
    this._readyState = WebSocket.CLOSING;
    this.sendCloseFrame(payload);
  }

  private sendCloseFrame(payload: Buffer): void {
    this._sender!.sendControl(Opcode.CLOSE, payload, (error) => {
      if (error) return;
      this._closeFrameSent = true;
      // Both close frames are through (or the peer failed): end TCP. RFC 6455 §7.1.1 wants the
      // server to close first; a client ending early is allowed and saves a timeout.
      if (this._closeFrameReceived || this._parser === null || this._parser.finished) {
        this._socket?.end();
      }
    });
    this.startCloseTimer();
  }

  private startCloseTimer(): void {
    if (this._closeTimer !== null || this._socket === null) return;
    this._closeTimer = setTimeout(closeTimedOut, this._closeTimeout, this);
    this._closeTimer.unref?.();
  }

  /** Destroys the connection at once (no close handshake); `close` follows with 1006. */
  terminate(): void {
    if (this._readyState === WebSocket.CLOSED) return;
    if (this._readyState === WebSocket.CONNECTING) {
      abortConnecting(this, "WebSocket was closed before the connection was established");
      return;
    }
    this._readyState = WebSocket.CLOSING;
    this._socket?.destroy();
  }

  /** Stops reading from the peer (messages already received wait too). */
  pause(): void {
    if (this._readyState === WebSocket.CONNECTING || this._readyState === WebSocket.CLOSED) return;
    this._paused = true;
    this._parser?.pause();
    this._socket?.pause();
  }

  /** Resumes reading after {@link pause}. */
  resume(): void {
    if (this._readyState === WebSocket.CONNECTING || this._readyState === WebSocket.CLOSED) return;
    this._paused = false;
    this._parser?.resume();
    if (!this._readingPausedForControl) this._socket?.resume();
  }

  /** @internal Heartbeat: ping a quiet peer. */
  heartbeatPing(): void {
    if (this._readyState === WebSocket.OPEN) this._sender!.sendControl(Opcode.PING, EMPTY);
  }

  /** @internal Heartbeat: the peer missed its pong. */
  heartbeatExpire(): void {
    this.terminate();
  }

  /** @internal Emits 'error' once per connection, and only when someone listens (see README). */
  emitError(error: Error): void {
    if (this._errorEmitted) return;
    this._errorEmitted = true;
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  /** @internal Emits 'close' once and releases everything the connection held. */
  emitClose(): void {
    if (this._readyState === WebSocket.CLOSED) return;
    this._readyState = WebSocket.CLOSED;
    if (this._closeTimer !== null) {
      clearTimeout(this._closeTimer);
      this._closeTimer = null;
    }
    this._heartbeat?.delete(this);
    this._heartbeat = null;
    if (this._topics !== null && this._registry !== null) {
      this._registry.leaveAll(this, this._topics);
      this._topics = null;
    }
    this._parser?.stop();
    this._sender?.close();
    this._deflate?.cleanup();
    // An app may keep a closed socket around (in a Set, a closure): drop what it no longer needs,
    // zlib streams and buffers included, so that costs a small object, not a connection.
    this._parser = null;
    this._sender = null;
    this._deflate = null;
    this.emit("close", this._closeCode, this._closeReason);
  }

  // --- events from the parser -------------------------------------------------------------

  /** @internal */
  _onMessage(data: Buffer, isBinary: boolean): void {
    // Once we have sent our close frame, the app is done with this connection: messages still in
    // flight are dropped (WHATWG WebSocket: "if readyState is not OPEN, return"; ws delivers them).
    if (this._readyState !== WebSocket.OPEN) return;
    if (!this._allowSynchronousEvents) {
      // One message per tick, as ws does when synchronous events are off.
      this._parser!.pause();
      setImmediate(resumeAfterMessage, this);
    }
    if (!isBinary || this._binaryType === "nodebuffer") {
      this.emit("message", data, isBinary);
    } else if (this._binaryType === "arraybuffer") {
      this.emit("message", toArrayBuffer(data), true);
    } else if (this._binaryType === "fragments") {
      this.emit("message", [data], true);
    } else {
      this.emit("message", new Blob([data]), true);
    }
  }

  /** @internal */
  _onPing(data: Buffer): void {
    if (this._autoPong && this._readyState === WebSocket.OPEN) {
      this._sender!.sendControl(Opcode.PONG, data);
      this.throttleForControl();
    }
    this.emit("ping", data);
  }

  /** @internal */
  _onPong(data: Buffer): void {
    this.emit("pong", data);
  }

  /** @internal The peer's close frame (RFC 6455 §7.1.5): echo it and end. */
  _onClose(code: number, reason: Buffer): void {
    this._closeFrameReceived = true;
    this._closeCode = code;
    this._closeReason = reason;
    // Keep reading (the parser ignores everything now) so the peer's FIN is seen and TCP closes.
    this._socket?.resume();
    if (this._readyState === WebSocket.OPEN) {
      this._readyState = WebSocket.CLOSING;
      // Echo the code and reason (RFC 6455 §5.5.1; ws does the same), already validated.
      this.sendCloseFrame(code === 1005 ? EMPTY : encodeClosePayload(code, reason));
    } else if (this._closeFrameSent) {
      this._socket?.end();
    }
  }

  /** @internal The peer broke the protocol: fail the connection (RFC 6455 §7.1.7). */
  _onError(error: ProtocolError): void {
    this._closeCode = 1006;
    if (this._readyState === WebSocket.OPEN) {
      this._readyState = WebSocket.CLOSING;
      this.sendCloseFrame(encodeClosePayload(error.closeCode));
    } else if (this._closeFrameSent) this._socket?.end();
    // Nothing more is parsed; keep draining so the peer's close reply cannot stall its writes.
    this._socket?.resume();
    this.emitError(error);
  }

  /**
   * Ping flood guard: when pongs pile up because the peer does not read them, stop reading its
   * pings until the socket drains, so the queue is bounded by the high-water mark.
   */
  private throttleForControl(): void {
    const socket = this._socket!;
    if (
      socket.writableLength + this._sender!.bufferedBytes > CONTROL_HIGH_WATER &&
      !this._readingPausedForControl
    ) {
      this._readingPausedForControl = true;
      socket.pause();
    }
  }

  /** @internal */
  _onDrain(): void {
    this._drainWanted = false;
    if (this._readingPausedForControl) {
      this._readingPausedForControl = false;
      if (!this._paused) this._socket?.resume();
    }
    this.emit("drain");
  }

  /** @internal */
  _onData(chunk: Buffer): void {
    const heartbeat = this._heartbeat;
    if (heartbeat !== null) this.heartbeatSeen = heartbeat.tick;
    this._parser?.push(chunk);
  }

  /** @internal A client handshake failed: 'error' (if listened to), then 'close' with 1006. */
  _failHandshake(error: Error): void {
    this._readyState = WebSocket.CLOSING;
    this.emitError(error);
    this.emitClose();
  }
}

/** Routes parser events to the socket without a closure per event kind. */
class ParserEvents implements FrameParserEvents {
  private readonly ws: WebSocket;
  constructor(ws: WebSocket) {
    this.ws = ws;
  }
  onMessage(data: Buffer, isBinary: boolean): void {
    this.ws._onMessage(data, isBinary);
  }
  onPing(data: Buffer): void {
    this.ws._onPing(data);
  }
  onPong(data: Buffer): void {
    this.ws._onPong(data);
  }
  onClose(code: number, reason: Buffer): void {
    this.ws._onClose(code, reason);
  }
  onError(error: ProtocolError): void {
    this.ws._onError(error);
  }
}

// Socket listeners are shared functions (no closure per connection); `this` is the socket.
function socketOnData(this: OwnedSocket, chunk: Buffer): void {
  this[kWebSocket]?._onData(chunk);
}
function socketOnClose(this: OwnedSocket): void {
  const ws = this[kWebSocket];
  if (ws !== undefined) ws.emitClose();
}
function socketOnEnd(this: OwnedSocket): void {
  // The peer half-closed: finish our side too (allowHalfOpen sockets would otherwise linger).
  const ws = this[kWebSocket];
  if (ws !== undefined && ws._readyState === WebSocket.OPEN) ws._readyState = WebSocket.CLOSING;
  this.end();
}
function socketOnError(this: OwnedSocket): void {
  // Transport errors (ECONNRESET, EPIPE) end the connection with 1006, as in ws: no 'error'.
  const ws = this[kWebSocket];
  if (ws !== undefined && ws._readyState !== WebSocket.CLOSED) ws._readyState = WebSocket.CLOSING;
  this.destroy();
}
function socketOnDrain(this: OwnedSocket): void {
  this[kWebSocket]?._onDrain();
}
function closeTimedOut(ws: WebSocket): void {
  ws._socket?.destroy();
}
function resumeAfterMessage(ws: WebSocket): void {
  if (!ws.isPaused) (ws as unknown as { _parser: FrameParser | null })._parser?.resume();
}

/** Aborts a client handshake in progress; 'error' then 'close' (1006) follow. */
function abortConnecting(ws: WebSocket, message: string): void {
  const error = new Error(message);
  const req = ws._req;
  ws._req = null;
  if (req !== null) {
    req.destroy();
  }
  ws._readyState = WebSocket.CLOSING;
  process.nextTick(() => ws._failHandshake(error));
}

function isBlob(data: unknown): data is Blob {
  return typeof Blob !== "undefined" && data instanceof Blob;
}

function toBuffer(data: Exclude<Data, string | number>): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (isBlob(data)) throw new TypeError("A Blob cannot be converted synchronously");
  return Buffer.from(data as unknown as ArrayBuffer);
}

/** @internal Normalises publish data: numbers as text, strings as text unless `binary`. */
export function publishPayload(
  data: Data,
  binary: boolean | undefined,
): { payload: Buffer; binary: boolean } {
  if (typeof data === "number") data = data.toString();
  if (typeof data === "string") return { payload: Buffer.from(data), binary: binary === true };
  return { payload: toBuffer(data), binary: binary !== false };
}

function toArrayBuffer(data: Buffer): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength)
    return data.buffer as ArrayBuffer;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

/** Typed `on`/`once`/`off` overloads for the socket's events. */
export interface WebSocket {
  /** Listens for a socket event. */
  on<K extends keyof WebSocketEventMap>(
    event: K,
    listener: (this: WebSocket, ...args: WebSocketEventMap[K]) => void,
  ): this;
  /** Listens for any event. */
  on(event: string | symbol, listener: (this: WebSocket, ...args: never[]) => void): this;
  /** Listens for a socket event once. */
  once<K extends keyof WebSocketEventMap>(
    event: K,
    listener: (this: WebSocket, ...args: WebSocketEventMap[K]) => void,
  ): this;
  /** Listens for any event once. */
  once(event: string | symbol, listener: (this: WebSocket, ...args: never[]) => void): this;
  /** Removes a listener. */
  off<K extends keyof WebSocketEventMap>(
    event: K,
    listener: (this: WebSocket, ...args: WebSocketEventMap[K]) => void,
  ): this;
  /** Removes a listener. */
  off(event: string | symbol, listener: (this: WebSocket, ...args: never[]) => void): this;
}
