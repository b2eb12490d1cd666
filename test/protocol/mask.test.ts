/**
 * Masking (RFC 6455 §5.3): the word-wise implementation against a naive byte loop, for every
 * short length, every alignment of the view inside its ArrayBuffer, and a large buffer.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { mask, unmask, WORD_THRESHOLD } from "../../src/protocol/mask.js";

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
