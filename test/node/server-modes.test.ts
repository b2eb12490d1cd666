/**
 * WebSocketServer modes (port / server / noServer), routing by path on a shared http server,
 * close(), address() and client tracking. Successful handshakes use the real `ws` client, which
 * doubles as an interop check.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { afterEach, describe, test } from "node:test";
import { WebSocket as WsClient } from "ws";
import { WebSocketServer } from "../../src/node/server.js";
import { WebSocket } from "../../src/node/websocket.js";
import {
  closeHttp,
  forceClose,
  listenHttp,
  portOf,
  rawRequest,
  runCleanups,
  SAMPLE_ACCEPT,
  track,
  upgradeRequest,
} from "./server-helpers.js";

afterEach(runCleanups);

/** Opens a ws client and waits for `open`. */
async function connect(url: string, protocols?: string[]): Promise<WsClient> {
  const client = track(new WsClient(url, protocols), (c) => c.terminate());
  await once(client, "open");
  return client;
}

/** Sends `text` and waits for the next message, as text. */
async function roundTrip(client: WsClient, text: string): Promise<string> {
  const reply = once(client, "message");
  client.send(text);
  const [data] = (await reply) as [Buffer];
  return data.toString();
}

/** Closes a ws client and waits until it is closed. */
async function closeClient(client: WsClient): Promise<void> {
  if (client.readyState === WsClient.CLOSED) return;
  const closed = once(client, "close");
  client.close();
  await closed;
}

/** Echoes every message back on every connection of `wss`. */
function echo(wss: WebSocketServer): void {
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
}

/** A WebSocketServer force-closed after the test whatever happens. */
function newServer(options: ConstructorParameters<typeof WebSocketServer>[0]): WebSocketServer {
  return track(new WebSocketServer(options), forceClose);
}

function closeServer(wss: WebSocketServer): Promise<Error | undefined> {
  return new Promise((resolve) => wss.close((error) => resolve(error)));
}

describe("WebSocketServer constructor", () => {
  test("throws TypeError unless exactly one of port, server, noServer is given", () => {
    const server = http.createServer();
    const message =
      'One and only one of the "port", "server", or "noServer" options must be specified';
    const bad = [
      undefined,
      {},
      { noServer: false },
      { port: 0, server },
      { port: 0, noServer: true },
      { server, noServer: true },
      { port: 0, server, noServer: true },
    ];
    for (const options of bad) {
      assert.throws(() => new WebSocketServer(options), { name: "TypeError", message });
    }
    assert.equal(server.listenerCount("upgrade"), 0, "a refused construction attaches nothing");
  });

  test("options are exposed with ws's defaults filled in", () => {
    const wss = new WebSocketServer({ noServer: true });
    assert.equal(wss.options.maxPayload, 104857600);
    assert.equal(wss.options.clientTracking, true);
    assert.equal(wss.options.perMessageDeflate, false);
    assert.equal(wss.options.autoPong, true);
    assert.equal(wss.options.allowSynchronousEvents, true);
    assert.equal(wss.options.closeTimeout, 30000);
    assert.equal(wss.options.skipUTF8Validation, false);
    wss.close();
  });
});

describe("WebSocketServer port mode", { timeout: 20_000 }, () => {
  test("listening event and constructor callback fire once bound; address() reports it", async () => {
    let called = 0;
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" }, () => {
      called++;
    });
    await once(wss, "listening");
    assert.equal(called, 1);
    const address = wss.address() as AddressInfo;
    assert.equal(address.address, "127.0.0.1");
    assert.ok(address.port > 0);
    await closeServer(wss);
    assert.equal(wss.address(), null);
  });

  test("errors of the http server are emitted on the WebSocketServer", async () => {
    const first = track(new WebSocketServer({ port: 0, host: "127.0.0.1" }), forceClose);
    await once(first, "listening");
    const second = new WebSocketServer({ port: portOf(first.address()), host: "127.0.0.1" });
    const [error] = (await once(second, "error")) as [NodeJS.ErrnoException];
    assert.equal(error.code, "EADDRINUSE");
    await closeServer(first);
    await closeServer(second);
  });

  test("a successful handshake from the ws client: connect, echo, close", async () => {
    const wss = track(new WebSocketServer({ port: 0, host: "127.0.0.1" }), forceClose);
    echo(wss);
    await once(wss, "listening");
    const client = await connect(`ws://127.0.0.1:${portOf(wss.address())}/any/path?x=1`);
    assert.equal(await roundTrip(client, "hello"), "hello");
    assert.equal(wss.clients.size, 1);
    await closeClient(client);
    await closeServer(wss);
  });

  test("headersTimeout closes a client that never finishes its request head (slowloris)", async () => {
    const wss = newServer({
      port: 0,
      host: "127.0.0.1",
      headersTimeout: 300,
      requestTimeout: 600,
    });
    await once(wss, "listening");
    const socket = net.connect(portOf(wss.address()), "127.0.0.1");
    await once(socket, "connect");
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n"); // and nothing more
    socket.resume();
    socket.on("error", () => {});
    // Node checks the timeouts every couple of seconds: allow a generous margin.
    const closed = await Promise.race([
      once(socket, "close").then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8000)),
    ]);
    socket.destroy();
    assert.ok(closed, "the server dropped the stalled request");
    await closeServer(wss);
  });

  test("a requestTimeout below the default headersTimeout lowers it instead of throwing", async () => {
    const wss = newServer({ port: 0, host: "127.0.0.1", requestTimeout: 5000 });
    await once(wss, "listening");
    await closeServer(wss);
    assert.throws(
      () => new WebSocketServer({ port: 0, headersTimeout: 9000, requestTimeout: 5000 }),
      RangeError,
    );
  });

  test("an open WebSocket outlives requestTimeout (the timeouts stop at the upgrade)", async () => {
    const wss = newServer({
      port: 0,
      host: "127.0.0.1",
      headersTimeout: 200,
      requestTimeout: 300,
    });
    echo(wss);
    await once(wss, "listening");
    const client = await connect(`ws://127.0.0.1:${portOf(wss.address())}`);
    await new Promise((resolve) => setTimeout(resolve, 2600));
    assert.equal(client.readyState, WsClient.OPEN);
    assert.equal(await roundTrip(client, "still here"), "still here");
    await closeClient(client);
    await closeServer(wss);
  });
});

describe("WebSocketServer server mode", { timeout: 20_000 }, () => {
  test("two servers split by path share one http server; other paths get 400", async () => {
    const { server, port } = await listenHttp((_req, res) => res.end("page"));
    const a = new WebSocketServer({ server, path: "/a" });
    const b = new WebSocketServer({ server, path: "/b" });
    a.on("connection", (ws) => ws.on("message", (d) => ws.send(`a:${String(d)}`)));
    b.on("connection", (ws) => ws.on("message", (d) => ws.send(`b:${String(d)}`)));
    try {
      const ca = await connect(`ws://127.0.0.1:${port}/a`);
      const cb = await connect(`ws://127.0.0.1:${port}/b?token=1`);
      assert.equal(await roundTrip(ca, "1"), "a:1");
      assert.equal(await roundTrip(cb, "2"), "b:2");
      assert.equal(a.clients.size, 1);
      assert.equal(b.clients.size, 1);

      const other = await rawRequest(port, upgradeRequest("/c"));
      assert.equal(other.status, 400);
      assert.equal(other.raw.match(/HTTP\/1\.1/g)?.length, 1, "answered once, not by both");
      assert.ok(other.serverClosed);

      // Pages still work on the same port.
      const page = await rawRequest(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.equal(page.body, "page");

      await closeClient(ca);
      await closeClient(cb);
    } finally {
      await closeServer(a);
      await closeServer(b);
      await closeHttp(server);
    }
  });

  test("close() detaches from an external server without closing it", async () => {
    const { server, port } = await listenHttp((_req, res) => res.end("page"));
    const baseline = ["upgrade", "listening", "error"].map((e) => server.listenerCount(e));
    const wss = new WebSocketServer({ server, path: "/ws" });
    const other = new WebSocketServer({ server, path: "/other" });
    let listening = 0;
    wss.on("listening", () => listening++);
    try {
      assert.equal(server.listenerCount("upgrade"), 1, "one routing listener for both");
      await closeServer(wss);
      assert.equal(server.listening, true);
      assert.equal(server.listenerCount("upgrade"), 1, "still routing for the other server");
      assert.equal(wss.address(), null);
      // Requests for the closed server's path are now nobody's: 400.
      assert.equal((await rawRequest(port, upgradeRequest("/ws"))).status, 400);
      await closeServer(other);
      assert.deepEqual(
        ["upgrade", "listening", "error"].map((e) => server.listenerCount(e)),
        baseline,
        "every listener we added is gone",
      );
      const page = await rawRequest(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.equal(page.body, "page");
      assert.equal(listening, 0, "the server was already listening when we attached");
    } finally {
      await closeHttp(server);
    }
  });

  test("listening and error of an external server are forwarded", async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const listening = once(wss, "listening");
    server.listen(0, "127.0.0.1");
    await listening;
    assert.ok(portOf(wss.address()) > 0);
    const error = once(wss, "error");
    server.emit("error", new Error("boom"));
    assert.equal(((await error)[0] as Error).message, "boom");
    await closeServer(wss);
    await closeHttp(server);
  });

  test("an unmatched path is left to another upgrade listener on the http server", async () => {
    const { server, port } = await listenHttp();
    const wss = new WebSocketServer({ server, path: "/ws" });
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket) => {
      if (req.url === "/proxy")
        socket.end("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n");
    });
    try {
      const response = await rawRequest(port, upgradeRequest("/proxy"));
      assert.equal(response.status, 418);
      assert.equal(response.raw.match(/HTTP\/1\.1/g)?.length, 1);
      const ours = await connect(`ws://127.0.0.1:${port}/ws`);
      await closeClient(ours);
    } finally {
      await closeServer(wss);
      await closeHttp(server);
    }
  });

  test("a lone server without path takes every upgrade; with path, others get 400", async () => {
    const { server, port } = await listenHttp();
    const wss = new WebSocketServer({ server, path: "/only" });
    try {
      const response = await rawRequest(port, upgradeRequest("/elsewhere"));
      assert.equal(response.status, 400);
      assert.ok(response.serverClosed);
    } finally {
      await closeServer(wss);
      await closeHttp(server);
    }
  });
});

describe("WebSocketServer noServer mode", { timeout: 20_000 }, () => {
  test("an upgrade listener authenticates, then hands over to handleUpgrade", async () => {
    const wss = new WebSocketServer({ noServer: true, path: "/ws" });
    echo(wss);
    const { server, port } = await listenHttp();
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (!wss.shouldHandle(req)) {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      if (req.headers.authorization !== "Bearer good") {
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws, request) => {
        assert.equal(request, req);
        wss.emit("connection", ws, request);
      });
    });
    try {
      const denied = await rawRequest(port, upgradeRequest("/ws"));
      assert.equal(denied.status, 401);
      const missing = await rawRequest(port, upgradeRequest("/nope"));
      assert.equal(missing.status, 404);
      const client = new WsClient(`ws://127.0.0.1:${port}/ws?room=1`, {
        headers: { Authorization: "Bearer good" },
      });
      await once(client, "open");
      assert.equal(await roundTrip(client, "hi"), "hi");
      await closeClient(client);
    } finally {
      await closeServer(wss);
      await closeHttp(server);
    }
  });

  test("address() throws in noServer mode", () => {
    const wss = new WebSocketServer({ noServer: true });
    assert.throws(() => wss.address(), /noServer/);
    wss.close();
  });

  test("shouldHandle compares the pathname only", () => {
    const wss = new WebSocketServer({ noServer: true, path: "/ws" });
    const req = (url: string) => ({ url }) as http.IncomingMessage;
    assert.equal(wss.shouldHandle(req("/ws")), true);
    assert.equal(wss.shouldHandle(req("/ws?a=b")), true);
    assert.equal(wss.shouldHandle(req("/ws/")), false);
    assert.equal(wss.shouldHandle(req("/w")), false);
    const any = new WebSocketServer({ noServer: true });
    assert.equal(any.shouldHandle(req("/whatever")), true);
    wss.close();
    any.close();
  });

  test("handleUpgrade twice with one socket throws (ws semantics)", async () => {
    const wss = new WebSocketServer({ noServer: true });
    const { server, port } = await listenHttp();
    const thrown: unknown[] = [];
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, () => {});
      try {
        wss.handleUpgrade(req, socket, head, () => {});
      } catch (error) {
        thrown.push(error);
      }
      socket.destroy();
    });
    try {
      await rawRequest(port, upgradeRequest("/"), 500);
      assert.equal(thrown.length, 1);
      assert.match((thrown[0] as Error).message, /more than once/);
    } finally {
      await closeServer(wss);
      await closeHttp(server);
    }
  });
});

describe("WebSocketServer close()", { timeout: 20_000 }, () => {
  test("after close(), handleUpgrade answers 503 and open clients keep working", async () => {
    const wss = new WebSocketServer({ noServer: true });
    echo(wss);
    const { server, port } = await listenHttp();
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    });
    try {
      const client = await connect(`ws://127.0.0.1:${port}`);
      let closeEmitted = false;
      wss.on("close", () => {
        closeEmitted = true;
      });
      wss.close();
      const refused = await rawRequest(port, upgradeRequest("/"));
      assert.equal(refused.status, 503);
      assert.equal(refused.body, "Service Unavailable");
      assert.ok(refused.serverClosed);
      assert.ok(!refused.raw.includes("101"));
      // The existing client is untouched (ws 8 does not close clients on close()).
      assert.equal(await roundTrip(client, "after close"), "after close");
      assert.equal(closeEmitted, false, "close waits for tracked clients");
      const serverClosed = once(wss, "close");
      await closeClient(client);
      await serverClosed;
      assert.equal(wss.clients.size, 0);
    } finally {
      await closeHttp(server);
    }
  });

  test("a handshake whose async verifyClient finishes after close() gets 503", async () => {
    let release: ((ok: boolean) => void) | null = null;
    let verified: () => void = () => {};
    const verifying = new Promise<void>((resolve) => {
      verified = resolve;
    });
    const wss = newServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (_info, done) => {
        release = done;
        verified();
      },
    });
    wss.on("connection", () => assert.fail("must not connect"));
    await once(wss, "listening");
    const pending = rawRequest(portOf(wss.address()), upgradeRequest("/"));
    await verifying;
    const closed = closeServer(wss);
    (release as unknown as (ok: boolean) => void)(true);
    const response = await pending;
    assert.equal(response.status, 503);
    assert.ok(!response.raw.includes(SAMPLE_ACCEPT));
    assert.equal(await closed, undefined);
  });

  test("port mode: close() stops listening but leaves open clients; close fires when they go", async () => {
    const wss = track(new WebSocketServer({ port: 0, host: "127.0.0.1" }), forceClose);
    echo(wss);
    await once(wss, "listening");
    const port = portOf(wss.address());
    const client = await connect(`ws://127.0.0.1:${port}`);
    let closeEmitted = false;
    const closed = new Promise<void>((resolve) =>
      wss.close(() => {
        closeEmitted = true;
        resolve();
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => resolve(s));
        s.on("error", reject);
      }),
      { code: "ECONNREFUSED" },
    );
    assert.equal(await roundTrip(client, "x"), "x");
    assert.equal(closeEmitted, false);
    await closeClient(client);
    await closed;
  });

  test("close() on a closed server calls back with an error; close() twice is fine", async () => {
    const wss = new WebSocketServer({ noServer: true });
    const first = closeServer(wss);
    const second = closeServer(wss);
    assert.equal(await first, undefined);
    assert.equal(await second, undefined);
    const third = await closeServer(wss);
    assert.match(String(third?.message), /not running/);
  });
});

describe("WebSocketServer client tracking and socket class", { timeout: 20_000 }, () => {
  test("clients holds open sockets and drops them on close", async () => {
    const wss = track(new WebSocketServer({ port: 0, host: "127.0.0.1" }), forceClose);
    await once(wss, "listening");
    const port = portOf(wss.address());
    const connected = once(wss, "connection");
    const c1 = await connect(`ws://127.0.0.1:${port}`);
    const [ws1] = (await connected) as [WebSocket];
    const c2 = await connect(`ws://127.0.0.1:${port}`);
    assert.equal(wss.clients.size, 2);
    assert.ok(wss.clients.has(ws1));
    const gone = once(ws1, "close");
    await closeClient(c1);
    await gone;
    assert.equal(wss.clients.size, 1);
    assert.ok(!wss.clients.has(ws1));
    await closeClient(c2);
    await closeServer(wss);
  });

  test("clientTracking: false leaves clients empty and close() does not wait", async () => {
    const wss = new WebSocketServer({ noServer: true, clientTracking: false });
    const { server, port } = await listenHttp();
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    });
    try {
      const connected = once(wss, "connection");
      const client = await connect(`ws://127.0.0.1:${port}`);
      await connected;
      assert.equal(wss.clients.size, 0);
      await closeServer(wss);
      assert.equal(client.readyState, WsClient.OPEN);
      await closeClient(client);
    } finally {
      await closeHttp(server);
    }
  });

  test("a custom WebSocket subclass is instantiated and given the server's settings", async () => {
    const setups: unknown[] = [];
    class Tagged extends WebSocket {
      readonly tag = "custom";
      override _setSocket(...args: Parameters<WebSocket["_setSocket"]>): void {
        const [, , protocol, deflate, settings] = args;
        setups.push({
          protocol,
          perMessageDeflate: deflate,
          isServer: settings.isServer,
          maxPayload: settings.maxPayload,
          skipUTF8Validation: settings.skipUTF8Validation,
          allowSynchronousEvents: settings.allowSynchronousEvents,
          autoPong: settings.autoPong,
          closeTimeout: settings.closeTimeout,
          heartbeat: settings.heartbeat,
          maxBufferedAmount: settings.maxBufferedAmount,
          maxBackpressure: settings.maxBackpressure,
          topics: settings.topics,
        });
        super._setSocket(...args);
      }
    }
    const wss = newServer({
      port: 0,
      host: "127.0.0.1",
      WebSocket: Tagged,
      maxPayload: 1234,
      closeTimeout: 777,
      autoPong: false,
      skipUTF8Validation: true,
      allowSynchronousEvents: false,
      maxBufferedAmount: 4096,
      maxBackpressure: 2048,
    });
    await once(wss, "listening");
    const connected = once(wss, "connection");
    const client = await connect(`ws://127.0.0.1:${portOf(wss.address())}`, ["p1", "p2"]);
    const [ws] = (await connected) as [Tagged];
    assert.ok(ws instanceof Tagged);
    assert.equal(ws.tag, "custom");
    assert.equal(ws.protocol, "p1");
    assert.ok(wss.clients.has(ws));
    assert.deepEqual(setups, [
      {
        isServer: true,
        protocol: "p1",
        perMessageDeflate: null,
        maxPayload: 1234,
        skipUTF8Validation: true,
        allowSynchronousEvents: false,
        autoPong: false,
        closeTimeout: 777,
        heartbeat: null,
        maxBufferedAmount: 4096,
        maxBackpressure: 2048,
        topics: null,
      },
    ]);
    await closeClient(client);
    await closeServer(wss);
  });
});
