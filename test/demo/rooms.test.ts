/** Unit tests for the demo's room bookkeeping (demo/rooms.mjs). */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Member } from "../../demo/rooms.mjs" with { "resolution-mode": "import" };

async function load() {
  return import("../../demo/rooms.mjs");
}

function member(id: string, name: string, readyState = 1): Member & { sent: string[] } {
  const sent: string[] = [];
  return { id, name, sent, socket: { readyState, send: (data: string) => sent.push(data) } };
}

test("default rooms exist up front and stay when empty; created rooms vanish when empty", async () => {
  const { Rooms, DEFAULT_ROOMS } = await load();
  const rooms = new Rooms();
  assert.deepEqual(
    rooms.list().map((r) => r.name),
    [...DEFAULT_ROOMS],
  );
  const ada = member("1", "Ada");
  assert.deepEqual(rooms.join(ada, "zeta"), { joined: true });
  assert.deepEqual(rooms.list(), [
    { name: "general", count: 0 },
    { name: "random", count: 0 },
    { name: "help", count: 0 },
    { name: "zeta", count: 1 },
  ]);
  assert.deepEqual(rooms.join(ada, "general"), { joined: true, left: "zeta" });
  assert.equal(rooms.roomOf(ada), "general");
  assert.deepEqual(
    rooms.list().map((r) => r.name),
    ["general", "random", "help"],
  );
  assert.equal(rooms.leave(ada), "general");
  assert.equal(rooms.leave(ada), undefined);
  assert.deepEqual(rooms.list()[0], { name: "general", count: 0 });
});

test("members are listed by name and are plain data (no sockets)", async () => {
  const { Rooms } = await load();
  const rooms = new Rooms();
  rooms.join(member("2", "Zed"), "general");
  rooms.join(member("1", "Ada"), "general");
  rooms.join(member("3", "Ada"), "general");
  assert.deepEqual(rooms.members("general"), [
    { id: "1", name: "Ada" },
    { id: "3", name: "Ada" },
    { id: "2", name: "Zed" },
  ]);
  assert.deepEqual(rooms.members("nowhere"), []);
});

test("broadcastToRoom serialises once, skips closed sockets and the excepted member", async () => {
  const { Rooms } = await load();
  const rooms = new Rooms();
  const a = member("1", "A");
  const b = member("2", "B");
  const closed = member("3", "C", 3);
  const elsewhere = member("4", "D");
  for (const m of [a, b, closed]) rooms.join(m, "general");
  rooms.join(elsewhere, "random");
  assert.equal(rooms.broadcastToRoom("general", { type: "x", n: 1 }), 2);
  assert.deepEqual(a.sent, ['{"type":"x","n":1}']);
  assert.deepEqual(b.sent, ['{"type":"x","n":1}']);
  assert.deepEqual(closed.sent, []);
  assert.deepEqual(elsewhere.sent, []);
  assert.equal(rooms.broadcastToRoom("general", { type: "y" }, { except: a }), 1);
  assert.equal(a.sent.length, 1);
  assert.equal(rooms.broadcastToRoom("nowhere", { type: "z" }), 0);
});

test("history keeps the last N messages per room", async () => {
  const { Rooms } = await load();
  const rooms = new Rooms({ historyLimit: 3 });
  for (let i = 0; i < 5; i++) rooms.remember("general", { i });
  assert.deepEqual(rooms.history("general"), [{ i: 2 }, { i: 3 }, { i: 4 }]);
  rooms.remember("no-such-room", { i: 0 });
  assert.deepEqual(rooms.history("no-such-room"), []);
});

test("the number of rooms is capped; joining an existing room still works at the cap", async () => {
  const { Rooms } = await load();
  const rooms = new Rooms({ defaultRooms: ["a"], maxRooms: 2 });
  const x = member("1", "X");
  const y = member("2", "Y");
  assert.equal(rooms.join(x, "b").joined, true);
  assert.equal(rooms.join(y, "c").joined, false);
  assert.equal(rooms.roomOf(y), undefined);
  assert.equal(rooms.join(y, "b").joined, true);
  assert.equal(rooms.join(y, "a").joined, true);
});
