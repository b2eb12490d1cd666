/**
 * Interop with a real browser: Debian's Chromium, driven by playwright-core, connects with its own
 * `new WebSocket(...)` to socketeer's `WebSocketServer({ server })`, which shares its port with the
 * http server that serves the test page. With the server's default (no permessage-deflate) and
 * with `perMessageDeflate: true`, which Chromium always offers and uses for its own messages too.
 *
 * The page (served below) keeps a small harness: the test calls it with `page.evaluate`, and it
 * reports messages as type, length and SHA-256 (bytes too when small), so 16 MiB never has to
 * cross the DevTools protocol. A browser cannot send pings or fragments and may only close with
 * 1000 or 3000–4999, so those are exercised from our side. A missing Chromium fails the tests
 * with the install command (see `test/helpers/browser.ts`), never skips them.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { type WebSocket, WebSocketServer } from "../../src/index.js";
import { waitEvent } from "../helpers/api-util.js";
import { type BrowserUser, launchUser } from "../helpers/browser.js";

/** The in-page harness. Plain browser JavaScript; it is served, not compiled. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>socketeer interop</title>
<script>
"use strict";
const INLINE_LIMIT = 64 * 1024;
const sockets = new Map();
let nextId = 1;

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}
function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
async function describe(data) {
  const binary = typeof data !== "string";
  const bytes = binary ? new Uint8Array(data) : new TextEncoder().encode(data);
  const out = { binary, length: bytes.length, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)) };
  if (bytes.length <= INLINE_LIMIT) out.b64 = toBase64(bytes);
  return out;
}
function large(size, binary) {
  const half = Math.floor(size / 2);
  const bytes = new Uint8Array(size);
  // getRandomValues fills at most 64 KiB per call.
  for (let i = 0; i < half; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, half)));
  if (binary) {
    const word = new TextEncoder().encode("socketeer");
    for (let i = half; i < size; i++) bytes[i] = word[i % word.length];
    return bytes;
  }
  // Text must be valid UTF-8: random hex digits, then a run of "x".
  const digits = new TextEncoder().encode("0123456789abcdef");
  for (let i = 0; i < half; i++) bytes[i] = digits[bytes[i] & 15];
  bytes.fill(0x78, half);
  return new TextDecoder().decode(bytes);
}

window.harness = {
  open(url, protocols) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      ws.binaryType = "arraybuffer";
      const id = nextId++;
      // Descriptions are async (SHA-256); a chain keeps events in arrival order.
      const entry = { ws, events: [], waiters: [], chain: Promise.resolve(), echo: false };
      sockets.set(id, entry);
      const push = (event) => {
        const waiter = entry.waiters.shift();
        if (waiter) waiter(event);
        else entry.events.push(event);
      };
      ws.onmessage = (e) => {
        if (entry.echo) ws.send(e.data);
        entry.chain = entry.chain.then(async () => push({ type: "message", ...(await describe(e.data)) }));
      };
      ws.onerror = () => {
        entry.chain = entry.chain.then(() => push({ type: "error" }));
      };
      ws.onclose = (e) => {
        entry.chain = entry.chain.then(() => push({ type: "close", code: e.code, reason: e.reason, wasClean: e.wasClean }));
        reject(new Error("closed before opening: " + e.code));
      };
      ws.onopen = () => resolve({ id, protocol: ws.protocol, extensions: ws.extensions });
    });
  },
  next(id, ms) {
    const entry = sockets.get(id);
    if (entry.events.length > 0) return entry.events.shift();
    return new Promise((resolve, reject) => {
      const waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
      const timer = setTimeout(() => {
        entry.waiters.splice(entry.waiters.indexOf(waiter), 1);
        reject(new Error("no event in the page within " + ms + " ms"));
      }, ms);
      entry.waiters.push(waiter);
    });
  },
  send(id, message) {
    sockets.get(id).ws.send(message.text !== undefined ? message.text : fromBase64(message.b64));
  },
  async sendLarge(id, size, binary) {
    const data = large(size, binary);
    const description = await describe(binary ? data.buffer : data);
    delete description.b64;
    sockets.get(id).ws.send(data);
    return description;
  },
  echo(id) {
    sockets.get(id).echo = true;
  },
  close(id, code, reason) {
    const ws = sockets.get(id).ws;
    if (code === null) ws.close();
    else ws.close(code, reason);
  },
};
</script>
<p>socketeer interop page</p>
`;

/** A message as the page reports it. */
interface PageMessage {
  type: "message";
  binary: boolean;
  length: number;
  sha256: string;
  b64?: string;
}

/** Any event the page reports. */
type PageEvent =
  | PageMessage
  | { type: "close"; code: number; reason: string; wasClean: boolean }
  | { type: "error" };

/** Calls `harness[method](...args)` in the page and resolves with its (awaited) result. */
function harness<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  // A string expression, not a function: the test files are not compiled with the DOM library,
  // and tsx's transforms must not reach code that runs in the browser.
  const call = `window.harness.${method}(...${JSON.stringify(args)})`;
  return page.evaluate(call) as Promise<T>;
}

interface Connection {
  page: Page;
  id: number;
  /** What the browser's WebSocket reports once open. */
  browser: { protocol: string; extensions: string };
  server: WebSocket;
  request: IncomingMessage;
  /** The server side's TCP socket, to count bytes on the wire. */
  socket: Socket;
  serverErrors: Error[];
  pageErrors: string[];
  next(ms?: number): Promise<PageEvent>;
  nextMessage(ms?: number): Promise<PageMessage>;
  close(): Promise<void>;
}

// One browser for the file, launched by the first test that needs it. A launch failure (e.g.
// Chromium not installed) is kept, so every test FAILS with its message rather than being
// cancelled by a failed hook.
let browser: Promise<BrowserUser> | null = null;

after(async () => {
  const user = await browser?.catch(() => null);
  await user?.close();
});

/** Serves the page and our WebSocketServer on one port, opens the page and a socket from it. */
async function open(deflate: boolean, protocols: string[] = []): Promise<Connection> {
  browser ??= launchUser().catch((error: Error) => {
    throw new Error(`the Chromium interop tests cannot run: ${error.message}`);
  });
  const user = await browser;
  const http: Server = createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  const wss = new WebSocketServer({
    server: http,
    perMessageDeflate: deflate,
    // The LAST offered protocol, so a "first offered" default cannot pass by accident.
    handleProtocols: (offered) => [...offered].at(-1) ?? false,
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const page = await user.context.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  const close = async (): Promise<void> => {
    await page.close().catch(() => {});
    for (const socket of wss.clients) socket.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  };
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    const connection = waitEvent<[WebSocket, IncomingMessage]>(wss, "connection", 15_000);
    const [[server, request], opened] = await Promise.all([
      connection,
      harness<{ id: number; protocol: string; extensions: string }>(
        page,
        "open",
        `ws://127.0.0.1:${port}/interop`,
        protocols,
      ),
    ]);
    const serverErrors: Error[] = [];
    server.on("error", (error) => serverErrors.push(error));
    const next = (ms = 15_000) => harness<PageEvent>(page, "next", opened.id, ms);
    return {
      page,
      id: opened.id,
      browser: { protocol: opened.protocol, extensions: opened.extensions },
      server,
      request,
      socket: request.socket as Socket,
      serverErrors,
      pageErrors,
      next,
      nextMessage: async (ms) => {
        const event = await next(ms);
        assert.equal(
          event.type,
          "message",
          `the page's next event is a message: ${JSON.stringify(event)}`,
        );
        return event as PageMessage;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

function bytesOf(message: PageMessage): Buffer {
  assert.ok(message.b64 !== undefined, `a ${message.length}-byte message is reported inline`);
  return Buffer.from(message.b64, "base64");
}

function assertNoErrors(conn: Connection): void {
  assert.deepEqual(conn.serverErrors, [], "no error on our side");
  assert.deepEqual(conn.pageErrors, [], "no error in the page");
}

for (const deflate of [false, true]) {
  describe(`Chromium → socketeer server, perMessageDeflate ${deflate ? "true" : "default (off)"}`, () => {
    test("RFC 7692: Chromium offers permessage-deflate; it is negotiated as configured", {
      timeout: 30_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        assert.match(
          conn.request.headers["sec-websocket-extensions"] ?? "",
          /^permessage-deflate/,
          "Chromium offers permessage-deflate",
        );
        assert.equal(conn.server.extensions, deflate ? "permessage-deflate" : "");
        if (deflate) assert.match(conn.browser.extensions, /^permessage-deflate/);
        else assert.equal(conn.browser.extensions, "");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("text, binary and empty messages both ways keep their bytes and type", {
      timeout: 30_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        const cases: Array<[string | Buffer, Buffer, boolean]> = [
          ["héllo wörld ✓ 🚀", Buffer.from("héllo wörld ✓ 🚀"), false],
          [
            Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]),
            Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]),
            true,
          ],
          ["", Buffer.alloc(0), false],
          [Buffer.alloc(0), Buffer.alloc(0), true],
          ["q".repeat(5000), Buffer.from("q".repeat(5000)), false], // over the deflate threshold
        ];
        for (const [data, bytes, isBinary] of cases) {
          const atServer = waitEvent<[Buffer, boolean]>(conn.server, "message", 15_000);
          await harness(
            conn.page,
            "send",
            conn.id,
            isBinary ? { b64: bytes.toString("base64") } : { text: bytes.toString() },
          );
          const [got, gotIsBinary] = await atServer;
          assert.equal(
            gotIsBinary,
            isBinary,
            `we see the type of the page's ${bytes.length} bytes`,
          );
          assert.deepEqual(got, bytes, "we see the page's bytes");

          const atPage = conn.nextMessage();
          conn.server.send(data);
          const back = await atPage;
          assert.equal(
            back.binary,
            isBinary,
            `the page sees the type of our ${bytes.length} bytes`,
          );
          assert.deepEqual(bytesOf(back), bytes, "the page sees our bytes");
        }
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    // Chromium inflates and deflates 16 MiB slowly on a loaded 2-core machine (15-20 s each way
    // was seen at load 15), hence the long deadlines.
    test("16 MiB messages both ways (echoed by the page, and made by the page)", {
      timeout: 400_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        await harness(conn.page, "echo", conn.id);
        // Half random (incompressible), half repetitive (compressible).
        const large = Buffer.concat([
          randomBytes(8 * 1024 * 1024),
          Buffer.alloc(8 * 1024 * 1024, "socketeer"),
        ]);
        const echoed = waitEvent<[Buffer, boolean]>(conn.server, "message", 180_000);
        const atPage = conn.nextMessage(180_000);
        conn.server.send(large);
        const seen = await atPage;
        assert.deepEqual(
          [seen.binary, seen.length, seen.sha256],
          [true, large.length, sha(large)],
          "the page received our 16 MiB intact",
        );
        const [echo, echoIsBinary] = await echoed;
        assert.equal(echoIsBinary, true);
        assert.equal(echo.length, large.length);
        assert.equal(sha(echo), sha(large), "the page's echo of 16 MiB is intact");

        for (const binary of [true, false]) {
          const atServer = waitEvent<[Buffer, boolean]>(conn.server, "message", 180_000);
          const made = await harness<{ binary: boolean; length: number; sha256: string }>(
            conn.page,
            "sendLarge",
            conn.id,
            16 * 1024 * 1024,
            binary,
          );
          const [data, isBinary] = await atServer;
          assert.equal(isBinary, binary, "the type of the page's 16 MiB message");
          assert.equal(data.length, made.length, "the length of the page's 16 MiB message");
          assert.equal(sha(data), made.sha256, "the page's 16 MiB message is intact");
          // The page echoes what it receives; we sent nothing, so no echo is pending.
        }
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test(`RFC 7692 §7.2: messages are ${deflate ? "" : "not "}compressed on the wire`, {
      timeout: 30_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        const size = 1024 * 1024;
        const text = "interop ".repeat(size / 8);

        const written = conn.socket.bytesWritten;
        const atPage = conn.nextMessage();
        await new Promise<void>((resolve, reject) =>
          conn.server.send(text, (error) => (error ? reject(error) : resolve())),
        );
        assert.equal((await atPage).sha256, sha(text), "the page inflated our 1 MiB of text");
        const sent = conn.socket.bytesWritten - written;

        const read = conn.socket.bytesRead;
        const atServer = waitEvent<[Buffer, boolean]>(conn.server, "message", 15_000);
        await harness(conn.page, "send", conn.id, { text });
        const [back] = await atServer;
        assert.equal(sha(back), sha(text), "we inflated the page's 1 MiB of text");
        const received = conn.socket.bytesRead - read;

        if (deflate) {
          assert.ok(sent < size / 20, `we compressed 1 MiB of repeated text to ${sent} bytes`);
          assert.ok(received < size / 20, `Chromium compressed 1 MiB to ${received} bytes`);
        } else {
          assert.ok(sent >= size, `uncompressed, we wrote ${sent} bytes for 1 MiB`);
          assert.ok(received >= size, `uncompressed, Chromium wrote ${received} bytes for 1 MiB`);
        }
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("RFC 6455 §5.4: our fragmented messages are reassembled by Chromium", {
      timeout: 30_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        const atPage = conn.nextMessage();
        conn.server.send("frag", { fin: false });
        conn.server.send("men", { fin: false });
        conn.server.send("ted ✓", { fin: true });
        const text = await atPage;
        assert.equal(text.binary, false);
        assert.equal(bytesOf(text).toString(), "fragmented ✓");

        const part = randomBytes(20_000);
        const atPage2 = conn.nextMessage();
        conn.server.send(part, { fin: false });
        conn.server.send(Buffer.alloc(0), { fin: false });
        conn.server.send(part, { fin: true });
        const binary = await atPage2;
        assert.equal(binary.binary, true);
        assert.deepEqual(bytesOf(binary), Buffer.concat([part, part]));
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("RFC 6455 §5.5.3: Chromium answers our pings with their payload", {
      timeout: 30_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        for (const payload of [
          Buffer.from("are you there?"),
          Buffer.alloc(0),
          Buffer.alloc(125, 0x5a),
        ]) {
          const pong = waitEvent<[Buffer]>(conn.server, "pong", 15_000);
          conn.server.ping(payload);
          assert.deepEqual((await pong)[0], payload, `pong for a ${payload.length}-byte ping`);
        }
        const atPage = conn.nextMessage();
        conn.server.send("after pings");
        assert.equal(bytesOf(await atPage).toString(), "after pings");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("RFC 6455 §4.2.2: handleProtocols picks from Chromium's offer", {
      timeout: 30_000,
    }, async () => {
      const conn = await open(deflate, ["chat.v1", "chat.v2"]);
      try {
        assert.equal(conn.request.headers["sec-websocket-protocol"], "chat.v1, chat.v2");
        assert.equal(conn.server.protocol, "chat.v2");
        assert.equal(conn.browser.protocol, "chat.v2");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });
  });
}

describe("Chromium → socketeer server: close codes and reasons", () => {
  test("RFC 6455 §7.4: 1000, 1001, 3000, 4999 with reasons, server closing", {
    timeout: 60_000,
  }, async () => {
    for (const code of [1000, 1001, 3000, 4999]) {
      const conn = await open(false);
      try {
        const reason = `reason for ${code} ✓`;
        const atServer = waitEvent<[number, Buffer]>(conn.server, "close", 15_000);
        conn.server.close(code, reason);
        const closed = await conn.next();
        assert.deepEqual(
          closed,
          { type: "close", code, reason, wasClean: true },
          `the page sees ${code}`,
        );
        const [serverCode, serverReason] = await atServer;
        assert.equal(serverCode, code, `we see Chromium's echo of ${code}`);
        // RFC 6455 §5.5.1 only says endpoints "typically" echo the code; the reason is optional.
        assert.ok(
          ["", reason].includes(serverReason.toString()),
          `the echo's reason is empty or ours, got ${JSON.stringify(serverReason.toString())}`,
        );
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    }
  });

  // A page may only close with 1000 or 3000–4999 (1001 "going away" is the browser's own).
  test("RFC 6455 §7.4: 1000, 3000, 4999 with reasons, the page closing", {
    timeout: 60_000,
  }, async () => {
    for (const code of [1000, 3000, 4999]) {
      const conn = await open(false);
      try {
        const reason = `reason for ${code} ✓`;
        const atServer = waitEvent<[number, Buffer]>(conn.server, "close", 15_000);
        await harness(conn.page, "close", conn.id, code, reason);
        const [serverCode, serverReason] = await atServer;
        assert.equal(serverCode, code, `we see ${code}`);
        assert.equal(serverReason.toString(), reason, `we see the reason of ${code}`);
        const closed = await conn.next();
        assert.deepEqual(
          closed,
          { type: "close", code, reason, wasClean: true },
          `the page sees ${code} echoed`,
        );
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    }
  });

  test("RFC 6455 §7.1.5: the page's close() without a code is 1005 on both sides", {
    timeout: 30_000,
  }, async () => {
    const conn = await open(false);
    try {
      const atServer = waitEvent<[number, Buffer]>(conn.server, "close", 15_000);
      await harness(conn.page, "close", conn.id, null, null);
      assert.equal((await atServer)[0], 1005);
      const closed = await conn.next();
      assert.equal(closed.type, "close");
      assert.equal(closed.type === "close" ? closed.code : 0, 1005);
      assertNoErrors(conn);
    } finally {
      await conn.close();
    }
  });

  test("navigating away closes with 1001 (going away), seen by our server", {
    timeout: 30_000,
  }, async () => {
    const conn = await open(false);
    try {
      const atServer = waitEvent<[number, Buffer]>(conn.server, "close", 15_000);
      await conn.page.goto("about:blank");
      assert.equal((await atServer)[0], 1001, "Chromium says 1001 when the page goes away");
      assertNoErrors(conn);
    } finally {
      await conn.close();
    }
  });
});
