/**
 * The opt-in heartbeat (beyond ws): a peer that has been quiet for `interval` is pinged, and
 * terminated (1006) when nothing arrives within `timeout` after the ping; a peer that answers, or
 * that is busy sending, is left alone; and with the option off no timer exists at all.
 */
import assert from "node:assert/strict";
import { sep } from "node:path";
import { describe, test } from "node:test";
import { WebSocket as WsClient } from "ws";
import { WebSocket } from "../../src/index.js";
import {
  closePair,
  connectPair,
  delay,
  startServer,
  stopServer,
  waitEvent,
} from "../helpers/api-util.js";
import { RawClient } from "../helpers/raw-client.js";
import { RawServer } from "../helpers/raw-server.js";

const T = { timeout: 10_000 };
const HEARTBEAT = { interval: 100, timeout: 100 };
const PING = 0x9;

describe("server heartbeat", () => {
  test(
    "a peer that never answers pings is terminated with 1006 within a bounded time",
    T,
    async () => {
      const srv = await startServer({ heartbeat: HEARTBEAT });
      const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
      const raw = await RawClient.open(srv.port);
      try {
        const [server] = await connection;
        const started = Date.now();
        const [code] = await waitEvent<[number]>(server, "close", 8000);
        const elapsed = Date.now() - started;
        assert.equal(code, 1006);
        // Not before a quiet interval has passed; well within a few periods after it.
        assert.ok(elapsed >= 90, `terminated after ${elapsed} ms`);
        assert.ok(elapsed < 5000, `terminated after ${elapsed} ms`);
        const ping = await raw.nextFrame(1000);
        assert.equal(ping.opcode, PING, "the peer was pinged before being dropped");
        assert.ok((await raw.waitForTcpEnd(2000)) !== null);
      } finally {
        raw.destroy();
        await stopServer(srv.wss);
      }
    },
  );

  test(
    "a healthy ws client that answers pings stays connected for more than 5 intervals",
    T,
    async () => {
      const srv = await startServer({ heartbeat: HEARTBEAT });
      const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
      const client = new WsClient(srv.url);
      try {
        let pings = 0;
        client.on("ping", () => pings++);
        await waitEvent(client, "open");
        const [server] = await connection;
        let closed = false;
        server.on("close", () => {
          closed = true;
        });
        await delay(8 * HEARTBEAT.interval);
        assert.equal(closed, false);
        assert.equal(server.readyState, WebSocket.OPEN);
        assert.equal(client.readyState, WsClient.OPEN);
        assert.ok(pings >= 2, `the quiet client was pinged (${pings} pings)`);
      } finally {
        client.terminate();
        await stopServer(srv.wss);
      }
    },
  );

  test("a busy peer (data every 30 ms) is never pinged", T, async () => {
    const srv = await startServer({ heartbeat: HEARTBEAT });
    const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
    const raw = await RawClient.open(srv.port);
    try {
      const [server] = await connection;
      let messages = 0;
      server.on("message", () => messages++);
      let sent = 0;
      const quiet = raw.expectNoFrame(8 * HEARTBEAT.interval);
      const deadline = Date.now() + 8 * HEARTBEAT.interval;
      while (Date.now() < deadline) {
        raw.sendFrame({ opcode: 0x1, payload: `tick ${sent++}` });
        await delay(30);
      }
      await quiet;
      assert.equal(server.readyState, WebSocket.OPEN);
      await delay(20);
      assert.equal(messages, sent);
    } finally {
      raw.destroy();
      await stopServer(srv.wss);
    }
  });
});

describe("client heartbeat", () => {
  test(
    "a server that never answers pings is terminated with 1006 within a bounded time",
    T,
    async () => {
      const raw = await RawServer.listen();
      const client = new WebSocket(raw.url(), { heartbeat: HEARTBEAT, perMessageDeflate: false });
      try {
        const conn = await raw.acceptWebSocket();
        await waitEvent(client, "open");
        const started = Date.now();
        const [code] = await waitEvent<[number]>(client, "close", 8000);
        const elapsed = Date.now() - started;
        assert.equal(code, 1006);
        assert.ok(elapsed >= 90 && elapsed < 5000, `terminated after ${elapsed} ms`);
        const ping = await conn.nextFrame(1000);
        assert.equal(ping.opcode, PING);
        assert.equal(ping.masked, true, "RFC 6455 §5.3: the client's ping is masked");
      } finally {
        client.terminate();
        await raw.close();
      }
    },
  );

  test("a healthy server keeps the client connected for more than 5 intervals", T, async () => {
    const pair = await connectPair({}, { heartbeat: HEARTBEAT });
    try {
      let pings = 0;
      pair.server.on("ping", () => pings++);
      let closed = false;
      pair.client.on("close", () => {
        closed = true;
      });
      await delay(8 * HEARTBEAT.interval);
      assert.equal(closed, false);
      assert.equal(pair.client.readyState, WebSocket.OPEN);
      assert.ok(pings >= 2, `the client pinged the quiet server (${pings} pings)`);
    } finally {
      await closePair(pair);
    }
  });
});

describe("heartbeat off by default", () => {
  /** Counts setTimeout/setInterval calls made from the library's node layer during `run`. */
  async function libraryTimers(run: () => Promise<void>): Promise<number> {
    const marker = `${sep}src${sep}node${sep}`;
    let count = 0;
    const realTimeout = globalThis.setTimeout;
    const realInterval = globalThis.setInterval;
    const spy = <F extends (...args: never[]) => unknown>(real: F): F =>
      ((...args: Parameters<F>) => {
        if (new Error().stack?.includes(marker)) count++;
        return real(...args);
      }) as F;
    globalThis.setTimeout = spy(realTimeout) as typeof setTimeout;
    globalThis.setInterval = spy(realInterval) as typeof setInterval;
    try {
      await run();
    } finally {
      globalThis.setTimeout = realTimeout;
      globalThis.setInterval = realInterval;
    }
    return count;
  }

  function activeTimeouts(): number {
    return process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
  }

  test("no timer is created for an open connection without the option", T, async () => {
    const srv = await startServer();
    const before = activeTimeouts();
    let pair: { client: WebSocket; server: WebSocket } | null = null;
    try {
      const created = await libraryTimers(async () => {
        const connection = waitEvent<[WebSocket]>(srv.wss, "connection");
        const client = new WebSocket(srv.url);
        await waitEvent(client, "open");
        const [server] = await connection;
        pair = { client, server };
        const echoed = waitEvent(client, "message");
        server.on("message", (data: Buffer) => server.send(data));
        client.send("round trip");
        await echoed;
      });
      assert.equal(created, 0, "the library started no timer");
      assert.ok(activeTimeouts() <= before, "no extra active Timeout after connecting");
    } finally {
      (pair as { client: WebSocket } | null)?.client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("control: with the option on, the same check sees the heartbeat timer", T, async () => {
    const srv = await startServer({ heartbeat: HEARTBEAT });
    let client: WebSocket | null = null;
    try {
      const created = await libraryTimers(async () => {
        const connection = waitEvent(srv.wss, "connection");
        client = new WebSocket(srv.url, { heartbeat: HEARTBEAT });
        await Promise.all([waitEvent(client, "open"), connection]);
      });
      assert.ok(created >= 1, `heartbeat timers created: ${created}`);
    } finally {
      (client as WebSocket | null)?.terminate();
      await stopServer(srv.wss);
    }
  });
});
