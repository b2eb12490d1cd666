/**
 * The client against hostile servers (reliability.md §1.4, 1.12, 1.13, 1.21, 1.23, 1.24, 1.29,
 * §3.3): huge or dribbled responses, endless error bodies, wrong accept values, out-of-range
 * permessage-deflate answers, untrusted certificates and credential-stealing redirects.
 *
 * Oracle: the client reports exactly one `error` and one `close` (1006), never opens, never
 * throws later from a data path, and the process lives.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import { selfSigned } from "../helpers/api-tls.js";
import { forgeFrame, Opcode, RawServer } from "../helpers/index.js";
import { KiB, liveBytes, MiB, Recorder, sleep } from "../helpers/sec-util.js";

const T = { timeout: 20_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };

/** Opens a client to the raw server and accepts its TCP connection (request head read). */
async function connect(
  raw: RawServer,
  options: ConstructorParameters<typeof WebSocket>[2] = {},
  protocols?: string[],
) {
  const client =
    protocols === undefined
      ? new WebSocket(raw.url(), { perMessageDeflate: false, ...options })
      : new WebSocket(raw.url(), protocols, { perMessageDeflate: false, ...options });
  const recorder = new Recorder(client);
  const conn = await raw.accept(10_000);
  return { client, recorder, conn };
}

/** One error, one close with 1006, never open; returns the error's message. */
async function assertHandshakeFailed(recorder: Recorder): Promise<string> {
  const closed = await recorder.closed(5000);
  await sleep(20); // anything late would show up now
  assert.equal(closed.code, 1006);
  assert.ok(!recorder.events.includes("open"), `opened: ${recorder.events}`);
  recorder.assertSafeEnd(1);
  return recorder.errors[0]?.message ?? "";
}

describe("client vs a hostile server's response", SUITE, () => {
  let raw: RawServer;
  before(async () => {
    raw = await RawServer.listen();
  });
  after(async () => {
    await raw.close();
  });

  test("1.12 a 101 with 10,000 headers: one error, close 1006", T, async () => {
    const { recorder, conn } = await connect(raw);
    const lines = Array.from({ length: 10_000 }, (_, i) => `X-Header-${i}: value`);
    await conn.respond({ extraLines: lines });
    await assertHandshakeFailed(recorder);
  });

  test(
    "1.12 a non-101 with an endless body: one error, the client hangs up, memory bounded",
    T,
    async (t) => {
      const { recorder, conn } = await connect(raw);
      const before = liveBytes();
      conn.write(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n",
      );
      const block = Buffer.alloc(64 * KiB, 0x2e);
      let written = 0;
      // Keep writing until the client hangs up (bounded: 64 MiB at most).
      while (conn.frames.tcpEnd === null && written < 64 * MiB) {
        if (!conn.socket.write(block)) {
          // Not events.once: it would reject on the ECONNRESET this test provokes.
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              conn.socket.off("drain", done);
              conn.socket.off("close", done);
              resolve();
            };
            const timer = setTimeout(done, 200);
            conn.socket.once("drain", done);
            conn.socket.once("close", done);
          });
        }
        written += block.length;
      }
      await conn.waitForTcpEnd(3000);
      const message = await assertHandshakeFailed(recorder);
      assert.match(message, /Unexpected server response: 400/);
      t.diagnostic(
        `the server wrote ${(written / KiB).toFixed(0)} KiB of body before the client hung up`,
      );
      assert.ok(written < 32 * MiB, `the client read ${written / MiB} MiB of an error body`);
      assert.ok(liveBytes().total - before.total < 64 * MiB);
    },
  );

  test("2.2.3 a wrong, missing or duplicated Sec-WebSocket-Accept: one error", T, async () => {
    for (const accept of ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", null, ["a", "b"]] as const) {
      const { recorder, conn } = await connect(raw);
      await conn.respond({
        headers: { "Sec-WebSocket-Accept": accept },
        append: forgeFrame({ opcode: Opcode.TEXT, payload: "must not be parsed" }),
      });
      assert.match(await assertHandshakeFailed(recorder), /Sec-WebSocket-Accept/);
      assert.equal(recorder.messages.length, 0);
    }
  });

  test(
    "1.29 bad permessage-deflate answers fail the handshake once; no frame is parsed",
    T,
    async () => {
      const cases: Array<[answer: string, options?: object]> = [
        ["permessage-deflate; server_max_window_bits=16"],
        ["permessage-deflate; server_max_window_bits=7"],
        ["permessage-deflate; server_max_window_bits=abc"],
        ["permessage-deflate; server_max_window_bits="],
        ['permessage-deflate; server_max_window_bits="16"'],
        ["permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"],
        ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
        ["permessage-deflate; client_max_window_bits"],
        ["permessage-deflate; foo"],
        ["permessage-deflate; __proto__=1"],
        ["permessage-deflate; client_max_window_bits=10", { clientMaxWindowBits: false }],
        ["permessage-deflate, permessage-deflate"],
        ["x-unknown-extension"],
        ['permessage-deflate; x="\\'],
      ];
      for (const [answer, deflateOptions] of cases) {
        const { recorder, conn } = await connect(raw, {
          perMessageDeflate: deflateOptions ?? true,
        });
        await conn.respond({
          headers: { "Sec-WebSocket-Extensions": answer },
          append: forgeFrame({ opcode: Opcode.TEXT, payload: "must not be parsed", rsv1: true }),
        });
        const message = await assertHandshakeFailed(recorder);
        assert.match(message, /Sec-WebSocket-Extensions|extension/i, answer);
        assert.equal(recorder.messages.length, 0, answer);
      }
      // And a good answer to the same client opens (the cases above fail for their content).
      const { recorder, conn } = await connect(raw, { perMessageDeflate: true });
      await conn.respond({
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=10" },
      });
      await recorder.opened();
      recorder.ws.terminate();
    },
  );

  test("1.4/1.21 the client parsing huge hostile headers of a 101 fails once", T, async () => {
    const spaces = " ".repeat(512 * KiB);
    const cases: Array<[header: string, value: string, protocols?: string[]]> = [
      ["Sec-WebSocket-Protocol", `b${spaces}x`, ["b"]],
      ["Sec-WebSocket-Extensions", `a${spaces}b`],
      ["Sec-WebSocket-Extensions", `permessage-deflate; x="${"\\c".repeat(256 * KiB)}`],
      ["Sec-WebSocket-Extensions", `permessage-deflate${spaces};`],
    ];
    for (const [name, value, protocols] of cases) {
      const { recorder, conn } = await connect(
        raw,
        { perMessageDeflate: true, maxHeaderSize: 2 * MiB } as object,
        protocols,
      );
      await conn.respond({ headers: { [name]: value } });
      await assertHandshakeFailed(recorder);
    }
  });

  test(
    "1.13 a 101 dribbled in 1 KiB writes with a 1 MiB header: one error once over 16 KiB",
    T,
    async () => {
      const { recorder, conn } = await connect(raw);
      const text = conn.buildResponse({ headers: { "X-Junk": "a".repeat(MiB) } });
      const bytes = Buffer.from(text, "latin1");
      let sent = 0;
      for (
        ;
        sent < bytes.length && conn.frames.tcpEnd === null && recorder.closes.length === 0;
        sent += KiB
      ) {
        conn.write(bytes.subarray(sent, sent + KiB));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await assertHandshakeFailed(recorder);
      assert.ok(sent < 512 * KiB, `the client kept reading ${sent / KiB} KiB`);
    },
  );

  test(
    "3.3/2.2.9 a server that never answers: handshakeTimeout fails the handshake once",
    T,
    async () => {
      const started = Date.now();
      const { recorder } = await connect(raw, { handshakeTimeout: 200 });
      const message = await assertHandshakeFailed(recorder);
      assert.match(message, /Opening handshake has timed out/);
      assert.ok(Date.now() - started >= 150, "not before the timeout");
    },
  );
});

describe("1.23 TLS: certificates are verified by default", SUITE, () => {
  test(
    "1.23 wss:// to a self-signed server fails without ca, fails with a wrong servername, opens with ca",
    T,
    async () => {
      const { key, cert } = selfSigned(); // generated into a temp dir by openssl, never committed
      const server = https.createServer({ key, cert });
      const wss = new WebSocketServer({ server });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const untrusted = new Recorder(new WebSocket(url, { perMessageDeflate: false }));
        assert.match(await assertHandshakeFailed(untrusted), /self[- ]signed|certificate/i);

        const wrongName = new Recorder(
          new WebSocket(url, { ca: cert, servername: "wrong.example", perMessageDeflate: false }),
        );
        assert.match(await assertHandshakeFailed(wrongName), /altnames|hostname|does not match/i);

        const trusted = new Recorder(new WebSocket(url, { ca: cert, perMessageDeflate: false }));
        await trusted.opened(5000);
        trusted.ws.close();
        await trusted.closed();
      } finally {
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  );
});

describe("1.24 redirects never carry credentials to another host", SUITE, () => {
  /** A socketeer server that records the headers of every upgrade request it accepts. */
  async function target() {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const seen: http.IncomingHttpHeaders[] = [];
    wss.on("connection", (ws, req) => {
      seen.push(req.headers);
      ws.close();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    return {
      port,
      seen,
      close: async () => {
        for (const c of wss.clients) c.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** An http server that answers every upgrade with a 302 to `location(req)`. */
  async function redirector(location: (req: http.IncomingMessage, port: number) => string) {
    const server = http.createServer();
    const seen: http.IncomingHttpHeaders[] = [];
    server.on("upgrade", (req, socket) => {
      seen.push(req.headers);
      const port = (server.address() as AddressInfo).port;
      socket.end(
        `HTTP/1.1 302 Found\r\nLocation: ${location(req, port)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return {
      port: (server.address() as AddressInfo).port,
      seen,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  // Two ways to carry credentials: explicit headers, and the `auth` option (Basic).
  const withHeaders = {
    headers: { Authorization: "Bearer secret-token", Cookie: "sid=secret-cookie" },
    perMessageDeflate: false,
  };
  const withAuth = {
    auth: "user:secret-password",
    headers: { Cookie: "sid=c2" },
    perMessageDeflate: false,
  };
  const basic = `Basic ${Buffer.from("user:secret-password").toString("base64")}`;

  test("1.24 a redirect to another host:port drops Authorization, Cookie and auth", T, async () => {
    const dest = await target();
    const hop = await redirector(() => `ws://127.0.0.1:${dest.port}/landing`);
    try {
      for (const [options, authorization, cookie] of [
        [withHeaders, "Bearer secret-token", "sid=secret-cookie"],
        [withAuth, basic, "sid=c2"],
      ] as const) {
        const client = new WebSocket(`ws://127.0.0.1:${hop.port}/start`, {
          ...options,
          followRedirects: true,
        });
        const recorder = new Recorder(client);
        await recorder.opened(5000);
        await recorder.closed(5000);
        const first = hop.seen[hop.seen.length - 1];
        assert.equal(first?.authorization, authorization, "the first hop got the credentials");
        assert.equal(first?.cookie, cookie);
        const headers = dest.seen[dest.seen.length - 1];
        assert.ok(headers !== undefined, "the redirect was followed");
        assert.equal(headers.authorization, undefined);
        assert.equal(headers.cookie, undefined);
        assert.equal(headers.host, `127.0.0.1:${dest.port}`);
      }
      assert.equal(dest.seen.length, 2);
    } finally {
      await hop.close();
      await dest.close();
    }
  });

  test("1.24 a redirect on the same host:port keeps them (the check is by origin)", T, async () => {
    // One server both redirects /start and accepts /landing.
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    const seen: http.IncomingHttpHeaders[] = [];
    server.on("upgrade", (req, socket, head) => {
      if (req.url === "/start") {
        socket.end(
          "HTTP/1.1 302 Found\r\nLocation: /landing\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
      }
      seen.push(req.headers);
      wss.handleUpgrade(req, socket, head, (ws) => ws.close());
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const port = (server.address() as AddressInfo).port;
      for (const options of [withHeaders, withAuth]) {
        const recorder = new Recorder(
          new WebSocket(`ws://127.0.0.1:${port}/start`, { ...options, followRedirects: true }),
        );
        await recorder.closed(5000);
        assert.ok(recorder.events.includes("open"));
      }
      assert.equal(seen[0]?.cookie, "sid=secret-cookie");
      assert.equal(seen[0]?.authorization, "Bearer secret-token");
      assert.equal(seen[1]?.cookie, "sid=c2");
      assert.equal(seen[1]?.authorization, basic);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      wss.close();
    }
  });

  test(
    "1.24 redirect loops stop at maxRedirects; redirects are off by default; a bad Location fails",
    T,
    async () => {
      const loop = await redirector((_req, port) => `ws://127.0.0.1:${port}/again`);
      try {
        const looping = new Recorder(
          new WebSocket(`ws://127.0.0.1:${loop.port}/`, {
            followRedirects: true,
            maxRedirects: 3,
            perMessageDeflate: false,
          }),
        );
        assert.match(await assertHandshakeFailed(looping), /Maximum redirects exceeded/);
        assert.equal(loop.seen.length, 4, "the first request and three redirects");

        const off = new Recorder(
          new WebSocket(`ws://127.0.0.1:${loop.port}/`, { perMessageDeflate: false }),
        );
        assert.match(await assertHandshakeFailed(off), /Unexpected server response: 302/);
      } finally {
        await loop.close();
      }
      const bad = await redirector(() => "http://[::1");
      try {
        const recorder = new Recorder(
          new WebSocket(`ws://127.0.0.1:${bad.port}/`, {
            followRedirects: true,
            perMessageDeflate: false,
          }),
        );
        await assertHandshakeFailed(recorder);
      } finally {
        await bad.close();
      }
    },
  );
});
