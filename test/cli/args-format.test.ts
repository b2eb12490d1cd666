/** Unit tests for the CLI's argument parser and output formatting. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseArgs, parsePort, parseSeconds, UsageError } from "../../src/cli/args.js";
import { normalizeUrl, parseHeader } from "../../src/cli/connect.js";
import {
  closeCodeName,
  describeError,
  escapeControls,
  Style,
  shouldColor,
  timestamp,
  toHex,
} from "../../src/cli/format.js";
import { resolveStaticPath } from "../../src/cli/serve.js";

const specs = {
  help: { type: "boolean", short: "h" },
  verbose: { type: "boolean", short: "v" },
  "no-check": { type: "boolean" },
  port: { type: "string", short: "p" },
  header: { type: "string", multiple: true, short: "H" },
} as const;

describe("parseArgs", () => {
  test("defaults: false, undefined and [] for options not given", () => {
    assert.deepEqual(parseArgs([], specs), {
      values: { help: false, verbose: false, "no-check": false, port: undefined, header: [] },
      positionals: [],
    });
  });

  test("long, --name=value, short, bundled and repeated options, with positionals", () => {
    const { values, positionals } = parseArgs(
      ["ws://a", "--port", "80", "-H", "A: 1", "--header=B: 2", "-vh", "--no-check", "rest"],
      specs,
    );
    assert.equal(values.port, "80");
    assert.deepEqual(values.header, ["A: 1", "B: 2"]);
    assert.equal(values.verbose, true);
    assert.equal(values.help, true);
    assert.equal(values["no-check"], true, "--no-check is its own flag, not a negation");
    assert.deepEqual(positionals, ["ws://a", "rest"]);
  });

  test("-p8080 and -p 8080 both work; -- ends the options", () => {
    assert.equal(parseArgs(["-p8080"], specs).values.port, "8080");
    assert.equal(parseArgs(["-p", "8080"], specs).values.port, "8080");
    assert.deepEqual(parseArgs(["--", "--port", "-h"], specs).positionals, ["--port", "-h"]);
  });

  test("a negative number is a positional, not an option", () => {
    assert.deepEqual(parseArgs(["-5"], specs).positionals, ["-5"]);
  });

  test("mistakes throw UsageError with a useful message", () => {
    const cases: [string[], RegExp][] = [
      [["--prot", "1"], /unknown option --prot \(did you mean --port\?\)/],
      [["--zzzzzzzz"], /^unknown option --zzzzzzzz$/],
      [["-x"], /unknown option -x/],
      [["--port"], /--port needs a value/],
      [["--port", "--verbose"], /--port needs a value/],
      [["--help=yes"], /--help does not take a value/],
      [["--constructor"], /unknown option --constructor/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(
        () => parseArgs(argv, specs),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.match(err.message, message);
          return true;
        },
      );
    }
  });

  test("parsePort accepts 0..65535 only; parseSeconds accepts non-negative numbers", () => {
    assert.equal(parsePort("0"), 0);
    assert.equal(parsePort("65535"), 65535);
    for (const bad of ["65536", "-1", "8080x", "", "1e3", " 80"])
      assert.throws(() => parsePort(bad), UsageError);
    assert.equal(parseSeconds("1.5", "--wait"), 1.5);
    assert.equal(parseSeconds("0", "--wait"), 0);
    for (const bad of ["-1", "soon", "", "Infinity"])
      assert.throws(() => parseSeconds(bad, "--wait"), UsageError);
  });
});

describe("connect argument checks", () => {
  test("RFC 6455 §3: URLs get ws:// added, http(s) mapped to ws(s), fragments and other schemes refused", () => {
    assert.equal(normalizeUrl("localhost:8080").href, "ws://localhost:8080/");
    assert.equal(normalizeUrl("http://h/x?y=1").href, "ws://h/x?y=1");
    assert.equal(normalizeUrl("https://h").href, "wss://h/");
    assert.equal(normalizeUrl("wss://[::1]:9/p").href, "wss://[::1]:9/p");
    for (const bad of ["ftp://h", "ws://h/#x", "ws://", "mailto://x"])
      assert.throws(() => normalizeUrl(bad), UsageError);
  });

  test("headers must be `Name: value` with a token name and no line breaks", () => {
    assert.deepEqual(parseHeader("X-A:  b c "), ["X-A", "b c"]);
    assert.deepEqual(parseHeader("Cookie: a=b; c=d"), ["Cookie", "a=b; c=d"]);
    for (const bad of ["no colon", ": empty name", "Bad Name: x", "X: a\r\nInjected: 1"]) {
      assert.throws(() => parseHeader(bad), UsageError);
    }
  });
});

describe("serve --static path resolution", () => {
  test("paths stay inside the root, including encoded traversal", () => {
    assert.equal(resolveStaticPath("/srv/site", "/"), "/srv/site");
    assert.equal(resolveStaticPath("/srv/site", "/a/b.js?x=1"), "/srv/site/a/b.js");
    assert.equal(resolveStaticPath("/srv/site", "/a/%20b.txt"), "/srv/site/a/ b.txt");
    assert.equal(resolveStaticPath("/srv/site", "/a/../b"), "/srv/site/b");
    for (const bad of [
      "/../etc/passwd",
      "/%2e%2e/etc/passwd",
      "/a/../../x",
      "/..%2f..%2fx",
      "/%00",
      "/%E0%A4%A",
      "/..\\x",
    ]) {
      assert.equal(resolveStaticPath("/srv/site", bad), undefined, bad);
    }
  });
});

describe("format", () => {
  test("colour only on a TTY; NO_COLOR wins over a TTY; FORCE_COLOR wins over both", () => {
    assert.equal(shouldColor({ isTTY: true, write: () => true }, {}), true);
    assert.equal(shouldColor({ isTTY: false, write: () => true }, {}), false);
    assert.equal(shouldColor({ write: () => true }, {}), false);
    assert.equal(shouldColor({ isTTY: true, write: () => true }, { NO_COLOR: "1" }), false);
    assert.equal(shouldColor({ isTTY: true, write: () => true }, { NO_COLOR: "" }), true);
    assert.equal(shouldColor({ isTTY: false, write: () => true }, { FORCE_COLOR: "1" }), true);
    assert.equal(shouldColor({ isTTY: true, write: () => true }, { FORCE_COLOR: "0" }), true);
    assert.equal(new Style(false).red("x"), "x");
    assert.equal(new Style(true).red("x"), "\u001b[31mx\u001b[39m");
  });

  test("timestamp is HH:MM:SS.mmm in local time", () => {
    assert.equal(timestamp(new Date(2024, 0, 2, 3, 4, 5, 6)), "03:04:05.006");
  });

  test("binary is shown as hex, truncated with a count", () => {
    assert.equal(toHex(Buffer.from([0, 15, 16, 255])), "00 0f 10 ff");
    assert.equal(toHex(Buffer.alloc(0)), "");
    assert.equal(toHex(Buffer.alloc(10), 4), "00 00 00 00 … (+6 bytes)");
  });

  test("control characters from the network cannot drive the terminal", () => {
    assert.equal(escapeControls("a\u001b[2Jb"), "a\\x1b[2Jb");
    assert.equal(escapeControls("tab\tnew\nline"), "tab\tnew\nline");
    assert.equal(escapeControls("\u009b31m\u007f\r"), "\\x9b31m\\x7f\\x0d");
    assert.equal(escapeControls("héllo ✓"), "héllo ✓");
  });

  test("RFC 6455 §7.4.1: close codes are named", () => {
    assert.equal(closeCodeName(1000), "Normal Closure");
    assert.equal(closeCodeName(1001), "Going Away");
    assert.equal(closeCodeName(1006), "Abnormal Closure");
    assert.equal(closeCodeName(1009), "Message Too Big");
    assert.equal(closeCodeName(3001), "registered");
    assert.equal(closeCodeName(4000), "application");
    assert.equal(closeCodeName(2000), "unknown");
  });

  test("system errors become advice", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 1,
    });
    assert.equal(
      describeError(refused),
      "connection refused by 127.0.0.1:1 (is the server running?)",
    );
    const selfSigned = Object.assign(new Error("self-signed certificate"), {
      code: "DEPTH_ZERO_SELF_SIGNED_CERT",
    });
    assert.match(describeError(selfSigned), /--no-check/);
    assert.equal(describeError(new Error("plain")), "plain");
    assert.equal(describeError("text"), "text");
  });
});
