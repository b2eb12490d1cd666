/**
 * Publishing: `server.publish`, `socket.publish`, `server.broadcast`; the frame encoded once and
 * the same Buffer queued to every subscriber; compression (RFC 7692) shared across
 * no-context-takeover subscribers and per subscriber with context takeover; per-subscriber
 * message order across publishes, sends, fragmented sends and compressed messages; and
 * subscribe/unsubscribe/close interleaved with publishes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, mock, test } from "node:test";
import type { WebSocket } from "../../src/index.js";
import { Sender } from "../../src/node/sender.js";
import type { ParsedFrame } from "../helpers/frame-reader.js";
import {
  closeAll,
  compressible,
  connectPeers,
  delay,
  framePayload,
  type Peer,
  rawSubscriber,
  receivedCount,
  startPubSub,
  texts,
  until,
  waitEvent,
} from "../helpers/pubsub-util.js";
import { headerValue } from "../helpers/raw-client.js";

const T = { timeout: 10_000 };

/** Sends a marker from the server and waits for it: everything sent before it has arrived. */
async function sync(peer: Peer): Promise<void> {
  const before = peer.received.length;
  peer.server.send("__sync__");
  await until(
    () => peer.received.slice(before).some((m) => m.text === "__sync__"),
    5000,
    "sync marker",
  );
  peer.received.splice(
    peer.received.findIndex((m, i) => i >= before && m.text === "__sync__"),
    1,
  );
}

/** Reads `count` frames from a raw subscriber. */
async function frames(
  sub: { raw: { nextFrame(ms?: number): Promise<ParsedFrame> } },
  count: number,
) {
  const out: ParsedFrame[] = [];
  for (let i = 0; i < count; i++) out.push(await sub.raw.nextFrame(5000));
  return out;
}

describe("server.publish, socket.publish, broadcast", () => {
  test("server.publish reaches every subscriber and no one else", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 4);
    try {
      const [a, b, c, outsider] = peers as [Peer, Peer, Peer, Peer];
      for (const p of [a, b, c]) p.server.subscribe("news");
      outsider.server.subscribe("other");
      assert.deepEqual(srv.wss.publish("news", "hello subscribers"), { sent: 3, dropped: 0 });
      for (const p of [a, b, c]) {
        await receivedCount(p, 1);
        assert.deepEqual(texts(p), ["hello subscribers"]);
        assert.equal(p.received[0]!.isBinary, false, "a string is published as text");
      }
      await sync(outsider);
      assert.equal(outsider.received.length, 0, "a socket on another topic got nothing");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test("publish data types and the `binary` option (as send does)", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 1);
    try {
      const p = peers[0]!;
      p.server.subscribe("t");
      const bytes = Buffer.from([0, 1, 2, 0xff]);
      srv.wss.publish("t", "text");
      srv.wss.publish("t", "text as binary", { binary: true });
      srv.wss.publish("t", bytes);
      srv.wss.publish("t", Buffer.from("buffer as text"), { binary: false });
      srv.wss.publish("t", 42);
      srv.wss.publish("t", new Uint8Array([7, 8, 9]).subarray(1));
      srv.wss.publish("t", new Uint8Array([5, 6]).buffer);
      srv.wss.publish("t", [Buffer.from("fr"), Buffer.from("ags")]);
      srv.wss.publish("t", "");
      await receivedCount(p, 9);
      const got = p.received.map((m) => [m.isBinary, m.bytes.toString("hex")]);
      assert.deepEqual(got, [
        [false, Buffer.from("text").toString("hex")],
        [true, Buffer.from("text as binary").toString("hex")],
        [true, "000102ff"],
        [false, Buffer.from("buffer as text").toString("hex")],
        [false, Buffer.from("42").toString("hex")],
        [true, "0809"],
        [true, "0506"],
        [true, Buffer.from("frags").toString("hex")],
        [false, ""],
      ]);
    } finally {
      await closeAll(srv, peers);
    }
  });

  test("socket.publish reaches every subscriber except the publishing socket", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 3);
    try {
      for (const p of peers) p.server.subscribe("room");
      const [a, b, c] = peers as [Peer, Peer, Peer];
      // The usual chat relay: what a client says goes to everyone else in the room.
      a.server.on("message", (data) => a.server.publish("room", data as Buffer, { binary: false }));
      a.client.send("hi from a");
      await receivedCount(b, 1);
      await receivedCount(c, 1);
      assert.deepEqual(texts(b), ["hi from a"]);
      assert.deepEqual(texts(c), ["hi from a"]);
      await sync(a);
      assert.equal(a.received.length, 0, "the publisher did not get its own message");

      assert.deepEqual(b.server.publish("room", "from b"), { sent: 2, dropped: 0 });
      // A socket not subscribed to the topic can still publish to it (it just is not "except").
      b.server.unsubscribe("room");
      assert.deepEqual(b.server.publish("room", "b again"), { sent: 2, dropped: 0 });
      await receivedCount(a, 2);
      await receivedCount(c, 3);
      assert.deepEqual(texts(a), ["from b", "b again"]);
      assert.deepEqual(texts(c), ["hi from a", "from b", "b again"]);
    } finally {
      await closeAll(srv, peers);
    }
  });

  test("broadcast reaches every connected client, subscribed or not", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 3);
    try {
      peers[0]!.server.subscribe("x");
      assert.deepEqual(srv.wss.broadcast("to all"), { sent: 3, dropped: 0 });
      assert.deepEqual(srv.wss.broadcast(Buffer.from([1, 2])), { sent: 3, dropped: 0 });
      for (const p of peers) {
        await receivedCount(p, 2);
        assert.deepEqual(texts(p)[0], "to all");
        assert.equal(p.received[0]!.isBinary, false, "string broadcast is text");
        assert.equal(p.received[1]!.isBinary, true, "Buffer broadcast is binary");
        assert.deepEqual([...p.received[1]!.bytes], [1, 2]);
      }
      // A closing client is skipped.
      const closing = peers[2]!;
      const closed = waitEvent(closing.server, "close");
      closing.server.close();
      assert.deepEqual(srv.wss.broadcast("after close"), { sent: 2, dropped: 0 });
      await receivedCount(peers[0]!, 3);
      await receivedCount(peers[1]!, 3);
      await closed;
      assert.deepEqual(texts(closing), ["to all", "\u0001\u0002"]);
    } finally {
      await closeAll(srv, peers);
    }
  });
});

describe("the frame is encoded once", () => {
  test(
    "3 subscribers get the SAME Buffer object, from sendFrame down to socket.write",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 3);
      const spy = mock.method(Sender.prototype, "sendFrame");
      const writes = peers.map((p) => {
        const socket = p.server._socket;
        assert.ok(socket !== null, "server-side socket attached");
        return mock.method(socket, "write");
      });
      try {
        for (const p of peers) p.server.subscribe("once");
        // 100 KiB: well over the sender's slab threshold, so nothing could hide a copy in the slab.
        const big = randomBytes(100 * 1024);
        srv.wss.publish("once", big);
        const small = "small message";
        srv.wss.publish("once", small);
        const calls = spy.mock.calls;
        assert.equal(calls.length, 6, "one sendFrame per subscriber per publish");
        const bigFrame = calls[0]!.arguments[0] as Buffer;
        const smallFrame = calls[3]!.arguments[0] as Buffer;
        assert.ok(Buffer.isBuffer(bigFrame), "sendFrame got a Buffer");
        for (let i = 0; i < 3; i++) {
          assert.strictEqual(calls[i]!.arguments[0], bigFrame, `subscriber ${i}: same big frame`);
          assert.strictEqual(
            calls[3 + i]!.arguments[0],
            smallFrame,
            `subscriber ${i}: same small frame`,
          );
        }
        assert.equal(new Set(calls.map((c) => c.this)).size, 3, "three different senders");
        assert.equal(
          bigFrame.length,
          big.length + 10,
          "header (64-bit length) + payload, unmasked",
        );
        assert.ok(bigFrame.subarray(10).equals(big), "the frame carries the payload");

        for (const p of peers) await receivedCount(p, 2);
        // Down to the kernel: each server socket was handed that very Buffer.
        for (const [i, w] of writes.entries()) {
          const written = w.mock.calls.map((c) => c.arguments[0]);
          assert.ok(written.includes(bigFrame), `socket ${i} wrote the shared frame object`);
        }
        for (const p of peers) {
          assert.ok(p.received[0]!.bytes.equals(big), "big payload intact");
          assert.equal(p.received[1]!.text, small);
        }
      } finally {
        spy.mock.restore();
        for (const w of writes) w.mock.restore();
        await closeAll(srv, peers);
      }
    },
  );

  test(
    "no-context-takeover subscribers share one compressed frame per window size",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: { serverNoContextTakeover: true } });
      const peers = await connectPeers(srv, 3);
      const spy = mock.method(Sender.prototype, "sendFrame");
      try {
        for (const p of peers) p.server.subscribe("z");
        const text = compressible("shared", 8000);
        srv.wss.publish("z", text);
        assert.equal(spy.mock.calls.length, 3, "one shared frame per subscriber");
        const frame = spy.mock.calls[0]!.arguments[0] as Buffer;
        for (const c of spy.mock.calls) assert.strictEqual(c.arguments[0], frame, "same object");
        assert.equal(frame[0], 0xc1, "FIN + RSV1 + text (RFC 7692 §6)");
        assert.ok(frame.length < text.length / 4, `compressed (${frame.length} < ${text.length})`);
        for (const p of peers) {
          await receivedCount(p, 1);
          assert.equal(p.received[0]!.text, text, "inflated to the published text");
        }
      } finally {
        spy.mock.restore();
        await closeAll(srv, peers);
      }
    },
  );
});

describe("compression (RFC 7692)", () => {
  const extensions = (sub: Awaited<ReturnType<typeof rawSubscriber>>): string =>
    headerValue(sub.raw.response, "sec-websocket-extensions") ?? "";

  test(
    "RFC 7692 §6, §7.1.1.1: serverNoContextTakeover: compressed on the wire (RSV1), each message inflates alone",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: { serverNoContextTakeover: true } });
      const deflate = { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } };
      const a = await rawSubscriber(srv, deflate);
      const b = await rawSubscriber(srv, deflate);
      try {
        assert.match(extensions(a), /permessage-deflate/);
        assert.match(extensions(a), /server_no_context_takeover/);
        a.server.subscribe("w");
        b.server.subscribe("w");
        const messages = [compressible("one", 3000), compressible("two", 5000), "tiny"];
        for (const m of messages) srv.wss.publish("w", m);
        const fa = await frames(a, 3);
        const fb = await frames(b, 3);
        for (let i = 0; i < 2; i++) {
          assert.equal(fa[i]!.rsv1, true, `message ${i} has RSV1`);
          assert.equal(fa[i]!.opcode, 1, "text");
          assert.ok(fa[i]!.payload.length < messages[i]!.length / 4, "payload is compressed");
          // No context takeover: each message inflates with a fresh inflater.
          assert.equal(framePayload(fa[i]!).toString(), messages[i]);
          assert.ok(fa[i]!.raw.equals(fb[i]!.raw), "both subscribers got the same bytes");
        }
        assert.equal(fa[2]!.rsv1, false, "under the 1024-byte threshold: sent plain");
        assert.equal(fa[2]!.payload.toString(), "tiny");
      } finally {
        a.raw.destroy();
        b.raw.destroy();
        await closeAll(srv);
      }
    },
  );

  test(
    "RFC 7692 §7.1.2.1: each window size gets its own compression (server_max_window_bits=10 vs 15)",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: { serverNoContextTakeover: true } });
      const small = await rawSubscriber(srv, {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=10" },
      });
      const full = await rawSubscriber(srv, {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      });
      try {
        assert.match(extensions(small), /server_max_window_bits=10/);
        small.server.subscribe("w");
        full.server.subscribe("w");
        // A 2 KiB random block repeated: a 2^15 window compresses the repeat as one match 2048
        // bytes back, which a 2^10-window inflater must reject; a 2^10 deflater cannot use it.
        const block = randomBytes(2048).toString("base64");
        const text = block + block;
        srv.wss.publish("w", text);
        const [fs] = await frames(small, 1);
        const [ff] = await frames(full, 1);
        assert.ok(fs !== undefined && ff !== undefined, "both got a frame");
        assert.equal(fs.rsv1, true, "compressed for the small window");
        assert.equal(ff.rsv1, true, "compressed for the full window");
        assert.equal(framePayload(fs, 10).toString(), text, "inflates with a 2^10 window");
        assert.equal(framePayload(ff, 15).toString(), text, "inflates with a 2^15 window");
        assert.ok(ff.payload.length < fs.payload.length, "the full window found the long match");
        assert.throws(() => framePayload(ff, 10), "the 2^15 stream needs more than 2^10");
      } finally {
        small.raw.destroy();
        full.raw.destroy();
        await closeAll(srv);
      }
    },
  );

  test(
    "RFC 7692 §6: compress: false per publish sends plain frames (no RSV1) to deflate subscribers",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: { serverNoContextTakeover: true } });
      const nct = await rawSubscriber(srv, {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      });
      const srv2 = await startPubSub({ perMessageDeflate: true });
      const takeover = await rawSubscriber(srv2, {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      });
      try {
        assert.doesNotMatch(extensions(takeover), /server_no_context_takeover/);
        nct.server.subscribe("p");
        takeover.server.subscribe("p");
        const text = compressible("plain", 4000);
        srv.wss.publish("p", text, { compress: false });
        srv.wss.publish("p", text);
        srv2.wss.publish("p", text, { compress: false });
        srv2.wss.publish("p", text);
        const [n1, n2] = await frames(nct, 2);
        const [t1, t2] = await frames(takeover, 2);
        assert.equal(n1!.rsv1, false, "compress:false → no RSV1 (shared path)");
        assert.equal(n1!.payload.toString(), text);
        assert.equal(n2!.rsv1, true, "default → compressed");
        assert.equal(framePayload(n2!).toString(), text);
        assert.equal(t1!.rsv1, false, "compress:false → no RSV1 (per-connection path)");
        assert.equal(t1!.payload.toString(), text);
        assert.equal(t2!.rsv1, true, "default → compressed with context takeover");
        // First compressed message on this connection: the context is still empty.
        assert.equal(framePayload(t2!).toString(), text);
      } finally {
        nct.raw.destroy();
        takeover.raw.destroy();
        await closeAll(srv);
        await closeAll(srv2);
      }
    },
  );

  test("RFC 7692 §7.1.1: context takeover: per-subscriber compression stays correct over many messages", {
    timeout: 20_000,
  }, async () => {
    const srv = await startPubSub({ perMessageDeflate: { threshold: 64 } });
    const peers = await connectPeers(srv, 3);
    try {
      for (const p of peers) {
        assert.equal(p.server.extensions, "permessage-deflate", "deflate negotiated");
        p.server.subscribe("c");
      }
      const expected: string[] = [];
      const direct: string[] = [];
      for (let i = 0; i < 300; i++) {
        // Repeats make each message reference the previous ones (context takeover at work);
        // sizes cross the threshold both ways.
        const m =
          i % 7 === 0
            ? `short ${i}`
            : i % 5 === 0
              ? randomBytes(600).toString("hex")
              : compressible(`msg ${i % 11}`, 100 + ((i * 137) % 3000));
        srv.wss.publish("c", m);
        expected.push(m);
        // A direct send to one subscriber moves only its deflate context: the others must not
        // be affected, and it must not break the per-subscriber stream.
        if (i % 10 === 0) {
          const d = compressible(`direct ${i}`, 500);
          peers[0]!.server.send(d);
          direct.push(d);
        }
      }
      const counts = [expected.length + direct.length, expected.length, expected.length];
      for (const [i, p] of peers.entries()) await receivedCount(p, counts[i]!, 15_000);
      assert.deepEqual(texts(peers[1]!), expected);
      assert.deepEqual(texts(peers[2]!), expected);
      const first = texts(peers[0]!);
      assert.deepEqual(
        first.filter((t) => !t.startsWith("direct")),
        expected,
        "subscriber 0: published messages intact",
      );
      assert.deepEqual(
        first.filter((t) => t.startsWith("direct")),
        direct,
      );
      for (const p of peers) assert.deepEqual(p.errors, [], "no client error");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test(
    "one publish to mixed subscribers: shared deflate, per-connection deflate, no deflate",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: true });
      const [shared] = await connectPeers(srv, 1, {
        perMessageDeflate: { serverNoContextTakeover: true },
      });
      const [own] = await connectPeers(srv, 1);
      const [plain] = await connectPeers(srv, 1, { perMessageDeflate: false });
      const peers = [shared!, own!, plain!];
      try {
        assert.equal(plain!.server.extensions, "", "plain client has no deflate");
        for (const p of peers) p.server.subscribe("mix");
        const messages: string[] = [];
        for (let i = 0; i < 30; i++) {
          const m = i % 3 === 0 ? `small ${i}` : compressible(`mixed ${i}`, 1500 + i * 50);
          messages.push(m);
          assert.deepEqual(srv.wss.publish("mix", m), { sent: 3, dropped: 0 });
        }
        for (const p of peers) {
          await receivedCount(p, messages.length);
          assert.deepEqual(texts(p), messages);
          assert.deepEqual(p.errors, []);
        }
      } finally {
        await closeAll(srv, peers);
      }
    },
  );
});

describe("order of messages per subscriber", () => {
  // The server-side sequence: sends, publishes, a fragmented message with publishes in the
  // middle (they must come after it, RFC 6455 §5.4: no data frame may interleave a fragmented
  // message), and large (compressed) messages whose compression runs asynchronously.
  function runSequence(
    srv: { wss: import("../../src/index.js").WebSocketServer },
    ws: WebSocket,
  ): string[] {
    const big = (label: string): string => compressible(label, 4000);
    ws.send("s1");
    srv.wss.publish("o", "p1");
    ws.send(big("s2"));
    srv.wss.publish("o", "p2");
    srv.wss.publish("o", big("p3"));
    ws.send("f1", { fin: false });
    srv.wss.publish("o", "p4");
    ws.send("f2", { fin: false });
    srv.wss.publish("o", big("p5"));
    ws.send("f3", { fin: true });
    srv.wss.publish("o", "p6");
    ws.send(big("s3"));
    ws.send(big("g1"), { fin: false });
    srv.wss.publish("o", big("p7"));
    ws.send(big("g2"), { fin: true });
    ws.send("s4");
    return [
      "s1",
      "p1",
      big("s2"),
      "p2",
      big("p3"),
      "f1f2f3",
      "p4",
      big("p5"),
      "p6",
      big("s3"),
      big("g1") + big("g2"),
      big("p7"),
      "s4",
    ];
  }

  const modes = [
    ["no compression", {}, {}],
    [
      "shared compression (server_no_context_takeover)",
      { perMessageDeflate: { serverNoContextTakeover: true } },
      {},
    ],
    ["per-subscriber compression (context takeover)", { perMessageDeflate: true }, {}],
  ] as const;

  for (const [name, serverOptions, clientOptions] of modes) {
    test(
      `RFC 6455 §5.4: publish, send, fragmented send, compressed: order kept — ${name}`,
      T,
      async () => {
        const srv = await startPubSub(serverOptions);
        const peers = await connectPeers(srv, 2, clientOptions);
        try {
          for (const p of peers) p.server.subscribe("o");
          const expected = runSequence(srv, peers[0]!.server);
          await until(
            () => peers[0]!.received.length >= expected.length || peers[0]!.closeCode !== null,
            5000,
            "the whole sequence",
          );
          assert.deepEqual(
            peers[0]!.errors.map((e) => e.message),
            [],
            "no protocol error at the client",
          );
          assert.deepEqual(
            texts(peers[0]!).map((t) => t.slice(0, 12)),
            expected.map((t) => t.slice(0, 12)),
            "message order (first 12 chars)",
          );
          assert.deepEqual(texts(peers[0]!), expected, "message contents");
          // The other subscriber sees only the publishes, in order.
          const pubs = expected.filter((t) => t.startsWith("p"));
          await receivedCount(peers[1]!, pubs.length);
          assert.deepEqual(texts(peers[1]!), pubs);
        } finally {
          await closeAll(srv, peers);
        }
      },
    );
  }

  test(
    "RFC 6455 §5.4, on the wire: a publish during the app's fragmented message comes after its last frame",
    T,
    async () => {
      const srv = await startPubSub();
      const sub = await rawSubscriber(srv);
      try {
        sub.server.subscribe("o");
        sub.server.send("a", { fin: false });
        srv.wss.publish("o", "P1");
        sub.server.send("b", { fin: false });
        srv.wss.publish("o", "P2");
        sub.server.send("c", { fin: true });
        const got = await frames(sub, 5);
        assert.deepEqual(
          got.map((f) => [f.opcode, f.fin, f.payload.toString()]),
          [
            [1, false, "a"],
            [0, false, "b"],
            [0, true, "c"],
            [1, true, "P1"],
            [1, true, "P2"],
          ],
        );
      } finally {
        sub.raw.destroy();
        await closeAll(srv);
      }
    },
  );

  test(
    "RFC 6455 §5.4, on the wire, context takeover: a publish during a fragmented message comes after it",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: { threshold: 0 } });
      const sub = await rawSubscriber(srv, {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      });
      try {
        sub.server.subscribe("o");
        // Uncompressed fragments (compress: false), then a publish the socket compresses itself.
        sub.server.send("a", { fin: false, compress: false });
        srv.wss.publish("o", "P1");
        sub.server.send("b", { fin: true, compress: false });
        const got = await frames(sub, 3);
        assert.deepEqual(
          got.map((f) => [f.opcode, f.fin]),
          [
            [1, false],
            [0, true],
            [1, true],
          ],
          "TEXT(fin=0) CONT(fin=1) TEXT(fin=1)",
        );
        assert.equal(got[1]!.payload.toString(), "b", "the app's last fragment is its own");
        assert.equal(framePayload(got[2]!).toString(), "P1", "the publish follows, whole");
      } finally {
        sub.raw.destroy();
        await closeAll(srv);
      }
    },
  );

  test(
    "RFC 6455 §5.4: a publish during a fragmented message queued behind a Blob still comes after it",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 1);
      try {
        const p = peers[0]!;
        p.server.subscribe("o");
        // The Blob is read asynchronously, so everything after it waits in the sender's queue:
        // the publish must still not land between the fragments queued there.
        p.server.send(new Blob(["blob"]), { binary: false });
        p.server.send("f1", { fin: false });
        srv.wss.publish("o", "P");
        p.server.send("f2", { fin: true });
        await until(() => p.received.length >= 3 || p.closeCode !== null, 5000, "three messages");
        assert.deepEqual(
          p.errors.map((e) => e.message),
          [],
          "no protocol error at the client",
        );
        assert.deepEqual(texts(p), ["blob", "f1f2", "P"]);
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test(
    "RFC 6455 §5.4: a fragmented message spanning ticks behind a compression, with a publish in the middle",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: true });
      const sub = await rawSubscriber(srv, {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      });
      try {
        sub.server.subscribe("o");
        const big = compressible("big", 5000);
        sub.server.send(big); // compressed asynchronously
        sub.server.send("f1", { fin: false }); // waits behind the compression
        srv.wss.publish("o", "P");
        await delay(50); // the compression has finished; the app's message is still open
        sub.server.send("f2", { fin: true });
        const got = await frames(sub, 4);
        assert.deepEqual(
          got.map((f) => [f.opcode, f.fin, f.rsv1]),
          [
            [1, true, true],
            [1, false, false],
            [0, true, false],
            [1, true, false],
          ],
          "compressed message, TEXT(fin=0) f1, CONT(fin=1) f2, then the publish",
        );
        assert.equal(framePayload(got[0]!).toString(), big);
        assert.deepEqual(
          got.slice(1).map((f) => f.payload.toString()),
          ["f1", "f2", "P"],
        );
      } finally {
        sub.raw.destroy();
        await closeAll(srv);
      }
    },
  );

  test(
    "RFC 6455 §5.4: a publish during a fragmented message queued behind a compression still comes after it",
    T,
    async () => {
      const srv = await startPubSub({ perMessageDeflate: { serverNoContextTakeover: true } });
      const peers = await connectPeers(srv, 1);
      try {
        const p = peers[0]!;
        p.server.subscribe("o");
        const big = compressible("big", 5000);
        p.server.send(big); // compressed asynchronously: what follows waits behind it
        p.server.send("f1", { fin: false }); // under the threshold: the fragments go plain
        srv.wss.publish("o", "P");
        p.server.send("f2", { fin: true });
        await until(() => p.received.length >= 3 || p.closeCode !== null, 5000, "three messages");
        assert.deepEqual(
          p.errors.map((e) => e.message),
          [],
          "no protocol error at the client",
        );
        assert.deepEqual(texts(p), [big, "f1f2", "P"]);
      } finally {
        await closeAll(srv, peers);
      }
    },
  );
});

describe("races: membership changes interleaved with publishes", () => {
  test("subscribe/unsubscribe/close interleaved with publishes in the same tick", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 2);
    try {
      const [a, b] = peers as [Peer, Peer];
      const results: Array<{ sent: number; dropped: number }> = [];
      a.server.subscribe("r");
      results.push(srv.wss.publish("r", "1"));
      b.server.subscribe("r");
      results.push(srv.wss.publish("r", "2"));
      a.server.unsubscribe("r");
      results.push(srv.wss.publish("r", "3"));
      a.server.subscribe("r");
      const bClosed = waitEvent(b.server, "close");
      b.server.close(1000, "leaving");
      results.push(srv.wss.publish("r", "4"));
      a.server.unsubscribe("r");
      a.server.subscribe("r");
      results.push(srv.wss.publish("r", "5"));
      assert.deepEqual(
        results.map((r) => r.sent),
        [1, 2, 1, 1, 1],
        "sent counts follow the membership at each publish",
      );
      await receivedCount(a, 3);
      await bClosed;
      await sync(a);
      assert.deepEqual(texts(a), ["1", "2", "4", "5"]);
      assert.deepEqual(texts(b), ["2", "3"], "b got what was published before it closed");
      assert.equal(b.closeCode, 1000, "b closed normally");
      assert.equal(srv.wss.subscriberCount("r"), 1, "b left the topic");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test(
    "terminate right after a publish in the same tick: no throw, the rest still get it",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 3);
      try {
        for (const p of peers) p.server.subscribe("t");
        assert.deepEqual(srv.wss.publish("t", "before"), { sent: 3, dropped: 0 });
        peers[1]!.server.terminate();
        assert.deepEqual(
          srv.wss.publish("t", "after"),
          { sent: 2, dropped: 0 },
          "terminated socket skipped",
        );
        await waitEvent(peers[1]!.server, "close");
        assert.equal(srv.wss.subscriberCount("t"), 2, "terminated socket left the topic");
        for (const i of [0, 2]) {
          await receivedCount(peers[i]!, 2);
          assert.deepEqual(texts(peers[i]!), ["before", "after"]);
        }
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test(
    "unsubscribe/subscribe inside message handlers while publishes run from them",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 3);
      try {
        const [a, b, c] = peers as [Peer, Peer, Peer];
        b.server.subscribe("h");
        c.server.subscribe("h");
        // Sent in one tick, the client's sender writes them in one batch, so the server's handlers
        // run back to back.
        a.server.on("message", (data) => {
          const m = (data as Buffer).toString();
          if (m === "unsub-b") b.server.unsubscribe("h");
          else if (m === "sub-a") a.server.subscribe("h");
          else if (m === "unsub-self-c") {
            // The publish and the unsubscribe in one handler: c gets this one, not later ones.
            srv.wss.publish("h", "last-for-c");
            c.server.unsubscribe("h");
          } else srv.wss.publish("h", m);
        });
        for (const m of ["1", "unsub-b", "2", "sub-a", "3", "unsub-self-c", "4"]) a.client.send(m);
        await receivedCount(a, 3);
        await sync(b);
        await sync(c);
        assert.deepEqual(texts(a), ["3", "last-for-c", "4"]);
        assert.deepEqual(texts(b), ["1"]);
        assert.deepEqual(texts(c), ["1", "2", "3", "last-for-c"]);
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test("a socket unsubscribing from its own message handler while it relays", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 3);
    try {
      for (const p of peers) p.server.subscribe("relay");
      const [a, b, c] = peers as [Peer, Peer, Peer];
      a.server.on("message", (data) => {
        const m = (data as Buffer).toString();
        a.server.publish("relay", m, { binary: false });
        if (m === "bye") {
          a.server.unsubscribe("relay");
          b.server.publish("relay", "a left");
        }
      });
      for (const m of ["x", "bye"]) a.client.send(m);
      await receivedCount(b, 2);
      await receivedCount(c, 3);
      await sync(a);
      assert.deepEqual(texts(a), [], "a never gets its own relays, nor b's after it left");
      assert.deepEqual(texts(b), ["x", "bye"]);
      assert.deepEqual(texts(c), ["x", "bye", "a left"]);
    } finally {
      await closeAll(srv, peers);
    }
  });
});
