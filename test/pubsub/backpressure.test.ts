/**
 * Backpressure: what `send()` reports ("written" / "buffered" / "dropped"), the `drain` event,
 * the `maxBufferedAmount` hard cap (1008), and what a publish does with a subscriber whose peer
 * stopped reading: skip it ("drop") while everyone else keeps receiving and the server's backlog
 * for it stays bounded, or close it with 1008 ("close").
 *
 * The slow subscriber is a raw TCP client that completes the handshake and then stops reading
 * (`socket.pause()`), so the kernel's buffers fill and the backlog grows on the server for real.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { WebSocket } from "../../src/index.js";
import { closeFrame } from "../helpers/frame-forger.js";
import type { ParsedFrame } from "../helpers/frame-reader.js";
import {
  closeAll,
  connectPeers,
  delay,
  type Peer,
  type RawSubscriber,
  rawSubscriber,
  receivedCount,
  startPubSub,
  type TestServer,
  texts,
  until,
  waitEvent,
  withTimeout,
} from "../helpers/pubsub-util.js";

const T = { timeout: 10_000 };
const KiB = 1024;

/** A 16 KiB message carrying its sequence number up front (so gaps and reordering show). */
function numbered(i: number, size = 16 * KiB): Buffer {
  const out = Buffer.alloc(size, 0x61);
  out.writeUInt32BE(i, 0);
  return out;
}

/** Resolves on the next turn of the event loop, after pending I/O callbacks ran. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A raw subscriber that has stopped reading: the server's writes to it pile up. */
async function slowSubscriber(srv: TestServer, topic: string): Promise<RawSubscriber> {
  const sub = await rawSubscriber(srv);
  sub.server.subscribe(topic);
  sub.raw.socket.pause();
  return sub;
}

/** Reads data frames from a raw peer until its close frame; returns both. */
async function readUntilClose(
  sub: RawSubscriber,
  ms: number,
): Promise<{ data: ParsedFrame[]; close: ParsedFrame }> {
  const data: ParsedFrame[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await sub.raw.nextFrame(Math.max(1, deadline - Date.now()));
    if (frame.opcode === 0x8) return { data, close: frame };
    data.push(frame);
  }
}

describe("send() results", () => {
  test('"written" under maxBackpressure, "buffered" above it', T, async () => {
    const srv = await startPubSub({ maxBackpressure: 32 * KiB });
    const peers = await connectPeers(srv, 1);
    try {
      const ws = peers[0]!.server;
      assert.equal(ws.send("small"), "written");
      assert.equal(ws.send(Buffer.alloc(16 * KiB)), "written", "backlog ~16 KiB: under 32 KiB");
      // Still the same tick: the sender holds both, the backlog is now over 32 KiB.
      assert.equal(ws.send(Buffer.alloc(20 * KiB)), "buffered", "backlog ~36 KiB: over 32 KiB");
      assert.ok(
        ws.bufferedAmount > 32 * KiB,
        `bufferedAmount ${ws.bufferedAmount} counts the queue`,
      );
      await receivedCount(peers[0]!, 3);
      await until(() => ws.bufferedAmount === 0, 5000, "backlog flushed");
      assert.equal(ws.send("again"), "written", "under the limit again once flushed");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test('"dropped" when the socket is closing or closed', T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 1);
    try {
      const ws = peers[0]!.server;
      const closed = waitEvent(ws, "close");
      ws.close(1000);
      assert.equal(ws.readyState, ws.CLOSING, "closing");
      assert.equal(ws.send("late"), "dropped", "CLOSING → dropped");
      await closed;
      assert.equal(ws.send("later"), "dropped", "CLOSED → dropped");
      let callbackError: unknown = null;
      const res = ws.send("with callback", (error) => {
        callbackError = error;
      });
      assert.equal(res, "dropped");
      await until(() => callbackError !== null, 2000, "send callback");
      assert.ok(callbackError instanceof Error, "the callback gets an error");
      assert.deepEqual(texts(peers[0]!), [], "nothing sent after close arrived");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test("maxBackpressure: 0 turns the soft limit off", T, async () => {
    const srv = await startPubSub({ maxBackpressure: 0 });
    const peers = await connectPeers(srv, 1);
    try {
      const ws = peers[0]!.server;
      ws.subscribe("t");
      assert.equal(ws.send(Buffer.alloc(4 * 1024 * KiB)), "written", "4 MiB queued: still written");
      assert.deepEqual(srv.wss.publish("t", "x"), { sent: 1, dropped: 0 }, "never skipped");
      await receivedCount(peers[0]!, 2, 8000);
    } finally {
      await closeAll(srv, peers);
    }
  });

  test('"dropped" above maxBufferedAmount: the connection is closed with 1008 (peer not reading)', {
    timeout: 30_000,
  }, async () => {
    const cap = 256 * KiB;
    const srv = await startPubSub({
      maxBufferedAmount: cap,
      maxBackpressure: 64 * KiB,
      closeTimeout: 500,
    });
    const sub = await rawSubscriber(srv);
    sub.raw.socket.pause();
    const ws = sub.server;
    const errors: Error[] = [];
    ws.on("error", (error) => errors.push(error));
    const closed = waitEvent<[number, Buffer]>(ws, "close", 25_000);
    try {
      const chunk = Buffer.alloc(64 * KiB, 0x62);
      const results: string[] = [];
      let maxBacklog = 0;
      // The kernel absorbs a few MiB first; then the backlog grows on our side until the cap.
      for (let i = 0; i < 4000 && results.at(-1) !== "dropped"; i++) {
        results.push(ws.send(chunk));
        maxBacklog = Math.max(maxBacklog, ws.bufferedAmount);
        if (i % 4 === 3) await turn();
      }
      assert.equal(results.at(-1), "dropped", "the cap was reached and the send dropped");
      assert.ok(results.includes("buffered"), "over maxBackpressure it said buffered first");
      assert.ok(
        maxBacklog <= cap + chunk.length + 64,
        `backlog never exceeded the cap by more than one message (${maxBacklog})`,
      );
      assert.equal(ws.readyState, ws.CLOSING, "closing after the cap was hit");
      assert.equal(ws.send(chunk), "dropped", "and later sends are dropped too");
      assert.equal(errors.length, 1, "one 'error' event");
      assert.equal((errors[0] as Error & { code?: string }).code, "WS_ERR_BACKLOG_EXCEEDED");
      // The peer never reads its close frame, so closeTimeout ends the connection.
      const [code] = await closed;
      assert.equal(code, 1006, "no close frame came back: 1006 on our side");
    } finally {
      sub.raw.destroy();
      await closeAll(srv);
    }
  });

  test("maxBufferedAmount: the peer gets the queued data, then a 1008 close", T, async () => {
    const srv = await startPubSub({ maxBufferedAmount: 64 * KiB });
    const peers = await connectPeers(srv, 1);
    try {
      const p = peers[0]!;
      const ws = p.server;
      ws.on("error", () => {});
      // Same tick: 100 KiB is queued (the backlog before it was 0); the next send is over the cap.
      assert.notEqual(ws.send(Buffer.alloc(100 * KiB, 0x63)), "dropped", "first send queued");
      assert.equal(ws.send("over"), "dropped", "the backlog is over the cap");
      await until(() => p.closeCode !== null, 5000, "client close");
      assert.equal(p.closeCode, 1008, "closed with 1008 (policy violation)");
      assert.equal(p.received.length, 1, "the queued message arrived, the dropped one did not");
      assert.equal(p.received[0]!.bytes.length, 100 * KiB);
    } finally {
      await closeAll(srv, peers);
    }
  });
});

describe("the drain event", () => {
  test("emitted after the peer resumes reading; bufferedAmount is back to 0", {
    timeout: 30_000,
  }, async () => {
    const srv = await startPubSub({ maxBackpressure: 64 * KiB });
    const peers = await connectPeers(srv, 1);
    try {
      const p = peers[0]!;
      const ws = p.server;
      p.client.pause();
      const chunk = Buffer.alloc(64 * KiB, 0x64);
      let sent = 0;
      // Fill the kernel's buffers until the backlog stays on our side across turns.
      for (let i = 0; i < 2000; i++) {
        ws.send(chunk);
        sent++;
        await delay(1);
        // Well past what a paused loopback peer's kernel buffers can still take in.
        if (ws.bufferedAmount > 1024 * KiB) break;
      }
      assert.ok(ws.bufferedAmount > 1024 * KiB, `backlog builds up (${ws.bufferedAmount})`);
      assert.equal(ws.send(chunk), "buffered", "send reports the backlog");
      sent++;
      let drained = 0;
      ws.on("drain", () => {
        drained++;
      });
      await delay(100);
      assert.equal(drained, 0, "no drain while the peer does not read");
      p.client.resume();
      await until(() => drained > 0, 20_000, "drain");
      assert.equal(ws.bufferedAmount, 0, "nothing left on our side at drain");
      assert.equal(ws.send("after drain"), "written");
      await receivedCount(p, sent + 1, 20_000);
      assert.equal(p.received.at(-1)!.text, "after drain");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test('a "buffered" result is always followed by drain (small maxBackpressure)', T, async () => {
    // The README tells apps to wait for 'drain' after "buffered": it must come even when the
    // backlog that triggered "buffered" is under the socket's own high-water mark.
    const srv = await startPubSub({ maxBackpressure: 1 * KiB });
    const peers = await connectPeers(srv, 1);
    try {
      const ws = peers[0]!.server;
      const drained = waitEvent(ws, "drain", 3000);
      assert.equal(ws.send(Buffer.alloc(4 * KiB)), "buffered", "4 KiB over a 1 KiB limit");
      await withTimeout(drained, 3000, "'drain' after a buffered send");
      await receivedCount(peers[0]!, 1);
    } finally {
      await closeAll(srv, peers);
    }
  });
});

describe("publish with a slow subscriber", () => {
  const LIMIT = 64 * KiB;

  /**
   * Publishes numbered 16 KiB messages, pacing so the healthy subscribers stay under the limit,
   * until the slow one has been skipped `wantDropped` times (or `stop` says so).
   */
  async function publishUntilSlow(
    srv: TestServer,
    healthy: readonly Peer[],
    slow: WebSocket,
    stop: (result: { sent: number; dropped: number }) => boolean,
  ): Promise<{
    published: number;
    dropped: number;
    maxSlowBacklog: number;
    results: Array<{ sent: number; dropped: number }>;
  }> {
    const results: Array<{ sent: number; dropped: number }> = [];
    let dropped = 0;
    let maxSlowBacklog = 0;
    for (let i = 0; i < 6000; i++) {
      // Healthy subscribers read; give them the time to, so only the slow one is ever skipped.
      for (let w = 0; w < 2000 && healthy.some((p) => p.server.bufferedAmount > LIMIT / 2); w++)
        await turn();
      const result = srv.wss.publish("feed", numbered(i));
      results.push(result);
      dropped += result.dropped;
      maxSlowBacklog = Math.max(maxSlowBacklog, slow.bufferedAmount);
      if (stop(result)) break;
      await turn();
    }
    return { published: results.length, dropped, maxSlowBacklog, results };
  }

  test('policy "drop": the slow subscriber is skipped, the others get everything, its backlog stays bounded', {
    timeout: 60_000,
  }, async () => {
    const srv = await startPubSub({ maxBackpressure: LIMIT, backpressurePolicy: "drop" });
    const healthy = await connectPeers(srv, 3);
    for (const p of healthy) p.server.subscribe("feed");
    const slow = await slowSubscriber(srv, "feed");
    try {
      let skippedInARow = 0;
      const run = await publishUntilSlow(srv, healthy, slow.server, (r) => {
        skippedInARow = r.dropped > 0 ? skippedInARow + 1 : 0;
        return skippedInARow >= 30;
      });
      assert.ok(run.dropped > 0, `publishes skipped the slow subscriber (${run.dropped})`);
      for (const r of run.results) {
        assert.ok(r.sent >= 3, "every healthy subscriber was sent every message");
        assert.ok(r.dropped <= 1, "only the slow subscriber was ever skipped");
      }
      assert.ok(
        run.maxSlowBacklog <= LIMIT + 16 * KiB + 16,
        `the slow socket's backlog stays within the limit plus one message (${run.maxSlowBacklog})`,
      );
      assert.equal(slow.server.readyState, slow.server.OPEN, "drop keeps the connection open");
      assert.equal(srv.wss.subscriberCount("feed"), 4, "and subscribed");

      // Healthy subscribers: every message, in order, intact.
      for (const p of healthy) {
        await receivedCount(p, run.published, 20_000);
        const seq = p.received.map((m) => m.bytes.readUInt32BE(0));
        assert.deepEqual(
          seq,
          Array.from({ length: run.published }, (_, i) => i),
        );
        assert.ok(
          p.received.every((m) => m.bytes.length === 16 * KiB),
          "whole messages",
        );
      }

      // The slow one, once it reads: exactly what was queued for it, in order, nothing partial.
      const queuedForSlow = run.published - run.dropped;
      slow.raw.socket.resume();
      const got: number[] = [];
      for (let i = 0; i < queuedForSlow; i++) {
        const frame = await slow.raw.nextFrame(10_000);
        assert.equal(frame.fin, true, "whole frames");
        assert.equal(frame.payload.length, 16 * KiB, "whole payloads");
        got.push(frame.payload.readUInt32BE(0));
      }
      assert.ok(
        got.every((n, i) => i === 0 || n > got[i - 1]!),
        "increasing sequence numbers (gaps where skipped)",
      );
      await slow.raw.expectNoFrame(200);
      // Now it reads again, it is no longer skipped.
      assert.deepEqual(srv.wss.publish("feed", "caught up"), { sent: 4, dropped: 0 });
      const last = await slow.raw.nextFrame(5000);
      assert.equal(last.payload.toString(), "caught up");
    } finally {
      slow.raw.destroy();
      await closeAll(srv, healthy);
    }
  });

  test('policy "close": the slow subscriber is closed with 1008, the others keep receiving', {
    timeout: 60_000,
  }, async () => {
    const srv = await startPubSub({
      maxBackpressure: LIMIT,
      backpressurePolicy: "close",
      closeTimeout: 10_000,
    });
    const healthy = await connectPeers(srv, 2);
    for (const p of healthy) p.server.subscribe("feed");
    const slow = await slowSubscriber(srv, "feed");
    const serverClosed = waitEvent<[number, Buffer]>(slow.server, "close", 50_000);
    try {
      const run = await publishUntilSlow(srv, healthy, slow.server, (r) => r.dropped > 0);
      assert.equal(run.dropped, 1, "the slow subscriber counted once as dropped");
      assert.equal(slow.server.readyState, slow.server.CLOSING, "it is being closed");
      // Later publishes go on without it.
      const after = srv.wss.publish("feed", numbered(run.published));
      assert.deepEqual(after, { sent: 2, dropped: 0 }, "a closing subscriber is not sent to");

      // The slow peer reads again: its backlog, then a close frame with 1008.
      slow.raw.socket.resume();
      const { data, close } = await readUntilClose(slow, 20_000);
      assert.equal(data.length, run.published - 1, "everything queued before the close");
      assert.equal(close.payload.readUInt16BE(0), 1008, "close code 1008 (policy violation)");
      slow.raw.write(closeFrame(1008, "", { mask: true }));
      const [code] = await serverClosed;
      assert.equal(code, 1008, "the server-side socket closes with 1008");
      assert.equal(srv.wss.subscriberCount("feed"), 2, "and left the topic");

      for (const p of healthy) {
        await receivedCount(p, run.published + 1, 20_000);
        const seq = p.received.map((m) => m.bytes.readUInt32BE(0));
        assert.deepEqual(
          seq,
          Array.from({ length: run.published + 1 }, (_, i) => i),
        );
      }
    } finally {
      slow.raw.destroy();
      await closeAll(srv, healthy);
    }
  });

  test(
    'policy "close": subscribers closed while one publish iterates do not disturb it',
    T,
    async () => {
      const srv = await startPubSub({ maxBackpressure: LIMIT, backpressurePolicy: "close" });
      const peers = await connectPeers(srv, 5);
      try {
        // Subscription order: slow, healthy, slow, healthy, slow. A subscriber is made "slow" by
        // queueing more than the limit in this same tick (the backlog counts what the sender holds).
        const slowOnes = [peers[0]!, peers[2]!, peers[4]!];
        const healthyOnes = [peers[1]!, peers[3]!];
        for (const p of peers) p.server.subscribe("iter");
        for (const p of slowOnes) p.server.send(Buffer.alloc(LIMIT + KiB));
        const closes = slowOnes.map((p) => waitEvent<[number, Buffer]>(p.client, "close"));
        const result = srv.wss.publish("iter", "during");
        assert.deepEqual(result, { sent: 2, dropped: 3 }, "2 sent, 3 closed");
        for (const p of slowOnes)
          assert.equal(p.server.readyState, p.server.CLOSING, "slow one closing");
        assert.deepEqual(srv.wss.publish("iter", "after"), { sent: 2, dropped: 0 });
        for (const p of healthyOnes) {
          await receivedCount(p, 2);
          assert.deepEqual(texts(p), ["during", "after"]);
        }
        for (const [i, closed] of closes.entries()) {
          const [code] = await closed;
          assert.equal(code, 1008, `slow subscriber ${i} closed with 1008`);
          assert.equal(
            slowOnes[i]!.received.length,
            1,
            "it got what was queued before, not the publish",
          );
        }
        await until(
          () => srv.wss.subscriberCount("iter") === 2,
          5000,
          "closed ones left the topic",
        );
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test('policy "drop": skipped while over the limit, sent to again once under it', T, async () => {
    const srv = await startPubSub({ maxBackpressure: LIMIT });
    const peers = await connectPeers(srv, 3);
    try {
      for (const p of peers) p.server.subscribe("d");
      const busy = peers[1]!;
      busy.server.send(Buffer.alloc(LIMIT + KiB));
      assert.deepEqual(srv.wss.publish("d", "skipped"), { sent: 2, dropped: 1 });
      assert.equal(busy.server.readyState, busy.server.OPEN, "drop does not close");
      await until(() => busy.server.bufferedAmount === 0, 5000, "the busy socket flushed");
      assert.deepEqual(srv.wss.publish("d", "delivered"), { sent: 3, dropped: 0 });
      await receivedCount(busy, 2);
      assert.equal(busy.received[0]!.bytes.length, LIMIT + KiB);
      assert.equal(busy.received[1]!.text, "delivered", "the skipped message never arrives");
      for (const p of [peers[0]!, peers[2]!]) {
        await receivedCount(p, 2);
        assert.deepEqual(texts(p), ["skipped", "delivered"]);
      }
    } finally {
      await closeAll(srv, peers);
    }
  });

  test("broadcast applies the same policy", T, async () => {
    const srv = await startPubSub({ maxBackpressure: LIMIT, backpressurePolicy: "close" });
    const peers = await connectPeers(srv, 2);
    try {
      const closed = waitEvent<[number, Buffer]>(peers[0]!.client, "close");
      peers[0]!.server.send(Buffer.alloc(LIMIT + KiB));
      assert.deepEqual(srv.wss.broadcast("all"), { sent: 1, dropped: 1 });
      const [code] = await closed;
      assert.equal(code, 1008);
      await receivedCount(peers[1]!, 1);
      assert.deepEqual(texts(peers[1]!), ["all"]);
    } finally {
      await closeAll(srv, peers);
    }
  });
});
