/**
 * Masking (RFC 6455 §5.3): the word-wise implementation against a naive byte loop, for every
 * short length, every alignment of the view inside its ArrayBuffer, and a large buffer.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { mask, unmask, unmaskInto, WORD_THRESHOLD } from "../../src/protocol/mask.js";
import { SIMD_BLOCK, SIMD_THRESHOLD, simdMasker } from "../../src/protocol/simd-mask.js";

/** The specification's definition, byte by byte: octet i XOR key octet (i mod 4). */
function naive(data: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[i % 4]!;
  return out;
}

const KEYS = [
  Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]),
  Uint8Array.from([0x00, 0x00, 0x00, 0x00]),
  Uint8Array.from([0xff, 0xff, 0xff, 0xff]),
  Uint8Array.from([0x01, 0x80, 0x7f, 0xfe]),
];

test("RFC 6455 §5.3: unmask equals the byte-wise definition for lengths 0..300 at offsets 0..7", () => {
  assert.ok(WORD_THRESHOLD > 0 && WORD_THRESHOLD < 300, "the word path is inside the tested range");
  for (const key of KEYS) {
    for (let offset = 0; offset < 8; offset++) {
      for (let length = 0; length <= 300; length++) {
        // A view at `offset` into a larger ArrayBuffer with guard bytes on both sides.
        const backing = new ArrayBuffer(offset + length + 8);
        const all = new Uint8Array(backing);
        all.fill(0xa5);
        const data = new Uint8Array(backing, offset, length);
        for (let i = 0; i < length; i++) data[i] = (i * 151 + offset) & 0xff;
        const expected = naive(data, key);
        unmask(data, key);
        if (!expected.equals(data)) {
          assert.fail(
            `length ${length}, byteOffset ${offset}, key ${Buffer.from(key).toString("hex")}`,
          );
        }
        for (let i = 0; i < offset; i++) assert.equal(all[i], 0xa5, "guard before");
        for (let i = offset + length; i < all.length; i++)
          assert.equal(all[i], 0xa5, "guard after");
      }
    }
  }
});

test("RFC 6455 §5.3: unmask works on Buffer views at unaligned pool offsets", () => {
  const key = KEYS[0]!;
  const pool = randomBytes(4096);
  for (let start = 0; start < 16; start++) {
    for (const length of [WORD_THRESHOLD - 1, WORD_THRESHOLD, WORD_THRESHOLD + 1, 1000, 1003]) {
      const copy = Buffer.from(pool);
      const view = copy.subarray(start, start + length);
      const expected = naive(view, key);
      unmask(view, key);
      assert.ok(expected.equals(view), `start ${start}, length ${length}`);
      assert.ok(copy.subarray(0, start).equals(pool.subarray(0, start)));
      assert.ok(copy.subarray(start + length).equals(pool.subarray(start + length)));
    }
  }
});

test("RFC 6455 §5.3: unmask on 1 MiB matches, and unmasking twice restores the data", () => {
  const original = randomBytes(1024 * 1024 + 3);
  const key = randomBytes(4);
  for (const offset of [0, 1, 2, 3]) {
    const data = Buffer.from(original.subarray(offset));
    const expected = naive(data, key);
    unmask(data, key);
    assert.ok(expected.equals(data), `offset ${offset}`);
    unmask(data, key);
    assert.ok(original.subarray(offset).equals(data), `involution at offset ${offset}`);
  }
});

test("RFC 6455 §5.3: the key may be a view at an odd offset in a larger buffer", () => {
  const keyPool = Buffer.from("ff37fa213dff", "hex");
  const key = keyPool.subarray(1, 5);
  for (const length of [3, 64, 65, 999]) {
    const data = randomBytes(length);
    const expected = naive(data, KEYS[0]!);
    unmask(data, key);
    assert.ok(expected.equals(data), `length ${length}`);
  }
});

test("RFC 6455 §5.3: mask() writes source XOR key into the target and leaves the source untouched", () => {
  for (const key of KEYS) {
    for (let length = 0; length <= 300; length++) {
      for (let targetOffset = 0; targetOffset < 8; targetOffset++) {
        const source = Buffer.allocUnsafe(length);
        for (let i = 0; i < length; i++) source[i] = (i * 37 + 11) & 0xff;
        const before = Buffer.from(source);
        const target = Buffer.alloc(targetOffset + length + 4, 0xc3);
        mask(source, key, target, targetOffset);
        assert.ok(source.equals(before), `source changed at length ${length}`);
        const written = target.subarray(targetOffset, targetOffset + length);
        if (!naive(source, key).equals(written)) {
          assert.fail(`length ${length}, target offset ${targetOffset}`);
        }
        assert.ok(
          target.subarray(0, targetOffset).every((byte) => byte === 0xc3),
          "guard before",
        );
        assert.ok(
          target.subarray(targetOffset + length).every((byte) => byte === 0xc3),
          "guard after",
        );
      }
    }
  }
});

test("RFC 6455 §5.3: mask() on 1 MiB into an unaligned target", () => {
  const source = randomBytes(1024 * 1024);
  const before = Buffer.from(source);
  const key = randomBytes(4);
  const target = Buffer.alloc(source.length + 14);
  mask(source, key, target, 7);
  assert.ok(source.equals(before));
  assert.ok(naive(source, key).equals(target.subarray(7, 7 + source.length)));
});

test("RFC 6455 §5.3: the WebAssembly SIMD kernel compiles here and is used from SIMD_THRESHOLD on", () => {
  assert.ok(simdMasker() !== null, "Node >= 20 has WebAssembly SIMD; the fast path must be live");
  assert.ok(SIMD_THRESHOLD > WORD_THRESHOLD, "the SIMD path starts above the word path");
});

test("RFC 6455 §5.3: SIMD unmask and mask equal the byte-wise definition around every block edge", () => {
  const lengths = [
    SIMD_THRESHOLD - 1,
    SIMD_THRESHOLD,
    SIMD_THRESHOLD + 1,
    SIMD_THRESHOLD + 63,
    SIMD_THRESHOLD + 64,
    SIMD_BLOCK - 1,
    SIMD_BLOCK,
    SIMD_BLOCK + 1,
    SIMD_BLOCK + 63,
    SIMD_BLOCK + 64,
    2 * SIMD_BLOCK + 17,
    5 * SIMD_BLOCK - 5,
  ];
  for (const key of KEYS) {
    for (const length of lengths) {
      for (const offset of [0, 1, 3]) {
        const backing = Buffer.alloc(offset + length + 8, 0xa5);
        const data = backing.subarray(offset, offset + length);
        for (let i = 0; i < length; i++) data[i] = (i * 151 + 7) & 0xff;
        const source = Buffer.from(data);
        const expected = naive(data, key);
        unmask(data, key);
        const where = `length ${length}, offset ${offset}, key ${Buffer.from(key).toString("hex")}`;
        assert.ok(expected.equals(data), `unmask: ${where}`);
        assert.ok(
          backing.subarray(0, offset).every((b) => b === 0xa5),
          `guard before: ${where}`,
        );
        assert.ok(
          backing.subarray(offset + length).every((b) => b === 0xa5),
          `guard after: ${where}`,
        );
        const target = Buffer.alloc(offset + length + 4, 0xc3);
        mask(source, key, target, offset);
        assert.ok(target.subarray(offset, offset + length).equals(expected), `mask: ${where}`);
        assert.ok(
          target.subarray(offset + length).every((b) => b === 0xc3),
          `mask guard: ${where}`,
        );
      }
    }
  }
});

test("RFC 6455 §5.3: unmaskInto() from the kernel's spare page (XOR in place) and from anywhere else", () => {
  const simd = simdMasker();
  assert.ok(simd !== null);
  const key = KEYS[0]!;
  const inSpare = Buffer.from(simd.spare.buffer, simd.spare.byteOffset, simd.spare.length);
  const elsewhere = Buffer.alloc(SIMD_BLOCK);
  for (const length of [
    0,
    1,
    63,
    SIMD_THRESHOLD - 1,
    SIMD_THRESHOLD,
    1000,
    4097,
    SIMD_BLOCK - 13,
  ]) {
    for (const start of [0, 1, 5, 13]) {
      if (start + length > SIMD_BLOCK) continue;
      for (const [name, scratch] of [
        ["spare page", inSpare],
        ["plain buffer", elsewhere],
      ] as const) {
        const where = `${name}, length ${length} at ${start}`;
        const plain = randomBytes(length);
        const source = scratch.subarray(start, start + length);
        plain.copy(source);
        // The kernel's scratch block is overwritten by other calls; the spare page must not be.
        simd.block.fill(0x77);
        const target = Buffer.alloc(length + 6, 0xc3);
        unmaskInto(source, key, target, 3);
        assert.ok(target.subarray(3, 3 + length).equals(naive(plain, key)), where);
        assert.ok(
          target.subarray(0, 3).every((b) => b === 0xc3),
          `guard before: ${where}`,
        );
        assert.ok(
          target.subarray(3 + length).every((b) => b === 0xc3),
          `guard after: ${where}`,
        );
      }
    }
  }
});

test("RFC 6455 §5.3: with SOCKETEER_NO_SIMD set, a fresh process masks correctly without the kernel", () => {
  const script = [
    "const { simdMasker } = require('./src/protocol/simd-mask.ts');",
    "const { unmask } = require('./src/protocol/mask.ts');",
    "const data = Buffer.alloc(100000, 0x5a); unmask(data, Buffer.from([1, 2, 3, 4]));",
    "const ok = data.every((b, i) => b === (0x5a ^ [1, 2, 3, 4][i % 4]));",
    "process.stdout.write(JSON.stringify({ simd: simdMasker() !== null, ok }));",
  ].join("\n");
  const out = execFileSync(process.execPath, ["--import", "tsx", "-e", script], {
    env: { ...process.env, SOCKETEER_NO_SIMD: "1" },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.deepEqual(JSON.parse(out), { simd: false, ok: true }, "fallback path masks correctly");
});
