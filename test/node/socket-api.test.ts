/**
 * The ws-compatible socket API over loopback: send/receive of every data type, the close
 * handshake, ping/pong, pause/resume, binaryType, bufferedAmount, terminate and closeTimeout.
 * Both ends are socketeer unless a raw peer is needed to misbehave on purpose.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { constants, inflateRawSync } from "node:zlib";
import { WebSocket } from "../../src/index.js";
import {
  closePair,
  collectMessages,
  connectPair,
  delay,
  startServer,
  stopServer,
  until,
  waitEvent,
} from "../helpers/api-util.js";
import { RawClient } from "../helpers/raw-client.js";
import { RawServer } from "../helpers/raw-server.js";

const T = { timeout: 10_000 };

/** Records the names of every event a socket emits, in order (to check "nothing after close"). */
function recordEvents(ws: WebSocket): string[] {
  const names: string[] = [];
  const emit = ws.emit.bind(ws);
  ws.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    names.push(String(event));
    return emit(event, ...args);
  }) as typeof ws.emit;
  return names;
}

function asBuffer(data: unknown): Buffer {
  assert.ok(
    Buffer.isBuffer(data),
    `expected a Buffer, got ${Object.prototype.toString.call(data)}`,
  );
  return data;
}

describe("send", () => {
  test("a string arrives as a Buffer with isBinary false, as in ws 8", T, async () => {
    const pair = await connectPair();
    try {
      const received = waitEvent<[unknown, boolean]>(pair.server, "message");
      pair.client.send("héllo wörld");
      const [data, isBinary] = await received;
      assert.equal(isBinary, false);
      assert.equal(asBuffer(data).toString("utf8"), "héllo wörld");

      const back = waitEvent<[unknown, boolean]>(pair.client, "message");
      pair.server.send("from server");
      const [data2, isBinary2] = await back;
      assert.equal(isBinary2, false);
      assert.equal(asBuffer(data2).toString(), "from server");
    } finally {
      await closePair(pair);
    }
  });

  test(
    "Buffer, ArrayBuffer, DataView and every TypedArray arrive as exactly their bytes",
    T,
    async () => {
      const pair = await connectPair();
      try {
        // Views start at an offset into a larger buffer, so a sender that ignores byteOffset or
        // sends the whole underlying ArrayBuffer is caught.
        const backing = new ArrayBuffer(128);
        const bytes = new Uint8Array(backing);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 0xff;
        const cases: Array<[string, Buffer | ArrayBuffer | ArrayBufferView, Buffer]> = [
          ["Buffer", Buffer.from("buffer bytes \x00\xff"), Buffer.from("buffer bytes \x00\xff")],
          ["ArrayBuffer", backing.slice(3, 40), Buffer.from(backing.slice(3, 40))],
          ["DataView", new DataView(backing, 8, 24), Buffer.from(backing, 8, 24)],
          ["Int8Array", new Int8Array(backing, 8, 16), Buffer.from(backing, 8, 16)],
          ["Uint8Array", new Uint8Array(backing, 8, 16), Buffer.from(backing, 8, 16)],
          ["Uint8ClampedArray", new Uint8ClampedArray(backing, 8, 16), Buffer.from(backing, 8, 16)],
          ["Int16Array", new Int16Array(backing, 8, 8), Buffer.from(backing, 8, 16)],
          ["Uint16Array", new Uint16Array(backing, 8, 8), Buffer.from(backing, 8, 16)],
          ["Int32Array", new Int32Array(backing, 8, 4), Buffer.from(backing, 8, 16)],
          ["Uint32Array", new Uint32Array(backing, 8, 4), Buffer.from(backing, 8, 16)],
          ["Float32Array", new Float32Array(backing, 8, 4), Buffer.from(backing, 8, 16)],
          ["Float64Array", new Float64Array(backing, 8, 2), Buffer.from(backing, 8, 16)],
          ["BigInt64Array", new BigInt64Array(backing, 16, 3), Buffer.from(backing, 16, 24)],
          ["BigUint64Array", new BigUint64Array(backing, 16, 3), Buffer.from(backing, 16, 24)],
        ];
        const received = collectMessages(pair.server);
        for (const [, data] of cases) pair.client.send(data);
        await until(() => received.length === cases.length, 5000, "all messages");
        cases.forEach(([name, , expected], i) => {
          const message = received[i]!;
          assert.equal(message.isBinary, true, `${name} is binary`);
          assert.deepEqual(asBuffer(message.data), expected, `${name} bytes`);
        });

        // And the other direction (server sends unmasked, a different sender path).
        const back = collectMessages(pair.client);
        for (const [, data] of cases) pair.server.send(data);
        await until(() => back.length === cases.length, 5000, "all messages back");
        cases.forEach(([name, , expected], i) => {
          assert.deepEqual(asBuffer(back[i]!.data), expected, `${name} bytes (server to client)`);
        });
      } finally {
        await closePair(pair);
      }
    },
  );

  test("the binary option overrides the data type", T, async () => {
    const pair = await connectPair();
    try {
      const received = collectMessages(pair.server);
      pair.client.send("as binary", { binary: true });
      pair.client.send(Buffer.from("as text"), { binary: false });
      await until(() => received.length === 2);
      assert.equal(received[0]!.isBinary, true);
      assert.equal(asBuffer(received[0]!.data).toString(), "as binary");
      assert.equal(received[1]!.isBinary, false);
      assert.equal(asBuffer(received[1]!.data).toString(), "as text");
    } finally {
      await closePair(pair);
    }
  });

  test("numbers are sent as their decimal text", T, async () => {
    const pair = await connectPair();
    try {
      const received = collectMessages(pair.server);
      pair.client.send(42);
      pair.client.send(-3.5);
      await until(() => received.length === 2);
      assert.deepEqual(
        received.map((m) => [asBuffer(m.data).toString(), m.isBinary]),
        [
          ["42", false],
          ["-3.5", false],
        ],
      );
    } finally {
      await closePair(pair);
    }
  });

  test(
    "RFC 6455 §5.4: fin: false fragments are reassembled into one message by the peer",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const atServer = collectMessages(pair.server);
        pair.client.send("frag", { fin: false });
        pair.client.send("ment", { fin: false });
        pair.client.send("ed", { fin: true });
        pair.client.send(Buffer.from([1, 2]), { fin: false });
        pair.client.send(Buffer.from([3, 4]), { fin: true });
        await until(() => atServer.length === 2);
        assert.equal(atServer[0]!.isBinary, false);
        assert.equal(asBuffer(atServer[0]!.data).toString(), "fragmented");
        assert.equal(atServer[1]!.isBinary, true);
        assert.deepEqual(asBuffer(atServer[1]!.data), Buffer.from([1, 2, 3, 4]));

        const atClient = collectMessages(pair.client);
        pair.server.send(Buffer.from("ab"), { binary: false, fin: false });
        pair.server.send(Buffer.from("cd"), { fin: true });
        await until(() => atClient.length === 1);
        assert.equal(atClient[0]!.isBinary, false);
        assert.equal(asBuffer(atClient[0]!.data).toString(), "abcd");
      } finally {
        await closePair(pair);
      }
    },
  );

  test("the send callback is called without an error once the data is written", T, async () => {
    const pair = await connectPair();
    try {
      const error = await new Promise<Error | null | undefined>((resolve) => {
        pair.client.send("x", (err) => resolve(err));
      });
      assert.ok(error === undefined || error === null, `unexpected error ${String(error)}`);
      const error2 = await new Promise<Error | null | undefined>((resolve) => {
        pair.server.send(Buffer.alloc(100_000), { binary: true }, (err) => resolve(err));
      });
      assert.ok(error2 === undefined || error2 === null);
    } finally {
      await closePair(pair);
    }
  });

  test("sending while CONNECTING throws", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(srv.url);
    try {
      assert.equal(client.readyState, WebSocket.CONNECTING);
      assert.throws(() => client.send("too early"), /CONNECTING/);
      assert.throws(() => client.ping(), /CONNECTING/);
      await waitEvent(client, "open");
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test(
    "sending after close calls back with an error and counts in bufferedAmount, as in ws",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const closed = waitEvent(pair.client, "close");
        pair.client.close();
        // CLOSING: the close frame is on its way; data can no longer be sent.
        assert.equal(pair.client.readyState, WebSocket.CLOSING);
        const whileClosing = await new Promise<Error | null | undefined>((resolve) => {
          pair.client.send("late", (err) => resolve(err));
        });
        assert.ok(whileClosing instanceof Error, "callback gets an Error while CLOSING");
        await closed;
        const before = pair.client.bufferedAmount;
        const afterClose = await new Promise<Error | null | undefined>((resolve) => {
          pair.client.send("abc", (err) => resolve(err));
        });
        assert.ok(afterClose instanceof Error, "callback gets an Error when CLOSED");
        assert.equal(pair.client.bufferedAmount, before + 3);
        // Without a callback nothing is thrown.
        pair.client.send("ignored");
        const pingError = await new Promise<Error | null | undefined>((resolve) => {
          pair.client.ping("p", undefined, (err) => resolve(err));
        });
        assert.ok(pingError instanceof Error, "ping after close calls back with an error");
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "RFC 7692 §6: compress: false sends RSV1 clear, compress: true a deflated RSV1 frame",
    T,
    async () => {
      const raw = await RawServer.listen();
      const client = new WebSocket(raw.url(), { perMessageDeflate: { threshold: 0 } });
      try {
        const conn = await raw.accept();
        assert.match(conn.header("sec-websocket-extensions") ?? "", /permessage-deflate/);
        await conn.respond({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
        await waitEvent(client, "open");
        assert.equal(client.extensions, "permessage-deflate");
        const text = "compress me ".repeat(50);
        client.send(text, { compress: false });
        client.send(text, { compress: true });
        const plain = await conn.nextFrame();
        assert.equal(plain.rsv1, false);
        assert.equal(plain.payload.toString(), text);
        const deflated = await conn.nextFrame();
        assert.equal(deflated.rsv1, true);
        assert.ok(deflated.payload.length < Buffer.byteLength(text));
        const inflated = inflateRawSync(
          Buffer.concat([deflated.payload, Buffer.from([0x00, 0x00, 0xff, 0xff])]),
          // The message ends on a sync flush, not a final block (RFC 7692 §7.2.1).
          { finishFlush: constants.Z_SYNC_FLUSH },
        );
        assert.equal(inflated.toString(), text);
      } finally {
        client.terminate();
        await raw.close();
      }
    },
  );

  test(
    "with permessage-deflate negotiated, compressed and uncompressed sends both round-trip",
    T,
    async () => {
      const pair = await connectPair(
        { perMessageDeflate: { threshold: 0 } },
        { perMessageDeflate: true },
      );
      try {
        assert.equal(pair.client.extensions, "permessage-deflate");
        assert.equal(pair.server.extensions, "permessage-deflate");
        const received = collectMessages(pair.server);
        const big = Buffer.alloc(200_000, "abcdefgh");
        pair.client.send(big, { compress: true });
        pair.client.send(big, { compress: false });
        pair.client.send("small", { compress: true });
        await until(() => received.length === 3);
        assert.deepEqual(asBuffer(received[0]!.data), big);
        assert.deepEqual(asBuffer(received[1]!.data), big);
        assert.equal(asBuffer(received[2]!.data).toString(), "small");
      } finally {
        await closePair(pair);
      }
    },
  );
});

describe("ping and pong", () => {
  test(
    "RFC 6455 §5.5.2/§5.5.3: a ping's payload is echoed in the pong, both directions",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const serverPing = waitEvent<[Buffer]>(pair.server, "ping");
        const clientPong = waitEvent<[Buffer]>(pair.client, "pong");
        pair.client.ping("client ping");
        assert.equal((await serverPing)[0].toString(), "client ping");
        assert.equal((await clientPong)[0].toString(), "client ping");

        const clientPing = waitEvent<[Buffer]>(pair.client, "ping");
        const serverPong = waitEvent<[Buffer]>(pair.server, "pong");
        pair.server.ping(Buffer.from([0, 1, 2, 255]));
        assert.deepEqual((await clientPing)[0], Buffer.from([0, 1, 2, 255]));
        assert.deepEqual((await serverPong)[0], Buffer.from([0, 1, 2, 255]));
      } finally {
        await closePair(pair);
      }
    },
  );

  test("ping() without data sends an empty payload; numbers are sent as text", T, async () => {
    const pair = await connectPair();
    try {
      const pings: Buffer[] = [];
      pair.server.on("ping", (data: Buffer) => pings.push(data));
      pair.client.ping();
      pair.client.ping(123);
      await until(() => pings.length === 2);
      assert.equal(pings[0]!.length, 0);
      assert.equal(pings[1]!.toString(), "123");
    } finally {
      await closePair(pair);
    }
  });

  test(
    "pong() sends an unsolicited pong the peer sees as 'pong' (RFC 6455 §5.5.3)",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const pong = waitEvent<[Buffer]>(pair.server, "pong");
        pair.client.pong("heartbeat");
        assert.equal((await pong)[0].toString(), "heartbeat");
      } finally {
        await closePair(pair);
      }
    },
  );

  test("ping/pong call back: ping(data, mask, cb), ping(data, cb), pong(cb)", T, async () => {
    const pair = await connectPair();
    try {
      const results = await Promise.all([
        new Promise<unknown>((resolve) => pair.client.ping("a", true, resolve)),
        new Promise<unknown>((resolve) => pair.client.ping("b", resolve)),
        new Promise<unknown>((resolve) => pair.client.pong("c", false, resolve)),
      ]);
      for (const result of results) assert.ok(result === undefined || result === null);
    } finally {
      await closePair(pair);
    }
  });

  test(
    "RFC 6455 §5.5: a control payload over 125 bytes is a RangeError; 125 bytes is fine",
    T,
    async () => {
      const pair = await connectPair();
      try {
        assert.throws(() => pair.client.ping(Buffer.alloc(126)), RangeError);
        assert.throws(() => pair.client.pong("x".repeat(126)), RangeError);
        assert.throws(() => pair.server.ping(Buffer.alloc(200)), RangeError);
        const ping = waitEvent<[Buffer]>(pair.server, "ping");
        pair.client.ping(Buffer.alloc(125, 7));
        assert.deepEqual((await ping)[0], Buffer.alloc(125, 7));
        assert.equal(pair.client.readyState, WebSocket.OPEN);
      } finally {
        await closePair(pair);
      }
    },
  );

  test("autoPong: false still emits 'ping' but sends no pong", T, async () => {
    const pair = await connectPair({ autoPong: false });
    try {
      let pongs = 0;
      pair.client.on("pong", () => pongs++);
      const ping = waitEvent<[Buffer]>(pair.server, "ping");
      pair.client.ping("anyone?");
      assert.equal((await ping)[0].toString(), "anyone?");
      await delay(200);
      assert.equal(pongs, 0);
      // The app may answer itself.
      const pong = waitEvent<[Buffer]>(pair.client, "pong");
      pair.server.pong("manual");
      assert.equal((await pong)[0].toString(), "manual");
    } finally {
      await closePair(pair);
    }
  });
});

describe("close", () => {
  test(
    "RFC 6455 §7: client close(code, reason): both sides see the code and the reason",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const atServer = waitEvent<[number, Buffer]>(pair.server, "close");
        const atClient = waitEvent<[number, Buffer]>(pair.client, "close");
        pair.client.close(4001, "client says bye");
        assert.equal(pair.client.readyState, WebSocket.CLOSING);
        const [serverCode, serverReason] = await atServer;
        const [clientCode, clientReason] = await atClient;
        assert.equal(serverCode, 4001);
        assert.ok(Buffer.isBuffer(serverReason));
        assert.equal(serverReason.toString(), "client says bye");
        assert.equal(clientCode, 4001);
        assert.ok(Buffer.isBuffer(clientReason));
        // ws echoes the whole close payload (code and reason) in its reply, so the closing side
        // sees its own reason come back.
        assert.equal(clientReason.toString(), "client says bye");
        assert.equal(pair.client.readyState, WebSocket.CLOSED);
        assert.equal(pair.server.readyState, WebSocket.CLOSED);
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "RFC 6455 §7: server close(code, reason): both sides see the code and the reason",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const atServer = waitEvent<[number, Buffer]>(pair.server, "close");
        const atClient = waitEvent<[number, Buffer]>(pair.client, "close");
        pair.server.close(1001, "going away");
        const [clientCode, clientReason] = await atClient;
        const [serverCode, serverReason] = await atServer;
        assert.equal(clientCode, 1001);
        assert.equal(clientReason.toString(), "going away");
        assert.equal(serverCode, 1001);
        assert.equal(serverReason.toString(), "going away");
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "RFC 6455 §7.1.5: close() without a code: both sides see 1005 and an empty reason",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const atServer = waitEvent<[number, Buffer]>(pair.server, "close");
        const atClient = waitEvent<[number, Buffer]>(pair.client, "close");
        pair.client.close();
        const [serverCode, serverReason] = await atServer;
        const [clientCode, clientReason] = await atClient;
        assert.equal(serverCode, 1005);
        assert.equal(serverReason.length, 0);
        assert.equal(clientCode, 1005);
        assert.equal(clientReason.length, 0);
      } finally {
        await closePair(pair);
      }
    },
  );

  test("RFC 6455 §7.4: codes not valid on the wire are a TypeError", T, async () => {
    const pair = await connectPair();
    try {
      for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5, Number.NaN]) {
        assert.throws(() => pair.client.close(code), TypeError, `code ${code}`);
      }
      assert.throws(() => pair.client.close("1000" as unknown as number), TypeError);
      assert.equal(pair.client.readyState, WebSocket.OPEN, "a refused close changes nothing");
    } finally {
      await closePair(pair);
    }
  });

  test("RFC 6455 §5.5: a reason over 123 bytes is a RangeError; 123 bytes is fine", T, async () => {
    const pair = await connectPair();
    try {
      // 62 two-byte characters: 124 bytes, though only 62 UTF-16 units.
      assert.throws(() => pair.client.close(1000, "é".repeat(62)), RangeError);
      assert.throws(() => pair.client.close(1000, "x".repeat(124)), RangeError);
      assert.equal(pair.client.readyState, WebSocket.OPEN);
      const atServer = waitEvent<[number, Buffer]>(pair.server, "close");
      const reason = `${"é".repeat(61)}x`;
      assert.equal(Buffer.byteLength(reason), 123);
      pair.client.close(1000, reason);
      const [code, received] = await atServer;
      assert.equal(code, 1000);
      assert.equal(received.toString(), reason);
    } finally {
      await closePair(pair);
    }
  });

  test(
    "close() again while closing or after close is harmless; 'close' fires once",
    T,
    async () => {
      const pair = await connectPair();
      try {
        let closes = 0;
        pair.client.on("close", () => closes++);
        const closed = waitEvent(pair.client, "close");
        pair.client.close(1000);
        pair.client.close(1000);
        pair.client.close();
        await closed;
        pair.client.close(1000);
        pair.client.terminate();
        await delay(100);
        assert.equal(closes, 1);
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "closeTimeout: the server destroys a socket whose peer never answers its close",
    T,
    async () => {
      const srv = await startServer({ closeTimeout: 300 });
      const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
      const raw = await RawClient.open(srv.port);
      try {
        const [server] = await connection;
        const closed = waitEvent<[number, Buffer]>(server, "close", 8000);
        const started = Date.now();
        server.close(1000, "please answer");
        // The peer gets the close frame, then ignores it (sends no close, keeps TCP open).
        const frame = await raw.expectClose(3000);
        assert.equal(frame.code, 1000);
        const [code] = await closed;
        const elapsed = Date.now() - started;
        assert.equal(code, 1006, "no close frame came back");
        assert.ok(elapsed >= 250, `closed after ${elapsed} ms, before closeTimeout`);
        assert.ok(elapsed < 6000, `closed after ${elapsed} ms`);
        assert.ok((await raw.waitForTcpEnd(3000)) !== null);
      } finally {
        raw.destroy();
        await stopServer(srv.wss);
      }
    },
  );

  test(
    "closeTimeout: a client destroys a socket whose server never answers its close",
    T,
    async () => {
      const raw = await RawServer.listen();
      const client = new WebSocket(raw.url(), { closeTimeout: 300, perMessageDeflate: false });
      try {
        const conn = await raw.acceptWebSocket();
        await waitEvent(client, "open");
        const closed = waitEvent<[number, Buffer]>(client, "close", 8000);
        const started = Date.now();
        client.close(1000);
        const frame = await conn.expectClose(3000);
        assert.equal(frame.code, 1000);
        assert.equal(frame.frame.masked, true);
        const [code] = await closed;
        const elapsed = Date.now() - started;
        assert.equal(code, 1006);
        assert.ok(elapsed >= 250, `closed after ${elapsed} ms, before closeTimeout`);
        assert.ok(elapsed < 6000, `closed after ${elapsed} ms`);
      } finally {
        client.terminate();
        await raw.close();
      }
    },
  );

  test("RFC 6455 §7.1.5: 1006 when the connection drops without a close frame", T, async () => {
    // Server side: the raw client vanishes.
    const srv = await startServer();
    const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
    const rawClient = await RawClient.open(srv.port);
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url(), { perMessageDeflate: false });
    try {
      const [server] = await connection;
      const serverClosed = waitEvent<[number, Buffer]>(server, "close");
      rawClient.destroy();
      const [code, reason] = await serverClosed;
      assert.equal(code, 1006);
      assert.equal(reason.length, 0);

      // Client side: the raw server vanishes.
      const conn = await raw.acceptWebSocket();
      await waitEvent(client, "open");
      const clientClosed = waitEvent<[number, Buffer]>(client, "close");
      conn.destroy();
      const [clientCode, clientReason] = await clientClosed;
      assert.equal(clientCode, 1006);
      assert.equal(clientReason.length, 0);
      assert.equal(client.readyState, WebSocket.CLOSED);
    } finally {
      rawClient.destroy();
      client.terminate();
      await raw.close();
      await stopServer(srv.wss);
    }
  });

  test("terminate(): CLOSING at once, then both sides close with 1006", T, async () => {
    const pair = await connectPair();
    try {
      const atServer = waitEvent<[number]>(pair.server, "close");
      const atClient = waitEvent<[number]>(pair.client, "close");
      pair.client.terminate();
      assert.equal(pair.client.readyState, WebSocket.CLOSING);
      assert.equal((await atClient)[0], 1006);
      assert.equal((await atServer)[0], 1006);
      assert.equal(pair.client.readyState, WebSocket.CLOSED);
    } finally {
      await closePair(pair);
    }
  });

  test(
    "'error' and 'close' fire once each and nothing is emitted after 'close' (server side)",
    T,
    async () => {
      const srv = await startServer();
      const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
      const raw = await RawClient.open(srv.port);
      try {
        const [server] = await connection;
        const names = recordEvents(server);
        const errors: Error[] = [];
        server.on("error", (error) => errors.push(error));
        const closed = waitEvent<[number]>(server, "close");
        // RFC 6455 §5.1: a client frame must be masked; this one is not.
        raw.sendFrame({ opcode: 0x1, payload: "unmasked", mask: false });
        const reply = await raw.expectClose(3000);
        assert.equal(reply.code, 1002);
        // Keep talking after the error; the server must ignore it.
        raw.sendFrame({ opcode: 0x1, payload: "more" });
        raw.sendFrame({ opcode: 0x9, payload: "ping" });
        raw.end();
        const [code] = await closed;
        assert.equal(code, 1006);
        await delay(150);
        assert.equal(errors.length, 1);
        assert.equal(names.filter((n) => n === "error").length, 1);
        assert.equal(names.filter((n) => n === "close").length, 1);
        assert.equal(names.at(-1), "close", `events after close: ${names.join(",")}`);
        assert.ok(!names.includes("message"));
      } finally {
        raw.destroy();
        await stopServer(srv.wss);
      }
    },
  );

  test(
    "'error' and 'close' fire once each and nothing is emitted after 'close' (client side)",
    T,
    async () => {
      const raw = await RawServer.listen();
      const client = new WebSocket(raw.url(), { perMessageDeflate: false });
      const names = recordEvents(client);
      const errors: Error[] = [];
      client.on("error", (error) => errors.push(error));
      try {
        const conn = await raw.acceptWebSocket();
        await waitEvent(client, "open");
        const closed = waitEvent<[number]>(client, "close");
        // RFC 6455 §5.1: a server frame must not be masked; this one is.
        conn.sendFrame({ opcode: 0x1, payload: "masked", mask: true });
        const reply = await conn.expectClose(3000);
        assert.equal(reply.code, 1002);
        conn.sendFrame({ opcode: 0x1, payload: "more" });
        conn.end();
        const [code] = await closed;
        assert.equal(code, 1006);
        await delay(150);
        assert.equal(errors.length, 1);
        assert.deepEqual(
          names.filter((n) => n === "open" || n === "error" || n === "close"),
          ["open", "error", "close"],
        );
        assert.equal(names.at(-1), "close", `events after close: ${names.join(",")}`);
      } finally {
        client.terminate();
        await raw.close();
      }
    },
  );

  test("a clean close emits no 'error' and nothing after 'close'", T, async () => {
    const pair = await connectPair();
    try {
      const clientNames = recordEvents(pair.client);
      const serverNames = recordEvents(pair.server);
      const closed = Promise.all([
        waitEvent(pair.client, "close"),
        waitEvent(pair.server, "close"),
      ]);
      pair.server.send("last words");
      pair.server.close(1000);
      await closed;
      await delay(100);
      assert.deepEqual(clientNames, ["message", "close"]);
      assert.deepEqual(serverNames, ["close"]);
      assert.deepEqual(pair.errors, []);
    } finally {
      await closePair(pair);
    }
  });
});

describe("pause and resume", () => {
  test("no messages while paused; all delivered in order after resume", T, async () => {
    const pair = await connectPair();
    try {
      const received = collectMessages(pair.client);
      assert.equal(pair.client.isPaused, false);
      pair.client.pause();
      assert.equal(pair.client.isPaused, true);
      for (let i = 0; i < 20; i++) pair.server.send(`message ${i}`);
      await delay(250);
      assert.equal(received.length, 0, "nothing is delivered while paused");
      pair.client.resume();
      assert.equal(pair.client.isPaused, false);
      await until(() => received.length === 20);
      assert.deepEqual(
        received.map((m) => asBuffer(m.data).toString()),
        Array.from({ length: 20 }, (_, i) => `message ${i}`),
      );
    } finally {
      await closePair(pair);
    }
  });

  test("pausing the server side holds the client's messages too", T, async () => {
    const pair = await connectPair();
    try {
      const received = collectMessages(pair.server);
      pair.server.pause();
      for (let i = 0; i < 5; i++) pair.client.send(Buffer.from([i]));
      await delay(200);
      assert.equal(received.length, 0);
      pair.server.resume();
      await until(() => received.length === 5);
      assert.deepEqual(
        received.map((m) => asBuffer(m.data)[0]),
        [0, 1, 2, 3, 4],
      );
    } finally {
      await closePair(pair);
    }
  });

  test("pause() and resume() do nothing while CONNECTING", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(srv.url);
    try {
      client.pause();
      assert.equal(client.isPaused, false);
      await waitEvent(client, "open");
      assert.equal(client.isPaused, false);
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });
});

describe("state and properties", () => {
  test("readyState constants are on the class and on instances", () => {
    assert.equal(WebSocket.CONNECTING, 0);
    assert.equal(WebSocket.OPEN, 1);
    assert.equal(WebSocket.CLOSING, 2);
    assert.equal(WebSocket.CLOSED, 3);
    const unattached = new WebSocket(null);
    assert.equal(unattached.CONNECTING, 0);
    assert.equal(unattached.OPEN, 1);
    assert.equal(unattached.CLOSING, 2);
    assert.equal(unattached.CLOSED, 3);
  });

  test("readyState goes CONNECTING → OPEN → CLOSING → CLOSED", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(srv.url);
    try {
      const states: number[] = [client.readyState];
      client.on("open", () => states.push(client.readyState));
      client.on("close", () => states.push(client.readyState));
      await waitEvent(client, "open");
      client.close();
      states.push(client.readyState);
      await waitEvent(client, "close");
      assert.deepEqual(states, [0, 1, 2, 3]);
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("url, protocol and extensions", T, async () => {
    const pair = await connectPair(
      { handleProtocols: (offered: Set<string>) => (offered.has("b") ? "b" : false) },
      {},
      ["a", "b"],
    );
    try {
      assert.equal(pair.client.url, `${pair.url}/`);
      assert.equal(pair.client.protocol, "b");
      assert.equal(pair.server.protocol, "b");
      assert.equal(pair.client.extensions, "");
      assert.equal(pair.server.extensions, "");
    } finally {
      await closePair(pair);
    }
    const plain = await connectPair({}, {});
    const client2 = new WebSocket(`${plain.url}/some/path?x=1&y=2`);
    try {
      assert.equal(plain.client.protocol, "");
      assert.equal(client2.url, `${plain.url}/some/path?x=1&y=2`);
      const [, request] = await waitEvent<[WebSocket, { url: string }]>(plain.wss, "connection");
      assert.equal(request.url, "/some/path?x=1&y=2");
    } finally {
      client2.terminate();
      await closePair(plain);
    }
  });

  test("bufferedAmount counts queued bytes and returns to 0 once written", T, async () => {
    const pair = await connectPair();
    try {
      assert.equal(pair.client.bufferedAmount, 0);
      const payload = Buffer.alloc(1024 * 1024, 1);
      pair.client.send(payload);
      assert.ok(
        pair.client.bufferedAmount >= payload.length,
        `bufferedAmount ${pair.client.bufferedAmount} right after send`,
      );
      await waitEvent(pair.server, "message");
      await until(() => pair.client.bufferedAmount === 0, 5000, "bufferedAmount 0");
    } finally {
      await closePair(pair);
    }
  });
});

describe("binaryType", () => {
  test("defaults to nodebuffer; unknown values are ignored", T, async () => {
    const pair = await connectPair();
    try {
      assert.equal(pair.client.binaryType, "nodebuffer");
      pair.client.binaryType = "bogus" as never;
      assert.equal(pair.client.binaryType, "nodebuffer");
      const message = waitEvent<[unknown, boolean]>(pair.client, "message");
      pair.server.send(Buffer.from([1, 2, 3]));
      const [data, isBinary] = await message;
      assert.equal(isBinary, true);
      assert.deepEqual(asBuffer(data), Buffer.from([1, 2, 3]));
    } finally {
      await closePair(pair);
    }
  });

  test("arraybuffer, fragments and blob present binary data; text stays a Buffer", T, async () => {
    const pair = await connectPair();
    try {
      const bytes = Buffer.from([9, 8, 7, 6, 5]);
      const next = async (type: "arraybuffer" | "fragments" | "blob"): Promise<unknown> => {
        pair.client.binaryType = type;
        assert.equal(pair.client.binaryType, type);
        const message = waitEvent<[unknown, boolean]>(pair.client, "message");
        pair.server.send(bytes);
        const [data, isBinary] = await message;
        assert.equal(isBinary, true);
        const text = waitEvent<[unknown, boolean]>(pair.client, "message");
        pair.server.send("still text");
        const [textData, textIsBinary] = await text;
        assert.equal(textIsBinary, false);
        assert.equal(asBuffer(textData).toString(), "still text", `text with binaryType ${type}`);
        return data;
      };

      const ab = await next("arraybuffer");
      assert.ok(ab instanceof ArrayBuffer);
      assert.deepEqual(Buffer.from(ab), bytes);

      const fragments = await next("fragments");
      assert.ok(Array.isArray(fragments));
      for (const fragment of fragments) assert.ok(Buffer.isBuffer(fragment));
      assert.deepEqual(Buffer.concat(fragments as Buffer[]), bytes);

      const blob = await next("blob");
      assert.ok(blob instanceof Blob);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), bytes);
    } finally {
      await closePair(pair);
    }
  });
});
