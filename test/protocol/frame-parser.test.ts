/**
 * FrameParser (RFC 6455 §5, RFC 7692 §6), byte by byte, in both roles.
 *
 * Frames are built with the independent forger in test/helpers, never with the writer under test,
 * so a mistake shared by writer and parser cannot hide here. Every push hands the parser a fresh
 * copy: the parser unmasks whole frames in place inside the chunk it is given, so re-pushing the
 * same buffer would feed it already-unmasked bytes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, ProtocolError } from "../../src/protocol/errors.js";
import {
  FrameParser,
  type FrameParserEvents,
  type FrameParserOptions,
} from "../../src/protocol/frame-parser.js";
import { Opcode } from "../../src/protocol/opcodes.js";
import type { MessageInflater } from "../../src/protocol/types.js";
import { closePayload, type FrameSpec, forgeFrame } from "../helpers/frame-forger.js";
import { parserFor } from "../helpers/parser.js";

// ── recording harness ───────────────────────────────────────────────────────────────────────────

type ParserEvent =
  | { type: "message"; data: Buffer; isBinary: boolean }
  | { type: "ping"; data: Buffer }
  | { type: "pong"; data: Buffer }
  | { type: "close"; code: number; reason: Buffer }
  | { type: "error"; code: string; closeCode: number };

/** Records every event (payloads copied: the parser may hand out views of its input). */
class Recorder implements FrameParserEvents {
  readonly events: ParserEvent[] = [];
  readonly errors: unknown[] = [];
  /** Runs after each event is recorded: lets a test throw or pause from inside a handler. */
  hook: ((event: ParserEvent) => void) | null = null;

  onMessage(data: Buffer, isBinary: boolean): void {
    this.record({ type: "message", data: Buffer.from(data), isBinary });
  }
  onPing(data: Buffer): void {
    this.record({ type: "ping", data: Buffer.from(data) });
  }
  onPong(data: Buffer): void {
    this.record({ type: "pong", data: Buffer.from(data) });
  }
  onClose(code: number, reason: Buffer): void {
    this.record({ type: "close", code, reason: Buffer.from(reason) });
  }
  onError(error: ProtocolError): void {
    this.errors.push(error);
    this.record({ type: "error", code: error.code, closeCode: error.closeCode });
  }
  private record(event: ParserEvent): void {
    this.events.push(event);
    this.hook?.(event);
  }
}

function makeParser(options: Partial<FrameParserOptions> = {}): {
  parser: FrameParser;
  rec: Recorder;
} {
  const rec = new Recorder();
  const parser = parserFor(rec, options);
  return { parser, rec };
}

/** Pushes fresh copies of `chunks` (see the module comment for why copies). */
function feed(parser: FrameParser, ...chunks: Uint8Array[]): void {
  for (const chunk of chunks) parser.push(Buffer.from(chunk));
}

/** The events `bytes` produce in one push. */
function parseAll(
  bytes: Uint8Array | Uint8Array[],
  options: Partial<FrameParserOptions> = {},
): ParserEvent[] {
  const { parser, rec } = makeParser(options);
  if (Array.isArray(bytes)) feed(parser, ...bytes);
  else feed(parser, bytes);
  return rec.events;
}

/** A non-trivial fixed key (the one in RFC 6455 §5.7's examples). */
const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** A frame as the peer of a parser in role `isServer` sends it: masked towards a server (§5.1). */
function frame(isServer: boolean, spec: FrameSpec): Buffer {
  return forgeFrame({ mask: isServer, maskingKey: KEY, ...spec });
}

const ROLES = [
  { isServer: true, name: "server role (masked input)" },
  { isServer: false, name: "client role (unmasked input)" },
] as const;

const b = (text: string): Buffer => Buffer.from(text, "utf8");
const msg = (data: string | Buffer, isBinary = false): ParserEvent => ({
  type: "message",
  data: typeof data === "string" ? b(data) : data,
  isBinary,
});
const ping = (data: string | Buffer = ""): ParserEvent => ({
  type: "ping",
  data: typeof data === "string" ? b(data) : data,
});
const pong = (data: string | Buffer = ""): ParserEvent => ({
  type: "pong",
  data: typeof data === "string" ? b(data) : data,
});
const close = (code: number, reason = ""): ParserEvent => ({
  type: "close",
  code,
  reason: b(reason),
});
const err = (code: string, closeCode: number): ParserEvent => ({ type: "error", code, closeCode });

/** Asserts `events` is exactly `before` followed by one error with this code and close code. */
function assertFailed(
  events: ParserEvent[],
  code: string,
  closeCode: number,
  before: ParserEvent[] = [],
): void {
  assert.deepEqual(events, [...before, err(code, closeCode)]);
}

/** Resolves once the event loop has turned `n` times (setImmediate callbacks run in between). */
async function turns(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits (bounded) until `condition` holds. */
async function until(condition: () => boolean, limit = 1000): Promise<void> {
  for (let i = 0; i < limit && !condition(); i++) await turns();
  assert.ok(condition(), "condition not reached");
}

// ── RFC 6455 §5.7 examples ─────────────────────────────────────────────────────────────────────

test("RFC 6455 §5.7: the specification's example frames parse as described", () => {
  const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
  // Client role receives unmasked frames.
  assert.deepEqual(parseAll(hex("81 05 48 65 6c 6c 6f"), { isServer: false }), [msg("Hello")]);
  assert.deepEqual(parseAll([hex("01 03 48 65 6c"), hex("80 02 6c 6f")], { isServer: false }), [
    msg("Hello"),
  ]);
  assert.deepEqual(parseAll(hex("89 05 48 65 6c 6c 6f"), { isServer: false }), [ping("Hello")]);
  const binary256 = Buffer.concat([hex("82 7e 01 00"), Buffer.alloc(256, 7)]);
  assert.deepEqual(parseAll(binary256, { isServer: false }), [msg(Buffer.alloc(256, 7), true)]);
  const binary64k = Buffer.concat([hex("82 7f 00 00 00 00 00 01 00 00"), Buffer.alloc(65536, 9)]);
  assert.deepEqual(parseAll(binary64k, { isServer: false }), [msg(Buffer.alloc(65536, 9), true)]);
  // Server role receives masked frames.
  assert.deepEqual(parseAll(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58")), [msg("Hello")]);
  assert.deepEqual(parseAll(hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")), [pong("Hello")]);
});

// ── opcodes, FIN, RSV, lengths ─────────────────────────────────────────────────────────────────

for (const { isServer, name } of ROLES) {
  const f = (spec: FrameSpec) => frame(isServer, spec);
  const parse = (bytes: Uint8Array | Uint8Array[], options: Partial<FrameParserOptions> = {}) =>
    parseAll(bytes, { isServer, ...options });

  test(`RFC 6455 §5.2/§5.6/§5.5: every defined opcode is delivered, ${name}`, () => {
    const events = parse([
      f({ opcode: Opcode.TEXT, payload: "text ✓" }),
      f({ opcode: Opcode.BINARY, payload: Buffer.from([0, 1, 0xff]) }),
      f({ opcode: Opcode.TEXT, payload: "frag", fin: false }),
      f({ opcode: Opcode.CONTINUATION, payload: "ment" }),
      f({ opcode: Opcode.PING, payload: "ping!" }),
      f({ opcode: Opcode.PONG, payload: Buffer.from([1, 2]) }),
      f({ opcode: Opcode.CLOSE, payload: closePayload(1000, "bye") }),
    ]);
    assert.deepEqual(events, [
      msg("text ✓"),
      msg(Buffer.from([0, 1, 0xff]), true),
      msg("fragment"),
      ping("ping!"),
      pong(Buffer.from([1, 2])),
      close(1000, "bye"),
    ]);
  });

  test(`RFC 6455 §5.2: FIN clear holds the message until a FIN continuation, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    feed(parser, f({ opcode: Opcode.BINARY, payload: "ab", fin: false }));
    feed(parser, f({ opcode: Opcode.CONTINUATION, payload: "cd", fin: false }));
    assert.deepEqual(rec.events, []);
    feed(parser, f({ opcode: Opcode.CONTINUATION, payload: "ef", fin: true }));
    assert.deepEqual(rec.events, [msg(b("abcdef"), true)]);
  });

  test(`RFC 6455 §5.2: 7/16/64-bit lengths at 0, 125, 126, 65535, 65536, ${name}`, () => {
    const cases: Array<[number, number]> = [
      [0, 2],
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
    ];
    for (const [length, headerBytes] of cases) {
      const payload = Buffer.alloc(length);
      for (let i = 0; i < length; i++) payload[i] = (i * 31 + 7) & 0xff;
      const bytes = f({ opcode: Opcode.BINARY, payload });
      // The forger used the minimal form, so the header is the expected size.
      assert.equal(bytes.length, headerBytes + (isServer ? 4 : 0) + length);
      assert.deepEqual(parse(bytes), [msg(payload, true)], `length ${length}`);
      // The same frame as a text message (ASCII).
      const text = Buffer.alloc(length, 0x61);
      assert.deepEqual(parse(f({ opcode: Opcode.TEXT, payload: text })), [msg(text)]);
    }
  });

  test(`RFC 6455 §5.2: a 64-bit length with the top bit set fails with 1002, ${name}`, () => {
    for (const announced of [0x8000000000000000n, 0xffffffffffffffffn, 0x8000000000000005n]) {
      const header = f({ opcode: Opcode.BINARY, announcedLength: announced });
      // Only the header: no body is needed to know the frame is invalid.
      assertFailed(parse(header), ErrorCodes.INVALID_PAYLOAD_LENGTH, 1002);
    }
    const { parser, rec } = makeParser({ isServer });
    feed(parser, f({ opcode: Opcode.BINARY, announcedLength: 0x8000000000000000n }));
    assert.ok(rec.errors[0] instanceof ProtocolError);
    assert.ok(rec.errors[0] instanceof RangeError);
    assert.equal(parser.finished, true);
  });

  test(`RFC 6455 §5.2: reserved opcodes 3–7 and 0xB–0xF fail with 1002, ${name}`, () => {
    for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      assertFailed(parse(f({ opcode, payload: "x" })), ErrorCodes.INVALID_OPCODE, 1002);
      // Also inside a fragmented message.
      assertFailed(
        parse([f({ opcode: Opcode.TEXT, payload: "a", fin: false }), f({ opcode })]),
        ErrorCodes.INVALID_OPCODE,
        1002,
      );
    }
  });

  test(`RFC 6455 §5.2: RSV2 or RSV3 set fails with 1002, ${name}`, () => {
    for (const bits of [{ rsv2: true }, { rsv3: true }, { rsv2: true, rsv3: true }]) {
      for (const opcode of [Opcode.TEXT, Opcode.BINARY, Opcode.PING]) {
        assertFailed(
          parse(f({ opcode, payload: "x", ...bits })),
          ErrorCodes.UNEXPECTED_RSV_2_3,
          1002,
        );
      }
    }
  });

  test(`RFC 6455 §5.2: RSV1 without a negotiated extension fails with 1002, ${name}`, () => {
    for (const opcode of [Opcode.TEXT, Opcode.BINARY]) {
      assertFailed(
        parse(f({ opcode, payload: "x", rsv1: true })),
        ErrorCodes.UNEXPECTED_RSV_1,
        1002,
      );
    }
    assertFailed(
      parse([
        f({ opcode: Opcode.TEXT, payload: "a", fin: false }),
        f({ opcode: Opcode.CONTINUATION, payload: "b", rsv1: true }),
      ]),
      ErrorCodes.UNEXPECTED_RSV_1,
      1002,
    );
  });

  test(`RFC 7692 §6.1: RSV1 on a continuation frame fails with 1002 even with an inflater, ${name}`, () => {
    const inflater = new StubInflater({ async: false });
    assertFailed(
      parse(
        [
          f({ opcode: Opcode.TEXT, payload: "a", fin: false, rsv1: true }),
          f({ opcode: Opcode.CONTINUATION, payload: "b", rsv1: true }),
        ],
        { inflater },
      ),
      ErrorCodes.UNEXPECTED_RSV_1,
      1002,
    );
    // Also when the first frame was not compressed.
    assertFailed(
      parse(
        [
          f({ opcode: Opcode.TEXT, payload: "a", fin: false }),
          f({ opcode: Opcode.CONTINUATION, payload: "b", rsv1: true }),
        ],
        { inflater },
      ),
      ErrorCodes.UNEXPECTED_RSV_1,
      1002,
    );
  });

  test(`RFC 7692 §6.1: RSV1 on a control frame fails with 1002 even with an inflater, ${name}`, () => {
    const inflater = new StubInflater({ async: false });
    for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.CLOSE]) {
      assertFailed(
        parse(f({ opcode, rsv1: true }), { inflater }),
        ErrorCodes.UNEXPECTED_RSV_1,
        1002,
      );
    }
    assert.equal(inflater.calls.length, 0);
  });

  test(`RFC 6455 §5.5: a control frame over 125 bytes fails with 1002, ${name}`, () => {
    for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.CLOSE]) {
      // 125 is the largest allowed.
      const ok = parse(
        f({
          opcode,
          payload:
            opcode === Opcode.CLOSE ? closePayload(1000, "r".repeat(123)) : Buffer.alloc(125, 1),
        }),
      );
      assert.equal(ok.length, 1);
      assert.notEqual(ok[0]?.type, "error");
      for (const length of [126, 127, 65536]) {
        // Header only: the announced length alone decides.
        assertFailed(
          parse(f({ opcode, announcedLength: length })),
          ErrorCodes.INVALID_CONTROL_PAYLOAD_LENGTH,
          1002,
        );
      }
    }
  });

  test(`RFC 6455 §5.5: a control frame with FIN clear fails with 1002, ${name}`, () => {
    for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.CLOSE]) {
      assertFailed(parse(f({ opcode, fin: false })), ErrorCodes.EXPECTED_FIN, 1002);
    }
  });

  test(`RFC 6455 §5.4: a continuation frame with no message in progress fails with 1002, ${name}`, () => {
    assertFailed(
      parse(f({ opcode: Opcode.CONTINUATION, payload: "x" })),
      ErrorCodes.UNEXPECTED_CONTINUATION,
      1002,
    );
    // After a complete message, too.
    assertFailed(
      parse([f({ opcode: Opcode.TEXT, payload: "done" }), f({ opcode: Opcode.CONTINUATION })]),
      ErrorCodes.UNEXPECTED_CONTINUATION,
      1002,
      [msg("done")],
    );
  });

  test(`RFC 6455 §5.4: a new data frame inside a fragmented message fails with 1002, ${name}`, () => {
    for (const opcode of [Opcode.TEXT, Opcode.BINARY]) {
      assertFailed(
        parse([
          f({ opcode: Opcode.BINARY, payload: "a", fin: false }),
          f({ opcode, payload: "b" }),
        ]),
        ErrorCodes.EXPECTED_CONTINUATION,
        1002,
      );
    }
  });

  test(`RFC 6455 §5.4: control frames interleaved in a fragmented message, ${name}`, () => {
    const events = parse([
      f({ opcode: Opcode.TEXT, payload: "Hel", fin: false }),
      f({ opcode: Opcode.PING, payload: "p1" }),
      f({ opcode: Opcode.CONTINUATION, payload: "", fin: false }),
      f({ opcode: Opcode.PONG, payload: "q" }),
      f({ opcode: Opcode.PING }),
      f({ opcode: Opcode.CONTINUATION, payload: "lo ✓", fin: true }),
      f({ opcode: Opcode.BINARY, payload: "next" }),
    ]);
    assert.deepEqual(events, [ping("p1"), pong("q"), ping(), msg("Hello ✓"), msg(b("next"), true)]);
  });
}

test("RFC 6455 §5.1: a server fails an unmasked frame with 1002", () => {
  for (const opcode of [Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.CLOSE]) {
    assertFailed(
      parseAll(forgeFrame({ opcode, payload: "x", mask: false }), { isServer: true }),
      ErrorCodes.EXPECTED_MASK,
      1002,
    );
  }
  // A masked first fragment does not excuse an unmasked continuation.
  assertFailed(
    parseAll(
      [
        forgeFrame({ opcode: Opcode.TEXT, payload: "a", fin: false, mask: true }),
        forgeFrame({ opcode: Opcode.CONTINUATION, payload: "b", mask: false }),
      ],
      { isServer: true },
    ),
    ErrorCodes.EXPECTED_MASK,
    1002,
  );
});

test("RFC 6455 §5.1: a client fails a masked frame with 1002", () => {
  for (const opcode of [Opcode.TEXT, Opcode.BINARY, Opcode.PONG, Opcode.CLOSE]) {
    assertFailed(
      parseAll(forgeFrame({ opcode, payload: "x", mask: true }), { isServer: false }),
      ErrorCodes.UNEXPECTED_MASK,
      1002,
    );
  }
});

test("RFC 6455 §5.3: a masking key of zeros is still a masked frame", () => {
  const zero = Buffer.alloc(4);
  const bytes = forgeFrame({ opcode: Opcode.TEXT, payload: "hi", mask: true, maskingKey: zero });
  assert.deepEqual(parseAll(bytes, { isServer: true }), [msg("hi")]);
});

// ── limits ─────────────────────────────────────────────────────────────────────────────────────

for (const { isServer, name } of ROLES) {
  const f = (spec: FrameSpec) => frame(isServer, spec);

  test(`RFC 6455 §10.4: maxPayload is checked on the announced length before any body byte, ${name}`, () => {
    const maxPayload = 100;
    for (const announced of [101, 126, 65536, 2 ** 40, 2 ** 53 - 1]) {
      const { parser, rec } = makeParser({ isServer, maxPayload });
      // Header (and key) only: the error is already reported.
      feed(parser, f({ opcode: Opcode.BINARY, announcedLength: announced }));
      assertFailed(rec.events, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
      feed(parser, Buffer.alloc(200));
      assert.equal(rec.events.length, 1);
    }
    // Exactly maxPayload is accepted, one more is not.
    assert.deepEqual(
      parseAll(f({ opcode: Opcode.BINARY, payload: Buffer.alloc(100, 3) }), {
        isServer,
        maxPayload,
      }),
      [msg(Buffer.alloc(100, 3), true)],
    );
    assertFailed(
      parseAll(f({ opcode: Opcode.TEXT, payload: Buffer.alloc(101, 0x61) }), {
        isServer,
        maxPayload,
      }),
      ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH,
      1009,
    );
  });

  test(`RFC 6455 §10.4: maxPayload applies to the running total of a fragmented message, ${name}`, () => {
    const maxPayload = 100;
    // 60 + 0 + 40 = 100: accepted.
    assert.deepEqual(
      parseAll(
        [
          f({ opcode: Opcode.TEXT, payload: Buffer.alloc(60, 0x61), fin: false }),
          f({ opcode: Opcode.CONTINUATION, fin: false }),
          f({ opcode: Opcode.CONTINUATION, payload: Buffer.alloc(40, 0x62) }),
        ],
        { isServer, maxPayload },
      ),
      [msg(Buffer.concat([Buffer.alloc(60, 0x61), Buffer.alloc(40, 0x62)]))],
    );
    // 60 + 41: the second header alone already fails.
    const { parser, rec } = makeParser({ isServer, maxPayload });
    feed(parser, f({ opcode: Opcode.BINARY, payload: Buffer.alloc(60), fin: false }));
    feed(parser, f({ opcode: Opcode.CONTINUATION, announcedLength: 41 }));
    assertFailed(rec.events, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
    // The limit is per message: two messages of 100 bytes each are fine.
    const two = parseAll(
      [
        f({ opcode: Opcode.BINARY, payload: Buffer.alloc(50), fin: false }),
        f({ opcode: Opcode.CONTINUATION, payload: Buffer.alloc(50) }),
        f({ opcode: Opcode.BINARY, payload: Buffer.alloc(100) }),
      ],
      { isServer, maxPayload },
    );
    assert.deepEqual(two, [msg(Buffer.alloc(100), true), msg(Buffer.alloc(100), true)]);
  });

  test(`RFC 6455 §10.4: maxFragments counts empty continuations and fails with 1008, ${name}`, () => {
    const maxFragments = 3;
    const three = [
      f({ opcode: Opcode.TEXT, payload: "a", fin: false }),
      f({ opcode: Opcode.CONTINUATION, fin: false }),
      f({ opcode: Opcode.CONTINUATION, fin: true }),
    ];
    // Exactly the limit, twice in a row (the count is per message), with control frames between
    // fragments (they are not fragments of the message).
    assert.deepEqual(
      parseAll(
        [
          three[0]!,
          f({ opcode: Opcode.PING }),
          three[1]!,
          f({ opcode: Opcode.PING }),
          three[2]!,
          ...three,
        ],
        { isServer, maxFragments },
      ),
      [ping(), ping(), msg("a"), msg("a")],
    );
    // Four frames, all but the first empty: the fourth header fails.
    const { parser, rec } = makeParser({ isServer, maxFragments });
    feed(
      parser,
      f({ opcode: Opcode.BINARY, fin: false }),
      f({ opcode: Opcode.CONTINUATION, fin: false }),
      f({ opcode: Opcode.CONTINUATION, fin: false }),
    );
    assert.deepEqual(rec.events, []);
    feed(parser, f({ opcode: Opcode.CONTINUATION, fin: true }));
    assertFailed(rec.events, ErrorCodes.TOO_MANY_FRAGMENTS, 1008);
  });
}

// ── UTF-8 (RFC 6455 §8.1, §5.6) ───────────────────────────────────────────────────────────────

for (const { isServer, name } of ROLES) {
  const f = (spec: FrameSpec) => frame(isServer, spec);
  const text = (payload: Uint8Array | string, fin = true) =>
    f({ opcode: Opcode.TEXT, payload, fin });
  const cont = (payload: Uint8Array | string, fin = true) =>
    f({ opcode: Opcode.CONTINUATION, payload, fin });
  const parse = (bytes: Uint8Array | Uint8Array[], options: Partial<FrameParserOptions> = {}) =>
    parseAll(bytes, { isServer, ...options });
  const bad: Array<[string, number[]]> = [
    ["overlong 2-byte", [0xc0, 0xaf]],
    ["overlong 3-byte", [0xe0, 0x80, 0xaf]],
    ["overlong 4-byte", [0xf0, 0x80, 0x80, 0xaf]],
    ["surrogate U+D800", [0xed, 0xa0, 0x80]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["lone continuation", [0x80]],
    ["impossible byte", [0xff]],
  ];

  test(`RFC 6455 §8.1: invalid UTF-8 in a single-frame text message fails with 1007, ${name}`, () => {
    for (const [label, bytes] of bad) {
      const payload = Buffer.concat([b("ok "), Buffer.from(bytes), b(" tail")]);
      assertFailed(parse(text(payload)), ErrorCodes.INVALID_UTF8, 1007);
      // Binary messages are not validated.
      assert.deepEqual(parse(f({ opcode: Opcode.BINARY, payload })), [msg(payload, true)], label);
    }
  });

  test(`RFC 6455 §8.1: overlong, surrogate and > U+10FFFF rejected in fragmented messages, ${name}`, () => {
    for (const [label, bytes] of bad) {
      const events = parse([text("ok", false), cont(Buffer.from(bytes), false), cont("end")]);
      assertFailed(events, ErrorCodes.INVALID_UTF8, 1007);
      // Split inside the bad sequence as well.
      if (bytes.length > 1) {
        const split = parse([
          text(Buffer.from(bytes.slice(0, 1)), false),
          cont(Buffer.from(bytes.slice(1)), false),
          cont("end"),
        ]);
        assertFailed(split, ErrorCodes.INVALID_UTF8, 1007, []);
        assert.equal(split.length, 1, label);
      }
    }
  });

  test(`RFC 6455 §8.1: a bad byte in fragment 2 fails when fragment 2 arrives, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    feed(parser, text("valid start ", false));
    assert.deepEqual(rec.events, []);
    feed(parser, cont(Buffer.from([0x61, 0xff, 0x62]), false));
    // Reported before the final fragment exists.
    assertFailed(rec.events, ErrorCodes.INVALID_UTF8, 1007);
    feed(parser, cont("end"));
    assert.equal(rec.events.length, 1);
  });

  test(`RFC 6455 §8.1: the prefix F4 90 at the end of a non-final fragment already fails, ${name}`, () => {
    for (const prefix of [[0xf4, 0x90], [0xed, 0xa0], [0xe0, 0x80], [0xf0, 0x80], [0xc0], [0xf5]]) {
      const { parser, rec } = makeParser({ isServer });
      feed(parser, text(Buffer.from([0x61, ...prefix]), false));
      assertFailed(rec.events, ErrorCodes.INVALID_UTF8, 1007);
    }
    // A valid prefix at the end of a fragment is fine until the message ends.
    const { parser, rec } = makeParser({ isServer });
    feed(parser, text(Buffer.from([0x61, 0xf4, 0x8f]), false));
    assert.deepEqual(rec.events, []);
    feed(parser, cont(Buffer.from([0xbf, 0xbf])));
    assert.deepEqual(rec.events, [msg(Buffer.from([0x61, 0xf4, 0x8f, 0xbf, 0xbf]))]);
  });

  test(`RFC 6455 §5.6: a 4-byte character split across fragments is accepted, ${name}`, () => {
    const smile = b("😀"); // F0 9F 98 80
    for (let cut = 0; cut <= 4; cut++) {
      const events = parse([
        text(Buffer.concat([b("a"), smile.subarray(0, cut)]), false),
        cont(Buffer.concat([smile.subarray(cut), b("b")])),
      ]);
      assert.deepEqual(events, [msg("a😀b")], `cut at ${cut}`);
    }
    // One byte per fragment, with a ping between each.
    const frames: Buffer[] = [text(smile.subarray(0, 1), false)];
    for (let i = 1; i < 4; i++) {
      frames.push(f({ opcode: Opcode.PING }));
      frames.push(cont(smile.subarray(i, i + 1), i === 3));
    }
    assert.deepEqual(parse(frames), [ping(), ping(), ping(), msg("😀")]);
  });

  test(`RFC 6455 §8.1: a sequence truncated at the end of the message fails with 1007, ${name}`, () => {
    const smile = b("😀");
    for (let cut = 1; cut < 4; cut++) {
      assertFailed(
        parse(text(Buffer.concat([b("a"), smile.subarray(0, cut)]))),
        ErrorCodes.INVALID_UTF8,
        1007,
      );
      assertFailed(
        parse([text("a", false), cont(smile.subarray(0, cut))]),
        ErrorCodes.INVALID_UTF8,
        1007,
      );
      // The truncation is only known at the end: no error before the final fragment.
      const { parser, rec } = makeParser({ isServer });
      feed(parser, text(smile.subarray(0, cut), false));
      assert.deepEqual(rec.events, []);
      feed(parser, cont(""));
      assertFailed(rec.events, ErrorCodes.INVALID_UTF8, 1007);
    }
  });

  test(`RFC 6455 §8.1: skipUTF8Validation delivers invalid text as is, ${name}`, () => {
    const invalid = Buffer.from([0x61, 0xff, 0xed, 0xa0, 0x80, 0xf4, 0x90]);
    assert.deepEqual(parse(text(invalid), { skipUTF8Validation: true }), [msg(invalid)]);
    assert.deepEqual(
      parse([text(invalid.subarray(0, 6), false), cont(invalid.subarray(6))], {
        skipUTF8Validation: true,
      }),
      [msg(invalid)],
    );
  });
}

// ── close frames (RFC 6455 §5.5.1, §7.4) ──────────────────────────────────────────────────────

for (const { isServer, name } of ROLES) {
  const f = (spec: FrameSpec) => frame(isServer, spec);
  const closeFrame = (payload: Uint8Array) => f({ opcode: Opcode.CLOSE, payload });
  const parse = (bytes: Uint8Array | Uint8Array[]) => parseAll(bytes, { isServer });

  test(`RFC 6455 §7.1.5: an empty close frame reports 1005 and an empty reason, ${name}`, () => {
    assert.deepEqual(parse(closeFrame(Buffer.alloc(0))), [close(1005)]);
    assert.deepEqual(parse(closeFrame(closePayload(4999, "ünïcode reason"))), [
      close(4999, "ünïcode reason"),
    ]);
  });

  test(`RFC 6455 §5.5.1: a 1-byte close payload fails with 1002, ${name}`, () => {
    assertFailed(parse(closeFrame(Buffer.from([0x03]))), ErrorCodes.INVALID_CLOSE_PAYLOAD, 1002);
  });

  test(`RFC 6455 §7.4.1: close codes not valid on the wire fail with 1002, ${name}`, () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
      assertFailed(parse(closeFrame(closePayload(code))), ErrorCodes.INVALID_CLOSE_CODE, 1002);
    }
  });

  test(`RFC 6455 §5.5.1: a close reason that is not UTF-8 fails with 1007, ${name}`, () => {
    for (const reason of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      assertFailed(
        parse(closeFrame(closePayload(1000, Buffer.from(reason)))),
        ErrorCodes.INVALID_UTF8,
        1007,
      );
    }
  });

  test(`RFC 6455 §5.5.1: nothing is emitted after a close frame, even from the same chunk, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    const chunk = Buffer.concat([
      f({ opcode: Opcode.TEXT, payload: "before" }),
      closeFrame(closePayload(1001)),
      f({ opcode: Opcode.TEXT, payload: "after" }),
      f({ opcode: Opcode.PING }),
      Buffer.from([0xff, 0xff, 0xff]), // garbage that would fail if parsed
    ]);
    parser.push(chunk);
    assert.deepEqual(rec.events, [msg("before"), close(1001)]);
    assert.equal(parser.finished, true);
    feed(parser, f({ opcode: Opcode.TEXT, payload: "later" }));
    assert.equal(rec.events.length, 2);
    // A close frame may also arrive in the middle of a fragmented message: the message is dropped.
    assert.deepEqual(
      parse([
        f({ opcode: Opcode.TEXT, payload: "half", fin: false }),
        closeFrame(closePayload(1000)),
        f({ opcode: Opcode.CONTINUATION, payload: "rest" }),
      ]),
      [close(1000)],
    );
  });

  test(`RFC 6455 §7.1.7: nothing is emitted after a protocol error, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    parser.push(
      Buffer.concat([
        f({ opcode: Opcode.TEXT, payload: "first" }),
        f({ opcode: 0x3 }),
        f({ opcode: Opcode.TEXT, payload: "after" }),
        closeFrame(closePayload(1000)),
      ]),
    );
    assertFailed(rec.events, ErrorCodes.INVALID_OPCODE, 1002, [msg("first")]);
    assert.equal(parser.finished, true);
    feed(parser, f({ opcode: Opcode.PING }), closeFrame(Buffer.alloc(0)));
    assert.equal(rec.events.length, 2);
  });
}

// ── splitting ──────────────────────────────────────────────────────────────────────────────────

/** A stream with every length class, fragmentation, interleaved control frames and a close. */
function sampleStream(isServer: boolean): { bytes: Buffer; expected: ParserEvent[] } {
  const f = (spec: FrameSpec) => frame(isServer, spec);
  const medium = Buffer.alloc(200);
  for (let i = 0; i < medium.length; i++) medium[i] = (i * 7) & 0xff;
  const smile = b("😀");
  const bytes = Buffer.concat([
    f({ opcode: Opcode.TEXT, payload: "héllo" }),
    f({ opcode: Opcode.BINARY, payload: medium }),
    f({ opcode: Opcode.TEXT, payload: Buffer.concat([b("x"), smile.subarray(0, 2)]), fin: false }),
    f({ opcode: Opcode.PING, payload: "mid" }),
    f({ opcode: Opcode.CONTINUATION, payload: Buffer.alloc(0), fin: false }),
    f({ opcode: Opcode.CONTINUATION, payload: Buffer.concat([smile.subarray(2), b("y")]) }),
    f({ opcode: Opcode.BINARY }),
    f({ opcode: Opcode.PONG, payload: Buffer.alloc(125, 0xaa) }),
    f({ opcode: Opcode.CLOSE, payload: closePayload(1000, "done") }),
  ]);
  const expected: ParserEvent[] = [
    msg("héllo"),
    msg(medium, true),
    ping("mid"),
    msg("x😀y"),
    msg(Buffer.alloc(0), true),
    pong(Buffer.alloc(125, 0xaa)),
    close(1000, "done"),
  ];
  return { bytes, expected };
}

for (const { isServer, name } of ROLES) {
  test(`RFC 6455 §5.2: a multi-frame stream split at every byte boundary gives the same events, ${name}`, () => {
    const { bytes, expected } = sampleStream(isServer);
    assert.deepEqual(parseAll(bytes, { isServer }), expected, "unsplit");
    for (let cut = 0; cut <= bytes.length; cut++) {
      const events = parseAll([bytes.subarray(0, cut), bytes.subarray(cut)], { isServer });
      assert.deepEqual(events, expected, `cut at ${cut}`);
    }
    // Two cuts: every pair around the fragmented part's headers.
    for (let first = 0; first < 60; first++) {
      for (let second = first; second < bytes.length; second += 7) {
        const events = parseAll(
          [bytes.subarray(0, first), bytes.subarray(first, second), bytes.subarray(second)],
          { isServer },
        );
        assert.deepEqual(events, expected, `cuts at ${first}, ${second}`);
      }
    }
    const oneByOne: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) oneByOne.push(bytes.subarray(i, i + 1));
    assert.deepEqual(parseAll(oneByOne, { isServer }), expected, "one byte at a time");
  });

  test(`RFC 6455 §5.2: a 64-bit-length frame split anywhere in its header, ${name}`, () => {
    const payload = Buffer.alloc(65536 + 3);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
    const bytes = Buffer.concat([
      frame(isServer, { opcode: Opcode.PING, payload: "a" }),
      frame(isServer, { opcode: Opcode.BINARY, payload }),
      frame(isServer, { opcode: Opcode.PONG, payload: "b" }),
    ]);
    const expected = [ping("a"), msg(payload, true), pong("b")];
    for (let cut = 0; cut < 40; cut++) {
      assert.deepEqual(
        parseAll([bytes.subarray(0, cut), bytes.subarray(cut)], { isServer }),
        expected,
        `cut at ${cut}`,
      );
    }
    for (let cut = bytes.length - 20; cut <= bytes.length; cut++) {
      assert.deepEqual(
        parseAll([bytes.subarray(0, cut), bytes.subarray(cut)], { isServer }),
        expected,
        `cut at ${cut}`,
      );
    }
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 1000) pieces.push(bytes.subarray(i, i + 1000));
    assert.deepEqual(parseAll(pieces, { isServer }), expected, "1000-byte pieces");
  });
}

test("RFC 6455 §5.2: a whole frame in one chunk is unmasked into a view of that chunk", () => {
  // Documented zero-copy behaviour: the delivered buffer shares memory with the pushed chunk.
  let delivered: Buffer | null = null;
  const chunk = forgeFrame({ opcode: Opcode.BINARY, payload: "abcd", mask: true, maskingKey: KEY });
  const parser = new FrameParser(
    { isServer: true, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
    {
      onMessage: (data) => {
        delivered = data;
      },
      onPing: () => {},
      onPong: () => {},
      onClose: () => {},
      onError: () => {},
    },
  );
  parser.push(chunk);
  assert.ok(delivered !== null);
  const view: Buffer = delivered;
  assert.equal(view.toString(), "abcd");
  assert.equal(view.buffer, chunk.buffer);
  assert.equal(chunk.subarray(6).toString(), "abcd");
});

// ── handlers that throw, pause/resume, stop ────────────────────────────────────────────────────

for (const { isServer, name } of ROLES) {
  const f = (spec: FrameSpec) => frame(isServer, spec);

  test(`RFC 6455 §6.2: a throwing handler's exception leaves push; the rest follows once, ${name}`, async () => {
    for (const victim of ["message", "ping", "pong"] as const) {
      const { parser, rec } = makeParser({ isServer });
      let thrown = 0;
      rec.hook = (event) => {
        if (event.type === victim && thrown === 0) {
          thrown++;
          throw new Error("boom");
        }
      };
      const control = victim === "pong" ? Opcode.PONG : Opcode.PING;
      const chunk = Buffer.concat([
        f({ opcode: Opcode.TEXT, payload: "one", fin: false }),
        f({ opcode: control, payload: "ctl" }),
        f({ opcode: Opcode.CONTINUATION, payload: "!" }),
        f({ opcode: Opcode.BINARY, payload: "two" }),
        f({ opcode: Opcode.PING, payload: "three" }),
      ]);
      const expected = [
        control === Opcode.PING ? ping("ctl") : pong("ctl"),
        msg("one!"),
        msg(b("two"), true),
        ping("three"),
      ];
      assert.throws(() => parser.push(chunk), /boom/, victim);
      // Events up to and including the one whose handler threw, and no further.
      const upTo = expected.findIndex((event) => event.type === victim) + 1;
      assert.deepEqual(rec.events, expected.slice(0, upTo), victim);
      await turns(2);
      assert.deepEqual(rec.events, expected, victim);
      assert.equal(thrown, 1);
    }
  });

  test(`RFC 6455 §6.2: after a handler throws, remaining frames of the chunk arrive once, in order, ${name}`, async () => {
    const { parser, rec } = makeParser({ isServer });
    let thrown = false;
    rec.hook = (event) => {
      if (!thrown && event.type === "message" && event.data.toString() === "b") {
        thrown = true;
        throw new Error("handler failure");
      }
    };
    const frames = ["a", "b", "c", "d"].map((text) => f({ opcode: Opcode.TEXT, payload: text }));
    assert.throws(() => parser.push(Buffer.concat(frames.slice(0, 3))), /handler failure/);
    assert.deepEqual(rec.events, [msg("a"), msg("b")]);
    await turns();
    assert.deepEqual(rec.events, [msg("a"), msg("b"), msg("c")]);
    feed(parser, frames[3]!);
    assert.deepEqual(rec.events, [msg("a"), msg("b"), msg("c"), msg("d")]);
  });

  test(`RFC 6455 §6.2: input pushed right after a throw, before the microtask, keeps its order, ${name}`, async () => {
    const { parser, rec } = makeParser({ isServer });
    let thrown = false;
    rec.hook = (event) => {
      if (!thrown && event.type === "message") {
        thrown = true;
        throw new Error("first message handler throws");
      }
    };
    const c = f({ opcode: Opcode.TEXT, payload: "c" });
    const d = f({ opcode: Opcode.TEXT, payload: "dd" });
    const chunk = Buffer.concat([f({ opcode: Opcode.TEXT, payload: "a" }), c, d.subarray(0, 3)]);
    assert.throws(() => parser.push(chunk));
    // The rest of the frame "dd" arrives synchronously, before the continuation microtask.
    feed(parser, d.subarray(3));
    await turns(2);
    assert.deepEqual(rec.events, [msg("a"), msg("c"), msg("dd")]);
  });

  test(`RFC 6455 §6.2: pause() holds events, resume() delivers queued input in order, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    const frames = [
      f({ opcode: Opcode.TEXT, payload: "one" }),
      f({ opcode: Opcode.PING, payload: "p" }),
      f({ opcode: Opcode.BINARY, payload: "two" }),
      f({ opcode: Opcode.CLOSE, payload: closePayload(1000) }),
    ];
    parser.pause();
    assert.equal(parser.blocked, true);
    const all = Buffer.concat(frames);
    feed(parser, all.subarray(0, 5), all.subarray(5, 20), all.subarray(20));
    assert.deepEqual(rec.events, []);
    assert.equal(parser.queuedBytes, all.length);
    parser.resume();
    assert.equal(parser.blocked, false);
    assert.deepEqual(rec.events, [msg("one"), ping("p"), msg(b("two"), true), close(1000)]);
    assert.equal(parser.queuedBytes, 0);
  });

  test(`RFC 6455 §6.2: pause() from inside a handler stops after that event, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    rec.hook = () => parser.pause();
    const frames = ["a", "b", "c"].map((text) => f({ opcode: Opcode.TEXT, payload: text }));
    feed(parser, Buffer.concat(frames.slice(0, 2)));
    assert.deepEqual(rec.events, [msg("a")]);
    feed(parser, frames[2]!);
    assert.deepEqual(rec.events, [msg("a")]);
    parser.resume();
    assert.deepEqual(rec.events, [msg("a"), msg("b")]);
    parser.resume();
    assert.deepEqual(rec.events, [msg("a"), msg("b"), msg("c")]);
    rec.hook = null;
    parser.resume();
    feed(parser, f({ opcode: Opcode.PONG }));
    assert.deepEqual(rec.events, [msg("a"), msg("b"), msg("c"), pong()]);
  });

  test(`RFC 6455 §7.1.1: stop() drops queued input and ends parsing, ${name}`, () => {
    const { parser, rec } = makeParser({ isServer });
    parser.pause();
    feed(parser, f({ opcode: Opcode.TEXT, payload: "queued" }));
    parser.stop();
    assert.equal(parser.finished, true);
    assert.equal(parser.queuedBytes, 0);
    parser.resume();
    feed(parser, f({ opcode: Opcode.TEXT, payload: "later" }));
    assert.deepEqual(rec.events, []);
  });
}

// ── permessage-deflate hook (RFC 7692 §6.2) ───────────────────────────────────────────────────

interface StubOptions {
  /** Call back from setImmediate (like zlib) rather than synchronously. */
  async?: boolean;
  /** Fail the first call with this error. */
  error?: Error;
  /** Turns the concatenated frame payloads into the "inflated" message. */
  transform?: (data: Buffer) => Buffer;
  /** Wraps the callback: lets a test see what a handler threw from inside it. */
  onCallbackThrow?: (error: unknown) => void;
}

/** A stand-in inflater: concatenates a message's frame payloads and transforms them at FIN. */
class StubInflater implements MessageInflater {
  readonly calls: Array<{ data: Buffer; fin: boolean }> = [];
  private parts: Buffer[] = [];
  constructor(private readonly options: StubOptions = {}) {}

  decompress(
    data: Buffer,
    fin: boolean,
    callback: (error: Error | null, result?: Buffer) => void,
  ): void {
    this.calls.push({ data: Buffer.from(data), fin });
    this.parts.push(Buffer.from(data));
    const finish = () => {
      try {
        if (this.options.error) return callback(this.options.error);
        if (!fin) return callback(null);
        const whole = Buffer.concat(this.parts);
        this.parts = [];
        const transform =
          this.options.transform ?? ((d: Buffer) => Buffer.concat([b("inflated("), d, b(")")]));
        callback(null, transform(whole));
      } catch (error) {
        if (this.options.onCallbackThrow) this.options.onCallbackThrow(error);
        else throw error;
      }
    };
    if (this.options.async === false) finish();
    else setImmediate(finish);
  }
}

for (const { isServer, name } of ROLES) {
  const f = (spec: FrameSpec) => frame(isServer, spec);

  test(`RFC 7692 §6.2: a compressed message is delivered after the inflater calls back, ${name}`, async () => {
    const inflater = new StubInflater();
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(
      parser,
      Buffer.concat([
        f({ opcode: Opcode.TEXT, payload: "abc", fin: false, rsv1: true }),
        f({ opcode: Opcode.PING, payload: "p" }),
        f({ opcode: Opcode.CONTINUATION, payload: "def" }),
        f({ opcode: Opcode.TEXT, payload: "after" }),
        f({ opcode: Opcode.PONG, payload: "q" }),
        f({ opcode: Opcode.BINARY, payload: "zz", rsv1: true }),
        f({ opcode: Opcode.CLOSE, payload: closePayload(1000) }),
      ]),
    );
    // Everything waits behind the first compressed frame, control frames included.
    assert.deepEqual(rec.events, []);
    assert.equal(parser.blocked, true);
    await until(() => rec.events.length === 6);
    assert.deepEqual(rec.events, [
      ping("p"),
      msg("inflated(abcdef)"),
      msg("after"),
      pong("q"),
      msg(b("inflated(zz)"), true),
      close(1000),
    ]);
    // The inflater saw unmasked payloads, with FIN only on the last frame of each message.
    assert.deepEqual(inflater.calls, [
      { data: b("abc"), fin: false },
      { data: b("def"), fin: true },
      { data: b("zz"), fin: true },
    ]);
  });

  test(`RFC 7692 §6.2: frames pushed while inflating wait and keep their order, ${name}`, async () => {
    const inflater = new StubInflater();
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(parser, f({ opcode: Opcode.TEXT, payload: "1", rsv1: true }));
    feed(parser, f({ opcode: Opcode.TEXT, payload: "2" }));
    feed(parser, f({ opcode: Opcode.TEXT, payload: "3", rsv1: true }));
    feed(parser, f({ opcode: Opcode.PING, payload: "4" }));
    assert.deepEqual(rec.events, []);
    await until(() => rec.events.length === 4);
    assert.deepEqual(rec.events, [msg("inflated(1)"), msg("2"), msg("inflated(3)"), ping("4")]);
  });

  test(`RFC 7692 §6.2: a synchronous inflater delivers within push, ${name}`, () => {
    const inflater = new StubInflater({ async: false });
    const events = parseAll(
      [
        f({ opcode: Opcode.BINARY, payload: "x", rsv1: true, fin: false }),
        f({ opcode: Opcode.CONTINUATION, payload: "y" }),
        f({ opcode: Opcode.TEXT, payload: "plain" }),
      ],
      { isServer, inflater },
    );
    assert.deepEqual(events, [msg(b("inflated(xy)"), true), msg("plain")]);
  });

  test(`RFC 7692 §8.1: an inflater ProtocolError(1009) is reported with that code, ${name}`, async () => {
    const inflater = new StubInflater({
      error: new ProtocolError(ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009, "too big inflated"),
    });
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(
      parser,
      f({ opcode: Opcode.TEXT, payload: "bomb", rsv1: true }),
      f({ opcode: Opcode.TEXT, payload: "after" }),
    );
    await until(() => rec.events.length > 0);
    await turns(2);
    assertFailed(rec.events, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
    assert.equal(parser.finished, true);
  });

  test(`RFC 7692 §6.2: an inflater Error fails with 1007 WS_ERR_INVALID_COMPRESSED_DATA, ${name}`, async () => {
    const inflater = new StubInflater({ error: new Error("invalid stored block lengths") });
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(
      parser,
      f({ opcode: Opcode.BINARY, payload: "junk", rsv1: true }),
      f({ opcode: Opcode.PING, payload: "after" }),
    );
    await until(() => rec.events.length > 0);
    await turns(2);
    assertFailed(rec.events, ErrorCodes.INVALID_COMPRESSED_DATA, 1007);
    assert.ok(rec.errors[0] instanceof ProtocolError);
  });

  test(`RFC 7692 §6.2 + RFC 6455 §8.1: inflated text that is not UTF-8 fails with 1007, ${name}`, async () => {
    const inflater = new StubInflater({ transform: () => Buffer.from([0x61, 0xc0, 0x80]) });
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(parser, f({ opcode: Opcode.TEXT, payload: "x", rsv1: true }));
    await until(() => rec.events.length > 0);
    assertFailed(rec.events, ErrorCodes.INVALID_UTF8, 1007);
  });

  test(`RFC 7692 §6.2: pause() while inflating holds the inflated message until resume(), ${name}`, async () => {
    const inflater = new StubInflater();
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(
      parser,
      f({ opcode: Opcode.TEXT, payload: "x", rsv1: true }),
      f({ opcode: Opcode.PING, payload: "y" }),
    );
    parser.pause();
    await until(() => inflater.calls.length === 1);
    await turns(3);
    // pause() promises no events until resume(), whatever was in flight.
    assert.deepEqual(rec.events, []);
    parser.resume();
    await until(() => rec.events.length === 2);
    assert.deepEqual(rec.events, [msg("inflated(x)"), ping("y")]);
  });

  test(`RFC 7692 §6.2: stop() while inflating drops the late result, ${name}`, async () => {
    const inflater = new StubInflater();
    const { parser, rec } = makeParser({ isServer, inflater });
    feed(parser, f({ opcode: Opcode.TEXT, payload: "x", rsv1: true }));
    parser.stop();
    await turns(3);
    assert.equal(inflater.calls.length, 1);
    assert.deepEqual(rec.events, []);
  });

  test(`RFC 7692 §6.2: a handler throwing on an inflated message does not strand later frames, ${name}`, async () => {
    const thrown: unknown[] = [];
    const inflater = new StubInflater({ onCallbackThrow: (error) => thrown.push(error) });
    const { parser, rec } = makeParser({ isServer, inflater });
    let fired = false;
    rec.hook = (event) => {
      if (!fired && event.type === "message") {
        fired = true;
        throw new Error("handler failure");
      }
    };
    feed(
      parser,
      Buffer.concat([
        f({ opcode: Opcode.TEXT, payload: "c", rsv1: true }),
        f({ opcode: Opcode.TEXT, payload: "after" }),
      ]),
    );
    await until(() => thrown.length === 1);
    // As for a throw from push: the rest of the already-received input still follows.
    await turns(5);
    assert.deepEqual(rec.events, [msg("inflated(c)"), msg("after")]);
  });
}

// ── memory shape ───────────────────────────────────────────────────────────────────────────────

test("RFC 6455 §10.4: a 1 MiB frame pushed one byte at a time is delivered intact", {
  timeout: 60_000,
}, () => {
  const payload = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 2654435761) >>> 24;
  const bytes = forgeFrame({ opcode: Opcode.BINARY, payload, mask: true, maskingKey: KEY });
  let delivered: Buffer | null = null;
  let count = 0;
  const parser = new FrameParser(
    { isServer: true, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
    {
      onMessage: (data, isBinary) => {
        assert.equal(isBinary, true);
        delivered = Buffer.from(data);
        count++;
      },
      onPing: () => assert.fail("no ping"),
      onPong: () => assert.fail("no pong"),
      onClose: () => assert.fail("no close"),
      onError: (error) => assert.fail(error),
    },
  );
  for (let i = 0; i < bytes.length; i++) {
    parser.push(bytes.subarray(i, i + 1));
    // Nothing is delivered before the last byte.
    if (i < bytes.length - 1 && count !== 0) assert.fail(`delivered early at byte ${i}`);
  }
  assert.equal(count, 1);
  assert.ok(delivered !== null);
  assert.ok(payload.equals(delivered), "payload intact");
  assert.equal(parser.queuedBytes, 0);
});
