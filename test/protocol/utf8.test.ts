/**
 * UTF-8 validation (RFC 3629, required for text by RFC 6455 §8.1): `isValidUtf8` on a table of
 * Markus Kuhn-style vectors, and the incremental `Utf8Validator` against it under every split.
 */
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { test } from "node:test";
import fc from "fast-check";
import { isValidUtf8, Utf8Validator } from "../../src/protocol/utf8.js";

const h = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ""), "hex");

/** [label, bytes, valid] after Markus Kuhn's UTF-8 decoder capability and stress test. */
const VECTORS: Array<[string, Buffer, boolean]> = [
  // 1 – some correct text
  ["empty", Buffer.alloc(0), true],
  ["ASCII", Buffer.from("Hello, world"), true],
  ["Greek kosme", h("ce ba e1 bd b9 cf 83 ce bc ce b5"), true],
  ["NUL", h("00"), true],
  // 2.1 – first possible sequence of each length
  ["U+0080", h("c2 80"), true],
  ["U+0800", h("e0 a0 80"), true],
  ["U+10000", h("f0 90 80 80"), true],
  // 2.2 – last possible sequence of each length
  ["U+007F", h("7f"), true],
  ["U+07FF", h("df bf"), true],
  ["U+FFFF", h("ef bf bf"), true],
  ["U+10FFFF", h("f4 8f bf bf"), true],
  // 2.3 – other boundary conditions
  ["U+D7FF", h("ed 9f bf"), true],
  ["U+E000", h("ee 80 80"), true],
  ["U+FFFD", h("ef bf bd"), true],
  ["U+FFFE (noncharacter, still valid UTF-8)", h("ef bf be"), true],
  ["U+110000", h("f4 90 80 80"), false],
  // 3.1 – unexpected continuation bytes
  ["first continuation byte", h("80"), false],
  ["last continuation byte", h("bf"), false],
  ["2 continuation bytes", h("80 bf"), false],
  ["3 continuation bytes", h("80 bf 80"), false],
  ["7 continuation bytes", h("80 bf 80 bf 80 bf 80"), false],
  ["continuation after ASCII", h("41 80"), false],
  // 3.2 – lonely start characters
  ["lonely 2-byte start", h("c2 20"), false],
  ["lonely 3-byte start", h("e0 20"), false],
  ["lonely 4-byte start", h("f0 20"), false],
  ["lonely 5-byte start", h("f8 20"), false],
  ["lonely 6-byte start", h("fc 20"), false],
  // 3.3 – sequences with the last continuation byte missing
  ["2-byte missing last", h("c2"), false],
  ["3-byte missing last", h("e0 a0"), false],
  ["4-byte missing last", h("f0 90 80"), false],
  ["max 2-byte missing last", h("df"), false],
  ["max 3-byte missing last", h("ef bf"), false],
  ["max 4-byte missing last", h("f4 8f bf"), false],
  // 3.4 – concatenation of incomplete sequences
  ["incomplete sequences in a row", h("c2 e0 a0 f0 90 80 df ef bf f4 8f bf"), false],
  // 3.5 – impossible bytes
  ["FE", h("fe"), false],
  ["FF", h("ff"), false],
  ["FE FE FF FF", h("fe fe ff ff"), false],
  // 4.1 – overlong ASCII slash
  ["overlong / 2 bytes", h("c0 af"), false],
  ["overlong / 3 bytes", h("e0 80 af"), false],
  ["overlong / 4 bytes", h("f0 80 80 af"), false],
  ["overlong / 5 bytes", h("f8 80 80 80 af"), false],
  // 4.2 – maximum overlongs
  ["max overlong 2 bytes", h("c1 bf"), false],
  ["max overlong 3 bytes", h("e0 9f bf"), false],
  ["max overlong 4 bytes", h("f0 8f bf bf"), false],
  // 4.3 – overlong NUL
  ["overlong NUL 2 bytes", h("c0 80"), false],
  ["overlong NUL 3 bytes", h("e0 80 80"), false],
  ["overlong NUL 4 bytes", h("f0 80 80 80"), false],
  // 5.1 – single UTF-16 surrogates
  ["U+D800", h("ed a0 80"), false],
  ["U+DB7F", h("ed ad bf"), false],
  ["U+DB80", h("ed ae 80"), false],
  ["U+DBFF", h("ed af bf"), false],
  ["U+DC00", h("ed b0 80"), false],
  ["U+DF80", h("ed be 80"), false],
  ["U+DFFF", h("ed bf bf"), false],
  // 5.2 – paired UTF-16 surrogates
  ["U+D800 U+DC00", h("ed a0 80 ed b0 80"), false],
  ["U+DBFF U+DFFF", h("ed af bf ed bf bf"), false],
  // beyond the Unicode range
  ["F4 90 80 80 (U+110000)", h("f4 90 80 80"), false],
  ["F5 start", h("f5 80 80 80"), false],
  ["F7 BF BF BF (U+1FFFFF)", h("f7 bf bf bf"), false],
  ["5-byte form", h("f8 88 80 80 80"), false],
  ["6-byte form", h("fc 84 80 80 80 80"), false],
  // mixed: valid text around a bad sequence
  [
    "valid text, then surrogate, then text",
    Buffer.concat([Buffer.from("abc"), h("ed a0 80"), Buffer.from("def")]),
    false,
  ],
  ["mixed widths", Buffer.from("a é € 😀 ✓ z"), true],
];

/** Feeds `fragments` to a fresh validator; false as soon as one push fails. */
function incremental(fragments: Uint8Array[]): boolean {
  const validator = new Utf8Validator();
  for (const fragment of fragments) if (!validator.push(fragment)) return false;
  return validator.end();
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

test("RFC 3629 §3/§4 (RFC 6455 §8.1): isValidUtf8 on the Kuhn-style vectors", () => {
  for (const [label, bytes, valid] of VECTORS) {
    assert.equal(isValidUtf8(bytes), valid, label);
  }
});

test("RFC 6455 §8.1: Utf8Validator agrees with isValidUtf8 on every vector under every split", () => {
  for (const [label, bytes, valid] of VECTORS) {
    assert.equal(incremental([bytes]), valid, `${label}: whole`);
    for (let cut = 0; cut <= bytes.length; cut++) {
      assert.equal(incremental(splitAt(bytes, [cut])), valid, `${label}: cut at ${cut}`);
      for (let second = cut; second <= bytes.length; second++) {
        assert.equal(
          incremental(splitAt(bytes, [cut, second])),
          valid,
          `${label}: cuts at ${cut}, ${second}`,
        );
      }
    }
    const bytewise: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) bytewise.push(bytes.subarray(i, i + 1));
    assert.equal(incremental(bytewise), valid, `${label}: one byte per fragment`);
  }
});

test("RFC 6455 §8.1: a 4-byte character split across fragments is valid at every cut", () => {
  const text = Buffer.from("x😀y𝄞z");
  for (let a = 0; a <= text.length; a++) {
    for (let c = a; c <= text.length; c++) {
      assert.equal(incremental(splitAt(text, [a, c])), true, `cuts ${a}, ${c}`);
    }
  }
});

test("RFC 6455 §8.1: prefixes that can never be valid fail at the fragment that shows them", () => {
  const early: Array<[string, number[]]> = [
    ["F4 90 (> U+10FFFF)", [0xf4, 0x90]],
    ["ED A0 (surrogate)", [0xed, 0xa0]],
    ["E0 80 (overlong)", [0xe0, 0x80]],
    ["F0 8F (overlong)", [0xf0, 0x8f]],
    ["C0 (overlong lead)", [0xc0]],
    ["C1 (overlong lead)", [0xc1]],
    ["F5 (beyond Unicode)", [0xf5]],
    ["FF", [0xff]],
    ["lone continuation", [0x80]],
  ];
  for (const [label, bytes] of early) {
    const validator = new Utf8Validator();
    assert.equal(
      validator.push(Buffer.concat([Buffer.from("ok"), Buffer.from(bytes)])),
      false,
      label,
    );
    // Also when the bad prefix is assembled over several fragments.
    if (bytes.length === 2) {
      const split = new Utf8Validator();
      assert.equal(split.push(Buffer.from([0x61, bytes[0]!])), true, `${label}: lead alone`);
      assert.equal(split.push(Buffer.from([bytes[1]!])), false, `${label}: second byte`);
    }
  }
  // Valid prefixes are not failed early: only end() can tell they were truncated.
  for (const prefix of [[0xf4, 0x8f], [0xed, 0x9f], [0xe0, 0xa0], [0xf0, 0x90, 0x80], [0xc2]]) {
    const validator = new Utf8Validator();
    assert.equal(validator.push(Buffer.from(prefix)), true);
    assert.equal(validator.end(), false);
  }
});

test("RFC 6455 §8.1: Utf8Validator end() and reset() between messages", () => {
  const validator = new Utf8Validator();
  assert.equal(validator.push(Buffer.from([0xe2, 0x82])), true);
  validator.reset();
  // The pending E2 82 is forgotten: a new message starting with ASCII is fine.
  assert.equal(validator.push(Buffer.from("abc")), true);
  assert.equal(validator.end(), true);
  // end() also clears a truncated sequence after reporting it.
  assert.equal(validator.push(Buffer.from([0xf0, 0x9f])), true);
  assert.equal(validator.end(), false);
  assert.equal(validator.push(Buffer.from("fresh")), true);
  assert.equal(validator.end(), true);
  // Empty fragments change nothing.
  assert.equal(validator.push(Buffer.from([0xe2])), true);
  assert.equal(validator.push(Buffer.alloc(0)), true);
  assert.equal(validator.push(Buffer.from([0x82])), true);
  assert.equal(validator.push(Buffer.alloc(0)), true);
  assert.equal(validator.push(Buffer.from([0xac])), true);
  assert.equal(validator.end(), true);
});

/** Bytes that are mostly UTF-8-shaped, so random strings hit the interesting boundaries. */
const utf8ishByte = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 3, arbitrary: fc.integer({ min: 0x80, max: 0xbf }) },
  { weight: 1, arbitrary: fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef) },
  { weight: 1, arbitrary: fc.constantFrom(0xf0, 0xf4, 0xf5, 0xff, 0x8f, 0x90, 0x9f, 0xa0) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

/** Byte strings: random, UTF-8-shaped, or valid text with optional single-byte corruption. */
const byteStrings = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.array(utf8ishByte, { maxLength: 64 }).map((bytes) => Uint8Array.from(bytes)),
  fc
    .tuple(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
    )
    .map(([text, corruption]) => {
      const bytes = Uint8Array.from(Buffer.from(text, "utf8"));
      if (corruption !== undefined && bytes.length > 0) {
        bytes[corruption[0] % bytes.length] = corruption[1];
      }
      return bytes;
    }),
);

test("RFC 6455 §8.1: Utf8Validator agrees with isValidUtf8 on random strings split at random points (fast-check)", () => {
  fc.assert(
    fc.property(byteStrings, fc.array(fc.nat(), { maxLength: 8 }), (bytes, rawCuts) => {
      const cuts = rawCuts.map((cut) => cut % (bytes.length + 1));
      assert.equal(isValidUtf8(bytes), isUtf8(bytes), "isValidUtf8 matches node:buffer isUtf8");
      assert.equal(incremental(splitAt(bytes, cuts)), isValidUtf8(bytes));
    }),
    { numRuns: 3000 },
  );
});

/**
 * Whether some continuation makes `prefix` valid. If one does, one of these does: a second byte of
 * 0x80 or 0xA0 satisfies every lead's second-byte range (RFC 3629 §4), and 0x80 any later one.
 */
function viablePrefix(prefix: Uint8Array): boolean {
  const endings = [
    [],
    [0x80],
    [0x80, 0x80],
    [0x80, 0x80, 0x80],
    [0xa0],
    [0xa0, 0x80],
    [0xa0, 0x80, 0x80],
  ];
  return endings.some((ending) => isUtf8(Buffer.concat([prefix, Uint8Array.from(ending)])));
}

test("RFC 6455 §8.1: Utf8Validator.push fails exactly when the bytes so far can no longer be valid (fast-check)", () => {
  fc.assert(
    fc.property(byteStrings, fc.array(fc.nat(), { maxLength: 8 }), (bytes, rawCuts) => {
      const fragments = splitAt(
        bytes,
        rawCuts.map((cut) => cut % (bytes.length + 1)),
      );
      const validator = new Utf8Validator();
      let seen = 0;
      for (const fragment of fragments) {
        seen += fragment.length;
        const ok = validator.push(fragment);
        assert.equal(ok, viablePrefix(bytes.subarray(0, seen)), `after ${seen} bytes`);
        if (!ok) return;
      }
      assert.equal(validator.end(), isUtf8(bytes));
    }),
    { numRuns: 3000 },
  );
});
