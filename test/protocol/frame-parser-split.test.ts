// Text frames whose payload arrives in several TCP chunks: invalid UTF-8 must fail on the chunk
// that carries it (Autobahn 6.4.3/6.4.4 send one frame in timed chops and expect the failure
// before the frame is complete).
import assert from "node:assert/strict";
import { constants as bufferConstants } from "node:buffer";
import { test } from "node:test";
import { FrameParser, type FrameParserEvents } from "../../src/protocol/frame-parser.js";
import { encodeFrame } from "../../src/protocol/frame-writer.js";
import { Opcode } from "../../src/protocol/opcodes.js";

function recorder() {
  const events: string[] = [];
  const handler: FrameParserEvents = {
    onMessage: (data, isBinary) => events.push(`message:${isBinary}:${data.toString("hex")}`),
    onPing: () => events.push("ping"),
    onPong: () => events.push("pong"),
    onClose: (code) => events.push(`close:${code}`),
    onError: (error) => events.push(`error:${error.closeCode}:${error.code}`),
  };
  return { events, handler };
}

const valid = Buffer.from("cebae1bdb9cf83cebcceb5", "hex"); // "κόσμε"
const invalid = Buffer.from("f4908080", "hex"); // above U+10FFFF: invalid from its second byte
const tail = Buffer.from("656469746564", "hex");

for (const isServer of [true, false]) {
  const role = isServer ? "server" : "client";
  const frame = (payload: Buffer, fin: boolean, opcode: number): Buffer =>
    encodeFrame(opcode, payload, { fin, mask: isServer });

  test(`RFC 6455 §8.1 (${role}): invalid UTF-8 in a text frame split across chunks fails on the chunk that holds it`, () => {
    const { events, handler } = recorder();
    const parser = new FrameParser(
      { isServer, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
      handler,
    );
    const bytes = frame(Buffer.concat([valid, invalid, tail]), false, Opcode.TEXT);
    const header = bytes.length - 21;
    parser.push(Buffer.from(bytes.subarray(0, header + valid.length)));
    assert.deepEqual(events, [], "valid prefix: nothing yet");
    parser.push(Buffer.from(bytes.subarray(header + valid.length, header + valid.length + 4)));
    assert.deepEqual(events, ["error:1007:WS_ERR_INVALID_UTF8"], "failed on the second chunk");
  });

  test(`RFC 6455 §8.1 (${role}): a valid text frame split at every byte is delivered once, intact`, () => {
    const text = Buffer.from("héllo wörld, 𝄞 κόσμε", "utf8");
    const bytes = frame(text, true, Opcode.TEXT);
    for (let split = 1; split < bytes.length; split++) {
      const { events, handler } = recorder();
      const parser = new FrameParser(
        { isServer, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
        handler,
      );
      parser.push(Buffer.from(bytes.subarray(0, split)));
      parser.push(Buffer.from(bytes.subarray(split)));
      assert.deepEqual(events, [`message:false:${text.toString("hex")}`], `split at ${split}`);
    }
  });

  test(`RFC 6455 §5.3 (${role}): a masked payload split at odd offsets unmasks correctly`, () => {
    const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const bytes = frame(payload, true, Opcode.BINARY);
    const { events, handler } = recorder();
    const parser = new FrameParser(
      { isServer, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
      handler,
    );
    for (let at = 0; at < bytes.length; at += 7)
      parser.push(Buffer.from(bytes.subarray(at, at + 7)));
    assert.deepEqual(events, [`message:true:${payload.toString("hex")}`], "one intact message");
  });

  test(`RFC 6455 §8.1 (${role}): a truncated code point at the end of a split single-frame message fails`, () => {
    const { events, handler } = recorder();
    const parser = new FrameParser(
      { isServer, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
      handler,
    );
    const bytes = frame(Buffer.concat([valid, Buffer.from([0xce])]), true, Opcode.TEXT);
    parser.push(Buffer.from(bytes.subarray(0, 5)));
    parser.push(Buffer.from(bytes.subarray(5)));
    assert.deepEqual(events, ["error:1007:WS_ERR_INVALID_UTF8"], "1007 at the end");
  });
}

test("RFC 6455 §5.4: chunks pushed while a message inflates are parsed in arrival order", () => {
  const { events, handler } = recorder();
  const pending: Array<() => void> = [];
  const parser = new FrameParser(
    {
      isServer: true,
      maxPayload: 0,
      maxFragments: 0,
      skipUTF8Validation: false,
      // A stub inflater released by hand: it "inflates" to the payload prefixed with "i".
      inflater: {
        decompress(data, fin, callback) {
          const copy = Buffer.concat([Buffer.from("i"), data]);
          pending.push(() => callback(null, fin ? copy : undefined));
        },
      },
    },
    handler,
  );
  const text = (body: string, rsv1: boolean): Buffer =>
    encodeFrame(Opcode.TEXT, Buffer.from(body), { mask: true, rsv1 });
  parser.push(text("1", true));
  parser.push(text("2", true));
  parser.push(text("3", false));
  pending.shift()!();
  parser.push(text("4", false));
  pending.shift()!();
  const hex = (s: string) => `message:false:${Buffer.from(s).toString("hex")}`;
  assert.deepEqual(events, [hex("i1"), hex("i2"), hex("3"), hex("4")], "arrival order kept");
});

/** Payloads above the SIMD block size, in the chunk patterns real reads produce. */
/** Each entry cuts a frame of `total` bytes, `header` of them the frame header, into reads. */
const largeSplits: Array<[string, (total: number, header: number) => number[]]> = [
  ["64 KiB reads", (total) => cuts(total, () => 65_536)],
  ["odd-sized reads", (total) => cuts(total, (i) => 65_531 - (i % 5) * 1_001)],
  ["small reads first, then large", (total) => cuts(total, (i) => (i < 40 ? 97 : 70_000))],
  // Pieces kept by reference, then moved into the body at offsets that are not multiples of 4.
  ["5,001-byte reads", (total) => cuts(total, () => 5_001)],
  [
    "the header and one payload byte, then the rest",
    (total, header) => [header + 1, total - header - 1],
  ],
];

function cuts(total: number, size: (i: number) => number): number[] {
  const out: number[] = [];
  for (let at = 0, i = 0; at < total; i++) {
    const n = Math.min(size(i), total - at);
    out.push(n);
    at += n;
  }
  return out;
}

for (const isServer of [true, false]) {
  const role = isServer ? "server" : "client";
  for (const [name, split] of largeSplits) {
    for (const opcode of [Opcode.BINARY, Opcode.TEXT]) {
      test(`RFC 6455 §5.3 (${role}): a ${opcode === Opcode.TEXT ? "text" : "binary"} payload of 300 KiB in ${name} arrives intact`, () => {
        // ASCII bytes, so the text case is valid UTF-8 too.
        const payload = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => 32 + (i % 95)));
        const bytes = encodeFrame(opcode, payload, { fin: true, mask: isServer });
        const received: Buffer[] = [];
        const parser = new FrameParser(
          { isServer, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
          {
            onMessage: (data) => received.push(Buffer.from(data)),
            onPing: () => {},
            onPong: () => {},
            onClose: () => {},
            onError: (error) => assert.fail(error.message),
          },
        );
        const header = bytes.length - payload.length;
        let at = 0;
        for (const n of split(bytes.length, header)) {
          parser.push(Buffer.from(bytes.subarray(at, at + n)));
          at += n;
        }
        assert.equal(received.length, 1, "one message");
        assert.ok(received[0]!.equals(payload), "bytes intact");
      });
    }
  }
}

test("security checklist 1.7: a split payload's buffer is reserved only once a quarter of it has arrived", () => {
  const total = 8 * 1024 * 1024;
  const bytes = encodeFrame(Opcode.BINARY, Buffer.alloc(total, 1), { fin: true, mask: true });
  const header = bytes.length - total;
  const parser = new FrameParser(
    { isServer: true, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
    {
      onMessage: (data) => assert.equal(data.length, total),
      onPing: () => {},
      onPong: () => {},
      onClose: () => {},
      onError: (error) => assert.fail(error.message),
    },
  );
  const sizes: number[] = [];
  const allocUnsafe = Buffer.allocUnsafe;
  Buffer.allocUnsafe = (size: number) => {
    sizes.push(size);
    return allocUnsafe(size);
  };
  try {
    const step = 64 * 1024;
    let at = 0;
    // Just short of a quarter: the pieces are kept as they are, nothing of the announced size.
    for (; at + step <= header + total / 4 - 1; at += step)
      parser.push(Buffer.from(bytes.subarray(at, at + step)));
    parser.push(Buffer.from(bytes.subarray(at, header + total / 4 - 1)));
    at = header + total / 4 - 1;
    assert.ok(
      sizes.every((size) => size < total),
      `nothing reserved yet (allocations: ${sizes.join(", ")})`,
    );
    parser.push(Buffer.from(bytes.subarray(at, at + 1)));
    at += 1;
    assert.deepEqual(
      sizes.filter((size) => size >= total),
      [total],
      "reserved at a quarter",
    );
    for (; at < bytes.length; at += step) parser.push(Buffer.from(bytes.subarray(at, at + step)));
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  assert.equal(sizes.filter((size) => size >= total).length, 1, "one buffer for the whole payload");
});

test("RFC 6455 §10.4: with no maxPayload, a frame longer than the largest Buffer is 1009 on its header", () => {
  const { events, handler } = recorder();
  const parser = new FrameParser(
    { isServer: false, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
    handler,
  );
  const header = Buffer.alloc(10);
  header[0] = 0x82;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(bufferConstants.MAX_LENGTH) + 1n, 2);
  parser.push(header);
  assert.deepEqual(events, ["error:1009:WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"], "refused at once");
  parser.push(Buffer.alloc(1024 * 1024));
  assert.equal(events.length, 1, "nothing after the failure, and no throw");
});
