/**
 * The shared deadline queues (src/node/deadlines.ts) behind the head timeout of `{ port }` servers
 * and every connection's close timeout: one timer per timeout value, not one per connection.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { cancelDeadline, Deadline, startDeadline } from "../../src/node/deadlines.js";

const T = { timeout: 10_000 };

/** An entry that records when it expired. */
class Probe extends Deadline {
  expiredAt: number[] = [];
  onExpire: (() => void) | null = null;
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {
    super();
  }
  expire(): void {
    this.expiredAt.push(performance.now());
    this.log.push(this.name);
    this.onExpire?.();
  }
}

/** Waits until `check` holds (bounded), polling every 5 ms. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await delay(5);
  }
}

describe("deadline queues", () => {
  test(
    "entries expire once each, in the order they started, not before their timeout",
    T,
    async () => {
      const log: string[] = [];
      const a = new Probe("a", log);
      const b = new Probe("b", log);
      const c = new Probe("c", log);
      const started = performance.now();
      startDeadline(a, 60);
      await delay(10);
      startDeadline(b, 60);
      startDeadline(c, 60);
      await until(() => log.length === 3);
      assert.deepEqual(log, ["a", "b", "c"]);
      assert.ok(a.expiredAt[0]! - started >= 60, `a expired after ${a.expiredAt[0]! - started} ms`);
      assert.ok(b.expiredAt[0]! - started >= 70, `b expired after ${b.expiredAt[0]! - started} ms`);
      await delay(100);
      assert.deepEqual(log, ["a", "b", "c"], "nothing expires twice");
      assert.equal(a.queue, null);
    },
  );

  test("a cancelled entry never expires; the entries around it still do", T, async () => {
    const log: string[] = [];
    const entries = ["first", "middle", "last"].map((name) => new Probe(name, log));
    for (const entry of entries) startDeadline(entry, 40);
    cancelDeadline(entries[1]!);
    cancelDeadline(entries[1]!); // twice is harmless
    assert.equal(entries[1]!.queue, null);
    await until(() => log.length === 2);
    await delay(60);
    assert.deepEqual(log, ["first", "last"]);
  });

  test("cancelling the only entry leaves nothing to fire", T, async () => {
    const log: string[] = [];
    const only = new Probe("only", log);
    startDeadline(only, 30);
    cancelDeadline(only);
    await delay(80);
    assert.deepEqual(log, []);
  });

  test("starting an entry that is already counting keeps its first deadline", T, async () => {
    const log: string[] = [];
    const entry = new Probe("entry", log);
    startDeadline(entry, 40);
    const first = entry.deadline;
    await delay(10);
    startDeadline(entry, 40);
    assert.equal(entry.deadline, first);
    await until(() => log.length === 1);
    await delay(60);
    assert.equal(entry.expiredAt.length, 1);
  });

  test(
    "different timeouts keep separate queues: a short one expires before an earlier long one",
    T,
    async () => {
      const log: string[] = [];
      startDeadline(new Probe("long", log), 120);
      startDeadline(new Probe("short", log), 30);
      await until(() => log.length === 2);
      assert.deepEqual(log, ["short", "long"]);
    },
  );

  test("an entry restarted from inside expire() expires again, once per start", T, async () => {
    const log: string[] = [];
    const entry = new Probe("again", log);
    let restarts = 2;
    entry.onExpire = () => {
      if (restarts-- > 0) startDeadline(entry, 25);
    };
    startDeadline(entry, 25);
    await until(() => log.length === 3);
    await delay(80);
    assert.equal(entry.expiredAt.length, 3);
    assert.equal(entry.queue, null);
  });

  test("an entry can be started again after it was cancelled", T, async () => {
    const log: string[] = [];
    const entry = new Probe("restart", log);
    startDeadline(entry, 30);
    cancelDeadline(entry);
    startDeadline(entry, 30);
    await until(() => log.length === 1);
    await delay(60);
    assert.deepEqual(log, ["restart"]);
  });
});
