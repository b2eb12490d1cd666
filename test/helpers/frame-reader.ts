/**
 * Close-frame reader: an incremental parser for the frames the library under test sends back, so a
 * test can assert on the exact frames (and close code) it received and on whether TCP was closed.
 *
 * It accepts masked and unmasked frames (it reads both roles' output) and reports what it saw
 * without judging it; assertions belong to the tests. It is deliberately simple (it concatenates
 * buffers) because it only ever reads a few frames per test.
 */
import type { Socket } from "node:net";
import { maskBytes } from "./frame-forger.js";

/** One frame as it arrived, payload already unmasked. */
export interface ParsedFrame {
  /** FIN bit. */
  fin: boolean;
  /** RSV1 bit. */
  rsv1: boolean;
  /** RSV2 bit. */
  rsv2: boolean;
  /** RSV3 bit. */
  rsv3: boolean;
  /** Opcode 0–15. */
  opcode: number;
  /** MASK bit. */
  masked: boolean;
  /** The 4-byte masking key when `masked`, else null. */
  maskingKey: Buffer | null;
  /** Payload bytes, unmasked. */
  payload: Buffer;
  /** Which length field the sender used (to check minimal encoding, RFC 6455 §5.2). */
  lengthEncoding: 7 | 16 | 64;
  /** The frame's bytes exactly as received (header, key, masked payload). */
  raw: Buffer;
}

/** A close frame's content (RFC 6455 §5.5.1). */
export interface CloseInfo {
  /** Status code, or null when the close frame had an empty payload. */
  code: number | null;
  /** Reason decoded as UTF-8 (strictly: invalid UTF-8 is an error). */
  reason: string;
  /** Reason bytes as received. */
  reasonBytes: Buffer;
  /** The close frame itself. */
  frame: ParsedFrame;
}

/** How the peer ended TCP: a FIN (`end`), a reset, or a close without either seen first. */
export type TcpEnd = "end" | "reset" | "close";

/** Options for {@link FrameReader.expectClose}. */
export interface ExpectCloseOptions {
  /**
   * When true, data/ping/pong frames before the close frame are skipped (kept in
   * {@link FrameReader.skipped}). Default false: any other frame makes `expectClose` reject, because
   * a conforming library sends nothing else when failing a connection.
   */
  skipOtherFrames?: boolean;
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

type Waiter = () => void;

/** Incremental parser of a peer's frames, fed either by hand ({@link push}) or by a socket. */
export class FrameReader {
  /** Frames parsed and not yet taken by {@link nextFrame}. */
  readonly queue: ParsedFrame[] = [];
  /** Frames that {@link expectClose} skipped over. */
  readonly skipped: ParsedFrame[] = [];
  /** Every byte fed so far (for debugging failed tests and for non-frame responses). */
  totalBytes = 0;
  /** Set when the byte stream could not be parsed as frames; parsing stops there. */
  parseError: Error | null = null;
  /** Set once the socket ended or closed. */
  tcpEnd: TcpEnd | null = null;

  private pending: Buffer = Buffer.alloc(0);
  private waiters: Waiter[] = [];

  /**
   * @param socket - when given, the reader listens to its `data`/`end`/`close`/`error` events
   * @param initial - bytes that arrived before the reader existed (e.g. after an HTTP head)
   */
  constructor(socket?: Socket, initial?: Buffer) {
    if (initial !== undefined && initial.length > 0) this.push(initial);
    if (socket !== undefined) this.attach(socket);
  }

  /** Starts reading from `socket` (its flowing data, end and close events). */
  attach(socket: Socket): void {
    socket.on("data", (chunk: Buffer) => this.push(chunk));
    socket.on("end", () => this.markEnded("end"));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET" || err.code === "EPIPE") this.markEnded("reset");
    });
    socket.on("close", () => this.markEnded("close"));
    if (socket.destroyed) this.markEnded("close");
  }

  /** Feeds bytes and parses every complete frame in them. */
  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    if (this.parseError !== null) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const frame = this.parseOne();
      if (frame === null) break;
      this.queue.push(frame);
    }
    this.wake();
  }

  /** Records that TCP ended; pending waits then fail instead of hanging until their timeout. */
  markEnded(how: TcpEnd): void {
    if (this.tcpEnd === null) this.tcpEnd = how;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private parseOne(): ParsedFrame | null {
    const buf = this.pending;
    if (buf.length < 2) return null;
    const b0 = buf[0] ?? 0;
    const b1 = buf[1] ?? 0;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let offset = 2;
    let lengthEncoding: 7 | 16 | 64 = 7;
    if (length === 126) {
      if (buf.length < 4) return null;
      length = buf.readUInt16BE(2);
      offset = 4;
      lengthEncoding = 16;
    } else if (length === 127) {
      if (buf.length < 10) return null;
      const big = buf.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.parseError = new Error(`peer announced an absurd frame length ${big}`);
        return null;
      }
      length = Number(big);
      offset = 10;
      lengthEncoding = 64;
    }
    let maskingKey: Buffer | null = null;
    if (masked) {
      if (buf.length < offset + 4) return null;
      maskingKey = Buffer.from(buf.subarray(offset, offset + 4));
      offset += 4;
    }
    if (buf.length < offset + length) return null;
    const body = buf.subarray(offset, offset + length);
    const raw = Buffer.from(buf.subarray(0, offset + length));
    this.pending = buf.subarray(offset + length);
    return {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      maskingKey,
      payload: maskingKey !== null ? maskBytes(body, maskingKey) : Buffer.from(body),
      lengthEncoding,
      raw,
    };
  }

  /** Bytes received but not (yet) forming a whole frame. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Waits until something changes (a frame, an end, a parse error) or the deadline passes. */
  private waitForChange(deadline: number): Promise<boolean> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, remaining);
      this.waiters.push(waiter);
    });
  }

  private describe(): string {
    return (
      `${this.totalBytes} byte(s) received, ${this.pending.length} pending, ` +
      `${this.queue.length} frame(s) queued, tcp ${this.tcpEnd ?? "open"}`
    );
  }

  /** Resolves with the next frame; rejects after `timeoutMs`, on a parse error or when TCP ended first. */
  async nextFrame(timeoutMs = 2000): Promise<ParsedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.queue.shift();
      if (frame !== undefined) return frame;
      if (this.parseError !== null) throw this.parseError;
      if (this.tcpEnd !== null) {
        throw new Error(
          `connection ended (${this.tcpEnd}) before a frame arrived; ${this.describe()}`,
        );
      }
      if (!(await this.waitForChange(deadline))) {
        throw new Error(`no frame within ${timeoutMs} ms; ${this.describe()}`);
      }
    }
  }

  /**
   * Resolves with the next close frame's code and reason. Rejects if another frame comes first
   * (unless `skipOtherFrames`), if the payload is 1 byte long or its reason is not UTF-8 (a library
   * must never send those), on timeout, or if TCP ends without a close frame.
   */
  async expectClose(timeoutMs = 2000, options: ExpectCloseOptions = {}): Promise<CloseInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (frame.opcode !== 0x8) {
        if (options.skipOtherFrames) {
          this.skipped.push(frame);
          continue;
        }
        throw new Error(
          `expected a close frame, got opcode 0x${frame.opcode.toString(16)} ` +
            `(${frame.payload.length} byte payload)`,
        );
      }
      if (frame.payload.length === 0) {
        return { code: null, reason: "", reasonBytes: Buffer.alloc(0), frame };
      }
      if (frame.payload.length === 1)
        throw new Error("peer sent a close frame with a 1-byte payload");
      const reasonBytes = frame.payload.subarray(2);
      return {
        code: frame.payload.readUInt16BE(0),
        reason: fatalUtf8.decode(reasonBytes),
        reasonBytes,
        frame,
      };
    }
  }

  /** Resolves if no frame arrives within `ms`; rejects with the frame otherwise. */
  async expectNoFrame(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = this.queue[0];
      if (frame !== undefined) {
        throw new Error(
          `expected no frame, got opcode 0x${frame.opcode.toString(16)} ` +
            `(${frame.payload.length} byte payload)`,
        );
      }
      if (this.parseError !== null) throw this.parseError;
      if (!(await this.waitForChange(deadline))) return;
      if (this.tcpEnd !== null && this.queue.length === 0) {
        // Nothing more can arrive; wait out the rest so callers get the pause they asked for.
        const rest = deadline - Date.now();
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
        return;
      }
    }
  }

  /**
   * Resolves when the peer has ended TCP (FIN, reset or close), with how; rejects after `timeoutMs`.
   * Frames still queued are left alone.
   */
  async waitForTcpEnd(timeoutMs = 2000): Promise<TcpEnd> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.tcpEnd !== null) return this.tcpEnd;
      if (!(await this.waitForChange(deadline))) {
        throw new Error(`TCP still open after ${timeoutMs} ms; ${this.describe()}`);
      }
    }
  }
}

/** Parses every complete frame in `bytes` (helper for unit checks on captured output). */
export function parseFrames(bytes: Buffer): ParsedFrame[] {
  const reader = new FrameReader(undefined, bytes);
  if (reader.parseError !== null) throw reader.parseError;
  return [...reader.queue];
}
