/**
 * WebAssembly SIMD masking: XOR with the masking key, 16 bytes per instruction.
 *
 * Why: JavaScript has no wider XOR than 32 bits and V8 does not vectorise typed-array loops, so
 * the word-wise loop in `mask.ts` peaks at about 3–4 GB/s, while ws's native `bufferutil` runs at
 * about 45 GB/s. At 1 MiB messages that gap was a third of the server's CPU. A 64-byte-per-turn
 * `v128.xor` loop runs at the same 45 GB/s; the payload has to be copied into the module's memory
 * and back (WebAssembly cannot see a Node Buffer), and with the two copies (memcpy, ~100 GB/s) the
 * whole operation still runs at over 20 GB/s. No native addon, no dependency: the module is the
 * 150 bytes below, assembled by hand.
 *
 * The module, in text form:
 * ```wat
 * (module
 *   (memory (export "m") 2)                         ;; 128 KiB: a block, and a spare page
 *   (func (export "x") (param $p i32) (param $n i32) (param $key i32)
 *     (local $k v128) (local $end i32)
 *     (local.set $k (i32x4.splat (local.get $key)))
 *     (local.set $end (i32.add (local.get $p) (local.get $n)))
 *     (block (loop                                  ;; $n is a multiple of 64
 *       (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
 *       (v128.store offset=0  (local.get $p) (v128.xor (v128.load offset=0  (local.get $p)) (local.get $k)))
 *       (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $k)))
 *       (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $k)))
 *       (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $k)))
 *       (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *       (br 0)))))
 * ```
 * Engines without WebAssembly SIMD (or with WebAssembly disabled) fail to compile it; callers
 * then keep the JavaScript loop.
 */

/** Bytes processed per copy-in / XOR / copy-out round: one 64 KiB page of the module's memory. */
export const SIMD_BLOCK = 64 * 1024;

/** Below this many bytes the JavaScript loop wins (measured: the copies and call cost more). */
export const SIMD_THRESHOLD = 512;

/** The XOR kernel and a view of the memory it works on. */
export interface SimdMasker {
  /** The module's memory; the kernel works on bytes [0, n). */
  readonly memory: Uint8Array;
  /** `memory[0, SIMD_BLOCK)`, kept so that full blocks need no new view. */
  readonly block: Uint8Array;
  /** `memory[SIMD_BLOCK, 2 × SIMD_BLOCK)`: free for a read buffer, unmasked where it lies. */
  readonly spare: Uint8Array;
  /** XORs memory[p, p + n) with the little-endian key word; n must be a multiple of 64. */
  readonly xor: (pointer: number, length: number, keyWord: number) => void;
}

const leb128 = (value: number): number[] => {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
};
const section = (id: number, bytes: number[]): number[] => [id, ...leb128(bytes.length), ...bytes];

/** One `v128.store offset=o (p, v128.xor(v128.load offset=o (p), k))`. */
// biome-ignore format: bytecode laid out one instruction per line
const xorLane = (offset: number): number[] => [
  0x20, 0x00, // local.get $p (store address)
  0x20, 0x00, // local.get $p (load address)
  0xfd, 0x00, 0x04, offset, // v128.load align=16 offset
  0x20, 0x03, // local.get $k
  0xfd, 0x51, // v128.xor
  0xfd, 0x0b, 0x04, offset, // v128.store align=16 offset
];

function moduleBytes(): Uint8Array {
  // biome-ignore format: bytecode laid out one instruction per line
  const body = [
    0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: one v128 ($k), one i32 ($end)
    0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, // $k = i32x4.splat($key)
    0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x04, // $end = $p + $n
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x00, 0x20, 0x04, 0x4f, 0x0d, 0x01, // br_if 1 ($p >= $end)
    ...xorLane(0),
    ...xorLane(16),
    ...xorLane(32),
    ...xorLane(48),
    0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // $p += 64
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br 0, end loop, end block, end func
  ];
  // biome-ignore format: one section per line
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]), // type: (i32 i32 i32) -> ()
    ...section(3, [0x01, 0x00]), // one function of type 0
    ...section(5, [0x01, 0x00, 0x02]), // one memory, 2 pages, no maximum
    ...section(7, [0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x78, 0x00, 0x00]), // export "m", "x"
    ...section(10, [0x01, ...leb128(body.length), ...body]),
  ]);
}

/** The part of the WebAssembly JS API used here (the project's type libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

let instance: SimdMasker | null | undefined;

/**
 * The SIMD kernel, compiled on first use (a few hundred microseconds, once per process), or null
 * where WebAssembly SIMD is unavailable or `SOCKETEER_NO_SIMD` is set (to measure the fallback).
 */
export function simdMasker(): SimdMasker | null {
  if (instance !== undefined) return instance;
  instance = null;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  if (env?.SOCKETEER_NO_SIMD) return instance;
  try {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (api === undefined) return instance;
    const wasm = new api.Instance(new api.Module(moduleBytes()));
    const memory = wasm.exports.m as { buffer: ArrayBuffer };
    const xor = wasm.exports.x as SimdMasker["xor"];
    // The memory never grows, so these views never detach.
    const bytes = new Uint8Array(memory.buffer);
    instance = {
      memory: bytes,
      block: bytes.subarray(0, SIMD_BLOCK),
      spare: bytes.subarray(SIMD_BLOCK, 2 * SIMD_BLOCK),
      xor,
    };
  } catch {
    instance = null;
  }
  return instance;
}
