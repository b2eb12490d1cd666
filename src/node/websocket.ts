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
import { Socket as NetSocket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { encodeClosePayload } from "../protocol/close.js";
import type { ProtocolError } from "../protocol/errors.js";
import {
  DEFAULT_MAX_FRAGMENTS,
  FrameParser,
  type FrameParserEvents,
} from "../protocol/frame-parser.js";
import { Opcode } from "../protocol/opcodes.js";
import { type ClientOptions, initAsClient } from "./client.js";
import { cancelDeadline, Deadline, startDeadline } from "./deadlines.js";
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
import type { HeartbeatWheel } from "./heartbeat.js";
import { type SendCallback, Sender } from "./sender.js";
import { readIntoSharedBuffer } from "./shared-read.js";

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
const BINARY_TYPES: readonly BinaryType[] = ["nodebuffer", "arraybuffer", "fragments", "blob"];
const EMPTY = Buffer.alloc(0);
/** While our replies to the peer's pings and closes cannot be written, stop reading its frames. */
const CONTROL_HIGH_WATER = 1024 * 1024;

/**
 * Per-connection booleans, packed into one number (`WebSocket._flags`): each boolean field costs
 * 8 bytes on every connection, and a server holds 10,000s of them, mostly idle.
 */
const CLOSE_FRAME_SENT = 1;
const CLOSE_FRAME_RECEIVED = 2;
const ERROR_EMITTED = 4;
const PAUSED = 8;
/** Reading stopped by the ping-flood guard until the socket drains. */
const PAUSED_FOR_CONTROL = 16;
/** A "buffered" send promised a 'drain'. */
const DRAIN_WANTED = 32;
/** Our 'drain' listener is on the socket (added on the first refused write). */
const DRAIN_LISTENING = 64;
/** permessage-deflate was negotiated (kept after close, when the deflate state is released). */
const DEFLATE_NEGOTIATED = 128;
/**
 * Our close frame was placed as the last frame, TCP's end right behind it (`Sender.sendFinalClose`):
 * it counts as sent once the kernel has it (`_onFinalCloseFlushed`) or the socket finished writing.
 */
const CLOSE_AND_END_QUEUED = 1024;
/**
 * The first 'data' event has asked the socket to read into the shared buffer (shared-read.ts).
 * Asked then, not on open, so a connection that never receives costs nothing for it.
 */
const SHARED_READ_ASKED = 2048;
/** `binaryType`, as its index in BINARY_TYPES, in two bits; 0 is "nodebuffer". */
const BINARY_SHIFT = 8;
const BINARY_MASK = 3 << BINARY_SHIFT;

const kWebSocket = Symbol("socketeer:websocket");
interface OwnedSocket extends Duplex {
  [kWebSocket]?: WebSocket;
  /** net.Socket: the idle timeout in ms, when one was set. */
  timeout?: number;
  setNoDelay?: (noDelay: boolean) => void;
  setTimeout?: (ms: number) => void;
}

/** @internal True when a WebSocket has been attached to `socket` (see `_setSocket`). */
export function isAttached(socket: Duplex): boolean {
  return (socket as OwnedSocket)[kWebSocket] !== undefined;
}

/**
 * What a server hears about its sockets (client tracking), without a closure per socket.
 * @internal
 */
export interface SocketOwner {
  /** `socket` is closing: about to emit 'close'. */
  _untrack(socket: WebSocket): void;
}

/**
 * The settings a socket reads, shared: a server makes one for all its connections (a socket keeps
 * a reference instead of ~10 fields of its own); a client makes one per socket
 * ({@link ClientSettings}).
 * @internal
 */
export class SocketSettings {
  readonly isServer: boolean;
  readonly maxPayload: number;
  readonly skipUTF8Validation: boolean;
  readonly allowSynchronousEvents: boolean;
  readonly autoPong: boolean;
  readonly closeTimeout: number;
  readonly maxBufferedAmount: number;
  readonly maxBackpressure: number;
  /** The wheel every socket with these settings joins when it opens. */
  heartbeat: HeartbeatWheel | null;
  readonly topics: TopicRegistry | null;
  /** Told when a socket closes; null when nobody tracks them. */
  readonly owner: SocketOwner | null;

  /**
   * @param setup - the settings (its `protocol` and `perMessageDeflate` are per connection and
   *   not kept)
   * @param owner - see {@link owner}
   */
  constructor(setup: SocketSetup, owner: SocketOwner | null = null) {
    this.isServer = setup.isServer;
    this.maxPayload = setup.maxPayload;
    this.skipUTF8Validation = setup.skipUTF8Validation;
    this.allowSynchronousEvents = setup.allowSynchronousEvents;
    this.autoPong = setup.autoPong;
    this.closeTimeout = setup.closeTimeout;
    this.maxBufferedAmount = setup.maxBufferedAmount;
    this.maxBackpressure = setup.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
    this.heartbeat = setup.heartbeat;
    this.topics = setup.topics ?? null;
    this.owner = owner;
  }

  /** True when these settings are `setup`'s (so a socket given `setup` can share them). */
  matches(setup: SocketSetup): boolean {
    return (
      this.isServer === setup.isServer &&
      this.maxPayload === setup.maxPayload &&
      this.skipUTF8Validation === setup.skipUTF8Validation &&
      this.allowSynchronousEvents === setup.allowSynchronousEvents &&
      this.autoPong === setup.autoPong &&
      this.closeTimeout === setup.closeTimeout &&
      this.maxBufferedAmount === setup.maxBufferedAmount &&
      this.maxBackpressure === (setup.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE) &&
      this.heartbeat === setup.heartbeat &&
      this.topics === (setup.topics ?? null)
    );
  }
}

/**
 * A client socket's settings: one per client, so it also carries the opening handshake's state
 * (server sockets pay nothing for these fields). @internal
 */
export class ClientSettings extends SocketSettings {
  /** The URL being connected to (after redirects, the last one). */
  url: string;
  /** The handshake request in flight, aborted by close() while connecting. */
  request: import("node:http").ClientRequest | null = null;
  /** Redirects followed so far. */
  redirects: number;

  /**
   * @param setup - the settings
   * @param url - see {@link url}
   * @param redirects - see {@link redirects}
   */
  constructor(setup: SocketSetup, url: string, redirects: number) {
    super(setup);
    this.url = url;
    this.redirects = redirects;
  }
}

/** What an unattached socket reads until `_setSocket` gives it real settings. */
const UNATTACHED = new SocketSettings({
  isServer: true,
  protocol: "",
  perMessageDeflate: null,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  skipUTF8Validation: false,
  allowSynchronousEvents: true,
  autoPong: true,
  closeTimeout: DEFAULT_CLOSE_TIMEOUT,
  heartbeat: null,
  maxBufferedAmount: DEFAULT_MAX_BUFFERED_AMOUNT,
});

/**
 * The close handshake's state: made when a connection starts closing, not before. It is also the
 * connection's entry in the shared close-timeout queue (`deadlines.ts`).
 */
class CloseState extends Deadline {
  /** Code and reason for 'close': 1006 unless the peer's close frame said otherwise. */
  code = 1006;
  reason: Buffer = EMPTY;
  /** Bytes the app tried to send after close (ws counts them in bufferedAmount). */
  bufferedAfterClose = 0;
  private readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    super();
    this.ws = ws;
  }

  /** The peer did not finish the closing handshake within `closeTimeout`. */
  expire(): void {
    this.ws._socket?.destroy();
  }
}

/**
 * Listener slots for the events most sockets get. EventEmitter makes `_events` a null-prototype
 * dictionary (~180 bytes per socket); an object with these slots pre-declared stays a fast V8
 * object (~50 bytes). Node's streams do the same for theirs. The prototype has no properties at
 * all (not even `constructor`), so an event named "toString" or "constructor" is nobody's
 * listener.
 */
const EventSlots = function (this: Record<string, undefined>): void {
  this.close = undefined;
  this.error = undefined;
  this.message = undefined;
} as unknown as new () => object;
EventSlots.prototype = Object.create(null);

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

/**
 * A WebSocket connection. See the module comment.
 *
 * It is the `HeartbeatMember` and `SenderOwner` of its heartbeat wheel and sender, checked where
 * it is passed to them (`implements` clauses would name internal members in the published types).
 *
 * Memory: an idle server connection costs this object, a few fields and a Set entry per topic.
 * Settings are shared (`SocketSettings`), the frame parser is made on the first received
 * bytes, the sender on the first send, the close state on close; booleans share one number.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface below only adds typed event overloads.
export class WebSocket extends EventEmitter {
  /** The connection is being established. */
  static readonly CONNECTING = 0;
  /** The connection is open and ready to communicate. */
  static readonly OPEN = 1;
  /** The connection is closing. */
  static readonly CLOSING = 2;
  /** The connection is closed. */
  static readonly CLOSED = 3;
  // The instance constants live on the prototype (defined after the class, as in ws), not in
  // every socket: `declare` gives them their types without making them instance fields.
  /** The connection is being established. */
  declare readonly CONNECTING: 0;
  /** The connection is open and ready to communicate. */
  declare readonly OPEN: 1;
  /** The connection is closing. */
  declare readonly CLOSING: 2;
  /** The connection is closed. */
  declare readonly CLOSED: 3;

  /** @internal */ _readyState: 0 | 1 | 2 | 3 = WebSocket.CONNECTING;
  /** @internal */ _socket: OwnedSocket | null = null;
  /** @internal Shared settings (see {@link SocketSettings}). */
  _settings: SocketSettings = UNATTACHED;
  private _protocol = "";
  private _deflate: PerMessageDeflate | null = null;
  /** Made on the first received bytes. */
  private _parser: FrameParser | null = null;
  /** Made on the first send, ping, pong or close. */
  private _sender: Sender | null = null;
  /** See CLOSE_FRAME_SENT and the other bits. */
  private _flags = 0;
  private _close: CloseState | null = null;
  private _topics: Set<string> | null = null;

  /** @internal See `HeartbeatMember` in heartbeat.ts. */
  heartbeatSeen = 0;

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
    // See EventSlots. EventEmitter's own bookkeeping (count, removal) works on any object.
    (this as unknown as { _events: object })._events = new EventSlots();
    if (address === null) return;
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

  /** Names of the events with listeners (pre-declared empty slots are not events). */
  override eventNames(): (string | symbol)[] {
    return super.eventNames().filter((name) => this.listenerCount(name) > 0);
  }

  /** How binary messages are delivered: "nodebuffer" (default), "arraybuffer", "fragments", "blob". */
  get binaryType(): BinaryType {
    return BINARY_TYPES[(this._flags & BINARY_MASK) >> BINARY_SHIFT]!;
  }
  set binaryType(type: BinaryType) {
    const index = BINARY_TYPES.indexOf(type);
    if (index !== -1) this._flags = (this._flags & ~BINARY_MASK) | (index << BINARY_SHIFT);
  }

  /** Bytes passed to `send` and friends that have not reached the kernel yet. */
  get bufferedAmount(): number {
    const socket = this._socket;
    const afterClose = this._close === null ? 0 : this._close.bufferedAfterClose;
    if (socket === null || this._readyState === WebSocket.CLOSED) return afterClose;
    return socket.writableLength + (this._sender?.bufferedBytes ?? 0) + afterClose;
  }

  /** Names of the negotiated extensions, comma-separated ("" or "permessage-deflate"). */
  get extensions(): string {
    return (this._flags & DEFLATE_NEGOTIATED) !== 0 ? "permessage-deflate" : "";
  }

  /** True while reading is paused by {@link pause}. */
  get isPaused(): boolean {
    return (this._flags & PAUSED) !== 0;
  }

  /** The negotiated subprotocol, or "". */
  get protocol(): string {
    return this._protocol;
  }

  /** One of CONNECTING (0), OPEN (1), CLOSING (2), CLOSED (3). */
  get readyState(): 0 | 1 | 2 | 3 {
    this.isOpen(); // notes a peer's FIN
    return this._readyState;
  }

  /** The URL this client connected to ("" on the server side). */
  get url(): string {
    const settings = this._settings;
    return settings instanceof ClientSettings ? settings.url : "";
  }

  /** @internal True when the close handshake completed both ways (for CloseEvent.wasClean). */
  get closedCleanly(): boolean {
    const both = CLOSE_FRAME_SENT | CLOSE_FRAME_RECEIVED;
    return (this._flags & both) === both;
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

  /**
   * @internal Attaches the connected transport and opens the socket.
   * @param protocol - the negotiated subprotocol, or ""
   * @param deflate - the negotiated permessage-deflate instance, or null
   * @param settings - the socket's settings (a server shares one object among its sockets)
   * @param errorListening - {@link socketErrorListener} is on the socket already (the server adds
   *   it at the start of the handshake; one listener for both phases spares an add and a remove)
   */
  _setSocket(
    socket: Duplex,
    head: Buffer,
    protocol: string,
    deflate: PerMessageDeflate | null,
    settings: SocketSettings,
    errorListening = false,
  ): void {
    const owned = socket as OwnedSocket;
    const shared = settings;
    this._settings = shared;
    this._protocol = protocol;
    this._deflate = deflate;
    if (deflate !== null) this._flags |= DEFLATE_NEGOTIATED;
    owned[kWebSocket] = this;
    this._socket = owned;
    // An idle timeout left by the http server would fire on a quiet WebSocket (ws clears it too);
    // a socket without one is left alone (setTimeout(0) would add a property to it).
    if (owned.timeout) owned.setTimeout?.(0);
    owned.setNoDelay?.(true);
    // Bytes that came with the handshake are parsed on the next 'data' event, after the app has
    // had its chance to attach 'message' listeners in 'connection' / 'open'.
    if (head.length > 0) socket.unshift(head);
    // No 'drain' listener yet: the sender adds it on the first refused write (_onNeedDrain).
    // No 'end' listener either (Node's own makes a second one cost an array per socket): when
    // the peer half-closes, Node ends our side itself once allowHalfOpen is off (http servers
    // turn it on), and isOpen() reads the peer's FIN as CLOSING, as an 'end' handler would.
    socket.allowHalfOpen = false;
    socket.on("close", socketOnClose);
    socket.on("data", socketOnData);
    if (!errorListening) socket.on("error", socketErrorListener);
    this._readyState = WebSocket.OPEN;
    shared.heartbeat?.add(this);
  }

  /** The frame parser, made on the first received bytes (idle connections never need one). */
  private createParser(): FrameParser {
    const settings = this._settings;
    const parser = new FrameParser(
      {
        isServer: settings.isServer,
        maxPayload: settings.maxPayload,
        maxFragments: DEFAULT_MAX_FRAGMENTS,
        skipUTF8Validation: settings.skipUTF8Validation,
        inflater: this._deflate,
      },
      new ParserEvents(this),
    );
    if ((this._flags & PAUSED) !== 0) parser.pause();
    this._parser = parser;
    return parser;
  }

  /** The sender, made on first use. Only called while OPEN or CLOSING (the socket is attached). */
  private sender(): Sender {
    const sender = this._sender;
    if (sender !== null) return sender;
    const deflate = this._deflate;
    const made = new Sender(
      this._socket!,
      !this._settings.isServer,
      deflate?.canCompress ? deflate : null,
      deflate?.threshold ?? 0,
      this,
    );
    this._sender = made;
    return made;
  }

  /**
   * True while OPEN. The peer's FIN (its half-close: no more frames can come) moves an open
   * socket to CLOSING, as ws's 'end' handler does; it is read here, where the state matters,
   * rather than by a listener on every socket.
   */
  private isOpen(): boolean {
    if (this._readyState !== WebSocket.OPEN) return false;
    if (!this._socket!.readableEnded) return true;
    this._readyState = WebSocket.CLOSING;
    return false;
  }

  /** True once the parser has seen the peer's close frame or a protocol error. */
  private get parserFinished(): boolean {
    return this._parser?.finished === true;
  }

  private closeState(): CloseState {
    let close = this._close;
    if (close === null) {
      close = new CloseState(this);
      this._close = close;
    }
    return close;
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
      if (!this.isOpen()) {
        this.sendAfterClose(Buffer.alloc(0), callback);
        return "dropped";
      }
      this.sender().sendBlob(
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
    if (!this.isOpen()) {
      this.sendAfterClose(payload, callback);
      return "dropped";
    }
    if (this.overBacklog()) return "dropped";
    this.sender().sendData(
      payload,
      binary,
      options?.fin !== false,
      options?.compress !== false,
      callback,
    );
    return this.backlogResult();
  }

  private backlogResult(): SendResult {
    const maxBackpressure = this._settings.maxBackpressure;
    if (maxBackpressure <= 0 || this.bufferedAmount <= maxBackpressure) return "written";
    // A "buffered" answer promises a 'drain'. Node emits its own only after a write was refused
    // (16 KiB and up), so below that we watch our flushes ourselves.
    this._flags |= DRAIN_WANTED;
    this.sender().notifyFlush = true;
    return "buffered";
  }

  /** @internal A flush the socket asked about reached the kernel (see backlogResult). */
  _onFlushed(): void {
    if ((this._flags & DRAIN_WANTED) === 0 || !this.isOpen()) return;
    if (this._socket!.writableNeedDrain) return; // Node's own 'drain' will follow
    if (this.bufferedAmount > this._settings.maxBackpressure) {
      this.sender().notifyFlush = true;
      return;
    }
    this._flags &= ~DRAIN_WANTED;
    this.emit("drain");
  }

  /**
   * @internal A write was refused: listen for the socket's 'drain' from now on. Node emits
   * 'drain' only after a refused write, so a connection that never fills its socket buffer never
   * needs the listener.
   */
  _onNeedDrain(): void {
    if ((this._flags & DRAIN_LISTENING) !== 0 || this._socket === null) return;
    this._flags |= DRAIN_LISTENING;
    this._socket.on("drain", socketOnDrain);
  }

  // --- topics (beyond ws) ------------------------------------------------------------------

  /**
   * Subscribes this connection to `topic`; `server.publish(topic, …)` then reaches it. Only for
   * connections accepted by a {@link WebSocketServer}. Returns false if already subscribed.
   */
  subscribe(topic: string): boolean {
    const registry = this.requireRegistry();
    if (this._readyState !== WebSocket.CONNECTING && !this.isOpen()) return false;
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
    const registry = this._settings.topics;
    if (registry === null) {
      throw new Error("Topics are available on connections accepted by a WebSocketServer");
    }
    return registry;
  }

  /** @internal For the hub: true while open. */
  get isOpenForPublish(): boolean {
    return this.isOpen();
  }

  /** @internal For the hub: queues a frame encoded once for all subscribers. */
  _sendSharedFrame(frame: Buffer): void {
    this.sender().sendFrame(frame);
  }

  /** @internal For the hub: a subscriber whose compression cannot be shared. */
  _sendForPublish(payload: Buffer, binary: boolean): void {
    this.sender().sendWholeMessage(payload, binary, true);
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
    if (!this.isOpen()) {
      this.sendAfterClose(payload, callback);
      return;
    }
    this.sender().sendControl(opcode, payload, callback);
  }

  private sendAfterClose(data: Buffer | string, callback: SendCallback | undefined): void {
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    // ws keeps counting what the app tried to send after close in bufferedAmount.
    this.closeState().bufferedAfterClose += size;
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
    const max = this._settings.maxBufferedAmount;
    if (max <= 0) return false;
    const backlog = this._socket!.writableLength + (this._sender?.bufferedBytes ?? 0);
    if (backlog <= max) return false;
    const error = new Error(`Send backlog over maxBufferedAmount (${max} bytes)`);
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
    if (!this.isOpen()) {
      // CLOSING (perhaps just now, by the peer's FIN).
      if ((this._flags & CLOSE_FRAME_SENT) === 0) return;
      if ((this._flags & CLOSE_FRAME_RECEIVED) !== 0) this.closeTransport();
      else if (this.parserFinished) endSocket(this._socket!);
      return;
    }
    const payload = encodeClosePayload(code, reason);
    this._readyState = WebSocket.CLOSING;
    this.sendCloseFrame(payload);
  }

  private sendCloseFrame(payload: Buffer): void {
    this.sender().sendControl(Opcode.CLOSE, payload, (error) => {
      if (error) return;
      this._flags |= CLOSE_FRAME_SENT;
      // Both close frames are through (or the peer failed): end TCP. RFC 6455 §7.1.1 wants the
      // server to close first; a client ending early is allowed and saves a timeout.
      if ((this._flags & CLOSE_FRAME_RECEIVED) !== 0) this.closeTransport();
      else if (this.parserFinished && this._socket !== null) endSocket(this._socket);
    });
    this.startCloseTimer();
  }

  /**
   * Both close frames are known (the peer's close arrived, or it broke the protocol): our close
   * frame goes out with the end of TCP right behind it, in one flush and without a callback.
   */
  private sendFinalCloseFrame(payload: Buffer): void {
    this._flags |= CLOSE_AND_END_QUEUED;
    this.sender().sendFinalClose(payload);
    this.startCloseTimer();
  }

  /** @internal Our final close frame is with the socket (see sendFinalCloseFrame): end TCP. */
  _onFinalCloseFlushed(): void {
    const socket = this._socket;
    if (socket === null) return;
    // A write the kernel took whole leaves nothing in the stream's buffer (Node calls back
    // synchronously then): the frame is on its way whatever happens to the socket now.
    if (socket.writableLength === 0) this._flags |= CLOSE_FRAME_SENT;
    if ((this._flags & CLOSE_FRAME_RECEIVED) !== 0) this.closeTransport();
    // After a protocol error, our FIN, and reading goes on: a peer still sending (it broke the
    // protocol, it may not stop at once) must not turn our close into a reset that loses the frame.
    else endSocket(socket);
  }

  /**
   * Both close frames are through: close TCP. RFC 6455 §7.1.1: "the server MUST close the
   * underlying TCP connection immediately"; the client SHOULD wait for the server to. So a
   * server on a plain TCP socket with nothing left unsent destroys it, and the kernel sends what
   * it holds, then the FIN; waiting for the client's FIN as ws does costs a read, a wake-up and
   * Node's 'end' handling per connection (about a sixth of a short-lived connection's CPU).
   * TLS sockets (whose bytes may still sit in the TLS layer) and other Duplex streams send their
   * end and wait, as a client does.
   */
  private closeTransport(): void {
    const socket = this._socket;
    if (socket === null) return;
    const atOnce =
      this._settings.isServer &&
      socket instanceof NetSocket &&
      (socket as Partial<TLSSocket>).encrypted !== true &&
      socket.writableLength === 0;
    if (atOnce) socket.destroy();
    else endSocket(socket);
  }

  private startCloseTimer(): void {
    if (this._socket === null) return;
    startDeadline(this.closeState(), this._settings.closeTimeout);
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
    this._flags |= PAUSED;
    this._parser?.pause();
    this._socket?.pause();
  }

  /** Resumes reading after {@link pause}. */
  resume(): void {
    if (this._readyState === WebSocket.CONNECTING || this._readyState === WebSocket.CLOSED) return;
    this._flags &= ~PAUSED;
    this._parser?.resume();
    if ((this._flags & PAUSED_FOR_CONTROL) === 0) this._socket?.resume();
  }

  /** @internal Heartbeat: ping a quiet peer. */
  heartbeatPing(): void {
    if (this.isOpen()) this.sender().sendControl(Opcode.PING, EMPTY);
  }

  /** @internal Heartbeat: the peer missed its pong. */
  heartbeatExpire(): void {
    this.terminate();
  }

  /** @internal Emits 'error' once per connection, and only when someone listens (see README). */
  emitError(error: Error): void {
    if ((this._flags & ERROR_EMITTED) !== 0) return;
    this._flags |= ERROR_EMITTED;
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  /** @internal Emits 'close' once and releases everything the connection held. */
  emitClose(): void {
    if (this._readyState === WebSocket.CLOSED) return;
    this._readyState = WebSocket.CLOSED;
    const close = this._close;
    if (close !== null) cancelDeadline(close);
    // A close frame sent with the socket's end is through once the socket finished writing.
    if ((this._flags & CLOSE_AND_END_QUEUED) !== 0 && this._socket?.writableFinished === true) {
      this._flags |= CLOSE_FRAME_SENT;
    }
    const settings = this._settings;
    settings.heartbeat?.delete(this);
    if (this._topics !== null && settings.topics !== null) {
      settings.topics.leaveAll(this, this._topics);
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
    // The server's client tracking goes first, as its 'close' listener did (registered before
    // the app saw the socket); a direct call costs no closure per connection.
    settings.owner?._untrack(this);
    this.emit("close", close === null ? 1006 : close.code, close === null ? EMPTY : close.reason);
  }

  // --- events from the parser -------------------------------------------------------------

  /** @internal */
  _onMessage(data: Buffer, isBinary: boolean): void {
    // Once we have sent our close frame, the app is done with this connection: messages still in
    // flight are dropped (WHATWG WebSocket: "if readyState is not OPEN, return"; ws delivers them).
    if (!this.isOpen()) return;
    if (!this._settings.allowSynchronousEvents) {
      // One message per tick, as ws does when synchronous events are off.
      this._parser!.pause();
      setImmediate(resumeAfterMessage, this);
    }
    const binaryType = this._flags & BINARY_MASK;
    if (!isBinary || binaryType === 0) {
      this.emit("message", data, isBinary);
    } else if (binaryType === 1 << BINARY_SHIFT) {
      this.emit("message", toArrayBuffer(data), true);
    } else if (binaryType === 2 << BINARY_SHIFT) {
      this.emit("message", [data], true);
    } else {
      this.emit("message", new Blob([data]), true);
    }
  }

  /** @internal */
  _onPing(data: Buffer): void {
    if (this._settings.autoPong && this.isOpen()) {
      this.sender().sendControl(Opcode.PONG, data);
      this.throttleForControl();
    }
    this.emit("ping", data);
  }

  /** @internal */
  _onPong(data: Buffer): void {
    this.emit("pong", data);
  }

  /** @internal The peer's close frame (RFC 6455 §7.1.5): echo it and end. */
  _onClose(code: number, reason: Buffer, payload: Buffer): void {
    this._flags |= CLOSE_FRAME_RECEIVED;
    const close = this.closeState();
    close.code = code;
    close.reason = reason;
    // Keep reading (the parser ignores everything now) so the peer's FIN is seen and TCP closes.
    this._socket?.resume();
    if (this.isOpen()) {
      this._readyState = WebSocket.CLOSING;
      // Echo the code and reason (RFC 6455 §5.5.1; ws does the same): the payload as received,
      // already validated (the sender copies it before the parser lets go of the chunk).
      this.sendFinalCloseFrame(payload);
    } else if ((this._flags & CLOSE_FRAME_SENT) !== 0) {
      this.closeTransport();
    }
  }

  /** @internal The peer broke the protocol: fail the connection (RFC 6455 §7.1.7). */
  _onError(error: ProtocolError): void {
    if (this._close !== null) this._close.code = 1006;
    if (this.isOpen()) {
      this._readyState = WebSocket.CLOSING;
      this.sendFinalCloseFrame(encodeClosePayload(error.closeCode));
    } else if ((this._flags & CLOSE_FRAME_SENT) !== 0 && this._socket !== null) {
      endSocket(this._socket);
    }
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
      socket.writableLength + this.sender().bufferedBytes > CONTROL_HIGH_WATER &&
      (this._flags & PAUSED_FOR_CONTROL) === 0
    ) {
      this._flags |= PAUSED_FOR_CONTROL;
      socket.pause();
    }
  }

  /** @internal */
  _onDrain(): void {
    this._flags &= ~DRAIN_WANTED;
    if ((this._flags & PAUSED_FOR_CONTROL) !== 0) {
      this._flags &= ~PAUSED_FOR_CONTROL;
      if ((this._flags & PAUSED) === 0) this._socket?.resume();
    }
    this.emit("drain");
  }

  /**
   * @internal Received bytes.
   * @param borrowed - `chunk` is the shared read buffer: the parser copies what it keeps
   * @returns false while reading should stay paused (a read can still come after `pause()`: Node
   *   restarts reading when its stream machinery calls `read()`, and this stops it again)
   */
  _onData(chunk: Buffer, borrowed = false): boolean {
    if ((this._flags & SHARED_READ_ASKED) === 0) {
      // Reads after this one go into the shared buffer where the socket allows it; this chunk
      // (and anything else Node has buffered, such as unshifted handshake bytes) came as 'data'.
      this._flags |= SHARED_READ_ASKED;
      if (this._socket !== null) readIntoSharedBuffer(this._socket, socketOnRead);
    }
    const heartbeat = this._settings.heartbeat;
    if (heartbeat !== null) this.heartbeatSeen = heartbeat.tick;
    let parser = this._parser;
    if (parser === null) {
      if (this._readyState === WebSocket.CLOSED) return true; // released: nothing more is parsed
      parser = this.createParser();
    }
    parser.push(chunk, borrowed);
    return (this._flags & (PAUSED | PAUSED_FOR_CONTROL)) === 0;
  }

  /** @internal A client handshake failed: 'error' (if listened to), then 'close' with 1006. */
  _failHandshake(error: Error): void {
    this._readyState = WebSocket.CLOSING;
    this.emitError(error);
    this.emitClose();
  }
}

// The instance constants, once on the prototype, as ws defines them: enumerable, read-only.
for (let state = 0; state < READY_STATES.length; state++) {
  Object.defineProperty(WebSocket.prototype, READY_STATES[state]!, {
    enumerable: true,
    value: state,
  });
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
  onClose(code: number, reason: Buffer, payload: Buffer): void {
    this.ws._onClose(code, reason, payload);
  }
  onError(error: ProtocolError): void {
    this.ws._onError(error);
  }
}

// Socket listeners are shared functions (no closure per connection); `this` is the socket.
function socketOnData(this: OwnedSocket, chunk: Buffer): void {
  this[kWebSocket]?._onData(chunk);
}
/** A read into the shared buffer (bytes [0, nread)); returning false pauses reading. */
function socketOnRead(this: Duplex, nread: number, buffer: Buffer): boolean {
  const ws = (this as OwnedSocket)[kWebSocket];
  return ws === undefined || ws._onData(buffer.subarray(0, nread), true);
}
function socketOnClose(this: OwnedSocket): void {
  const ws = this[kWebSocket];
  if (ws !== undefined) ws.emitClose();
}
/**
 * Ends our side unless that is done already: a second `end()` on a finished socket makes Node
 * build an ERR_STREAM_ALREADY_FINISHED error, stack trace and all (~5% of a handshake's CPU when
 * the peer's FIN follows our close).
 */
function endSocket(socket: Duplex): void {
  if (!socket.writableEnded && !socket.destroyed) socket.end();
}
/**
 * @internal A transport's 'error' listener, from the start of a server handshake to the end of the
 * connection: before a WebSocket owns the socket a peer's reset must not become an uncaught
 * 'error'; after, transport errors (ECONNRESET, EPIPE) end the connection with 1006, as in ws,
 * and no 'error' event.
 */
export function socketErrorListener(this: OwnedSocket): void {
  const ws = this[kWebSocket];
  if (ws !== undefined && ws._readyState !== WebSocket.CLOSED) ws._readyState = WebSocket.CLOSING;
  this.destroy();
}
function socketOnDrain(this: OwnedSocket): void {
  this[kWebSocket]?._onDrain();
}
function resumeAfterMessage(ws: WebSocket): void {
  if (!ws.isPaused) (ws as unknown as { _parser: FrameParser | null })._parser?.resume();
}

/** Aborts a client handshake in progress; 'error' then 'close' (1006) follow. */
function abortConnecting(ws: WebSocket, message: string): void {
  const error = new Error(message);
  const settings = ws._settings;
  if (settings instanceof ClientSettings && settings.request !== null) {
    const req = settings.request;
    settings.request = null;
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
