// Text frames whose payload arrives in several TCP chunks: invalid UTF-8 must fail on the chunk
// that carries it (Autobahn 6.4.3/6.4.4 send one frame in timed chops and expect the failure
// before the frame is complete).
import assert from "node:assert/strict";
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
