// The load generator: one process, pinned to its own core by run.mjs, taking jobs over IPC.
//
// Speed rules (it must outrun every server it measures):
// - raw `net` sockets with `onread` into one shared buffer: no Buffer and no 'data' event per read;
// - frames are built and masked once per connection; refills write a slice of that batch, so a
//   refill of k messages is one write of bytes that already exist;
// - replies are counted by walking frame headers (FrameCounter), payloads are never copied;
// - no timers per socket: one sweep timer per job bounds everything.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { coreBusySeconds, cpuSeconds } from "./cpu.mjs";
import {
  binaryPayload,
  checkUpgrade,
  closeFrame,
  DEFLATE_OFFER,
  deflateMessage,
  FrameCounter,
  frameBatch,
  frameEnds,
  inflateMessage,
  jsonPayload,
  keyPool,
  parseFrames,
  parseResponseHead,
  textPayload,
  upgradeRequest,
} from "./frames.mjs";

const HOST = "127.0.0.1";
/** Shared read buffer for every socket (onread callbacks run synchronously, one at a time). */
const READ_BUF = Buffer.allocUnsafe(1 << 20);
const CLOSE_FRAME = closeFrame(1000);
const KEYS = keyPool(4096);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Files handed to the native generator (bench/c/loadgen.c): handshake keys and frame batches.
// run.mjs owns the directory (and removes it even if this process is killed).
const WORK = process.env.BENCH_WORK_DIR || join(tmpdir(), `socketeer-bench-${process.pid}`);
mkdirSync(WORK, { recursive: true });
const KEYS_FILE = join(WORK, "keys.txt");
writeFileSync(KEYS_FILE, KEYS.map((k) => `${k.key} ${k.accept}\n`).join(""));
process.on("exit", () => rmSync(WORK, { recursive: true, force: true }));

/**
 * One client connection. `onMessages(n)` is called with the number of complete messages found in
 * each read once the connection is open; until then reads feed the handshake parser.
 */
class Conn {
  constructor() {
    this.socket = null;
    this.counter = new FrameCounter();
    this.open = false;
    this.head = null;
    /** Set by the job: called with the messages completed by one read. */
    this.onMessages = null;
    /** Set while checking one echoed message: raw bytes go here instead of the counter. */
    this.capture = null;
    this.onCapture = null;
    this.error = null;
  }

  read(n) {
    if (!this.open) return this.handshakeRead(n);
    if (this.capture !== null) {
      this.capture = Buffer.concat([this.capture, READ_BUF.subarray(0, n)]);
      this.onCapture?.();
      return;
    }
    const m = this.counter.push(READ_BUF, n);
    if (m !== 0 && this.onMessages !== null) this.onMessages(m);
  }

  handshakeRead(n) {
    const chunk = Buffer.from(READ_BUF.subarray(0, n));
    this.head = this.head === null ? chunk : Buffer.concat([this.head, chunk]);
    const end = this.head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.head.length > 16384) this.fail("handshake response too large");
      return;
    }
    const parsed = parseResponseHead(this.head.toString("latin1", 0, end));
    const bad = checkUpgrade(parsed, this.accept, this.deflate);
    if (bad !== null) return this.fail(bad);
    this.extensions = parsed.headers["sec-websocket-extensions"] ?? "";
    const rest = this.head.subarray(end + 4);
    this.head = null;
    this.open = true;
    if (rest.length > 0) {
      rest.copy(READ_BUF);
      this.read(rest.length);
    }
    this.resolve?.(this);
  }

  fail(reason) {
    this.error = reason;
    this.socket?.destroy();
    this.reject?.(new Error(reason));
  }
}

/**
 * Opens one connection; resolves once it is usable (after the 101 for WebSocket servers, after
 * the TCP connect for the raw echo server).
 */
function connectOne(port, { raw, deflate, timeoutMs = 15000 }) {
  return new Promise((resolve, reject) => {
    const c = new Conn();
    const k = KEYS[(Math.random() * KEYS.length) | 0];
    c.accept = k.accept;
    c.deflate = deflate;
    let timer = null;
    c.resolve = (v) => {
      clearTimeout(timer);
      c.resolve = null;
      c.reject = null;
      resolve(v);
    };
    c.reject = (e) => {
      clearTimeout(timer);
      c.resolve = null;
      c.reject = null;
      reject(e);
    };
    // One timer per *connecting* socket only; it is cleared as soon as the socket is usable.
    timer = setTimeout(() => c.fail("connect/handshake timeout"), timeoutMs);
    const s = net.connect({
      port,
      host: HOST,
      onread: { buffer: READ_BUF, callback: (n) => c.read(n) },
    });
    c.socket = s;
    s.setNoDelay(true);
    s.on("error", (e) => {
      c.error = e.code ?? e.message;
      c.reject?.(e);
    });
    s.on("close", () => {
      c.closed = true;
      c.reject?.(new Error("closed during handshake"));
    });
    if (raw) {
      c.open = true;
      s.once("connect", () => c.resolve?.(c));
    } else {
      s.write(upgradeRequest(port, k.key, deflate ? DEFLATE_OFFER : ""));
    }
  });
}

/** Opens `count` connections, `concurrency` at a time (keeps the server's accept queue sane). */
async function connectMany(port, count, opts, concurrency = 200, deadlineMs = 90000) {
  const conns = [];
  const errors = {};
  let next = 0;
  const deadline = Date.now() + deadlineMs;
  async function worker() {
    while (next < count && Date.now() < deadline) {
      next++;
      try {
        conns.push(await connectOne(port, opts));
      } catch (e) {
        const key = String(e.code ?? e.message);
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { conns, errors };
}

/** Destroys connections and waits (bounded) for their close events. */
async function destroyAll(conns) {
  // RST rather than FIN: no TIME_WAIT left on our side, so 10,000-connection runs back to back
  // never run the ephemeral port range dry.
  for (const c of conns) {
    if (c.socket && !c.socket.destroyed) c.socket.resetAndDestroy();
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && conns.some((c) => !c.closed)) await sleep(20);
}

/** CPU snapshot: server and generator CPU seconds plus wall time. */
function snap(serverPid) {
  return {
    t: performance.now(),
    server: cpuSeconds(serverPid),
    gen: cpuSeconds(process.pid),
    cores: coreBusySeconds(),
  };
}

/** Rates and CPU shares (percent of one core) between two snapshots. */
function window(a, b) {
  const sec = (b.t - a.t) / 1000;
  const serverCpu = ((b.server - a.server) / sec) * 100;
  const genCpu = ((b.gen - a.gen) / sec) * 100;
  // Busy time on each pinned core that is not the measured process's: other tenants, kernel
  // threads, softirq work not charged to the process. High values mean a noisy run.
  const core = (i) => (((b.cores[i] ?? Number.NaN) - (a.cores[i] ?? Number.NaN)) / sec) * 100;
  return {
    seconds: sec,
    serverCpu,
    genCpu,
    otherOnServerCore: Math.max(0, core(0) - serverCpu),
    otherOnGenCore: Math.max(0, core(1) - genCpu),
  };
}

/**
 * Builds the payloads for an echo job: equal-sized, distinct messages. 64 distinct small messages
 * cycle through more than a 32 KiB deflate window, so a server compressing with context takeover
 * cannot just point back at an identical earlier message (which real traffic rarely allows).
 */
function payloadsFor(job) {
  const make =
    job.payload === "binary" ? binaryPayload : job.payload === "json" ? jsonPayload : textPayload;
  const out = [];
  const n = job.size <= 4096 ? 64 : 4;
  for (let i = 0; i < n; i++) out.push(make(job.size, i + 1));
  return out;
}

/**
 * A batch of `count` frames stored twice in a row, plus frame end offsets, so any run of
 * k <= count frames starting at any frame is one contiguous slice (one write) and successive
 * refills cycle through every distinct message.
 */
function cyclicBatch(payloads, count, opcode, rsv1) {
  const one = frameBatch(payloads, count, opcode, rsv1);
  const buf = Buffer.concat([one, one]);
  const ends = frameEnds(buf);
  return {
    one,
    count,
    /** Slice of k frames starting at frame `at`. */
    slice: (at, k) => buf.subarray(at === 0 ? 0 : ends[at - 1], ends[at + k - 1]),
  };
}

/**
 * Sends one message on `c` and checks the echo byte for byte (inflating a compressed reply), so a
 * broken server fails loudly instead of producing a fast, meaningless number.
 */
function verifyEcho(c, payload, job) {
  return new Promise((resolve, reject) => {
    const wire = job.deflate ? deflateMessage(payload) : payload;
    const opcode = job.payload === "binary" ? 2 : 1;
    c.capture = Buffer.alloc(0);
    const timer = setTimeout(() => {
      c.capture = null;
      reject(new Error("no echo within 5 s"));
    }, 5000);
    c.onCapture = () => {
      const { frames } = parseFrames(c.capture);
      if (frames.length === 0) return;
      clearTimeout(timer);
      c.capture = null;
      c.onCapture = null;
      const f = frames[0];
      let body = f.payload;
      try {
        if (f.rsv1) body = inflateMessage(body);
      } catch (e) {
        return reject(new Error(`reply does not inflate: ${e.message}`));
      }
      if (f.opcode !== opcode) return reject(new Error(`echo opcode ${f.opcode}, sent ${opcode}`));
      if (!body.equals(payload))
        return reject(new Error("echo payload differs from what was sent"));
      resolve({ compressedReply: f.rsv1, replyWireBytes: f.payload.length });
    };
    c.socket.write(frameBatch([wire], 1, opcode, job.deflate));
  });
}

/**
 * Echo (and latency) job: `conns` connections each keeping `inflight` messages outstanding.
 * A connection refills when at least `refill` replies have come back, in one write.
 */
async function runEcho(job) {
  const payloads = payloadsFor(job);
  const opcode = job.payload === "binary" ? 2 : 1;
  const wire = job.deflate ? payloads.map(deflateMessage) : payloads;
  // With the native generator, Node only needs the one connection that checks the echo.
  const want = job.engine === "c" ? 1 : job.conns;
  const { conns, errors } = await connectMany(job.port, want, {
    raw: job.raw,
    deflate: job.deflate,
  });
  if (conns.length < want) {
    await destroyAll(conns);
    return { error: `only ${conns.length}/${want} connections opened`, connectErrors: errors };
  }
  let verify;
  try {
    verify = await verifyEcho(conns[0], payloads[0], job);
  } catch (e) {
    await destroyAll(conns);
    return { error: `echo check failed: ${e.message}` };
  }
  const inflight = job.inflight;
  const refill = job.latency ? 1 : Math.max(1, inflight >> 2);
  if (job.engine === "c") {
    // The checked connection is not needed by the native generator, which opens its own.
    await destroyAll(conns);
    const batchFile = join(WORK, "batch.bin");
    writeFileSync(
      batchFile,
      cyclicBatch(wire, Math.max(inflight, wire.length), opcode, job.deflate).one,
    );
    const r = await runLoadgen(job, "echo", {
      conns: job.conns,
      inflight,
      refill,
      batch: batchFile,
      raw: job.raw ? 1 : 0,
      latency: job.latency ? 1 : 0,
      deflate: job.deflate ? 1 : 0,
    });
    if (r.error) return r;
    const res = {
      ...r.window,
      msgs: r.msgs,
      rate: r.msgs / r.window.seconds,
      bytesIn: r.bytes,
      wireBytesPerMsg: r.bytes / Math.max(1, r.msgs),
      closedEarly: r.closed_early,
      compressedReply: verify.compressedReply,
      extensions: conns[0].extensions ?? "",
    };
    if (job.latency && r.lat_n > 0) {
      res.latency = {
        samples: r.lat_n,
        p50: r.lat_p50,
        p90: r.lat_p90,
        p99: r.lat_p99,
        p999: r.lat_p999,
        max: r.lat_max,
      };
    }
    return res;
  }
  let total = 0;
  let measuring = false;
  const samples = job.latency ? new Float64Array(1 << 21) : null;
  let nSamples = 0;
  let closedEarly = 0;
  let stopped = false;
  // One batch shared by every connection (the masking keys repeat across connections, which
  // a server cannot tell from fresh ones).
  const cb = cyclicBatch(wire, Math.max(inflight, wire.length), opcode, job.deflate);
  let ci = 0;
  for (const c of conns) {
    let cursor = ci++ % cb.count;
    const send = (k) => {
      c.socket.write(cb.slice(cursor, k));
      cursor = (cursor + k) % cb.count;
    };
    let pending = 0;
    if (job.latency) {
      let sentAt = 0;
      c.onMessages = (m) => {
        const now = performance.now();
        total += m;
        if (measuring && nSamples < samples.length) samples[nSamples++] = now - sentAt;
        sentAt = now;
        send(m);
      };
      c.start = () => {
        sentAt = performance.now();
        send(1);
      };
    } else {
      c.onMessages = (m) => {
        total += m;
        pending += m;
        if (pending >= refill) {
          send(pending);
          pending = 0;
        }
      };
      c.start = () => send(inflight);
    }
    c.socket.on("close", () => {
      if (!stopped) closedEarly++;
    });
  }
  for (const c of conns) c.start();
  await sleep(job.warmupMs);
  const a = snap(job.serverPid);
  const m0 = total;
  const b0 = sumBytes(conns);
  measuring = true;
  await sleep(job.measureMs);
  const b = snap(job.serverPid);
  const m1 = total;
  const b1 = sumBytes(conns);
  measuring = false;
  stopped = true;
  await destroyAll(conns);
  const w = window(a, b);
  const res = {
    ...w,
    msgs: m1 - m0,
    rate: (m1 - m0) / w.seconds,
    bytesIn: b1 - b0,
    wireBytesPerMsg: (b1 - b0) / Math.max(1, m1 - m0),
    closedEarly,
    compressedReply: verify.compressedReply,
    extensions: conns[0].extensions ?? "",
  };
  if (samples !== null) res.latency = percentiles(samples.subarray(0, nSamples));
  return res;
}

function sumBytes(conns) {
  let s = 0;
  for (const c of conns) s += c.counter.bytes;
  return s;
}

/** p50/p90/p99/p99.9/max of RTT samples in milliseconds. */
function percentiles(arr) {
  if (arr.length === 0) return null;
  const s = Float64Array.from(arr).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return {
    samples: s.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: s[s.length - 1],
  };
}

/**
 * Broadcast job: `clients` receiving connections plus one publisher. The publisher keeps
 * `window` broadcasts outstanding: a broadcast counts as done once `clients` deliveries more
 * have arrived (deliveries are not tracked per message: that would cost the generator more
 * than the count). The publisher's own copies, if the server sends it one, are not counted.
 */
async function runBroadcast(job) {
  const payload = textPayload(job.size, 7);
  if (job.engine === "c") {
    const batchFile = join(WORK, "batch.bin");
    writeFileSync(batchFile, frameBatch([payload], job.window, 1));
    const r = await runLoadgen(job, "broadcast", {
      clients: job.clients,
      window: job.window,
      batch: batchFile,
      raw: job.raw ? 1 : 0,
    });
    if (r.error) return r;
    return {
      ...r.window,
      msgs: r.msgs,
      rate: r.msgs / r.window.seconds,
      broadcastsPerSec: r.broadcasts / r.window.seconds,
      stalls: r.stalls,
      closedEarly: r.closed_early,
    };
  }
  const opts = { raw: job.raw, deflate: false };
  const { conns, errors } = await connectMany(job.port, job.clients, opts);
  if (conns.length < job.clients) {
    await destroyAll(conns);
    return {
      error: `only ${conns.length}/${job.clients} clients connected`,
      connectErrors: errors,
    };
  }
  let pub;
  try {
    pub = await connectOne(job.port, opts);
  } catch (e) {
    await destroyAll(conns);
    return { error: `publisher: ${e.message}` };
  }
  // Let the server finish registering the last clients (subscribe in open handlers, etc.).
  await sleep(300);
  const win = job.window;
  const batch = frameBatch([payload], win, 1);
  const ends = frameEnds(batch); // one payload: a prefix of k frames is always k whole messages
  const refill = Math.max(1, win >> 2);
  let delivered = 0;
  let sent = 0;
  let stopped = false;
  let stalls = 0;
  let credit = 0;
  const n = job.clients;
  const pump = () => {
    if (stopped) return;
    const done = Math.floor(delivered / n) + credit;
    const k = win - (sent - done);
    if (k >= refill) {
      pub.socket.write(batch.subarray(0, ends[k - 1]));
      sent += k;
    }
  };
  let closedEarly = 0;
  for (const c of conns) {
    c.onMessages = (m) => {
      delivered += m;
      pump();
    };
    c.socket.on("close", () => {
      if (!stopped) closedEarly++;
    });
  }
  pub.onMessages = () => {};
  // Stall breaker: a server that drops messages (uWS skips receivers over maxBackpressure) would
  // otherwise freeze the window forever. After 500 ms without a delivery, forgive what is
  // outstanding and count a stall, so the run ends with an honest (lower) delivery rate.
  let lastDelivered = -1;
  const sweep = setInterval(() => {
    if (delivered === lastDelivered && sent > 0) {
      credit += sent - (Math.floor(delivered / n) + credit);
      stalls++;
      pump();
    }
    lastDelivered = delivered;
  }, 500);
  pump();
  await sleep(job.warmupMs);
  const a = snap(job.serverPid);
  const d0 = delivered;
  const s0 = sent;
  await sleep(job.measureMs);
  const b = snap(job.serverPid);
  const d1 = delivered;
  const s1 = sent;
  stopped = true;
  clearInterval(sweep);
  await destroyAll([pub, ...conns]);
  const w = window(a, b);
  return {
    ...w,
    msgs: d1 - d0,
    rate: (d1 - d0) / w.seconds,
    broadcastsPerSec: (s1 - s0) / w.seconds,
    stalls,
    closedEarly,
  };
}

/**
 * Handshake job: `concurrency` independent loops of connect → upgrade request → 101 (accept
 * checked) → masked close frame → server's close frame → server's FIN → next. The server closes
 * the TCP connection first (RFC 6455 §7.1.1), so TIME_WAIT lands on its side, not on our ports.
 */
async function runHandshake(job) {
  if (job.engine === "c") {
    const r = await runLoadgen(job, "handshake", { concurrency: job.concurrency });
    if (r.error) return r;
    const failures = {};
    for (const [k, v] of Object.entries(r))
      if (k.startsWith("f_") && v > 0) failures[k.slice(2)] = v;
    return {
      ...r.window,
      msgs: r.msgs,
      rate: r.msgs / r.window.seconds,
      failed: r.failed,
      failures,
    };
  }
  let stopped = false;
  let completed = 0;
  let failed = 0;
  const failures = {};
  let ki = 0;
  const reqs = KEYS.map((k) => upgradeRequest(job.port, k.key, ""));
  const slots = [];
  const noteFail = (why) => {
    failed++;
    failures[why] = (failures[why] ?? 0) + 1;
  };
  function start(slot) {
    if (stopped) {
      slot.active = false;
      return;
    }
    const i = ki++ & (KEYS.length - 1);
    const accept = KEYS[i].accept;
    let state = 0; // 0 awaiting 101, 1 awaiting close frame, 2 close frame seen
    let head = "";
    const counter = new FrameCounter();
    slot.startedAt = performance.now();
    const s = net.connect({
      port: job.port,
      host: HOST,
      onread: {
        buffer: READ_BUF,
        callback: (n) => {
          if (state === 0) {
            head += READ_BUF.latin1Slice(0, n);
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) return;
            const bad = checkUpgrade(parseResponseHead(head.slice(0, end)), accept, false);
            if (bad !== null) {
              state = -1;
              noteFail(bad);
              s.destroy();
              return;
            }
            state = 1;
            s.write(CLOSE_FRAME);
            if (head.length > end + 4) {
              const rest = Buffer.from(head.slice(end + 4), "latin1");
              counter.push(rest, rest.length);
            }
          } else {
            counter.push(READ_BUF, n);
          }
          if (state === 1 && counter.closed) state = 2;
        },
      },
    });
    slot.socket = s;
    s.setNoDelay(true);
    s.on("error", (e) => {
      if (state !== 2) noteFail(e.code ?? "error");
      state = -1;
    });
    s.on("close", () => {
      if (state === 2) completed++;
      else if (state !== -1)
        noteFail(state === 0 ? "closed before 101" : "closed before close frame");
      start(slot);
    });
    s.write(reqs[i]);
  }
  for (let i = 0; i < job.concurrency; i++) {
    const slot = { active: true, socket: null, startedAt: 0 };
    slots.push(slot);
    start(slot);
  }
  // One sweep bounds every handshake (no per-socket timers): anything older than 5 s is cut.
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const slot of slots) {
      if (slot.active && now - slot.startedAt > 5000) slot.socket?.destroy(new Error("timeout"));
    }
  }, 500);
  await sleep(job.warmupMs);
  const a = snap(job.serverPid);
  const c0 = completed;
  await sleep(job.measureMs);
  const b = snap(job.serverPid);
  const c1 = completed;
  stopped = true;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && slots.some((s) => s.active)) await sleep(20);
  for (const slot of slots) if (slot.active) slot.socket?.destroy();
  clearInterval(sweep);
  const w = window(a, b);
  return { ...w, msgs: c1 - c0, rate: (c1 - c0) / w.seconds, failed, failures };
}

/**
 * Runs the native generator for one job and parses its single output line (key=value pairs).
 * It inherits this process's CPU affinity, so it runs on the generator's core.
 */
function runLoadgen(job, mode, extra) {
  const args = [
    mode,
    `port=${job.port}`,
    `spid=${job.serverPid}`,
    `keys=${KEYS_FILE}`,
    `warmup=${job.warmupMs}`,
    `measure=${job.measureMs}`,
    ...Object.entries(extra).map(([k, v]) => `${k}=${v}`),
  ];
  return new Promise((resolve) => {
    const child = spawn(job.loadgen, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), job.warmupMs + job.measureMs + 170000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ error: `loadgen: ${e.message}` });
    });
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      const err = /(?:^|\s)error=(.*)$/.exec(line);
      if (err) return resolve({ error: `loadgen: ${err[1]}` });
      if (code !== 0) return resolve({ error: `loadgen exited (${sig ?? code})` });
      const r = {};
      for (const kv of line.split(/\s+/)) {
        const i = kv.indexOf("=");
        if (i > 0) r[kv.slice(0, i)] = Number(kv.slice(i + 1));
      }
      const sec = r.ms / 1000;
      const pct = (ticks) => (ticks / r.clk_tck / sec) * 100;
      const serverCpu = pct(r.server_ticks);
      const genCpu = pct(r.gen_ticks);
      r.window = {
        seconds: sec,
        serverCpu,
        genCpu,
        serverFaults: r.server_faults,
        otherOnServerCore: Math.max(0, pct(r.core0_ticks) - serverCpu),
        otherOnGenCore: Math.max(0, pct(r.core1_ticks) - genCpu),
      };
      resolve(r);
    });
  });
}

/** Connections held open by a memory job between "memory-open" and "memory-close". */
let held = [];

async function runMemoryOpen(job) {
  const t0 = performance.now();
  const { conns, errors } = await connectMany(job.port, job.conns, { raw: false, deflate: false });
  held = conns;
  return {
    opened: conns.length,
    connectErrors: errors,
    connectSeconds: (performance.now() - t0) / 1000,
  };
}

async function runMemoryClose() {
  const n = held.length;
  await destroyAll(held);
  held = [];
  return { closed: n };
}

const JOBS = {
  echo: runEcho,
  broadcast: runBroadcast,
  handshake: runHandshake,
  "memory-open": runMemoryOpen,
  "memory-close": runMemoryClose,
};

process.on("message", async (msg) => {
  const fn = JOBS[msg.job?.kind];
  let result;
  try {
    result = fn ? await fn(msg.job) : { error: `unknown job ${msg.job?.kind}` };
  } catch (e) {
    result = { error: e.stack ?? String(e) };
  }
  process.send({ id: msg.id, result });
});
// The orchestrator going away (Ctrl-C, crash) closes the IPC channel: leave with it.
process.on("disconnect", () => process.exit(0));
process.send({ ready: true });
