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
 */
import type { Duplex } from "node:stream";
import { mask, unmask } from "../protocol/mask.js";
import { Opcode } from "../protocol/opcodes.js";
import { frameHeaderLength, maskKeys, writeHeaderBytes } from "../protocol/frame-writer.js";
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

/** See the module comment. */
export class Sender {
  private readonly socket: Duplex;
  private readonly masking: boolean;
  private readonly deflater: MessageDeflater | null;
  private readonly threshold: number;

  /** Finished pieces waiting for the flush. */
  private chunks: Buffer[] = [];
  /** Callbacks of the frames in {@link chunks}. */
  private callbacks: SendCallback[] = [];
  /** Where this sender's open region starts in the current slab. */
  private regionStart = 0;
  private isDirty = false;
  /** Bytes framed but not yet handed to the socket. */
  private pendingBytes = 0;

  /** A message is being sent in fragments (`fin: false`): the next data frame continues it. */
  private continuing = false;
  /** The fragmented message in progress is compressed (RSV1 was on its first frame). */
  private compressingMessage = false;
  /** Frames waiting for a compression or Blob read in progress, in order. */
  private readonly waiting: Array<() => void> = [];
  private busy = false;
  private closed = false;

  /**
   * @param socket - the connection's transport
   * @param masking - client role: mask every frame with a fresh key (RFC 6455 §5.3)
   * @param deflater - the negotiated permessage-deflate instance, or null
   * @param threshold - messages smaller than this are sent uncompressed
   */
  constructor(socket: Duplex, masking: boolean, deflater: MessageDeflater | null, threshold: number) {
    this.socket = socket;
    this.masking = masking;
    this.deflater = deflater;
    this.threshold = threshold;
  }

  /** Bytes accepted by {@link sendData} and friends that the socket does not hold yet. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Sends one data frame (a whole message, or one fragment when `fin` is false). */
  sendData(
    data: Buffer | string,
    binary: boolean,
    fin: boolean,
    compressAllowed: boolean,
    callback?: SendCallback,
  ): void {
    const first = !this.continuing;
    const opcode = first ? (binary ? Opcode.BINARY : Opcode.TEXT) : Opcode.CONTINUATION;
    this.continuing = !fin;
    let compress = this.compressingMessage;
    if (first) {
      compress =
        this.deflater !== null &&
        compressAllowed &&
        (typeof data === "string" ? Buffer.byteLength(data) : data.length) >= this.threshold;
      this.compressingMessage = compress && !fin;
    } else if (fin) {
      this.compressingMessage = false;
    }
    if (!compress) {
      if (this.busy) {
        this.waiting.push(() => this.frame(opcode, data, fin, false, callback));
      } else {
        this.frame(opcode, data, fin, false, callback);
        if (fin) this.drainWaiting();
      }
      return;
    }
    const payload = typeof data === "string" ? Buffer.from(data) : data;
    this.pendingBytes += payload.length;
    const run = (): void => {
      this.busy = true;
      this.deflater!.compress(payload, fin, (error, result) => {
        this.pendingBytes -= payload.length;
        if (this.closed) {
          callback?.(new Error("The socket was closed while data was being compressed"));
          return;
        }
        if (error || result === undefined) {
          callback?.(error ?? new Error("Compression failed"));
        } else this.frame(opcode, result, fin, first, callback);
        this.busy = false;
        this.drainWaiting();
      });
    };
    if (this.busy) this.waiting.push(run);
    else run();
  }

  /**
   * Sends a Blob: its bytes are read asynchronously, and everything sent after it waits, so
   * messages keep their order.
   */
  sendBlob(blob: Blob, binary: boolean, fin: boolean, compress: boolean, callback?: SendCallback): void {
    const run = (): void => {
      this.busy = true;
      blob.arrayBuffer().then(
        (buffer) => {
          this.busy = false;
          if (this.closed) callback?.(new Error("The socket was closed while a Blob was being read"));
          else this.sendData(Buffer.from(buffer), binary, fin, compress, callback);
          this.drainWaiting();
        },
        (error: Error) => {
          this.busy = false;
          callback?.(error);
          this.drainWaiting();
        },
      );
    };
    if (this.busy) this.waiting.push(run);
    else run();
  }

  /**
   * Queues a frame encoded elsewhere (a publish encodes once for all subscribers): the same
   * buffer goes to every socket, never copied per subscriber. Waits behind a compression in
   * progress, and behind a fragmented message the app is still sending (a whole frame there would
   * break RFC 6455 §5.4).
   */
  sendFrame(frame: Buffer, callback?: SendCallback): void {
    if (this.busy || this.continuing) {
      this.waiting.push(() => this.sendFrame(frame, callback));
      return;
    }
    if (this.closed) {
      if (callback) process.nextTick(callback, new Error("WebSocket is not open"));
      return;
    }
    this.push(frame, callback);
  }

  /** Sends a control frame (ping, pong, close); payload at most 125 bytes, checked by the caller. */
  sendControl(opcode: number, payload: Buffer, callback?: SendCallback): void {
    if (this.busy) this.waiting.push(() => this.frame(opcode, payload, true, false, callback));
    else this.frame(opcode, payload, true, false, callback);
  }

  /** Ends batching: no more frames; pending compressions call back with an error. */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
  }

  private drainWaiting(): void {
    while (!this.busy && !this.continuing && this.waiting.length > 0) this.waiting.shift()!();
  }

  /**
   * Frames `data` into the batch. Strings are encoded straight into the slab: the header space is
   * reserved from the worst-case UTF-8 length, and shifted down in the rare case the real length
   * needs a shorter header, which saves a second pass over the string to measure it.
   */
  private frame(opcode: number, data: Buffer | string, fin: boolean, rsv1: boolean, callback?: SendCallback): void {
    if (this.closed) {
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
    if (callback) this.callbacks.push(callback);
    this.markDirty();
  }

  private push(chunk: Buffer, callback: SendCallback | undefined): void {
    this.closeRegion(); // frames already in the slab go first
    this.chunks.push(chunk);
    this.pendingBytes += chunk.length;
    if (callback) this.callbacks.push(callback);
    this.markDirty();
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
    if (slabUsed > this.regionStart) this.chunks.push(slab.subarray(this.regionStart, slabUsed));
  }

  /** Hands everything batched to the socket in one write (or one corked writev). */
  flush(): void {
    this.isDirty = false;
    this.closeRegion();
    const chunks = this.chunks;
    if (chunks.length === 0) return;
    const callbacks = this.callbacks;
    this.chunks = [];
    this.callbacks = [];
    this.pendingBytes = 0;
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      if (callbacks.length > 0) {
        const error = new Error("The socket is not writable");
        process.nextTick(callAll, callbacks, error);
      }
      return;
    }
    const done = callbacks.length === 0 ? undefined : (error?: Error | null) => callAll(callbacks, error);
    if (chunks.length === 1) {
      socket.write(chunks[0], done);
      return;
    }
    socket.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) socket.write(chunks[i]);
    socket.write(chunks[last], done);
    socket.uncork();
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
