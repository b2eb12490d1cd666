/**
 * What the per-connection memory work (issue #7) must not change: an idle connection holds no
 * parser, sender or close state, and everything made on first use behaves as before; the
 * ready-state constants live on the prototype as in ws; the server's client tracking, the 'drain'
 * listener and the peer's half-close work without per-socket listeners of their own.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { describe, test } from "node:test";
import { WebSocket as WsWebSocket } from "ws";
import { WebSocket } from "../../src/index.js";
import {
  closePair,
  connectPair,
  delay,
  startServer,
  stopServer,
  until,
  waitEvent,
} from "../helpers/api-util.js";
import { RawClient } from "../helpers/raw-client.js";

const T = { timeout: 10_000 };
const STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"] as const;

/** The internals this file checks (private fields, reached on purpose). */
interface Internals {
  _socket: Socket | null;
  _parser: object | null;
  _sender: object | null;
  _close: object | null;
  _settings: object;
}
const internals = (ws: WebSocket): Internals => ws as unknown as Internals;

describe("ready-state constants", () => {
  test("live on the prototype, enumerable and read-only, with ws's descriptors", () => {
    const ws = new WebSocket(null);
    for (const [value, name] of STATES.entries()) {
      assert.equal(ws[name], value);
      assert.equal(WebSocket[name], value);
      assert.ok(!Object.hasOwn(ws, name), `${name} is not an own property of each socket`);
      assert.deepEqual(
        Object.getOwnPropertyDescriptor(WebSocket.prototype, name),
        Object.getOwnPropertyDescriptor(WsWebSocket.prototype, name),
      );
      assert.throws(() => {
        (ws as unknown as Record<string, number>)[name] = 7;
      }, TypeError);
      assert.equal(ws[name], value);
    }
  });
});

describe("event slots", () => {
  test("eventNames() lists only events with listeners; inherited names are no events", () => {
    const ws = new WebSocket(null);
    const listener = (): void => {};
    assert.deepEqual(ws.eventNames(), []);
    ws.on("message", listener);
    ws.on("pong", listener);
    assert.deepEqual(ws.eventNames(), ["message", "pong"]);
    ws.off("message", listener);
    assert.deepEqual(ws.eventNames(), ["pong"]);
    ws.removeAllListeners();
    assert.deepEqual(ws.eventNames(), []);
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      assert.equal(ws.listenerCount(name), 0, name);
      assert.deepEqual(ws.listeners(name), [], name);
      assert.equal(ws.emit(name), false, name);
    }
    let calls = 0;
    ws.on("toString", () => calls++);
    assert.equal(ws.emit("toString"), true);
    assert.equal(calls, 1);
    assert.deepEqual(ws.eventNames(), ["toString"]);
  });

  test("close, error and message listeners come and go as on any EventEmitter", () => {
    const ws = new WebSocket(null);
    const seen: string[] = [];
    const a = (): void => {
      seen.push("a");
    };
    const b = (): void => {
      seen.push("b");
    };
    ws.on("close", a);
    ws.once("close", b);
    ws.prependListener("close", b);
    assert.equal(ws.listenerCount("close"), 3);
    ws.emit("close");
    assert.deepEqual(seen, ["b", "a", "b"]);
    assert.equal(ws.listenerCount("close"), 2);
    ws.off("close", a);
    ws.off("close", b);
    assert.equal(ws.listenerCount("close"), 0);
    assert.deepEqual(ws.eventNames(), []);
  });
});

describe("lazy per-connection state", () => {
  test("an idle server connection holds no parser, sender or close state", T, async () => {
    const pair = await connectPair();
    try {
      const server = internals(pair.server);
      assert.equal(server._parser, null);
      assert.equal(server._sender, null);
      assert.equal(server._close, null);
      await delay(30);
      assert.equal(server._parser, null, "still none after a quiet while");

      // First received bytes make the parser, first send the sender; both then work as ever.
      const got = waitEvent<[Buffer, boolean]>(pair.server, "message");
      pair.client.send("first");
      const [data, isBinary] = await got;
      assert.equal(data.toString(), "first");
      assert.equal(isBinary, false);
      assert.notEqual(server._parser, null);
      assert.equal(server._sender, null, "receiving makes no sender");
      const back = waitEvent<[Buffer]>(pair.client, "message");
      assert.equal(pair.server.send("second"), "written");
      assert.equal((await back)[0].toString(), "second");
      assert.notEqual(server._sender, null);
    } finally {
      await closePair(pair);
    }
  });

  test("connections of one server share one settings object", T, async () => {
    const srv = await startServer();
    const a = new WebSocket(srv.url);
    const b = new WebSocket(srv.url);
    try {
      const servers: WebSocket[] = [];
      srv.wss.on("connection", (ws: WebSocket) => servers.push(ws));
      await Promise.all([waitEvent(a, "open"), waitEvent(b, "open")]);
      await until(() => servers.length === 2);
      assert.equal(internals(servers[0]!)._settings, internals(servers[1]!)._settings);
      assert.notEqual(internals(a)._settings, internals(b)._settings, "clients have their own");
    } finally {
      a.terminate();
      b.terminate();
      await stopServer(srv.wss);
    }
  });

  test(
    "RFC 6455 §5.5.2: a ping as the first frame is answered (sender made on demand)",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const pong = waitEvent<[Buffer]>(pair.client, "pong");
        pair.client.ping("hello?");
        assert.equal((await pong)[0].toString(), "hello?");
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "RFC 6455 §7.1.2: close() as the first action still runs the close handshake",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const clientClosed = waitEvent<[number, Buffer]>(pair.client, "close");
        const serverClosed = waitEvent<[number, Buffer]>(pair.server, "close");
        pair.server.close(4001, "bye");
        const [[code, reason], [serverCode]] = await Promise.all([clientClosed, serverClosed]);
        assert.equal(code, 4001);
        assert.equal(reason.toString(), "bye");
        assert.equal(serverCode, 4001);
      } finally {
        await closePair(pair);
      }
    },
  );

  test("pause() before any bytes arrive holds messages until resume()", T, async () => {
    const pair = await connectPair();
    try {
      const received: string[] = [];
      pair.server.on("message", (data: Buffer) => received.push(data.toString()));
      pair.server.pause();
      pair.client.send("one");
      pair.client.send("two");
      await delay(100);
      assert.deepEqual(received, []);
      assert.equal(pair.server.isPaused, true);
      pair.server.resume();
      await until(() => received.length === 2);
      assert.deepEqual(received, ["one", "two"]);
    } finally {
      await closePair(pair);
    }
  });

  test("binaryType keeps each value and ignores unknown ones", () => {
    const ws = new WebSocket(null);
    assert.equal(ws.binaryType, "nodebuffer");
    for (const type of ["arraybuffer", "fragments", "blob", "nodebuffer"] as const) {
      ws.binaryType = type;
      assert.equal(ws.binaryType, type);
    }
    ws.binaryType = "arraybuffer";
    (ws as unknown as { binaryType: string }).binaryType = "text";
    assert.equal(ws.binaryType, "arraybuffer");
    assert.equal(ws.isPaused, false, "the other bits are untouched");
  });
});

describe("listeners the library does not add", () => {
  test(
    "the server tracks clients without a 'close' listener, and forgets one before the app's 'close' runs",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const server = pair.server;
        assert.equal(server.listenerCount("close"), 0);
        assert.ok(pair.wss.clients.has(server));
        let trackedDuringClose: boolean | null = null;
        server.on("close", () => {
          trackedDuringClose = pair.wss.clients.has(server);
        });
        const closed = waitEvent(server, "close");
        pair.client.close();
        await closed;
        assert.equal(trackedDuringClose, false);
        assert.equal(pair.wss.clients.size, 0);
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "'drain' is listened for only after a refused write, and still follows backpressure",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const socket = internals(pair.server)._socket!;
        assert.equal(socket.listenerCount("drain"), 0);
        assert.equal(socket.listenerCount("end"), 1, "only Node's own 'end' listener");
        // 2 MiB to a client that has stopped reading: over the 1 MiB default maxBackpressure, and
        // one write over the socket's 16 KiB high-water mark, so Node refuses it.
        internals(pair.client)._socket!.pause();
        const drained = waitEvent(pair.server, "drain");
        assert.equal(pair.server.send(Buffer.alloc(2 * 1024 * 1024, 1)), "buffered");
        await new Promise((resolve) => setImmediate(resolve)); // the batched write happens
        assert.equal(socket.listenerCount("drain"), 1);
        internals(pair.client)._socket!.resume();
        await drained;
        assert.ok(pair.server.bufferedAmount <= 1024 * 1024);
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "RFC 6455 §7.1.1: after a clean close the server closes TCP at once (no end()), the client ends its side once",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const countEnds = (socket: Socket): { ends: number } => {
          const counter = { ends: 0 };
          const end = socket.end.bind(socket);
          socket.end = ((...args: Parameters<Socket["end"]>) => {
            counter.ends++;
            return end(...args);
          }) as Socket["end"];
          return counter;
        };
        const serverSocket = internals(pair.server)._socket!;
        const clientSocket = internals(pair.client)._socket!;
        const server = countEnds(serverSocket);
        const client = countEnds(clientSocket);
        const serverClosed = waitEvent<[number]>(pair.server, "close");
        const clientClosed = waitEvent<[number]>(pair.client, "close");
        pair.client.close(1000);
        assert.equal((await serverClosed)[0], 1000);
        assert.equal((await clientClosed)[0], 1000);
        await until(() => serverSocket.destroyed && clientSocket.destroyed);
        assert.equal(server.ends, 0, "the server destroys its socket: the kernel sends the FIN");
        assert.equal(client.ends, 1, "the client ends its side once, also after the server's FIN");
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "RFC 6455 §7.1.5: the peer's FIN without a close frame makes the socket CLOSING at once, then 1006",
    T,
    async () => {
      const srv = await startServer();
      const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
      const raw = await RawClient.open(srv.port);
      try {
        const [server] = await connection;
        const errors: Error[] = [];
        server.on("error", (error) => errors.push(error));
        const socket = internals(server)._socket!;
        const atEnd = new Promise<{ state: number; result: string }>((resolve) => {
          socket.once("end", () =>
            resolve({ state: server.readyState, result: server.send("too late") }),
          );
        });
        const closed = waitEvent<[number]>(server, "close");
        assert.equal(server.readyState, WebSocket.OPEN);
        raw.end();
        const { state, result } = await atEnd;
        assert.equal(state, WebSocket.CLOSING);
        assert.equal(result, "dropped");
        assert.equal((await closed)[0], 1006);
        assert.equal(await raw.waitForTcpEnd(3000), "end", "our side was ended too");
        assert.equal(errors.length, 0);
      } finally {
        raw.destroy();
        await stopServer(srv.wss);
      }
    },
  );
});

describe("server settings", () => {
  test("options changed after a connection apply to later connections, as in ws", T, async () => {
    const srv = await startServer({ maxPayload: 1024 });
    const first = new WebSocket(srv.url);
    let second: WebSocket | null = null;
    try {
      const servers: WebSocket[] = [];
      srv.wss.on("connection", (ws: WebSocket) => servers.push(ws));
      await waitEvent(first, "open");
      await until(() => servers.length === 1);
      srv.wss.options.maxPayload = 8;
      second = new WebSocket(srv.url);
      await waitEvent(second, "open");
      await until(() => servers.length === 2);

      const ok = waitEvent<[Buffer]>(servers[0]!, "message");
      first.send("nine bytes");
      assert.equal((await ok)[0].toString(), "nine bytes");
      const refused = waitEvent<[number]>(second, "close");
      second.send("nine bytes");
      assert.equal((await refused)[0], 1009, "RFC 6455 §7.4.1: 1009 for a message too big");
    } finally {
      first.terminate();
      second?.terminate();
      await stopServer(srv.wss);
    }
  });
});
