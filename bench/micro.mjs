#!/usr/bin/env node
// Micro-benchmarks of the frame codec: `npm run bench:micro` (builds dist/ first).
//
// Measures, on the compiled CommonJS output, the pieces every message goes through: parsing
// (masked frames, as a server receives them), serialising (header + mask), masking itself
// (WebAssembly SIMD and word-wise JS vs a byte loop vs bufferutil's native code) and UTF-8 validation (whole message vs
// the incremental validator fed 1 KiB fragments). Each case runs for a fixed time slice after a
// warm-up, so the whole run stays well under a minute. Figures are per-process, single-threaded and
// indicative: on a shared machine, compare rows of one run rather than runs.
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
// The compiled CommonJS build: what `require("socketeer")` and the ESM wrapper both load.
const { FrameParser } = require("../dist/cjs/protocol/frame-parser.js");
const {
  writeFrameHeader,
  frameHeaderLength,
  encodeFrame,
  maskKeys,
} = require("../dist/cjs/protocol/frame-writer.js");
const { mask, unmask, unmaskWords, SIMD_THRESHOLD } = require("../dist/cjs/protocol/mask.js");
const { isValidUtf8, Utf8Validator } = require("../dist/cjs/protocol/utf8.js");

let bufferutil = null;
try {
  bufferutil = require("bufferutil");
} catch {
  // Optional native addon: its rows are skipped when it does not load.
}

/** ws's frame parser (a dev dependency, for side-by-side parse rows), or null without ws. */
let WsReceiver = null;
try {
  WsReceiver = require(join(dirname(require.resolve("ws")), "lib", "receiver.js"));
} catch {
  // Its rows are skipped.
}

// Usage: node bench/micro.mjs [--quick] [parse|serialize|mask|utf8 ...]
const QUICK = process.argv.includes("--quick");
const ONLY = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const wanted = (section) => ONLY.length === 0 || ONLY.includes(section);
/** Time slice per measured case, after a shorter warm-up that lets the JIT settle. */
const SLICE_MS = QUICK ? 60 : 250;
const WARMUP_MS = QUICK ? 20 : 60;

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [
  ["16 B", 16],
  ["1 KiB", KiB],
  ["64 KiB", 64 * KiB],
  ["1 MiB", MiB],
];

/** Defeats dead-code elimination: every case folds something it computed into this. */
let sink = 0;

/**
 * Runs `fn` (one operation) in growing batches until `ms` have passed; returns operations/second.
 * Batching keeps the clock reads out of the measurement for nanosecond-scale operations.
 */
function measure(fn, ms) {
  let batch = 1;
  let ops = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
    if (elapsed < limit / 20n) batch *= 2;
  }
  return ops / (Number(elapsed) / 1e9);
}

function bench(fn) {
  measure(fn, WARMUP_MS);
  return measure(fn, SLICE_MS);
}

// ── table output ─────────────────────────────────────────────────────────────────────────────

const rows = [];
function row(section, name, size, opsPerSec, bytesPerOp, note = "") {
  rows.push({ section, name, size, opsPerSec, mbPerSec: (opsPerSec * bytesPerOp) / 1e6, note });
  const last = rows.at(-1);
  process.stderr.write(`  ${section} · ${name} · ${size}: ${fmtOps(last.opsPerSec)}/s\n`);
}

function fmtOps(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(1);
}

function fmtMB(n) {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function printTable() {
  const head = ["case", "size", "ops/s", "MB/s", "note"];
  const body = rows.map((r) => [
    `${r.section}: ${r.name}`,
    r.size,
    fmtOps(r.opsPerSec),
    fmtMB(r.mbPerSec),
    r.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((line) => line[i].length)));
  const line = (cells) =>
    cells
      .map((cell, i) => (i === 2 || i === 3 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  let section = "";
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].section !== section && section !== "") console.log("");
    section = rows[i].section;
    console.log(line(body[i]));
  }
}

// ── inputs ───────────────────────────────────────────────────────────────────────────────────

/** Deterministic pseudo-random bytes (xorshift), so runs compare like with like. */
function bytes(length, seed = 1) {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** One masked binary frame, as a client sends it (RFC 6455 §5.1). */
function maskedFrame(payload) {
  const out = Buffer.allocUnsafe(frameHeaderLength(payload.length, true) + payload.length);
  const at = writeFrameHeader(out, 0, {
    fin: true,
    rsv1: false,
    opcode: 0x2,
    payloadLength: payload.length,
    maskKey: KEY,
  });
  mask(payload, KEY, out, at);
  return out;
}

function newParser(onMessage) {
  return new FrameParser(
    { isServer: true, maxPayload: 0, maxFragments: 0, skipUTF8Validation: false, inflater: null },
    {
      onMessage,
      onPing() {},
      onPong() {},
      onClose() {},
      onError(error) {
        throw error;
      },
    },
  );
}

// ── parse ────────────────────────────────────────────────────────────────────────────────────

function benchParse() {
  for (const [label, size] of SIZES) {
    const frame = maskedFrame(bytes(size, size));
    // Socket-like: a stream of back-to-back frames (at least 1 MiB of them) cut into the 64 KiB
    // reads a socket hands over, so small frames come many to a chunk and large ones in pieces.
    // Binary frames: the parser unmasks in place, so re-pushing the same chunks toggles the
    // payload between masked and clear, which binary data does not mind (text would fail UTF-8).
    const count = Math.max(1, Math.ceil(MiB / frame.length));
    const stream = Buffer.concat(Array.from({ length: count }, () => frame));
    const reads = [];
    for (let i = 0; i < stream.length; i += 64 * KiB) reads.push(stream.subarray(i, i + 64 * KiB));
    // "fresh": each read copied into a new buffer first, as Node hands a socket's reads over
    // (the copy stands in for the kernel's); shown for frames that span reads, where it decides
    // whether the pieces are still in cache when they are joined.
    for (const fresh of size >= 64 * KiB ? [false, true] : [false]) {
      const feed = fresh ? (read) => Buffer.from(read) : (read) => read;
      const mode = fresh ? "64 KiB fresh reads" : "64 KiB reads";
      let messages = 0;
      const parser = newParser((data) => {
        messages++;
        sink ^= data.length;
      });
      const perStream = bench(() => {
        for (const read of reads) parser.push(feed(read));
      });
      if (messages % count !== 0) throw new Error("parse bench lost frames");
      row("parse", mode, label, perStream * count, size, `${count} frame(s) per MiB pass`);
      if (WsReceiver === null) continue;
      // The same reads through ws's Receiver (with bufferutil when it loads), as ws's socket
      // feeds it: one _write per read.
      let wsMessages = 0;
      const receiver = new WsReceiver({ isServer: true, maxPayload: 0 });
      receiver.on("message", (data) => {
        wsMessages++;
        sink ^= data.length;
      });
      receiver.on("error", (error) => {
        throw error;
      });
      const noop = () => {};
      const wsPerStream = bench(() => {
        for (const read of reads) receiver._write(feed(read), "buffer", noop);
      });
      if (wsMessages % count !== 0) throw new Error("ws parse bench lost frames");
      const note = `${count} frame(s) per MiB pass`;
      row("parse", `${mode}, ws Receiver`, label, wsPerStream * count, size, note);
    }

    // One push per frame: per-push overhead for small frames, the zero-copy path for large ones.
    const single = newParser((data) => {
      sink ^= data.length;
    });
    const perFrame = bench(() => single.push(frame));
    row("parse", "one frame per push", label, perFrame, size);
  }
}

// ── serialise ────────────────────────────────────────────────────────────────────────────────

function benchSerialize() {
  for (const [label, size] of SIZES) {
    const payload = bytes(size, 7);
    const out = Buffer.allocUnsafe(frameHeaderLength(size, true) + size);
    const prealloc = bench(() => {
      // The key view is only valid until the pool refills: used at once, as the sender does.
      const key = maskKeys.next();
      const at = writeFrameHeader(out, 0, {
        fin: true,
        rsv1: false,
        opcode: 0x2,
        payloadLength: size,
        maskKey: key,
      });
      mask(payload, key, out, at);
      sink ^= out[at];
    });
    row("serialize", "header + mask (prealloc)", label, prealloc, size, "client role");
    const alloc = bench(() => {
      sink ^= encodeFrame(0x2, payload, { mask: true }).length;
    });
    row("serialize", "encodeFrame (allocates)", label, alloc, size, "client role");
  }
}

// ── mask / unmask ────────────────────────────────────────────────────────────────────────────

/** The plain loop the word-wise code is measured against. */
function byteUnmask(data, key) {
  for (let i = 0; i < data.length; i++) data[i] ^= key[i & 3];
}

function byteMask(source, key, target, offset) {
  for (let i = 0; i < source.length; i++) target[offset + i] = source[i] ^ key[i & 3];
}

function benchMask() {
  for (const [label, size] of SIZES) {
    // Offset 1 in the backing store: the unaligned case Node's pooled buffers often present.
    const data = Buffer.alloc(size + 1).subarray(1);
    data.set(bytes(size, 3));
    const source = bytes(size, 5);
    const target = Buffer.allocUnsafe(size + 14);

    row(
      "unmask",
      "socketeer",
      label,
      bench(() => unmask(data, KEY)),
      size,
      size >= SIMD_THRESHOLD ? "in place, WebAssembly SIMD" : "in place, word-wise JS",
    );
    row(
      "unmask",
      "word-wise JS (fallback)",
      label,
      bench(() => unmaskWords(data, KEY)),
      size,
      "in place",
    );
    row(
      "unmask",
      "byte loop",
      label,
      bench(() => byteUnmask(data, KEY)),
      size,
      "in place",
    );
    if (bufferutil) {
      row(
        "unmask",
        "bufferutil (native)",
        label,
        bench(() => bufferutil.unmask(data, KEY)),
        size,
      );
    }
    row(
      "mask",
      "socketeer",
      label,
      bench(() => mask(source, KEY, target, 6)),
      size,
    );
    row(
      "mask",
      "byte loop",
      label,
      bench(() => byteMask(source, KEY, target, 6)),
      size,
    );
    if (bufferutil) {
      row(
        "mask",
        "bufferutil (native)",
        label,
        bench(() => bufferutil.mask(source, KEY, target, 6, size)),
        size,
      );
    }
    sink ^= data[0] ^ target[6];
  }
}

// ── UTF-8 ────────────────────────────────────────────────────────────────────────────────────

/** `size` bytes of valid UTF-8 made by repeating `unit` (cut back to a character boundary). */
function text(unit, size) {
  const one = Buffer.from(unit, "utf8");
  const out = Buffer.alloc(size);
  let at = 0;
  while (at + one.length <= size) {
    one.copy(out, at);
    at += one.length;
  }
  out.fill(0x20, at); // pad with spaces: still valid
  if (!isValidUtf8(out)) throw new Error("bench text is not valid UTF-8");
  return out;
}

function benchUtf8() {
  const kinds = [
    ["ASCII", "The quick brown fox jumps over the lazy dog. "],
    ["multi-byte", "héllo wörld € ✓ 日本語 😀𝄞 "],
  ];
  for (const [kind, unit] of kinds) {
    for (const [label, size] of [
      ["64 KiB", 64 * KiB],
      ["1 MiB", MiB],
    ]) {
      const message = text(unit, size);
      // 1 KiB fragments cut at byte offsets, so multi-byte characters straddle fragment edges.
      const fragments = [];
      for (let i = 0; i < size; i += KiB) fragments.push(message.subarray(i, i + KiB));
      const validator = new Utf8Validator();
      row(
        "utf8",
        `isValidUtf8 whole, ${kind}`,
        label,
        bench(() => {
          if (!isValidUtf8(message)) throw new Error("invalid");
        }),
        size,
      );
      row(
        "utf8",
        `Utf8Validator 1 KiB frags, ${kind}`,
        label,
        bench(() => {
          for (const fragment of fragments)
            if (!validator.push(fragment)) throw new Error("invalid");
          if (!validator.end()) throw new Error("truncated");
        }),
        size,
        `${fragments.length} pushes`,
      );
    }
  }
}

// ── main ─────────────────────────────────────────────────────────────────────────────────────

const started = Date.now();
const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(
  `socketeer codec micro-benchmarks · node ${process.version} · ${cpu} · ${cpus().length} cores` +
    ` · bufferutil ${bufferutil ? "loaded" : "not available"}`,
);
console.log(
  `(${SLICE_MS} ms per case after ${WARMUP_MS} ms warm-up; MB = 10^6 bytes of payload)\n`,
);
if (wanted("parse")) benchParse();
if (wanted("serialize")) benchSerialize();
if (wanted("mask")) benchMask();
if (wanted("utf8")) benchUtf8();
printTable();
console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(1)} s (checksum ${sink & 0xff})`);
