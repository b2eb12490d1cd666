/**
 * WebSocket masking (RFC 6455 §5.3): byte i of the payload is XORed with byte (i mod 4) of the key.
 *
 * Word-wise: the middle of the buffer is processed as 32-bit words through a `Int32Array` view,
 * 4 bytes per operation. A typed-array view needs a 4-byte aligned start, and Node's pooled
 * buffers often are not aligned, so the unaligned head is done byte by byte and the key is rotated
 * to match where the aligned part begins. Buffers below {@link WORD_THRESHOLD} use the plain loop:
 * creating the view costs more than it saves on small payloads.
 *
 * From {@link SIMD_THRESHOLD} bytes on, both functions use the WebAssembly SIMD kernel of
 * `simd-mask.ts` (over 20 GB/s against 3–4 GB/s for the word loop), falling back to the word loop
 * where WebAssembly SIMD is unavailable. Bytes that already lie in the kernel's memory (sockets
 * read into its spare page, see `node/shared-read.ts`) are XORed where they are.
 */
import { SIMD_BLOCK, SIMD_THRESHOLD, simdMasker } from "./simd-mask.js";

export { SIMD_THRESHOLD } from "./simd-mask.js";

/** Payloads shorter than this are masked byte by byte (measured: the view creation dominates). */
export const WORD_THRESHOLD = 64;

/** Whether the machine stores a 32-bit word's first byte lowest (true on x86 and ARM Linux). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The 4 key bytes starting at `offset` (mod 4), as the int32 a word read of them would give. */
function keyWord(key: Uint8Array, offset: number): number {
  if (LITTLE_ENDIAN) return keyWordLE(key, offset);
  return (
    (key[offset & 3]! << 24) |
    (key[(offset + 1) & 3]! << 16) |
    (key[(offset + 2) & 3]! << 8) |
    key[(offset + 3) & 3]!
  );
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
  if (length >= SIMD_THRESHOLD && simdXor(data, key, data, 0)) return;
  unmaskWords(data, key);
}

/**
 * The JavaScript word loop alone (what {@link unmask} falls back to without WebAssembly SIMD);
 * exported for the micro-benchmark. `data` must be at least 4 bytes long.
 * @param data - the payload, modified in place
 * @param key - the 4-byte masking key
 */
export function unmaskWords(data: Uint8Array, key: Uint8Array): void {
  const length = data.length;
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
 * @param target - the buffer to write into; must have room for `source.length` bytes at `offset`,
 *   and must not overlap `source` (the SIMD path works block by block)
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
  if (length >= SIMD_THRESHOLD && simdXor(source, key, target, offset)) return;
  target.set(source, offset);
  unmaskWords(target.subarray(offset, offset + length), key);
}

/**
 * Like {@link mask}, for a source that may be overwritten (received bytes): bytes that lie in the
 * SIMD kernel's own memory (the shared read buffer) are unmasked where they are, with no copy in,
 * and then copied once into `target`.
 * @param source - the masked bytes; left unmasked or untouched
 * @param key - the 4-byte masking key
 * @param target - where the unmasked bytes go; must not overlap `source`
 * @param offset - where in `target` they start
 */
export function unmaskInto(
  source: Uint8Array,
  key: Uint8Array,
  target: Uint8Array,
  offset: number,
): void {
  const simd = source.length >= SIMD_THRESHOLD ? simdMasker() : null;
  if (simd !== null && source.buffer === simd.memory.buffer) {
    // Already in the kernel's memory: XOR where it lies (whole 64-byte turns), then copy once.
    const length = source.length;
    const whole = length & ~63;
    simd.xor(source.byteOffset, whole, keyWordLE(key, 0));
    for (let i = whole; i < length; i++) source[i]! ^= key[i & 3]!;
    target.set(source, offset);
    return;
  }
  mask(source, key, target, offset);
}

/** Little-endian int32 of the key bytes from `offset` (WebAssembly memory is little-endian). */
function keyWordLE(key: Uint8Array, offset: number): number {
  return (
    key[offset & 3]! |
    (key[(offset + 1) & 3]! << 8) |
    (key[(offset + 2) & 3]! << 16) |
    (key[(offset + 3) & 3]! << 24)
  );
}

/**
 * `target[offset + i] = source[i] ^ key[i & 3]` through the SIMD kernel, one block at a time:
 * copy in, XOR, copy out. `source` and `target` may be the same bytes (in-place unmask). Returns
 * false, having done nothing, when the kernel is unavailable.
 */
function simdXor(source: Uint8Array, key: Uint8Array, target: Uint8Array, offset: number): boolean {
  const simd = simdMasker();
  if (simd === null) return false;
  const { memory, block, xor } = simd;
  const length = source.length;
  const keyWord = keyWordLE(key, 0);
  let done = 0;
  while (length - done >= 64) {
    // Blocks are multiples of 64 bytes, so the key phase is the same at every block start.
    const size = Math.min(length - done, SIMD_BLOCK) & ~63;
    memory.set(size === length ? source : source.subarray(done, done + size), 0);
    xor(0, size, keyWord);
    target.set(size === SIMD_BLOCK ? block : memory.subarray(0, size), offset + done);
    done += size;
  }
  for (; done < length; done++) target[offset + done] = source[done]! ^ key[done & 3]!;
  return true;
}
