import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CloseCodes,
  decodeClosePayload,
  encodeClosePayload,
  isValidWireCloseCode,
} from "../../src/protocol/close.js";
import { ErrorCodes, ProtocolError } from "../../src/protocol/errors.js";

/** Asserts `fn` throws a ProtocolError with this stable code and close code. */
function assertProtocolError(fn: () => unknown, code: string, closeCode: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${String(error)}`);
    assert.ok(error instanceof RangeError, "ProtocolError is a RangeError, as ws's are");
    assert.equal(error.code, code);
    assert.equal(error.closeCode, closeCode);
    return true;
  });
}

test("RFC 6455 §7.4.1: CloseCodes names the registered status codes", () => {
  const expected: Record<string, number> = {
    NORMAL: 1000,
    GOING_AWAY: 1001,
    PROTOCOL_ERROR: 1002,
    UNSUPPORTED_DATA: 1003,
    NO_STATUS: 1005,
    ABNORMAL: 1006,
    INVALID_PAYLOAD: 1007,
    POLICY_VIOLATION: 1008,
    MESSAGE_TOO_BIG: 1009,
    MANDATORY_EXTENSION: 1010,
    INTERNAL_ERROR: 1011,
    SERVICE_RESTART: 1012,
    TRY_AGAIN_LATER: 1013,
    BAD_GATEWAY: 1014,
    TLS_HANDSHAKE: 1015,
  };
  assert.deepEqual({ ...CloseCodes }, expected);
});

test("RFC 6455 §7.4.1/§7.4.2: wire validity of individual close codes", () => {
  const table: Array<[number, boolean, string]> = [
    [0, false, "below the defined range"],
    [999, false, "below the defined range"],
    [1000, true, "normal closure"],
    [1001, true, "going away"],
    [1002, true, "protocol error"],
    [1003, true, "unsupported data"],
    [1004, false, "reserved"],
    [1005, false, "no status: local only"],
    [1006, false, "abnormal: local only"],
    [1007, true, "invalid payload"],
    [1008, true, "policy violation"],
    [1009, true, "message too big"],
    [1010, true, "mandatory extension"],
    [1011, true, "internal error"],
    [1012, true, "service restart (IANA)"],
    [1013, true, "try again later (IANA)"],
    [1014, true, "bad gateway (IANA)"],
    [1015, false, "TLS handshake: local only"],
    [1016, false, "reserved for future protocol use"],
    [2999, false, "reserved for future protocol use"],
    [3000, true, "registered for libraries and frameworks"],
    [3999, true, "registered for libraries and frameworks"],
    [4000, true, "private use"],
    [4999, true, "private use"],
    [5000, false, "above the defined range"],
    [65535, false, "largest 16-bit value"],
    [1000.5, false, "not an integer"],
    [Number.NaN, false, "NaN"],
    [Number.POSITIVE_INFINITY, false, "Infinity"],
    [-1000, false, "negative"],
  ];
  for (const [code, valid, why] of table) {
    assert.equal(isValidWireCloseCode(code), valid, `${code} (${why})`);
  }
});

test("RFC 6455 §7.4: every 16-bit code 0..65535 is classified exhaustively", () => {
  let validCount = 0;
  for (let code = 0; code <= 0xffff; code++) {
    const expected =
      (code >= 1000 && code <= 1003) ||
      (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999);
    assert.equal(isValidWireCloseCode(code), expected, `code ${code}`);
    if (expected) validCount++;
  }
  // 4 + 8 + 2000 codes: a second, independent check on the shape of the rule above.
  assert.equal(validCount, 2012);
});

test("RFC 6455 §5.5.1: a close payload is a big-endian code followed by the reason", () => {
  assert.deepEqual([...encodeClosePayload(1000)], [0x03, 0xe8]);
  assert.deepEqual([...encodeClosePayload(4999, "ok")], [0x13, 0x87, 0x6f, 0x6b]);
  assert.deepEqual([...encodeClosePayload(3000, Buffer.from([1, 2, 3]))], [0x0b, 0xb8, 1, 2, 3]);
  assert.deepEqual(
    [...encodeClosePayload(1001, new Uint8Array([0xc3, 0xa9]))],
    [0x03, 0xe9, 0xc3, 0xa9],
  );
  assert.deepEqual([...encodeClosePayload(1011, "é")], [0x03, 0xf3, 0xc3, 0xa9]);
  assert.deepEqual([...encodeClosePayload(1000, "")], [0x03, 0xe8]);
});

test("RFC 6455 §5.5.1: no code means an empty close payload", () => {
  assert.equal(encodeClosePayload().length, 0);
  assert.equal(encodeClosePayload(undefined, "").length, 0);
  assert.equal(encodeClosePayload(undefined, new Uint8Array(0)).length, 0);
});

test("RFC 6455 §5.5.1: a reason without a code is a TypeError (the reason must follow a code)", () => {
  assert.throws(() => encodeClosePayload(undefined, "bye"), TypeError);
  assert.throws(() => encodeClosePayload(undefined, Buffer.from("x")), TypeError);
});

test("RFC 6455 §7.4.2: sending a code that may not be on the wire is a TypeError (ws wording)", () => {
  for (const code of [
    0,
    999,
    1004,
    1005,
    1006,
    1015,
    1016,
    2999,
    5000,
    65535,
    1000.5,
    -1,
    Number.NaN,
  ]) {
    assert.throws(
      () => encodeClosePayload(code),
      { name: "TypeError", message: "First argument must be a valid error code number" },
      `code ${code}`,
    );
  }
  // A JavaScript caller may pass anything.
  for (const code of ["1000", null, {}, true]) {
    assert.throws(() => encodeClosePayload(code as unknown as number), TypeError, String(code));
  }
});

test("RFC 6455 §5.5.1: a reason that is not a string or Uint8Array is a TypeError (ws 8.20.1 memory-leak bug)", () => {
  const hostile: unknown[] = [
    new Float32Array(20),
    new Uint16Array(4),
    new Int8Array(4),
    new Uint8ClampedArray(4),
    new DataView(new ArrayBuffer(8)),
    new ArrayBuffer(8),
    42,
    { length: 10 },
    ["a"],
    null,
  ];
  for (const reason of hostile) {
    assert.throws(
      () => encodeClosePayload(1000, reason as Uint8Array),
      TypeError,
      Object.prototype.toString.call(reason),
    );
  }
});

test("RFC 6455 §5.5: reasons over 123 bytes are a RangeError (ws wording); 123 fit", () => {
  const limit = { name: "RangeError", message: "The message must not be greater than 123 bytes" };
  // 62 × "é" is 124 bytes but only 62 UTF-16 units: the limit is on encoded bytes.
  assert.throws(() => encodeClosePayload(1000, "é".repeat(62)), limit);
  assert.throws(() => encodeClosePayload(1000, "a".repeat(124)), limit);
  assert.throws(() => encodeClosePayload(1000, Buffer.alloc(124)), limit);
  assert.equal(encodeClosePayload(1000, "a".repeat(123)).length, 125);
  assert.equal(encodeClosePayload(1000, `${"é".repeat(61)}a`).length, 125);
  assert.equal(encodeClosePayload(1000, new Uint8Array(123)).length, 125);
});

test("RFC 6455 §5.5.1: every byte of an encoded payload comes from the code and reason", () => {
  // Encode many times so a pooled, uninitialised allocation would show its old contents.
  for (let n = 0; n < 200; n++) {
    const payload = encodeClosePayload(1000, new Uint8Array(n % 124));
    assert.equal(payload.length, 2 + (n % 124));
    assert.ok(payload.subarray(2).every((b) => b === 0));
  }
});

test("RFC 6455 §7.1.5: an empty close payload decodes as 1005 with an empty reason", () => {
  const { code, reason } = decodeClosePayload(new Uint8Array(0));
  assert.equal(code, 1005);
  assert.ok(Buffer.isBuffer(reason));
  assert.equal(reason.length, 0);
});

test("RFC 6455 §5.5.1: a 1-byte close payload fails with 1002", () => {
  for (const byte of [0x00, 0x03, 0xff]) {
    assertProtocolError(
      () => decodeClosePayload(Uint8Array.of(byte)),
      ErrorCodes.INVALID_CLOSE_PAYLOAD,
      1002,
    );
  }
});

test("RFC 6455 §7.4.1: a received code not valid on the wire fails with 1002", () => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
    const payload = Uint8Array.of(code >> 8, code & 0xff, 0x61);
    assertProtocolError(() => decodeClosePayload(payload), ErrorCodes.INVALID_CLOSE_CODE, 1002);
  }
});

test("RFC 6455 §7.4: every received 16-bit code is accepted or refused as the wire rule says", () => {
  const payload = new Uint8Array(2);
  for (let code = 0; code <= 0xffff; code++) {
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    if (isValidWireCloseCode(code)) {
      assert.equal(decodeClosePayload(payload).code, code);
    } else {
      assert.throws(() => decodeClosePayload(payload), ProtocolError, `code ${code}`);
    }
  }
});

test("RFC 6455 §5.5.1/§8.1: a close reason that is not UTF-8 fails with 1007", () => {
  const bad: number[][] = [
    [0xff], // never valid
    [0xc3], // truncated 2-byte sequence
    [0xc0, 0x80], // overlong NUL
    [0xed, 0xa0, 0x80], // UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0x61, 0x80], // stray continuation byte
  ];
  for (const bytes of bad) {
    assertProtocolError(
      () => decodeClosePayload(Uint8Array.of(0x03, 0xe8, ...bytes)),
      ErrorCodes.INVALID_UTF8,
      1007,
    );
  }
});

test("RFC 6455 §5.5.1: a valid close payload decodes to its code and reason", () => {
  const { code, reason } = decodeClosePayload(Uint8Array.of(0x0f, 0xa0, 0xf0, 0x9f, 0x91, 0x8b));
  assert.equal(code, 4000);
  assert.equal(reason.toString("utf8"), "👋");
  const bare = decodeClosePayload(Uint8Array.of(0x03, 0xe8));
  assert.equal(bare.code, 1000);
  assert.equal(bare.reason.length, 0);
});

test("RFC 6455 §5.5.1: the decoded reason is a view over the payload, not a copy", () => {
  const backing = Buffer.from([0xaa, 0x03, 0xe8, 0x68, 0x69, 0xbb]);
  const payload = backing.subarray(1, 5);
  const { reason } = decodeClosePayload(payload);
  assert.equal(reason.toString(), "hi");
  assert.equal(reason.buffer, backing.buffer);
  assert.equal(reason.byteOffset, backing.byteOffset + 3);
  backing[3] = 0x48;
  assert.equal(reason.toString(), "Hi");
});

test("RFC 6455 §5.5.1: encode then decode round-trips every valid code and reason (property)", () => {
  const wireCode = fc.oneof(
    fc.integer({ min: 1000, max: 1003 }),
    fc.integer({ min: 1007, max: 1014 }),
    fc.integer({ min: 3000, max: 4999 }),
  );
  // Whole code points so the reason is well-formed UTF-8; filtered to the 123-byte limit.
  const reason = fc
    .string({ unit: "grapheme", maxLength: 60 })
    .filter((s) => Buffer.byteLength(s) <= 123);
  fc.assert(
    fc.property(wireCode, reason, fc.boolean(), (code, text, asBytes) => {
      const payload = encodeClosePayload(code, asBytes ? Buffer.from(text) : text);
      assert.equal(payload.length, 2 + Buffer.byteLength(text));
      const decoded = decodeClosePayload(payload);
      assert.equal(decoded.code, code);
      assert.equal(decoded.reason.toString("utf8"), text);
    }),
  );
});
