/**
 * Frame forger: builds WebSocket frames (RFC 6455 §5.2) from explicit fields, including frames no
 * conforming peer would send, and writes bytes to a socket split at chosen points.
 *
 * Nothing here validates its input against the RFC on purpose: the point is to send the library
 * exactly the bytes a hostile or broken peer would. It only refuses values that cannot be encoded
 * at all (an opcode over 15, a length that does not fit the chosen length field).
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

/** The opcodes RFC 6455 §5.2 defines; any other value 0–15 is reserved. */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Which length field a frame header uses: the 7-bit field alone, or 126 + 16 bits, or 127 + 64 bits. */
export type LengthEncoding = 7 | 16 | 64;

/** Every field of one frame, each overridable. */
export interface FrameSpec {
  /** 0–15; reserved values are allowed. */
  opcode: number;
  /** Application data, sent as is (strings as UTF-8). Default: empty. */
  payload?: Uint8Array | string;
  /** FIN bit. Default: true. */
  fin?: boolean;
  /** RSV1 bit. Default: false. */
  rsv1?: boolean;
  /** RSV2 bit. Default: false. */
  rsv2?: boolean;
  /** RSV3 bit. Default: false. */
  rsv3?: boolean;
  /** MASK bit; when set, a 4-byte masking key follows the length and the payload is masked. Default: false. */
  mask?: boolean;
  /** Masking key to use when `mask` is set (exactly 4 bytes). Default: 4 random bytes. */
  maskingKey?: Uint8Array;
  /**
   * Length field to use. Default: the minimal one for `announcedLength` (RFC 6455 §5.2). Choosing a
   * wider one gives a non-minimal encoding; with `7` and an announced length of 126 or 127 the
   * header claims an extended length that is then missing.
   */
  lengthEncoding?: LengthEncoding;
  /**
   * The number written in the length field. Default: the payload's byte length. Set it to lie about
   * the payload (more or fewer bytes than are sent) or to an out-of-range 64-bit value such as
   * `0x8000000000000000n` (most significant bit set, forbidden by RFC 6455 §5.2).
   */
  announcedLength?: number | bigint;
}

/** Converts a string (UTF-8) or byte array into a Buffer without copying byte arrays. */
export function toBytes(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** XORs `payload` with the 4-byte `key` (RFC 6455 §5.3) into a new buffer. Masking is its own inverse. */
export function maskBytes(payload: Uint8Array, key: Uint8Array): Buffer {
  if (key.length !== 4) throw new RangeError(`masking key must be 4 bytes, got ${key.length}`);
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = (payload[i] ?? 0) ^ (key[i & 3] ?? 0);
  return out;
}

function minimalEncoding(length: bigint): LengthEncoding {
  if (length <= 125n) return 7;
  if (length <= 0xffffn) return 16;
  return 64;
}

/** Builds one frame exactly as specified. */
export function forgeFrame(spec: FrameSpec): Buffer {
  const { opcode } = spec;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 15) {
    throw new RangeError(`opcode must be an integer 0-15, got ${opcode}`);
  }
  const payload = toBytes(spec.payload);
  const announced = BigInt(spec.announcedLength ?? payload.length);
  if (announced < 0n || announced > 0xffffffffffffffffn) {
    throw new RangeError(`announced length ${announced} does not fit 64 bits`);
  }
  const encoding = spec.lengthEncoding ?? minimalEncoding(announced);
  const masked = spec.mask ?? false;
  const key = masked ? toBytes(spec.maskingKey ?? randomBytes(4)) : undefined;
  if (key !== undefined && key.length !== 4) {
    throw new RangeError(`masking key must be 4 bytes, got ${key.length}`);
  }

  const header: number[] = [
    ((spec.fin ?? true) ? 0x80 : 0) |
      (spec.rsv1 ? 0x40 : 0) |
      (spec.rsv2 ? 0x20 : 0) |
      (spec.rsv3 ? 0x10 : 0) |
      opcode,
  ];
  const maskBit = masked ? 0x80 : 0;
  if (encoding === 7) {
    // 126 and 127 are allowed here on purpose: they forge a header whose extended length is absent.
    if (announced > 127n) throw new RangeError(`length ${announced} does not fit the 7-bit field`);
    header.push(maskBit | Number(announced));
  } else if (encoding === 16) {
    if (announced > 0xffffn) throw new RangeError(`length ${announced} does not fit 16 bits`);
    const n = Number(announced);
    header.push(maskBit | 126, n >>> 8, n & 0xff);
  } else {
    header.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n)
      header.push(Number((announced >> shift) & 0xffn));
  }
  const parts: Buffer[] = [Buffer.from(header)];
  if (key !== undefined) {
    parts.push(Buffer.from(key));
    parts.push(maskBytes(payload, key));
  } else {
    parts.push(payload);
  }
  return Buffer.concat(parts);
}

/** Field overrides for the shorthand builders (everything but opcode and payload). */
export type FrameOptions = Omit<FrameSpec, "opcode" | "payload">;

/** A text frame (opcode 0x1); the payload is not checked for valid UTF-8. */
export function textFrame(payload: Uint8Array | string, options: FrameOptions = {}): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.TEXT, payload });
}

/** A binary frame (opcode 0x2). */
export function binaryFrame(payload: Uint8Array | string, options: FrameOptions = {}): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.BINARY, payload });
}

/** A continuation frame (opcode 0x0). */
export function continuationFrame(
  payload: Uint8Array | string,
  options: FrameOptions = {},
): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.CONTINUATION, payload });
}

/** A ping frame (opcode 0x9). */
export function pingFrame(payload: Uint8Array | string = "", options: FrameOptions = {}): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.PING, payload });
}

/** A pong frame (opcode 0xA). */
export function pongFrame(payload: Uint8Array | string = "", options: FrameOptions = {}): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.PONG, payload });
}

/**
 * A close payload: the code as 16-bit big-endian (any 0–65535, so invalid codes can be sent)
 * followed by the reason bytes (not checked for UTF-8). No code gives an empty payload.
 */
export function closePayload(code?: number, reason: Uint8Array | string = ""): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) {
    throw new RangeError(`close code must fit 16 bits, got ${code}`);
  }
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, toBytes(reason)]);
}

/** A close frame (opcode 0x8) carrying `code` and `reason`; no code gives an empty close frame. */
export function closeFrame(
  code?: number,
  reason: Uint8Array | string = "",
  options: FrameOptions = {},
): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.CLOSE, payload: closePayload(code, reason) });
}

/** A close frame with an arbitrary payload (e.g. a single byte, RFC 6455 §5.5.1 forbids it). */
export function rawCloseFrame(payload: Uint8Array | string, options: FrameOptions = {}): Buffer {
  return forgeFrame({ ...options, opcode: Opcode.CLOSE, payload });
}

/**
 * Splits one message into frames: the first carries `opcode`, the rest are continuations, only the
 * last has FIN. `cuts` are byte offsets into `payload` (ascending). `options` apply to every frame
 * (mask, rsv bits, …) except `fin`; `firstOptions` apply on top for the first frame only (e.g. RSV1
 * for a compressed message).
 */
export function fragmentMessage(
  opcode: number,
  payload: Uint8Array | string,
  cuts: readonly number[],
  options: FrameOptions = {},
  firstOptions: FrameOptions = {},
): Buffer[] {
  const pieces = splitAt(toBytes(payload), cuts);
  return pieces.map((piece, i) =>
    forgeFrame({
      ...options,
      ...(i === 0 ? firstOptions : {}),
      opcode: i === 0 ? opcode : Opcode.CONTINUATION,
      payload: piece,
      fin: i === pieces.length - 1,
    }),
  );
}

/** Cuts `bytes` at the given ascending offsets (0 < offset < length); returns the pieces. */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const buf = toBytes(bytes);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    if (cut < start || cut > buf.length) throw new RangeError(`bad cut ${cut} (from ${start})`);
    pieces.push(buf.subarray(start, cut));
    start = cut;
  }
  pieces.push(buf.subarray(start));
  return pieces;
}

/** Anything bytes can be written to; a `net.Socket` in practice. */
export type ByteSink = Pick<Socket, "write" | "destroyed">;

/**
 * Writes `bytes` in pieces cut at `cuts`, pausing `delayMs` between pieces. The pause (with
 * `setNoDelay` on the socket, which the raw peers set) is what makes the pieces arrive in separate
 * reads on loopback; without it the kernel would usually coalesce them.
 */
export async function writeSplit(
  sink: ByteSink,
  bytes: Uint8Array,
  cuts: readonly number[],
  delayMs = 5,
): Promise<void> {
  const pieces = splitAt(bytes, cuts);
  for (let i = 0; i < pieces.length; i++) {
    if (sink.destroyed) return;
    const piece = pieces[i];
    if (piece !== undefined && piece.length > 0) sink.write(piece);
    if (i < pieces.length - 1) await delay(delayMs);
  }
}

/** Writes `bytes` one byte at a time, `delayMs` apart (the slowest possible peer). */
export async function writeByteByByte(
  sink: ByteSink,
  bytes: Uint8Array,
  delayMs = 1,
): Promise<void> {
  const cuts: number[] = [];
  for (let i = 1; i < bytes.length; i++) cuts.push(i);
  await writeSplit(sink, bytes, cuts, delayMs);
}
