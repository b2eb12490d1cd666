/**
 * WebSocketServer successful handshakes (RFC 6455 §4.2.2): the 101 response, subprotocol and
 * extension negotiation, the `headers` hook, bytes that arrive with the handshake, limits and the
 * heartbeat. Clients are the real `ws` package (interop) or raw TCP where the bytes matter.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as http from "node:http";
import type * as net from "node:net";
import * as netModule from "node:net";
import { afterEach, describe, test } from "node:test";
import { WebSocket as WsClient } from "ws";
import { WebSocketServer } from "../../src/node/server.js";
import type { WebSocket } from "../../src/node/websocket.js";
import {
  closeHttp,
  forceClose,
  listenHttp,
  parseResponse,
  portOf,
  rawRequest,
  runCleanups,
  SAMPLE_ACCEPT,
  track,
  upgradeRequest,
} from "./server-helpers.js";

afterEach(runCleanups);

/** A ws client terminated after the test whatever happens. */
function trackClient(client: WsClient): WsClient {
  return track(client, (c) => c.terminate());
}

function closeServer(wss: WebSocketServer): Promise<Error | undefined> {
  return new Promise((resolve) => wss.close((error) => resolve(error)));
}

async function closeClient(client: WsClient): Promise<void> {
  if (client.readyState === WsClient.CLOSED) return;
  const closed = once(client, "close");
  client.close();
  await closed;
}

/** A server in port mode on 127.0.0.1:0, once listening. */
async function listening(
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = track(new WebSocketServer({ port: 0, host: "127.0.0.1", ...options }), forceClose);
  await once(wss, "listening");
  return { wss, port: portOf(wss.address()) };
}

/** A masked client frame (RFC 6455 §5.2, §5.3) with a payload under 126 bytes. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.length;
  key.copy(out, 2);
  for (let i = 0; i < payload.length; i++) {
    out[6 + i] = (payload[i] as number) ^ (key[i % 4] as number);
  }
  return out;
}

/**
 * Opens a raw TCP connection, sends `request` (plus `extra` in the same write) and resolves once
 * the response head has arrived, with the socket left open.
 */
async function rawUpgrade(
  port: number,
  request: string,
  extra: Buffer = Buffer.alloc(0),
): Promise<{ socket: net.Socket; head: ReturnType<typeof parseResponse>; rest: Buffer }> {
  const socket = track(netModule.connect(port, "127.0.0.1"), (s) => s.destroy());
  await once(socket, "connect");
  socket.write(Buffer.concat([Buffer.from(request, "latin1"), extra]));
  let received = Buffer.alloc(0);
  for (;;) {
    const [chunk] = (await once(socket, "data")) as [Buffer];
    received = Buffer.concat([received, chunk]);
    const end = received.indexOf("\r\n\r\n");
    if (end !== -1) {
      socket.pause();
      const head = parseResponse(received.subarray(0, end + 4).toString("latin1"), false);
      return { socket, head, rest: received.subarray(end + 4) };
    }
  }
}

describe("WebSocketServer: the 101 response (RFC 6455 §4.2.2)", { timeout: 20_000 }, () => {
  test("RFC 6455 §4.2.2 step 5: status line, Upgrade, Connection and Sec-WebSocket-Accept", async () => {
    const { wss, port } = await listening();
    const connected = once(wss, "connection");
    const { socket, head } = await rawUpgrade(port, upgradeRequest("/"));
    await connected;
    assert.equal(head.statusLine, "HTTP/1.1 101 Switching Protocols");
    assert.equal(head.headers.upgrade, "websocket");
    assert.equal(head.headers.connection, "Upgrade");
    assert.equal(head.headers["sec-websocket-accept"], SAMPLE_ACCEPT);
    assert.equal(head.headers["sec-websocket-protocol"], undefined);
    assert.equal(head.headers["sec-websocket-extensions"], undefined);
    socket.destroy();
    await closeServer(wss);
  });

  test("the 101 response goes out in one socket write, before the socket is handed over", async () => {
    const wss = new WebSocketServer({ noServer: true });
    const { server, port } = await listenHttp();
    const writes: string[] = [];
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const write = socket.write;
      socket.write = function (this: net.Socket, ...args: Parameters<net.Socket["write"]>) {
        writes.push(String(args[0]));
        return write.apply(this, args);
      } as net.Socket["write"];
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.write = write;
        wss.emit("connection", ws, req);
      });
    });
    const connected = once(wss, "connection");
    const client = trackClient(new WsClient(`ws://127.0.0.1:${port}`));
    await once(client, "open");
    await connected;
    assert.equal(writes.length, 1);
    assert.match(writes[0] ?? "", /^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\n$/);
    await closeClient(client);
    await closeServer(wss);
    await closeHttp(server);
  });

  test("headers listeners may change the response; the change reaches the client", async () => {
    const { wss, port } = await listening();
    const seenRequests: string[] = [];
    wss.on("headers", (headers, request) => {
      seenRequests.push(request.url ?? "");
      headers.push("Set-Cookie: session=abc");
      headers.push("X-Trace: 1");
    });
    const client = trackClient(new WsClient(`ws://127.0.0.1:${port}/h`));
    const upgraded = once(client, "upgrade");
    const opened = once(client, "open");
    const [response] = (await upgraded) as [http.IncomingMessage];
    await opened;
    assert.deepEqual(response.headers["set-cookie"], ["session=abc"]);
    assert.equal(response.headers["x-trace"], "1");
    assert.deepEqual(seenRequests, ["/h"]);
    await closeClient(client);
    await closeServer(wss);
  });

  test("bytes sent along with the handshake are delivered as messages", async () => {
    const { wss, port } = await listening();
    const message = new Promise<string>((resolve) => {
      wss.on("connection", (ws) => ws.on("message", (data) => resolve(String(data))));
    });
    const frame = maskedFrame(0x1, Buffer.from("early bird"));
    const { socket } = await rawUpgrade(port, upgradeRequest("/"), frame);
    assert.equal(await message, "early bird");
    socket.destroy();
    await closeServer(wss);
  });
});

describe("WebSocketServer subprotocols (RFC 6455 §4.2.2 step 5.4)", { timeout: 20_000 }, () => {
  test("without handleProtocols the client's first protocol is chosen", async () => {
    const { wss, port } = await listening();
    const client = trackClient(new WsClient(`ws://127.0.0.1:${port}`, ["first", "second"]));
    await once(client, "open");
    assert.equal(client.protocol, "first");
    await closeClient(client);
    await closeServer(wss);
  });

  test("handleProtocols gets the offered set and the request, and picks one", async () => {
    const calls: Array<[string[], string | undefined]> = [];
    const { wss, port } = await listening({
      handleProtocols: (protocols, request) => {
        calls.push([[...protocols], request.url]);
        return protocols.has("v2") ? "v2" : false;
      },
    });
    const serverSide = once(wss, "connection");
    const client = trackClient(new WsClient(`ws://127.0.0.1:${port}/p`, ["v1", "v2"]));
    await once(client, "open");
    const [ws] = (await serverSide) as [WebSocket];
    assert.equal(client.protocol, "v2");
    assert.equal(ws.protocol, "v2");
    assert.deepEqual(calls, [[["v1", "v2"], "/p"]]);
    await closeClient(client);
    await closeServer(wss);
  });

  test("handleProtocols returning false answers without Sec-WebSocket-Protocol", async () => {
    const { wss, port } = await listening({ handleProtocols: () => false });
    const { socket, head } = await rawUpgrade(
      port,
      upgradeRequest("/", { "Sec-WebSocket-Protocol": "a, b" }),
    );
    assert.equal(head.status, 101);
    assert.equal(head.headers["sec-websocket-protocol"], undefined);
    socket.destroy();
    await closeServer(wss);
  });

  test("handleProtocols is not called when the client offers none", async () => {
    let called = false;
    const { wss, port } = await listening({
      handleProtocols: () => {
        called = true;
        return "x";
      },
    });
    const { socket, head } = await rawUpgrade(port, upgradeRequest("/"));
    assert.equal(head.status, 101);
    assert.equal(head.headers["sec-websocket-protocol"], undefined);
    assert.equal(called, false);
    socket.destroy();
    await closeServer(wss);
  });

  test("RFC 6455 §4.2.2: a protocol the client did not offer fails the handshake with 500", async () => {
    const { wss, port } = await listening({ handleProtocols: () => "evil\r\nX-Injected: 1" });
    const errors: Error[] = [];
    wss.on("error", (error) => errors.push(error));
    wss.on("connection", () => assert.fail("must not connect"));
    const response = await rawRequest(
      port,
      upgradeRequest("/", { "Sec-WebSocket-Protocol": "chat" }),
    );
    assert.equal(response.status, 500);
    assert.ok(response.serverClosed);
    assert.ok(!response.raw.includes("101"));
    assert.ok(!response.raw.includes("X-Injected"));
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? "", /did not offer/);
    await closeServer(wss);
  });

  test("with no error listener a broken hook becomes a process warning, not a crash", async () => {
    const { wss, port } = await listening({
      handleProtocols: () => {
        throw new Error("protocol hook bug");
      },
    });
    const warning = once(process, "warning");
    const response = await rawRequest(
      port,
      upgradeRequest("/", { "Sec-WebSocket-Protocol": "chat" }),
    );
    assert.equal(response.status, 500);
    const [emitted] = (await warning) as [Error];
    assert.equal(emitted.message, "protocol hook bug");
    await closeServer(wss);
  });
});

describe("WebSocketServer permessage-deflate negotiation (RFC 7692)", { timeout: 20_000 }, () => {
  test("RFC 7692 §5: the ws client's offer is accepted and messages round-trip", async () => {
    const { wss, port } = await listening({ perMessageDeflate: { threshold: 0 } });
    wss.on("connection", (ws) => ws.on("message", (data) => ws.send(String(data))));
    const client = trackClient(new WsClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: true }));
    await once(client, "open");
    assert.equal(client.extensions, "permessage-deflate");
    const text = "compress me ".repeat(500);
    const reply = once(client, "message");
    client.send(text);
    assert.equal(String(((await reply) as [Buffer])[0]), text);
    await closeClient(client);
    await closeServer(wss);
  });

  test("RFC 7692 §5.1: an unacceptable offer is declined, not refused", async () => {
    const { wss, port } = await listening({ perMessageDeflate: true });
    const { socket, head } = await rawUpgrade(
      port,
      upgradeRequest("/", {
        "Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=7",
      }),
    );
    assert.equal(head.status, 101);
    assert.equal(head.headers["sec-websocket-extensions"], undefined);
    socket.destroy();
    await closeServer(wss);
  });

  test("RFC 6455 §9.1: unknown extensions are ignored", async () => {
    const { wss, port } = await listening({ perMessageDeflate: true });
    const { socket, head } = await rawUpgrade(
      port,
      upgradeRequest("/", { "Sec-WebSocket-Extensions": "x-unknown; a=1" }),
    );
    assert.equal(head.status, 101);
    assert.equal(head.headers["sec-websocket-extensions"], undefined);
    socket.destroy();
    await closeServer(wss);
  });

  test("with perMessageDeflate off (the default) offers are ignored, even malformed ones", async () => {
    const { wss, port } = await listening();
    const { socket, head } = await rawUpgrade(
      port,
      upgradeRequest("/", { "Sec-WebSocket-Extensions": "permessage-deflate;;" }),
    );
    assert.equal(head.status, 101);
    assert.equal(head.headers["sec-websocket-extensions"], undefined);
    socket.destroy();
    await closeServer(wss);
  });

  test("invalid perMessageDeflate options throw at construction", () => {
    assert.throws(
      () => new WebSocketServer({ noServer: true, perMessageDeflate: { serverMaxWindowBits: 99 } }),
    );
  });
});

describe("WebSocketServer limits and heartbeat", { timeout: 30_000 }, () => {
  test("RFC 6455 §7.4.1: a message over maxPayload closes the connection with 1009", async () => {
    const { wss, port } = await listening({ maxPayload: 1024 });
    const client = trackClient(new WsClient(`ws://127.0.0.1:${port}`));
    await once(client, "open");
    const closed = once(client, "close");
    client.send(Buffer.alloc(2048));
    const [code] = (await closed) as [number];
    assert.equal(code, 1009);
    await closeServer(wss);
  });

  test("heartbeat terminates a peer that stops answering pings, keeps one that answers", async () => {
    const { wss, port } = await listening({ heartbeat: { interval: 100, timeout: 200 } });
    // A raw client that completes the handshake and then never sends anything, pongs included.
    const firstConnection = once(wss, "connection");
    const { socket: silent } = await rawUpgrade(port, upgradeRequest("/"));
    const [silentOnServer] = (await firstConnection) as [WebSocket];
    const silentClosedOnServer = once(silentOnServer, "close");
    silent.resume();
    silent.on("error", () => {});
    const healthy = trackClient(new WsClient(`ws://127.0.0.1:${port}`));
    await once(healthy, "open");
    let pings = 0;
    healthy.on("ping", () => pings++);
    const gone = await Promise.race([
      once(silent, "close").then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000)),
    ]);
    assert.ok(gone, "the silent peer was terminated");
    await silentClosedOnServer;
    assert.equal(healthy.readyState, WsClient.OPEN);
    assert.ok(pings > 0, "the healthy client was pinged");
    assert.equal(wss.clients.size, 1);
    await closeClient(healthy);
    await closeServer(wss);
    silent.destroy();
  });
});
