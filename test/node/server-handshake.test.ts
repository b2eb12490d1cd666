/**
 * WebSocketServer: every way an opening handshake is refused (RFC 6455 §4.2.1, §4.2.2, §4.4),
 * checked over raw TCP so the exact bytes are visible: one short response, `Connection: close`,
 * the socket ended by the server, and never a 101.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as http from "node:http";
import * as net from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { WebSocketServer } from "../../src/node/server.js";
import {
  closeHttp,
  listenHttp,
  portOf,
  type RawResponse,
  rawRequest,
  runCleanups,
  upgradeRequest,
} from "./server-helpers.js";

afterEach(runCleanups);

/** The shape every refusal shares: status, plain-text body equal to Content-Length, closed. */
function assertRefused(response: RawResponse, status: number, body?: string): void {
  assert.equal(response.status, status, response.raw);
  assert.ok(!/^HTTP\/1\.1 101/m.test(response.raw), "no 101 may follow a refusal");
  assert.equal(response.headers.connection?.toLowerCase(), "close");
  assert.match(response.headers["content-type"] ?? "", /^text\/plain/);
  assert.equal(Number(response.headers["content-length"]), Buffer.byteLength(response.body));
  if (body !== undefined) assert.equal(response.body, body);
  assert.ok(response.serverClosed, "the server ends the connection after refusing");
  assert.equal(response.headers["sec-websocket-accept"], undefined);
}

describe("WebSocketServer handshake refusals (port mode)", { timeout: 30_000 }, () => {
  let wss: WebSocketServer;
  let port: number;
  before(async () => {
    wss = new WebSocketServer({ port: 0, host: "127.0.0.1", path: "/ws" });
    await once(wss, "listening");
    port = portOf(wss.address());
    wss.on("connection", () => assert.fail("no handshake in this suite may succeed"));
  });
  after(async () => {
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  test("RFC 6455 §4.2.1 item 1: a non-GET upgrade gets 405 with Allow: GET", async () => {
    const response = await rawRequest(port, upgradeRequest("/ws", {}, "POST"));
    assertRefused(response, 405, "Invalid HTTP method");
    assert.equal(response.headers.allow, "GET");
  });

  test("RFC 6455 §4.2.1 item 1: an HTTP/1.0 upgrade gets 400", async () => {
    const response = await rawRequest(port, upgradeRequest("/ws", {}, "GET", "HTTP/1.0"));
    assertRefused(response, 400, "Invalid HTTP version");
  });

  test("RFC 6455 §4.2.1 item 3: Upgrade other than websocket gets 400", async () => {
    for (const value of ["h2c", "websocketx", "web socket"]) {
      const response = await rawRequest(port, upgradeRequest("/ws", { Upgrade: value }));
      assertRefused(response, 400, "Invalid Upgrade header");
    }
  });

  test("RFC 6455 §4.2.1 item 3: Upgrade is compared case-insensitively", async () => {
    // Accepted up to the key check, which we break on purpose to keep this a refusal suite.
    const response = await rawRequest(
      port,
      upgradeRequest("/ws", { Upgrade: "WebSocket", "Sec-WebSocket-Key": "x" }),
    );
    assertRefused(response, 400, "Missing or invalid Sec-WebSocket-Key header");
  });

  test("RFC 6455 §4.2.1 item 5: missing or malformed Sec-WebSocket-Key gets 400", async () => {
    const keys: Array<string | null> = [
      null,
      "",
      "short==",
      "dGhlIHNhbXBsZSBub25jZQ", // no padding
      "dGhlIHNhbXBsZSBub25jZQ=x",
      "dGhlIHNhbXBsZSBub25j*Q==",
      "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
    ];
    for (const key of keys) {
      const response = await rawRequest(port, upgradeRequest("/ws", { "Sec-WebSocket-Key": key }));
      assertRefused(response, 400, "Missing or invalid Sec-WebSocket-Key header");
    }
  });

  test("RFC 6455 §4.2.1 item 5: two Sec-WebSocket-Key headers get 400", async () => {
    const request = upgradeRequest("/ws").replace(
      "\r\n\r\n",
      "\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n",
    );
    assertRefused(await rawRequest(port, request), 400);
  });

  test("RFC 6455 §4.4: an unsupported Sec-WebSocket-Version gets 426 listing 13, 8", async () => {
    for (const version of [null, "12", "7", "14", "13, 8", " 13x", "0xd"]) {
      const response = await rawRequest(
        port,
        upgradeRequest("/ws", { "Sec-WebSocket-Version": version }),
      );
      assertRefused(response, 426);
      assert.equal(response.statusLine, "HTTP/1.1 426 Upgrade Required");
      assert.equal(response.headers["sec-websocket-version"], "13, 8");
    }
  });

  test("RFC 6455 §4.2.1 item 8: a malformed Sec-WebSocket-Protocol gets 400", async () => {
    for (const value of ["a,,b", "a b", "chat, chat", ",", 'x"y']) {
      const response = await rawRequest(
        port,
        upgradeRequest("/ws", { "Sec-WebSocket-Protocol": value }),
      );
      assertRefused(response, 400, "Invalid Sec-WebSocket-Protocol header");
    }
  });

  test("RFC 6455 §4.2.1: a path the server does not serve gets 400", async () => {
    for (const path of ["/", "/ws/", "/wss", "/other?x=/ws"]) {
      const response = await rawRequest(port, upgradeRequest(path));
      assertRefused(response, 400);
    }
  });

  test("plain HTTP requests get 426 Upgrade Required naming websocket", async () => {
    const response = await rawRequest(
      port,
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert.equal(response.status, 426);
    assert.equal(response.body, "Upgrade Required");
    assert.equal(response.headers.upgrade, "websocket");
    assert.equal(Number(response.headers["content-length"]), response.body.length);
  });
});

describe("WebSocketServer: extension header (RFC 6455 §9.1, RFC 7692)", { timeout: 20_000 }, () => {
  test("RFC 6455 §9.1: malformed Sec-WebSocket-Extensions gets 400 when deflate is enabled", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: true });
    await once(wss, "listening");
    try {
      for (const value of ["permessage-deflate;", "permessage-deflate; a=", ",", 'x; y="a b"']) {
        const response = await rawRequest(
          portOf(wss.address()),
          upgradeRequest("/", { "Sec-WebSocket-Extensions": value }),
        );
        assertRefused(response, 400, "Invalid Sec-WebSocket-Extensions header");
      }
    } finally {
      wss.close();
    }
  });
});

describe("WebSocketServer verifyClient", { timeout: 20_000 }, () => {
  test("sync verifyClient returning false gets 401", async () => {
    let seen: { origin: string | undefined; secure: boolean; url: string | undefined } | null =
      null;
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (info) => {
        seen = { origin: info.origin, secure: info.secure, url: info.req.url };
        return false;
      },
    });
    await once(wss, "listening");
    try {
      const response = await rawRequest(
        portOf(wss.address()),
        upgradeRequest("/p?q=1", { Origin: "https://example.test" }),
      );
      assertRefused(response, 401, "Unauthorized");
      assert.deepEqual(seen, { origin: "https://example.test", secure: false, url: "/p?q=1" });
    } finally {
      wss.close();
    }
  });

  test("version 8 clients have their origin read from Sec-WebSocket-Origin", async () => {
    const origins: Array<string | undefined> = [];
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (info) => {
        origins.push(info.origin);
        return false;
      },
    });
    await once(wss, "listening");
    try {
      await rawRequest(
        portOf(wss.address()),
        upgradeRequest("/", { "Sec-WebSocket-Version": "8", "Sec-WebSocket-Origin": "http://a" }),
      );
      await rawRequest(portOf(wss.address()), upgradeRequest("/"));
      assert.deepEqual(origins, ["http://a", undefined]);
    } finally {
      wss.close();
    }
  });

  test("async verifyClient rejects with its own code, message and headers", async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (_info, done) => {
        setTimeout(
          () => done(false, 403, "No entry", { "X-Reason": "banned", "Retry-After": 60 }),
          10,
        );
      },
    });
    await once(wss, "listening");
    try {
      const response = await rawRequest(portOf(wss.address()), upgradeRequest("/"));
      assertRefused(response, 403, "No entry");
      assert.equal(response.statusLine, "HTTP/1.1 403 Forbidden");
      assert.equal(response.headers["x-reason"], "banned");
      assert.equal(response.headers["retry-after"], "60");
    } finally {
      wss.close();
    }
  });

  test("async verifyClient rejecting without a code gets 401", async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (_info, done) => done(false),
    });
    await once(wss, "listening");
    try {
      assertRefused(await rawRequest(portOf(wss.address()), upgradeRequest("/")), 401);
    } finally {
      wss.close();
    }
  });

  test("verifyClient may redirect (3xx with Location)", async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (_info, done) => done(false, 302, "", { Location: "/login" }),
    });
    await once(wss, "listening");
    try {
      const response = await rawRequest(portOf(wss.address()), upgradeRequest("/"));
      assert.equal(response.status, 302);
      assert.equal(response.headers.location, "/login");
      assert.ok(response.serverClosed);
    } finally {
      wss.close();
    }
  });

  test("a verifyClient 'rejection' with a 1xx/2xx code or bad headers gets 500, never a 101", async () => {
    const errors: Error[] = [];
    const answers: Array<[number, Record<string, string>]> = [
      [101, {}],
      [200, {}],
      [403, { "X-Bad": "a\r\nSet-Cookie: injected=1" }],
    ];
    let next = 0;
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (_info, done) => {
        const [code, headers] = answers[next++] ?? [401, {}];
        done(false, code, undefined, headers);
      },
    });
    wss.on("error", (error) => errors.push(error));
    await once(wss, "listening");
    try {
      for (let i = 0; i < answers.length; i++) {
        const response = await rawRequest(portOf(wss.address()), upgradeRequest("/"));
        assertRefused(response, 500);
        assert.ok(!response.raw.includes("injected"), "no header injection");
      }
      assert.equal(errors.length, answers.length);
    } finally {
      wss.close();
    }
  });

  test("a throwing verifyClient gets 500 and the error is reported on the server", async () => {
    const errors: Error[] = [];
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: () => {
        throw new Error("hook bug");
      },
    });
    wss.on("error", (error) => errors.push(error));
    await once(wss, "listening");
    try {
      assertRefused(await rawRequest(portOf(wss.address()), upgradeRequest("/")), 500);
      assert.deepEqual(
        errors.map((e) => e.message),
        ["hook bug"],
      );
    } finally {
      wss.close();
    }
  });

  test("calling the async verifyClient callback twice answers once", async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (_info, done) => {
        done(false, 403);
        done(false, 401);
        done(true);
      },
    });
    wss.on("connection", () => assert.fail("must not connect"));
    await once(wss, "listening");
    try {
      const response = await rawRequest(portOf(wss.address()), upgradeRequest("/"));
      assertRefused(response, 403);
      assert.equal(response.raw.match(/HTTP\/1\.1/g)?.length, 1);
    } finally {
      wss.close();
    }
  });

  test("a client that resets during async verifyClient neither crashes nor gets a 101", async () => {
    let release: ((ok: boolean) => void) | null = null;
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (info, done) => {
        // Also feed the socket an error directly, as a reset mid-handshake would.
        info.req.socket.emit(
          "error",
          Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
        );
        release = done;
      },
    });
    wss.on("connection", () => assert.fail("must not connect"));
    await once(wss, "listening");
    try {
      const client = net.connect(portOf(wss.address()), "127.0.0.1");
      await once(client, "connect");
      client.write(upgradeRequest("/"));
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (release !== null) {
            clearInterval(poll);
            resolve();
          }
        }, 5);
      });
      client.resetAndDestroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      (release as unknown as (ok: boolean) => void)(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(wss.clients.size, 0);
    } finally {
      wss.close();
    }
  });
});

describe("WebSocketServer wsClientError", { timeout: 20_000 }, () => {
  test("with a listener, header failures are handed over and the listener owns the reply", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const seen: string[] = [];
    wss.on("wsClientError", (error, socket, request) => {
      seen.push(`${error.message} ${request.method}`);
      socket.end("HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    });
    await once(wss, "listening");
    try {
      const port = portOf(wss.address());
      const bad = await rawRequest(port, upgradeRequest("/", { "Sec-WebSocket-Key": "nope" }));
      assert.equal(bad.status, 418);
      assert.equal(bad.raw.match(/HTTP\/1\.1/g)?.length, 1, "exactly one response");
      const version = await rawRequest(port, upgradeRequest("/", { "Sec-WebSocket-Version": "9" }));
      assert.equal(version.status, 418);
      assert.deepEqual(seen, [
        "Missing or invalid Sec-WebSocket-Key header GET",
        "Missing or invalid Sec-WebSocket-Version header GET",
      ]);
    } finally {
      wss.close();
    }
  });

  test("a wsClientError listener is not given path or verifyClient refusals", async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      path: "/a",
      verifyClient: () => false,
    });
    wss.on("wsClientError", () => assert.fail("not a header-validation failure"));
    await once(wss, "listening");
    try {
      const port = portOf(wss.address());
      assertRefused(await rawRequest(port, upgradeRequest("/b")), 400);
      assertRefused(await rawRequest(port, upgradeRequest("/a")), 401);
    } finally {
      wss.close();
    }
  });
});

describe("WebSocketServer header robustness", { timeout: 20_000 }, () => {
  test("CVE-2024-37890: headers dropped by maxHeadersCount = 1 get 400, not a crash", async () => {
    const { server, port } = await listenHttp();
    server.maxHeadersCount = 1;
    const wss = new WebSocketServer({ server });
    try {
      const response = await rawRequest(
        port,
        upgradeRequest("/", { "Sec-WebSocket-Protocol": "chat", "Sec-WebSocket-Extensions": "x" }),
      );
      assertRefused(response, 400, "Invalid Upgrade header");
      // The server still works afterwards.
      const again = await rawRequest(port, upgradeRequest("/"));
      assertRefused(again, 400);
    } finally {
      wss.close();
      await closeHttp(server);
    }
  });

  test("RFC 6455 §4.2.1 item 4: handleUpgrade refuses a request whose Connection lacks upgrade", async () => {
    const wss = new WebSocketServer({ noServer: true });
    // Node only fires 'upgrade' when Connection carries the token, so hand a plain request over.
    const { server, port } = await listenHttp((req: http.IncomingMessage) => {
      wss.handleUpgrade(req, req.socket, Buffer.alloc(0), () => assert.fail("must not upgrade"));
    });
    try {
      const response = await rawRequest(port, upgradeRequest("/", { Connection: "keep-alive" }));
      assertRefused(response, 400, "Invalid Connection header");
      const missingUpgrade = await rawRequest(
        port,
        upgradeRequest("/", { Connection: "Upgrade", Upgrade: null }),
      );
      assertRefused(missingUpgrade, 400, "Invalid Upgrade header");
    } finally {
      wss.close();
      await closeHttp(server);
    }
  });

  test("Connection and Upgrade are token lists (RFC 7230 §6.1, §6.7)", async () => {
    const wss = new WebSocketServer({ noServer: true, verifyClient: () => false });
    const { server, port } = await listenHttp();
    server.on("upgrade", (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, () => assert.fail("verifyClient refuses"));
    });
    try {
      // Past the header checks means verifyClient ran: 401.
      const response = await rawRequest(
        port,
        upgradeRequest("/", { Connection: "keep-alive, Upgrade", Upgrade: "websocket, h2c" }),
      );
      assertRefused(response, 401);
    } finally {
      wss.close();
      await closeHttp(server);
    }
  });
});
