import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildDeflateOffer,
  checkDeflateResponse,
  type DeflateNegotiationOptions,
  evaluateDeflateOffer,
  formatDeflateParams,
  type NegotiatedDeflate,
  parseDeflateParams,
  parseWindowBits,
  selectDeflateOffer,
  validateDeflateOptions,
} from "../../src/protocol/deflate-params.js";
import { type ExtensionOffer, parseExtensions } from "../../src/protocol/extensions.js";

/** One permessage-deflate element with these raw params (for forms the header parser refuses). */
function element(params: Array<[string, Array<string | true>]>): ExtensionOffer {
  return { name: "permessage-deflate", params: new Map(params) };
}

/** The server's answer to `header` under `options`, or null when every offer is declined. */
function answer(header: string, options: DeflateNegotiationOptions = {}): string | null {
  const accepted = selectDeflateOffer(parseExtensions(header), options);
  return accepted === null ? null : formatDeflateParams(accepted.response);
}

const FULL: NegotiatedDeflate = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

// ---- value syntax ----------------------------------------------------------------------------

test("RFC 7692 §7.1.2: window bits are 1*DIGIT, no leading zero, 8 to 15", () => {
  for (let bits = 8; bits <= 15; bits++) assert.equal(parseWindowBits(String(bits)), bits);
  for (const bad of [
    "",
    "0",
    "7",
    "16",
    "08",
    "015",
    "+9",
    "-9",
    "9.0",
    " 9",
    "9 ",
    "0x9",
    "1e1",
    "abc",
    "١٠",
  ]) {
    assert.equal(parseWindowBits(bad), null, `"${bad}" must be refused`);
  }
});

test("RFC 7692 §7.1: parseDeflateParams reads every parameter of an offer", () => {
  const result = parseDeflateParams(
    parseExtensions(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits",
    )[0]!.params,
    "offer",
  );
  assert.deepEqual(result, {
    ok: true,
    value: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 9,
      clientMaxWindowBits: true,
    },
  });
});

// ---- server: one offer, no options -------------------------------------------------------------

test("RFC 7692 §7.1: server accepts each valid offer parameter and answers as the RFC requires", () => {
  const cases: Array<[string, string, Partial<NegotiatedDeflate>]> = [
    ["permessage-deflate", "permessage-deflate", {}],
    [
      "permessage-deflate; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover",
      { serverNoContextTakeover: true },
    ],
    [
      "permessage-deflate; client_no_context_takeover",
      "permessage-deflate; client_no_context_takeover",
      { clientNoContextTakeover: true },
    ],
    [
      "permessage-deflate; server_max_window_bits=10",
      "permessage-deflate; server_max_window_bits=10",
      { serverMaxWindowBits: 10 },
    ],
    // A bare client_max_window_bits only says the client could take a limit; we set none.
    ["permessage-deflate; client_max_window_bits", "permessage-deflate", {}],
    [
      "permessage-deflate; client_max_window_bits=12",
      "permessage-deflate; client_max_window_bits=12",
      { clientMaxWindowBits: 12 },
    ],
    [
      "permessage-deflate; server_max_window_bits=8",
      "permessage-deflate; server_max_window_bits=8",
      { serverMaxWindowBits: 8 },
    ],
    [
      "permessage-deflate; client_max_window_bits=8",
      "permessage-deflate; client_max_window_bits=8",
      { clientMaxWindowBits: 8 },
    ],
    [
      'permessage-deflate; server_max_window_bits="11"',
      "permessage-deflate; server_max_window_bits=11",
      { serverMaxWindowBits: 11 },
    ],
    [
      "permessage-deflate; client_max_window_bits=9; server_max_window_bits=15; client_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=9",
      {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 15,
        clientMaxWindowBits: 9,
      },
    ],
  ];
  for (const [offer, response, negotiated] of cases) {
    const accepted = selectDeflateOffer(parseExtensions(offer), {});
    assert.ok(accepted !== null, `${offer} must be accepted`);
    assert.equal(formatDeflateParams(accepted.response), response, offer);
    assert.deepEqual(accepted.negotiated, { ...FULL, ...negotiated }, offer);
    assert.equal(accepted.index, 0);
  }
});

test("RFC 7692 §5.1: server declines an offer with an invalid value", () => {
  const bad = [
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=0",
    "permessage-deflate; server_max_window_bits=08",
    "permessage-deflate; server_max_window_bits=abc",
    "permessage-deflate; server_max_window_bits=+9",
    "permessage-deflate; server_max_window_bits=9.0",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=08",
    "permessage-deflate; client_max_window_bits=abc",
    'permessage-deflate; client_max_window_bits="0x9"',
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_no_context_takeover=true",
    'permessage-deflate; server_no_context_takeover="x"',
  ];
  for (const header of bad) {
    assert.equal(answer(header), null, `${header} must be declined`);
    const result = evaluateDeflateOffer(parseExtensions(header)[0]!, {});
    assert.ok(!result.ok && /value/i.test(result.reason), `${header}: reason names the value`);
  }
  // An empty value cannot come through the header parser; the rule still holds for the Map.
  for (const name of ["server_max_window_bits", "client_max_window_bits"]) {
    assert.equal(selectDeflateOffer([element([[name, [""]]])], {}), null, `${name}=""`);
  }
});

test("RFC 7692 §5.1: server declines an offer with a duplicated parameter", () => {
  for (const header of [
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
  ]) {
    assert.equal(answer(header), null, header);
    const result = evaluateDeflateOffer(parseExtensions(header)[0]!, {});
    assert.ok(!result.ok && /2 times/.test(result.reason), header);
  }
});

test("RFC 7692 §5.1: server declines an offer with an unknown parameter", () => {
  for (const header of [
    "permessage-deflate; foo",
    "permessage-deflate; foo=1",
    "permessage-deflate; __proto__",
    "permessage-deflate; client_max_window_bits; x_max_window_bits=10",
    "permessage-deflate; Server_No_Context_Takeover",
  ]) {
    assert.equal(answer(header), null, header);
    const result = evaluateDeflateOffer(parseExtensions(header)[0]!, {});
    assert.ok(!result.ok && /Unknown parameter/.test(result.reason), header);
  }
});

// ---- server: several offers --------------------------------------------------------------------

test("RFC 7692 §5.1: the first acceptable offer wins; declined ones are skipped", () => {
  const header =
    "permessage-deflate; foo, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=10, permessage-deflate";
  const declined: string[] = [];
  const accepted = selectDeflateOffer(parseExtensions(header), {}, declined);
  assert.equal(accepted?.index, 2);
  assert.equal(
    formatDeflateParams(accepted!.response),
    "permessage-deflate; client_max_window_bits=10",
  );
  assert.equal(declined.length, 2);
  assert.match(declined[0]!, /Unknown parameter "foo"/);
  assert.match(declined[1]!, /server_max_window_bits/);

  // A valid first offer wins over a valid second one.
  assert.equal(
    answer("permessage-deflate; server_no_context_takeover, permessage-deflate"),
    "permessage-deflate; server_no_context_takeover",
  );
  // Other extension names in the list are ignored, and the index counts them.
  const mixed = selectDeflateOffer(
    parseExtensions("x-webkit-deflate-frame, permessage-deflate"),
    {},
  );
  assert.equal(mixed?.index, 1);
});

test("RFC 7692 §5.1: when every offer is declined the server answers without the extension", () => {
  assert.equal(
    answer("permessage-deflate; server_max_window_bits=7, permessage-deflate; bogus"),
    null,
  );
  assert.equal(selectDeflateOffer([], {}), null);
  assert.equal(selectDeflateOffer(parseExtensions("x-other"), {}), null);
});

// ---- server: our options against the offers ----------------------------------------------------

test("RFC 7692 §7.1.1: server options for no_context_takeover", () => {
  // serverNoContextTakeover: true is sent even unasked (§7.1.1.1 allows it).
  assert.equal(
    answer("permessage-deflate", { serverNoContextTakeover: true }),
    "permessage-deflate; server_no_context_takeover",
  );
  // Explicit false (ws): we insist on context takeover, so an offer requiring otherwise is declined.
  assert.equal(
    answer("permessage-deflate; server_no_context_takeover", { serverNoContextTakeover: false }),
    null,
  );
  assert.equal(
    answer("permessage-deflate; server_no_context_takeover, permessage-deflate", {
      serverNoContextTakeover: false,
    }),
    "permessage-deflate",
  );
  // clientNoContextTakeover: true is always sent (§7.1.1.2).
  const accepted = selectDeflateOffer(parseExtensions("permessage-deflate"), {
    clientNoContextTakeover: true,
  });
  assert.equal(
    formatDeflateParams(accepted!.response),
    "permessage-deflate; client_no_context_takeover",
  );
  assert.equal(accepted!.negotiated.clientNoContextTakeover, true);
});

test("RFC 7692 §7.1.2.1: server_max_window_bits answer is never above the client's limit", () => {
  const cases: Array<[string, DeflateNegotiationOptions, string | null]> = [
    [
      "permessage-deflate",
      { serverMaxWindowBits: 10 },
      "permessage-deflate; server_max_window_bits=10",
    ],
    [
      "permessage-deflate; server_max_window_bits=12",
      { serverMaxWindowBits: 10 },
      "permessage-deflate; server_max_window_bits=10",
    ],
    // ws declines here; the RFC lets us answer with the client's smaller value.
    [
      "permessage-deflate; server_max_window_bits=9",
      { serverMaxWindowBits: 10 },
      "permessage-deflate; server_max_window_bits=9",
    ],
    [
      "permessage-deflate; server_max_window_bits=9",
      { serverMaxWindowBits: true },
      "permessage-deflate; server_max_window_bits=9",
    ],
    ["permessage-deflate", { serverMaxWindowBits: true }, "permessage-deflate"],
    ["permessage-deflate; server_max_window_bits=12", { serverMaxWindowBits: false }, null],
    ["permessage-deflate", { serverMaxWindowBits: false }, "permessage-deflate"],
    [
      "permessage-deflate",
      { serverMaxWindowBits: 8 },
      "permessage-deflate; server_max_window_bits=8",
    ],
  ];
  for (const [offer, options, expected] of cases) {
    assert.equal(answer(offer, options), expected, `${offer} with ${JSON.stringify(options)}`);
  }
  const accepted = selectDeflateOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=12"),
    {
      serverMaxWindowBits: 10,
    },
  );
  assert.equal(accepted!.negotiated.serverMaxWindowBits, 10);
});

test("RFC 7692 §7.1.2.2: client_max_window_bits is answered only when offered", () => {
  const cases: Array<[string, DeflateNegotiationOptions, string, number]> = [
    [
      "permessage-deflate; client_max_window_bits",
      { clientMaxWindowBits: 10 },
      "permessage-deflate; client_max_window_bits=10",
      10,
    ],
    [
      "permessage-deflate; client_max_window_bits=12",
      { clientMaxWindowBits: 10 },
      "permessage-deflate; client_max_window_bits=10",
      10,
    ],
    [
      "permessage-deflate; client_max_window_bits=9",
      { clientMaxWindowBits: 10 },
      "permessage-deflate; client_max_window_bits=9",
      9,
    ],
    // Not offered: MUST NOT be in the answer; ws declines the offer, we accept without it.
    ["permessage-deflate", { clientMaxWindowBits: 10 }, "permessage-deflate", 15],
    [
      "permessage-deflate; client_max_window_bits",
      { clientMaxWindowBits: true },
      "permessage-deflate",
      15,
    ],
    // false: never sent; the client's own value still binds it (§7.1.2.2 hint).
    [
      "permessage-deflate; client_max_window_bits=12",
      { clientMaxWindowBits: false },
      "permessage-deflate",
      12,
    ],
    [
      "permessage-deflate; client_max_window_bits",
      { clientMaxWindowBits: 8 },
      "permessage-deflate; client_max_window_bits=8",
      8,
    ],
  ];
  for (const [offer, options, expected, bits] of cases) {
    const accepted = selectDeflateOffer(parseExtensions(offer), options);
    const label = `${offer} with ${JSON.stringify(options)}`;
    assert.ok(accepted !== null, label);
    assert.equal(formatDeflateParams(accepted.response), expected, label);
    assert.equal(accepted.negotiated.clientMaxWindowBits, bits, label);
  }
});

// ---- client: the offer ------------------------------------------------------------------------

test("RFC 7692 §7.1: client offer for each option, as ws formats it", () => {
  const cases: Array<[DeflateNegotiationOptions, string]> = [
    [{}, "permessage-deflate; client_max_window_bits"],
    [{ clientMaxWindowBits: true }, "permessage-deflate; client_max_window_bits"],
    [{ clientMaxWindowBits: false }, "permessage-deflate"],
    [{ clientMaxWindowBits: 10 }, "permessage-deflate; client_max_window_bits=10"],
    [{ clientMaxWindowBits: 8 }, "permessage-deflate; client_max_window_bits=8"],
    [
      { serverMaxWindowBits: 10 },
      "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
    ],
    // An offer's server_max_window_bits needs a value (§7.1.2.1), so `true` offers nothing.
    [{ serverMaxWindowBits: true }, "permessage-deflate; client_max_window_bits"],
    [{ serverMaxWindowBits: false }, "permessage-deflate; client_max_window_bits"],
    [
      {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 9,
        clientMaxWindowBits: 11,
      },
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11",
    ],
    [
      { serverNoContextTakeover: false, clientNoContextTakeover: false },
      "permessage-deflate; client_max_window_bits",
    ],
  ];
  for (const [options, expected] of cases) {
    const offer = formatDeflateParams(buildDeflateOffer(options));
    assert.equal(offer, expected, JSON.stringify(options));
    // What we offer is something an RFC server accepts.
    assert.ok(selectDeflateOffer(parseExtensions(offer), {}) !== null, offer);
  }
});

test("RFC 7692 §7.1.2: options with a window outside 8-15 are refused up front", () => {
  for (const bits of [7, 16, 0, 9.5, Number.NaN, -1, Infinity]) {
    assert.throws(
      () => validateDeflateOptions({ serverMaxWindowBits: bits }),
      RangeError,
      String(bits),
    );
    assert.throws(
      () => validateDeflateOptions({ clientMaxWindowBits: bits }),
      RangeError,
      String(bits),
    );
  }
  assert.throws(
    () => validateDeflateOptions({ clientMaxWindowBits: "10" as unknown as number }),
    TypeError,
  );
  assert.throws(
    () => validateDeflateOptions({ serverNoContextTakeover: 1 as unknown as boolean }),
    TypeError,
  );
  for (const bits of [8, 12, 15, true, false, undefined]) {
    validateDeflateOptions({ serverMaxWindowBits: bits, clientMaxWindowBits: bits });
  }
});

// ---- client: the server's answer ---------------------------------------------------------------

/** Checks `header` as the server's answer to the offer built from `options`. */
function check(header: string, options: DeflateNegotiationOptions = {}) {
  return checkDeflateResponse(parseExtensions(header), options);
}

test("RFC 7692 §7.1: client accepts each valid response parameter", () => {
  const cases: Array<[string, DeflateNegotiationOptions, Partial<NegotiatedDeflate>]> = [
    ["permessage-deflate", {}, {}],
    ["permessage-deflate; server_no_context_takeover", {}, { serverNoContextTakeover: true }],
    ["permessage-deflate; client_no_context_takeover", {}, { clientNoContextTakeover: true }],
    // §7.1.1.2: the client can always honour it, so even an explicit false accepts it (ws fails).
    [
      "permessage-deflate; client_no_context_takeover",
      { clientNoContextTakeover: false },
      { clientNoContextTakeover: true },
    ],
    ["permessage-deflate; server_max_window_bits=10", {}, { serverMaxWindowBits: 10 }],
    ["permessage-deflate; server_max_window_bits=8", {}, { serverMaxWindowBits: 8 }],
    ["permessage-deflate; client_max_window_bits=10", {}, { clientMaxWindowBits: 10 }],
    ["permessage-deflate; client_max_window_bits=8", {}, { clientMaxWindowBits: 8 }],
    // §7.1.2.2: a number we offered binds us whatever the answer (ws fails on the larger one).
    [
      "permessage-deflate; client_max_window_bits=12",
      { clientMaxWindowBits: 10 },
      { clientMaxWindowBits: 10 },
    ],
    [
      "permessage-deflate; client_max_window_bits=9",
      { clientMaxWindowBits: 10 },
      { clientMaxWindowBits: 9 },
    ],
    ["permessage-deflate", { clientMaxWindowBits: 10 }, { clientMaxWindowBits: 10 }],
    // Our client_no_context_takeover hint is kept even if the server does not echo it (§7.1.1.2).
    ["permessage-deflate", { clientNoContextTakeover: true }, { clientNoContextTakeover: true }],
    // What we asked for is honoured.
    [
      "permessage-deflate; server_no_context_takeover",
      { serverNoContextTakeover: true },
      { serverNoContextTakeover: true },
    ],
    [
      "permessage-deflate; server_max_window_bits=10",
      { serverMaxWindowBits: 10 },
      { serverMaxWindowBits: 10 },
    ],
    [
      "permessage-deflate; server_max_window_bits=9",
      { serverMaxWindowBits: 10 },
      { serverMaxWindowBits: 9 },
    ],
  ];
  for (const [header, options, negotiated] of cases) {
    assert.deepEqual(
      check(header, options),
      { ok: true, value: { ...FULL, ...negotiated } },
      `${header} with ${JSON.stringify(options)}`,
    );
  }
});

test("RFC 7692 §5: client fails on an invalid response value (undici CVE-2026-2229: =16)", () => {
  const cases: Array<[string, RegExp]> = [
    ["permessage-deflate; server_max_window_bits=16", /server_max_window_bits.*"16"/],
    ["permessage-deflate; server_max_window_bits=7", /server_max_window_bits/],
    ["permessage-deflate; server_max_window_bits=08", /server_max_window_bits/],
    ["permessage-deflate; server_max_window_bits=abc", /server_max_window_bits/],
    ["permessage-deflate; server_max_window_bits", /server_max_window_bits.*no value/],
    // A response's client_max_window_bits must carry a value (§7.1.2.2).
    ["permessage-deflate; client_max_window_bits", /client_max_window_bits.*no value/],
    ["permessage-deflate; client_max_window_bits=16", /client_max_window_bits/],
    ["permessage-deflate; client_max_window_bits=015", /client_max_window_bits/],
    ["permessage-deflate; server_no_context_takeover=1", /takes no value/],
    ["permessage-deflate; client_no_context_takeover=x", /takes no value/],
  ];
  for (const [header, reason] of cases) {
    const result = check(header);
    assert.ok(!result.ok, header);
    assert.match(result.reason, reason, header);
  }
  const empty = checkDeflateResponse([element([["server_max_window_bits", [""]]])], {});
  assert.ok(!empty.ok, "!empty.ok");
});

test("RFC 7692 §5: client fails on unknown or duplicated response parameters", () => {
  for (const [header, reason] of [
    ["permessage-deflate; foo", /Unknown parameter "foo"/],
    ["permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", /2 times/],
    ["permessage-deflate; client_no_context_takeover; client_no_context_takeover", /2 times/],
  ] as const) {
    const result = check(header);
    assert.ok(!result.ok, header);
    assert.match(result.reason, reason, header);
  }
});

test("RFC 7692 §7.1: client fails a response that breaks what it offered", () => {
  const cases: Array<[string, DeflateNegotiationOptions, RegExp]> = [
    // §7.1.2.2: not offered, so the server may not send it.
    [
      "permessage-deflate; client_max_window_bits=10",
      { clientMaxWindowBits: false },
      /not offered/,
    ],
    // §7.1.1.1: accepting server_no_context_takeover means echoing it.
    ["permessage-deflate", { serverNoContextTakeover: true }, /drops server_no_context_takeover/],
    // §7.1.2.1: the same or a smaller value.
    ["permessage-deflate", { serverMaxWindowBits: 10 }, /drops server_max_window_bits/],
    [
      "permessage-deflate; server_max_window_bits=11",
      { serverMaxWindowBits: 10 },
      /exceeds the offered 10/,
    ],
    [
      "permessage-deflate; server_max_window_bits=15",
      { serverMaxWindowBits: 8 },
      /exceeds the offered 8/,
    ],
  ];
  for (const [header, options, reason] of cases) {
    const result = check(header, options);
    const label = `${header} with ${JSON.stringify(options)}`;
    assert.ok(!result.ok, label);
    assert.match(result.reason, reason, label);
  }
});

test("RFC 6455 §9.1: client fails a response naming permessage-deflate twice, or none", () => {
  const two = check("permessage-deflate, permessage-deflate");
  assert.ok(!two.ok && /got 2/.test(two.reason), "!two.ok && /got 2/.test(two.reason)");
  const none = checkDeflateResponse([], {});
  assert.ok(!none.ok && /got 0/.test(none.reason), "!none.ok && /got 0/.test(none.reason)");
  const other = check("x-webkit-deflate-frame");
  assert.ok(
    !other.ok && /Not a permessage-deflate response/.test(other.reason),
    "!other.ok && /Not a permessage-deflate response/.test(other.reason)",
  );
});

test("RFC 7692 §7.1: every server answer to our own offer passes the client's check", () => {
  const serverOptions: DeflateNegotiationOptions[] = [
    {},
    { serverNoContextTakeover: true },
    { clientNoContextTakeover: true },
    { serverMaxWindowBits: 9 },
    { clientMaxWindowBits: 10 },
    { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
  ];
  const clientOptions: DeflateNegotiationOptions[] = [
    {},
    { clientMaxWindowBits: false },
    { clientMaxWindowBits: 11 },
    { serverMaxWindowBits: 12 },
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
  ];
  for (const client of clientOptions) {
    for (const server of serverOptions) {
      const offer = formatDeflateParams(buildDeflateOffer(client));
      const accepted = selectDeflateOffer(parseExtensions(offer), server);
      const label = `client ${JSON.stringify(client)} server ${JSON.stringify(server)}`;
      assert.ok(accepted !== null, label);
      const result = checkDeflateResponse(
        parseExtensions(formatDeflateParams(accepted.response)),
        client,
      );
      assert.ok(result.ok, `${label}: ${result.ok ? "" : result.reason}`);
      // Both ends agree on the directions that matter for correctness: the peer's window never
      // exceeds what the inflater on the other side was told.
      assert.ok(result.value.serverMaxWindowBits <= accepted.negotiated.serverMaxWindowBits, label);
      assert.ok(result.value.clientMaxWindowBits <= accepted.negotiated.clientMaxWindowBits, label);
      assert.equal(
        result.value.serverNoContextTakeover,
        accepted.negotiated.serverNoContextTakeover,
        label,
      );
    }
  }
});
