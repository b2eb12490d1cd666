import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  type ExtensionOffer,
  formatExtensions,
  parseExtensions,
} from "../../src/protocol/extensions.js";

/** RFC 7230 §3.2.6 tchar, spelled out independently of the implementation's table. */
const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Plain-data view of parsed offers, for deepEqual. */
type Plain = Array<[string, Array<[string, Array<string | true>]>]>;

function plain(offers: ExtensionOffer[]): Plain {
  return offers.map((offer) => [offer.name, [...offer.params]]);
}

/** Runs `fn` and returns how long it took in milliseconds. */
function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

test("RFC 6455 §9.1/RFC 7692 §5: well-formed extension headers", () => {
  const table: Array<[string, Plain]> = [
    ["permessage-deflate", [["permessage-deflate", []]]],
    [
      "permessage-deflate; client_max_window_bits",
      [["permessage-deflate", [["client_max_window_bits", [true]]]]],
    ],
    [
      "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
      [
        [
          "permessage-deflate",
          [
            ["client_max_window_bits", ["10"]],
            ["server_no_context_takeover", [true]],
          ],
        ],
      ],
    ],
    // RFC 7692 §5.2: several offers of the same extension, kept in header order.
    [
      "permessage-deflate; server_max_window_bits=10, permessage-deflate",
      [
        ["permessage-deflate", [["server_max_window_bits", ["10"]]]],
        ["permessage-deflate", []],
      ],
    ],
    [
      "foo, bar; baz, foo",
      [
        ["foo", []],
        ["bar", [["baz", [true]]]],
        ["foo", []],
      ],
    ],
    // Optional whitespace around ';', ',', '=' and the whole value.
    [
      "a ;b = c\t,\td ; e=\tf ",
      [
        ["a", [["b", ["c"]]]],
        ["d", [["e", ["f"]]]],
      ],
    ],
    [
      "a;b;c=d",
      [
        [
          "a",
          [
            ["b", [true]],
            ["c", ["d"]],
          ],
        ],
      ],
    ],
    // Repeated parameters keep every value, in order (negotiation rejects them, not the parser).
    [
      "a; x=1; y; x=2; x",
      [
        [
          "a",
          [
            ["x", ["1", "2", true]],
            ["y", [true]],
          ],
        ],
      ],
    ],
    // RFC 6455 §9.1: a quoted-string value is allowed if it unescapes to a token.
    ['a; b="10"', [["a", [["b", ["10"]]]]]],
    [
      'a; b = "10" ; c',
      [
        [
          "a",
          [
            ["b", ["10"]],
            ["c", [true]],
          ],
        ],
      ],
    ],
    ['a; b="\\1\\0"', [["a", [["b", ["10"]]]]]],
    ['a; b="x\\y"', [["a", [["b", ["xy"]]]]]],
    [`a; b="${TCHARS}"`, [["a", [["b", [TCHARS]]]]]],
    [`${TCHARS}; ${TCHARS}=${TCHARS}`, [[TCHARS, [[TCHARS, [TCHARS]]]]]],
  ];
  for (const [header, expected] of table) {
    assert.deepEqual(plain(parseExtensions(header)), expected, JSON.stringify(header));
  }
});

test("RFC 6455 §9.1: malformed extension headers throw SyntaxError naming the index", () => {
  const table: Array<[string, RegExp, string]> = [
    ["", /end .*index 0/, "empty header"],
    ["  ", /end .*index 2/, "only whitespace"],
    ["a,,b", /index 2\b/, "empty element"],
    [",a", /index 0\b/, "leading empty element"],
    ["a,", /end .*index 2/, "trailing comma"],
    ["a, ", /end .*index 3/, "trailing comma and space"],
    [";a", /index 0\b/, "';' with no extension name"],
    ["a;", /end .*index 2/, "';' with no parameter name"],
    ["a;;b", /index 2\b/, "empty parameter"],
    ["a; ,b", /index 3\b/, "';' followed by ','"],
    ["a;b=", /end .*index 4/, "'=' with no value"],
    ["a;b=;c", /index 4\b/, "'=' followed by ';'"],
    ["a;b=,c", /index 4\b/, "'=' followed by ','"],
    ["a;=b", /index 2\b/, "'=' with no parameter name"],
    ["a=b", /index 1\b/, "'=' on an extension name"],
    ["a;b==c", /index 4\b/, "double '='"],
    ["a;b=c=d", /index 5\b/, "'=' inside a value"],
    ["a b", /index 2\b/, "space inside a name"],
    ["a;b c", /index 4\b/, "space inside a parameter name"],
    ["a;b=c d", /index 6\b/, "space inside a value"],
    ['a;b="c', /Unterminated quoted string starting at index 4/, "unterminated quote"],
    ['a;b="c\\', /Unterminated quoted string starting at index 4/, "unterminated after '\\'"],
    ['a;b=""', /index 5\b/, "empty quoted value"],
    ['a;b="c d"', /index 6\b/, "space in a quoted value"],
    ['a;b="c,d"', /index 6\b/, "comma in a quoted value"],
    ['a;b="c\\ d"', /index 7\b/, "escaped space is not a token char"],
    ['a;b="c\\"d"', /index 7\b/, "escaped quote is not a token char"],
    ['a;b="c\\\\d"', /index 7\b/, "escaped backslash is not a token char"],
    ['a;b="c"d', /index 7\b/, "text after a closing quote"],
    ['a;b=c"d"', /index 5\b/, "quote inside a token value"],
    ['"a"', /index 0\b/, "quoted extension name"],
    ['a;"b"', /index 2\b/, "quoted parameter name"],
    ["a\r\nb", /U\+000D at index 1\b/, "CR LF"],
    ["a;b=\0", /U\+0000 at index 4\b/, "NUL"],
    ["a\x7f", /U\+007F at index 1\b/, "DEL"],
    ["a;b=c\x01", /U\+0001 at index 5\b/, "control char"],
    ["pérmessage", /index 1\b/, "non-ASCII"],
    ["a/b", /index 1\b/, "separator in a name"],
  ];
  for (const [header, message, why] of table) {
    assert.throws(() => parseExtensions(header), { name: "SyntaxError", message }, why);
  }
});

test("RFC 6455 §9.1: hostile names stay plain strings (no prototype pollution)", () => {
  assert.deepEqual(plain(parseExtensions("constructor")), [["constructor", []]]);
  assert.throws(() => parseExtensions(", ; constructor"), {
    name: "SyntaxError",
    message: /index 0\b/,
  });
  assert.deepEqual(plain(parseExtensions("toString; toString")), [
    ["toString", [["toString", [true]]]],
  ]);
  assert.deepEqual(plain(parseExtensions("hasOwnProperty; hasOwnProperty=1")), [
    ["hasOwnProperty", [["hasOwnProperty", ["1"]]]],
  ]);

  const [offer] = parseExtensions("permessage-deflate; __proto__=1; constructor=2");
  assert.ok(offer);
  assert.equal(offer.name, "permessage-deflate");
  assert.deepEqual(offer.params.get("__proto__"), ["1"]);
  assert.deepEqual(offer.params.get("constructor"), ["2"]);
  assert.equal(offer.params.get("toString"), undefined);
  assert.equal(Object.getPrototypeOf(offer.params), Map.prototype);
  // Nothing leaked onto shared prototypes.
  assert.equal(({} as Record<string, unknown>)["1"], undefined);
  assert.equal(Object.hasOwn(Object.prototype, "1"), false);

  const [proto] = parseExtensions("__proto__; __proto__");
  assert.ok(proto);
  assert.equal(proto.name, "__proto__");
  assert.deepEqual([...proto.params], [["__proto__", [true]]]);
});

test("RFC 6455 §9.1: an unterminated quoted value of 10,000 '\\c' pairs fails in linear time (CVE-2020-7662)", () => {
  for (const pairs of [10_000, 100_000]) {
    const header = `permessage-deflate; x="${"\\c".repeat(pairs)}`;
    const ms = timed(() => {
      assert.throws(() => parseExtensions(header), {
        name: "SyntaxError",
        message: /Unterminated quoted string starting at index 22/,
      });
    });
    // Hang guard, not a speed claim: the exponential regex never finishes at this size.
    assert.ok(ms < 1000, `${pairs} pairs took ${ms} ms`);

    // Terminated, the same value is a valid token once unescaped.
    const [offer] = parseExtensions(`${header}"`);
    assert.deepEqual(offer?.params.get("x"), ["c".repeat(pairs)]);
  }
});

test("RFC 7230 §3.2.6: huge whitespace runs in an extension header parse in linear time", () => {
  for (const size of [8 * 1024, 64 * 1024, 512 * 1024]) {
    const spaces = " ".repeat(size);
    const ms = timed(() => {
      assert.throws(() => parseExtensions(`b${spaces}x`), {
        name: "SyntaxError",
        message: new RegExp(`index ${size + 1}\\b`),
      });
      assert.deepEqual(
        plain(parseExtensions(`b${spaces};${spaces}c${spaces}=${spaces}d${spaces},${spaces}x`)),
        [
          ["b", [["c", ["d"]]]],
          ["x", []],
        ],
      );
    });
    assert.ok(ms < 1000, `${size} spaces took ${ms} ms`);
  }
});

test("RFC 6455 §9.1: formatExtensions writes name; param; param=value joined by ', '", () => {
  assert.equal(formatExtensions([]), "");
  assert.equal(formatExtensions([{ name: "permessage-deflate" }]), "permessage-deflate");
  assert.equal(
    formatExtensions([
      {
        name: "permessage-deflate",
        params: { client_max_window_bits: true, server_max_window_bits: "10" },
      },
    ]),
    "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
  );
  assert.equal(
    formatExtensions([
      { name: "permessage-deflate", params: new Map([["x", ["1", true, "2"]]]) },
      { name: "permessage-deflate", params: { y: ["a"], z: [] } },
      { name: "other" },
    ]),
    "permessage-deflate; x=1; x; x=2, permessage-deflate; y=a, other",
  );
});

test("RFC 7230 §3.2.6: formatExtensions quotes values that are not tokens", () => {
  const format = (value: string) => formatExtensions([{ name: "a", params: { b: value } }]);
  assert.equal(format("c d"), 'a; b="c d"');
  assert.equal(format(""), 'a; b=""');
  assert.equal(format('say "hi"'), 'a; b="say \\"hi\\""');
  assert.equal(format("back\\slash"), 'a; b="back\\\\slash"');
  assert.equal(format("tab\there"), 'a; b="tab\there"');
  assert.equal(format("caf\u00e9"), 'a; b="caf\u00e9"');
});

test("RFC 7230 §3.2: formatExtensions refuses input that would break the header", () => {
  const bad: Array<[unknown, string]> = [
    [[{ name: "" }], "empty name"],
    [[{ name: "a b" }], "space in name"],
    [[{ name: "a\r\nX-Injected: 1" }], "CRLF in name"],
    [[{ name: "a", params: { "b c": true } }], "space in parameter name"],
    [[{ name: "a", params: new Map([["", [true]]]) }], "empty parameter name"],
    [[{ name: "a", params: { b: "x\r\nX-Injected: 1" } }], "CRLF in value"],
    [[{ name: "a", params: { b: "\0" } }], "NUL in value"],
    [[{ name: "a", params: { b: "\x7f" } }], "DEL in value"],
    [[{ name: "a", params: { b: "\u0100" } }], "beyond Latin-1"],
    [[{ name: "a", params: { b: 10 } }], "number value"],
    [[{ name: "a", params: { b: false } }], "false value"],
    [[{ name: "a", params: { b: [null] } }], "null in value list"],
  ];
  for (const [offers, why] of bad) {
    assert.throws(
      () => formatExtensions(offers as Parameters<typeof formatExtensions>[0]),
      TypeError,
      why,
    );
  }
});

test("RFC 6455 §9.1: formatExtensions ignores inherited record keys", () => {
  const params = Object.create({ inherited: true }) as Record<string, string | true>;
  params.own = "1";
  assert.equal(formatExtensions([{ name: "a", params }]), "a; own=1");
});

/** Offers with token names and values, params as a Map of non-empty value lists. */
const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 10 });
const offersArb = fc.array(
  fc
    .record({
      name: tokenArb,
      params: fc
        .uniqueArray(
          fc.tuple(
            tokenArb,
            fc.array(fc.oneof(tokenArb, fc.constant(true as const)), {
              minLength: 1,
              maxLength: 3,
            }),
          ),
          { selector: ([name]) => name, maxLength: 4 },
        )
        .map((entries) => new Map<string, Array<string | true>>(entries)),
    })
    // fc.record builds null-prototype objects; the parser returns ordinary ones.
    .map(({ name, params }): ExtensionOffer => ({ name, params })),
  { minLength: 1, maxLength: 5 },
);

test("RFC 6455 §9.1: parseExtensions(formatExtensions(x)) round-trips (property)", () => {
  fc.assert(
    fc.property(offersArb, (offers) => {
      assert.deepEqual(parseExtensions(formatExtensions(offers)), offers);
    }),
  );
});

test("RFC 6455 §9.1: arbitrary strings either parse or throw SyntaxError (property)", () => {
  const alphabet = fc.constantFrom(...'ab ,;=\t"\\\r\n\0é_~');
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.string({ unit: alphabet }), fc.string({ unit: "binary" })),
      (header) => {
        try {
          const offers = parseExtensions(header);
          assert.ok(offers.length >= 1);
          // Whatever parses formats back to something that parses to the same offers.
          assert.deepEqual(parseExtensions(formatExtensions(offers)), offers);
        } catch (error) {
          assert.ok(error instanceof SyntaxError, String(error));
        }
      },
    ),
    { numRuns: 3000 },
  );
});

// ws 8's own parser, loaded by path because ws does not export its internals. Used only as a
// differential oracle: wherever ws accepts a header, we must accept it and agree on the result.
const requireFromHere = createRequire(__filename);
const wsLib = join(dirname(requireFromHere.resolve("ws/package.json")), "lib");
const wsExtension = requireFromHere(join(wsLib, "extension.js")) as {
  parse(header: string): Record<string, Array<Record<string, Array<string | true>>>>;
};

/** Our offers in ws's shape: `{ name: [params, …] }` with params as plain objects. */
function toWsShape(
  offers: ExtensionOffer[],
): Record<string, Array<Record<string, Array<string | true>>>> {
  const out: Record<string, Array<Record<string, Array<string | true>>>> = Object.create(null);
  for (const offer of offers) {
    const params: Record<string, Array<string | true>> = Object.create(null);
    for (const [name, values] of offer.params) params[name] = values;
    out[offer.name] ??= [];
    out[offer.name]!.push(params);
  }
  return out;
}

test("RFC 6455 §9.1: wherever ws 8 accepts an extension header, we agree with its result (property)", () => {
  const alphabet = fc.constantFrom(...'abc ,;=\t"\\');
  let accepted = 0;
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 24 }), (header) => {
      let expected: ReturnType<typeof wsExtension.parse>;
      try {
        expected = wsExtension.parse(header);
      } catch {
        return; // ws refuses; we may be more lenient (OWS around '=' and the whole value)
      }
      accepted++;
      assert.deepEqual(toWsShape(parseExtensions(header)), expected);
    }),
    { numRuns: 5000 },
  );
  // The oracle is only worth something if it accepted a fair share of inputs.
  assert.ok(accepted > 50, `ws accepted only ${accepted} generated headers`);
});
