/**
 * Slow readers (reliability.md §3.7): a peer that completes the handshake and then never reads
 * while the app keeps sending. With `maxBufferedAmount` set to 1 MiB the backlog (and with it the
 * memory) stops at the cap: the connection is closed with 1008, `send` answers "dropped", and
 * the memory comes back once the connection is gone.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WebSocket } from "../../src/index.js";
import { RawServer } from "../helpers/index.js";
import { gcNow, KiB, liveBytes, MiB, openRaw, Recorder, startServer } from "../helpers/sec-util.js";

const T = { timeout: 30_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };
const CHUNK = Buffer.alloc(64 * KiB, 0x5a);
/** Frame overhead of one 64 KiB message (header), for the bound on bufferedAmount. */
const FRAME_HEAD = 14;

/**
 * Sends 64 KiB messages until `send` answers "dropped" (bounded: 256 MiB), yielding now and then
 * so the batches reach the socket. Returns the largest `bufferedAmount` seen and the results.
 */
async function sendUntilDropped(
  ws: WebSocket,
): Promise<{ maxBuffered: number; results: string[] }> {
  let maxBuffered = 0;
  const results: string[] = [];
  for (let i = 0; i < 4096; i++) {
    const result = ws.send(CHUNK) as unknown as string;
    results.push(result);
    maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
    if (result === "dropped") return { maxBuffered, results };
    if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never dropped; bufferedAmount ${ws.bufferedAmount}`);
}

describe("3.7 slow readers and maxBufferedAmount", SUITE, () => {
  test(
    "3.7 a client that never reads: backlog capped at 1 MiB, then 1008 and 'dropped'; memory drops back",
    T,
    async () => {
      const srv = await startServer({ maxBufferedAmount: MiB, closeTimeout: 5000, echo: false });
      try {
        gcNow();
        const baseline = liveBytes();
        const { raw, server } = await openRaw(srv);
        try {
          raw.socket.pause(); // completes the handshake, then never reads
          const { maxBuffered, results } = await sendUntilDropped(server.ws);
          assert.ok(results.length > 16, "the kernel buffers absorbed the first sends");
          assert.ok(results.includes("buffered"), "send reported the backlog before dropping");
          // Checked before each send: at most one message past the cap is ever queued.
          assert.ok(
            maxBuffered <= MiB + CHUNK.length + FRAME_HEAD,
            `bufferedAmount reached ${(maxBuffered / MiB).toFixed(2)} MiB`,
          );
          assert.equal(server.errors.length, 1);
          assert.equal(
            (server.errors[0] as Error & { code?: string }).code,
            "WS_ERR_BACKLOG_EXCEEDED",
          );
          assert.equal(
            server.ws.send("more") as unknown as string,
            "dropped",
            "later sends are dropped too",
          );

          // Memory is bounded by the cap (plus kernel buffers, which are not on our heap).
          gcNow();
          const during = liveBytes().total - baseline.total;
          assert.ok(
            during < 8 * MiB,
            `${(during / MiB).toFixed(1)} MiB held while the peer is stuck`,
          );

          // The peer reads again: the queued data, then the close frame with 1008.
          raw.socket.resume();
          const close = await raw.expectClose(10_000, { skipOtherFrames: true });
          assert.equal(close.code, 1008);
          raw.frames.skipped.length = 0;
          raw.end();
          await server.closed(5000);
          server.assertSafeEnd(1);
        } finally {
          raw.destroy();
        }
        gcNow();
        const after = liveBytes().total - baseline.total;
        assert.ok(after < 4 * MiB, `${(after / MiB).toFixed(1)} MiB still held after the close`);
      } finally {
        await srv.close();
      }
    },
  );

  test(
    "3.7 a client that never reads again is destroyed at closeTimeout after the 1008",
    T,
    async () => {
      const srv = await startServer({ maxBufferedAmount: MiB, closeTimeout: 200, echo: false });
      try {
        const { raw, server } = await openRaw(srv);
        try {
          raw.socket.pause();
          await sendUntilDropped(server.ws);
          const started = Date.now();
          const closed = await server.closed(3000);
          assert.equal(closed.code, 1006, "no close frame came back");
          assert.ok(Date.now() - started < 2000);
          server.assertSafeEnd(1);
          assert.equal(server.ws.bufferedAmount, 0, "nothing is held for a closed socket");
        } finally {
          raw.destroy();
        }
      } finally {
        await srv.close();
      }
    },
  );

  test("3.7 client side: a server that never reads gets the same cap", T, async () => {
    const raw = await RawServer.listen();
    try {
      const client = new WebSocket(raw.url(), {
        perMessageDeflate: false,
        maxBufferedAmount: MiB,
        closeTimeout: 200,
      });
      const recorder = new Recorder(client);
      const conn = await raw.acceptWebSocket(10_000);
      await recorder.opened();
      conn.socket.pause();
      const { maxBuffered } = await sendUntilDropped(client);
      // A client's frames carry a 4-byte masking key too.
      assert.ok(maxBuffered <= MiB + CHUNK.length + FRAME_HEAD + 4, `${maxBuffered}`);
      const closed = await recorder.closed(3000);
      assert.equal(closed.code, 1006);
      recorder.assertSafeEnd(1);
    } finally {
      await raw.close();
    }
  });
});
