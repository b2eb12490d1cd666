/**
 * permessage-deflate (RFC 7692) on top of `node:zlib`: negotiation (rules in
 * `../protocol/deflate-params.ts`) and the per-connection raw deflate/inflate streams.
 *
 * Data path, per connection and per direction, one "lane":
 * - calls are queued in the lane and run one at a time, in call order, each as one job of the
 *   process-wide zlib limiter (ws#1202: unbounded concurrent zlib work fragments glibc's heap);
 * - each call writes its frame to the zlib stream and flushes, so the callback fires when that
 *   frame's bytes are through;
 * - zlib streams are created on first use, so an idle connection owns no zlib memory.
 *
 * Every zlib event handler first checks that its stream is still the live one. A stream is
 * dropped (and closed) on error, on a payload over the limit and on `cleanup()`; whatever it does
 * after that (a late flush callback, an error) is ignored, so no job can call back twice or hand
 * back a slot twice (ws#1617 was a slot leaked by a connection closed mid-flush).
 */
import * as zlib from "node:zlib";
import {
  buildDeflateOffer,
  checkDeflateResponse,
  formatDeflateParams,
  MIN_WINDOW_BITS,
  type NegotiatedDeflate,
  PERMESSAGE_DEFLATE,
  selectDeflateOffer,
  validateDeflateOptions,
} from "../protocol/deflate-params.js";
import { ErrorCodes, ProtocolError } from "../protocol/errors.js";
import type { ExtensionOffer } from "../protocol/extensions.js";
import type { MessageDeflater, MessageInflater } from "../protocol/types.js";
import { getZlibLimiter, type Limiter, type LimiterStats, LimiterTask } from "./limiter.js";
import { ZlibStreamPool } from "./zlib-pool.js";

/** The `perMessageDeflate` options, with ws's names and defaults. */
export interface PerMessageDeflateOptions {
  /**
   * Payloads smaller than this many bytes are sent uncompressed; the socket applies it (ws
   * applies it only when our direction negotiated no context takeover). Default 1024.
   */
  threshold?: number;
  /**
   * Cap on zlib jobs running at once, process-wide. Default 10. As in ws, the first instance
   * created fixes it for the process.
   */
  concurrencyLimit?: number;
  /**
   * Server: always answer with `server_no_context_takeover`; `false` declines offers asking for
   * it. Client: ask the server not to keep its context between messages.
   */
  serverNoContextTakeover?: boolean;
  /** Server: tell the client not to keep its context. Client: announce (and keep) that we won't. */
  clientNoContextTakeover?: boolean;
  /**
   * Server: a number caps our window; `false` declines offers that limit it. Client: a number
   * asks the server to use at most that window. Integers 8–15.
   */
  serverMaxWindowBits?: number | boolean;
  /**
   * Server: a number asks the client to use at most that window (when it offered
   * `client_max_window_bits`). Client: a number offers and caps our window; `true` or unset
   * offers the bare parameter; `false` does not offer it. Integers 8–15.
   */
  clientMaxWindowBits?: number | boolean;
  /**
   * Passed to `zlib.createDeflateRaw`. `windowBits` is always the negotiated one, and `flush` is
   * always `Z_SYNC_FLUSH` (each call is one write, flushed as it is processed).
   */
  zlibDeflateOptions?: zlib.ZlibOptions;
  /**
   * Passed to `zlib.createInflateRaw`. `windowBits` is always the negotiated one, and `flush` is
   * always `Z_SYNC_FLUSH` (each call is one write, flushed as it is processed).
   */
  zlibInflateOptions?: zlib.ZlibOptions;
}

/**
 * The error every outstanding `compress`/`decompress` callback gets when `cleanup()` runs first,
 * and any call made after it. The connection is gone; the socket should ignore it beyond failing
 * the matching send callback.
 */
export class DeflateClosedError extends Error {
  /** Stable identifier, in the style of the protocol error codes. */
  readonly code = "WS_ERR_DEFLATE_CLOSED";

  constructor() {
    super("permessage-deflate was cleaned up before the data was processed");
    this.name = "DeflateClosedError";
  }
}

type Callback = (error: Error | null, result?: Buffer) => void;

/** One `compress`/`decompress` call waiting in, or running from, a lane. */
interface ZlibOp {
  data: Buffer;
  fin: boolean;
  callback: Callback;
}

/**
 * The calls of one direction of one connection. It is its own limiter task, reused for every call,
 * so queueing a job allocates nothing beyond the call record.
 */
class Lane extends LimiterTask {
  /** Calls not started yet, oldest first. */
  readonly pending: ZlibOp[] = [];
  /** The call holding the limiter slot, if any. */
  active: ZlibOp | null = null;

  constructor(
    private readonly limiter: Limiter,
    private readonly start: (op: ZlibOp) => void,
    private readonly fail: (error: Error) => void,
  ) {
    super();
  }

  override run(): void {
    const op = this.pending.shift();
    if (op === undefined) {
      // Not expected (a lane is only added with work pending), but never keep a slot idle.
      this.limiter.release(this);
      return;
    }
    this.active = op;
    try {
      this.start(op);
    } catch (error) {
      // zlib throws synchronously for bad user options (e.g. a memLevel out of range); that must
      // reach the caller as an error, not leave the slot taken.
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** The 4 bytes a sync flush ends with, removed by the sender and re-added by the receiver. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * zlib cannot deflate with a 2^8 window: it silently uses 2^9 (zlib 1.2.9+). Inflating is fine
 * with any window at least as large as the sender's, so our inflaters use at least 2^9.
 */
const MIN_ZLIB_WINDOW_BITS = 9;

/**
 * Inflating a final frame of up to this many bytes copies it and the trailer into one buffer, to
 * hand zlib a single write; longer ones are written as two.
 *
 * Why: every write to a zlib stream is one job on libuv's thread pool, and each job costs two
 * thread wake-ups (there and back), which for small messages is more than the (de)compression
 * itself. The streams are made with `flush: Z_SYNC_FLUSH`, so each write is flushed as it is
 * processed, and a message takes one job each way (write, trailer and flush used to be three
 * inflating, write and flush two deflating). Copying 16 KiB costs less than a wake-up.
 */
const ONE_WRITE = 16 * 1024;

/** `data` followed by {@link TRAILER}, in one new buffer. */
function withTrailer(data: Buffer): Buffer {
  const joined = Buffer.allocUnsafe(data.length + TRAILER.length);
  data.copy(joined, 0);
  TRAILER.copy(joined, data.length);
  return joined;
}

/** True when `data` ends with {@link TRAILER} (checked in place: no view is allocated). */
function endsWithTrailer(data: Buffer): boolean {
  const end = data.length;
  return (
    end >= 4 &&
    data[end - 4] === 0x00 &&
    data[end - 3] === 0x00 &&
    data[end - 2] === 0xff &&
    data[end - 1] === 0xff
  );
}

/** Joins a message's output chunks. */
function concat(chunks: Buffer[], length: number): Buffer {
  // One chunk (the common case for small messages) is returned as is, saving a copy.
  if (chunks.length === 1) return chunks[0] as Buffer;
  return Buffer.concat(chunks, length);
}

/**
 * The permessage-deflate extension for one connection: negotiates (`offer`/`acceptResponse` on
 * a client, `accept` on a server), then inflates received and deflates sent messages.
 */
export class PerMessageDeflate implements MessageInflater, MessageDeflater {
  /** The extension token. */
  static readonly extensionName = PERMESSAGE_DEFLATE;

  /** Payloads smaller than this are sent uncompressed (the socket applies it). */
  readonly threshold: number;

  private readonly options: PerMessageDeflateOptions;
  private readonly isServer: boolean;
  private readonly maxPayload: number;
  private readonly limiter: Limiter;
  private params: NegotiatedDeflate | null = null;
  private closed = false;

  private readonly inflateLane: Lane;
  private inflater: ZlibSlot<zlib.InflateRaw> | null = null;
  // The message being inflated: its output so far, over every frame since the last `fin`.
  private readonly inflated: Buffer[] = [];
  private inflatedLength = 0;

  private readonly deflateLane: Lane;
  private deflater: ZlibSlot<zlib.DeflateRaw> | null = null;
  private readonly deflated: Buffer[] = [];
  private deflatedLength = 0;

  /**
   * @param options - ws's `perMessageDeflate` options (`true` in ws maps to `{}`)
   * @param isServer - which end of the connection we are
   * @param maxPayload - cap in bytes on an inflated message; 0 means no limit
   * @throws RangeError or TypeError for invalid options
   */
  constructor(
    options: PerMessageDeflateOptions | undefined,
    isServer: boolean,
    maxPayload: number,
  ) {
    this.options = options ?? {};
    validateDeflateOptions(this.options);
    const threshold = this.options.threshold ?? 1024;
    if (typeof threshold !== "number" || Number.isNaN(threshold)) {
      throw new TypeError("perMessageDeflate.threshold must be a number");
    }
    this.threshold = threshold;
    this.isServer = isServer;
    this.maxPayload = Math.max(maxPayload, 0);
    this.limiter = getZlibLimiter(this.options.concurrencyLimit ?? 10);
    this.inflateLane = new Lane(
      this.limiter,
      (op) => this.startInflate(op),
      (error) => this.failInflate(error),
    );
    this.deflateLane = new Lane(
      this.limiter,
      (op) => this.startDeflate(op),
      (error) => this.failDeflate(error),
    );
  }

  /** The agreed parameters, or `null` before (or without) a successful negotiation. */
  get negotiated(): NegotiatedDeflate | null {
    return this.params;
  }

  /**
   * False when the window agreed for our direction is 2^8 (or nothing is agreed, or after
   * `cleanup`). The socket must check this before calling {@link compress} and send the message
   * uncompressed otherwise, which RFC 7692 §6 allows for any message.
   *
   * Why 8 turns compression off: zlib cannot produce a 2^8-window raw deflate stream; asked for
   * one it silently uses 2^9 (zlib 1.2.9+), and all it promises about that stream is a 2^9
   * window, which a peer that asked for 8 need not be able to inflate. (Measured with zlib
   * 1.3.1, its matches stay within 250 bytes, since it keeps 262 bytes of lookahead, but that is
   * an internal detail, not something to bet a peer's inflater on.)
   */
  get canCompress(): boolean {
    const params = this.params;
    if (params === null || this.closed) return false;
    const bits = this.deflateBits(params);
    return bits > MIN_WINDOW_BITS;
  }

  /**
   * For publishing one compressed frame to many subscribers: when our direction has no context
   * takeover, every message compresses alone, so the bytes depend only on the window size and
   * zlib options and can be shared. Returns those, or null when each message depends on this
   * connection's history (context takeover) and must be compressed here.
   */
  sharedCompression(): { windowBits: number; zlibOptions: zlib.ZlibOptions | undefined } | null {
    const params = this.params;
    if (params === null) return null;
    const noTakeover = this.isServer
      ? params.serverNoContextTakeover
      : params.clientNoContextTakeover;
    if (!noTakeover) return null;
    const windowBits = this.deflateBits(params);
    return { windowBits, zlibOptions: this.options.zlibDeflateOptions };
  }

  /** Client: the `Sec-WebSocket-Extensions` value to send. */
  offer(): string {
    return formatDeflateParams(buildDeflateOffer(this.options));
  }

  /**
   * Server: picks the first acceptable offer (RFC 7692 §5.1; invalid ones are declined, not
   * fatal) and returns the `Sec-WebSocket-Extensions` value to answer with, or `null` to answer
   * without the extension.
   *
   * @param offers - every element of the request header named `permessage-deflate`, in order
   */
  accept(offers: ExtensionOffer[]): string | null {
    if (!this.isServer) throw new Error("accept() is for servers; clients use acceptResponse()");
    const acceptance = selectDeflateOffer(offers, this.options);
    this.params = acceptance === null ? null : acceptance.negotiated;
    return acceptance === null ? null : formatDeflateParams(acceptance.response);
  }

  /**
   * Client: checks the server's answer to {@link offer} (RFC 7692 §5, §7.1) and adopts it.
   *
   * @param response - the permessage-deflate elements of the response header
   * @throws Error whose message says what is wrong; the client must fail the connection
   */
  acceptResponse(response: ExtensionOffer[]): void {
    if (this.isServer) throw new Error("acceptResponse() is for clients; servers use accept()");
    const result = checkDeflateResponse(response, this.options);
    if (!result.ok) {
      this.params = null;
      throw new Error(`Invalid ${PERMESSAGE_DEFLATE} response: ${result.reason}`);
    }
    this.params = result.value;
  }

  /**
   * Inflates one frame of a compressed message (RFC 7692 §7.2.2). Calls back exactly once: with
   * no result for a non-final frame, with the whole message on `fin`, or with a
   * {@link ProtocolError} (1009 over `maxPayload`, 1007 for corrupt data). Calls may be made
   * before earlier ones called back; they run in order. `data` must not change until then.
   */
  decompress(data: Buffer, fin: boolean, callback: Callback): void {
    this.enqueue(this.inflateLane, data, fin, callback);
  }

  /**
   * Deflates one frame's worth of a message (RFC 7692 §7.2.1). On `fin` the result has the
   * trailing `00 00 ff ff` removed (an empty message gives the single byte `00`, §7.2.3.6);
   * otherwise it ends with a sync flush so the frame is self-contained. Calls back exactly once,
   * in call order. Only call it when {@link canCompress} is true. `data` must not change until
   * the callback.
   */
  compress(data: Buffer, fin: boolean, callback: Callback): void {
    if (!this.closed && this.params !== null && !this.canCompress) {
      process.nextTick(
        callback,
        new Error("Cannot compress: the negotiated window (2^8) is one zlib cannot produce"),
      );
      return;
    }
    this.enqueue(this.deflateLane, data, fin, callback);
  }

  /**
   * The connection ended: closes the zlib streams, gives back every limiter slot this instance
   * holds or waits for, and calls every outstanding callback once with a
   * {@link DeflateClosedError} (on a later tick). Anything zlib reports afterwards is ignored.
   * Idempotent.
   */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    const dropped: ZlibOp[] = [];
    for (const lane of [this.inflateLane, this.deflateLane]) {
      this.limiter.cancel(lane);
      if (lane.active !== null) dropped.push(lane.active);
      lane.active = null;
      for (const op of lane.pending) dropped.push(op);
      lane.pending.length = 0;
    }
    this.discardInflater();
    this.discardDeflater();
    for (const op of dropped) process.nextTick(op.callback, new DeflateClosedError());
  }

  private enqueue(lane: Lane, data: Buffer, fin: boolean, callback: Callback): void {
    if (this.closed) {
      process.nextTick(callback, new DeflateClosedError());
      return;
    }
    if (this.params === null) {
      process.nextTick(callback, new Error(`${PERMESSAGE_DEFLATE} has not been negotiated`));
      return;
    }
    lane.pending.push({ data, fin, callback });
    if (lane.active === null && !lane.limiterBusy) this.limiter.add(lane);
  }

  /** Ends the lane's running call: gives back its slot, calls back, queues the next call. */
  private finish(lane: Lane, error: Error | null, result?: Buffer): void {
    const op = lane.active;
    if (op === null) return;
    lane.active = null;
    this.limiter.release(lane);
    try {
      op.callback(error, result);
    } finally {
      // Queued after the callback so results come back in call order even if the next call
      // fails synchronously; `finally` so a throwing callback cannot strand the queue.
      if (lane.pending.length > 0 && lane.active === null && !lane.limiterBusy && !this.closed) {
        this.limiter.add(lane);
      }
    }
  }

  // ---- inflate ---------------------------------------------------------------------------

  /** Our inflater's window: the peer's, but at least 2^9 (see MIN_ZLIB_WINDOW_BITS). */
  private inflateBits(params: NegotiatedDeflate): number {
    const peerBits = this.isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    return Math.max(peerBits, MIN_ZLIB_WINDOW_BITS);
  }

  /** A reset inflater from the pool, or a new one; from now on it reports to this instance. */
  private takeInflater(params: NegotiatedDeflate): ZlibSlot<zlib.InflateRaw> {
    const options = this.options.zlibInflateOptions;
    const bits = this.inflateBits(params);
    const slot =
      inflaterPool.take(options, bits) ??
      inflateSlot(zlib.createInflateRaw(streamOptions(options, bits)));
    slot.owner = this;
    this.inflater = slot;
    return slot;
  }

  private startInflate(op: ZlibOp): void {
    const params = this.params as NegotiatedDeflate; // enqueue() refuses calls before negotiation
    let slot = this.inflater;
    if (slot !== null && (slot.ended || slot.stream.readableEnded || slot.stream.destroyed)) {
      this.discardInflater();
      slot = null;
    }
    if (slot === null) slot = this.takeInflater(params);
    const { stream, written } = slot;
    const data = op.data;
    if (!op.fin) stream.write(data, written);
    else if (data.length <= ONE_WRITE) stream.write(withTrailer(data), written);
    else {
      stream.write(data);
      stream.write(TRAILER, written);
    }
  }

  /** @internal Output from an inflater this instance holds (see {@link inflateSlot}). */
  _inflateData(slot: ZlibSlot<zlib.InflateRaw>, chunk: Buffer): void {
    if (this.inflater !== slot) return;
    this.inflatedLength += chunk.length;
    // Checked as output arrives, so a small frame that inflates to gigabytes (a "zip bomb") is
    // stopped after maxPayload bytes, never buffered whole.
    if (this.maxPayload > 0 && this.inflatedLength > this.maxPayload) {
      this.failInflate(
        new ProtocolError(ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009, "Max payload size exceeded"),
      );
      return;
    }
    this.inflated.push(chunk);
  }

  /** @internal An inflater this instance holds failed, or one of its writes completed. */
  _inflateWritten(slot: ZlibSlot<zlib.InflateRaw>, error?: Error | null): void {
    if (this.inflater !== slot) return;
    const op = this.inflateLane.active;
    if (op === null) return;
    if (error) {
      this.failInflate(
        new ProtocolError(
          ErrorCodes.INVALID_COMPRESSED_DATA,
          1007,
          `Invalid compressed data: ${error.message}`,
        ),
      );
      return;
    }
    if (!op.fin) {
      this.finish(this.inflateLane, null);
      return;
    }
    const message =
      this.inflatedLength === 0 ? Buffer.alloc(0) : concat(this.inflated, this.inflatedLength);
    this.inflated.length = 0; // safe: `message` is a Buffer, never this array
    this.inflatedLength = 0;
    const params = this.params as NegotiatedDeflate;
    if (slot.ended || slot.stream.readableEnded) {
      this.discardInflater();
    } else if (this.isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover) {
      // The peer starts each message with an empty window, so must we (RFC 7692 §7.1.1). With
      // nothing to carry over, the stream goes back to the pool: an idle connection then holds
      // no zlib state at all, and the next message of any connection reuses it.
      this.inflater = null;
      release(inflaterPool, slot, this.options.zlibInflateOptions, this.inflateBits(params));
    }
    this.finish(this.inflateLane, null, message);
  }

  /** Fails the running inflate call; the stream is dropped, since its state is now unknown. */
  private failInflate(error: Error): void {
    this.discardInflater();
    this.inflated.length = 0;
    this.inflatedLength = 0;
    this.finish(this.inflateLane, error);
  }

  private discardInflater(): void {
    const slot = this.inflater;
    if (slot === null) return;
    this.inflater = null;
    drop(slot);
  }

  // ---- deflate ---------------------------------------------------------------------------

  /** Our deflater's window: the one agreed for our direction. */
  private deflateBits(params: NegotiatedDeflate): number {
    return this.isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
  }

  /** A reset deflater from the pool, or a new one; from now on it reports to this instance. */
  private takeDeflater(params: NegotiatedDeflate): ZlibSlot<zlib.DeflateRaw> {
    const options = this.options.zlibDeflateOptions;
    const bits = this.deflateBits(params);
    const slot =
      deflaterPool.take(options, bits) ??
      deflateSlot(zlib.createDeflateRaw(streamOptions(options, bits)));
    slot.owner = this;
    this.deflater = slot;
    return slot;
  }

  private startDeflate(op: ZlibOp): void {
    const params = this.params as NegotiatedDeflate;
    const { stream, written } = this.deflater ?? this.takeDeflater(params);
    // Written with a sync flush (the stream's default flush), on every call, not just on `fin`,
    // so each frame's bytes are complete and the callback can fire as soon as they are.
    stream.write(op.data, written);
  }

  /** @internal Output from a deflater this instance holds (see {@link deflateSlot}). */
  _deflateData(slot: ZlibSlot<zlib.DeflateRaw>, chunk: Buffer): void {
    if (this.deflater !== slot) return;
    this.deflated.push(chunk);
    this.deflatedLength += chunk.length;
  }

  /** @internal A deflater this instance holds failed, or one of its writes completed. */
  _deflateWritten(slot: ZlibSlot<zlib.DeflateRaw>, error?: Error | null): void {
    if (this.deflater !== slot) return;
    const op = this.deflateLane.active;
    if (op === null) return;
    if (error) {
      this.failDeflate(error);
      return;
    }
    let output = this.deflatedLength === 0 ? null : concat(this.deflated, this.deflatedLength);
    this.deflated.length = 0;
    this.deflatedLength = 0;
    if (op.fin) {
      if (output === null || output.length <= TRAILER.length) {
        // zlib skips a sync flush that follows another with no input between, and a message
        // that is nothing but the marker is empty: either way the message is the single byte
        // 0x00 of an empty stored block (RFC 7692 §7.2.3.6).
        output = Buffer.from([0x00]);
      } else if (endsWithTrailer(output)) {
        output = output.subarray(0, output.length - TRAILER.length); // RFC 7692 §7.2.1
      } else {
        this.failDeflate(new Error("zlib output did not end with a sync flush marker"));
        return;
      }
      const params = this.params as NegotiatedDeflate;
      if (this.isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover) {
        // No context to keep (RFC 7692 §7.1.1): the stream (~280 KiB of deflate state) goes back
        // to the pool, so idle no-context-takeover connections cost no zlib memory.
        this.deflater = null;
        release(deflaterPool, slot, this.options.zlibDeflateOptions, this.deflateBits(params));
      }
    }
    this.finish(this.deflateLane, null, output ?? Buffer.alloc(0));
  }

  private failDeflate(error: Error): void {
    this.discardDeflater();
    this.deflated.length = 0;
    this.deflatedLength = 0;
    this.finish(this.deflateLane, error);
  }

  private discardDeflater(): void {
    const slot = this.deflater;
    if (slot === null) return;
    this.deflater = null;
    drop(slot);
  }
}

/**
 * A zlib stream and the instance using it. The stream's listeners and write callback are made
 * once, with the stream, and report to `owner`, so the stream can move between connections
 * through the pool; while it is pooled or after it is dropped `owner` is null, and whatever the
 * stream still reports (a late callback, an error) is ignored. Owners also check that the slot
 * is the one they hold.
 */
interface ZlibSlot<S extends zlib.InflateRaw | zlib.DeflateRaw> {
  readonly stream: S;
  owner: PerMessageDeflate | null;
  /** Inflaters: a block with BFINAL set ended zlib's stream; the next call needs another. */
  ended: boolean;
  /** The callback of every write to the stream. */
  readonly written: (error?: Error | null) => void;
}

/** Idle inflaters and deflaters, shared by every connection of the process (see zlib-pool.ts). */
const inflaterPool = new ZlibStreamPool<ZlibSlot<zlib.InflateRaw>>();
const deflaterPool = new ZlibStreamPool<ZlibSlot<zlib.DeflateRaw>>();

function inflateSlot(stream: zlib.InflateRaw): ZlibSlot<zlib.InflateRaw> {
  const slot: ZlibSlot<zlib.InflateRaw> = {
    stream,
    owner: null,
    ended: false,
    written: (error) => slot.owner?._inflateWritten(slot, error),
  };
  stream.on("data", (chunk: Buffer) => slot.owner?._inflateData(slot, chunk));
  stream.on("error", (error: Error) => slot.owner?._inflateWritten(slot, error));
  // A block with BFINAL set ends zlib's stream (RFC 7692 §7.2.3.4 allows it).
  stream.on("end", () => {
    slot.ended = true;
  });
  return slot;
}

function deflateSlot(stream: zlib.DeflateRaw): ZlibSlot<zlib.DeflateRaw> {
  const slot: ZlibSlot<zlib.DeflateRaw> = {
    stream,
    owner: null,
    ended: false,
    written: (error) => slot.owner?._deflateWritten(slot, error),
  };
  stream.on("data", (chunk: Buffer) => slot.owner?._deflateData(slot, chunk));
  stream.on("error", (error: Error) => slot.owner?._deflateWritten(slot, error));
  return slot;
}

/** The user's zlib options with our window and flush: each write is flushed (see ONE_WRITE). */
function streamOptions(
  options: zlib.ZlibOptions | undefined,
  windowBits: number,
): zlib.ZlibOptions {
  return { ...options, windowBits, flush: zlib.constants.Z_SYNC_FLUSH };
}

/** Resets a stream whose message is complete and pools it, or closes it when the pool is full. */
function release<S extends zlib.InflateRaw | zlib.DeflateRaw>(
  pool: ZlibStreamPool<ZlibSlot<S>>,
  slot: ZlibSlot<S>,
  options: zlib.ZlibOptions | undefined,
  windowBits: number,
): void {
  slot.owner = null;
  const stream = slot.stream;
  // A destroyed stream has no zlib handle left to reset (reset() would throw).
  if (stream.destroyed) {
    stream.close();
    return;
  }
  stream.reset();
  if (!pool.give(options, windowBits, slot)) stream.close();
}

/** Closes a stream whose state is unknown or no longer needed; it reports nothing from now on. */
function drop(slot: ZlibSlot<zlib.InflateRaw | zlib.DeflateRaw>): void {
  slot.owner = null;
  slot.stream.close();
}

/**
 * Counters of the process-wide zlib limiter (for tests and metrics). Creates the limiter with
 * the default limit if no {@link PerMessageDeflate} exists yet.
 */
export function limiterStats(): LimiterStats {
  return getZlibLimiter().stats();
}
