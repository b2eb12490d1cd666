/**
 * WebSocket masking (RFC 6455 §5.3): byte i of the payload is XORed with byte (i mod 4) of the key.
 *
 * Word-wise: the middle of the buffer is processed as 32-bit words through a `Int32Array` view,
 * 4 bytes per operation. A typed-array view needs a 4-byte aligned start, and Node's pooled
 * buffers often are not aligned, so the unaligned head is done byte by byte and the key is rotated
 * to match where the aligned part begins. Buffers below {@link WORD_THRESHOLD} use the plain loop:
 * creating the view costs more than it saves on small payloads.
 */

/** Payloads shorter than this are masked byte by byte (measured: the view creation dominates). */
export const WORD_THRESHOLD = 64;

/** Whether the machine stores a 32-bit word's first byte lowest (true on x86 and ARM Linux). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The 4 key bytes starting at `offset` (mod 4), as the int32 a word read of them would give. */
function keyWord(key: Uint8Array, offset: number): number {
  const b0 = key[offset & 3]!;
  const b1 = key[(offset + 1) & 3]!;
  const b2 = key[(offset + 2) & 3]!;
  const b3 = key[(offset + 3) & 3]!;
  return LITTLE_ENDIAN
    ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)
    : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
}

/**
 * XORs `data` in place with `key`; masking and unmasking are the same operation.
 * @param data - the payload, modified in place
 * @param key - the 4-byte masking key
 */
export function unmask(data: Uint8Array, key: Uint8Array): void {
  const length = data.length;
  if (length < WORD_THRESHOLD) {
    for (let i = 0; i < length; i++) data[i]! ^= key[i & 3]!;
    return;
  }
  let i = 0;
  const misalign = (4 - (data.byteOffset & 3)) & 3;
  for (; i < misalign; i++) data[i]! ^= key[i & 3]!;
  const words = (length - i) >>> 2;
  const view = new Int32Array(data.buffer, data.byteOffset + i, words);
  const word = keyWord(key, i);
  for (let w = 0; w < words; w++) view[w]! ^= word;
  for (i += words << 2; i < length; i++) data[i]! ^= key[i & 3]!;
}

/**
 * Writes `source` XOR `key` into `target` at `offset`, leaving `source` untouched (the client
 * masks the caller's buffer into the outgoing frame without a separate copy step).
 * @param source - the payload to mask
 * @param key - the 4-byte masking key
 * @param target - the buffer to write into; must have room for `source.length` bytes at `offset`
 * @param offset - where in `target` the masked payload starts
 */
export function mask(
  source: Uint8Array,
  key: Uint8Array,
  target: Uint8Array,
  offset: number,
): void {
  const length = source.length;
  if (length < WORD_THRESHOLD) {
    for (let i = 0; i < length; i++) target[offset + i] = source[i]! ^ key[i & 3]!;
    return;
  }
  target.set(source, offset);
  unmask(target.subarray(offset, offset + length), key);
}
