/**
 * Property tests of the frame codec (RFC 6455 §5): writer and parser round-trip any valid frame
 * sequence under any chunking, and no byte stream, however broken, makes the parser throw.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ProtocolError } from "../../src/protocol/errors.js";
import { FrameParser, type FrameParserEvents } from "../../src/protocol/frame-parser.js";
import { encodeFrame } from "../../src/protocol/frame-writer.js";
import { Opcode } from "../../src/protocol/opcodes.js";
import type { MessageInflater } from "../../src/protocol/types.js";

type ParserEvent =
  | { type: "message"; data: string; isBinary: boolean }
  | { type: "ping"; data: string }
  | { type: "pong"; data: string }
  | { type: "close"; code: number; reason: string }
  | { type: "error"; code: string; closeCode: number };

/** Payloads as hex: compact in failure output and compared by value. */
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/**
 * Records events and checks the parser's promises as they happen: every error is a ProtocolError
 * reported through onError, and nothing follows the first error or close.
 */
class Recorder implements FrameParserEvents {
  readonly events: ParserEvent[] = [];
  private ended = false;

  onMessage(data: Buffer, isBinary: boolean): void {
    this.record({ type: "message", data: hex(data), isBinary });
  }
  onPing(data: Buffer): void {
    this.record({ type: "ping", data: hex(data) });
  }
  onPong(data: Buffer): void {
    this.record({ type: "pong", data: hex(data) });
  }
  onClose(code: number, reason: Buffer): void {
    this.record({ type: "close", code, reason: hex(reason) });
    this.ended = true;
  }
  onError(error: ProtocolError): void {
    assert.ok(error instanceof ProtocolError, `onError got ${String(error)}`);
    assert.ok([1002, 1007, 1008, 1009].includes(error.closeCode), `close code ${error.closeCode}`);
    assert.match(error.code, /^WS_ERR_/);
    this.record({ type: "error", code: error.code, closeCode: error.closeCode });
    this.ended = true;
  }
  private record(event: ParserEvent): void {
    assert.equal(this.ended, false, `event after the parser ended: ${JSON.stringify(event)}`);
    this.events.push(event);
  }
}

/** Cuts `bytes` at the given offsets (taken modulo length + 1, sorted). */
function chunk(bytes: Buffer, rawCuts: number[]): Buffer[] {
  const cuts = rawCuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

// ── generators ─────────────────────────────────────────────────────────────────────────────────

interface ControlItem {
  kind: "control";
  opcode: typeof Opcode.PING | typeof Opcode.PONG;
  payload: Uint8Array;
}
interface MessageItem {
  kind: "message";
  binary: boolean;
  payload: Uint8Array;
  /** Fragment boundaries (byte offsets into payload, any order, repeats allowed: empty frames). */
  cuts: number[];
  /** A control frame to slip in after fragment i (i < fragment count - 1). */
  interleaved: Array<ControlItem | null>;
}
interface CloseItem {
  code: number | null;
  reason: string;
}

const controlArb: fc.Arbitrary<ControlItem> = fc.record({
  kind: fc.constant("control" as const),
  opcode: fc.constantFrom(Opcode.PING, Opcode.PONG),
  payload: fc.uint8Array({ maxLength: 125 }),
});

/** Deterministic filler for large payloads (fast-check generating 64 KiB arrays is slow). */
function filler(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const binaryPayload = fc.oneof(
  { weight: 12, arbitrary: fc.uint8Array({ maxLength: 140 }) },
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 400 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(65535, 65536, 70_000), fc.integer())
      .map(([length, seed]) => filler(length, seed)),
  },
);

/** Valid text: arbitrary code points, including 4-byte ones that fragment cuts will split. */
const textPayload = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.string({ unit: "binary", minLength: 1, maxLength: 8 }),
        fc.integer({ min: 20, max: 9000 }),
      )
      .map(([unit, times]) => unit.repeat(times)),
  },
);

const messageArb: fc.Arbitrary<MessageItem> = fc
  .record({
    binary: fc.boolean(),
    binaryPayload,
    textPayload,
    cuts: fc.array(fc.nat(), { maxLength: 5 }),
    interleaved: fc.array(fc.option(controlArb, { nil: null }), { maxLength: 5 }),
  })
  .map(({ binary, binaryPayload, textPayload, cuts, interleaved }) => {
    const payload = binary ? binaryPayload : Uint8Array.from(Buffer.from(textPayload, "utf8"));
    return {
      kind: "message" as const,
      binary,
      payload,
      cuts: cuts.map((cut) => cut % (payload.length + 1)).sort((a, b) => a - b),
      interleaved,
    };
  });

const validCloseCode = fc.oneof(
  fc.integer({ min: 1000, max: 1003 }),
  fc.integer({ min: 1007, max: 1014 }),
  fc.integer({ min: 3000, max: 4999 }),
);

const closeArb: fc.Arbitrary<CloseItem> = fc.oneof(
  fc.constant({ code: null, reason: "" }),
  // 30 code points of at most 4 bytes: within the 123 bytes a close reason may take.
  fc.record({ code: validCloseCode, reason: fc.string({ unit: "binary", maxLength: 30 }) }),
);

const streamArb = fc.record({
  isServer: fc.boolean(),
  items: fc.array(
    fc.oneof({ weight: 3, arbitrary: messageArb }, { weight: 1, arbitrary: controlArb }),
    {
      maxLength: 10,
    },
  ),
  close: fc.option(closeArb, { nil: null }),
  splits: fc.array(fc.nat(), { maxLength: 24 }),
});

interface Built {
  bytes: Buffer;
  /** Offsets where each frame starts (for targeted mutations). */
  frameStarts: number[];
  expected: ParserEvent[];
}

/** Serialises the plan with the writer under test and computes the events it must produce. */
function build(
  isServer: boolean,
  items: Array<MessageItem | ControlItem>,
  close: CloseItem | null,
): Built {
  const frames: Buffer[] = [];
  const expected: ParserEvent[] = [];
  // Frames travel towards the parser: masked when the parser is a server (RFC 6455 §5.1).
  const mask = isServer;
  const control = (item: ControlItem) => {
    frames.push(encodeFrame(item.opcode, item.payload, { mask }));
    expected.push({ type: item.opcode === Opcode.PING ? "ping" : "pong", data: hex(item.payload) });
  };
  for (const item of items) {
    if (item.kind === "control") {
      control(item);
      continue;
    }
    const bounds = [0, ...item.cuts, item.payload.length];
    const count = bounds.length - 1;
    for (let i = 0; i < count; i++) {
      const piece = item.payload.subarray(bounds[i]!, bounds[i + 1]!);
      const opcode = i > 0 ? Opcode.CONTINUATION : item.binary ? Opcode.BINARY : Opcode.TEXT;
      frames.push(encodeFrame(opcode, piece, { mask, fin: i === count - 1 }));
      const between = item.interleaved[i];
      if (i < count - 1 && between) control(between);
    }
    expected.push({ type: "message", data: hex(item.payload), isBinary: item.binary });
  }
  if (close !== null) {
    const reason = Buffer.from(close.reason, "utf8");
    let payload = Buffer.alloc(0);
    if (close.code !== null) {
      payload = Buffer.alloc(2 + reason.length);
      payload.writeUInt16BE(close.code, 0);
      reason.copy(payload, 2);
    }
    frames.push(encodeFrame(Opcode.CLOSE, payload, { mask }));
    expected.push({
      type: "close",
      code: close.code ?? 1005,
      reason: close.code === null ? "" : hex(reason),
    });
    // Bytes after the close frame must be ignored.
    frames.push(encodeFrame(Opcode.TEXT, Buffer.from("ignored"), { mask }));
    frames.push(Buffer.from([0xff, 0xff, 0xff]));
  }
  const frameStarts: number[] = [];
  let offset = 0;
  for (const frame of frames) {
    frameStarts.push(offset);
    offset += frame.length;
  }
  return { bytes: Buffer.concat(frames), frameStarts, expected };
}

function newParser(
  isServer: boolean,
  rec: Recorder,
  limits: { maxPayload?: number; maxFragments?: number; inflater?: MessageInflater | null } = {},
): FrameParser {
  return new FrameParser(
    {
      isServer,
      maxPayload: limits.maxPayload ?? 0,
      maxFragments: limits.maxFragments ?? 0,
      skipUTF8Validation: false,
      inflater: limits.inflater ?? null,
    },
    rec,
  );
}

// ── (1) round trip ────────────────────────────────────────────────────────────────────────────

test("RFC 6455 §5.2–§5.5: any valid frame sequence, serialised and re-parsed in any chunks, round-trips", {
  timeout: 60_000,
}, () => {
  fc.assert(
    fc.property(streamArb, ({ isServer, items, close, splits }) => {
      const { bytes, expected } = build(isServer, items, close);
      const rec = new Recorder();
      const parser = newParser(isServer, rec);
      // Fresh copies: the parser unmasks whole frames in place in the chunk it is given.
      for (const piece of chunk(bytes, splits)) parser.push(Buffer.from(piece));
      assert.deepEqual(rec.events, expected);
      assert.equal(parser.finished, close !== null);
    }),
    { numRuns: 400 },
  );
});

// ── (2) robustness ────────────────────────────────────────────────────────────────────────────

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "duplicate"; at: number; length: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "forgeLength"; frame: number; byte1: number; extended: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("duplicate" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({
    kind: fc.constant("forgeLength" as const),
    frame: fc.nat(),
    // The second header byte: MASK bit plus a 7-bit length, biased to 126/127 (extended forms).
    byte1: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(126, 127, 0xfe, 0xff)),
    extended: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
);

function mutate(built: Built, mutation: Mutation): Buffer {
  const bytes = Buffer.from(built.bytes);
  const n = bytes.length;
  if (n === 0) return bytes;
  switch (mutation.kind) {
    case "flip": {
      bytes[mutation.at % n]! ^= 1 << mutation.bit;
      return bytes;
    }
    case "truncate":
      return bytes.subarray(0, mutation.at % n);
    case "duplicate": {
      const at = mutation.at % n;
      const piece = bytes.subarray(at, at + mutation.length);
      return Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(at)]);
    }
    case "insert": {
      const at = mutation.at % (n + 1);
      return Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
    }
    case "forgeLength": {
      const start = built.frameStarts[mutation.frame % built.frameStarts.length]!;
      if (start + 1 < n) bytes[start + 1] = mutation.byte1;
      const length = mutation.byte1 & 0x7f;
      const width = length === 126 ? 2 : length === 127 ? 8 : 0;
      for (let i = 0; i < width && start + 2 + i < n; i++)
        bytes[start + 2 + i] = mutation.extended[i]!;
      return bytes;
    }
  }
}

/** An inflater that hands the frames back unchanged, synchronously: lets RSV1 frames through. */
class PassThroughInflater implements MessageInflater {
  private parts: Buffer[] = [];
  decompress(
    data: Buffer,
    fin: boolean,
    callback: (error: Error | null, result?: Buffer) => void,
  ): void {
    this.parts.push(Buffer.from(data));
    if (!fin) {
      callback(null);
      return;
    }
    const whole = Buffer.concat(this.parts);
    this.parts = [];
    callback(null, whole);
  }
}

const limitsArb = fc.record({
  maxPayload: fc.constantFrom(0, 0, 1, 100, 1000, 70_000),
  maxFragments: fc.constantFrom(0, 0, 1, 2, 5),
  inflate: fc.boolean(),
});

/** Pushes every piece; `push` itself must never throw (the handlers here do not). */
function pushAll(parser: FrameParser, pieces: Buffer[]): void {
  for (const piece of pieces) {
    try {
      parser.push(Buffer.from(piece));
    } catch (error) {
      assert.fail(`push threw ${String(error)} (${(error as Error)?.stack ?? ""})`);
    }
  }
}

/** After the first error or close the parser must report itself finished. */
function checkEnd(parser: FrameParser, rec: Recorder): void {
  const last = rec.events.at(-1);
  const ended = last !== undefined && (last.type === "error" || last.type === "close");
  assert.equal(parser.finished, ended);
  const terminal = rec.events.filter((event) => event.type === "error" || event.type === "close");
  assert.ok(terminal.length <= 1, "at most one error or close");
  // Further input changes nothing.
  const before = rec.events.length;
  if (ended) {
    pushAll(parser, [Buffer.from([0x81, 0x00, 0x89, 0x00])]);
    assert.equal(rec.events.length, before);
  }
}

test("RFC 6455 §7.1.7: mutated valid streams never make push throw; errors arrive once via onError", {
  timeout: 60_000,
}, () => {
  fc.assert(
    fc.property(
      streamArb,
      fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
      limitsArb,
      ({ isServer, items, close, splits }, mutations, limits) => {
        const built = build(isServer, items, close);
        let bytes = built.bytes;
        for (const mutation of mutations) bytes = mutate({ ...built, bytes }, mutation);
        const rec = new Recorder();
        const parser = newParser(isServer, rec, {
          maxPayload: limits.maxPayload,
          maxFragments: limits.maxFragments,
          inflater: limits.inflate ? new PassThroughInflater() : null,
        });
        pushAll(parser, chunk(bytes, splits));
        checkEnd(parser, rec);
      },
    ),
    { numRuns: 1000 },
  );
});

test("RFC 6455 §7.1.7: random byte streams never make push throw; errors arrive once via onError", {
  timeout: 60_000,
}, () => {
  const header = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }));
  // Random bytes, and random bytes that start with plausible headers so parsing gets deeper.
  const stream = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .array(fc.tuple(header, fc.uint8Array({ maxLength: 40 })), { maxLength: 12 })
      .map((parts) =>
        Buffer.concat(
          parts.map(([[b0, b1], rest]) => Buffer.concat([Buffer.from([b0, b1]), rest])),
        ),
      ),
  );
  fc.assert(
    fc.property(
      fc.boolean(),
      stream,
      fc.array(fc.nat(), { maxLength: 16 }),
      limitsArb,
      (isServer, bytes, splits, limits) => {
        const rec = new Recorder();
        const parser = newParser(isServer, rec, {
          maxPayload: limits.maxPayload,
          maxFragments: limits.maxFragments,
          inflater: limits.inflate ? new PassThroughInflater() : null,
        });
        pushAll(parser, chunk(Buffer.from(bytes), splits));
        checkEnd(parser, rec);
      },
    ),
    { numRuns: 4000 },
  );
});
