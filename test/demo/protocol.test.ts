/** Unit tests for the demo's message validation (parseClientMessage in demo/server.mjs). */

import assert from "node:assert/strict";
import { test } from "node:test";

async function load() {
  return import("../../demo/server.mjs");
}

test("valid messages are normalised: trimmed text and names, lower-case rooms", async () => {
  const { parseClientMessage } = await load();
  assert.deepEqual(parseClientMessage('{"type":"join","room":" Team-1 ","name":" Ada "}'), {
    ok: true,
    value: { type: "join", room: "team-1", name: "Ada" },
  });
  assert.deepEqual(parseClientMessage('{"type":"say","text":"  hi\\nthere "}'), {
    ok: true,
    value: { type: "say", text: "hi\nthere" },
  });
  assert.deepEqual(parseClientMessage('{"type":"leave","extra":1}'), {
    ok: true,
    value: { type: "leave" },
  });
});

test("limits count characters, not UTF-16 units: 24 emoji are a valid name", async () => {
  const { parseClientMessage, LIMITS } = await load();
  const name = "😀".repeat(LIMITS.name);
  assert.equal(parseClientMessage(JSON.stringify({ type: "join", room: "a", name })).ok, true);
  const tooLong = "😀".repeat(LIMITS.name + 1);
  assert.equal(
    parseClientMessage(JSON.stringify({ type: "join", room: "a", name: tooLong })).ok,
    false,
  );
});

test("everything else is refused with a machine code and a human message", async () => {
  const { parseClientMessage, LIMITS } = await load();
  const cases: [string, string][] = [
    ["", "bad_json"],
    ["{", "bad_json"],
    ["null", "bad_message"],
    ["42", "bad_message"],
    ['"join"', "bad_message"],
    ["[]", "bad_message"],
    ["{}", "unknown_type"],
    ['{"type":"__proto__"}', "unknown_type"],
    ['{"type":"join","room":"-x","name":"A"}', "bad_room"],
    ['{"type":"join","room":"a b","name":"A"}', "bad_room"],
    ['{"type":"join","room":"","name":"A"}', "bad_room"],
    ['{"type":"join","room":"a","name":"   "}', "bad_name"],
    ['{"type":"say","text":["x"]}', "bad_text"],
    ['{"type":"say","text":"bell\\u0007"}', "bad_text"],
    [JSON.stringify({ type: "say", text: "x".repeat(LIMITS.frame) }), "too_large"],
  ];
  for (const [text, error] of cases) {
    const result = parseClientMessage(text);
    assert.equal(result.ok, false, text);
    if (!result.ok) {
      assert.equal(result.error, error, text);
      assert.ok(result.message.length > 0);
    }
  }
});
