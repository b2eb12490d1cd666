#!/usr/bin/env node
// Fuzzer for socketeer's pure parsers (reliability.md §4.4, §1.15, §1.17).
//
// Targets (each input is a byte string; the first bytes of a frame input pick the parser's
// configuration, so a saved crash replays exactly):
//   frame-server   FrameParser, server role (masked frames), with and without limits
//   frame-client   FrameParser, client role (unmasked frames), with and without limits
//   frame-inflate  FrameParser with a pass-through inflater (sync, deferred, failing), both roles
//   handshake      parseProtocolList, isValidKey, isSupportedVersion
//   extensions     parseExtensions (+ formatExtensions round trip)
//   deflate        permessage-deflate negotiation (deflate-params.ts), server and client side,
//                  plus "our client accepts what our server answers" for every option pair
//
// Two engines share the time of each target: fast-check properties over structured inputs
// (frames built from fields, header lists from a dictionary), and a mutation fuzzer over the
// corpus with coverage feedback (V8 block coverage of the protocol modules, read through the
// inspector once per batch of inputs, then per input only when the batch found something new).
//
// Oracle: the only exceptions allowed are the typed ones (ProtocolError through onError, a
// SyntaxError from a header parser); every event obeys the invariants checked below; feeding the
// same bytes whole, in random pieces (with pause/resume) and byte by byte gives the same events;
// no input may take more than SLOW_MS of CPU. A failing input is saved to fuzz/crashes/ and the run exits
// non-zero.
//
// Usage: node scripts/fuzz.mjs [--seconds N] [--target a,b] [--seed N] [--save-corpus]
//        [--no-coverage] [--src] [--replay FILE --target NAME] [--write-seeds]
// Loads dist/cjs (run `npm run build` first) or, with --src or when dist is incomplete, src/
// through tsx.
import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { deflateRawSync, constants as zlibConstants } from "node:zlib";
import fc from "fast-check";

const root = new URL("..", import.meta.url).pathname;
const require = createRequire(import.meta.url);

// ---- arguments ----------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {
    seconds: 60,
    targets: null,
    seed: Date.now() >>> 0,
    saveCorpus: false,
    coverage: true,
    src: false,
    replay: null,
    writeSeeds: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      return value;
    };
    if (arg === "--seconds") out.seconds = Number(next());
    else if (arg === "--target") out.targets = next().split(",");
    else if (arg === "--seed") out.seed = Number(next()) >>> 0;
    else if (arg === "--save-corpus") out.saveCorpus = true;
    else if (arg === "--no-coverage") out.coverage = false;
    else if (arg === "--src") out.src = true;
    else if (arg === "--replay") out.replay = next();
    else if (arg === "--write-seeds") out.writeSeeds = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isFinite(out.seconds) || out.seconds <= 0) throw new Error("--seconds must be > 0");
  return out;
}

const args = parseArgs(process.argv.slice(2));

// ---- the code under test ------------------------------------------------------------------

const MODULES = [
  "frame-parser",
  "errors",
  "handshake",
  "extensions",
  "deflate-params",
  "http-head",
];

function loadProtocol(useSrc) {
  const dist = join(root, "dist/cjs/protocol");
  if (!useSrc && MODULES.every((name) => existsSync(join(dist, `${name}.js`)))) {
    const mods = MODULES.map((name) => require(join(dist, `${name}.js`)));
    return { mods, coverageFilter: "/dist/cjs/protocol/", from: "dist/cjs" };
  }
  // One global registration, so every module shares one require cache (and one ProtocolError).
  require("tsx/cjs/api").register();
  const mods = MODULES.map((name) => require(join(root, "src/protocol", `${name}.ts`)));
  return { mods, coverageFilter: "/src/protocol/", from: "src (tsx)" };
}

const loaded = loadProtocol(args.src);
const [parserMod, errorsMod, handshakeMod, extensionsMod, deflateMod, httpHeadMod] = loaded.mods;
const { parseRequestHead, isHeadFailure, findHeadEnd } = httpHeadMod;
const { FrameParser } = parserMod;
const { ProtocolError, ErrorCodes } = errorsMod;
const { parseProtocolList, isValidKey, isSupportedVersion, isToken } = handshakeMod;
const { parseExtensions, formatExtensions } = extensionsMod;
const {
  selectDeflateOffer,
  checkDeflateResponse,
  buildDeflateOffer,
  formatDeflateParams,
  parseDeflateParams,
} = deflateMod;

// ---- small utilities ----------------------------------------------------------------------

/** Thrown by an invariant check: a real finding. */
class FuzzFailure extends Error {
  constructor(message) {
    super(message);
    this.name = "FuzzFailure";
  }
}

function check(condition, message) {
  if (!condition) throw new FuzzFailure(message);
}

/** xorshift32: deterministic, so a saved input replays the same splits. */
function makeRng(seed) {
  let state = seed >>> 0 || 0x9e3779b9;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  return {
    next,
    below: (n) => (n <= 1 ? 0 : next() % n),
    chance: (p) => next() / 0x100000000 < p,
  };
}

function hashSeed(bytes) {
  return createHash("sha1").update(bytes).digest().readUInt32LE(0);
}

const hex = (buf) => buf.toString("hex");
const SLOW_MS = 2000;
const MAX_INPUT = 4096;

// ---- frame parser targets -----------------------------------------------------------------

const FAILURE_CLOSE_CODES = new Set([1002, 1007, 1008, 1009, 1011]);
const ERROR_CODE_SET = new Set(Object.values(ErrorCodes));
const MAX_PAYLOADS = [0, 125, 1000, 65536];
const MAX_FRAGMENTS = [0, 1, 4, 131072];

function isWireCloseCode(code) {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/**
 * Byte 0 of a frame input: bits 0-1 maxPayload, 2-3 maxFragments, 4 skipUTF8Validation,
 * 5-6 inflater mode (frame-inflate only: 0 sync, 1 deferred, 2 sync failing, 3 deferred failing),
 * 7 role (frame-inflate only: 1 = server).
 */
function frameConfig(byte, target) {
  return {
    isServer:
      target === "frame-server" ? true : target === "frame-client" ? false : (byte & 0x80) !== 0,
    maxPayload: MAX_PAYLOADS[byte & 3],
    maxFragments: MAX_FRAGMENTS[(byte >> 2) & 3],
    skipUTF8Validation: (byte & 0x10) !== 0,
    inflater: target === "frame-inflate" ? (byte >> 5) & 3 : -1,
  };
}

/**
 * A stand-in for the zlib inflater: returns the bytes it was given, enforcing maxPayload on the
 * total as the real one does, optionally calling back later (deferred) or failing on a frame whose
 * first byte is 0xEE (a generic Error, which the parser must turn into a 1007).
 */
class PassThroughInflater {
  constructor(maxPayload, mode, queue) {
    this.maxPayload = maxPayload;
    this.deferred = (mode & 1) !== 0;
    this.failing = (mode & 2) !== 0;
    this.queue = queue;
    this.parts = [];
    this.total = 0;
  }
  decompress(data, fin, callback) {
    const copy = Buffer.from(data);
    const work = () => {
      if (this.failing && copy.length > 0 && copy[0] === 0xee) {
        this.parts = [];
        this.total = 0;
        callback(new Error("injected corrupt data"));
        return;
      }
      this.parts.push(copy);
      this.total += copy.length;
      if (this.maxPayload > 0 && this.total > this.maxPayload) {
        this.parts = [];
        this.total = 0;
        callback(new ProtocolError(ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009, "over maxPayload"));
        return;
      }
      if (!fin) {
        callback(null);
        return;
      }
      const out = Buffer.concat(this.parts, this.total);
      this.parts = [];
      this.total = 0;
      callback(null, out);
    };
    if (this.deferred) this.queue.push(work);
    else work();
  }
}

/**
 * Feeds `stream` to a fresh parser in the way `plan` says and returns the event log. Every event
 * is checked as it happens.
 */
function runFrames(stream, cfg, plan, seed) {
  const log = [];
  let terminal = false;
  const queue = [];
  const inflater =
    cfg.inflater >= 0 ? new PassThroughInflater(cfg.maxPayload, cfg.inflater, queue) : null;
  const events = {
    onMessage(data, isBinary) {
      check(!terminal, "message after close/error");
      check(Buffer.isBuffer(data), "message is not a Buffer");
      check(typeof isBinary === "boolean", "isBinary is not a boolean");
      if (cfg.maxPayload > 0)
        check(data.length <= cfg.maxPayload, `message of ${data.length} > maxPayload`);
      if (!isBinary && !cfg.skipUTF8Validation)
        check(isUtf8(data) || data.length === 0, "invalid UTF-8 text delivered");
      log.push(`m${isBinary ? "b" : "t"}:${hex(data)}`);
    },
    onPing(data) {
      check(!terminal, "ping after close/error");
      check(data.length <= 125, "ping payload > 125");
      log.push(`pi:${hex(data)}`);
    },
    onPong(data) {
      check(!terminal, "pong after close/error");
      check(data.length <= 125, "pong payload > 125");
      log.push(`po:${hex(data)}`);
    },
    onClose(code, reason) {
      check(!terminal, "second close/error");
      terminal = true;
      check(code === 1005 || isWireCloseCode(code), `close code ${code} delivered`);
      check(code !== 1005 || reason.length === 0, "reason without a code");
      check(isUtf8(reason) || reason.length === 0, "invalid UTF-8 close reason delivered");
      log.push(`c:${code}:${hex(reason)}`);
    },
    onError(error) {
      check(!terminal, "second close/error");
      terminal = true;
      check(error instanceof ProtocolError, `onError got ${error?.name}`);
      check(ERROR_CODE_SET.has(error.code), `unknown error code ${error.code}`);
      check(
        FAILURE_CLOSE_CODES.has(error.closeCode),
        `close code ${error.closeCode} for ${error.code}`,
      );
      log.push(`e:${error.code}:${error.closeCode}`);
    },
  };
  const parser = new FrameParser(
    {
      isServer: cfg.isServer,
      maxPayload: cfg.maxPayload,
      maxFragments: cfg.maxFragments,
      skipUTF8Validation: cfg.skipUTF8Validation,
      inflater,
    },
    events,
  );
  // A fresh copy per run: the parser unmasks payloads in place.
  const bytes = Buffer.from(stream);
  const rng = makeRng(seed);
  const drain = () => {
    while (queue.length > 0) queue.shift()();
  };
  const pushChunk = (chunk) => {
    const pause = plan === "split" && rng.chance(0.2);
    if (pause) parser.pause();
    parser.push(chunk);
    if (!pause || rng.chance(0.5)) drain();
    if (pause) parser.resume();
    if (rng.chance(0.5)) drain();
  };
  if (plan === "whole") {
    parser.push(bytes);
    drain();
  } else if (plan === "bytes") {
    for (let i = 0; i < bytes.length; i++) {
      parser.push(bytes.subarray(i, i + 1));
      drain();
    }
  } else {
    let at = 0;
    while (at < bytes.length) {
      const size = 1 + rng.below(rng.chance(0.3) ? 4 : 64);
      pushChunk(bytes.subarray(at, at + size));
      at += size;
    }
  }
  drain();
  check(!terminal || parser.finished, "parser not finished after close/error");
  return log.join("|");
}

function frameTarget(name) {
  return (input) => {
    if (input.length === 0) return;
    const cfg = frameConfig(input[0], name);
    const stream = input.subarray(1);
    const seed = hashSeed(input);
    const whole = runFrames(stream, cfg, "whole", seed);
    const split = runFrames(stream, cfg, "split", seed);
    check(split === whole, `split feed differs:\n whole ${whole}\n split ${split}`);
    if (stream.length <= 1024) {
      const bytes = runFrames(stream, cfg, "bytes", seed);
      check(bytes === whole, `byte-by-byte feed differs:\n whole ${whole}\n bytes ${bytes}`);
    }
  };
}

// ---- header targets -----------------------------------------------------------------------

function expectSyntaxError(error, what) {
  if (error instanceof FuzzFailure) throw error;
  check(error instanceof SyntaxError, `${what} threw ${error?.name}: ${error?.message}`);
}

function handshakeTarget(input) {
  const text = input.toString("latin1");
  let protocols = null;
  try {
    protocols = parseProtocolList(text);
  } catch (error) {
    expectSyntaxError(error, "parseProtocolList");
  }
  if (protocols !== null) {
    check(protocols instanceof Set && protocols.size > 0, "empty protocol set");
    for (const name of protocols)
      check(isToken(name), `non-token protocol ${JSON.stringify(name)}`);
    const again = parseProtocolList([...protocols].join(", "));
    check([...again].join(",") === [...protocols].join(","), "protocol list does not round-trip");
  }
  const valid = isValidKey(text);
  check(typeof valid === "boolean", "isValidKey returned a non-boolean");
  if (valid) {
    check(
      text.length === 24 && text.endsWith("=="),
      "isValidKey accepted a key of the wrong shape",
    );
    check(
      Buffer.from(text, "base64").length === 16,
      "isValidKey accepted a key that is not 16 bytes",
    );
  }
  const version = isSupportedVersion(text);
  check(
    version === (text === "13" || text === "8"),
    `isSupportedVersion(${JSON.stringify(text)}) = ${version}`,
  );
}

/**
 * The port-mode request-head parser: never throws; a failure is 400 or 505; an accepted head's
 * lines are all field lines, every `headers` key is a lower-cased raw name, and a head that
 * parses also parses with its field lines re-joined from `rawHeaders` (values trimmed).
 */
function httpHeadTarget(input) {
  const end = findHeadEnd(input, 0);
  check(
    end === -1 || (end >= 4 && input.subarray(end - 4, end).toString("latin1") === "\r\n\r\n"),
    "findHeadEnd",
  );
  const text = input.toString("latin1", 0, end === -1 ? input.length : end - 4);
  const result = parseRequestHead(text);
  if (isHeadFailure(result)) {
    check(result.status === 400 || result.status === 505, `status ${result.status}`);
    return;
  }
  check(result.versionMajor === 1, "accepted a version other than 1.x");
  check(result.rawHeaders.length % 2 === 0, "odd rawHeaders");
  const names = new Set();
  for (let i = 0; i < result.rawHeaders.length; i += 2)
    names.add(result.rawHeaders[i].toLowerCase());
  for (const key of Object.keys(result.headers))
    check(names.has(key), `header ${key} not in rawHeaders`);
  for (const name of names)
    check(Object.hasOwn(result.headers, name), `raw ${name} missing from headers`);
  check(Object.getPrototypeOf(result.headers) === Object.prototype, "headers prototype changed");
  const lines = [
    `${result.method} ${result.url} HTTP/${result.versionMajor}.${result.versionMinor}`,
  ];
  for (let i = 0; i < result.rawHeaders.length; i += 2) {
    lines.push(`${result.rawHeaders[i]}: ${result.rawHeaders[i + 1]}`);
  }
  const again = parseRequestHead(lines.join("\r\n"));
  check(!isHeadFailure(again), "a re-joined accepted head was refused");
  check(JSON.stringify(again.headers) === JSON.stringify(result.headers), "re-joined head differs");
}

function describeOffers(offers) {
  return JSON.stringify(offers.map((o) => [o.name, [...o.params]]));
}

function extensionsTarget(input) {
  const text = input.toString("latin1");
  let offers = null;
  try {
    offers = parseExtensions(text);
  } catch (error) {
    expectSyntaxError(error, "parseExtensions");
  }
  if (offers === null) return;
  check(Array.isArray(offers) && offers.length > 0, "no offers from a valid header");
  for (const offer of offers) {
    check(isToken(offer.name), `non-token extension name ${JSON.stringify(offer.name)}`);
    check(offer.params instanceof Map, "params is not a Map");
    for (const [name, values] of offer.params) {
      check(isToken(name), `non-token parameter name ${JSON.stringify(name)}`);
      for (const value of values)
        check(value === true || isToken(value), `non-token value ${JSON.stringify(value)}`);
    }
  }
  const formatted = formatExtensions(offers);
  check(
    describeOffers(parseExtensions(formatted)) === describeOffers(offers),
    "extensions do not round-trip",
  );
}

// ---- permessage-deflate negotiation -------------------------------------------------------

const BOOL_CHOICES = [undefined, true, false, undefined];
const BITS_CHOICES = [
  undefined,
  true,
  false,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15,
  undefined,
  15,
  8,
  9,
  10,
];

/** Two bytes → one set of negotiation options (every combination the options allow). */
function deflateOptions(b0, b1) {
  const options = {};
  const snct = BOOL_CHOICES[b0 & 3];
  const cnct = BOOL_CHOICES[(b0 >> 2) & 3];
  const smwb = BITS_CHOICES[b1 & 15];
  const cmwb = BITS_CHOICES[(b1 >> 4) & 15];
  if (snct !== undefined) options.serverNoContextTakeover = snct;
  if (cnct !== undefined) options.clientNoContextTakeover = cnct;
  if (smwb !== undefined) options.serverMaxWindowBits = smwb;
  if (cmwb !== undefined) options.clientMaxWindowBits = cmwb;
  return options;
}

function checkNegotiated(n, who) {
  for (const key of ["serverMaxWindowBits", "clientMaxWindowBits"]) {
    check(Number.isInteger(n[key]) && n[key] >= 8 && n[key] <= 15, `${who}: ${key} = ${n[key]}`);
  }
  for (const key of ["serverNoContextTakeover", "clientNoContextTakeover"]) {
    check(typeof n[key] === "boolean", `${who}: ${key} not boolean`);
  }
}

function deflateTarget(input) {
  if (input.length < 4) return;
  const serverOptions = deflateOptions(input[0], input[1]);
  const clientOptions = deflateOptions(input[2], input[3]);
  const text = input.subarray(4).toString("latin1");

  // Interop: whatever our server answers to our client's offer, our client must accept, and
  // the two must agree on what each side compresses and inflates with.
  const offer = formatDeflateParams(buildDeflateOffer(clientOptions));
  const accepted = selectDeflateOffer(parseExtensions(offer), serverOptions);
  if (accepted !== null) {
    checkNegotiated(accepted.negotiated, "server");
    const answer = checkDeflateResponse(
      parseExtensions(formatDeflateParams(accepted.response)),
      clientOptions,
    );
    check(answer.ok, `our client refuses our server's answer: ${answer.reason} (offer ${offer})`);
    const c = answer.value;
    const s = accepted.negotiated;
    checkNegotiated(c, "client");
    check(
      c.serverNoContextTakeover === s.serverNoContextTakeover,
      "server_no_context_takeover disagreement",
    );
    check(
      !s.clientNoContextTakeover || c.clientNoContextTakeover,
      "server resets its inflater, client keeps context",
    );
    check(
      c.serverMaxWindowBits >= s.serverMaxWindowBits,
      "client inflates with a smaller window than the server deflates with",
    );
    check(
      c.clientMaxWindowBits <= s.clientMaxWindowBits,
      "client deflates with a larger window than the server inflates with",
    );
  }

  let offers = null;
  try {
    offers = parseExtensions(text);
  } catch (error) {
    expectSyntaxError(error, "parseExtensions");
  }
  if (offers === null) return;
  const declined = [];
  const acceptance = selectDeflateOffer(offers, serverOptions, declined);
  for (const reason of declined) check(typeof reason === "string", "decline reason not a string");
  if (acceptance !== null) {
    checkNegotiated(acceptance.negotiated, "server");
    check(offers[acceptance.index]?.name === "permessage-deflate", "accepted a non-deflate offer");
    const response = parseExtensions(formatDeflateParams(acceptance.response));
    check(response.length === 1, "response is not one element");
    const reparsed = parseDeflateParams(response[0].params, "response");
    check(reparsed.ok, `server wrote an invalid response: ${reparsed.reason}`);
    if (acceptance.response.clientMaxWindowBits !== null) {
      check(
        offers[acceptance.index].params.has("client_max_window_bits"),
        "client_max_window_bits answered but not offered",
      );
    }
  }
  const deflateOffers = offers.filter((o) => o.name === "permessage-deflate");
  const answer = checkDeflateResponse(deflateOffers, clientOptions);
  check(typeof answer.ok === "boolean", "checkDeflateResponse result malformed");
  if (answer.ok) {
    checkNegotiated(answer.value, "client");
    check(deflateOffers.length === 1, "client accepted a response with several elements");
  } else check(typeof answer.reason === "string", "no reason for a refused response");
}

// ---- structured generators (fast-check) ---------------------------------------------------

const INTERESTING_LENGTHS = [
  0n,
  1n,
  125n,
  126n,
  127n,
  0xffffn,
  0x10000n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];

/** Builds one frame from explicit fields (lengths may lie; encodings may be non-minimal). */
function forge(spec) {
  const payload = Buffer.from(spec.payload);
  const length = spec.announced ?? BigInt(payload.length);
  let encoding = spec.encoding;
  const minimal = length <= 125n ? 7 : length <= 0xffffn ? 16 : 64;
  if (encoding < minimal) encoding = minimal;
  const head = [(spec.fin ? 0x80 : 0) | (spec.rsv << 4) | spec.opcode];
  const maskBit = spec.mask ? 0x80 : 0;
  if (encoding === 7) head.push(maskBit | Number(length));
  else if (encoding === 16)
    head.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  const parts = [Buffer.from(head)];
  if (spec.mask) {
    const key = Buffer.from(spec.key);
    parts.push(key, Buffer.from(payload.map((b, i) => b ^ key[i & 3])));
  } else parts.push(payload);
  return Buffer.concat(parts);
}

function closePayloadArb() {
  return fc
    .tuple(
      fc.constantFrom(
        1000,
        1001,
        1002,
        1005,
        1006,
        1015,
        1016,
        2999,
        3000,
        4999,
        5000,
        0,
        999,
        65535,
      ),
      fc.oneof(fc.string({ maxLength: 20 }), fc.constant("\u00e9"), fc.constant(null)),
      fc.boolean(),
    )
    .map(([code, reason, oneByte]) => {
      if (oneByte) return Buffer.from([code & 0xff]);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(code, 0);
      const tail = reason === null ? Buffer.from([0xc3, 0x28]) : Buffer.from(reason);
      return Buffer.concat([head, tail]);
    });
}

const payloadArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  {
    weight: 3,
    arbitrary: fc.string({ maxLength: 100, unit: "binary" }).map((s) => Buffer.from(s)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xf4, 0x90, 0x80, 0x80]),
      Buffer.from([0xe2, 0x82]),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from([0xee, 0x01]),
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 126, max: 1100 }).map((n) => Buffer.alloc(n, 0x61)) },
);

function frameSpecArb(maskDefault) {
  return fc
    .record({
      opcode: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
      ),
      fin: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 2, arbitrary: fc.constant(false) },
      ),
      rsv: fc.oneof(
        { weight: 6, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.constant(4) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) },
      ),
      mask: fc.oneof(
        { weight: 12, arbitrary: fc.constant(maskDefault) },
        { weight: 1, arbitrary: fc.constant(!maskDefault) },
      ),
      key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      payload: payloadArb,
      closePayload: closePayloadArb(),
      encoding: fc.oneof(
        { weight: 8, arbitrary: fc.constant(7) },
        { weight: 1, arbitrary: fc.constantFrom(16, 64) },
      ),
      lie: fc.oneof(
        { weight: 12, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(...INTERESTING_LENGTHS) },
        { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
      ),
      truncate: fc.oneof(
        { weight: 15, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    })
    .map((r) => {
      const payload =
        r.opcode === 8
          ? r.closePayload
          : r.opcode >= 8 && r.payload.length > 125 && r.lie === null
            ? r.payload.subarray(0, 125)
            : r.payload;
      let announced = null;
      if (typeof r.lie === "bigint") announced = r.lie;
      else if (typeof r.lie === "number") {
        const n = BigInt(payload.length) + BigInt(r.lie);
        announced = n < 0n ? 0n : n;
      }
      const frame = forge({ ...r, payload, announced });
      return r.truncate ? frame.subarray(0, Math.max(1, frame.length >> 1)) : frame;
    });
}

function framesArb(target) {
  const maskDefault = target === "frame-server";
  const frames =
    target === "frame-inflate"
      ? fc
          .tuple(
            fc.boolean(),
            fc.array(frameSpecArb(true), { maxLength: 10 }),
            fc.array(frameSpecArb(false), { maxLength: 10 }),
          )
          .map(([server, a, b]) => [server, server ? a : b])
      : fc.array(frameSpecArb(maskDefault), { maxLength: 12 }).map((a) => [maskDefault, a]);
  return fc
    .tuple(fc.integer({ min: 0, max: 255 }), frames, fc.nat({ max: 3 }))
    .map(([config, [server, list], flood]) => {
      let cfg = config;
      if (target === "frame-inflate") cfg = server ? cfg | 0x80 : cfg & 0x7f;
      // Sometimes repeat the last frame many times: fragment and control floods.
      let all = list;
      if (flood === 3 && list.length > 0) all = list.concat(Array(200).fill(list[list.length - 1]));
      return Buffer.concat([Buffer.from([cfg]), ...all]).subarray(0, MAX_INPUT);
    });
}

const TOKEN_WORDS = [
  "permessage-deflate",
  "x-webkit-deflate-frame",
  "server_no_context_takeover",
  "client_no_context_takeover",
  "server_max_window_bits",
  "client_max_window_bits",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "chat",
  "superchat",
  "a",
  "b",
  "8",
  "9",
  "10",
  "15",
  "16",
  "7",
  "08",
  "abc",
  "0",
  "-1",
];

const separatorArb = fc.constantFrom(
  ",",
  ", ",
  " ,",
  ",,",
  " ",
  "\t,",
  ";",
  "; ",
  "=",
  '"',
  "\\",
  "",
);
const wordArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKEN_WORDS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: "binary-ascii" }) },
);

const tokenListArb = fc
  .array(fc.tuple(wordArb, separatorArb), { maxLength: 10 })
  .map((parts) => parts.map(([w, s]) => w + s).join(""));

const paramValueArb = fc.oneof(
  fc.constant(null),
  wordArb,
  wordArb.map((w) => `"${w}"`),
  wordArb.map((w) => `"${w.split("").join("\\")}"`),
  fc.constantFrom('"', '"\\', '""', '"15', " 15", "15 "),
);
const extensionElementArb = fc
  .tuple(
    wordArb,
    fc.array(fc.tuple(wordArb, paramValueArb, fc.constantFrom("; ", ";", " ; ", ";;")), {
      maxLength: 5,
    }),
  )
  .map(
    ([name, params]) =>
      name + params.map(([p, v, sep]) => `${sep}${p}${v === null ? "" : `=${v}`}`).join(""),
  );
const extensionHeaderArb = fc
  .tuple(
    fc.array(extensionElementArb, { minLength: 1, maxLength: 4 }),
    fc.constantFrom(", ", ",", " , ", ",, "),
  )
  .map(([elements, sep]) => elements.join(sep));

const headerTextArb = fc.oneof(
  { weight: 3, arbitrary: tokenListArb },
  { weight: 3, arbitrary: extensionHeaderArb },
  { weight: 2, arbitrary: fc.string({ maxLength: 64, unit: "binary-ascii" }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 32, unit: "binary" }) },
  { weight: 1, arbitrary: fc.base64String({ maxLength: 28 }) },
  { weight: 1, arbitrary: fc.constantFrom("13", "8", "13, 8", " 13", "013", "0xd", "12", "") },
);

const textToBytes = (text) => Buffer.from(text, "latin1");

// ---- targets ------------------------------------------------------------------------------

function frameSeeds(target) {
  const server = target !== "frame-client";
  const key = [1, 2, 3, 4];
  const f = (opcode, payload, extra = {}) =>
    forge({
      opcode,
      fin: true,
      rsv: 0,
      mask: server,
      key,
      payload: Buffer.from(payload),
      encoding: 7,
      announced: null,
      ...extra,
    });
  const cfgs =
    target === "frame-inflate"
      ? [0x80, 0xa0, 0xc2, 0xe1, 0x00, 0x21]
      : [0x00, 0x02, 0x05, 0x1a, 0x0f];
  const deflated = deflateRawSync(Buffer.alloc(64 * 1024), {
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
  const streams = {
    text: f(1, "hello"),
    binary: f(2, Buffer.from([0, 1, 2, 255])),
    fragmented: Buffer.concat([f(1, "he", { fin: false }), f(9, "p"), f(0, "llo")]),
    "len64-top-bit": f(2, "", { encoding: 64, announced: 2n ** 63n }),
    "len64-all-ones": f(2, "", { encoding: 64, announced: 2n ** 64n - 1n }),
    "len-2^53": f(2, "", { encoding: 64, announced: 2n ** 53n }),
    "len-over-limit": f(2, "", { encoding: 16, announced: 1001n }),
    "non-minimal-16": f(1, "abc", { encoding: 16 }),
    "empty-fragment-flood": Buffer.concat([
      f(1, "", { fin: false }),
      ...Array(40).fill(f(0, "", { fin: false })),
      f(0, ""),
    ]),
    "ping-flood": Buffer.concat(Array(60).fill(f(9, "12345678"))),
    "pong-flood": Buffer.concat(Array(60).fill(f(10, ""))),
    rsv2: f(1, "x", { rsv: 2 }),
    "rsv1-no-ext": f(1, "x", { rsv: 4 }),
    "reserved-opcode": f(3, "x"),
    "control-126": f(9, Buffer.alloc(126), {}),
    "fragmented-ping": f(9, "x", { fin: false }),
    "cont-first": f(0, "x"),
    "text-in-text": Buffer.concat([f(1, "a", { fin: false }), f(1, "b")]),
    "close-1-byte": f(8, Buffer.from([3])),
    "close-1005": f(8, Buffer.from([0x03, 0xed])),
    "close-bad-utf8": f(8, Buffer.from([0x03, 0xe8, 0xc3, 0x28])),
    "close-then-text": Buffer.concat([f(8, Buffer.from([0x03, 0xe8])), f(1, "after")]),
    "bad-utf8-split": Buffer.concat([
      f(1, Buffer.from([0xe2, 0x82]), { fin: false }),
      f(0, Buffer.from([0x28])),
    ]),
    surrogate: f(1, Buffer.from([0xed, 0xa0, 0x80])),
    "wrong-mask": forge({
      opcode: 1,
      fin: true,
      rsv: 0,
      mask: !server,
      key,
      payload: Buffer.from("x"),
      encoding: 7,
      announced: null,
    }),
    "compressed-bomb-header": Buffer.concat([
      f(2, deflated.subarray(0, 200), { rsv: 4, fin: false }),
      f(0, deflated.subarray(200, 400)),
    ]),
    "compressed-rsv1-continuation": Buffer.concat([
      f(1, "a", { rsv: 4, fin: false }),
      f(0, "b", { rsv: 4 }),
    ]),
    "lying-length": f(1, "abc", { announced: 20n }),
  };
  // Two configurations per stream (rotating through the list) keep the corpus small.
  const seeds = {};
  Object.entries(streams).forEach(([name, bytes], i) => {
    for (const cfg of [cfgs[i % cfgs.length], cfgs[(i + 1) % cfgs.length]]) {
      seeds[`${name}-c${cfg.toString(16)}`] = Buffer.concat([Buffer.from([cfg]), bytes]);
    }
  });
  return seeds;
}

function textSeeds(list) {
  const seeds = {};
  list.forEach((text, i) => {
    seeds[`s${String(i).padStart(2, "0")}`] = textToBytes(text);
  });
  return seeds;
}

const HEADER_SEEDS = [
  "chat",
  "chat, superchat",
  "a,,b",
  "a b",
  "a, a",
  '"quoted"',
  `b${" ".repeat(300)}x`,
  ",".repeat(200),
  "__proto__",
  "constructor, __proto__",
  "toString",
  "dGhlIHNhbXBsZSBub25jZQ==",
  "dGhlIHNhbXBsZSBub25jZQ=x",
  "dGhlIHNhbXBsZSBub25j*Q==",
  "AAAAAAAAAAAAAAAAAAAAAA==",
  "13",
  "8",
  "13, 8",
  " 13",
  "013",
  "0xd",
  "4 @1 46546xW%0l 1 5",
  "12998 5 Y3 1  .P00",
  "\u0000",
  "chat\u0000",
  "\r\n",
];

const EXTENSION_SEEDS = [
  "permessage-deflate",
  "permessage-deflate; client_max_window_bits",
  "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
  "constructor",
  ", ; constructor",
  "permessage-deflate; __proto__=1",
  "toString; toString",
  "hasOwnProperty=1",
  `permessage-deflate; x="${"\\c".repeat(200)}`,
  'permessage-deflate; x="a\\',
  "permessage-deflate; server_max_window_bits=16",
  "permessage-deflate; server_max_window_bits=7",
  "permessage-deflate; server_max_window_bits=abc",
  "permessage-deflate; server_max_window_bits=",
  "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
  "permessage-deflate; foo",
  "permessage-deflate; client_max_window_bits=10",
  'permessage-deflate; server_max_window_bits="10"',
  "permessage-deflate; client_no_context_takeover=1",
  `a${" ".repeat(200)}b`,
  "permessage-deflate; server_max_window_bits=16, permessage-deflate",
  "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=08",
  "permessage-deflate;;",
  "permessage-deflate;=1",
  "permessage-deflate; a=\u0001",
  'foo, bar; baz="q"',
];

function deflateSeeds() {
  const seeds = {};
  const optionBytes = [
    [0, 0, 0, 0],
    [0x05, 0xa3, 0x0a, 0x13],
    [0x0a, 0x21, 0x00, 0x40],
    [0x03, 0xff, 0x0f, 0xf0],
    [0x01, 0x12, 0x04, 0x31],
  ];
  EXTENSION_SEEDS.forEach((text, i) => {
    const opts = optionBytes[i % optionBytes.length];
    seeds[`s${String(i).padStart(2, "0")}`] = Buffer.concat([Buffer.from(opts), textToBytes(text)]);
  });
  return seeds;
}

const TARGETS = {
  "frame-server": {
    run: frameTarget("frame-server"),
    seeds: () => frameSeeds("frame-server"),
    arb: () => framesArb("frame-server"),
    dict: [],
  },
  "frame-client": {
    run: frameTarget("frame-client"),
    seeds: () => frameSeeds("frame-client"),
    arb: () => framesArb("frame-client"),
    dict: [],
  },
  "frame-inflate": {
    run: frameTarget("frame-inflate"),
    seeds: () => frameSeeds("frame-inflate"),
    arb: () => framesArb("frame-inflate"),
    dict: [],
  },
  handshake: {
    run: handshakeTarget,
    seeds: () => textSeeds(HEADER_SEEDS),
    arb: () => headerTextArb.map(textToBytes),
    dict: TOKEN_WORDS,
  },
  "http-head": {
    run: httpHeadTarget,
    seeds: () =>
      textSeeds([
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "GET /a?b HTTP/1.1\r\nHost: h\r\nCookie: a\r\ncookie: b\r\nSet-Cookie: c\r\n\r\nrest",
        "GET / HTTP/1.1\r\nHost: h\r\n __proto__: x\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET / HTTP/1.0\r\nX:\t v \t\r\n\r\n",
      ]),
    arb: () => headerTextArb.map(textToBytes),
    dict: [...TOKEN_WORDS, "\r\n", ": ", "Host", "HTTP/1.1", "GET ", "\r\n\r\n"],
  },
  extensions: {
    run: extensionsTarget,
    seeds: () => textSeeds(EXTENSION_SEEDS),
    arb: () => headerTextArb.map(textToBytes),
    dict: TOKEN_WORDS,
  },
  deflate: {
    run: deflateTarget,
    seeds: deflateSeeds,
    arb: () =>
      fc
        .tuple(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.oneof(extensionHeaderArb, headerTextArb),
        )
        .map(([o, t]) => Buffer.concat([Buffer.from(o), textToBytes(t)])),
    dict: TOKEN_WORDS,
  },
};

// ---- corpus and crashes -------------------------------------------------------------------

const corpusRoot = join(root, "fuzz/corpus");
const crashRoot = join(root, "fuzz/crashes");
const SAVE_LIMIT_PER_TARGET = 20;

function loadCorpus(name, target) {
  const dir = join(corpusRoot, name);
  const entries = [];
  if (existsSync(dir)) {
    for (const file of readdirSync(dir).sort()) entries.push(readFileSync(join(dir, file)));
  }
  if (entries.length === 0) entries.push(...Object.values(target.seeds()));
  return entries;
}

function writeSeeds() {
  let count = 0;
  for (const [name, target] of Object.entries(TARGETS)) {
    const dir = join(corpusRoot, name);
    mkdirSync(dir, { recursive: true });
    for (const [seedName, bytes] of Object.entries(target.seeds())) {
      writeFileSync(join(dir, `seed-${seedName}.bin`), bytes);
      count++;
    }
  }
  console.log(`wrote ${count} seed files under fuzz/corpus/`);
}

function saveCrash(name, input, error) {
  mkdirSync(crashRoot, { recursive: true });
  const id = createHash("sha1").update(input).digest("hex").slice(0, 16);
  const file = join(crashRoot, `${name}-${id}.bin`);
  writeFileSync(file, input);
  writeFileSync(`${file}.txt`, `${error?.stack ?? String(error)}\n`);
  return file;
}

// ---- coverage ------------------------------------------------------------------------------

/**
 * V8 precise block coverage of the protocol modules. V8 leaves out a block whose count equals
 * its parent's, so a block is known as "executed" once it is reported with a count, or once a
 * block earlier reported as never run is no longer reported as such in a call of its function.
 */
class Coverage {
  constructor(filter) {
    this.filter = filter;
    this.session = new Session();
    this.session.connect();
    this.post("Profiler.enable");
    this.post("Profiler.startPreciseCoverage", { callCount: true, detailed: true });
    this.executed = new Set();
    this.knownZero = new Map();
  }
  post(method, params = {}) {
    let result;
    let failure;
    // The in-process inspector session calls back synchronously.
    this.session.post(method, params, (error, value) => {
      failure = error;
      result = value;
    });
    if (failure) throw failure;
    return result;
  }
  /** Blocks executed since the last call that were never seen executed before. */
  takeFresh() {
    const fresh = new Set();
    const { result } = this.post("Profiler.takePreciseCoverage");
    for (const script of result) {
      if (!script.url.includes(this.filter)) continue;
      for (const fn of script.functions) {
        const first = fn.ranges[0];
        if (first === undefined || first.count === 0) continue;
        const fnKey = `${script.url}:${first.startOffset}:${first.endOffset}`;
        const zeroNow = new Set();
        for (const range of fn.ranges) {
          const key = `${script.url}:${range.startOffset}:${range.endOffset}`;
          if (range.count > 0) {
            if (!this.executed.has(key)) fresh.add(key);
          } else zeroNow.add(key);
        }
        let known = this.knownZero.get(fnKey);
        if (known === undefined) {
          known = new Set();
          this.knownZero.set(fnKey, known);
        }
        for (const key of known) if (!zeroNow.has(key) && !this.executed.has(key)) fresh.add(key);
        for (const key of zeroNow) if (!this.executed.has(key)) known.add(key);
      }
    }
    return fresh;
  }
  commit(keys) {
    for (const key of keys) this.executed.add(key);
  }
  get size() {
    return this.executed.size;
  }
}

// ---- mutation ------------------------------------------------------------------------------

const INTERESTING_BYTES = [
  0x00, 0x01, 0x02, 0x08, 0x09, 0x0a, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8a, 0xc1,
  0xfe, 0xff, 0x20, 0x2c, 0x3b, 0x3d, 0x22, 0x5c,
];

function mutate(input, corpus, dict, rng) {
  let out = Buffer.from(input);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.below(out.length + 1);
    switch (rng.below(11)) {
      case 0:
        if (out.length > 0) out[rng.below(out.length)] ^= 1 << rng.below(8);
        break;
      case 1:
        if (out.length > 0) out[rng.below(out.length)] = rng.below(256);
        break;
      case 2:
        if (out.length > 0)
          out[rng.below(out.length)] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.length)];
        break;
      case 3: {
        const insert = Buffer.alloc(1 + rng.below(8));
        for (let i = 0; i < insert.length; i++) insert[i] = rng.below(256);
        out = Buffer.concat([out.subarray(0, at), insert, out.subarray(at)]);
        break;
      }
      case 4: {
        const length = 1 + rng.below(16);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + length)]);
        break;
      }
      case 5: {
        // Duplicate a slice in place: floods of one frame or one header element.
        const start = rng.below(out.length + 1);
        const piece = out.subarray(start, start + 1 + rng.below(32));
        const times = 1 + rng.below(rng.chance(0.2) ? 64 : 4);
        out = Buffer.concat([out.subarray(0, at), ...Array(times).fill(piece), out.subarray(at)]);
        break;
      }
      case 6: {
        const other = corpus[rng.below(corpus.length)];
        const start = rng.below(other.length + 1);
        out = Buffer.concat([
          out.subarray(0, at),
          other.subarray(start, start + 1 + rng.below(64)),
          out.subarray(at),
        ]);
        break;
      }
      case 7: {
        // A big-endian 16- or 64-bit length from the interesting set.
        const value = INTERESTING_LENGTHS[rng.below(INTERESTING_LENGTHS.length)];
        const wide = rng.chance(0.5);
        const bytes = Buffer.alloc(wide ? 8 : 2);
        if (wide) bytes.writeBigUInt64BE(value & 0xffffffffffffffffn);
        else bytes.writeUInt16BE(Number(value & 0xffffn));
        out = Buffer.concat([out.subarray(0, at), bytes, out.subarray(at + bytes.length)]);
        break;
      }
      case 8:
        if (dict.length > 0) {
          const word = Buffer.from(dict[rng.below(dict.length)], "latin1");
          out = Buffer.concat([out.subarray(0, at), word, out.subarray(at)]);
        } else out = out.subarray(0, at);
        break;
      case 9:
        out = out.subarray(0, at);
        break;
      default:
        if (out.length > 0) {
          const i = rng.below(out.length);
          out[i] = (out[i] + (rng.chance(0.5) ? 1 : 255)) & 0xff;
        }
    }
  }
  return out.length > MAX_INPUT ? out.subarray(0, MAX_INPUT) : out;
}

// ---- the loop ------------------------------------------------------------------------------

/** Runs one input; returns the failure (or null). */
function execute(target, input) {
  // CPU time, not wall time: on a shared machine a niced fuzzer is preempted for seconds, and
  // that is not the input's fault. A slow input is re-run twice; only a consistently slow one
  // (GC pauses are not) is a finding.
  let cpuMs = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = process.cpuUsage();
    try {
      target.run(input);
    } catch (error) {
      return error;
    }
    const used = process.cpuUsage(started);
    cpuMs = (used.user + used.system) / 1000;
    if (cpuMs <= SLOW_MS) return null;
  }
  return new FuzzFailure(`input took ${cpuMs.toFixed(0)} ms of CPU three times (> ${SLOW_MS} ms)`);
}

function main() {
  if (args.writeSeeds) {
    writeSeeds();
    return 0;
  }
  const names = args.targets ?? Object.keys(TARGETS);
  for (const name of names) if (!(name in TARGETS)) throw new Error(`unknown target ${name}`);

  if (args.replay !== null) {
    if (names.length !== 1) throw new Error("--replay needs exactly one --target");
    // Same conditions as the run that found it: block coverage on unless --no-coverage.
    const replayCoverage = args.coverage ? new Coverage(loaded.coverageFilter) : null;
    replayCoverage?.takeFresh();
    const error = execute(TARGETS[names[0]], readFileSync(args.replay));
    console.log(error === null ? "no failure" : `failure: ${error.stack ?? error}`);
    return error === null ? 0 : 1;
  }

  const coverage = args.coverage ? new Coverage(loaded.coverageFilter) : null;
  const rng = makeRng(args.seed);
  const state = new Map();
  for (const name of names) {
    state.set(name, {
      corpus: loadCorpus(name, TARGETS[name]),
      tried: 0,
      property: 0,
      mutation: 0,
      added: 0,
      saved: 0,
      crashes: [],
      done: false,
    });
  }
  console.log(
    `fuzz: ${names.length} targets, ${args.seconds} s, seed ${args.seed}, code from ${loaded.from}, coverage ${coverage ? "on" : "off"}`,
  );

  const addInteresting = (name, input) => {
    const s = state.get(name);
    s.corpus.push(input);
    s.added++;
    if (args.saveCorpus && s.saved < SAVE_LIMIT_PER_TARGET && input.length <= 1024) {
      const dir = join(corpusRoot, name);
      mkdirSync(dir, { recursive: true });
      const id = createHash("sha1").update(input).digest("hex").slice(0, 16);
      writeFileSync(join(dir, `cov-${id}.bin`), input);
      s.saved++;
    }
  };

  const recordCrash = (name, input, error) => {
    const s = state.get(name);
    const file = saveCrash(name, input, error);
    s.crashes.push(file);
    s.done = true; // one finding per target per run; fix it, then fuzz on
    console.log(`CRASH in ${name}: ${error?.message ?? error}\n  saved ${file}`);
  };

  // Attributes fresh coverage of a batch to its inputs (re-running them one by one).
  const attribute = (name, target, batch, fresh) => {
    for (const input of batch) {
      if (fresh.size === 0) break;
      coverage.takeFresh();
      execute(target, input);
      const mine = coverage.takeFresh();
      let novel = false;
      for (const key of mine) {
        if (fresh.has(key)) {
          novel = true;
          fresh.delete(key);
        }
      }
      if (novel) {
        coverage.commit(mine);
        addInteresting(name, input);
      }
    }
    coverage.commit(fresh);
  };

  const deadline = performance.now() + args.seconds * 1000;
  const slice = Math.min(5000, Math.max(500, (args.seconds * 1000) / (names.length * 4)));
  let lastReport = performance.now();
  coverage?.takeFresh();
  while (performance.now() < deadline && names.some((n) => !state.get(n).done)) {
    for (const name of names) {
      const s = state.get(name);
      if (s.done) continue;
      const target = TARGETS[name];
      const sliceEnd = Math.min(deadline, performance.now() + slice);
      let useProperty = true;
      while (performance.now() < sliceEnd && !s.done) {
        useProperty = !useProperty || coverage === null;
        const batch = [];
        if (useProperty) {
          const result = fc.check(
            fc.property(target.arb(), (input) => {
              batch.push(input);
              const error = execute(target, input);
              if (error !== null) throw error;
            }),
            { numRuns: 64, seed: rng.next() | 0 },
          );
          s.tried += result.numRuns;
          s.property += result.numRuns;
          if (result.failed) {
            recordCrash(
              name,
              result.counterexample?.[0] ?? batch[batch.length - 1],
              result.errorInstance,
            );
            break;
          }
        } else {
          for (let i = 0; i < 64; i++) {
            const parent = s.corpus[rng.below(s.corpus.length)];
            const input = mutate(parent, s.corpus, target.dict, rng);
            batch.push(input);
            s.tried++;
            s.mutation++;
            const error = execute(target, input);
            if (error !== null) {
              recordCrash(name, input, error);
              break;
            }
          }
        }
        if (coverage !== null && !s.done) {
          const fresh = coverage.takeFresh();
          if (fresh.size > 0) attribute(name, target, batch, fresh);
        }
      }
      if (performance.now() - lastReport > 60_000) {
        lastReport = performance.now();
        report(state, coverage, false);
      }
      if (performance.now() >= deadline) break;
    }
  }
  report(state, coverage, true);
  const crashes = [...state.values()].reduce((n, s) => n + s.crashes.length, 0);
  return crashes === 0 ? 0 : 1;
}

function report(state, coverage, final) {
  const lines = [final ? "fuzz: done" : "fuzz: progress"];
  let total = 0;
  for (const [name, s] of state) {
    total += s.tried;
    lines.push(
      `  ${name.padEnd(14)} ${String(s.tried).padStart(10)} inputs (${s.property} property, ${s.mutation} mutation), corpus ${s.corpus.length} (+${s.added}), crashes ${s.crashes.length}`,
    );
  }
  lines.push(
    `  total          ${String(total).padStart(10)} inputs${coverage ? `, ${coverage.size} blocks covered` : ""}`,
  );
  console.log(lines.join("\n"));
}

process.exitCode = main();
