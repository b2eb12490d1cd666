/**
 * FrameParser with lent chunks (`push(chunk, true)`), as the Node adapter pushes reads of its one
 * shared read buffer: the caller overwrites the chunk as soon as `push` returns, so nothing the
 * parser delivers or keeps may point into it. Every test here copies each chunk into one reused
 * scratch buffer, pushes it lent, scribbles over the scratch, and only at the end compares what was
 * delivered (held by reference, never copied) with an ordinary parse of the same bytes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProtocolError } from "../../src/protocol/errors.js";
import type {
  FrameParser,
  FrameParserEvents,
  FrameParserOptions,
} from "../../src/protocol/frame-parser.js";
import { Opcode } from "../../src/protocol/opcodes.js";
import { simdMasker } from "../../src/protocol/simd-mask.js";
import type { MessageInflater } from "../../src/protocol/types.js";
import { closePayload, type FrameSpec, forgeFrame } from "../helpers/frame-forger.js";
import { parserFor } from "../helpers/parser.js";

type Event = { type: string; data: Buffer; isBinary?: boolean; code?: number | string };

/** Keeps every delivered buffer as it was handed over: a view into the scratch would show. */
class Keeper implements FrameParserEvents {
  readonly events: Event[] = [];
  hook: ((event: Event) => void) | null = null;
  onMessage(data: Buffer, isBinary: boolean): void {
    this.record({ type: "message", data, isBinary });
  }
  onPing(data: Buffer): void {
    this.record({ type: "ping", data });
  }
  onPong(data: Buffer): void {
    this.record({ type: "pong", data });
  }
  onClose(code: number, reason: Buffer): void {
    this.record({ type: "close", data: reason, code });
  }
  onError(error: ProtocolError): void {
    this.record({ type: "error", data: Buffer.alloc(0), code: error.code });
  }
  private record(event: Event): void {
    this.events.push(event);
    this.hook?.(event);
  }
}

function makeParser(options: Partial<FrameParserOptions> = {}): {
  parser: FrameParser;
  keeper: Keeper;
} {
  const keeper = new Keeper();
  const parser = parserFor(keeper, options);
  return { parser, keeper };
}

/** Scratch buffers as the adapter has them: the SIMD kernel's spare page, and a plain buffer. */
function scratches(): { name: string; buffer: Buffer }[] {
  const list: { name: string; buffer: Buffer }[] = [
    { name: "plain scratch", buffer: Buffer.alloc(64 * 1024) },
  ];
  const spare = simdMasker()?.spare;
  if (spare !== undefined) {
    list.push({
      name: "scratch in the SIMD kernel's memory",
      buffer: Buffer.from(spare.buffer, spare.byteOffset, spare.length),
    });
  }
  return list;
}

/** Pushes `bytes` lent, in pieces of `size` (at most the scratch's length), scribbling after each. */
function lend(parser: FrameParser, scratch: Buffer, bytes: Buffer, size: number): void {
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    piece.copy(scratch);
    parser.push(scratch.subarray(0, piece.length), true);
    scratch.fill(0xee);
  }
}

/** The events of an ordinary parse (one owned chunk), payloads copied. */
function reference(bytes: Buffer, options: Partial<FrameParserOptions> = {}): Event[] {
  const { parser, keeper } = makeParser(options);
  parser.push(Buffer.from(bytes));
  return keeper.events.map((event) => ({ ...event, data: Buffer.from(event.data) }));
}

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const f = (isServer: boolean, spec: FrameSpec): Buffer =>
  forgeFrame({ mask: isServer, maskingKey: KEY, ...spec });

function patterned(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Every path of the parser: whole frames, split frames below and above the tail size, large
 * frames that reserve their body, validated text split anywhere, fragments, control frames. */
function stream(isServer: boolean): Buffer {
  const text = Buffer.from("é😀".repeat(7000)); // 42 KiB of multi-byte UTF-8
  return Buffer.concat([
    f(isServer, { opcode: Opcode.TEXT, payload: "hello" }),
    f(isServer, { opcode: Opcode.BINARY, payload: patterned(700, 1) }),
    f(isServer, { opcode: Opcode.BINARY, payload: patterned(16 * 1024 + 1, 2) }),
    f(isServer, { opcode: Opcode.PING, payload: "are you there" }),
    f(isServer, { opcode: Opcode.TEXT, payload: text }),
    f(isServer, { opcode: Opcode.BINARY, payload: patterned(300_000, 3), fin: false }),
    f(isServer, { opcode: Opcode.PONG, payload: patterned(125, 4) }),
    f(isServer, { opcode: Opcode.CONTINUATION, payload: patterned(5000, 5) }),
    f(isServer, { opcode: Opcode.TEXT, payload: text.subarray(0, 1001), fin: false }),
    f(isServer, { opcode: Opcode.CONTINUATION, payload: text.subarray(1001, 2000) }),
    f(isServer, { opcode: Opcode.BINARY, payload: Buffer.alloc(0) }),
    f(isServer, { opcode: Opcode.CLOSE, payload: closePayload(1000, "bye") }),
  ]);
}

for (const isServer of [true, false]) {
  const role = isServer ? "server role (masked)" : "client role (unmasked)";
  for (const { name, buffer } of scratches()) {
    test(`lent chunks: every delivered payload survives the scratch being overwritten, ${role}, ${name}`, () => {
      const bytes = stream(isServer);
      const expected = reference(bytes, { isServer });
      assert.deepEqual(
        expected.map((event) => event.type),
        ["message", "message", "message", "ping", "message", "pong"].concat([
          "message",
          "message",
          "message",
          "close",
        ]),
        "the reference parse saw every frame",
      );
      for (const size of [1, 7, 100, 4096, 16 * 1024 + 3, 64 * 1024]) {
        const { parser, keeper } = makeParser({ isServer });
        lend(parser, buffer, bytes, size);
        assert.deepEqual(keeper.events, expected, `pieces of ${size} bytes`);
      }
    });
  }
}

test("lent chunks: a pause inside a handler keeps the rest of the chunk, intact, for resume()", () => {
  const buffer = scratches()[0]!.buffer;
  const bytes = stream(true);
  const expected = reference(bytes);
  const { parser, keeper } = makeParser();
  // Pause after every message, resume only after the scratch was overwritten. Every chunk starts
  // inside a frame (see the next test), so none is copied before parsing.
  keeper.hook = (event) => {
    if (event.type === "message") parser.pause();
  };
  lend(parser, buffer, bytes.subarray(0, 1), 1);
  lend(parser, buffer, bytes.subarray(1), 3001);
  for (let turns = 0; turns < 100 && keeper.events.length < expected.length; turns++) {
    buffer.fill(0xdd);
    parser.resume();
  }
  assert.deepEqual(keeper.events, expected);
});

test("lent chunks: a handler that throws leaves the rest of the chunk to a microtask, intact", async () => {
  const buffer = scratches()[0]!.buffer;
  const bytes = Buffer.concat([
    f(true, { opcode: Opcode.TEXT, payload: "first" }),
    f(true, { opcode: Opcode.TEXT, payload: "second" }),
    f(true, { opcode: Opcode.BINARY, payload: patterned(2000, 9) }),
  ]);
  const expected = reference(bytes);
  const { parser, keeper } = makeParser();
  keeper.hook = (event) => {
    if (event.data.toString() === "first") throw new Error("handler failed");
  };
  // The first frame's header comes alone, so the chunk that throws starts inside a frame (a chunk
  // that starts with whole frames is copied before parsing; this one is parsed where it lies).
  lend(parser, buffer, bytes.subarray(0, 1), 1);
  const rest = bytes.subarray(1);
  rest.copy(buffer);
  assert.throws(() => parser.push(buffer.subarray(0, rest.length), true), /handler failed/);
  buffer.fill(0xee);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(keeper.events, expected);
});

test("lent chunks: a compressed payload handed to the inflater is the parser's own copy", async () => {
  const buffer = scratches()[0]!.buffer;
  const seen: Buffer[] = [];
  // An inflater that answers later, as zlib does, with the bytes it was given.
  const inflater: MessageInflater = {
    decompress(data, _fin, callback) {
      seen.push(data);
      setImmediate(() => callback(null, Buffer.from(data)));
    },
  };
  const payload = patterned(3000, 7);
  const bytes = Buffer.concat([
    f(true, { opcode: Opcode.BINARY, payload, rsv1: true }),
    f(true, { opcode: Opcode.TEXT, payload: "after" }),
  ]);
  const { parser, keeper } = makeParser({ inflater });
  bytes.copy(buffer);
  parser.push(buffer.subarray(0, bytes.length), true);
  buffer.fill(0xee);
  for (let turns = 0; turns < 20 && keeper.events.length < 2; turns++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(seen, [payload]);
  assert.deepEqual(
    keeper.events.map((event) => event.data.toString("hex")),
    [payload.toString("hex"), Buffer.from("after").toString("hex")],
  );
});

test("lent chunks: what the parser allocates for a frame stays within 4× what arrived, plus 16 KiB", () => {
  const buffer = scratches()[0]!.buffer;
  // A peer announces 8 MiB and trickles it: the parser's allocations follow what arrived.
  const length = 8 * 1024 * 1024;
  const header = f(true, { opcode: Opcode.BINARY, payload: Buffer.alloc(0) }).subarray(0, 2);
  header[1] = 0x80 | 127;
  const head = Buffer.concat([
    header,
    Buffer.from([0, 0, 0, 0, 0, length >>> 16, 0, 0]), // 64-bit length, 8 MiB
    KEY,
  ]);
  const { parser } = makeParser();
  let allocated = 0;
  const allocUnsafe = Buffer.allocUnsafe;
  Buffer.allocUnsafe = (size: number) => {
    allocated += size;
    return allocUnsafe(size);
  };
  try {
    lend(parser, buffer, head, head.length);
    let arrived = 0;
    for (const size of [1, 10, 1000, 5000, 60_000, 65_536, 65_536, 65_536]) {
      const piece = Buffer.alloc(size, 0x11);
      lend(parser, buffer, piece, size);
      arrived += size;
      assert.ok(
        allocated <= 4 * arrived + 16 * 1024,
        `${allocated} bytes allocated for ${arrived} arrived`,
      );
      assert.ok(allocated <= length / 4 + 16 * 1024);
    }
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
});

test("lent chunks: one that starts with a whole frame is copied once, its frames views of the copy", () => {
  const buffer = scratches()[0]!.buffer;
  const bytes = Buffer.concat(
    ["one", "two", "three"].map((text) => f(true, { opcode: Opcode.TEXT, payload: text })),
  );
  const { parser, keeper } = makeParser();
  lend(parser, buffer, bytes, bytes.length);
  assert.deepEqual(
    keeper.events.map((event) => event.data.toString()),
    ["one", "two", "three"],
  );
  const backing = keeper.events.map((event) => event.data.buffer);
  assert.ok(
    backing.every((memory) => memory === backing[0]),
    "one copy for the chunk",
  );
  assert.notEqual(backing[0], buffer.buffer, "not the lent buffer");
});

test("lent chunks: a large frame's staging tail serves the next large frame, of any connection", () => {
  const buffer = scratches()[0]!.buffer;
  const payloads = [0, 1, 2].map((seed) => patterned(1 << 20, seed));
  const frames = payloads.map((payload) => f(true, { opcode: Opcode.BINARY, payload }));
  type Staging = { tail: Buffer | null };
  const first = makeParser();
  const second = makeParser();
  const read = 64 * 1024;
  // Frame 1 on the first connection, in 64 KiB reads: its tail once three reads are staged.
  lend(first.parser, buffer, frames[0]!.subarray(0, 3 * read), read);
  const tail = (first.parser as unknown as Staging).tail;
  assert.ok(tail !== null && tail.length <= (1 << 20) / 4);
  lend(first.parser, buffer, frames[0]!.subarray(3 * read), read);
  // Frame 2 on another connection, frame 3 on the first again: the same tail each time.
  lend(second.parser, buffer, frames[1]!.subarray(0, read), read);
  assert.equal((second.parser as unknown as Staging).tail, tail, "handed to the next frame");
  lend(second.parser, buffer, frames[1]!.subarray(read), read);
  lend(first.parser, buffer, frames[2]!.subarray(0, read), read);
  assert.equal((first.parser as unknown as Staging).tail, tail, "and back");
  lend(first.parser, buffer, frames[2]!.subarray(read), read);
  assert.deepEqual(
    first.keeper.events.map((event) => event.data),
    [payloads[0], payloads[2]],
  );
  assert.deepEqual(
    second.keeper.events.map((event) => event.data),
    [payloads[1]],
  );
});
