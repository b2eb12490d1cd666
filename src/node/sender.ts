/**
 * Outgoing frames for one connection, batched per event-loop turn.
 *
 * Why: a `socket.write` per frame costs a syscall and a write request per message, which is most of
 * ws's per-message cost at small sizes. Here small frames are written straight into a slab shared
 * by every connection; consecutive frames of one connection form one contiguous region of it, and
 * once per tick (one `process.nextTick` for all connections) each connection hands its regions to
 * its socket in one write (or one corked writev). An idle connection owns no buffer at all.
 *
 * Large payloads are never copied on the server: the header goes to the slab, the payload is
 * handed to the socket as its own chunk. Clients must mask, which needs one masked copy.
 *
 * While permessage-deflate is compressing a message, later frames wait in order behind it.
 *
 * Memory: a sender is made on a connection's first send, and holds no array until it needs one
 * (the common flush is one slab region, so pending chunks live in one field and the lists below
 * are only made for several chunks, callbacks or queued work): busy servers keep 10,000s of
 * connections, most of them idle between messages.
 */
import type { Duplex } from "node:stream";
import { frameHeaderLength, maskKeys, writeHeaderBytes } from "../protocol/frame-writer.js";
import { mask, unmask } from "../protocol/mask.js";
import { Opcode } from "../protocol/opcodes.js";
import type { MessageDeflater } from "../protocol/types.js";

/** Size of each shared slab. */
const SLAB_SIZE = 64 * 1024;
/** Frames larger than this skip the slab: the payload goes to the socket as its own chunk. */
const LARGE_FRAME = 16 * 1024;

let slab = Buffer.allocUnsafe(SLAB_SIZE);
let slabUsed = 0;
/** The sender whose open region ends at `slabUsed`, if any. */
let slabOwner: Sender | null = null;

/** Senders with frames waiting for the end-of-tick flush. */
const dirty: Sender[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  // A flush can queue more frames (write callbacks run later, never inside write), so iterate by
  // index over a list that may grow.
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** A send's completion callback, ws style: called once, with an error if the frame was not sent. */
export type SendCallback = (error?: Error | null) => void;

/**
 * What the sender tells its connection (an object with methods rather than closures, so a
 * connection costs no closure and context for them).
 */
export interface SenderOwner {
  /** A flush that {@link Sender.notifyFlush} asked about has reached the kernel. */
  _onFlushed(): void;
  /** A write returned false: the socket will emit 'drain' once its buffer has emptied. */
  _onNeedDrain(): void;
  /** The final close frame ({@link Sender.sendFinalClose}) is with the socket: end TCP now. */
  _onFinalCloseFlushed(): void;
}

/** See the module comment. */
export class Sender {
  private readonly socket: Duplex;
  private readonly masking: boolean;
  private readonly deflater: MessageDeflater | null;
  private readonly threshold: number;

  /** The first finished piece waiting for the flush (usually the only one: a slab region). */
  private chunk: Buffer | null = null;
  /** Further pieces after {@link chunk}, in order; made only when there are some. */
  private moreChunks: Buffer[] | null = null;
  /** Callbacks of the pending frames; made only when a frame has one. */
  private callbacks: SendCallback[] | null = null;
  /** Where this sender's open region starts in the current slab. */
  private regionStart = 0;
  private isDirty = false;
  /** Bytes framed but not yet handed to the socket. */
  private pendingBytes = 0;

  /**
   * Order model: every call is placed in call order. `continuing`/`compressingMessage` describe
   * the app's message *as of the last call* (so framing is decided at call time), while `busy`
   * says an asynchronous step (compression, Blob read) is running: later work waits in `waiting`.
   * Whole messages from a publish must never land inside the app's fragmented message
   * (RFC 6455 §5.4), so while one is open they wait in `held` until its final fragment is placed.
   */
  /** The app's fragmented message is open (`fin: false` sent): its next data frame continues it. */
  private continuing = false;
  /** That fragmented message is compressed (RSV1 was on its first frame). */
  private compressingMessage = false;
  /** Work placed while an asynchronous step runs, in call order (null when none). */
  private waiting: Array<() => void> | null = null;
  /** Publishes placed while the app's fragmented message is open (null when none). */
  private held: Array<() => void> | null = null;
  private busy = false;
  private closed = false;
  /** The final close frame is placed: the flush hands TCP's end to the owner after it. */
  private ending = false;
  /** Bytes of work in `waiting`/`held` or being compressed, not framed yet. */
  private queuedBytes = 0;
  /** Told about flushes ({@link notifyFlush}) and refused writes; null for a bare sender. */
  private readonly owner: SenderOwner | null;
  /** Set by the socket when it wants to hear that a flush has reached the kernel. */
  notifyFlush = false;

  /**
   * @param socket - the connection's transport
   * @param masking - client role: mask every frame with a fresh key (RFC 6455 §5.3)
   * @param deflater - the negotiated permessage-deflate instance, or null
   * @param threshold - messages smaller than this are sent uncompressed
   * @param owner - the connection, told about flushes (see {@link notifyFlush}) and refused writes
   */
  constructor(
    socket: Duplex,
    masking: boolean,
    deflater: MessageDeflater | null,
    threshold: number,
    owner: SenderOwner | null = null,
  ) {
    this.socket = socket;
    this.masking = masking;
    this.deflater = deflater;
    this.threshold = threshold;
    this.owner = owner;
  }

  /** Bytes accepted by {@link sendData} and friends that the socket does not hold yet. */
  get bufferedBytes(): number {
    return this.pendingBytes + this.queuedBytes;
  }

  /**
   * Decides how the app's next data frame is framed (at call time, so later calls cannot change
   * it) and updates the fragmented-message state.
   */
  private placeData(binary: boolean, fin: boolean, compressAllowed: boolean, size: number) {
    const first = !this.continuing;
    const opcode = first ? (binary ? Opcode.BINARY : Opcode.TEXT) : Opcode.CONTINUATION;
    this.continuing = !fin;
    let compress = this.compressingMessage;
    if (first) {
      compress = this.deflater !== null && compressAllowed && size >= this.threshold;
      this.compressingMessage = compress && !fin;
    } else if (fin) {
      this.compressingMessage = false;
    }
    return { first, opcode, compress, endsFragmentedMessage: fin && !first };
  }

  /** Sends one data frame (a whole message, or one fragment when `fin` is false). */
  sendData(
    data: Buffer | string,
    binary: boolean,
    fin: boolean,
    compressAllowed: boolean,
    callback?: SendCallback,
  ): void {
    const size =
      this.deflater === null ? 0 : typeof data === "string" ? Buffer.byteLength(data) : data.length;
    const place = this.placeData(binary, fin, compressAllowed, size);
    const { opcode, first } = place;
    if (place.compress) {
      const payload = typeof data === "string" ? Buffer.from(data) : data;
      this.place(
        () => this.compressThenFrame(opcode, payload, fin, first, callback),
        payload.length,
      );
    } else if (this.busy) {
      this.place(() => this.frame(opcode, data, fin, false, callback), size);
    } else {
      this.frame(opcode, data, fin, false, callback); // the common path: no closure
    }
    if (place.endsFragmentedMessage) this.releaseHeld();
  }

  /**
   * Sends a Blob (ws 8.18+): read asynchronously, framed as decided at call time, and everything
   * sent after it waits, so messages keep their order.
   */
  sendBlob(
    blob: Blob,
    binary: boolean,
    fin: boolean,
    compressAllowed: boolean,
    callback?: SendCallback,
  ): void {
    const place = this.placeData(binary, fin, compressAllowed, blob.size);
    const { opcode, first, compress } = place;
    this.place(() => {
      this.busy = true;
      blob.arrayBuffer().then(
        (buffer) => {
          this.busy = false;
          this.queuedBytes -= blob.size;
          if (this.closed)
            callback?.(new Error("The socket was closed while a Blob was being read"));
          else if (compress)
            this.compressThenFrame(opcode, Buffer.from(buffer), fin, first, callback);
          else this.frame(opcode, Buffer.from(buffer), fin, false, callback);
          this.drainWaiting();
        },
        (error: Error) => {
          this.busy = false;
          this.queuedBytes -= blob.size;
          callback?.(error);
          this.drainWaiting();
        },
      );
    }, 0);
    this.queuedBytes += blob.size;
    if (place.endsFragmentedMessage) this.releaseHeld();
  }

  /**
   * Queues a whole frame encoded elsewhere (a publish encodes once for all subscribers): the same
   * buffer goes to every socket, never copied per subscriber.
   */
  sendFrame(frame: Buffer, callback?: SendCallback): void {
    if (this.continuing) this.hold(() => this.push(frame, callback), frame.length);
    else if (this.busy) this.place(() => this.push(frame, callback), frame.length);
    else this.push(frame, callback);
  }

  /**
   * Sends a whole message for a publish to a subscriber whose compression cannot be shared:
   * framed as a complete message whatever the app's own fragment state is.
   */
  sendWholeMessage(payload: Buffer, binary: boolean, compressAllowed: boolean): void {
    const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
    const compress = this.deflater !== null && compressAllowed && payload.length >= this.threshold;
    const op = compress
      ? () => this.compressThenFrame(opcode, payload, true, true, undefined)
      : () => this.frame(opcode, payload, true, false, undefined);
    if (this.continuing) this.hold(op, payload.length);
    else this.place(op, payload.length);
  }

  /** Sends a control frame (ping, pong, close); payload at most 125 bytes, checked by the caller. */
  sendControl(opcode: number, payload: Buffer, callback?: SendCallback): void {
    // Control frames may sit between the fragments of a message (RFC 6455 §5.4), so no hold.
    if (this.busy)
      this.place(() => this.frame(opcode, payload, true, false, callback), payload.length);
    else this.frame(opcode, payload, true, false, callback);
  }

  /**
   * Sends the connection's last frame, a close frame, once both close frames are known (its reply
   * to the peer's close, or its close after a protocol error). No callback: the flush that hands
   * it to the socket tells the owner ({@link SenderOwner._onFinalCloseFlushed}), which ends TCP
   * right behind it (a bare sender ends the socket itself). Later frames are refused.
   */
  sendFinalClose(payload: Buffer): void {
    if (this.busy) {
      // It waits behind a compression: keep a copy, as `payload` may be a view into a read.
      const copy = Buffer.from(payload);
      this.place(() => this.finalClose(copy), copy.length);
    } else this.finalClose(payload);
  }

  private finalClose(payload: Buffer): void {
    this.frame(Opcode.CLOSE, payload, true, false, undefined);
    this.ending = true;
  }

  /** Ends batching: no more frames; pending compressions call back with an error. */
  close(): void {
    this.closed = true;
    this.waiting = null;
    this.held = null;
    this.queuedBytes = 0;
  }

  /** Runs `op` now, or after the asynchronous step in progress. */
  private place(op: () => void, size: number): void {
    if (!this.busy) {
      op();
      return;
    }
    this.queuedBytes += size;
    (this.waiting ??= []).push(() => {
      this.queuedBytes -= size;
      op();
    });
  }

  private hold(op: () => void, size: number): void {
    this.queuedBytes += size;
    (this.held ??= []).push(() => {
      this.queuedBytes -= size;
      op();
    });
  }

  /** The app's fragmented message is complete: place the publishes that waited for it. */
  private releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    for (const op of held) this.place(op, 0);
  }

  private drainWaiting(): void {
    // Re-read the list each time: an op may close the sender (which drops the list).
    for (let waiting = this.waiting; waiting !== null; waiting = this.waiting) {
      if (this.busy) return;
      const op = waiting.shift();
      if (op === undefined) {
        this.waiting = null; // all done: an idle sender holds no list
        return;
      }
      op();
    }
  }

  /** Compresses one message or fragment, then frames it; later work waits meanwhile. */
  private compressThenFrame(
    opcode: number,
    payload: Buffer,
    fin: boolean,
    rsv1: boolean,
    callback: SendCallback | undefined,
  ): void {
    this.busy = true;
    this.queuedBytes += payload.length;
    this.deflater!.compress(payload, fin, (error, result) => {
      this.queuedBytes -= payload.length;
      this.busy = false;
      if (this.closed) {
        callback?.(new Error("The socket was closed while data was being compressed"));
        return;
      }
      if (error || result === undefined) callback?.(error ?? new Error("Compression failed"));
      else this.frame(opcode, result, fin, rsv1, callback);
      this.drainWaiting();
    });
  }

  /**
   * Frames `data` into the batch. Strings are encoded straight into the slab: the header space is
   * reserved from the worst-case UTF-8 length, and shifted down in the rare case the real length
   * needs a shorter header, which saves a second pass over the string to measure it.
   */
  private frame(
    opcode: number,
    data: Buffer | string,
    fin: boolean,
    rsv1: boolean,
    callback?: SendCallback,
  ): void {
    if (this.closed || this.ending) {
      if (callback) process.nextTick(callback, new Error("WebSocket is not open"));
      return;
    }
    const key = this.masking ? maskKeys.next() : null;
    if (typeof data === "string") {
      const bound = data.length * 3; // UTF-8 never needs more than 3 bytes per UTF-16 unit
      if (bound + 14 <= LARGE_FRAME) {
        const reserved = frameHeaderLength(bound, key !== null);
        const start = this.reserve(reserved + bound);
        const written = slab.write(data, start + reserved, "utf8");
        const headerSize = frameHeaderLength(written, key !== null);
        if (headerSize !== reserved) {
          slab.copyWithin(start + headerSize, start + reserved, start + reserved + written);
        }
        const end = writeHeaderBytes(slab, start, firstByte(fin, rsv1, opcode), written, key);
        if (key !== null) maskInPlace(slab, end, written, key);
        this.commit(start, headerSize + written, callback);
        return;
      }
      data = Buffer.from(data);
    }
    const length = data.length;
    const headerSize = frameHeaderLength(length, key !== null);
    if (headerSize + length <= LARGE_FRAME) {
      const start = this.reserve(headerSize + length);
      const end = writeHeaderBytes(slab, start, firstByte(fin, rsv1, opcode), length, key);
      if (key === null) data.copy(slab, end);
      else mask(data, key, slab, end);
      this.commit(start, headerSize + length, callback);
      return;
    }
    if (key !== null) {
      const frame = Buffer.allocUnsafe(headerSize + length);
      const end = writeHeaderBytes(frame, 0, firstByte(fin, rsv1, opcode), length, key);
      mask(data, key, frame, end);
      this.push(frame, callback);
      return;
    }
    const start = this.reserve(headerSize);
    writeHeaderBytes(slab, start, firstByte(fin, rsv1, opcode), length, null);
    this.commit(start, headerSize, undefined);
    this.push(data, callback);
  }

  /** Room for `size` bytes at the end of this sender's region; returns where to write. */
  private reserve(size: number): number {
    if (slabUsed + size > SLAB_SIZE) {
      slabOwner?.closeRegion();
      slab = Buffer.allocUnsafe(SLAB_SIZE);
      slabUsed = 0;
    }
    if (slabOwner !== this) {
      slabOwner?.closeRegion();
      slabOwner = this;
      this.regionStart = slabUsed;
    }
    return slabUsed;
  }

  private commit(start: number, size: number, callback: SendCallback | undefined): void {
    slabUsed = start + size;
    this.pendingBytes += size;
    if (callback) (this.callbacks ??= []).push(callback);
    this.markDirty();
  }

  private push(chunk: Buffer, callback: SendCallback | undefined): void {
    this.closeRegion(); // frames already in the slab go first
    this.addChunk(chunk);
    this.pendingBytes += chunk.length;
    if (callback) (this.callbacks ??= []).push(callback);
    this.markDirty();
  }

  private addChunk(chunk: Buffer): void {
    if (this.chunk === null) this.chunk = chunk;
    else (this.moreChunks ??= []).push(chunk);
  }

  private markDirty(): void {
    if (this.isDirty) return;
    this.isDirty = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(flushAll);
    }
  }

  /** Moves this sender's open slab region into its chunk list. */
  closeRegion(): void {
    if (slabOwner !== this) return;
    slabOwner = null;
    if (slabUsed > this.regionStart) this.addChunk(slab.subarray(this.regionStart, slabUsed));
  }

  /** Hands everything batched to the socket in one write (or one corked writev). */
  flush(): void {
    this.isDirty = false;
    this.closeRegion();
    const first = this.chunk;
    if (first === null) return;
    const more = this.moreChunks;
    let callbacks = this.callbacks;
    this.chunk = null;
    this.moreChunks = null;
    this.callbacks = null;
    this.pendingBytes = 0;
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      if (callbacks !== null) {
        const error = new Error("The socket is not writable");
        process.nextTick(callAll, callbacks, error);
      }
      return;
    }
    const owner = this.owner;
    if (this.notifyFlush && owner !== null) {
      this.notifyFlush = false;
      (callbacks ??= []).push(() => owner._onFlushed());
    }
    const list = callbacks;
    const done = list === null ? undefined : (error?: Error | null) => callAll(list, error);
    let writable: boolean;
    if (more === null) writable = socket.write(first, done);
    else {
      socket.cork();
      socket.write(first);
      const last = more.length - 1; // never empty: made by the second chunk's push
      for (let i = 0; i < last; i++) socket.write(more[i]);
      writable = socket.write(more[last], done);
      socket.uncork();
    }
    if (this.ending) {
      this.closed = true;
      if (owner !== null) owner._onFinalCloseFlushed();
      else socket.end();
      return;
    }
    // 'drain' follows a refused write: the connection listens for it only from now on.
    if (!writable && owner !== null) owner._onNeedDrain();
  }
}

function firstByte(fin: boolean, rsv1: boolean, opcode: number): number {
  return (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
}

function callAll(callbacks: SendCallback[], error?: Error | null): void {
  for (const callback of callbacks) callback(error ?? null);
}

function maskInPlace(target: Buffer, offset: number, length: number, key: Uint8Array): void {
  unmask(target.subarray(offset, offset + length), key);
}
