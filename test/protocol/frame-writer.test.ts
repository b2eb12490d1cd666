/**
 * Frame serialisation (RFC 6455 §5.2, §5.3): header layout for every length class, masking,
 * control-frame limits, and the pooled masking-key source.
 *
 * Expected bytes are written out by hand from the RFC's header diagram, not derived from the
 * writer, and the masked payloads are checked with a plain XOR loop.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  encodeFrame,
  type FrameHeaderFields,
  frameHeaderLength,
  MaskKeySource,
  maskKeys,
  writeFrameHeader,
} from "../../src/protocol/frame-writer.js";
import { Opcode } from "../../src/protocol/opcodes.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** Writes one header into a fresh, guard-filled buffer at offset 3 and returns its bytes. */
function header(fields: FrameHeaderFields): string {
  const target = Buffer.alloc(3 + 14 + 3, 0xee);
  const end = writeFrameHeader(target, 3, fields);
  assert.equal(end - 3, frameHeaderLength(fields.payloadLength, fields.maskKey !== null));
  // Nothing outside the header was touched.
  assert.equal(hex(target.subarray(0, 3)), "eeeeee");
  assert.ok(
    target.subarray(end).every((byte) => byte === 0xee),
    "bytes after the header untouched",
  );
  return hex(target.subarray(3, end));
}

const plain = (opcode: number, payloadLength: number): FrameHeaderFields => ({
  fin: true,
  rsv1: false,
  opcode,
  payloadLength,
  maskKey: null,
});

test("RFC 6455 §5.2: frameHeaderLength uses the minimal length form", () => {
  const table: Array<[number, number]> = [
    [0, 2],
    [1, 2],
    [125, 2],
    [126, 4],
    [127, 4],
    [65535, 4],
    [65536, 10],
    [2 ** 32, 10],
    [Number.MAX_SAFE_INTEGER, 10],
  ];
  for (const [length, size] of table) {
    assert.equal(frameHeaderLength(length, false), size, `unmasked ${length}`);
    assert.equal(frameHeaderLength(length, true), size + 4, `masked ${length}`);
  }
});

test("RFC 6455 §5.2: minimal length encoding at 125, 126, 65535 and 65536", () => {
  assert.equal(header(plain(Opcode.BINARY, 0)), "8200");
  assert.equal(header(plain(Opcode.BINARY, 125)), "827d");
  assert.equal(header(plain(Opcode.BINARY, 126)), "827e007e");
  assert.equal(header(plain(Opcode.BINARY, 127)), "827e007f");
  assert.equal(header(plain(Opcode.BINARY, 256)), "827e0100");
  assert.equal(header(plain(Opcode.BINARY, 65535)), "827effff");
  assert.equal(header(plain(Opcode.BINARY, 65536)), "827f0000000000010000");
});

test("RFC 6455 §5.2: 64-bit lengths above 2^32 are written big-endian with the top bit clear", () => {
  assert.equal(header(plain(Opcode.BINARY, 2 ** 32)), "827f0000000100000000");
  assert.equal(header(plain(Opcode.BINARY, 2 ** 32 + 5)), "827f0000000100000005");
  assert.equal(header(plain(Opcode.BINARY, 0x123456789abc)), "827f0000123456789abc");
  assert.equal(header(plain(Opcode.BINARY, Number.MAX_SAFE_INTEGER)), "827f001fffffffffffff");
});

test("RFC 6455 §5.2: FIN, RSV1 and opcode bits of the first byte", () => {
  const fields = (fin: boolean, rsv1: boolean, opcode: number): FrameHeaderFields => ({
    fin,
    rsv1,
    opcode,
    payloadLength: 3,
    maskKey: null,
  });
  assert.equal(header(fields(true, false, Opcode.TEXT)), "8103");
  assert.equal(header(fields(false, false, Opcode.TEXT)), "0103");
  assert.equal(header(fields(false, false, Opcode.CONTINUATION)), "0003");
  assert.equal(header(fields(true, false, Opcode.CONTINUATION)), "8003");
  assert.equal(header(fields(true, true, Opcode.TEXT)), "c103");
  assert.equal(header(fields(false, true, Opcode.BINARY)), "4203");
  assert.equal(header(fields(true, false, Opcode.CLOSE)), "8803");
  assert.equal(header(fields(true, false, Opcode.PING)), "8903");
  assert.equal(header(fields(true, false, Opcode.PONG)), "8a03");
});

test("RFC 6455 §5.2/§5.3: masked header layout puts the key after each length form", () => {
  const key = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);
  const masked = (payloadLength: number): FrameHeaderFields => ({
    fin: true,
    rsv1: false,
    opcode: Opcode.TEXT,
    payloadLength,
    maskKey: key,
  });
  // RFC 6455 §5.7's masked "Hello" header.
  assert.equal(header(masked(5)), "818537fa213d");
  assert.equal(header(masked(125)), "81fd37fa213d");
  assert.equal(header(masked(126)), "81fe007e37fa213d");
  assert.equal(header(masked(65535)), "81feffff37fa213d");
  assert.equal(header(masked(65536)), "81ff000000000001000037fa213d");
  // A key that is a view at an odd offset in a larger buffer (as MaskKeySource hands out).
  const pool = Buffer.from("00112233445566", "hex");
  assert.equal(header({ ...masked(1), maskKey: pool.subarray(1, 5) }), "818111223344");
});

test("RFC 6455 §5.2/§5.3: encodeFrame writes header then payload, masked when asked", () => {
  const payload = Buffer.from("Hello, frames");
  const unmasked = encodeFrame(Opcode.TEXT, payload);
  assert.equal(hex(unmasked), `810d${hex(payload)}`);

  const masked = encodeFrame(Opcode.BINARY, payload, { mask: true, fin: false, rsv1: true });
  assert.equal(masked.length, 2 + 4 + payload.length);
  assert.equal(masked[0], 0x42, "FIN clear, RSV1 set, binary");
  assert.equal(masked[1], 0x80 | payload.length);
  const key = masked.subarray(2, 6);
  const body = masked.subarray(6);
  for (let i = 0; i < payload.length; i++) {
    assert.equal(body[i]! ^ key[i & 3]!, payload[i], `byte ${i}`);
  }
  // The caller's payload is untouched.
  assert.equal(payload.toString(), "Hello, frames");

  for (const length of [0, 125, 126, 65535, 65536]) {
    const data = Buffer.alloc(length, 0x5a);
    for (const mask of [false, true]) {
      const frame = encodeFrame(Opcode.BINARY, data, { mask });
      const headerLength = frameHeaderLength(length, mask);
      assert.equal(frame.length, headerLength + length);
      const k = mask ? frame.subarray(headerLength - 4, headerLength) : Buffer.alloc(4);
      const out = frame.subarray(headerLength);
      let same = true;
      for (let i = 0; i < length; i++) if ((out[i]! ^ k[i & 3]!) !== 0x5a) same = false;
      assert.ok(same, `payload of ${length}, mask ${mask}`);
    }
  }
});

test("RFC 6455 §5.3: encodeFrame draws a fresh masking key for every frame", () => {
  const payload = Buffer.alloc(8);
  const keys = new Set<string>();
  for (let i = 0; i < 64; i++)
    keys.add(hex(encodeFrame(Opcode.BINARY, payload, { mask: true }).subarray(2, 6)));
  // 64 draws of 32 random bits: a repeat is a 1-in-2-million event.
  assert.ok(keys.size >= 63, `only ${keys.size} distinct keys`);
});

test("RFC 6455 §5.5: encodeFrame refuses control frames over 125 bytes with a RangeError", () => {
  for (const opcode of [Opcode.CLOSE, Opcode.PING, Opcode.PONG]) {
    assert.throws(() => encodeFrame(opcode, Buffer.alloc(126)), RangeError);
    assert.throws(() => encodeFrame(opcode, Buffer.alloc(65536), { mask: true }), RangeError);
    const ok = encodeFrame(opcode, Buffer.alloc(125));
    assert.equal(hex(ok.subarray(0, 2)), `8${opcode.toString(16)}7d`);
  }
  // Data frames have no such limit.
  assert.equal(encodeFrame(Opcode.TEXT, Buffer.alloc(126, 0x61)).length, 4 + 126);
});

test("RFC 6455 §5.3/§10.3: MaskKeySource keys are unpredictable: 10,000 draws differ and are not all zero", () => {
  const source = new MaskKeySource();
  const keys = new Set<string>();
  let nonZero = 0;
  let previous = "";
  let repeatsInARow = 0;
  for (let i = 0; i < 10_000; i++) {
    const key = source.next();
    assert.equal(key.length, 4);
    // The view is only valid until the pool refills: copy it out at once, as documented.
    const text = hex(key);
    keys.add(text);
    if (text !== "00000000") nonZero++;
    if (text === previous) repeatsInARow++;
    previous = text;
  }
  // 10,000 draws from 2^32 values: about 0.012 collisions expected, so a handful is already
  // astronomically unlikely from a working CSPRNG, while a stuck or recycled pool gives thousands.
  assert.ok(keys.size >= 9_995, `only ${keys.size} distinct keys in 10,000`);
  assert.ok(nonZero >= 9_995, `${10_000 - nonZero} all-zero keys`);
  assert.equal(repeatsInARow, 0);
});

test("RFC 6455 §5.3: MaskKeySource refills past 2,048 keys instead of recycling the pool", () => {
  const source = new MaskKeySource();
  const batches: string[][] = [[], [], []];
  for (let batch = 0; batch < 3; batch++) {
    for (let i = 0; i < 2048; i++) batches[batch]!.push(hex(source.next()));
  }
  const [first, second, third] = batches as [string[], string[], string[]];
  // A pool that was not refilled would give the same sequence again.
  const firstSet = new Set(first);
  const reused = second.filter((key) => firstSet.has(key)).length;
  assert.ok(reused < 8, `${reused} keys of the second pool repeat the first`);
  assert.notDeepEqual(second, first);
  assert.notDeepEqual(third, second);
  assert.ok(new Set(third).size >= 2040);
});

test("RFC 6455 §5.3: the shared maskKeys source is a MaskKeySource", () => {
  assert.ok(maskKeys instanceof MaskKeySource);
  const a = hex(maskKeys.next());
  const b = hex(maskKeys.next());
  assert.notEqual(a, b);
});
