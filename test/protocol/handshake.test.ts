import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  acceptKey,
  generateKey,
  isSupportedVersion,
  isToken,
  isTokenChar,
  isValidKey,
  parseProtocolList,
  SUPPORTED_VERSIONS,
  SUPPORTED_VERSIONS_HEADER,
  validateClientProtocols,
  WEBSOCKET_GUID,
} from "../../src/protocol/handshake.js";

/** RFC 7230 §3.2.6 tchar, spelled out independently of the implementation's table. */
const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Runs `fn` and returns how long it took in milliseconds. */
function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

test("RFC 6455 §1.3/§4.2.2: the accept key of the RFC's sample nonce", () => {
  assert.equal(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  // The worked example in RFC 6455 §1.3.
  assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

test("RFC 6455 §4.2.2: acceptKey is base64(SHA-1(key + GUID)) for generated keys", () => {
  for (let n = 0; n < 20; n++) {
    const key = generateKey();
    const expected = createHash("sha1")
      .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    assert.equal(acceptKey(key), expected);
  }
});

test("RFC 6455 §4.1: generateKey gives base64 of 16 fresh random bytes", () => {
  const seen = new Set<string>();
  for (let n = 0; n < 100; n++) {
    const key = generateKey();
    assert.equal(Buffer.from(key, "base64").length, 16);
    assert.ok(isValidKey(key), key);
    seen.add(key);
  }
  assert.equal(seen.size, 100);
});

test("RFC 6455 §4.2.1: Sec-WebSocket-Key validity", () => {
  const table: Array<[unknown, boolean, string]> = [
    ["dGhlIHNhbXBsZSBub25jZQ==", true, "RFC sample"],
    ["AAAAAAAAAAAAAAAAAAAAAA==", true, "all zero bytes"],
    ["++++++++++++++++++++//==", true, "+ and / are base64"],
    ["dGhlIHNhbXBsZSBub25jZQ=", false, "too short"],
    ["dGhlIHNhbXBsZSBub25jZQ===", false, "too long"],
    ["dGhlIHNhbXBsZSBub25jZQ", false, "no padding"],
    ["dGhlIHNhbXBsZSBub25jZQAA", false, "24 alphabet chars: 18 bytes"],
    ["dGhlIHNhbXBsZSBub25jZ===", false, "21 chars then ==="],
    ["dGhlIHNhbXBsZSBub25jZ-_==", false, "base64url alphabet"],
    ["dGhlIHNhbXBsZSBub25jZ Q==", false, "space inside"],
    [" dGhlIHNhbXBsZSBub25jZQ==", false, "leading space"],
    ["dGhlIHNhbXBsZSBub25jZé==", false, "non-ASCII"],
    ["", false, "empty"],
    [undefined, false, "missing"],
    [null, false, "null"],
    [["dGhlIHNhbXBsZSBub25jZQ=="], false, "array (repeated header)"],
    [1234, false, "number"],
  ];
  for (const [value, valid, why] of table) {
    assert.equal(isValidKey(value), valid, why);
  }
});

test("RFC 6455 §4.2.1/§11.3.5: only versions 13 and 8 are accepted, exactly", () => {
  assert.deepEqual([...SUPPORTED_VERSIONS], ["13", "8"]);
  assert.equal(SUPPORTED_VERSIONS_HEADER, "13, 8");
  const table: Array<[string | undefined, boolean]> = [
    ["13", true],
    ["8", true],
    [undefined, false],
    ["", false],
    ["12", false],
    ["14", false],
    ["7", false],
    ["13, 8", false],
    [" 13", false],
    ["13 ", false],
    ["013", false],
    ["0xd", false],
    ["13.0", false],
    ["abc", false],
  ];
  for (const [value, ok] of table) {
    assert.equal(isSupportedVersion(value), ok, JSON.stringify(value));
  }
});

test("RFC 7230 §3.2.6: isTokenChar matches tchar for every code 0..65535", () => {
  for (let code = 0; code <= 0xffff; code++) {
    const expected = code < 128 && TCHARS.includes(String.fromCharCode(code));
    assert.equal(isTokenChar(code), expected, `code ${code}`);
  }
  assert.equal(isTokenChar(-1), false);
  assert.equal(isTokenChar(Number.NaN), false);
});

test("RFC 7230 §3.2.6: isToken needs one or more tchars", () => {
  assert.equal(isToken("chat"), true);
  assert.equal(isToken(TCHARS), true);
  assert.equal(isToken(""), false);
  assert.equal(isToken("a b"), false);
  assert.equal(isToken('"a"'), false);
  assert.equal(isToken("a,b"), false);
  assert.equal(isToken("ü"), false);
});

test("RFC 6455 §4.1/§11.3.4: Sec-WebSocket-Protocol lists that parse", () => {
  const table: Array<[string, string[]]> = [
    ["chat", ["chat"]],
    ["chat,superchat", ["chat", "superchat"]],
    ["chat, superchat", ["chat", "superchat"]],
    ["chat ,superchat", ["chat", "superchat"]],
    ["chat\t,\tsuperchat", ["chat", "superchat"]],
    ["a,  \t b,c", ["a", "b", "c"]],
    [" chat ", ["chat"]], // OWS around a field value is not part of it (RFC 7230 §3.2.4)
    ["v1.json.api, mqtt, wamp.2.json", ["v1.json.api", "mqtt", "wamp.2.json"]],
    [TCHARS, [TCHARS]],
    [
      "__proto__, constructor, toString, hasOwnProperty",
      ["__proto__", "constructor", "toString", "hasOwnProperty"],
    ],
    ["b, a", ["b", "a"]], // header order is kept: the server picks by the client's preference
  ];
  for (const [header, expected] of table) {
    assert.deepEqual([...parseProtocolList(header)], expected, JSON.stringify(header));
  }
});

test("RFC 6455 §4.1/§11.3.4: malformed Sec-WebSocket-Protocol lists throw SyntaxError", () => {
  const table: Array<[string, RegExp]> = [
    ["", /index 0/],
    ["   ", /index 3/],
    ["a,,b", /Empty subprotocol name at index 2/],
    ["a, ,b", /Empty subprotocol name at index 3/],
    [",a", /Empty subprotocol name at index 0/],
    ["a,", /index 2/],
    ["a, ", /index 3/],
    ["a b", /index 2/],
    ['"a"', /index 0/],
    ['a, "b"', /index 3/],
    ["a;b", /index 1/],
    ["a/b", /index 1/],
    ["a\r\nb", /index 1/],
    ["a\0", /index 1/],
    ["chät", /index 2/],
    ["a, a", /"a" subprotocol is duplicated/],
    ["a, b, a", /"a" subprotocol is duplicated/],
    ["__proto__, __proto__", /"__proto__" subprotocol is duplicated/],
  ];
  for (const [header, message] of table) {
    assert.throws(
      () => parseProtocolList(header),
      { name: "SyntaxError", message },
      JSON.stringify(header),
    );
  }
});

test("RFC 6455 §11.3.4: huge runs of spaces in a protocol list parse in linear time (CVE-2021-32640)", () => {
  for (const size of [8 * 1024, 64 * 1024, 512 * 1024]) {
    const spaces = " ".repeat(size);
    // Not a list: two tokens separated only by whitespace.
    const invalidMs = timed(() => {
      assert.throws(() => parseProtocolList(`b${spaces}x`), {
        name: "SyntaxError",
        message: new RegExp(`index ${size + 1}\\b`),
      });
    });
    // A valid list with the same whitespace after the comma.
    const validMs = timed(() => {
      assert.deepEqual([...parseProtocolList(`b,${spaces}x`)], ["b", "x"]);
    });
    // Hang guard, not a speed claim: a quadratic scan of 512 KiB takes minutes.
    assert.ok(invalidMs < 1000, `${size} spaces (invalid) took ${invalidMs} ms`);
    assert.ok(validMs < 1000, `${size} spaces (valid) took ${validMs} ms`);
  }
});

test("RFC 6455 §11.3.4: arbitrary strings either parse or throw SyntaxError (property)", () => {
  const alphabet = fc.constantFrom(..."ab ,\t\"';=\\\r\n\0é_");
  const header = fc.oneof(
    fc.string(),
    fc.string({ unit: alphabet }),
    fc.string({ unit: "binary" }),
  );
  fc.assert(
    fc.property(header, (value) => {
      try {
        const result = parseProtocolList(value);
        assert.ok(result.size >= 1);
        for (const name of result) assert.ok(isToken(name), name);
      } catch (error) {
        assert.ok(error instanceof SyntaxError, String(error));
      }
    }),
    { numRuns: 2000 },
  );
});

test("RFC 6455 §11.3.4: a list built from distinct tokens parses back to them (property)", () => {
  const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
  const ows = fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 });
  fc.assert(
    fc.property(
      fc.uniqueArray(token, { minLength: 1, maxLength: 8 }),
      fc.array(fc.tuple(ows, ows), { minLength: 8, maxLength: 8 }),
      (names, spacing) => {
        const header = names
          .map((name, i) => (i === 0 ? name : `${spacing[i]![0]},${spacing[i]![1]}${name}`))
          .join("");
        assert.deepEqual([...parseProtocolList(header)], names);
      },
    ),
  );
});

// ws 8's own parser, loaded by path because ws does not export its internals. Used only as a
// differential oracle: wherever ws accepts a list, we must accept it and agree on the result.
const requireFromHere = createRequire(__filename);
const wsLib = join(dirname(requireFromHere.resolve("ws/package.json")), "lib");
const wsSubprotocol = requireFromHere(join(wsLib, "subprotocol.js")) as {
  parse(header: string): Set<string>;
};

test("RFC 6455 §11.3.4: wherever ws 8 accepts a protocol list, we agree with its result (property)", () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'ab ,\t"'), maxLength: 16 }), (header) => {
      let expected: Set<string>;
      try {
        expected = wsSubprotocol.parse(header);
      } catch {
        return; // ws refuses; we may be more lenient (OWS around the whole value)
      }
      accepted++;
      assert.deepEqual([...parseProtocolList(header)], [...expected]);
    }),
    { numRuns: 5000 },
  );
  // The oracle is only worth something if it accepted a fair share of inputs.
  assert.ok(accepted > 50, `ws accepted only ${accepted} generated lists`);
});

test("RFC 6455 §4.1: client subprotocols must be distinct tokens (ws wording)", () => {
  const message = "An invalid or duplicated subprotocol was specified";
  validateClientProtocols([]);
  validateClientProtocols(["chat"]);
  validateClientProtocols(["chat", "superchat", "__proto__", TCHARS]);
  const bad: unknown[][] = [
    [""],
    ["a b"],
    ["a,b"],
    ['"a"'],
    ["chät"],
    ["a", "a"],
    ["a", "b", "a"],
    [1],
    [null],
    [undefined],
  ];
  for (const protocols of bad) {
    assert.throws(
      () => validateClientProtocols(protocols),
      { name: "SyntaxError", message },
      JSON.stringify(protocols),
    );
  }
});
