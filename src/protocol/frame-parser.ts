/**
 * Incremental frame parser and message assembler (RFC 6455 §5, RFC 7692 §6).
 *
 * Bytes go in through {@link FrameParser.push} in any split, down to one byte at a time; messages,
 * pings, pongs, the peer's close and protocol errors come out through {@link FrameParserEvents}.
 * It never touches a socket, a timer or zlib: inflation is reached through the injected
 * {@link MessageInflater}, so every rule can be tested with plain byte arrays.
 *
 * Speed: every frame of a received chunk is parsed in one pass, and a frame that arrives whole in
 * one chunk is delivered as a view of that chunk, unmasked in place: no copy, no allocation beyond
 * the view. Only frames split across chunks, and fragmented messages, are copied: a split frame
 * into one buffer of its exact size, reserved once part of it has arrived (BODY_RESERVE_RATIO), a
 * fragmented message into a buffer that grows geometrically. Memory stays proportional to bytes
 * received, never to the number of pieces they came in (ws 8.21 "tiny fragments" advisory).
 *
 * A chunk pushed as borrowed (the Node adapter's shared read buffer, overwritten by the next read)
 * is never referenced after `push` returns: one that starts with a whole frame is copied once and
 * parsed as above; otherwise (the middle of a large frame) each piece is copied, unmasked on the
 * way, into the frame's buffer, and the caller has saved an allocation per read.
 */
import { constants as bufferConstants } from "node:buffer";
import { decodeClosePayload } from "./close.js";
import { ErrorCodes, type FailureCloseCode, ProtocolError } from "./errors.js";
import { unmask, unmaskInto } from "./mask.js";
import { Opcode } from "./opcodes.js";
import type { MessageInflater } from "./types.js";
import { isValidUtf8, Utf8Validator } from "./utf8.js";

/** What the parser reports. Handlers may throw: the parser keeps its place (see `run`). */
export interface FrameParserEvents {
  /** A complete data message. `data` may be a view into a received chunk. */
  onMessage(data: Buffer, isBinary: boolean): void;
  /** A ping frame's payload (0–125 bytes). */
  onPing(data: Buffer): void;
  /** A pong frame's payload (0–125 bytes). */
  onPong(data: Buffer): void;
  /**
   * The peer's close frame: code 1005 when it carried none. `payload` is the frame's validated
   * payload as received (code and reason), for an echo without re-encoding. Nothing is parsed
   * after it.
   */
  onClose(code: number, reason: Buffer, payload: Buffer): void;
  /** The peer broke the protocol or a limit. Nothing is parsed after it. */
  onError(error: ProtocolError): void;
}

/** Parser settings; all limits are per connection. */
export interface FrameParserOptions {
  /** Server role: frames must be masked. Client role: frames must not be (RFC 6455 §5.1). */
  isServer: boolean;
  /** Largest message in bytes (announced, summed over fragments and inflated); 0 = no limit. */
  maxPayload: number;
  /** Most frames one data message may span; empty fragments count. 0 = no limit. */
  maxFragments: number;
  /** Skip UTF-8 validation of text messages (trusted peers only). */
  skipUTF8Validation: boolean;
  /** The negotiated permessage-deflate inflater, or null: RSV1 is then a protocol error. */
  inflater: MessageInflater | null;
}

/** Default cap on frames per message: far above Autobahn 9.x (65,536) and any real sender. */
export const DEFAULT_MAX_FRAGMENTS = 131_072;

/** 2^53 − 1: larger 64-bit lengths cannot be represented exactly by a JavaScript number. */
const MAX_SAFE_LENGTH = Number.MAX_SAFE_INTEGER;
/** First allocation for a fragmented message. */
const INITIAL_CAPACITY = 16 * 1024;
/** Pieces of a split payload at least this big are kept by reference; smaller ones are copied. */
const SMALL_PIECE = 4 * 1024;
/** Largest size of the buffer small pieces are coalesced into. */
const TAIL_SIZE = 16 * 1024;
/**
 * A split payload gets its own buffer of its exact size at once when it is at most TAIL_SIZE, and
 * otherwise once 1/BODY_RESERVE_RATIO of it has arrived; from then on each piece is unmasked into
 * it as it arrives. Why: the piece was just written by the kernel and is still in cache, where a
 * join at the end reads every piece back from memory (1 MiB frames in 64 KiB reads: about 1.5×
 * the frames per second). The ratio bounds what a peer can make the parser reserve: 4× the bytes
 * it has sent plus at most TAIL_SIZE, never beyond the announced length, itself at most
 * `maxPayload`.
 */
const BODY_RESERVE_RATIO = 4;
/** The largest Buffer this Node.js can allocate: no longer message could ever be delivered. */
const MAX_BUFFER_LENGTH = bufferConstants.MAX_LENGTH;

const EMPTY = Buffer.alloc(0);

/** The largest staging tail kept for the next large frame (that of a 4 MiB frame). */
const SPARE_STAGING_MAX = 1024 * 1024;
/**
 * One staging tail (see `stagePiece`), kept process-wide between frames: once a large frame's body
 * is reserved its tail is free, and the next large frame of any connection takes it instead of
 * allocating a quarter of its size again (1 MiB messages in 64 KiB reads: 256 KiB less fresh
 * memory per message, whose first touch costs page faults). At most SPARE_STAGING_MAX bytes.
 */
let spareStaging: Buffer | null = null;

enum State {
  Header,
  Payload,
  Inflating,
  Done,
}

/** See the module comment. One instance per connection. */
export class FrameParser {
  private readonly events: FrameParserEvents;
  private readonly isServer: boolean;
  private readonly maxPayload: number;
  private readonly maxFragments: number;
  private readonly skipUTF8Validation: boolean;
  private readonly inflater: MessageInflater | null;

  private state = State.Header;
  private paused = false;
  private running = false;
  /** An inflated message waiting to be delivered by `run` (which honours pause and throws). */
  private inflated: Buffer | null = null;

  /** The chunk being parsed and the position in it. */
  private chunk: Buffer = EMPTY;
  private pos = 0;
  /** `chunk` is lent for the length of one {@link push} call: whatever is kept of it is copied. */
  private borrowed = false;
  // This list and the buffers below are allocated on first use: an idle connection should cost
  // little more than its TCP socket (10,000 idle connections are a normal load).

  /** Chunks that arrived while paused or inflating. */
  private queue: Buffer[] | null = null;

  /** A header split across chunks is gathered here (at most 14 bytes). */
  private headerBytes: Buffer | null = null;
  private headerHave = 0;

  // The frame being read.
  private fin = false;
  private opcode = 0;
  private masked = false;
  private maskKey: Uint8Array | null = null;
  private rotatedMaskKey: Uint8Array | null = null;
  private payloadLength = 0;
  /**
   * A payload split across chunks is gathered here until `body` is reserved (see
   * BODY_RESERVE_RATIO): large pieces by reference, small ones copied into `tail`, so retained
   * overhead is bounded by bytes received (1-byte chunks cost 1 byte each, not a Buffer object
   * each). Every byte ends up copied once into `body`, unmasked on the way.
   */
  private pieces: Buffer[] | null = null;
  private tail: Buffer | null = null;
  private tailUsed = 0;
  /** The split payload's own buffer, at its exact size, once reserved. */
  private body: Buffer | null = null;
  /** Bytes of the split payload received so far (kept in pieces and tail, or in body). */
  private bodyHave = 0;

  // The data message being assembled from fragments (messageOpcode 0 = none in progress).
  private messageOpcode = 0;
  private messageCompressed = false;
  private fragments = 0;
  /** Bytes of the message so far, as received on the wire (compressed or not). */
  private messageLength = 0;
  private message: Buffer | null = null;
  private utf8: Utf8Validator | null = null;

  /**
   * @param options - role and limits
   * @param events - where parsed messages and errors go
   */
  constructor(options: FrameParserOptions, events: FrameParserEvents) {
    this.events = events;
    this.isServer = options.isServer;
    this.maxPayload = options.maxPayload;
    this.maxFragments = options.maxFragments;
    this.skipUTF8Validation = options.skipUTF8Validation;
    this.inflater = options.inflater;
  }

  /** True once the peer's close frame or a protocol error ended parsing. */
  get finished(): boolean {
    return this.state === State.Done;
  }

  /** True while parsing waits for {@link resume} or for the inflater: more input only queues. */
  get blocked(): boolean {
    return this.paused || this.state === State.Inflating;
  }

  /** Bytes received but not yet parsed (queued while blocked). */
  get queuedBytes(): number {
    let total = this.chunk.length - this.pos;
    if (this.queue !== null) for (const chunk of this.queue) total += chunk.length;
    return total;
  }

  /**
   * Feeds received bytes. Events fire synchronously unless the parser is blocked.
   * @param borrowed - `chunk` will be overwritten once this call returns (a shared read buffer):
   *   the parser copies whatever it keeps or delivers of it
   */
  push(chunk: Buffer, borrowed = false): void {
    if (this.state === State.Done || chunk.length === 0) return;
    if (borrowed && this.startsWithWholeFrame(chunk)) {
      // It starts with a whole frame (small frames, usually several): one copy of the chunk costs
      // less than a copy and an allocation per frame, and payloads can be views of it again.
      chunk = Buffer.from(chunk);
      borrowed = false;
    }
    // Anything still unparsed (the current chunk or queued ones) goes first. A lent chunk pushed
    // from inside an event handler is queued too: the loop would read it after this call returns.
    if (
      this.pos < this.chunk.length ||
      (this.queue !== null && this.queue.length > 0) ||
      (borrowed && this.running)
    ) {
      (this.queue ??= []).push(borrowed ? Buffer.from(chunk) : chunk);
      if (!this.running) this.run();
      return;
    }
    this.chunk = chunk;
    this.pos = 0;
    this.borrowed = borrowed;
    if (this.running) return;
    if (!borrowed) return this.run();
    try {
      this.run();
    } finally {
      // Blocked (paused, inflating) or a handler threw partway: keep a copy of the rest.
      if (this.borrowed) {
        this.borrowed = false;
        if (this.chunk === chunk && this.pos < chunk.length) {
          this.chunk = Buffer.from(chunk.subarray(this.pos));
          this.pos = 0;
        }
      }
    }
  }

  /** True when `chunk` begins with a frame header, and that whole frame is in `chunk`. */
  private startsWithWholeFrame(chunk: Buffer): boolean {
    if (this.state !== State.Header || this.headerHave !== 0 || chunk.length < 2) return false;
    const size = headerSize(chunk[1]!);
    if (chunk.length < size) return false;
    let length = chunk[1]! & 0x7f;
    if (length === 126) length = chunk.readUInt16BE(2);
    else if (length === 127) return false; // 64 KiB or more: never a small frame
    return size + length <= chunk.length;
  }

  /** Stops emitting events after the current one; input keeps queueing. */
  pause(): void {
    this.paused = true;
  }

  /** Continues parsing queued input. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.running) this.run();
  }

  /** Ends parsing for good (the connection is closing): queued input is dropped. */
  stop(): void {
    this.state = State.Done;
    this.releaseInput();
  }

  private releaseInput(): void {
    this.chunk = EMPTY;
    this.pos = 0;
    this.queue = null;
    this.pieces = null;
    this.tail = null;
    this.body = null;
    this.message = null;
    this.inflated = null;
  }

  /**
   * The parse loop. The position is stored before every event, so if a handler throws, the
   * exception reaches the caller (as ws does: errors in user handlers are not swallowed) and the
   * rest of the input is parsed on a microtask, never twice and never lost.
   */
  private run(): void {
    this.running = true;
    let completed = false;
    try {
      while (this.state !== State.Done && !this.paused && this.state !== State.Inflating) {
        if (this.inflated !== null) {
          const message = this.inflated;
          this.inflated = null;
          this.deliver(message, true);
          continue;
        }
        if (this.pos >= this.chunk.length) {
          const next = this.queue?.shift();
          if (next === undefined) {
            this.chunk = EMPTY;
            this.pos = 0;
            break;
          }
          this.chunk = next;
          this.pos = 0;
          this.borrowed = false;
        }
        if (this.state === State.Header) this.readHeader();
        else this.readPayload();
      }
      completed = true;
    } finally {
      this.running = false;
      if (!completed) queueMicrotask(() => this.continueAfterThrow());
    }
  }

  private continueAfterThrow(): void {
    if (!this.running && !this.blocked && this.state !== State.Done) this.run();
  }

  private fail(code: FailureCloseCode, errorCode: ProtocolError["code"], message: string): void {
    this.state = State.Done;
    this.releaseInput();
    this.events.onError(new ProtocolError(errorCode, code, message));
  }

  private failRsv1(): void {
    this.fail(1002, ErrorCodes.UNEXPECTED_RSV_1, "Invalid WebSocket frame: RSV1 must be clear");
  }

  private failOpcode(opcode: number): void {
    this.fail(1002, ErrorCodes.INVALID_OPCODE, `Invalid WebSocket frame: invalid opcode ${opcode}`);
  }

  private readHeader(): void {
    const chunk = this.chunk;
    const available = chunk.length - this.pos;
    if (this.headerHave === 0 && available >= 2) {
      const size = headerSize(chunk[this.pos + 1]!);
      if (available >= size) {
        const start = this.pos;
        this.pos += size;
        this.parseHeader(chunk, start);
        return;
      }
    }
    // The header is split across chunks: gather it byte by byte (it is at most 14 bytes).
    const scratch = (this.headerBytes ??= Buffer.allocUnsafe(14));
    while (this.pos < chunk.length) {
      scratch[this.headerHave++] = chunk[this.pos++]!;
      if (this.headerHave >= 2 && this.headerHave === headerSize(scratch[1]!)) {
        this.headerHave = 0;
        this.parseHeader(scratch, 0);
        return;
      }
    }
  }

  /** Validates a complete header (RFC 6455 §5.2) and moves to reading its payload. */
  private parseHeader(src: Buffer, at: number): void {
    const b0 = src[at]!;
    const b1 = src[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;

    if ((b0 & 0x30) !== 0) {
      return this.fail(
        1002,
        ErrorCodes.UNEXPECTED_RSV_2_3,
        "Invalid WebSocket frame: RSV2 and RSV3 must be clear",
      );
    }
    if (opcode >= 0x8) {
      if (opcode > 0xa) {
        return this.failOpcode(opcode);
      }
      if (!fin) {
        return this.fail(1002, ErrorCodes.EXPECTED_FIN, "Invalid WebSocket frame: FIN must be set");
      }
      if (length > 125) {
        return this.fail(
          1002,
          ErrorCodes.INVALID_CONTROL_PAYLOAD_LENGTH,
          `Invalid WebSocket frame: invalid payload length ${length}`,
        );
      }
      if (rsv1) {
        return this.failRsv1();
      }
    } else {
      if (opcode > 0x2) {
        return this.failOpcode(opcode);
      }
      if (opcode === Opcode.CONTINUATION) {
        if (this.messageOpcode === 0) {
          return this.fail(
            1002,
            ErrorCodes.UNEXPECTED_CONTINUATION,
            "Invalid WebSocket frame: continuation frame with no message in progress",
          );
        }
        // RFC 7692 §6.1: RSV1 is only set on the first frame of a compressed message.
        if (rsv1) {
          return this.failRsv1();
        }
      } else {
        if (this.messageOpcode !== 0) {
          return this.fail(
            1002,
            ErrorCodes.EXPECTED_CONTINUATION,
            "Invalid WebSocket frame: expected a continuation frame",
          );
        }
        if (rsv1 && this.inflater === null) {
          return this.failRsv1();
        }
      }
    }
    if (masked !== this.isServer) {
      return this.isServer
        ? this.fail(1002, ErrorCodes.EXPECTED_MASK, "Invalid WebSocket frame: MASK must be set")
        : this.fail(
            1002,
            ErrorCodes.UNEXPECTED_MASK,
            "Invalid WebSocket frame: MASK must be clear",
          );
    }

    let next = at + 2;
    if (length === 126) {
      length = (src[next]! << 8) | src[next + 1]!;
      next += 2;
    } else if (length === 127) {
      const high = src.readUInt32BE(next);
      // RFC 6455 §5.2: "the most significant bit MUST be 0".
      if (high >= 0x80000000) {
        return this.fail(
          1002,
          ErrorCodes.INVALID_PAYLOAD_LENGTH,
          "Invalid WebSocket frame: the most significant bit of a 64-bit length must be 0",
        );
      }
      length = high * 0x100000000 + src.readUInt32BE(next + 4);
      next += 8;
      if (length > MAX_SAFE_LENGTH) {
        return this.fail(
          1009,
          ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH,
          "Unsupported WebSocket frame: payload length > 2^53 - 1",
        );
      }
    }
    if (opcode < 0x8) {
      // Checked on the announced length, before a byte of the body is buffered.
      const total = this.messageLength + length;
      if (this.maxPayload > 0 && total > this.maxPayload) {
        return this.fail(1009, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, "Max payload size exceeded");
      }
      if (total > MAX_BUFFER_LENGTH) {
        // Only reachable with maxPayload 0 (no limit): no Buffer could hold the message.
        return this.fail(
          1009,
          ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH,
          "Unsupported WebSocket message: larger than the largest Buffer Node.js can allocate",
        );
      }
      if (this.maxFragments > 0 && (!fin || opcode === Opcode.CONTINUATION)) {
        if (++this.fragments > this.maxFragments) {
          return this.fail(
            1008,
            ErrorCodes.TOO_MANY_FRAGMENTS,
            "Too many fragments in one message",
          );
        }
      }
      this.messageLength = total;
      if (opcode !== Opcode.CONTINUATION) {
        this.messageOpcode = opcode;
        this.messageCompressed = rsv1;
      }
    }
    if (masked) {
      const key = (this.maskKey ??= new Uint8Array(4));
      key[0] = src[next]!;
      key[1] = src[next + 1]!;
      key[2] = src[next + 2]!;
      key[3] = src[next + 3]!;
    }
    this.fin = fin;
    this.opcode = opcode;
    this.masked = masked;
    this.payloadLength = length;
    this.state = State.Payload;
    if (length === 0) this.frameComplete(EMPTY);
  }

  private readPayload(): void {
    const chunk = this.chunk;
    const available = chunk.length - this.pos;
    const needed = this.payloadLength - this.bodyHave;
    if (this.bodyHave === 0 && available >= needed) {
      // Fast path: the whole payload is in this chunk; deliver a view of it (or, of a lent
      // chunk, a copy, unmasked on the way).
      let payload = chunk.subarray(this.pos, this.pos + needed);
      this.pos += needed;
      if (this.borrowed) payload = this.ownedCopy(payload);
      this.frameComplete(payload);
      return;
    }
    // Slow path: the payload is split across chunks. Text we validate is unmasked and checked
    // piece by piece as it arrives, so invalid UTF-8 fails on the chunk that carries it, not when
    // the frame ends (RFC 6455 §8.1; Autobahn 6.4.3/6.4.4 send a frame in chops and wait in
    // between). Anything else is unmasked as it is copied into the body.
    const take = Math.min(available, needed);
    const piece = chunk.subarray(this.pos, this.pos + take);
    this.pos += take;
    const checksText = this.validatesText();
    if (checksText) {
      if (this.masked) unmask(piece, this.rotatedKey(this.bodyHave));
      if (!(this.utf8 ??= new Utf8Validator()).push(piece)) {
        return this.fail(1007, ErrorCodes.INVALID_UTF8, "Invalid UTF-8 sequence");
      }
    }
    const unmaskNow = this.masked && !checksText;
    let body = this.body;
    if (
      body === null &&
      (this.payloadLength <= TAIL_SIZE ||
        (this.bodyHave + take) * BODY_RESERVE_RATIO >= this.payloadLength)
    ) {
      body = this.reserveBody(unmaskNow);
    }
    if (body === null) this.keepPiece(piece);
    else this.putPiece(piece, body, this.bodyHave, unmaskNow);
    this.bodyHave += take;
    if (this.bodyHave === this.payloadLength) {
      // body is set here: the last piece always reaches the reserve ratio.
      this.body = null;
      this.bodyHave = 0;
      this.frameComplete(body!, true);
    }
  }

  /** True while the frame being read is part of an uncompressed text message we validate. */
  private validatesText(): boolean {
    return (
      this.opcode < 0x8 &&
      this.messageOpcode === Opcode.TEXT &&
      !this.messageCompressed &&
      !this.skipUTF8Validation
    );
  }

  /** The masking key as it applies from payload byte `offset` on (key index offset mod 4). */
  private rotatedKey(offset: number): Uint8Array {
    const key = this.maskKey!;
    const shift = offset & 3;
    if (shift === 0) return key;
    const rotated = (this.rotatedMaskKey ??= new Uint8Array(4));
    for (let i = 0; i < 4; i++) rotated[i] = key[(i + shift) & 3]!;
    return rotated;
  }

  /**
   * A copy of a payload whole in a lent chunk (one that started inside an earlier frame), unmasked
   * on the way, so the frame counts as unmasked from here on.
   */
  private ownedCopy(payload: Buffer): Buffer {
    const copy = Buffer.allocUnsafe(payload.length);
    if (this.masked) {
      unmaskInto(payload, this.maskKey!, copy, 0);
      this.masked = false;
    } else copy.set(payload);
    return copy;
  }

  /** Retains part of a split payload: big pieces by reference, small ones coalesced. */
  private keepPiece(piece: Buffer): void {
    if (this.borrowed) return this.stagePiece(piece);
    if (piece.length >= SMALL_PIECE) {
      this.flushTail();
      (this.pieces ??= []).push(piece);
      return;
    }
    let tail = this.tail;
    if (tail === null || this.tailUsed + piece.length > tail.length) {
      this.flushTail();
      // No bigger than what can arrive before the body is reserved (payloads that get a tail are
      // above TAIL_SIZE, so a piece under SMALL_PIECE always fits).
      const size = Math.ceil(this.payloadLength / BODY_RESERVE_RATIO);
      tail = this.tail = Buffer.allocUnsafe(Math.min(size, TAIL_SIZE));
    }
    piece.copy(tail, this.tailUsed);
    this.tailUsed += piece.length;
  }

  /**
   * Retains part of a split payload from a lent chunk: every piece is copied, into a tail that
   * grows with what has arrived, to BODY_RESERVE_RATIO times it plus TAIL_SIZE (the slack lets the
   * first read's tail hold the whole quarter despite the frame header), and never beyond what can
   * arrive before the body is reserved. 1 MiB in 64 KiB reads: one 256 KiB tail.
   */
  private stagePiece(piece: Buffer): void {
    let tail = this.tail;
    const used = this.tailUsed;
    if (tail === null || used + piece.length > tail.length) {
      const arrived = this.bodyHave + piece.length;
      const size = Math.min(
        Math.ceil(this.payloadLength / BODY_RESERVE_RATIO),
        arrived * BODY_RESERVE_RATIO + TAIL_SIZE,
      );
      // Taking the spare allocates nothing (the process holds it anyway, at most
      // SPARE_STAGING_MAX), so what a peer can make the parser allocate keeps the same bound.
      const spare = spareStaging;
      let grown: Buffer;
      if (spare !== null && spare.length >= used + piece.length) {
        spareStaging = null;
        grown = spare;
      } else {
        grown = Buffer.allocUnsafe(size);
      }
      if (tail !== null) tail.copy(grown, 0, 0, used);
      this.tail = tail = grown;
    }
    piece.copy(tail, used);
    this.tailUsed = used + piece.length;
  }

  private flushTail(): void {
    if (this.tail !== null && this.tailUsed > 0) {
      (this.pieces ??= []).push(this.tail.subarray(0, this.tailUsed));
    }
    this.tail = null;
    this.tailUsed = 0;
  }

  /**
   * Gives the split payload its buffer and moves the pieces kept so far into it.
   * @param unmaskNow - the kept pieces are still masked: unmask them on the way
   */
  private reserveBody(unmaskNow: boolean): Buffer {
    const tail = this.tail;
    this.flushTail();
    const body = (this.body = Buffer.allocUnsafe(this.payloadLength));
    const pieces = this.pieces;
    if (pieces !== null) {
      let offset = 0;
      for (const piece of pieces) {
        this.putPiece(piece, body, offset, unmaskNow);
        offset += piece.length;
      }
      pieces.length = 0;
    }
    // Everything kept is in the body now: the tail can serve the next large frame (a larger
    // spare is kept; an ordinary tail, at most TAIL_SIZE, rarely is).
    if (tail !== null && tail.length <= SPARE_STAGING_MAX) {
      if (spareStaging === null || spareStaging.length < tail.length) spareStaging = tail;
    }
    return body;
  }

  /** Copies `piece` into `body` at `offset`, unmasking it on the way when it is still masked. */
  private putPiece(piece: Buffer, body: Buffer, offset: number, unmaskNow: boolean): void {
    if (unmaskNow) unmaskInto(piece, this.rotatedKey(offset), body, offset);
    else body.set(piece, offset);
  }

  /**
   * @param payload - the frame's payload
   * @param prepared - already unmasked, and already fed to the UTF-8 validator when it is text
   *   (a payload gathered from several chunks)
   */
  private frameComplete(payload: Buffer, prepared = false): void {
    this.state = State.Header;
    if (this.masked && !prepared && payload.length > 0) unmask(payload, this.maskKey!);
    const opcode = this.opcode;
    if (opcode >= 0x8) return this.controlFrame(opcode, payload);

    if (this.messageCompressed) {
      this.state = State.Inflating;
      const fin = this.fin;
      let sync = true;
      let called = false;
      this.inflater!.decompress(payload, fin, (error, result) => {
        if (called) return;
        called = true;
        if (this.state !== State.Inflating) return; // stopped meanwhile
        this.state = State.Header;
        if (error) {
          const protocolError =
            error instanceof ProtocolError
              ? error
              : new ProtocolError(ErrorCodes.INVALID_COMPRESSED_DATA, 1007, error.message);
          return this.fail(protocolError.closeCode, protocolError.code, protocolError.message);
        }
        // Delivered by the parse loop, so pause() and a throwing handler behave as for any
        // other message.
        if (fin) this.inflated = result ?? EMPTY;
        if (!sync && !this.running && !this.paused) this.run();
      });
      sync = false;
      return;
    }

    const validated = prepared && this.validatesText();
    if (this.fin && this.message === null) {
      // A single-frame message: validate and deliver the view as is.
      if (validated && !this.utf8!.end()) {
        return this.fail(1007, ErrorCodes.INVALID_UTF8, "Invalid UTF-8 sequence");
      }
      this.deliver(payload, !validated);
      return;
    }
    if (
      !validated &&
      this.messageOpcode === Opcode.TEXT &&
      !this.skipUTF8Validation &&
      !(this.utf8 ??= new Utf8Validator()).push(payload)
    ) {
      return this.fail(1007, ErrorCodes.INVALID_UTF8, "Invalid UTF-8 sequence");
    }
    this.appendToMessage(payload);
    if (this.fin) {
      if (this.messageOpcode === Opcode.TEXT && !this.skipUTF8Validation && !this.utf8!.end()) {
        return this.fail(1007, ErrorCodes.INVALID_UTF8, "Invalid UTF-8 sequence");
      }
      const message = this.message!.subarray(0, this.messageLength);
      this.deliver(message, false);
    }
  }

  private appendToMessage(payload: Buffer): void {
    const used = this.messageLength - payload.length;
    let message = this.message;
    if (message === null || message.length < this.messageLength) {
      const capacity = Math.max(this.messageLength, INITIAL_CAPACITY, (message?.length ?? 0) * 2);
      const grown = Buffer.allocUnsafe(
        this.maxPayload > 0
          ? Math.min(capacity, Math.max(this.maxPayload, this.messageLength))
          : capacity,
      );
      if (message !== null) message.copy(grown, 0, 0, used);
      this.message = message = grown;
    }
    payload.copy(message, used);
  }

  /** Hands a complete message to the app, after validating text when that is still needed. */
  private deliver(data: Buffer, validate: boolean): void {
    const isBinary = this.messageOpcode === Opcode.BINARY;
    this.messageOpcode = 0;
    this.messageCompressed = false;
    this.messageLength = 0;
    this.fragments = 0;
    this.message = null;
    this.utf8?.reset();
    if (validate && !isBinary && !this.skipUTF8Validation && !isValidUtf8(data)) {
      return this.fail(1007, ErrorCodes.INVALID_UTF8, "Invalid UTF-8 sequence");
    }
    this.events.onMessage(data, isBinary);
  }

  private controlFrame(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.PING) return this.events.onPing(payload);
    if (opcode === Opcode.PONG) return this.events.onPong(payload);
    let close: { code: number; reason: Buffer };
    try {
      close = decodeClosePayload(payload);
    } catch (error) {
      if (error instanceof ProtocolError)
        return this.fail(error.closeCode, error.code, error.message);
      throw error;
    }
    this.state = State.Done;
    this.releaseInput();
    this.events.onClose(close.code, close.reason, payload);
  }
}

/** Header size implied by the second header byte: 2, plus the extended length, plus the key. */
function headerSize(b1: number): number {
  const length = b1 & 0x7f;
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
