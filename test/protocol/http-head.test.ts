/**
 * The port-mode server's request-head parser (RFC 9112 §2–§5): what it accepts, how repeated
 * fields combine (as Node's http does), and every malformation it must refuse with 400.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  findHeadEnd,
  type HeadFailure,
  isHeadFailure,
  parseRequestHead,
  type RequestHead,
} from "../../src/protocol/http-head.js";

function parsed(head: string): RequestHead {
  const result = parseRequestHead(head);
  if (isHeadFailure(result)) assert.fail(`refused: ${result.reason} for ${JSON.stringify(head)}`);
  return result;
}

function refused(head: string): HeadFailure {
  const result = parseRequestHead(head);
  assert.ok(isHeadFailure(result), `accepted ${JSON.stringify(head)}`);
  return result;
}

const UPGRADE = [
  "GET /chat?room=1 HTTP/1.1",
  "Host: example.com:8080",
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
].join("\r\n");

test("RFC 9112 §3: an upgrade request head parses into method, target, version and fields", () => {
  const head = parsed(UPGRADE);
  assert.equal(head.method, "GET");
  assert.equal(head.url, "/chat?room=1");
  assert.equal(head.versionMajor, 1);
  assert.equal(head.versionMinor, 1);
  assert.equal(head.headers.host, "example.com:8080");
  assert.equal(head.headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
  assert.equal(head.rawHeaders[0], "Host", "raw names keep their case");
  assert.equal(head.rawHeaders.length, 10, "five name/value pairs");
});

test("RFC 9110 §5.6.3: optional whitespace (SP, HTAB) is trimmed; other bytes are kept", () => {
  const head = parsed("GET / HTTP/1.1\r\nHost: h\r\nA:  \t x y \t \r\nB:\r\nC:\xa0z\xa0");
  assert.equal(head.headers.a, "x y", "inner space kept, OWS trimmed");
  assert.equal(head.headers.b, "", "an empty value is allowed");
  assert.equal(head.headers.c, "\xa0z\xa0", "obs-text (NBSP) is a value byte, not whitespace");
});

test("RFC 9110 §5.3: repeated fields combine as in Node's http (list, cookie, first-wins, set-cookie)", () => {
  const head = parsed(
    [
      "GET / HTTP/1.1",
      "Sec-WebSocket-Protocol: a",
      "sec-websocket-protocol: b",
      "Cookie: x=1",
      "Cookie: y=2",
      "Host: h",
      "User-Agent: first",
      "User-Agent: second",
      "Set-Cookie: s=1",
      "Set-Cookie: t=2",
    ].join("\r\n"),
  );
  assert.equal(head.headers["sec-websocket-protocol"], "a, b");
  assert.equal(head.headers.cookie, "x=1; y=2");
  assert.equal(head.headers["user-agent"], "first", "user-agent keeps its first value, as in Node");
  assert.deepEqual(head.headers["set-cookie"], ["s=1", "t=2"]);
  assert.equal(head.rawHeaders.length, 18, "every line stays in rawHeaders");
});

test("RFC 9112 §5: field names like __proto__ and constructor become own properties only", () => {
  const head = parsed(
    "GET / HTTP/1.1\r\nHost: h\r\n__proto__: polluted\r\nconstructor: c\r\nhasOwnProperty: h",
  );
  assert.equal(Object.getPrototypeOf(head.headers), Object.prototype, "prototype untouched");
  assert.equal(Object.getOwnPropertyDescriptor(head.headers, "__proto__")?.value, "polluted");
  assert.equal(head.headers.constructor, "c");
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no global pollution");
});

test("RFC 9112 §3: a head with no fields and HTTP/1.0 parse (the server refuses them later)", () => {
  const head = parsed("GET / HTTP/1.0");
  assert.equal(head.versionMinor, 0);
  assert.deepEqual(head.rawHeaders, []);
});

test("RFC 9112 §3, §5: malformed request lines and field lines are refused with 400", () => {
  const cases: Array<[string, string]> = [
    ["GET  / HTTP/1.1", "two spaces in the request line"],
    ["GET / HTTP/1.1 ", "trailing space"],
    ["GET /a b HTTP/1.1", "space in the target"],
    ["GET / http/1.1", "lower-case protocol name"],
    ["GET / HTTP/11", "no dot in the version"],
    ["GET / HTTP/1.1x", "junk after the version"],
    ["G(T / HTTP/1.1", "a delimiter in the method"],
    ["", "empty request line"],
    ["GET / HTTP/1.1\r\nHost : x", "space before the colon (§5.1)"],
    ["GET / HTTP/1.1\r\nHost: x\r\n folded", "obs-fold (§5.2)"],
    ["GET / HTTP/1.1\r\nHost: x\nUpgrade: websocket", "bare LF inside the head (§2.2)"],
    ["GET / HTTP/1.1\r\nHost: a\rb", "bare CR in a value"],
    ["GET / HTTP/1.1\r\nHost: a\x00b", "NUL in a value"],
    ["GET / HTTP/1.1\r\nHost: a\x7fb", "DEL in a value"],
    ["GET / HTTP/1.1\r\n: value", "empty field name"],
    ["GET / HTTP/1.1\r\nNo colon here", "no colon"],
    ["GET / HTTP/1.1\r\nBad\x01Name: v", "control in a field name"],
    ["GET\x00 / HTTP/1.1", "NUL in the method"],
  ];
  for (const [head, what] of cases) {
    assert.equal(refused(head).status, 400, what);
  }
});

test("RFC 9112 §2.1: findHeadEnd finds the blank line, also when it arrives split across reads", () => {
  const bytes = Buffer.from(`${UPGRADE}\r\n\r\nframe`, "latin1");
  const end = UPGRADE.length + 4;
  assert.equal(findHeadEnd(bytes, 0), end);
  for (let cut = 1; cut < bytes.length; cut++) {
    const first = bytes.subarray(0, cut);
    const found = findHeadEnd(first, 0);
    if (found !== -1) {
      assert.equal(found, end, `cut at ${cut}`);
      continue;
    }
    assert.equal(findHeadEnd(bytes, first.length - 3), end, `resumed after a cut at ${cut}`);
  }
  assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\nA: b\r\n"), 0), -1);
  assert.equal(findHeadEnd(Buffer.from("\r\n\r"), 0), -1);
});

test("RFC 9112 §5: a long value of whitespace ending in a bad byte is refused (no backtracking blow-up)", () => {
  // 16 KiB of spaces then DEL: a pattern with overlapping quantifiers would take O(n²) steps here.
  const head = `GET / HTTP/1.1\r\nX:${" ".repeat(16 * 1024)}\x7f`;
  assert.equal(refused(head).status, 400);
  const ok = parsed(`GET / HTTP/1.1\r\nHost: h\r\nX:${" ".repeat(16 * 1024)}v${"\t".repeat(100)}`);
  assert.equal(ok.headers.x, "v");
});

test("RFC 9112 §3.2: an HTTP/1.1 request without Host, or with two Host lines, is refused with 400", () => {
  assert.equal(refused("GET / HTTP/1.1\r\nUpgrade: websocket").status, 400, "no Host");
  assert.equal(refused("GET / HTTP/1.1\r\nHost: a\r\nhost: a").status, 400, "two Host lines");
  assert.equal(refused("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nHOST: b").status, 400);
  assert.equal(parsed("GET / HTTP/1.0\r\nX: y").headers.x, "y", "HTTP/1.0 needs no Host");
});

test("RFC 9110 §15.6.6: HTTP/2 and later request lines get 505", () => {
  assert.equal(refused("PRI * HTTP/2.0").status, 505, "the h2 connection preface");
  assert.equal(refused("GET / HTTP/3.0\r\nHost: h").status, 505);
  assert.equal(refused("GET / HTTP/0.9\r\nHost: h").status, 505);
});
