/**
 * Frame-level attacks on a live server (and, where the rule is symmetric, on the client): forged
 * lengths, payloads over the limit, fragment and chunk floods, ping and pong floods
 * (reliability.md §1.2, 1.7, 1.14–1.16, 1.19, 1.27, §3.8–3.11, 3.16, 3.17).
 *
 * Every case applies the oracle of reliability.md §0: the offending connection gets the close
 * code on the wire and then a TCP end, the server socket reports one `error` and one `close`,
 * memory is bounded by the limits, and another client keeps being served.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "../../src/index.js";
import { ErrorCodes, type ProtocolError } from "../../src/protocol/errors.js";
import { FrameParser, type FrameParserEvents } from "../../src/protocol/frame-parser.js";
import type { MessageInflater } from "../../src/protocol/types.js";
import { forgeFrame, Opcode, type RawClient, RawServer } from "../helpers/index.js";
import {
  assertEchoes,
  gcNow,
  liveBytes,
  MiB,
  medianMs,
  openRaw,
  Recorder,
  type SecServer,
  sleep,
  startServer,
} from "../helpers/sec-util.js";

const T = { timeout: 20_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };
const KEY = Buffer.from([0x11, 0x22, 0x33, 0x44]);

/** `count` copies of one frame in one buffer (floods are built once, written in one go). */
function repeat(frame: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(out, i * frame.length);
  return out;
}

/** The server-side transport of a recorded connection (to watch how much it has read). */
function transport(recorder: Recorder): Socket {
  return (recorder.ws as unknown as { _socket: Socket })._socket;
}

/** Waits until the server has read `bytes` bytes (or its socket closed). */
async function serverRead(recorder: Recorder, bytes: number, ms = 10_000): Promise<void> {
  const socket = transport(recorder);
  const deadline = Date.now() + ms;
  while (socket.bytesRead < bytes && !socket.destroyed) {
    if (Date.now() > deadline) throw new Error(`server read ${socket.bytesRead} of ${bytes} bytes`);
    await sleep(5);
  }
}

/** Asserts the close code on the wire, then a TCP end, then the server's one error + close. */
async function assertFailed(
  raw: RawClient,
  server: Recorder,
  code: number,
  errorCode: string,
): Promise<void> {
  const close = await raw.expectClose(3000);
  assert.equal(close.code, code);
  await raw.waitForTcpEnd(3000);
  await server.closed(3000);
  server.assertSafeEnd(1);
  assert.equal((server.errors[0] as ProtocolError).code, errorCode);
  assert.equal(server.closes[0]?.code, 1006, "no close frame came back: 1006 locally");
  assert.equal(server.messages.length, 0, "nothing of the offending message is delivered");
}

describe("frame attacks on the server", SUITE, () => {
  let srv: SecServer;
  let limited: SecServer;
  before(async () => {
    srv = await startServer();
    limited = await startServer({ maxPayload: 1000 });
  });
  after(async () => {
    await srv.close();
    await limited.close();
  });

  test(
    "1.14 a 64-bit length with the top bit set fails with 1002 at once (no body needed)",
    T,
    async () => {
      for (const announced of [2n ** 63n, 2n ** 64n - 1n]) {
        const { raw, server } = await openRaw(srv);
        try {
          raw.sendFrame({ opcode: Opcode.BINARY, announcedLength: announced, lengthEncoding: 64 });
          await assertFailed(raw, server, 1002, ErrorCodes.INVALID_PAYLOAD_LENGTH);
        } finally {
          raw.destroy();
        }
      }
      await assertEchoes(srv.url);
    },
  );

  test("1.14 a 64-bit length of 2^53 (not representable) fails with 1009 at once", T, async () => {
    const { raw, server } = await openRaw(srv);
    try {
      raw.sendFrame({ opcode: Opcode.TEXT, announcedLength: 2n ** 53n, lengthEncoding: 64 });
      await assertFailed(raw, server, 1009, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH);
    } finally {
      raw.destroy();
    }
  });

  test(
    "1.2 a header announcing maxPayload+1 bytes is failed with 1009 before any body byte",
    T,
    async () => {
      const { raw, server } = await openRaw(limited);
      try {
        // Only the 8-byte header (16-bit length + key) is sent; the body never comes.
        raw.sendFrame({ opcode: Opcode.BINARY, announcedLength: 1001 });
        await assertFailed(raw, server, 1009, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH);
      } finally {
        raw.destroy();
      }
    },
  );

  test(
    "1.2 fragments under the limit whose sum is over it: 1009 on the crossing fragment",
    T,
    async () => {
      const { raw, server } = await openRaw(limited);
      try {
        const piece = Buffer.alloc(400, 0x61);
        raw.sendFrame({ opcode: Opcode.BINARY, payload: piece, fin: false });
        raw.sendFrame({ opcode: Opcode.CONTINUATION, payload: piece, fin: false });
        await raw.expectNoFrame(200); // 800 of 1000 bytes: nothing wrong yet
        raw.sendFrame({ opcode: Opcode.CONTINUATION, payload: piece, fin: true });
        await assertFailed(raw, server, 1009, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH);
      } finally {
        raw.destroy();
      }
    },
  );

  test(
    "3.16 exactly maxPayload bytes is delivered, whole or fragmented; maxPayload+1 is 1009",
    T,
    async () => {
      const { raw, server } = await openRaw(limited);
      try {
        const exact = Buffer.alloc(1000, 0x62);
        raw.sendFrame({ opcode: Opcode.BINARY, payload: exact });
        const echoed = await raw.nextFrame(3000);
        assert.equal(echoed.payload.length, 1000);
        raw.sendFrame({ opcode: Opcode.BINARY, payload: exact.subarray(0, 600), fin: false });
        raw.sendFrame({ opcode: Opcode.CONTINUATION, payload: exact.subarray(600) });
        assert.equal((await raw.nextFrame(3000)).payload.length, 1000);
        assert.equal(server.messages.length, 2);
        raw.sendFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(1001) });
        const close = await raw.expectClose(3000);
        assert.equal(close.code, 1009);
        await raw.waitForTcpEnd(3000);
        await server.closed();
        server.assertSafeEnd(1);
        assert.equal(server.messages.length, 2, "the 1001-byte message is not delivered");
      } finally {
        raw.destroy();
      }
    },
  );

  test(
    "1.16/1.19 the default maxPayload (100 MiB, documented) is enforced on the announced length",
    T,
    async () => {
      assert.equal(srv.wss.options.maxPayload, 100 * MiB);
      const { raw, server } = await openRaw(srv);
      try {
        // Exactly the limit is acceptable: the server waits for the body.
        raw.sendFrame({ opcode: Opcode.BINARY, announcedLength: 100 * MiB, lengthEncoding: 64 });
        await raw.expectNoFrame(300);
        assert.equal(server.closes.length, 0);
      } finally {
        raw.destroy();
      }
      const { raw: raw2, server: server2 } = await openRaw(srv);
      try {
        raw2.sendFrame({
          opcode: Opcode.BINARY,
          announcedLength: 100 * MiB + 1,
          lengthEncoding: 64,
        });
        await assertFailed(raw2, server2, 1009, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH);
      } finally {
        raw2.destroy();
      }
    },
  );

  test(
    "1.7/3.10 empty fragments count: 131,072 fragments pass, one more is 1008; memory stays flat",
    T,
    async () => {
      const first = forgeFrame({
        opcode: Opcode.TEXT,
        payload: "a",
        fin: false,
        mask: true,
        maskingKey: KEY,
      });
      const empty = forgeFrame({
        opcode: Opcode.CONTINUATION,
        fin: false,
        mask: true,
        maskingKey: KEY,
      });
      const last = forgeFrame({
        opcode: Opcode.CONTINUATION,
        payload: "z",
        mask: true,
        maskingKey: KEY,
      });

      // Exactly the default limit: first + 131,070 empty + last = 131,072 frames → delivered.
      const { raw, server } = await openRaw(srv);
      try {
        const flood = repeat(empty, 131_070);
        gcNow();
        const before = liveBytes();
        raw.write(first);
        raw.write(flood);
        await serverRead(server, first.length + flood.length);
        await sleep(50);
        gcNow();
        const grown = liveBytes().total - before.total;
        // The flood itself (786 KB) sits in our own write buffer at worst; a receiver keeping an
        // object per fragment would hold ~100 bytes × 131,070 ≈ 13 MB.
        assert.ok(grown < 4 * MiB, `memory grew by ${(grown / MiB).toFixed(1)} MiB`);
        raw.write(last);
        const echoed = await raw.nextFrame(5000);
        assert.equal(echoed.payload.toString(), "az");
      } finally {
        raw.destroy();
      }

      // One more empty fragment: 131,073 → 1008 at the fragment that crosses the limit.
      const { raw: raw2, server: server2 } = await openRaw(srv);
      try {
        raw2.write(first);
        raw2.write(repeat(empty, 131_071));
        raw2.write(last);
        await assertFailed(raw2, server2, 1008, ErrorCodes.TOO_MANY_FRAGMENTS);
      } finally {
        raw2.destroy();
      }
      await assertEchoes(srv.url);
    },
  );

  test("1.7/3.11 a frame dribbled in 1-byte TCP writes is delivered intact", T, async () => {
    const { raw, server } = await openRaw(srv);
    try {
      const frame = forgeFrame({
        opcode: Opcode.TEXT,
        payload: "hello",
        mask: true,
        maskingKey: KEY,
      });
      await raw.writeByteByByte(frame, 2);
      const echoed = await raw.nextFrame(3000);
      assert.equal(echoed.payload.toString(), "hello");
      assert.equal(server.messages.length, 1);
      assert.equal(server.errors.length, 0);
    } finally {
      raw.destroy();
    }
  });

  test(
    "3.8 ping flood: 100,000 pings with reading paused → bounded memory, others served",
    T,
    async () => {
      const { raw, server } = await openRaw(srv);
      try {
        raw.socket.pause(); // never read our pongs
        const ping = forgeFrame({
          opcode: Opcode.PING,
          payload: "12345678",
          mask: true,
          maskingKey: KEY,
        });
        const flood = repeat(ping, 100_000); // 1.4 MB
        gcNow();
        const before = liveBytes();
        raw.write(flood);
        // Whatever the server does (answer, or stop reading while its pongs cannot be written),
        // it settles; then memory is measured.
        let last = -1;
        for (let i = 0; i < 200 && transport(server).bytesRead !== last; i++) {
          last = transport(server).bytesRead;
          await sleep(50);
        }
        await assertEchoes(srv.url);
        gcNow();
        const grown = liveBytes().total - before.total;
        // Our own 1.4 MB flood may still sit in our write buffer; unbounded pongs would be far more.
        assert.ok(grown < 8 * MiB, `memory grew by ${(grown / MiB).toFixed(1)} MiB`);
        assert.equal(server.closes.length, 0, "a ping flood is not a protocol error");
        // Once we read again, the pongs flow and the connection still works.
        raw.socket.resume();
        const pong = await raw.nextFrame(5000);
        assert.equal(pong.opcode, Opcode.PONG);
      } finally {
        raw.destroy();
      }
    },
  );

  test("3.9 pong flood: 100,000 unsolicited pongs are ignored cheaply", T, async () => {
    const { raw, server } = await openRaw(srv);
    try {
      const pong = forgeFrame({ opcode: Opcode.PONG, mask: true, maskingKey: KEY });
      const flood = repeat(pong, 100_000);
      gcNow();
      const before = liveBytes();
      raw.write(flood);
      await serverRead(server, flood.length);
      await server.until(() => server.pongs === 100_000, 5000, "all pongs parsed");
      gcNow();
      const grown = liveBytes().total - before.total;
      assert.ok(grown < 4 * MiB, `memory grew by ${(grown / MiB).toFixed(1)} MiB`);
      await raw.expectNoFrame(100); // nothing is sent back for a pong
      raw.sendFrame({ opcode: Opcode.TEXT, payload: "still here" });
      assert.equal((await raw.nextFrame(3000)).payload.toString(), "still here");
      assert.equal(server.errors.length, 0);
    } finally {
      raw.destroy();
    }
  });

  test(
    "1.15 a length that disagrees with the bytes sent stalls; it never desyncs into headers",
    T,
    async () => {
      const { raw, server } = await openRaw(srv);
      try {
        // Announces 20 bytes, sends 10: the server must wait, not parse what follows as a header.
        const frame = forgeFrame({
          opcode: Opcode.BINARY,
          payload: Buffer.alloc(20, 0x41),
          mask: true,
          maskingKey: KEY,
        });
        raw.write(frame.subarray(0, frame.length - 10));
        await raw.expectNoFrame(200);
        assert.equal(server.messages.length, 0);
        raw.write(frame.subarray(frame.length - 10));
        assert.deepEqual((await raw.nextFrame(3000)).payload, Buffer.alloc(20, 0x41));
        raw.sendFrame({ opcode: Opcode.TEXT, payload: "next" });
        assert.equal((await raw.nextFrame(3000)).payload.toString(), "next");
      } finally {
        raw.destroy();
      }
    },
  );

  test(
    "1.27 every limit violation ends in its close code and a TCP end, well before closeTimeout",
    T,
    async () => {
      // closeTimeout is the default 30 s: an end within 2 s is the failure path, not the timeout.
      const cases: Array<{ name: string; frames: Buffer[]; code: number }> = [
        {
          name: "announced length over maxPayload",
          frames: [
            forgeFrame({
              opcode: Opcode.BINARY,
              announcedLength: 5000,
              mask: true,
              maskingKey: KEY,
            }),
          ],
          code: 1009,
        },
        {
          name: "sum of fragments over maxPayload",
          frames: [
            forgeFrame({
              opcode: Opcode.BINARY,
              payload: Buffer.alloc(700),
              fin: false,
              mask: true,
              maskingKey: KEY,
            }),
            forgeFrame({
              opcode: Opcode.CONTINUATION,
              payload: Buffer.alloc(700),
              mask: true,
              maskingKey: KEY,
            }),
          ],
          code: 1009,
        },
        {
          name: "64-bit length with the top bit set",
          frames: [
            forgeFrame({
              opcode: Opcode.BINARY,
              announcedLength: 2n ** 63n,
              lengthEncoding: 64,
              mask: true,
            }),
          ],
          code: 1002,
        },
      ];
      for (const c of cases) {
        const { raw, server } = await openRaw(limited);
        try {
          const started = Date.now();
          for (const frame of c.frames) raw.write(frame);
          const close = await raw.expectClose(3000);
          assert.equal(close.code, c.code, c.name);
          await raw.waitForTcpEnd(3000);
          assert.ok(
            Date.now() - started < 2000,
            `${c.name}: TCP end took ${Date.now() - started} ms`,
          );
          await server.closed();
          server.assertSafeEnd(1);
        } finally {
          raw.destroy();
        }
      }
    },
  );
});

describe("frame attacks on the client (symmetric rules)", SUITE, () => {
  let raw: RawServer;
  before(async () => {
    raw = await RawServer.listen();
  });
  after(async () => {
    await raw.close();
  });

  async function openClient(options: { maxPayload?: number } = {}) {
    const client = new WebSocket(raw.url(), { perMessageDeflate: false, ...options });
    const recorder = new Recorder(client);
    const conn = await raw.acceptWebSocket(10_000);
    await recorder.opened();
    return { client, recorder, conn };
  }

  test("1.14 client: a 64-bit length with the top bit set fails with 1002", T, async () => {
    const { recorder, conn } = await openClient();
    conn.sendFrame({ opcode: Opcode.BINARY, announcedLength: 2n ** 63n, lengthEncoding: 64 });
    const close = await conn.expectClose(3000);
    assert.equal(close.code, 1002);
    assert.ok(close.frame.masked, "the client masks its close frame");
    await conn.waitForTcpEnd(3000);
    await recorder.closed();
    recorder.assertSafeEnd(1);
    assert.equal((recorder.errors[0] as ProtocolError).code, ErrorCodes.INVALID_PAYLOAD_LENGTH);
  });

  test(
    "1.2 client: a header announcing maxPayload+1 fails with 1009 before the body",
    T,
    async () => {
      const { recorder, conn } = await openClient({ maxPayload: 1000 });
      conn.sendFrame({ opcode: Opcode.BINARY, announcedLength: 1001 });
      const close = await conn.expectClose(3000);
      assert.equal(close.code, 1009);
      await conn.waitForTcpEnd(3000);
      await recorder.closed();
      recorder.assertSafeEnd(1);
      assert.equal(recorder.messages.length, 0);
    },
  );

  test("3.16 client: exactly maxPayload is delivered, one more byte is 1009", T, async () => {
    const { recorder, conn } = await openClient({ maxPayload: 1000 });
    conn.sendFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(1000, 1) });
    await recorder.until(() => recorder.messages.length === 1, 3000, "message at the limit");
    conn.sendFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(1001, 1) });
    assert.equal((await conn.expectClose(3000)).code, 1009);
    await recorder.closed();
    recorder.assertSafeEnd(1);
    assert.equal(recorder.messages.length, 1);
  });
});

describe("parser-level floods (the protocol core on its own)", SUITE, () => {
  function parser(options: { maxFragments?: number; maxPayload?: number } = {}) {
    const seen = { messages: [] as Buffer[], errors: [] as ProtocolError[], other: 0 };
    const events: FrameParserEvents = {
      onMessage: (data) => seen.messages.push(Buffer.from(data)),
      onPing: () => seen.other++,
      onPong: () => seen.other++,
      onClose: () => seen.other++,
      onError: (error) => seen.errors.push(error),
    };
    const p = new FrameParser(
      {
        isServer: false,
        maxPayload: options.maxPayload ?? 0,
        maxFragments: options.maxFragments ?? 100,
        skipUTF8Validation: false,
        inflater: null,
      },
      events,
    );
    return { p, seen };
  }
  const empty = forgeFrame({ opcode: Opcode.CONTINUATION, fin: false });

  test("1.7 a small maxFragments: the limit-th fragment passes, the next is 1008", T, () => {
    const ok = parser({ maxFragments: 100 });
    ok.p.push(forgeFrame({ opcode: Opcode.TEXT, payload: "a", fin: false }));
    ok.p.push(repeat(empty, 98));
    ok.p.push(forgeFrame({ opcode: Opcode.CONTINUATION, payload: "b" }));
    assert.equal(ok.seen.messages[0]?.toString(), "ab");
    assert.equal(ok.seen.errors.length, 0);

    const bad = parser({ maxFragments: 100 });
    bad.p.push(forgeFrame({ opcode: Opcode.TEXT, payload: "a", fin: false }));
    bad.p.push(repeat(empty, 200_000));
    assert.equal(bad.seen.errors.length, 1);
    assert.equal(bad.seen.errors[0]?.code, ErrorCodes.TOO_MANY_FRAGMENTS);
    assert.equal(bad.seen.errors[0]?.closeCode, 1008);
    assert.equal(bad.seen.messages.length + bad.seen.other, 0);
    assert.ok(bad.p.finished);
  });

  test(
    "1.7/3.11 a 1 MiB frame fed in 1-byte chunks retains memory ∝ bytes, not ∝ chunks",
    T,
    () => {
      const payload = Buffer.alloc(MiB);
      for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
      const frame = forgeFrame({ opcode: Opcode.BINARY, payload });
      const { p, seen } = parser({ maxFragments: 0 });
      gcNow();
      const before = liveBytes();
      for (let i = 0; i < frame.length - 1; i++) p.push(Buffer.from([frame[i] as number]));
      gcNow();
      const grown = liveBytes().total - before.total;
      // 1 MiB of payload is held; a Buffer per chunk would be ~1M objects (tens of MiB of heap).
      assert.ok(
        grown < 6 * MiB,
        `holding a 1 MiB body in 1-byte chunks took ${(grown / MiB).toFixed(1)} MiB`,
      );
      p.push(frame.subarray(frame.length - 1));
      assert.equal(seen.messages.length, 1);
      assert.ok(seen.messages[0]?.equals(payload));
    },
  );

  test("1.7 a message of 100,000 one-byte fragments retains memory ∝ bytes", T, () => {
    const one = forgeFrame({ opcode: Opcode.CONTINUATION, payload: "x", fin: false });
    const { p, seen } = parser({ maxFragments: 131_072 });
    gcNow();
    const before = liveBytes();
    p.push(forgeFrame({ opcode: Opcode.BINARY, payload: "x", fin: false }));
    for (let i = 0; i < 100_000; i++) p.push(one);
    gcNow();
    const grown = liveBytes().total - before.total;
    assert.ok(grown < 4 * MiB, `100,000 fragments held ${(grown / MiB).toFixed(1)} MiB`);
    p.push(forgeFrame({ opcode: Opcode.CONTINUATION, payload: "x" }));
    assert.equal(seen.messages[0]?.length, 100_002);
  });

  test("1.15 after a fatal error the parser emits nothing more, whatever follows", T, () => {
    const { p, seen } = parser();
    p.push(
      Buffer.concat([
        forgeFrame({ opcode: Opcode.TEXT, payload: "before" }),
        forgeFrame({ opcode: Opcode.BINARY, announcedLength: 2n ** 63n, lengthEncoding: 64 }),
        forgeFrame({ opcode: Opcode.TEXT, payload: "after" }),
        forgeFrame({ opcode: Opcode.PING }),
      ]),
    );
    p.push(forgeFrame({ opcode: Opcode.TEXT, payload: "later" }));
    assert.deepEqual(
      seen.messages.map((m) => m.toString()),
      ["before"],
    );
    assert.equal(seen.errors.length, 1);
    assert.equal(seen.other, 0);
  });

  test(
    "1.15 chunks that arrive while the inflater works are parsed in arrival order (fuzzer find)",
    T,
    () => {
      // Found by scripts/fuzz.mjs (frame-inflate): with an asynchronous inflater, a chunk pushed
      // while the parser sat at the end of its current chunk with others still queued jumped the
      // queue, reordering the stream (and desyncing frames that straddle chunks).
      const pending: Array<() => void> = [];
      const inflater: MessageInflater = {
        decompress(data, fin, callback) {
          const copy = Buffer.from(data);
          pending.push(() => (fin ? callback(null, copy) : callback(null)));
        },
      };
      const seen: string[] = [];
      const p = new FrameParser(
        { isServer: false, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater },
        {
          onMessage: (data) => seen.push(data.toString()),
          onPing: () => seen.push("ping"),
          onPong: () => seen.push("pong"),
          onClose: () => seen.push("close"),
          onError: (error) => seen.push(error.code),
        },
      );
      const compressed = (text: string) =>
        forgeFrame({ opcode: Opcode.TEXT, payload: text, rsv1: true });
      p.push(compressed("one")); // inflating "one"
      p.push(compressed("two")); // waits
      p.push(forgeFrame({ opcode: Opcode.TEXT, payload: "three" })); // queued behind it
      pending.shift()?.(); // "one" done: "two" is parsed to its end, inflating again
      p.push(forgeFrame({ opcode: Opcode.TEXT, payload: "four" })); // must wait behind "three"
      pending.shift()?.();
      assert.deepEqual(seen, ["one", "two", "three", "four"]);
    },
  );

  test("3.17 UTF-8 validation of large text messages is linear (8 MiB vs 64 MiB)", {
    timeout: 60_000,
  }, () => {
    // Multi-byte text (é = 2 bytes, € = 3 bytes, 𝄞 = 4 bytes), valid throughout.
    const unit = Buffer.from("aé€𝄞 ");
    const big = Buffer.alloc(64 * MiB);
    for (let at = 0; at + unit.length <= big.length; at += unit.length) unit.copy(big, at);
    const usable = big.subarray(0, big.length - (big.length % unit.length));
    const small = usable.subarray(0, 8 * MiB - ((8 * MiB) % unit.length));
    const frameOf = (payload: Buffer) =>
      Buffer.concat([
        forgeFrame({ opcode: Opcode.TEXT, announcedLength: payload.length }),
        payload,
      ]);
    const bigFrame = frameOf(usable);
    const smallFrame = frameOf(small);
    const run = (frame: Buffer) => () => {
      const { p, seen } = parser();
      p.push(frame);
      assert.equal(seen.messages.length, 1);
    };
    const tSmall = medianMs(run(smallFrame), 5);
    const tBig = medianMs(run(bigFrame), 3);
    // 8× the bytes: linear is ≈ 8×, quadratic would be ≈ 64×. Generous bound for a busy machine.
    assert.ok(
      tBig < Math.max(tSmall, 1) * 40,
      `8 MiB: ${tSmall.toFixed(1)} ms, 64 MiB: ${tBig.toFixed(1)} ms`,
    );
    // An invalid byte at the very end is still found: 1007.
    const bad = Buffer.from(usable);
    bad[bad.length - 1] = 0xff;
    const { p, seen } = parser();
    p.push(frameOf(bad));
    assert.equal(seen.errors[0]?.closeCode, 1007);
    assert.equal(seen.messages.length, 0);
  });
});
