/**
 * Typed topics: `wss.typedTopics<Map>()` is a compile-time view of the server whose `publish`
 * accepts only the declared topics, each with its declared data type. The `@ts-expect-error`
 * lines are checked by `tsc -p tsconfig.json --noEmit` (which includes test/): if a wrong topic
 * or payload ever type-checks, the directive itself becomes the error. The tests check that the
 * view is the server itself at run time and that typed publishes are delivered.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PublishResult, TopicPublisher } from "../../src/index.js";
import {
  closeAll,
  connectPeers,
  receivedCount,
  startPubSub,
  texts,
} from "../helpers/pubsub-util.js";

const T = { timeout: 10_000 };

/** The app's topic map (a type alias: an index-signature-compatible object type). */
type Topics = {
  chat: string;
  ticks: Buffer;
};

/**
 * Every wrong use must be a compile error. Called only with a server that has no subscribers,
 * so running the lines is harmless; what matters is that tsc rejects them.
 */
function misuse(topics: TopicPublisher<Topics>): PublishResult[] {
  return [
    // @ts-expect-error: "ticks" carries Buffers, not strings
    topics.publish("ticks", "oops"),
    // @ts-expect-error: "chat" carries strings, not Buffers
    topics.publish("chat", Buffer.from("x")),
    // @ts-expect-error: "nope" is not a declared topic
    topics.publish("nope", "x"),
    // @ts-expect-error: numbers are not a declared payload of "chat"
    topics.publish("chat", 42),
  ];
}

/** subscriberCount only takes declared topics either. */
function misuseCount(topics: TopicPublisher<Topics>): number {
  // @ts-expect-error: "nope" is not a declared topic
  return topics.subscriberCount("nope");
}

describe("typed topics", () => {
  test("typedTopics() is the server itself; typed publishes are delivered", T, async () => {
    const srv = await startPubSub();
    const peers = await connectPeers(srv, 1);
    try {
      const topics = srv.wss.typedTopics<Topics>();
      assert.strictEqual(topics, srv.wss, "a compile-time view, not a wrapper");
      const p = peers[0]!;
      p.server.subscribe("chat");
      p.server.subscribe("ticks");
      assert.equal(topics.subscriberCount("chat"), 1, "typed subscriberCount");
      assert.deepEqual(topics.publish("chat", "hi"), { sent: 1, dropped: 0 });
      assert.deepEqual(topics.publish("ticks", Buffer.from([1, 2, 3])), { sent: 1, dropped: 0 });
      assert.deepEqual(topics.publish("chat", "plain", { compress: false }), {
        sent: 1,
        dropped: 0,
      });
      await receivedCount(p, 3);
      assert.deepEqual(texts(p)[0], "hi");
      assert.equal(p.received[0]!.isBinary, false, "string topic arrives as text");
      assert.equal(p.received[1]!.isBinary, true, "Buffer topic arrives as binary");
      assert.deepEqual([...p.received[1]!.bytes], [1, 2, 3]);
      assert.equal(p.received[2]!.text, "plain");
    } finally {
      await closeAll(srv, peers);
    }
  });

  test("the rejected calls are still plain publishes at run time (types only)", T, async () => {
    const srv = await startPubSub();
    try {
      const topics = srv.wss.typedTopics<Topics>();
      // No subscribers: each misuse reaches nobody, and nothing throws.
      assert.deepEqual(misuse(topics), [
        { sent: 0, dropped: 0 },
        { sent: 0, dropped: 0 },
        { sent: 0, dropped: 0 },
        { sent: 0, dropped: 0 },
      ]);
      assert.equal(misuseCount(topics), 0, "no subscribers to an undeclared topic");
    } finally {
      await closeAll(srv);
    }
  });
});
