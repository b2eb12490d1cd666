/**
 * Topic membership: `subscribe`/`unsubscribe`/`isSubscribed`/`topics` on server-side sockets,
 * `server.subscriberCount`, a socket leaving every topic when its connection ends (close,
 * terminate, peer gone), client-side sockets refusing topics, and topics with 0, 1 and 10,000
 * subscribers (the 10,000 clients run in a child process so each process stays within its fd
 * limit).
 */
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import type { SwarmCommand, SwarmReply } from "../helpers/pubsub-swarm.js";
import {
  closeAll,
  connectPeers,
  rawSubscriber,
  receivedCount,
  startPubSub,
  texts,
  until,
  waitEvent,
  withTimeout,
} from "../helpers/pubsub-util.js";

const T = { timeout: 10_000 };

describe("subscribe / unsubscribe / isSubscribed / topics", () => {
  test(
    "return values: true on change, false when already subscribed or not subscribed",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 1);
      try {
        const ws = peers[0]!.server;
        assert.deepEqual(ws.topics, [], "a fresh socket has no topics");
        assert.equal(ws.isSubscribed("a"), false, "not subscribed before subscribe");
        assert.equal(ws.subscribe("a"), true, "first subscribe returns true");
        assert.equal(ws.subscribe("a"), false, "second subscribe to the same topic returns false");
        assert.equal(ws.subscribe("b"), true, "a second topic returns true");
        assert.equal(ws.isSubscribed("a"), true, "subscribed to a");
        assert.equal(ws.isSubscribed("b"), true, "subscribed to b");
        assert.equal(ws.isSubscribed("c"), false, "not subscribed to c");
        assert.deepEqual([...ws.topics].sort(), ["a", "b"]);
        assert.equal(srv.wss.subscriberCount("a"), 1, "one subscriber of a");
        assert.equal(srv.wss.subscriberCount("a"), 1, "a second subscribe did not add a member");

        assert.equal(ws.unsubscribe("a"), true, "unsubscribe of a subscribed topic returns true");
        assert.equal(ws.unsubscribe("a"), false, "second unsubscribe returns false");
        assert.equal(
          ws.unsubscribe("never"),
          false,
          "unsubscribe of an unknown topic returns false",
        );
        assert.equal(ws.isSubscribed("a"), false, "no longer subscribed to a");
        assert.deepEqual(ws.topics, ["b"]);
        assert.equal(srv.wss.subscriberCount("a"), 0, "a has no subscribers left");
        assert.equal(srv.wss.subscriberCount("b"), 1, "b keeps its subscriber");

        // Subscribing again after leaving works like the first time.
        assert.equal(ws.subscribe("a"), true, "re-subscribe returns true");
        assert.equal(srv.wss.subscriberCount("a"), 1, "re-subscribed");
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test("`topics` is a copy: changing it does not change the subscriptions", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 1);
    try {
      const ws = peers[0]!.server;
      ws.subscribe("x");
      const list = ws.topics;
      list.push("y");
      list.length = 0;
      assert.deepEqual(ws.topics, ["x"]);
      assert.equal(ws.isSubscribed("y"), false, "pushing into the copy subscribed nothing");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test(
    "topic names are exact strings (no patterns, case-sensitive, empty allowed)",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 1);
      try {
        const ws = peers[0]!.server;
        assert.equal(ws.subscribe("Room"), true, "subscribe Room");
        assert.equal(ws.subscribe("room"), true, "room is a different topic");
        assert.equal(ws.subscribe("room/*"), true, "a star is just a character");
        assert.equal(ws.subscribe(""), true, "the empty topic is a topic");
        assert.equal(srv.wss.publish("room/1", "x").sent, 0, "no wildcard matching");
        assert.equal(srv.wss.publish("ROOM", "x").sent, 0, "no case folding");
        assert.equal(srv.wss.publish("room", "to room").sent, 1, "exact name matches");
        assert.equal(srv.wss.publish("", "to empty").sent, 1, "empty topic matches");
        await receivedCount(peers[0]!, 2);
        assert.deepEqual(texts(peers[0]!), ["to room", "to empty"]);
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test("subscriberCount counts distinct sockets per topic", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 3);
    try {
      assert.equal(srv.wss.subscriberCount("t"), 0, "no subscribers yet");
      peers[0]!.server.subscribe("t");
      peers[1]!.server.subscribe("t");
      peers[1]!.server.subscribe("t");
      peers[2]!.server.subscribe("other");
      assert.equal(srv.wss.subscriberCount("t"), 2, "two sockets on t");
      assert.equal(srv.wss.subscriberCount("other"), 1, "one socket on other");
      peers[0]!.server.unsubscribe("t");
      assert.equal(srv.wss.subscriberCount("t"), 1, "one left on t");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test(
    "a client-side socket (new WebSocket(url)) refuses topics with a clear error",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 1);
      try {
        const client = peers[0]!.client;
        const clear = /Topics are available on connections accepted by a WebSocketServer/;
        assert.throws(() => client.subscribe("t"), clear);
        assert.throws(() => client.unsubscribe("t"), clear);
        assert.throws(() => client.publish("t", "x"), clear);
        assert.equal(client.isSubscribed("t"), false, "a client is never subscribed");
        assert.deepEqual(client.topics, []);
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test("a client that is still connecting refuses topics too", T, async () => {
    const srv = await startPubSub();
    const client = new WebSocket(srv.url);
    client.on("error", () => {});
    try {
      assert.equal(client.readyState, WebSocket.CONNECTING, "still connecting");
      assert.throws(() => client.subscribe("t"), /WebSocketServer/);
      await waitEvent(client, "open");
    } finally {
      client.terminate();
      await closeAll(srv);
    }
  });

  test("sockets accepted through handleUpgrade (noServer) have topics", T, async () => {
    const http = await import("node:http");
    const wss = new WebSocketServer({ noServer: true });
    const httpServer = http.createServer();
    const accepted = new Promise<WebSocket>((resolve) => {
      httpServer.on("upgrade", (request: IncomingMessage, socket, head) => {
        wss.handleUpgrade(request, socket, head, (ws) => resolve(ws));
      });
    });
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    const port = (httpServer.address() as import("node:net").AddressInfo).port;
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    client.on("error", () => {});
    try {
      const ws = await withTimeout(accepted, 5000, "handleUpgrade");
      assert.equal(ws.subscribe("n"), true, "subscribe works on a handleUpgrade socket");
      const got = waitEvent<[Buffer, boolean]>(client, "message");
      assert.deepEqual(wss.publish("n", "via noServer"), { sent: 1, dropped: 0 });
      const [data] = await got;
      assert.equal(data.toString(), "via noServer");
    } finally {
      client.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    }
  });
});

describe("a socket leaves all its topics when its connection ends", () => {
  async function subscribedPeer(topics: readonly string[]) {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 2);
    const [leaving, staying] = [peers[0]!, peers[1]!];
    for (const t of topics) {
      leaving.server.subscribe(t);
      staying.server.subscribe(t);
    }
    for (const t of topics) assert.equal(srv.wss.subscriberCount(t), 2, `two on ${t}`);
    return { srv, peers, leaving, staying };
  }

  async function assertLeft(
    ctx: Awaited<ReturnType<typeof subscribedPeer>>,
    topics: readonly string[],
  ): Promise<void> {
    if (ctx.leaving.server.readyState !== WebSocket.CLOSED)
      await waitEvent(ctx.leaving.server, "close");
    for (const t of topics) {
      assert.equal(ctx.srv.wss.subscriberCount(t), 1, `only the other socket is left on ${t}`);
    }
    assert.deepEqual(ctx.leaving.server.topics, [], "a closed socket lists no topics");
    assert.equal(ctx.leaving.server.isSubscribed("a"), false, "a closed socket is not subscribed");
    // Publishing after the close reaches only the socket still there.
    assert.deepEqual(ctx.srv.wss.publish("a", "after"), { sent: 1, dropped: 0 });
    await receivedCount(ctx.staying, 1);
    assert.deepEqual(texts(ctx.staying), ["after"]);
    assert.equal(ctx.leaving.received.length, 0, "the closed socket got nothing");
  }

  const topics = ["a", "b", "c"];

  test("server calls close()", T, async () => {
    const ctx = await subscribedPeer(topics);
    try {
      ctx.leaving.server.close(1000, "bye");
      await assertLeft(ctx, topics);
    } finally {
      await closeAll(ctx.srv, ctx.peers);
    }
  });

  test("client calls close()", T, async () => {
    const ctx = await subscribedPeer(topics);
    try {
      ctx.leaving.client.close(1000);
      await assertLeft(ctx, topics);
    } finally {
      await closeAll(ctx.srv, ctx.peers);
    }
  });

  test("server calls terminate()", T, async () => {
    const ctx = await subscribedPeer(topics);
    try {
      ctx.leaving.server.terminate();
      await assertLeft(ctx, topics);
    } finally {
      await closeAll(ctx.srv, ctx.peers);
    }
  });

  test("client calls terminate()", T, async () => {
    const ctx = await subscribedPeer(topics);
    try {
      ctx.leaving.client.terminate();
      await assertLeft(ctx, topics);
    } finally {
      await closeAll(ctx.srv, ctx.peers);
    }
  });

  test("subscribe after close() started returns false and adds nothing", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 1);
    try {
      const ws = peers[0]!.server;
      ws.close();
      assert.equal(ws.subscribe("late"), false, "a closing socket cannot subscribe");
      assert.equal(srv.wss.subscriberCount("late"), 0, "nothing was added");
      await waitEvent(ws, "close");
      assert.equal(ws.subscribe("later"), false, "a closed socket cannot subscribe");
      assert.equal(srv.wss.subscriberCount("later"), 0, "nothing was added after close");
      assert.equal(ws.unsubscribe("late"), false, "nothing to unsubscribe");
    } finally {
      await closeAll(srv, peers);
    }
  });

  for (const how of ["FIN (socket.end)", "RST (resetAndDestroy)", "destroy"] as const) {
    test(`the peer vanishes without a close frame: ${how}`, T, async () => {
      const srv = await startPubSub();
      try {
        const a = await rawSubscriber(srv);
        const b = await rawSubscriber(srv);
        for (const t of topics) {
          a.server.subscribe(t);
          b.server.subscribe(t);
        }
        assert.equal(srv.wss.subscriberCount("b"), 2, "both subscribed");
        const closed = waitEvent(a.server, "close");
        if (how === "FIN (socket.end)") a.raw.socket.end();
        else if (how === "RST (resetAndDestroy)") a.raw.socket.resetAndDestroy();
        else a.raw.socket.destroy();
        await closed;
        for (const t of topics) assert.equal(srv.wss.subscriberCount(t), 1, `${t}: one left`);
        assert.deepEqual(a.server.topics, []);
        a.raw.destroy();
        b.raw.destroy();
      } finally {
        await closeAll(srv);
      }
    });
  }

  test("closing the server empties every topic", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 3);
    for (const p of peers) p.server.subscribe("all");
    assert.equal(srv.wss.subscriberCount("all"), 3, "three subscribers");
    const closes = peers.map((p) => waitEvent(p.server, "close"));
    await closeAll(srv, peers);
    await Promise.all(closes);
    assert.equal(srv.wss.subscriberCount("all"), 0, "no subscribers after the server closed");
  });
});

describe("topics with 0, 1 and 10,000 subscribers", () => {
  test("0 subscribers: publish sends nothing and reports 0", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 1);
    try {
      assert.deepEqual(srv.wss.publish("empty", "x"), { sent: 0, dropped: 0 });
      assert.deepEqual(peers[0]!.server.publish("empty", "x"), { sent: 0, dropped: 0 });
      // A topic whose only subscriber left is empty again.
      peers[0]!.server.subscribe("once");
      peers[0]!.server.unsubscribe("once");
      assert.deepEqual(srv.wss.publish("once", "x"), { sent: 0, dropped: 0 });
      assert.equal(srv.wss.subscriberCount("empty"), 0, "empty topic");
      // Nothing arrives (a ping round trip proves the connection is flushed past the publishes).
      const pong = waitEvent(peers[0]!.client, "pong");
      peers[0]!.client.ping();
      await pong;
      assert.equal(peers[0]!.received.length, 0, "no message arrived");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test(
    "1 subscriber: it gets the message, the publisher socket does not get its own",
    T,
    async () => {
      const srv = await startPubSub();
      const peers = await connectPeers(srv, 1);
      try {
        const only = peers[0]!;
        only.server.subscribe("solo");
        assert.deepEqual(srv.wss.publish("solo", "from server"), { sent: 1, dropped: 0 });
        assert.deepEqual(only.server.publish("solo", "from itself"), { sent: 0, dropped: 0 });
        await receivedCount(only, 1);
        const pong = waitEvent(only.client, "pong");
        only.client.ping();
        await pong;
        assert.deepEqual(texts(only), ["from server"]);
      } finally {
        await closeAll(srv, peers);
      }
    },
  );

  test("10,000 subscribers (clients in a child process): every one gets every message, in order; all leave when the peers vanish", {
    timeout: 90_000,
  }, async () => {
    const COUNT = 10_000;
    const MESSAGES = 5;
    const srv = await startPubSub();
    srv.wss.on("connection", (ws: WebSocket) => {
      ws.subscribe("swarm");
    });
    const child: ChildProcess = fork(join(__dirname, "..", "helpers", "pubsub-swarm.ts"), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const replies: SwarmReply[] = [];
    const wakers: Array<() => void> = [];
    child.on("message", (m: SwarmReply) => {
      replies.push(m);
      for (const w of wakers.splice(0)) w();
    });
    const reply = async <K extends SwarmReply["type"]>(type: K, ms: number) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = replies.find((r) => r.type === type);
        if (found !== undefined) {
          replies.splice(replies.indexOf(found), 1);
          return found as Extract<SwarmReply, { type: K }>;
        }
        if (child.exitCode !== null) throw new Error(`swarm exited (${child.exitCode})`);
        if (Date.now() > deadline) throw new Error(`no '${type}' from the swarm within ${ms} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 200);
          wakers.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    };
    const send = (command: SwarmCommand): void => {
      child.send(command);
    };
    try {
      await reply("ready", 20_000);
      send({ cmd: "connect", port: srv.port, count: COUNT, path: "/swarm" });
      const connected = await reply("connected", 45_000);
      assert.equal(connected.failed, 0, `every connection opened (${connected.error ?? ""})`);
      assert.equal(connected.opened, COUNT, "the child opened every connection");
      await until(() => srv.wss.subscriberCount("swarm") === COUNT, 10_000, "all subscribed");
      assert.equal(srv.wss.clients.size, COUNT, "the server tracks every client");

      for (let i = 0; i < MESSAGES; i++) {
        const result = srv.wss.publish("swarm", `m${i}`);
        assert.deepEqual(result, { sent: COUNT, dropped: 0 }, `publish ${i} reached everyone`);
      }
      send({ cmd: "report", expect: MESSAGES });
      const report = await reply("report", 30_000);
      assert.equal(report.badFrames, 0, `no unexpected frame (${report.firstProblem ?? ""})`);
      assert.equal(report.outOfOrder, 0, `no message out of order (${report.firstProblem ?? ""})`);
      assert.equal(report.complete, COUNT, `every subscriber got all ${MESSAGES} messages`);

      send({ cmd: "vanish" });
      await reply("vanished", 20_000);
      await until(() => srv.wss.subscriberCount("swarm") === 0, 20_000, "all unsubscribed");
      await until(() => srv.wss.clients.size === 0, 5000, "all sockets closed");
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill();
        await exited;
      }
      await closeAll(srv);
    }
  });
});
