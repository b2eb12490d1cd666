// One server under test, in its own process (run.mjs pins it to core 0 with taskset).
//
//   node --expose-gc bench/lib/server.mjs <impl> <mode> [deflate]
//   impl: socketeer | socketeer-loop | ws | net | uws
//   mode: echo | broadcast | handshake | memory
//
// Every implementation does the same job the way its documentation says to do it; nothing is
// tuned for the benchmark beyond lifting limits that would otherwise refuse the test traffic
// (uWS's 16 KiB maxPayloadLength and 64 KiB maxBackpressure, its 120 s idle timeout).
// Reports { type: "ready", port, info } over IPC, then answers { cmd: "stats" } requests.
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, "package.json"));
const [impl, mode, deflateArg] = process.argv.slice(2);
const deflate = deflateArg === "deflate";
const HOST = "127.0.0.1";
const TOPIC = "bench";
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

let conns = 0;
let errors = 0;
const info = { impl, mode, deflate };

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version;
  } catch {
    return "?";
  }
}

/** Which native addons this process loaded, and whether ws's optional helpers are native. */
function nativeReport() {
  const keys = Object.keys(require.cache);
  const helper = (name) => {
    const dir = `${sep}node_modules${sep}${name}${sep}`;
    if (keys.some((k) => k.includes(dir) && k.endsWith(".node"))) return "native";
    if (keys.some((k) => k.includes(dir))) return "JS fallback";
    return "not loaded";
  };
  const bu = helper("bufferutil");
  const uv = helper("utf-8-validate");
  const out = {
    bufferutil: bu,
    "utf-8-validate": uv,
    addons: keys.filter((k) => k.endsWith(".node")).map((k) => k.slice(root.length + 1)),
  };
  if (impl === "ws") {
    // What ws 8 actually uses, in its own order of preference (lib/buffer-util.js and
    // lib/validation.js): Node's built-ins when present, else the optional addons, else JS.
    out.masking = require("node:http").websocketMask
      ? "node:http websocketMask (built in)"
      : bu === "native"
        ? "bufferutil (native) for ≥ 48 B, JS below"
        : `JS (bufferutil ${bu})`;
    out.utf8 = require("node:buffer").isUtf8
      ? "node:buffer isUtf8 (built in, native) for ≥ 24 B, JS below"
      : uv === "native"
        ? "utf-8-validate (native)"
        : `JS (utf-8-validate ${uv})`;
  }
  if (impl === "socketeer") {
    const { simdMasker } = require(join(root, "dist", "cjs", "protocol", "simd-mask.js"));
    const { SIMD_THRESHOLD, WORD_THRESHOLD } = require(
      join(root, "dist", "cjs", "protocol", "mask.js"),
    );
    out.masking =
      simdMasker() !== null
        ? `WebAssembly SIMD for ≥ ${SIMD_THRESHOLD} B, JS below`
        : `JS word-wise for ≥ ${WORD_THRESHOLD} B (no WebAssembly SIMD)`;
    out.utf8 = "node:buffer isUtf8 (built in, native)";
  }
  return out;
}

/** ws and socketeer share this: socketeer's server is a drop-in for ws 8's. */
function startWsLike(WebSocketServer, WebSocket, label) {
  const wss = new WebSocketServer({
    host: HOST,
    port: 0,
    perMessageDeflate: deflate,
  });
  wss.on("error", () => errors++);
  if (mode === "echo") {
    wss.on("connection", (ws) => {
      conns++;
      ws.on("error", () => errors++);
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on("close", () => conns--);
    });
  } else if (mode === "broadcast") {
    // ── PUB/SUB SLOT ──────────────────────────────────────────────────────────────────────────
    // socketeer will have `server.publish(topic, data)` and `socket.subscribe(topic)`. As soon as
    // the built library exposes them, the "socketeer" server uses them automatically; the
    // "socketeer-loop" server keeps using ws's documented loop for comparison. If the final
    // signature differs (e.g. options for binary), adjust ONLY the two calls below.
    if (impl === "socketeer" && typeof wss.publish === "function") {
      info.broadcast = "server.publish(topic, data)";
      wss.on("connection", (ws) => {
        conns++;
        ws.on("error", () => errors++);
        ws.subscribe(TOPIC);
        ws.on("message", (data, isBinary) => wss.publish(TOPIC, data, { binary: isBinary }));
        ws.on("close", () => conns--);
      });
    } else {
      // ws's README "Server broadcast" example, verbatim in substance.
      info.broadcast = "wss.clients.forEach loop (ws README)";
      wss.on("connection", (ws) => {
        conns++;
        ws.on("error", () => errors++);
        ws.on("message", (data, isBinary) => {
          wss.clients.forEach((client) => {
            if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
          });
        });
        ws.on("close", () => conns--);
      });
    }
    // ──────────────────────────────────────────────────────────────────────────────────────────
  } else {
    wss.on("connection", (ws) => {
      conns++;
      ws.on("error", () => errors++);
      ws.on("close", () => conns--);
    });
  }
  wss.on("listening", () => ready(wss.address().port, label));
}

function startNet() {
  info.version = process.version;
  const sockets = new Set();
  const server = net.createServer((s) => {
    conns++;
    sockets.add(s);
    // Same as ws and uWS do for their sockets: no Nagle delay on small replies.
    s.setNoDelay(true);
    s.on("error", () => errors++);
    s.on("close", () => {
      conns--;
      sockets.delete(s);
    });
    if (mode === "echo") {
      // Bytes in, same bytes out. Not pipe(): its pause/resume at a 16 KiB high-water mark halves
      // large-message throughput, and the generator already bounds what is in flight (ws does not
      // pause on backpressure either).
      s.on("data", (chunk) => s.write(chunk));
    } else if (mode === "broadcast") {
      // The cheapest possible fan-out: every chunk from any socket is written to every socket.
      // Receivers see the publisher's (masked) frames; the generator counts those the same way.
      s.on("data", (chunk) => {
        for (const o of sockets) o.write(chunk);
      });
    } else {
      netMinimalUpgrade(s);
    }
  });
  server.on("error", () => errors++);
  server.listen(0, HOST, () => ready(server.address().port, "net"));
}

/**
 * The least a TCP server can do to pass as a WebSocket server for the handshake and idle-memory
 * scenarios: answer the upgrade with a correct accept, answer a close frame and end. It is the
 * floor those scenarios are compared against, not a WebSocket implementation.
 */
function netMinimalUpgrade(s) {
  let head = "";
  let upgraded = false;
  s.on("data", (chunk) => {
    if (!upgraded) {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > 8192) s.destroy();
        return;
      }
      const m = /\r\nsec-websocket-key:[ \t]*([^\r\n]+)/i.exec(head.slice(0, end));
      if (m === null) return s.destroy();
      const accept = createHash("sha1")
        .update(m[1].trim() + GUID)
        .digest("base64");
      s.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      upgraded = true;
      head = "";
      return;
    }
    // The generator only ever sends a close frame here (8 bytes, arrives whole on loopback).
    // Reply, then close TCP at once as RFC 6455 §7.1.1 has a server do (what socketeer does):
    // with nothing left unsent, the kernel sends the reply and then the FIN.
    if ((chunk[0] & 0x0f) === 0x8) {
      s.write(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
      if (s.writableLength === 0) s.destroy();
      else s.end();
    }
  });
}

function startUws() {
  let uWS;
  try {
    uWS = require("@trufflesuite/uws-js-unofficial");
  } catch (e) {
    fatal(`cannot load @trufflesuite/uws-js-unofficial: ${e.message}`);
  }
  info.version = pkgVersion("@trufflesuite/uws-js-unofficial");
  const app = uWS.App();
  const behavior = {
    maxPayloadLength: 4 * 1024 * 1024,
    maxBackpressure: 256 * 1024 * 1024,
    idleTimeout: 0,
    compression: deflate ? uWS.SHARED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR : uWS.DISABLED,
    open: () => conns++,
    close: () => conns--,
  };
  if (mode === "echo") {
    behavior.message = (ws, msg, isBinary) => ws.send(msg, isBinary, deflate);
  } else if (mode === "broadcast") {
    info.broadcast = "app.publish(topic)";
    behavior.open = (ws) => {
      conns++;
      ws.subscribe(TOPIC);
    };
    behavior.message = (_ws, msg, isBinary) => app.publish(TOPIC, msg, isBinary);
  }
  app.ws("/*", behavior);
  app.listen(HOST, 0, (token) => {
    if (!token) fatal("uWS could not listen");
    ready(uWS.us_socket_local_port(token), "uws");
  });
}

function ready(port, label) {
  Object.assign(info, { label, pid: process.pid }, nativeReport());
  process.send({ type: "ready", port, info });
}

function fatal(msg) {
  process.send?.({ type: "fatal", error: msg });
  process.exit(1);
}

process.on("message", async (m) => {
  if (m.cmd === "stats") {
    if (m.gc && typeof globalThis.gc === "function") {
      // Several passes with turns of the event loop in between, so weak callbacks and
      // finalizers run and the heap number is what the live connections hold.
      for (let i = 0; i < 4; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    process.send({ type: "stats", id: m.id, mem: process.memoryUsage(), conns, errors });
  }
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

try {
  if (impl === "ws") {
    const ws = require("ws");
    info.version = pkgVersion("ws");
    startWsLike(ws.WebSocketServer, ws.WebSocket, "ws");
  } else if (impl === "socketeer" || impl === "socketeer-loop") {
    // BENCH_SOCKETEER_PATH benchmarks another build (e.g. a copy of an older dist/) instead.
    const lib = require(process.env.BENCH_SOCKETEER_PATH || join(root, "dist", "cjs", "index.js"));
    info.version = pkgVersion(root);
    try {
      // The library is being written while the benchmark runs: say which build was measured.
      const built = statSync(join(root, "dist", "cjs", "index.js")).mtime.toISOString();
      info.version += ` (dist built ${built.slice(0, 16).replace("T", " ")} UTC)`;
    } catch {
      // no dist: only possible with BENCH_SOCKETEER_PATH
    }
    if (process.env.BENCH_SOCKETEER_PATH) info.version += ` (${process.env.BENCH_SOCKETEER_PATH})`;
    startWsLike(lib.WebSocketServer, lib.WebSocket, impl);
  } else if (impl === "net") {
    startNet();
  } else if (impl === "uws") {
    startUws();
  } else {
    fatal(`unknown impl ${impl}`);
  }
} catch (e) {
  fatal(e.stack ?? String(e));
}
