/**
 * RFC 6455 / RFC 7692 framing rules, our SERVER facing a misbehaving raw client
 * (reliability.md §2.3, §2.4; the oracle of §0).
 *
 * Every failure row asserts: the exact close code our server sends, that it then closes TCP within a
 * bounded time, that the server-side socket emitted `error` exactly once and then `close` exactly
 * once with 1006 (no close frame came back), and nothing after `close`.
 *
 * Implementation under test: socketeer by default, `SOCKETEER_IMPL=ws` for ws (see helpers/impl.ts).
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { before, describe, test } from "node:test";
import type { WebSocketServer } from "ws";
import {
  binaryFrame,
  closeFrame,
  continuationFrame,
  type FrameSpec,
  forgeFrame,
  fragmentMessage,
  type HandshakeOptions,
  headerValue,
  type Impl,
  loadImpl,
  Opcode,
  pingFrame,
  pongFrame,
  RawClient,
  SocketLog,
  sleep,
  textFrame,
} from "../helpers/index.js";
import {
  allFramingFailureRows,
  deflateFailureRows,
  deflateMessage,
  type FailureRow,
  VALID_CLOSE_CODES,
} from "./rules.js";

const MAX_PAYLOAD = 1000;
const CLOSE_TIMEOUT = 300;
/** Bound for "the library reacts": generous, the machine is shared (never a speed assertion). */
const WAIT = 2000;
const T = { timeout: 10_000 };

let impl: Impl;
before(async () => {
  impl = await loadImpl();
});

/** One server under test plus the raw clients and server-side socket logs of a test. */
class ServerHarness {
  readonly logs: SocketLog[] = [];
  readonly raws: RawClient[] = [];

  private constructor(
    readonly wss: WebSocketServer,
    readonly port: number,
  ) {
    // Attached synchronously in `connection`, before any frame is parsed.
    wss.on("connection", (ws) => this.logs.push(new SocketLog(ws)));
  }

  static async start(options: Record<string, unknown> = {}): Promise<ServerHarness> {
    const serverOptions = {
      host: "127.0.0.1",
      port: 0,
      maxPayload: MAX_PAYLOAD,
      closeTimeout: CLOSE_TIMEOUT,
      ...options,
    };
    const wss = new impl.WebSocketServer(serverOptions);
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    return new ServerHarness(wss, (wss.address() as AddressInfo).port);
  }

  /** Raw handshake (must succeed) and the matching server-side socket log. */
  async open(options: HandshakeOptions = {}): Promise<{ raw: RawClient; log: SocketLog }> {
    const index = this.raws.length;
    const raw = await RawClient.open(this.port, options);
    this.raws.push(raw);
    for (let i = 0; i < 200 && this.logs.length <= index; i++) await sleep(5);
    const log = this.logs[index];
    assert.ok(log, "server emitted connection");
    return { raw, log };
  }

  async stop(): Promise<void> {
    for (const raw of this.raws) raw.destroy();
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

async function withServer(
  options: Record<string, unknown>,
  fn: (h: ServerHarness) => Promise<void>,
): Promise<void> {
  const h = await ServerHarness.start(options);
  try {
    await fn(h);
  } finally {
    await h.stop();
  }
}

/** A masked frame, as a conforming client sends it. */
const masked = (spec: FrameSpec): Buffer => forgeFrame({ mask: true, ...spec });

/**
 * The failure oracle (reliability.md §0): exact close code, TCP closed by the server, one `error`
 * then one `close` (1006) and nothing after.
 */
async function assertFailed(
  raw: RawClient,
  log: SocketLog,
  closeCode: number,
  errorCodes: readonly string[],
  messagesBefore = 0,
): Promise<void> {
  const close = await raw.expectClose(WAIT);
  assert.equal(close.code, closeCode, "close code sent by the server");
  assert.equal(close.frame.masked, false, "RFC 6455 §5.1: a server never masks");
  await raw.waitForTcpEnd(WAIT);
  const closed = await log.closed(WAIT);
  assert.equal(closed.code, 1006, "no close frame came back, so the app sees 1006");
  await sleep(20);
  assert.equal(log.errors.length, 1, `exactly one error (events: ${log.events.join(", ")})`);
  assert.equal(log.closes.length, 1, "exactly one close");
  assert.ok(log.events.indexOf("error") < log.events.indexOf("close"), "error comes before close");
  const err = log.errors[0] as Error & { code?: unknown };
  assert.ok(err instanceof Error);
  if (impl.name === "socketeer") {
    assert.ok(
      errorCodes.includes(String(err.code)),
      `err.code ${String(err.code)} not in ${errorCodes.join("|")}`,
    );
  }
  assert.deepEqual(log.afterClose(), [], "no events after close");
  assert.equal(log.messages.length, messagesBefore, "no message from the offending frames");
}

async function runServerFailure(row: FailureRow, options: Record<string, unknown> = {}) {
  const handshake: HandshakeOptions =
    options.perMessageDeflate === undefined
      ? {}
      : { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } };
  await withServer(options, async (h) => {
    const { raw, log } = await h.open(handshake);
    if (options.perMessageDeflate !== undefined) {
      assert.match(
        headerValue(raw.response, "sec-websocket-extensions") ?? "",
        /permessage-deflate/,
      );
    }
    raw.write(Buffer.concat(row.frames(true)));
    await assertFailed(raw, log, row.closeCode, row.errorCodes, row.messagesBefore);
  });
}

describe("server receives frames that break RFC 6455 framing rules", () => {
  const unmasked: Array<[string, () => Buffer[]]> = [
    ["an unmasked text frame", () => [textFrame("hi")]],
    ["an unmasked binary frame", () => [binaryFrame("hi")]],
    ["an unmasked ping", () => [pingFrame("p")]],
    ["an unmasked close frame", () => [closeFrame(1000)]],
    [
      "an unmasked continuation after a masked first fragment",
      () => [textFrame("a", { mask: true, fin: false }), continuationFrame("b")],
    ],
  ];
  for (const [name, frames] of unmasked) {
    test(`RFC 6455 §5.1: server receives ${name} → 1002`, T, () =>
      runServerFailure({
        name,
        rfc: "RFC 6455 §5.1",
        frames,
        closeCode: 1002,
        errorCodes: ["WS_ERR_EXPECTED_MASK"],
      }),
    );
  }

  for (const row of allFramingFailureRows(MAX_PAYLOAD)) {
    test(`${row.rfc}: server receives ${row.name} → ${row.closeCode}`, T, () =>
      runServerFailure(row),
    );
  }
});

describe("server receives permessage-deflate frames that break RFC 7692", () => {
  for (const row of deflateFailureRows(MAX_PAYLOAD)) {
    test(`${row.rfc}: server receives ${row.name} → ${row.closeCode}`, T, () =>
      runServerFailure(row, { perMessageDeflate: true }),
    );
  }

  test("RFC 7692 §6.2: server receives a valid compressed message (control case)", T, () =>
    withServer({ perMessageDeflate: true }, async (h) => {
      const { raw, log } = await h.open({
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      });
      raw.write(masked({ opcode: Opcode.TEXT, payload: deflateMessage("squeezed"), rsv1: true }));
      const msg = await log.message(0, WAIT);
      assert.equal(msg.data.toString(), "squeezed");
      assert.equal(log.errors.length, 0);
    }),
  );
});

describe("server enforces maxPayload (RFC 6455 §10.4)", () => {
  test(
    "RFC 6455 §10.4: server receives fragments whose sum passes maxPayload → 1009 on the crossing fragment",
    T,
    () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        const piece = "x".repeat(400);
        raw.write(masked({ opcode: Opcode.TEXT, payload: piece, fin: false }));
        raw.write(masked({ opcode: Opcode.CONTINUATION, payload: piece, fin: false }));
        // 800 bytes so far: under the limit, the connection must still be open.
        await raw.expectNoFrame(150);
        assert.equal(log.errors.length, 0);
        raw.write(masked({ opcode: Opcode.CONTINUATION, payload: piece, fin: false }));
        await assertFailed(raw, log, 1009, ["WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"]);
      }),
  );

  test(
    "RFC 6455 §10.4: server accepts a message of exactly maxPayload bytes, single and fragmented",
    T,
    () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        const body = Buffer.alloc(MAX_PAYLOAD, 0x62);
        raw.write(masked({ opcode: Opcode.BINARY, payload: body }));
        raw.write(Buffer.concat(fragmentMessage(Opcode.BINARY, body, [300, 700], { mask: true })));
        assert.deepEqual((await log.message(0, WAIT)).data, body);
        assert.deepEqual((await log.message(1, WAIT)).data, body);
        assert.equal(log.errors.length, 0);
      }),
  );
});

describe("server accepts what the RFC allows", () => {
  test(
    "RFC 6455 §5.4: server receives control frames interleaved in a fragmented message (pong at once, message reassembled)",
    T,
    () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        raw.write(masked({ opcode: Opcode.TEXT, payload: "Hel", fin: false }));
        raw.write(masked({ opcode: Opcode.PING, payload: "p1" }));
        // The pong must come before the message is complete (the final fragment is not sent yet).
        const pong = await raw.nextFrame(WAIT);
        assert.equal(pong.opcode, Opcode.PONG);
        assert.equal(pong.payload.toString(), "p1");
        assert.equal(pong.masked, false);
        raw.write(masked({ opcode: Opcode.PONG, payload: "unsolicited" }));
        raw.write(masked({ opcode: Opcode.CONTINUATION, payload: "lo ", fin: false }));
        raw.write(masked({ opcode: Opcode.PING, payload: "p2" }));
        raw.write(masked({ opcode: Opcode.CONTINUATION, payload: "world" }));
        assert.equal((await raw.nextFrame(WAIT)).payload.toString(), "p2");
        const msg = await log.message(0, WAIT);
        assert.equal(msg.data.toString(), "Hello world");
        assert.equal(msg.isBinary, false);
        assert.deepEqual(
          log.pings.map((p) => p.toString()),
          ["p1", "p2"],
        );
        assert.deepEqual(
          log.pongs.map((p) => p.toString()),
          ["unsolicited"],
        );
        assert.equal(log.errors.length, 0);
      }),
  );

  test(
    "RFC 6455 §8.1: server receives a valid 4-byte character split across fragments at every point",
    T,
    () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        const text = Buffer.from("a😀b"); // 61 | F0 9F 98 80 | 62
        const splits = [[2], [3], [4], [2, 3, 4], [1, 5]];
        for (const cuts of splits) {
          raw.write(Buffer.concat(fragmentMessage(Opcode.TEXT, text, cuts, { mask: true })));
        }
        for (let i = 0; i < splits.length; i++) {
          assert.equal((await log.message(i, WAIT)).data.toString(), "a😀b");
        }
        assert.equal(log.errors.length, 0);
      }),
  );

  test(
    "RFC 6455 §5.2: server receives non-minimal 16- and 64-bit length encodings (accepted, ws parity)",
    T,
    () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        raw.write(masked({ opcode: Opcode.TEXT, payload: "five!", lengthEncoding: 16 }));
        raw.write(masked({ opcode: Opcode.TEXT, payload: "five!", lengthEncoding: 64 }));
        assert.equal((await log.message(0, WAIT)).data.toString(), "five!");
        assert.equal((await log.message(1, WAIT)).data.toString(), "five!");
        assert.equal(log.errors.length, 0);
      }),
  );
});

describe("server receives close frames (RFC 6455 §5.5.1, §7.4)", () => {
  const reasons = ["", "bye", "going away", "é ✓ 😀"];
  VALID_CLOSE_CODES.forEach((code, i) => {
    const reason = reasons[i % reasons.length] ?? "";
    test(
      `RFC 6455 §5.5.1: server receives a valid close ${code} "${reason}" → echoes ${code}, app sees it`,
      T,
      () =>
        withServer({}, async (h) => {
          const { raw, log } = await h.open();
          raw.write(closeFrame(code, reason, { mask: true }));
          const echo = await raw.expectClose(WAIT);
          assert.equal(echo.code, code);
          assert.equal(echo.frame.masked, false);
          await raw.waitForTcpEnd(WAIT);
          const closed = await log.closed(WAIT);
          assert.equal(closed.code, code);
          assert.equal(closed.reason.toString(), reason);
          await sleep(20);
          assert.equal(log.errors.length, 0);
          assert.equal(log.closes.length, 1);
          assert.deepEqual(log.afterClose(), []);
        }),
    );
  });

  test(
    "RFC 6455 §7.1.5: server receives an empty close → app sees 1005, reply carries no code or 1000",
    T,
    () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        raw.write(closeFrame(undefined, "", { mask: true }));
        const echo = await raw.expectClose(WAIT);
        assert.ok(echo.code === null || echo.code === 1000, `reply code ${echo.code}`);
        await raw.waitForTcpEnd(WAIT);
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1005);
        assert.equal(closed.reason.length, 0);
        assert.equal(log.errors.length, 0);
      }),
  );

  test("RFC 6455 §5.5.1: server receives data, ping and close after a close → all ignored", T, () =>
    withServer({}, async (h) => {
      const { raw, log } = await h.open();
      raw.write(
        Buffer.concat([
          closeFrame(1000, "done", { mask: true }),
          textFrame("after", { mask: true }),
          pingFrame("late", { mask: true }),
          closeFrame(1001, "again", { mask: true }),
        ]),
      );
      const echo = await raw.expectClose(WAIT);
      assert.equal(echo.code, 1000);
      await raw.waitForTcpEnd(WAIT);
      await raw.expectNoFrame(50);
      const closed = await log.closed(WAIT);
      assert.equal(closed.code, 1000);
      await sleep(20);
      assert.equal(log.messages.length, 0);
      assert.equal(log.pings.length, 0);
      assert.equal(log.errors.length, 0);
      assert.deepEqual(log.afterClose(), []);
    }),
  );
});

describe("server closes TCP after the closing handshake (RFC 6455 §7.1.1)", () => {
  // "The server MUST close the underlying TCP connection immediately": the client here never
  // sends its FIN, and the close timeout is far beyond the wait, so only a server that closes
  // TCP by itself passes (ws ends its side and waits for the client's FIN or the timeout).
  const LONG_CLOSE_TIMEOUT = 60_000;

  test(
    "RFC 6455 §7.1.1: after the client's close, the server closes TCP without waiting for the client's FIN",
    T,
    () =>
      withServer({ closeTimeout: LONG_CLOSE_TIMEOUT }, async (h) => {
        const { raw, log } = await h.open({ halfOpen: true });
        raw.write(closeFrame(1000, "bye", { mask: true }));
        const echo = await raw.expectClose(WAIT);
        assert.equal(echo.code, 1000);
        assert.equal(await raw.waitForTcpEnd(WAIT), "end", "a FIN after the close frame, no reset");
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1000);
        assert.equal(closed.reason.toString(), "bye");
        assert.equal(log.errors.length, 0);
      }),
  );

  test(
    "RFC 6455 §7.1.1: after the server's own close is answered, it closes TCP without waiting for the client's FIN",
    T,
    () =>
      withServer({ closeTimeout: LONG_CLOSE_TIMEOUT }, async (h) => {
        const { raw, log } = await h.open({ halfOpen: true });
        log.ws.close(1001, "going");
        const ours = await raw.expectClose(WAIT);
        assert.equal(ours.code, 1001);
        raw.write(closeFrame(1001, "going", { mask: true }));
        assert.equal(await raw.waitForTcpEnd(WAIT), "end", "a FIN after the close frame, no reset");
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1001);
        assert.equal(log.errors.length, 0);
      }),
  );

  test(
    "RFC 6455 §7.1.7: after a protocol error the server still reads, so a client that keeps sending gets its close frame, then FIN",
    T,
    () =>
      withServer({ closeTimeout: LONG_CLOSE_TIMEOUT }, async (h) => {
        const { raw, log } = await h.open({ halfOpen: true });
        raw.write(textFrame("unmasked")); // RFC 6455 §5.1: a server fails a connection on this
        for (let i = 0; i < 20; i++) raw.write(textFrame("more", { mask: true }));
        const close = await raw.expectClose(WAIT);
        assert.equal(close.code, 1002);
        await sleep(20);
        for (let i = 0; i < 20; i++) raw.write(textFrame("still more", { mask: true }));
        raw.end();
        assert.equal(await raw.waitForTcpEnd(WAIT), "end", "no reset");
        assert.equal((await log.closed(WAIT)).code, 1006);
      }),
  );
});

describe("server sees EOF mid-frame (RFC 6455 §7.1.5: 1006)", () => {
  const small = textFrame("hello", { mask: true }); // 2 + 4 + 5 bytes
  const medium = binaryFrame(Buffer.alloc(200, 7), { mask: true }); // 2 + 2 + 4 + 200 bytes
  const cases: Array<[string, Buffer]> = [
    ["after 1 byte of a small frame", small.subarray(0, 1)],
    ["after the 2-byte header (inside the masking key)", small.subarray(0, 2)],
    ["inside the masking key", small.subarray(0, 4)],
    ["inside the payload", small.subarray(0, 8)],
    ["inside a 16-bit length", medium.subarray(0, 3)],
    ["after the 16-bit length", medium.subarray(0, 4)],
    ["inside a 200-byte payload", medium.subarray(0, 100)],
    ["between fragments of a message", textFrame("part", { mask: true, fin: false })],
    ["before any frame", Buffer.alloc(0)],
  ];
  for (const [where, prefix] of cases) {
    test(`RFC 6455 §7.1.5: server receives EOF ${where} → close 1006 once, no error`, T, () =>
      withServer({}, async (h) => {
        const { raw, log } = await h.open();
        if (prefix.length > 0) raw.write(prefix);
        await sleep(10);
        raw.end();
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1006);
        await raw.waitForTcpEnd(WAIT);
        await sleep(20);
        assert.equal(log.closes.length, 1);
        // ws parity: a peer vanishing is not an error (an app without an error listener survives).
        assert.equal(log.errors.length, 0, `events: ${log.events.join(", ")}`);
        assert.equal(log.messages.length, 0);
        assert.deepEqual(log.afterClose(), []);
      }),
    );
  }
});

describe("server receives frames split at every byte boundary (Autobahn 9.x 'chopped')", () => {
  type Sample = {
    kind: string;
    bytes: Buffer;
    result: (raw: RawClient, log: SocketLog, n: number) => Promise<unknown>;
  };
  const messageResult = async (_raw: RawClient, log: SocketLog, n: number) => {
    const m = await log.message(n, WAIT);
    return [m.isBinary, m.data.toString("hex")];
  };
  const samples: Sample[] = [
    { kind: "text", bytes: textFrame("héllo wörld", { mask: true }), result: messageResult },
    {
      kind: "binary with a 16-bit length",
      bytes: binaryFrame(Buffer.from(Array.from({ length: 130 }, (_, i) => i)), { mask: true }),
      result: messageResult,
    },
    {
      kind: "fragmented text (text + continuation)",
      bytes: Buffer.concat(fragmentMessage(Opcode.TEXT, "fragments", [4], { mask: true })),
      result: messageResult,
    },
    {
      kind: "ping",
      bytes: pingFrame("ping!", { mask: true }),
      result: async (raw) => {
        const f = await raw.nextFrame(WAIT);
        return [f.opcode, f.payload.toString()];
      },
    },
    {
      kind: "pong",
      bytes: pongFrame("pong!", { mask: true }),
      result: async (_raw, log, n) => {
        await log.until(() => log.pongs.length > n, WAIT, "pong event");
        return log.pongs[n]?.toString();
      },
    },
  ];
  for (const sample of samples) {
    test(
      `RFC 6455 §5.2: server receives a ${sample.kind} frame split at each of ${sample.bytes.length - 1} points`,
      T,
      () =>
        withServer({}, async (h) => {
          const { raw, log } = await h.open();
          raw.write(sample.bytes);
          const expected = await sample.result(raw, log, 0);
          for (let cut = 1; cut < sample.bytes.length; cut++) {
            await raw.writeSplit(sample.bytes, [cut], 2);
            assert.deepEqual(await sample.result(raw, log, cut), expected, `split at ${cut}`);
          }
          assert.equal(log.errors.length, 0);
          assert.equal(log.closes.length, 0);
        }),
    );
  }

  test("RFC 6455 §5.5.1: server receives a close frame split at every point", T, () =>
    withServer({}, async (h) => {
      const frame = closeFrame(1000, "bye", { mask: true });
      for (let cut = 1; cut < frame.length; cut++) {
        const { raw, log } = await h.open();
        await raw.writeSplit(frame, [cut], 2);
        const echo = await raw.expectClose(WAIT);
        assert.equal(echo.code, 1000, `split at ${cut}`);
        const closed = await log.closed(WAIT);
        assert.deepEqual([closed.code, closed.reason.toString()], [1000, "bye"], `split at ${cut}`);
        assert.equal(log.errors.length, 0);
        raw.destroy();
      }
    }),
  );
});
