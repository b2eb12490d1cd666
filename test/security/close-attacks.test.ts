/**
 * Peers that will not let a connection end (reliability.md §1.28, §3.4–3.6): no answer to our
 * close frame, data frames after it, half-open TCP. Timeouts are set to 100–200 ms so
 * "eventually" is "within a bounded time"; every case asserts one `close`, the TCP end, and that
 * nothing is delivered after the close handshake started.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "../../src/index.js";
import { closeFrame, forgeFrame, Opcode, RawServer } from "../helpers/index.js";
import { openRaw, Recorder, type SecServer, sleep, startServer } from "../helpers/sec-util.js";

const T = { timeout: 20_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };

describe("close handshake abuse (server side)", SUITE, () => {
  let srv: SecServer;
  before(async () => {
    srv = await startServer({ closeTimeout: 200 });
  });
  after(async () => {
    await srv.close();
  });

  test(
    "3.4 a peer that never answers our close is destroyed after closeTimeout (200 ms): close 1006 once",
    T,
    async () => {
      const { raw, server } = await openRaw(srv);
      try {
        const started = Date.now();
        server.ws.close(1000, "bye");
        const close = await raw.expectClose(2000);
        assert.equal(close.code, 1000);
        assert.equal(close.reason, "bye");
        // We read, but never answer.
        const closed = await server.closed(3000);
        const elapsed = Date.now() - started;
        assert.equal(closed.code, 1006, "no close frame came back");
        assert.ok(elapsed >= 150, `closed after ${elapsed} ms, before closeTimeout`);
        assert.ok(elapsed < 2000, `closed after ${elapsed} ms`);
        await raw.waitForTcpEnd(2000);
        server.assertSafeEnd(0);
      } finally {
        raw.destroy();
      }
    },
  );

  test(
    "3.5 a peer that keeps sending data after our close: nothing delivered, destroyed at closeTimeout",
    T,
    async () => {
      const { raw, server } = await openRaw(srv);
      let timer: NodeJS.Timeout | undefined;
      try {
        server.ws.close(1000);
        assert.equal((await raw.expectClose(2000)).code, 1000);
        let sent = 0;
        timer = setInterval(() => {
          raw.sendFrame({ opcode: Opcode.TEXT, payload: `ignored ${sent++}` });
        }, 50);
        const closed = await server.closed(3000);
        clearInterval(timer);
        assert.equal(closed.code, 1006);
        assert.ok(sent >= 2, "the peer did keep sending");
        assert.equal(server.messages.length, 0, "data after our close frame is not delivered");
        await raw.waitForTcpEnd(2000);
        server.assertSafeEnd(0);
      } finally {
        clearInterval(timer);
        raw.destroy();
      }
    },
  );

  test(
    "2.3.17 data after the peer's close frame is ignored; our close reply follows",
    T,
    async () => {
      const { raw, server } = await openRaw(srv);
      try {
        raw.write(
          Buffer.concat([
            closeFrame(1000, "done", { mask: true }),
            forgeFrame({ opcode: Opcode.TEXT, payload: "after close", mask: true }),
          ]),
        );
        assert.equal((await raw.expectClose(2000)).code, 1000);
        const closed = await server.closed(3000);
        assert.equal(closed.code, 1000);
        assert.equal(closed.reason, "done");
        assert.equal(server.messages.length, 0);
        await raw.waitForTcpEnd(2000);
        server.assertSafeEnd(0);
      } finally {
        raw.destroy();
      }
    },
  );

  test("1.28 terminate() destroys at once: close 1006 promptly, TCP closed", T, async () => {
    const { raw, server } = await openRaw(srv);
    try {
      const started = Date.now();
      server.ws.terminate();
      const closed = await server.closed(2000);
      assert.equal(closed.code, 1006);
      assert.ok(Date.now() - started < 1000, `close after ${Date.now() - started} ms`);
      await raw.waitForTcpEnd(2000);
      server.assertSafeEnd(0);
    } finally {
      raw.destroy();
    }
  });
});

describe("close handshake abuse (client side)", SUITE, () => {
  let raw: RawServer;
  before(async () => {
    raw = await RawServer.listen();
  });
  after(async () => {
    await raw.close();
  });

  test(
    "3.4 client: a server that never answers our close is dropped after closeTimeout",
    T,
    async () => {
      const client = new WebSocket(raw.url(), { closeTimeout: 200, perMessageDeflate: false });
      const recorder = new Recorder(client);
      const conn = await raw.acceptWebSocket(10_000);
      await recorder.opened();
      const started = Date.now();
      client.close(1000);
      assert.equal((await conn.expectClose(2000)).code, 1000);
      const closed = await recorder.closed(3000);
      const elapsed = Date.now() - started;
      assert.equal(closed.code, 1006);
      assert.ok(elapsed >= 150 && elapsed < 2000, `closed after ${elapsed} ms`);
      await conn.waitForTcpEnd(2000);
      recorder.assertSafeEnd(0);
    },
  );

  test("3.5 client: frames a server sends after our close are not delivered", T, async () => {
    const client = new WebSocket(raw.url(), { closeTimeout: 200, perMessageDeflate: false });
    const recorder = new Recorder(client);
    const conn = await raw.acceptWebSocket(10_000);
    await recorder.opened();
    client.close(1000);
    await conn.expectClose(2000);
    const timer = setInterval(() => conn.sendFrame({ opcode: Opcode.TEXT, payload: "late" }), 50);
    try {
      await recorder.closed(3000);
    } finally {
      clearInterval(timer);
    }
    assert.equal(recorder.messages.length, 0);
    recorder.assertSafeEnd(0);
  });
});

describe("3.6 half-open peers and the heartbeat", SUITE, () => {
  test(
    "3.6 a peer that stopped reading and never pongs is terminated (interval 100, timeout 100)",
    T,
    async () => {
      const srv = await startServer({ heartbeat: { interval: 100, timeout: 100 } });
      try {
        const { raw, server } = await openRaw(srv);
        try {
          raw.socket.pause(); // vanished: reads nothing, answers nothing
          const started = Date.now();
          const closed = await server.closed(3000);
          const elapsed = Date.now() - started;
          assert.equal(closed.code, 1006);
          assert.ok(elapsed >= 150, `terminated after ${elapsed} ms`);
          assert.ok(elapsed < 1500, `terminated after ${elapsed} ms`);
          server.assertSafeEnd(0);
          assert.equal(srv.wss.clients.size, 0);
        } finally {
          raw.destroy();
        }
      } finally {
        await srv.close();
      }
    },
  );

  test(
    "3.6 a quiet peer that answers the heartbeat's pings is never terminated (server heartbeat)",
    T,
    async () => {
      const srv = await startServer({ heartbeat: { interval: 100, timeout: 100 } });
      const client = new WebSocket(srv.url, { perMessageDeflate: false }); // answers pings (autoPong)
      const recorder = new Recorder(client);
      try {
        await recorder.opened();
        await sleep(1200); // several heartbeat rounds, the client silent but for its pongs
        assert.ok(recorder.pings >= 2, `pinged ${recorder.pings} times`);
        assert.deepEqual(
          recorder.closes,
          [],
          `a healthy peer was terminated (events: ${recorder.events})`,
        );
        assert.equal(client.readyState, WebSocket.OPEN);
      } finally {
        client.terminate();
        await srv.close();
      }
    },
  );

  test("3.6 client heartbeat: a server that answers pings keeps the connection", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(srv.url, {
      perMessageDeflate: false,
      heartbeat: { interval: 100, timeout: 100 },
    });
    const recorder = new Recorder(client);
    try {
      await recorder.opened();
      await sleep(1200);
      assert.ok(recorder.pongs >= 2, `got ${recorder.pongs} pongs`);
      assert.deepEqual(
        recorder.closes,
        [],
        `a healthy server was dropped (events: ${recorder.events})`,
      );
    } finally {
      client.terminate();
      await srv.close();
    }
  });

  test("3.6 client heartbeat: a server that stops answering is dropped", T, async () => {
    const raw = await RawServer.listen();
    try {
      const client = new WebSocket(raw.url(), {
        perMessageDeflate: false,
        heartbeat: { interval: 100, timeout: 100 },
      });
      const recorder = new Recorder(client);
      const conn = await raw.acceptWebSocket(10_000);
      await recorder.opened();
      conn.socket.pause();
      const closed = await recorder.closed(3000);
      assert.equal(closed.code, 1006);
      recorder.assertSafeEnd(0);
    } finally {
      await raw.close();
    }
  });
});
