/**
 * Frame serialisation (RFC 6455 §5.2): headers for every length class, client-role masking.
 *
 * Headers and payloads are kept apart so a large payload is never copied: the sender writes the
 * header and hands the payload to the socket as its own chunk. Small frames are written into a
 * caller-supplied buffer ({@link writeFrameHeader} + {@link mask}) so many can leave in one write.
 */
import { randomFillSync } from "node:crypto";
import { mask as maskInto } from "./mask.js";
import { isControlOpcode } from "./opcodes.js";

/** The largest payload a frame can describe with the 7-bit length form. */
const MAX_7BIT = 125;
/** The largest payload the 16-bit length form can describe. */
const MAX_16BIT = 0xffff;

/** Bytes a frame header takes for `payloadLength`, with 4 more for a masking key. */
export function frameHeaderLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength <= MAX_7BIT ? 2 : payloadLength <= MAX_16BIT ? 4 : 10;
  return masked ? base + 4 : base;
}

/** The fields of one frame header. */
export interface FrameHeaderFields {
  /** Final fragment of its message. */
  fin: boolean;
  /** RSV1: "this message is compressed" under permessage-deflate, first frame only. */
  rsv1: boolean;
  /** Frame opcode. */
  opcode: number;
  /** Payload length in bytes. */
  payloadLength: number;
  /** 4-byte masking key (client role), or null for an unmasked frame (server role). */
  maskKey: Uint8Array | null;
}

/**
 * Writes a frame header into `target` at `offset`, always in the shortest length form (RFC 6455
 * §5.2: "the minimal number of bytes MUST be used"). Returns the offset just past the header.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  frame: FrameHeaderFields,
): number {
  const firstByte = (frame.fin ? 0x80 : 0) | (frame.rsv1 ? 0x40 : 0) | frame.opcode;
  return writeHeaderBytes(target, offset, firstByte, frame.payloadLength, frame.maskKey);
}

/**
 * {@link writeFrameHeader} with the fields passed one by one, for the send path: no object per
 * frame. `firstByte` is FIN | RSV1 | opcode as it goes on the wire.
 */
export function writeHeaderBytes(
  target: Uint8Array,
  offset: number,
  firstByte: number,
  payloadLength: number,
  maskKey: Uint8Array | null,
): number {
  target[offset] = firstByte;
  const maskBit = maskKey === null ? 0 : 0x80;
  if (payloadLength <= MAX_7BIT) {
    target[offset + 1] = maskBit | payloadLength;
    offset += 2;
  } else if (payloadLength <= MAX_16BIT) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = payloadLength >>> 8;
    target[offset + 3] = payloadLength & 0xff;
    offset += 4;
  } else {
    target[offset + 1] = maskBit | 127;
    // Lengths are JavaScript numbers (< 2^53), so the top 32 bits come from a division.
    const high = Math.floor(payloadLength / 0x100000000);
    const low = payloadLength >>> 0;
    target[offset + 2] = high >>> 24;
    target[offset + 3] = (high >>> 16) & 0xff;
    target[offset + 4] = (high >>> 8) & 0xff;
    target[offset + 5] = high & 0xff;
    target[offset + 6] = low >>> 24;
    target[offset + 7] = (low >>> 16) & 0xff;
    target[offset + 8] = (low >>> 8) & 0xff;
    target[offset + 9] = low & 0xff;
    offset += 10;
  }
  if (maskKey !== null) {
    target[offset] = maskKey[0]!;
    target[offset + 1] = maskKey[1]!;
    target[offset + 2] = maskKey[2]!;
    target[offset + 3] = maskKey[3]!;
    offset += 4;
  }
  return offset;
}

/**
 * Masking keys from a pooled CSPRNG buffer (RFC 6455 §5.3, §10.3: keys must be unpredictable).
 * One `randomFillSync` call serves 2,048 frames instead of one syscall per frame.
 */
export class MaskKeySource {
  private readonly pool = Buffer.alloc(8192);
  private offset = this.pool.length;

  /** The next 4-byte key. The view is only valid until the pool refills: copy it out at once. */
  next(): Uint8Array {
    if (this.offset === this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const key = this.pool.subarray(this.offset, this.offset + 4);
    this.offset += 4;
    return key;
  }
}

/** The process-wide key source used by clients. */
export const maskKeys = new MaskKeySource();

/** Options for {@link encodeFrame}. */
export interface EncodeFrameOptions {
  /** Final fragment (default true). */
  fin?: boolean;
  /** Set RSV1 (default false). */
  rsv1?: boolean;
  /** Mask the payload with a fresh key (client role; default false). */
  mask?: boolean;
}

/**
 * A whole frame in one new buffer: header, then the payload (masked when asked). For control
 * frames and tests; the socket's sender batches frames into its own buffer instead.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: EncodeFrameOptions = {},
): Buffer {
  const masked = options.mask === true;
  if (isControlOpcode(opcode) && payload.length > MAX_7BIT) {
    throw new RangeError("A control frame payload must not be greater than 125 bytes");
  }
  const out = Buffer.allocUnsafe(frameHeaderLength(payload.length, masked) + payload.length);
  const key = masked ? maskKeys.next() : null;
  const offset = writeFrameHeader(out, 0, {
    fin: options.fin !== false,
    rsv1: options.rsv1 === true,
    opcode,
    payloadLength: payload.length,
    maskKey: key,
  });
  if (key === null) out.set(payload, offset);
  else maskInto(payload, key, out, offset);
  return out;
}
