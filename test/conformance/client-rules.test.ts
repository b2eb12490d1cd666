/**
 * RFC 6455 / RFC 7692 rules, our CLIENT facing a misbehaving raw server: the client side of the
 * opening handshake (reliability.md §2.2) and every framing rule of §2.3/§2.4 mirrored from
 * server-rules.test.ts (`client receives …`), plus masking-key quality (RFC 6455 §5.3, §10.3).
 *
 * Every failure row asserts: the exact close code our client sends (masked), that it then closes
 * TCP within a bounded time, that it emitted `error` exactly once and then `close` exactly once with
 * 1006, and nothing after `close`.
 *
 * Implementation under test: socketeer by default, `SOCKETEER_IMPL=ws` for ws (see helpers/impl.ts).
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type WebSocket from "ws";
import {
  binaryFrame,
  closeFrame,
  computeAccept,
  continuationFrame,
  fragmentMessage,
  generateKey,
  type Impl,
  loadImpl,
  Opcode,
  pingFrame,
  pongFrame,
  RawServer,
  type RawServerConnection,
  type ResponseOptions,
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
const CLOSED = 3;

let impl: Impl;
before(async () => {
  impl = await loadImpl();
});

/** A raw server, our client connected to it, and the client's event log. */
interface ClientCtx {
  srv: RawServer;
  ws: WebSocket;
  log: SocketLog;
}

/** Starts a raw server and points a client at it (no response written yet). */
async function startClient(
  options: Record<string, unknown> = {},
  protocols: string[] = [],
  onUnexpectedResponse?: ConstructorParameters<typeof SocketLog>[1],
): Promise<ClientCtx> {
  const srv = await RawServer.listen();
  const clientOptions = { maxPayload: MAX_PAYLOAD, closeTimeout: CLOSE_TIMEOUT, ...options };
  const ws = new impl.WebSocket(srv.url(), protocols, clientOptions);
  // Listening from construction on: the log is also the error listener the oracle counts.
  const log = new SocketLog(ws, onUnexpectedResponse);
  return { srv, ws, log };
}

async function stopClient(ctx: ClientCtx): Promise<void> {
  if (ctx.ws.readyState !== CLOSED) ctx.ws.terminate();
  await ctx.srv.close();
}

/** A client connected through a correct 101 (options go to the client, `response` to the 101). */
async function withOpenClient(
  fn: (conn: RawServerConnection, ctx: ClientCtx) => Promise<void>,
  options: Record<string, unknown> = {},
  response: ResponseOptions = {},
): Promise<void> {
  const ctx = await startClient(options);
  try {
    const conn = await ctx.srv.accept(WAIT);
    await conn.respond(response);
    await ctx.log.opened(WAIT);
    await fn(conn, ctx);
  } finally {
    await stopClient(ctx);
  }
}

/**
 * The failure oracle (reliability.md §0): exact close code (masked, RFC 6455 §5.1), TCP closed by
 * the client, one `error` then one `close` (1006) and nothing after.
 */
async function assertFailed(
  conn: RawServerConnection,
  log: SocketLog,
  closeCode: number,
  errorCodes: readonly string[],
  messagesBefore = 0,
): Promise<void> {
  const close = await conn.expectClose(WAIT);
  assert.equal(close.code, closeCode, "close code sent by the client");
  assert.equal(close.frame.masked, true, "RFC 6455 §5.1: a client masks every frame");
  await conn.waitForTcpEnd(WAIT);
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

async function runClientFailure(row: FailureRow, deflate = false): Promise<void> {
  await withOpenClient(
    async (conn, { log }) => {
      conn.write(Buffer.concat(row.frames(false)));
      await assertFailed(conn, log, row.closeCode, row.errorCodes, row.messagesBefore);
    },
    deflate ? { perMessageDeflate: true } : { perMessageDeflate: false },
    deflate ? { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } } : {},
  );
}

// ---------------------------------------------------------------------------------------------
// Opening handshake, client side (reliability.md §2.2)
// ---------------------------------------------------------------------------------------------

/**
 * The handshake-failure oracle: one `error` with exactly `message` (one of them, if several; or
 * starting with it when `prefixOnly`), one `close` with 1006, never `open`, readyState CLOSED, and
 * the client closes TCP.
 */
async function expectHandshakeFailure(
  response: ResponseOptions | string,
  message: string | readonly string[],
  options: Record<string, unknown> = {},
  protocols: string[] = [],
  prefixOnly = false,
): Promise<void> {
  const ctx = await startClient(options, protocols);
  try {
    const conn = await ctx.srv.accept(WAIT);
    await conn.respond(response);
    const closed = await ctx.log.closed(WAIT);
    assert.equal(closed.code, 1006);
    await conn.waitForTcpEnd(WAIT);
    await sleep(20);
    assert.equal(ctx.log.errors.length, 1, `events: ${ctx.log.events.join(", ")}`);
    const allowed = typeof message === "string" ? [message] : message;
    const got = ctx.log.errors[0]?.message ?? "";
    const ok = prefixOnly ? allowed.some((m) => got.startsWith(m)) : allowed.includes(got);
    assert.ok(ok, `error message ${JSON.stringify(got)}`);
    assert.equal(ctx.log.closes.length, 1);
    assert.ok(!ctx.log.events.includes("open"), "never opened");
    assert.ok(ctx.log.events.indexOf("error") < ctx.log.events.indexOf("close"));
    assert.deepEqual(ctx.log.afterClose(), []);
    assert.equal(ctx.ws.readyState, CLOSED);
  } finally {
    await stopClient(ctx);
  }
}

describe("client opening handshake (RFC 6455 §4.1, §4.2.2)", () => {
  test(
    "RFC 6455 §4.1: client sends a valid request with a fresh 16-byte key per connection",
    T,
    async () => {
      const keys: string[] = [];
      for (let i = 0; i < 3; i++) {
        const ctx = await startClient();
        try {
          const conn = await ctx.srv.accept(WAIT);
          const req = conn.request;
          assert.equal(req.method, "GET");
          assert.equal(req.httpVersion, "1.1");
          assert.equal(conn.header("upgrade")?.toLowerCase(), "websocket");
          assert.match(conn.header("connection") ?? "", /\bupgrade\b/i);
          assert.equal(conn.header("sec-websocket-version"), "13");
          assert.ok(conn.header("host"), "Host header");
          const key = conn.key ?? "";
          assert.match(key, /^[A-Za-z0-9+/]{22}==$/);
          assert.equal(Buffer.from(key, "base64").length, 16);
          keys.push(key);
          await conn.respond();
          await ctx.log.opened(WAIT);
        } finally {
          await stopClient(ctx);
        }
      }
      assert.equal(new Set(keys).size, keys.length, "keys differ between connections");
    },
  );

  for (const status of [200, 302, 400, 403, 404, 500, 503]) {
    test(
      `RFC 6455 §4.1: client receives status ${status} instead of 101 → error "Unexpected server response: ${status}"`,
      T,
      () =>
        expectHandshakeFailure(
          {
            status,
            body: "no websocket here",
            ...(status === 302 ? { headers: { Location: "/elsewhere" } } : {}),
          },
          `Unexpected server response: ${status}`,
        ),
    );
  }

  test(
    "RFC 6455 §4.1: client receives 401 with an 'unexpected-response' listener → listener gets it, no error of its own",
    T,
    async () => {
      const ctx = await startClient({}, [], (_req, res) => {
        res.resume();
        // ws semantics: the app owns the request now; ending it is its job.
        ctx.ws.terminate();
      });
      try {
        const conn = await ctx.srv.accept(WAIT);
        await conn.respond({ status: 401, headers: { "WWW-Authenticate": "Basic" } });
        const closed = await ctx.log.closed(WAIT);
        assert.equal(closed.code, 1006);
        assert.deepEqual(ctx.log.unexpectedResponses, [401]);
        await sleep(20);
        assert.ok(!ctx.log.events.includes("open"));
        for (const err of ctx.log.errors) {
          assert.doesNotMatch(err.message, /Unexpected server response/);
        }
        assert.ok(ctx.log.errors.length <= 1);
        assert.equal(ctx.log.closes.length, 1);
      } finally {
        await stopClient(ctx);
      }
    },
  );

  test("RFC 6455 §4.2.2: client receives a 101 without Upgrade → error", T, () =>
    // Node's HTTP parser only reports an upgrade when the Upgrade header is there, so a client
    // built on http.request (ws) sees a plain 101 response; either message fails the handshake.
    expectHandshakeFailure({ headers: { Upgrade: null } }, [
      "Invalid Upgrade header",
      "Unexpected server response: 101",
    ]),
  );
  for (const value of ["h2c", "websocketx", "web socket"]) {
    test(
      `RFC 6455 §4.2.2: client receives 'Upgrade: ${value}' → error "Invalid Upgrade header"`,
      T,
      () => expectHandshakeFailure({ headers: { Upgrade: value } }, "Invalid Upgrade header"),
    );
  }
  test("RFC 6455 §4.2.2: client accepts 'Upgrade: WebSocket' (case-insensitive)", T, () =>
    withOpenClient(
      async (_conn, { log }) => {
        assert.equal(log.errors.length, 0);
      },
      {},
      { headers: { Upgrade: "WebSocket" } },
    ),
  );

  const acceptCases: Array<[string, (key: string) => ResponseOptions]> = [
    ["missing", () => ({ headers: { "Sec-WebSocket-Accept": null } })],
    [
      "a constant value",
      () => ({ headers: { "Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" } }),
    ],
    [
      "computed for another key",
      () => ({ headers: { "Sec-WebSocket-Accept": computeAccept(generateKey()) } }),
    ],
    ["the key echoed back", (key) => ({ headers: { "Sec-WebSocket-Accept": key } })],
    [
      "lower-cased",
      (key) => ({ headers: { "Sec-WebSocket-Accept": computeAccept(key).toLowerCase() } }),
    ],
    [
      "sent twice",
      (key) => ({ headers: { "Sec-WebSocket-Accept": [computeAccept(key), computeAccept(key)] } }),
    ],
  ];
  for (const [what, response] of acceptCases) {
    test(
      `RFC 6455 §4.2.2: client receives a Sec-WebSocket-Accept ${what} → error "Invalid Sec-WebSocket-Accept header"`,
      T,
      async () => {
        const ctx = await startClient();
        try {
          const conn = await ctx.srv.accept(WAIT);
          await conn.respond(response(conn.key ?? ""));
          const closed = await ctx.log.closed(WAIT);
          assert.equal(closed.code, 1006);
          await conn.waitForTcpEnd(WAIT);
          await sleep(20);
          assert.deepEqual(
            ctx.log.errors.map((e) => e.message),
            ["Invalid Sec-WebSocket-Accept header"],
          );
          assert.equal(ctx.log.closes.length, 1);
          assert.ok(!ctx.log.events.includes("open"));
        } finally {
          await stopClient(ctx);
        }
      },
    );
  }

  const protocolCases: Array<[string, string[], string | null, string]> = [
    [
      "one although none was offered",
      [],
      "chat",
      "Server sent a subprotocol but none was requested",
    ],
    ["one that was not offered", ["chat"], "superchat", "Server sent an invalid subprotocol"],
    ["two at once", ["a", "b"], "a, b", "Server sent an invalid subprotocol"],
    ["none although one was offered (ws parity)", ["chat"], null, "Server sent no subprotocol"],
  ];
  for (const [what, offered, answered, message] of protocolCases) {
    test(`RFC 6455 §4.1: client receives a subprotocol ${what} → error "${message}"`, T, () =>
      expectHandshakeFailure(
        answered === null ? {} : { headers: { "Sec-WebSocket-Protocol": answered } },
        message,
        {},
        offered,
      ),
    );
  }
  test("RFC 6455 §4.1: client accepts an offered subprotocol and exposes it", T, async () => {
    const ctx = await startClient({}, ["a", "b"]);
    try {
      const conn = await ctx.srv.accept(WAIT);
      const offered = (conn.header("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
      assert.deepEqual(offered, ["a", "b"]);
      await conn.respond({ headers: { "Sec-WebSocket-Protocol": "b" } });
      await ctx.log.opened(WAIT);
      assert.equal(ctx.ws.protocol, "b");
    } finally {
      await stopClient(ctx);
    }
  });

  test("RFC 6455 §9.1: client receives an extension although it offered none → error", T, () =>
    expectHandshakeFailure(
      { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } },
      "Server sent a Sec-WebSocket-Extensions header but no extension was requested",
      { perMessageDeflate: false },
    ),
  );
  test("RFC 6455 §9.1: client receives an extension it did not offer → error", T, () =>
    expectHandshakeFailure(
      { headers: { "Sec-WebSocket-Extensions": "x-webkit-deflate-frame" } },
      "Server indicated an extension that was not requested",
      { perMessageDeflate: true },
    ),
  );
  for (const params of [
    "server_max_window_bits=16",
    "server_max_window_bits=7",
    "server_max_window_bits=abc",
    "foo=1",
  ]) {
    test(`RFC 7692 §7.1: client receives 'permessage-deflate; ${params}' → error`, T, () =>
      expectHandshakeFailure(
        { headers: { "Sec-WebSocket-Extensions": `permessage-deflate; ${params}` } },
        "Invalid Sec-WebSocket-Extensions header",
        { perMessageDeflate: true },
        [],
        // ws's text is a prefix; detail after it (which parameter, why) is welcome.
        true,
      ),
    );
  }

  test(
    "RFC 6455 §4.1: client whose handshake is never answered → error after handshakeTimeout",
    T,
    async () => {
      const started = Date.now();
      const ctx = await startClient({ handshakeTimeout: 200 });
      try {
        const conn = await ctx.srv.accept(WAIT);
        const closed = await ctx.log.closed(WAIT + 200);
        // Not a speed check: only that it waited for the timeout rather than failing at once.
        assert.ok(Date.now() - started >= 150, "did not give up before the timeout");
        assert.equal(closed.code, 1006);
        assert.deepEqual(
          ctx.log.errors.map((e) => e.message),
          ["Opening handshake has timed out"],
        );
        await conn.waitForTcpEnd(WAIT);
        await sleep(20);
        assert.equal(ctx.log.closes.length, 1);
        assert.deepEqual(ctx.log.afterClose(), []);
        assert.equal(ctx.ws.readyState, CLOSED);
      } finally {
        await stopClient(ctx);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Framing, client side (reliability.md §2.3, §2.4)
// ---------------------------------------------------------------------------------------------

describe("client receives frames that break RFC 6455 framing rules", () => {
  const maskedFrames: Array<[string, () => Buffer[]]> = [
    ["a masked text frame", () => [textFrame("hi", { mask: true })]],
    ["a masked binary frame", () => [binaryFrame("hi", { mask: true })]],
    ["a masked ping", () => [pingFrame("p", { mask: true })]],
    ["a masked close frame", () => [closeFrame(1000, "", { mask: true })]],
    [
      "a masked continuation after an unmasked first fragment",
      () => [textFrame("a", { fin: false }), continuationFrame("b", { mask: true })],
    ],
  ];
  for (const [name, frames] of maskedFrames) {
    test(`RFC 6455 §5.1: client receives ${name} → 1002`, T, () =>
      runClientFailure({
        name,
        rfc: "RFC 6455 §5.1",
        frames,
        closeCode: 1002,
        errorCodes: ["WS_ERR_UNEXPECTED_MASK"],
      }),
    );
  }

  for (const row of allFramingFailureRows(MAX_PAYLOAD)) {
    test(`${row.rfc}: client receives ${row.name} → ${row.closeCode}`, T, () =>
      runClientFailure(row),
    );
  }
});

describe("client receives permessage-deflate frames that break RFC 7692", () => {
  for (const row of deflateFailureRows(MAX_PAYLOAD)) {
    test(`${row.rfc}: client receives ${row.name} → ${row.closeCode}`, T, () =>
      runClientFailure(row, true),
    );
  }

  test("RFC 7692 §6.2: client receives a valid compressed message (control case)", T, () =>
    withOpenClient(
      async (conn, { log }) => {
        conn.sendFrame({ opcode: Opcode.TEXT, payload: deflateMessage("squeezed"), rsv1: true });
        assert.equal((await log.message(0, WAIT)).data.toString(), "squeezed");
        assert.equal(log.errors.length, 0);
      },
      { perMessageDeflate: true },
      { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } },
    ),
  );
});

describe("client enforces maxPayload (RFC 6455 §10.4)", () => {
  test(
    "RFC 6455 §10.4: client receives fragments whose sum passes maxPayload → 1009 on the crossing fragment",
    T,
    () =>
      withOpenClient(async (conn, { log }) => {
        const piece = "x".repeat(400);
        conn.sendFrame({ opcode: Opcode.TEXT, payload: piece, fin: false });
        conn.sendFrame({ opcode: Opcode.CONTINUATION, payload: piece, fin: false });
        await conn.expectNoFrame(150);
        assert.equal(log.errors.length, 0);
        conn.sendFrame({ opcode: Opcode.CONTINUATION, payload: piece, fin: false });
        await assertFailed(conn, log, 1009, ["WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"]);
      }),
  );

  test(
    "RFC 6455 §10.4: client accepts a message of exactly maxPayload bytes, single and fragmented",
    T,
    () =>
      withOpenClient(async (conn, { log }) => {
        const body = Buffer.alloc(MAX_PAYLOAD, 0x62);
        conn.sendFrame({ opcode: Opcode.BINARY, payload: body });
        conn.write(Buffer.concat(fragmentMessage(Opcode.BINARY, body, [300, 700])));
        assert.deepEqual((await log.message(0, WAIT)).data, body);
        assert.deepEqual((await log.message(1, WAIT)).data, body);
        assert.equal(log.errors.length, 0);
      }),
  );
});

describe("client accepts what the RFC allows", () => {
  test(
    "RFC 6455 §5.4: client receives control frames interleaved in a fragmented message (pong at once, message reassembled)",
    T,
    () =>
      withOpenClient(async (conn, { log }) => {
        conn.sendFrame({ opcode: Opcode.TEXT, payload: "Hel", fin: false });
        conn.sendFrame({ opcode: Opcode.PING, payload: "p1" });
        const pong = await conn.nextFrame(WAIT);
        assert.equal(pong.opcode, Opcode.PONG);
        assert.equal(pong.payload.toString(), "p1");
        assert.equal(pong.masked, true);
        conn.sendFrame({ opcode: Opcode.PONG, payload: "unsolicited" });
        conn.sendFrame({ opcode: Opcode.CONTINUATION, payload: "lo ", fin: false });
        conn.sendFrame({ opcode: Opcode.PING, payload: "p2" });
        conn.sendFrame({ opcode: Opcode.CONTINUATION, payload: "world" });
        assert.equal((await conn.nextFrame(WAIT)).payload.toString(), "p2");
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
    "RFC 6455 §8.1: client receives a valid 4-byte character split across fragments at every point",
    T,
    () =>
      withOpenClient(async (conn, { log }) => {
        const text = Buffer.from("a😀b"); // 61 | F0 9F 98 80 | 62
        const splits = [[2], [3], [4], [2, 3, 4], [1, 5]];
        for (const cuts of splits)
          conn.write(Buffer.concat(fragmentMessage(Opcode.TEXT, text, cuts)));
        for (let i = 0; i < splits.length; i++) {
          assert.equal((await log.message(i, WAIT)).data.toString(), "a😀b");
        }
        assert.equal(log.errors.length, 0);
      }),
  );

  test(
    "RFC 6455 §5.2: client receives non-minimal 16- and 64-bit length encodings (accepted, ws parity)",
    T,
    () =>
      withOpenClient(async (conn, { log }) => {
        conn.sendFrame({ opcode: Opcode.TEXT, payload: "five!", lengthEncoding: 16 });
        conn.sendFrame({ opcode: Opcode.TEXT, payload: "five!", lengthEncoding: 64 });
        assert.equal((await log.message(0, WAIT)).data.toString(), "five!");
        assert.equal((await log.message(1, WAIT)).data.toString(), "five!");
        assert.equal(log.errors.length, 0);
      }),
  );

  test("RFC 6455 §4.2.2: client parses frames glued to the 101 in the same write", T, () =>
    withOpenClient(
      async (_conn, { log }) => {
        assert.equal((await log.message(0, WAIT)).data.toString(), "early");
      },
      {},
      { append: textFrame("early") },
    ),
  );
});

describe("client receives close frames (RFC 6455 §5.5.1, §7.4)", () => {
  const reasons = ["", "bye", "going away", "é ✓ 😀"];
  VALID_CLOSE_CODES.forEach((code, i) => {
    const reason = reasons[i % reasons.length] ?? "";
    test(
      `RFC 6455 §5.5.1: client receives a valid close ${code} "${reason}" → echoes ${code}, app sees it`,
      T,
      () =>
        withOpenClient(async (conn, { log }) => {
          conn.write(closeFrame(code, reason));
          const echo = await conn.expectClose(WAIT);
          assert.equal(echo.code, code);
          assert.equal(echo.frame.masked, true);
          // The server closes TCP first (RFC 6455 §7.1.1); the client must then finish too.
          conn.end();
          await conn.waitForTcpEnd(WAIT);
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
    "RFC 6455 §7.1.5: client receives an empty close → app sees 1005, reply carries no code or 1000",
    T,
    () =>
      withOpenClient(async (conn, { log }) => {
        conn.write(closeFrame());
        const echo = await conn.expectClose(WAIT);
        assert.ok(echo.code === null || echo.code === 1000, `reply code ${echo.code}`);
        assert.equal(echo.frame.masked, true);
        conn.end();
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1005);
        assert.equal(closed.reason.length, 0);
        assert.equal(log.errors.length, 0);
      }),
  );

  test("RFC 6455 §5.5.1: client receives data, ping and close after a close → all ignored", T, () =>
    withOpenClient(async (conn, { log }) => {
      conn.write(
        Buffer.concat([
          closeFrame(1000, "done"),
          textFrame("after"),
          pingFrame("late"),
          closeFrame(1001, "again"),
        ]),
      );
      const echo = await conn.expectClose(WAIT);
      assert.equal(echo.code, 1000);
      await conn.expectNoFrame(50);
      conn.end();
      const closed = await log.closed(WAIT);
      assert.equal(closed.code, 1000);
      await sleep(20);
      assert.equal(log.messages.length, 0);
      assert.equal(log.pings.length, 0);
      assert.equal(log.errors.length, 0);
      assert.deepEqual(log.afterClose(), []);
    }),
  );

  test(
    "RFC 6455 §7.1.1: client whose close is never answered gives up after closeTimeout (1006)",
    T,
    () =>
      withOpenClient(async (conn, { ws, log }) => {
        ws.close(1000, "bye");
        const close = await conn.expectClose(WAIT);
        assert.deepEqual([close.code, close.reason], [1000, "bye"]);
        // The raw server keeps TCP open and never answers.
        await conn.waitForTcpEnd(CLOSE_TIMEOUT + WAIT);
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1006);
        assert.equal(log.closes.length, 1);
      }),
  );
});

describe("client sees EOF mid-frame (RFC 6455 §7.1.5: 1006)", () => {
  const small = textFrame("hello"); // 2 + 5 bytes
  const medium = binaryFrame(Buffer.alloc(200, 7)); // 2 + 2 + 200 bytes
  const long = binaryFrame(Buffer.alloc(300, 7), { lengthEncoding: 64 }); // 2 + 8 + 300 bytes
  const cases: Array<[string, Buffer]> = [
    ["after 1 byte of a small frame", small.subarray(0, 1)],
    ["inside the payload", small.subarray(0, 4)],
    ["inside a 16-bit length", medium.subarray(0, 3)],
    ["after the 16-bit length", medium.subarray(0, 4)],
    ["inside a 64-bit length", long.subarray(0, 6)],
    ["inside a 200-byte payload", medium.subarray(0, 100)],
    ["between fragments of a message", textFrame("part", { fin: false })],
    ["before any frame", Buffer.alloc(0)],
  ];
  for (const [where, prefix] of cases) {
    test(`RFC 6455 §7.1.5: client receives EOF ${where} → close 1006 once, no error`, T, () =>
      withOpenClient(async (conn, { log }) => {
        if (prefix.length > 0) conn.write(prefix);
        await sleep(10);
        conn.end();
        const closed = await log.closed(WAIT);
        assert.equal(closed.code, 1006);
        await conn.waitForTcpEnd(WAIT);
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

describe("client receives frames split at every byte boundary (Autobahn 9.x 'chopped')", () => {
  type Sample = {
    kind: string;
    bytes: Buffer;
    result: (conn: RawServerConnection, log: SocketLog, n: number) => Promise<unknown>;
  };
  const messageResult = async (_conn: RawServerConnection, log: SocketLog, n: number) => {
    const m = await log.message(n, WAIT);
    return [m.isBinary, m.data.toString("hex")];
  };
  const samples: Sample[] = [
    { kind: "text", bytes: textFrame("héllo wörld"), result: messageResult },
    {
      kind: "binary with a 16-bit length",
      bytes: binaryFrame(Buffer.from(Array.from({ length: 130 }, (_, i) => i))),
      result: messageResult,
    },
    {
      kind: "fragmented text (text + continuation)",
      bytes: Buffer.concat(fragmentMessage(Opcode.TEXT, "fragments", [4])),
      result: messageResult,
    },
    {
      kind: "ping",
      bytes: pingFrame("ping!"),
      result: async (conn) => {
        const f = await conn.nextFrame(WAIT);
        return [f.opcode, f.payload.toString(), f.masked];
      },
    },
    {
      kind: "pong",
      bytes: pongFrame("pong!"),
      result: async (_conn, log, n) => {
        await log.until(() => log.pongs.length > n, WAIT, "pong event");
        return log.pongs[n]?.toString();
      },
    },
  ];
  for (const sample of samples) {
    test(
      `RFC 6455 §5.2: client receives a ${sample.kind} frame split at each of ${sample.bytes.length - 1} points`,
      T,
      () =>
        withOpenClient(async (conn, { log }) => {
          conn.write(sample.bytes);
          const expected = await sample.result(conn, log, 0);
          for (let cut = 1; cut < sample.bytes.length; cut++) {
            await conn.writeSplit(sample.bytes, [cut], 2);
            assert.deepEqual(await sample.result(conn, log, cut), expected, `split at ${cut}`);
          }
          assert.equal(log.errors.length, 0);
          assert.equal(log.closes.length, 0);
        }),
    );
  }

  const frame = closeFrame(1000, "bye");
  test(
    `RFC 6455 §5.5.1: client receives a close frame split at each of ${frame.length - 1} points`,
    T,
    async () => {
      for (let cut = 1; cut < frame.length; cut++) {
        await withOpenClient(async (conn, { log }) => {
          await conn.writeSplit(frame, [cut], 2);
          const echo = await conn.expectClose(WAIT);
          assert.equal(echo.code, 1000, `split at ${cut}`);
          conn.end();
          const closed = await log.closed(WAIT);
          assert.deepEqual(
            [closed.code, closed.reason.toString()],
            [1000, "bye"],
            `split at ${cut}`,
          );
          assert.equal(log.errors.length, 0);
        });
      }
    },
  );
});

describe("client masking keys (RFC 6455 §5.3, §10.3)", () => {
  test(
    "RFC 6455 §5.3: client masking keys over 1,000 frames are unpredictable, not constant, never zero",
    T,
    () =>
      withOpenClient(async (conn, { ws }) => {
        const count = 1000;
        for (let i = 0; i < count; i++) ws.send(`m${i}`);
        const keys: string[] = [];
        for (let i = 0; i < count; i++) {
          const frame = await conn.nextFrame(WAIT);
          assert.equal(frame.masked, true);
          assert.equal(frame.payload.toString(), `m${i}`, "payload unmasks to what was sent");
          keys.push(frame.maskingKey?.toString("hex") ?? "");
        }
        assert.ok(!keys.includes("00000000"), "an all-zero key leaves the payload unmasked");
        const distinct = new Set(keys).size;
        // 1,000 random 32-bit keys collide with probability ~1e-4; 990 leaves room, a constant or
        // short-cycle key generator fails by far.
        assert.ok(distinct >= 990, `only ${distinct} distinct keys in ${count}`);
        // Consecutive keys must not be derived from each other by a counter.
        let sequential = 0;
        for (let i = 1; i < keys.length; i++) {
          const a = Number.parseInt(keys[i - 1] ?? "0", 16);
          const b = Number.parseInt(keys[i] ?? "0", 16);
          if (Math.abs(b - a) <= 16) sequential++;
        }
        assert.ok(sequential < 5, `${sequential} consecutive keys differ by at most 16`);
        // Every key byte value shows up (a CSPRNG over 4,000 bytes covers all 256 with overwhelming
        // probability); a key built from a few fixed bytes does not.
        const byteValues = new Set(keys.flatMap((k) => [...Buffer.from(k, "hex")]));
        assert.ok(byteValues.size > 200, `only ${byteValues.size} distinct key byte values`);
      }),
  );
});
