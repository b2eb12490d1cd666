/**
 * UTF-8 validation (RFC 3629), whole-message and incremental.
 *
 * Whole messages use Node's native `buffer.isUtf8` (simdutf underneath, many GB/s). Fragmented
 * text messages must fail at the fragment where the bad byte arrives (RFC 6455 §8.1 allows failing
 * as soon as the data is known to be invalid; Autobahn 6.4.x marks late detection NON-STRICT), so
 * {@link Utf8Validator} checks each fragment as it comes: the bulk of every fragment still goes
 * through `isUtf8`, and only a code point split across a fragment boundary is handled by hand.
 */
import { isUtf8 } from "node:buffer";

/** True when every byte of `data` forms valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
export function isValidUtf8(data: Uint8Array): boolean {
  return data.length === 0 || isUtf8(data);
}

/** Length of the sequence a lead byte starts, or 0 when the byte cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0; // 0x80–0xC1 (continuation or overlong lead) and 0xF5–0xFF
}

/**
 * True when `bytes[0..length)` is a proper prefix of some valid sequence. The second byte's range
 * depends on the lead (RFC 3629 §4): that is where overlongs, surrogates and code points above
 * U+10FFFF are caught, so a prefix like `F4 90` fails now instead of at the end of the message.
 */
function isValidPrefix(bytes: Uint8Array, length: number): boolean {
  const lead = bytes[0]!;
  if (sequenceLength(lead) === 0) return false;
  if (length < 2) return true;
  const second = bytes[1]!;
  let low = 0x80;
  let high = 0xbf;
  if (lead === 0xe0) low = 0xa0;
  else if (lead === 0xed) high = 0x9f;
  else if (lead === 0xf0) low = 0x90;
  else if (lead === 0xf4) high = 0x8f;
  if (second < low || second > high) return false;
  for (let i = 2; i < length; i++) {
    const b = bytes[i]!;
    if (b < 0x80 || b > 0xbf) return false;
  }
  return true;
}

/**
 * Validates a text message fragment by fragment. Feed every fragment to {@link push}; call
 * {@link end} after the last one. A false result means the message is invalid (close 1007).
 * Holds at most 3 bytes between fragments; allocation-free after construction.
 */
export class Utf8Validator {
  /** Bytes of a code point that started in an earlier fragment (at most 3). */
  private readonly pending = new Uint8Array(4);
  private pendingLength = 0;

  /** Forgets any partial code point: call before reusing the validator for a new message. */
  reset(): void {
    this.pendingLength = 0;
  }

  /** Checks one fragment; returns false as soon as the bytes so far cannot be valid UTF-8. */
  push(data: Uint8Array): boolean {
    let start = 0;
    const end = data.length;
    if (this.pendingLength > 0) {
      const need = sequenceLength(this.pending[0]!);
      while (this.pendingLength < need && start < end) {
        this.pending[this.pendingLength++] = data[start++]!;
      }
      if (!isValidPrefix(this.pending, this.pendingLength)) return false;
      if (this.pendingLength < need) return true; // the fragment was too short to finish it
      this.pendingLength = 0;
    }
    if (start === end) return true;
    // Find where an incomplete trailing sequence starts: look back at most 3 bytes for a lead.
    let tail = end;
    for (let i = end - 1; i >= start && i >= end - 3; i--) {
      const b = data[i]!;
      if (b < 0x80) break; // ASCII: nothing is pending
      if (b >= 0xc0) {
        // A lead byte: pending only when its sequence runs past the end of this fragment.
        const need = sequenceLength(b);
        if (need === 0) return false;
        if (i + need > end) tail = i;
        break;
      }
    }
    if (tail > start && !isUtf8(start === 0 && tail === end ? data : data.subarray(start, tail))) {
      return false;
    }
    const rest = end - tail;
    if (rest > 0) {
      for (let i = 0; i < rest; i++) this.pending[i] = data[tail + i]!;
      this.pendingLength = rest;
      if (!isValidPrefix(this.pending, rest)) return false;
    }
    return true;
  }

  /** True when the message ended on a code-point boundary (no truncated sequence). */
  end(): boolean {
    const complete = this.pendingLength === 0;
    this.pendingLength = 0;
    return complete;
  }
}
