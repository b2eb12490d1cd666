/**
 * permessage-deflate under attack (reliability.md §1.8–1.10, §3.15, 3.16; §2.4.3): decompression
 * bombs in one frame and spread over fragments (both roles), the size limit off by one after
 * inflating, corrupt streams, and the zlib concurrency limiter under load and under sockets
 * destroyed mid-compression (ws#1617). The per-connection cost of zlib contexts (§3.15) is
 * measured in a fresh process by churn.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "../../src/index.js";
import { limiterStats } from "../../src/node/deflate.js";
import { ErrorCodes, type ProtocolError } from "../../src/protocol/errors.js";
import { headerValue, Opcode, RawServer } from "../helpers/index.js";
import {
  assertEchoes,
  deflatedZeros,
  deflateMessage,
  gcNow,
  KiB,
  liveBytes,
  MiB,
  openRaw,
  peakExternal,
  Recorder,
  type SecServer,
  settle,
  sleep,
  startServer,
  within,
} from "../helpers/sec-util.js";

const T = { timeout: 60_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };
const OFFER = { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } };

describe("decompression bombs and the inflated size limit", SUITE, () => {
  let srv: SecServer;
  let bomb: Buffer;
  before(async () => {
    srv = await startServer({ perMessageDeflate: true, maxPayload: MiB });
    bomb = await deflatedZeros(256 * MiB); // ≈ 256 KiB on the wire, under the 1 MiB limit
  });
  after(async () => {
    await srv.close();
  });

  async function openDeflate() {
    const opened = await openRaw(srv, OFFER);
    assert.equal(
      headerValue(opened.raw.response, "sec-websocket-extensions"),
      "permessage-deflate",
    );
    return opened;
  }

  test(
    "1.10 one frame inflating to 256 MiB: 1009, bounded memory, the next client is served",
    T,
    async (t) => {
      assert.ok(bomb.length < MiB, `bomb is ${bomb.length} bytes`);
      const { raw, server } = await openDeflate();
      try {
        gcNow();
        const peak = peakExternal();
        raw.sendFrame({ opcode: Opcode.BINARY, payload: bomb, rsv1: true });
        const close = await raw.expectClose(10_000);
        const grown = peak.stop();
        t.diagnostic(`peak external growth ${(grown / MiB).toFixed(2)} MiB`);
        assert.equal(close.code, 1009);
        await raw.waitForTcpEnd(3000);
        await server.closed();
        server.assertSafeEnd(1);
        assert.equal(
          (server.errors[0] as ProtocolError).code,
          ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH,
        );
        assert.equal(server.messages.length, 0);
        // The inflated form would be 256 MiB; the limit is 1 MiB, plus a zlib context and the
        // compressed frame itself.
        assert.ok(grown < 8 * MiB, `external grew by ${(grown / MiB).toFixed(1)} MiB`);
      } finally {
        raw.destroy();
      }
      await assertEchoes(srv.url, { perMessageDeflate: true, size: 4 * KiB });
    },
  );

  test("1.10 the same bomb spread over 64 fragments: 1009 on the running total", T, async (t) => {
    const { raw, server } = await openDeflate();
    try {
      gcNow();
      const peak = peakExternal();
      const step = Math.ceil(bomb.length / 64);
      for (let i = 0; i < 64; i++) {
        raw.sendFrame({
          opcode: i === 0 ? Opcode.BINARY : Opcode.CONTINUATION,
          payload: bomb.subarray(i * step, (i + 1) * step),
          rsv1: i === 0,
          fin: i === 63,
        });
      }
      const close = await raw.expectClose(10_000);
      const grown = peak.stop();
      t.diagnostic(`peak external growth ${(grown / MiB).toFixed(2)} MiB`);
      assert.equal(close.code, 1009);
      await raw.waitForTcpEnd(3000);
      await server.closed();
      server.assertSafeEnd(1);
      assert.ok(grown < 8 * MiB, `external grew by ${(grown / MiB).toFixed(1)} MiB`);
    } finally {
      raw.destroy();
    }
  });

  test(
    "3.16 compressed: inflating to exactly maxPayload is delivered, one byte more is 1009",
    T,
    async () => {
      const limited = await startServer({ perMessageDeflate: true, maxPayload: 1000 });
      try {
        const { raw, server } = await openRaw(limited, OFFER);
        try {
          raw.sendFrame({
            opcode: Opcode.BINARY,
            payload: deflateMessage(Buffer.alloc(1000, 7)),
            rsv1: true,
          });
          await server.until(() => server.messages.length === 1, 3000, "message at the limit");
          assert.equal(server.messages[0]?.data.length, 1000);
          raw.sendFrame({
            opcode: Opcode.BINARY,
            payload: deflateMessage(Buffer.alloc(1001, 7)),
            rsv1: true,
          });
          const close = await raw.expectClose(3000, { skipOtherFrames: true });
          assert.equal(close.code, 1009);
          await server.closed();
          server.assertSafeEnd(1);
          assert.equal(server.messages.length, 1);
        } finally {
          raw.destroy();
        }
      } finally {
        await limited.close();
      }
    },
  );

  test(
    "2.4.3 a corrupt deflate stream is 1007, no crash, and compression still works for others",
    T,
    async () => {
      const { raw, server } = await openDeflate();
      try {
        raw.sendFrame({
          opcode: Opcode.TEXT,
          payload: Buffer.from([0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x01]),
          rsv1: true,
        });
        assert.equal((await raw.expectClose(3000)).code, 1007);
        await server.closed();
        server.assertSafeEnd(1);
        assert.equal((server.errors[0] as ProtocolError).code, ErrorCodes.INVALID_COMPRESSED_DATA);
      } finally {
        raw.destroy();
      }
      await assertEchoes(srv.url, { perMessageDeflate: true, size: 4 * KiB });
    },
  );

  test("1.10 client side: a server's bomb is 1009 for the client too", T, async () => {
    const raw = await RawServer.listen();
    try {
      const client = new WebSocket(raw.url(), { maxPayload: MiB });
      const recorder = new Recorder(client);
      const conn = await raw.accept(10_000);
      await conn.respond({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
      await recorder.opened();
      const peak = peakExternal();
      conn.sendFrame({ opcode: Opcode.BINARY, payload: bomb, rsv1: true });
      const close = await conn.expectClose(10_000);
      const grown = peak.stop();
      assert.equal(close.code, 1009);
      await recorder.closed();
      recorder.assertSafeEnd(1);
      assert.ok(grown < 8 * MiB, `external grew by ${(grown / MiB).toFixed(1)} MiB`);
    } finally {
      await raw.close();
    }
  });
});

describe("the zlib limiter and zlib memory (1.8, 1.9, 3.15)", SUITE, () => {
  /** Text that deflate has to work on (not all zeros), `size` bytes. */
  function workload(size: number, seed: number): string {
    let out = "";
    let x = seed;
    while (out.length < size) {
      x = (x * 1103515245 + 12345) >>> 0;
      out += `${(x >>> 8).toString(36)} lorem ipsum ${x & 0xff} `;
    }
    return out.slice(0, size);
  }

  async function openClients(
    url: string,
    count: number,
    options: object = {},
  ): Promise<Recorder[]> {
    const recorders: Recorder[] = [];
    for (let i = 0; i < count; i++)
      recorders.push(new Recorder(new WebSocket(url, { perMessageDeflate: true, ...options })));
    await Promise.all(recorders.map((r) => r.opened(10_000)));
    return recorders;
  }

  async function closeAll(recorders: Recorder[]): Promise<void> {
    for (const r of recorders) r.ws.terminate();
    await Promise.all(recorders.map((r) => r.closed(5000)));
  }

  async function limiterIdle(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const stats = limiterStats();
      if (stats.running === 0 && stats.queued === 0) return;
      await sleep(10);
    }
    assert.deepEqual(
      limiterStats(),
      { running: 0, queued: 0, concurrency: 10 },
      "limiter slots leaked",
    );
  }

  test(
    "1.9 destroying 50 sockets mid-compression leaks no limiter slot: a fresh echo answers within 1 s",
    T,
    async () => {
      const srv = await startServer({ perMessageDeflate: true });
      try {
        const clients = await openClients(srv.url, 50);
        const big = workload(MiB, 7);
        // Every client starts a 1 MiB compressed send (its own deflate job, then the server's
        // inflate and echo deflate); all are destroyed while those jobs are queued or running.
        for (const c of clients) c.ws.send(big);
        await sleep(5);
        for (const c of clients) c.ws.terminate();
        for (const s of srv.connections) s.ws.terminate();
        await Promise.all(clients.map((c) => c.closed(5000)));

        const fresh = new Recorder(new WebSocket(srv.url, { perMessageDeflate: true }));
        await fresh.opened(5000);
        assert.equal(fresh.ws.extensions, "permessage-deflate");
        const message = workload(4 * KiB, 9);
        const started = Date.now();
        fresh.ws.send(message);
        await within(
          fresh.until(() => fresh.messages.length === 1, 5000, "compressed echo"),
          1000,
          "compressed echo after the destroyed sends",
        );
        assert.equal(fresh.messages[0]?.data.toString(), message);
        assert.ok(Date.now() - started <= 1000);
        fresh.ws.close();
        await fresh.closed();
        await limiterIdle();
      } finally {
        await srv.close();
      }
    },
  );

  test(
    "1.8 100 clients × 20 compressible 16 KiB messages: zlib jobs never exceed the limit; memory returns",
    T,
    async (t) => {
      const srv = await startServer({ perMessageDeflate: true });
      try {
        const message = workload(16 * KiB, 3);
        // Warm-up round at the same concurrency: V8 frees the buffers of closed zlib streams
        // lazily, so what stays after the first 100 pairs is a high-water mark that later rounds
        // reuse, not a per-connection leak. The baseline is taken after it.
        const warm = await openClients(srv.url, 100);
        for (const c of warm) c.ws.send(message);
        await Promise.all(warm.map((c) => c.until(() => c.messages.length === 1, 30_000, "echo")));
        await closeAll(warm);
        warm.length = 0;
        srv.connections.length = 0;
        await limiterIdle();
        await settle();
        const baseline = { ...liveBytes(), rss: process.memoryUsage().rss };
        const clients = await openClients(srv.url, 100);
        let peak = 0;
        let sampling = true;
        const sample = (): void => {
          peak = Math.max(peak, limiterStats().running);
          if (sampling) setImmediate(sample);
        };
        sample();
        for (const s of srv.connections)
          s.ws.on("message", () => {
            peak = Math.max(peak, limiterStats().running);
          });
        for (let round = 0; round < 20; round++) for (const c of clients) c.ws.send(message);
        await Promise.all(
          clients.map((c) => c.until(() => c.messages.length === 20, 30_000, "20 echoes")),
        );
        sampling = false;
        for (const c of clients) assert.equal(c.messages[19]?.data.toString(), message);
        assert.ok(peak >= 1 && peak <= 10, `peak zlib jobs ${peak} (limit 10)`);
        await closeAll(clients);
        await srv.close();
        await limiterIdle();
        // The app lets go of its sockets (the recorders also keep 64 MB of messages). What a
        // closed socket still holds while referenced is the next test's subject.
        clients.length = 0;
        srv.connections.length = 0;
        await settle();
        const now = { ...liveBytes(), rss: process.memoryUsage().rss };
        t.diagnostic(
          `peak jobs ${peak}; after close: heap+external +${((now.total - baseline.total) / MiB).toFixed(1)} MiB, rss +${((now.rss - baseline.rss) / MiB).toFixed(1)} MiB`,
        );
        assert.ok(now.total - baseline.total < 4 * MiB, "zlib contexts and buffers are released");
        assert.ok(now.rss - baseline.rss < 256 * MiB, "RSS does not run away");
      } finally {
        await srv.close().catch(() => {});
      }
    },
  );

  test(
    "1.8/3.15 a closed socket releases its zlib streams even while the app still holds it",
    T,
    async (t) => {
      const srv = await startServer({ perMessageDeflate: true });
      try {
        const round = async (): Promise<Recorder[]> => {
          const clients = await openClients(srv.url, 50);
          for (const c of clients) c.ws.send(workload(4 * KiB, 1));
          await Promise.all(
            clients.map((c) => c.until(() => c.messages.length === 1, 10_000, "echo")),
          );
          await closeAll(clients);
          for (const c of clients) c.messages.length = 0;
          return clients;
        };
        // Warm-up round, dropped: V8 reuses the freed buffers of closed streams lazily.
        await round();
        srv.connections.length = 0;
        await limiterIdle();
        await settle();
        const before = process.memoryUsage().external;
        // The app keeps its closed sockets (a room list not yet cleaned up, say).
        const kept = await round();
        const serverSide = srv.connections.slice();
        for (const r of serverSide) r.messages.length = 0;
        await limiterIdle();
        await settle();
        const perSocket =
          (process.memoryUsage().external - before) / (kept.length + serverSide.length);
        t.diagnostic(
          `external memory held per closed, still referenced socket: ${(perSocket / KiB).toFixed(1)} KiB`,
        );
        assert.equal(kept.length, 50);
        assert.ok(kept.every((c) => c.ws.readyState === WebSocket.CLOSED));
        // README: "zlib contexts are created on first use and freed on close". Each zlib stream
        // owns a 16 KiB output buffer; nothing of them should outlive the connection.
        assert.ok(
          perSocket < 8 * KiB,
          `a closed socket still holds ${(perSocket / KiB).toFixed(1)} KiB of zlib buffers`,
        );
      } finally {
        await srv.close();
      }
    },
  );
});
