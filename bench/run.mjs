#!/usr/bin/env node
// socketeer's side-by-side benchmark: `npm run bench` (build first: `npm run build`).
//
//   node bench/run.mjs [--quick] [--only echo-16,handshake] [--servers ws,ws-native,net,uws]
//                      [--reps N] [--generator c|node] [--note "text for the report"] [--no-write]
//   node bench/run.mjs --render    (rewrite docs/performance.md from bench/results/latest.json)
//
// Each server runs in its own process pinned to core 0, the load generator in one process pinned
// to core 1; servers take turns within every repetition. Writes bench/results/latest.json and
// docs/performance.md unless --no-write.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { renderMarkdown, summarize } from "./lib/report.mjs";
import { SCENARIOS, SERVER_ORDER, SERVERS } from "./lib/scenarios.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const UWS_PKG = "@trufflesuite/uws-js-unofficial";
const UWS_SPEC = `${UWS_PKG}@20.30.0-unofficial.0`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The hand-written findings (profiles: where the time goes) shown in docs/performance.md. */
const readFindings = () => {
  const file = join(here, "findings.md");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
};

// ── options ──────────────────────────────────────────────────────────────────────────────────
const argv = process.argv.slice(2);
const opt = {
  quick: false,
  only: null,
  servers: null,
  reps: null,
  note: "",
  write: true,
  generator: "c",
};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    const v = argv[++i];
    if (v === undefined) die(`${a} needs a value`);
    return v;
  };
  if (a === "--quick") opt.quick = true;
  else if (a === "--only") opt.only = val().split(",").filter(Boolean);
  else if (a === "--servers") opt.servers = val().split(",").filter(Boolean);
  else if (a === "--reps") opt.reps = Math.max(1, Number(val()) | 0);
  else if (a === "--note") opt.note = val();
  else if (a === "--no-write") opt.write = false;
  else if (a === "--render") {
    // Re-render the page from the committed raw numbers (after a change to the report format).
    const res = JSON.parse(readFileSync(join(here, "results", "latest.json"), "utf8"));
    for (const [id, data] of Object.entries(res.scenarios)) {
      const sc = SCENARIOS.find((x) => x.id === id);
      if (sc) data.summary = summarize(sc, data.runs);
    }
    writeFileSync(
      join(root, "docs", "performance.md"),
      renderMarkdown(res, SCENARIOS, SERVERS, readFindings()),
    );
    console.log("bench: rewrote docs/performance.md from bench/results/latest.json");
    process.exit(0);
  } else if (a === "--generator") {
    opt.generator = val();
    if (opt.generator !== "c" && opt.generator !== "node") die("--generator takes c or node");
  } else if (a === "--help" || a === "-h") {
    console.log(
      readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("\n")
        .slice(1, 10)
        .join("\n"),
    );
    process.exit(0);
  } else die(`unknown option ${a} (try --help)`);
}
const timing = opt.quick
  ? { warmupMs: 300, measureMs: 1000, reps: 1 }
  : { warmupMs: 500, measureMs: 1500, reps: 5 };
if (opt.reps !== null) timing.reps = opt.reps;

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const scenarios = opt.only ? SCENARIOS.filter((s) => opt.only.includes(s.id)) : SCENARIOS;
if (opt.only) {
  const unknown = opt.only.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length)
    die(
      `unknown scenario(s) ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.id).join(", ")}`,
    );
}
let serverIds = opt.servers ?? SERVER_ORDER.filter((id) => SERVERS[id].default !== false);
for (const id of serverIds)
  if (!SERVERS[id]) die(`unknown server ${id}; known: ${Object.keys(SERVERS).join(", ")}`);
serverIds = SERVER_ORDER.filter((id) => serverIds.includes(id));
if (serverIds.includes("socketeer-base") && !process.env.BENCH_BASE_PATH) {
  die("socketeer-base measures the build named by BENCH_BASE_PATH; set it");
}

// ── child process bookkeeping: every child is killed on exit, Ctrl-C and errors ──────────────
const children = new Set();
// Scratch files for the generator (frame batches, handshake keys), removed on every exit path.
const workDir = mkdtempSync(join(tmpdir(), "socketeer-bench-"));
function killAll() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
  rmSync(workDir, { recursive: true, force: true });
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping children`);
    killAll();
    process.exit(130);
  });
}
process.on("uncaughtException", (e) => {
  console.error(e);
  killAll();
  process.exit(1);
});

const canPin = (() => {
  if (cpus().length < 2) return false;
  return spawnSync("taskset", ["-c", "0", "true"]).status === 0;
})();

/** Spawns `node <args>` pinned to `cpu` (when taskset works), with an IPC channel. */
function spawnNode(cpu, args, env = {}) {
  const nodeArgs = [...args];
  const [cmd, cmdArgs] = canPin
    ? ["taskset", ["-c", String(cpu), process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(cmd, cmdArgs, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Waits for the first IPC message matching `pred`, or rejects after `ms` / on exit. */
function waitMessage(child, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (!pred(m)) return;
      done();
      resolve(m);
    };
    const onExit = (code, sig) => {
      done();
      reject(new Error(`${what}: process exited (${sig ?? code})`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    function done() {
      clearTimeout(timer);
      child.off("message", onMsg);
      child.off("exit", onExit);
    }
    child.on("message", onMsg);
    child.on("exit", onExit);
  });
}

function stopChild(child) {
  if (child && child.exitCode === null && child.signalCode === null) {
    // SIGTERM first so a server run with BENCH_SERVER_FLAGS=--cpu-prof can write its profile.
    child.kill("SIGTERM");
    setTimeout(
      () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"),
      2000,
    ).unref();
  }
  children.delete(child);
}

// ── the generator (one long-lived process on core 1) ─────────────────────────────────────────
let gen = null;
let jobSeq = 0;
async function startGenerator() {
  gen = spawnNode(1, [join(here, "lib", "generator.mjs")], { BENCH_WORK_DIR: workDir });
  await waitMessage(gen, (m) => m.ready === true, 15000, "generator start");
}
async function genJob(job, timeoutMs) {
  if (gen === null || gen.exitCode !== null || gen.signalCode !== null) await startGenerator();
  const id = ++jobSeq;
  gen.send({ id, job });
  try {
    const m = await waitMessage(gen, (x) => x.id === id, timeoutMs, `generator job ${job.kind}`);
    return m.result;
  } catch (e) {
    // A stuck generator is replaced so the next run starts clean.
    stopChild(gen);
    gen = null;
    return { error: e.message };
  }
}

// ── servers ──────────────────────────────────────────────────────────────────────────────────
async function startServer(id, mode, deflate) {
  const s = SERVERS[id];
  // BENCH_SERVER_FLAGS passes Node flags to the servers only, e.g. "--cpu-prof" to profile them.
  const flags = (process.env.BENCH_SERVER_FLAGS ?? "").split(" ").filter(Boolean);
  const args = [...flags, "--expose-gc", join(here, "lib", "server.mjs"), s.impl, mode];
  if (deflate) args.push("deflate");
  const child = spawnNode(0, args, s.env);
  const m = await waitMessage(
    child,
    (x) => x.type === "ready" || x.type === "fatal",
    20000,
    `${id} start`,
  );
  if (m.type === "fatal") {
    stopChild(child);
    throw new Error(m.error);
  }
  return { id, child, port: m.port, pid: child.pid, info: m.info };
}
let statSeq = 0;
async function serverStats(srv, gc) {
  const id = ++statSeq;
  srv.child.send({ cmd: "stats", gc, id });
  return waitMessage(srv.child, (x) => x.type === "stats" && x.id === id, 20000, `${srv.id} stats`);
}

// ── setup: uWS, socketeer build, native helpers ──────────────────────────────────────────────
const notes = [];
// Packages are checked in a child process: this process's resolver remembers a package it once
// failed to find, so after installing one it would still report it missing (a fresh clone then
// skipped uWS). Returns null when `code` ran cleanly, else the last line of its error.
function failsInChild(code) {
  const r = spawnSync(process.execPath, ["-e", code], {
    cwd: root,
    encoding: "utf8",
    timeout: 30000,
  });
  return r.status === 0
    ? null
    : (r.stderr || r.stdout || `exit ${r.status}`).trim().split("\n").slice(-1)[0];
}
const resolves = (name) => failsInChild(`require.resolve(${JSON.stringify(name)})`) === null;
const loads = (name) => failsInChild(`require(${JSON.stringify(name)})`);
if (serverIds.includes("uws")) {
  if (!resolves(UWS_PKG)) {
    console.log(`bench: ${UWS_PKG} missing, installing ${UWS_SPEC} (--no-save)…`);
    const r = spawnSync("npm", ["install", "--no-save", UWS_SPEC], {
      cwd: root,
      stdio: "inherit",
      timeout: 300000,
    });
    if (r.status !== 0)
      notes.push(`uWebSockets.js skipped: \`npm install --no-save ${UWS_SPEC}\` failed.`);
  }
  const why = resolves(UWS_PKG) ? loads(UWS_PKG) : "not installed";
  if (why !== null) {
    serverIds = serverIds.filter((x) => x !== "uws");
    if (!notes.some((n) => n.startsWith("uWebSockets.js skipped"))) {
      notes.push(`uWebSockets.js skipped: ${why}`);
    }
  }
}
for (const id of ["socketeer", "socketeer-loop"]) {
  const lib = process.env.BENCH_SOCKETEER_PATH || join(root, "dist", "cjs", "index.js");
  if (serverIds.includes(id) && !existsSync(lib)) {
    serverIds = serverIds.filter((x) => x !== id);
    notes.push(`${id} skipped: ${relative(root, lib)} not found (run \`npm run build\` first).`);
  }
}

// The native load generator, compiled here with the machine's cc (bench/build/ is git-ignored).
const LOADGEN_SRC = join(here, "c", "loadgen.c");
const LOADGEN = join(here, "build", "loadgen");
let loadgen = null;
let ccVersion = "";
function buildLoadgen() {
  try {
    ccVersion = execFileSync("cc", ["--version"], { encoding: "utf8" }).split("\n")[0];
  } catch {
    return "no C compiler (cc) found";
  }
  mkdirSync(dirname(LOADGEN), { recursive: true });
  if (existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs > statSync(LOADGEN_SRC).mtimeMs) return null;
  const r = spawnSync("cc", ["-O2", "-Wall", "-o", LOADGEN, LOADGEN_SRC], {
    encoding: "utf8",
    timeout: 120000,
  });
  if (r.status !== 0)
    return `cc failed: ${(r.stderr || "").trim().split("\n").slice(0, 3).join(" ")}`;
  return null;
}
const needC = opt.generator === "c" || scenarios.some((s) => s.engines?.includes("c"));
if (needC) {
  const why = buildLoadgen();
  if (why === null) loadgen = LOADGEN;
  else {
    notes.push(`native generator unavailable (${why}); the Node.js generator was used throughout.`);
    if (opt.generator === "c") opt.generator = "node";
  }
}

function machineInfo() {
  let model = "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1].trim();
  } catch {
    // not Linux
  }
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    // keep os.cpus()
  }
  let kernel = "";
  try {
    kernel = execFileSync("uname", ["-r"], { encoding: "utf8" }).trim();
  } catch {
    // not fatal
  }
  let mem = "";
  try {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) mem = `${(Number(m[1]) / 1048576).toFixed(1)} GiB`;
  } catch {
    // not Linux
  }
  return {
    nproc,
    cpuModel: model,
    node: process.version,
    kernel,
    memory: mem,
    pinned: canPin,
    ...connectionLimits(),
  };
}

/**
 * The two limits a 10,000-connection scenario can hit: open files per process (each side holds
 * one descriptor per connection) and the ephemeral port range (one local port per client
 * connection to the same server address).
 */
function connectionLimits() {
  let nofile = Number.NaN;
  try {
    nofile = Number(execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim());
  } catch {
    // unknown: checked as "enough"
  }
  let ports = Number.NaN;
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    ports = hi - lo + 1;
  } catch {
    // not Linux
  }
  return { nofile, ephemeralPorts: ports };
}

/** Connections a scenario opens at once (receivers + publisher, or idle sockets). */
function connectionsNeeded(sc) {
  return (
    (sc.job.clients ?? 0) + (sc.job.clients ? 1 : 0) + (sc.job.kind === "memory" ? sc.job.conns : 0)
  );
}
function loadavg() {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "";
  }
}

// ── one measured run ─────────────────────────────────────────────────────────────────────────
function jobFor(sc, srv, engine = opt.generator) {
  const raw = SERVERS[srv.id].impl === "net" && (sc.mode === "echo" || sc.mode === "broadcast");
  return {
    ...sc.job,
    port: srv.port,
    serverPid: srv.pid,
    raw,
    warmupMs: timing.warmupMs,
    measureMs: timing.measureMs,
    engine,
    loadgen,
  };
}
const jobTimeout = () => timing.warmupMs + timing.measureMs + 150000;

async function memoryRun(sc, id) {
  let srv;
  try {
    srv = await startServer(id, "memory", false);
    await sleep(200);
    const before = await serverStats(srv, true);
    const open = await genJob({ kind: "memory-open", port: srv.port, conns: sc.job.conns }, 150000);
    if (open.error) return { error: open.error };
    await sleep(opt.quick ? 500 : 1000);
    const after = await serverStats(srv, true);
    await genJob({ kind: "memory-close" }, 30000);
    const n = open.opened;
    const res = {
      opened: n,
      serverSaw: after.conns,
      connectSeconds: open.connectSeconds,
      rate: (after.mem.rss - before.mem.rss) / n,
      heapPerConn:
        (after.mem.heapUsed + after.mem.external - before.mem.heapUsed - before.mem.external) / n,
      rssBefore: before.mem.rss,
      rssAfter: after.mem.rss,
    };
    if (n < sc.job.conns) res.error = `only ${n}/${sc.job.conns} connections opened`;
    else if (after.conns !== n) res.warning = `server counted ${after.conns} connections`;
    return res;
  } catch (e) {
    return { error: e.message };
  } finally {
    stopChild(srv?.child);
  }
}

// ── main ─────────────────────────────────────────────────────────────────────────────────────
const t0 = Date.now();
const result = {
  date: new Date().toISOString(),
  command: ["node", "bench/run.mjs", ...argv]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))
    .join(" "),
  machine: machineInfo(),
  loadavgStart: loadavg(),
  options: { ...timing, quick: opt.quick },
  generator:
    opt.generator === "c"
      ? `native C (bench/c/loadgen.c, ${ccVersion})`
      : "Node.js (bench/lib/generator.mjs)",
  note: opt.note,
  notes,
  servers: {},
  scenarios: {},
};

async function preflight() {
  // A one-message echo per server: a server that cannot echo correctly is left out (with a note)
  // instead of producing a table of errors.
  for (const id of [...serverIds]) {
    let srv;
    try {
      srv = await startServer(id, "echo", false);
      result.servers[id] = { ...srv.info, label: SERVERS[id].label };
      const r = await genJob(
        {
          kind: "echo",
          payload: "text",
          size: 16,
          conns: 2,
          inflight: 2,
          port: srv.port,
          serverPid: srv.pid,
          raw: SERVERS[id].impl === "net",
          warmupMs: 50,
          measureMs: 100,
        },
        30000,
      );
      if (r.error) throw new Error(r.error);
    } catch (e) {
      serverIds = serverIds.filter((x) => x !== id);
      notes.push(`${id} left out: preflight echo failed: ${String(e.message).split("\n")[0]}`);
      console.log(`  ${id}: preflight FAILED (${e.message.split("\n")[0]})`);
    } finally {
      stopChild(srv?.child);
    }
  }
}

async function main() {
  const m = result.machine;
  console.log(
    `bench: ${m.cpuModel}, ${m.nproc} cores, node ${m.node}, ${canPin ? "server→core 0, generator→core 1" : "NOT pinned (taskset unavailable)"}`,
  );
  console.log(
    `bench: scenarios ${scenarios.map((s) => s.id).join(",")}; servers ${serverIds.join(",")}; ` +
      `${timing.reps} rep(s), ${timing.warmupMs} ms warm-up + ${timing.measureMs} ms measured`,
  );
  for (const n of notes) console.log(`bench: note: ${n}`);
  await startGenerator();
  await preflight();
  for (const sc of scenarios) {
    const need = connectionsNeeded(sc);
    const { nofile, ephemeralPorts } = result.machine;
    if (need > 0 && (nofile < need + 100 || ephemeralPorts < need + 1000)) {
      const why =
        `${sc.id} skipped: needs ${need} connections; \`ulimit -n\` is ${nofile} ` +
        `and the ephemeral port range has ${ephemeralPorts} ports`;
      notes.push(why);
      console.log(`\n== ${why}`);
      continue;
    }
    // A row is one (server, generator) pair; only the ceiling scenario has several generators.
    let rows;
    if (sc.engines) {
      rows = sc.engines
        .filter((e) => e === "node" || loadgen !== null)
        .map((e) => ({ row: `net-${e}`, server: "net", engine: e }));
    } else {
      rows = serverIds
        .filter(
          (id) => !(sc.skip ?? []).includes(id) && (SERVERS[id].only ?? [sc.id]).includes(sc.id),
        )
        .map((id) => ({ row: id, server: id, engine: opt.generator }));
    }
    const reps = opt.reps ?? (opt.quick ? timing.reps : (sc.reps ?? timing.reps));
    const runs = Object.fromEntries(rows.map((x) => [x.row, []]));
    result.scenarios[sc.id] = { title: sc.title, what: sc.what, job: sc.job, runs, reps };
    console.log(`\n== ${sc.id}: ${sc.title} (${reps} rep(s))`);
    // Servers stay up for the whole scenario (idle ones cost nothing on core 0), except for the
    // memory scenario, which needs a fresh process per run.
    const live = {};
    try {
      for (let r = 0; r < reps; r++) {
        // Rotate the order every repetition so no server always runs first or last.
        const order = rows.map((_, i) => rows[(i + r) % rows.length]);
        for (const { row, server: id, engine } of order) {
          let res;
          if (sc.mode === "memory") {
            res = await memoryRun(sc, id);
          } else {
            try {
              if (
                !live[id] ||
                live[id].child.exitCode !== null ||
                live[id].child.signalCode !== null
              ) {
                live[id] = await startServer(id, sc.mode, sc.deflate === true);
                if (sc.mode === "broadcast") {
                  result.servers[id] = {
                    ...result.servers[id],
                    broadcast: live[id].info.broadcast,
                  };
                }
              }
              res = await genJob(jobFor(sc, live[id], engine), jobTimeout());
              res.generator = engine;
              if (!res.error && res.msgs === 0) {
                // A stalled pipeline (or a frozen machine) must not pass as a measurement of 0.
                res.error =
                  `nothing completed in the measured window (server ${res.serverCpu.toFixed(0)} % CPU, ` +
                  `other load ${res.otherOnServerCore.toFixed(0)} % / ${res.otherOnGenCore.toFixed(0)} %)`;
              }
            } catch (e) {
              res = { error: e.message };
            }
          }
          res.rep = r;
          runs[row].push(res);
          console.log(`  rep ${r + 1}/${reps} ${row.padEnd(14)} ${describe(sc, res)}`);
          await sleep(150);
        }
      }
    } finally {
      for (const srv of Object.values(live)) stopChild(srv.child);
    }
    const summary = summarize(sc, runs);
    result.scenarios[sc.id].summary = summary;
    printMedians(summary);
  }
  stopChild(gen);
  result.seconds = (Date.now() - t0) / 1000;
  result.loadavgEnd = loadavg();
  if (opt.write) {
    mkdirSync(join(here, "results"), { recursive: true });
    writeFileSync(
      join(here, "results", "latest.json"),
      `${JSON.stringify(result, roundJson, 1)}\n`,
    );
    writeFileSync(
      join(root, "docs", "performance.md"),
      renderMarkdown(result, SCENARIOS, SERVERS, readFindings()),
    );
    console.log(
      `\nbench: wrote bench/results/latest.json and docs/performance.md (${result.seconds.toFixed(0)} s)`,
    );
  } else {
    console.log(`\nbench: done in ${result.seconds.toFixed(0)} s (--no-write: nothing written)`);
  }
}

/** Keeps latest.json small: 4 significant digits are more than the noise allows. */
function roundJson(_k, v) {
  if (typeof v === "number" && !Number.isInteger(v)) return Number(v.toPrecision(4));
  return v;
}

function fmt(n) {
  if (!Number.isFinite(n)) return "–";
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n < 10 ? 2 : 0);
}
/** Medians of one scenario, with ratios to ws-native and socketeer-base when they ran. */
function printMedians(summary) {
  const ref = (id) => summary[id]?.rate;
  for (const [id, s] of Object.entries(summary)) {
    const ratios = ["ws-native", "socketeer-base"]
      .filter((r) => r !== id && ref(r) > 0)
      .map((r) => `${(s.rate / ref(r)).toFixed(2)}× ${r}`);
    console.log(
      `  median ${id.padEnd(14)} ${(s.rate >= 1000 ? s.rate.toFixed(0) : s.rate.toPrecision(4)).padStart(10)}  ${ratios.join(", ")}`,
    );
  }
}
function describe(sc, r) {
  if (r.error) return `ERROR ${String(r.error).split("\n")[0]}`;
  if (sc.mode === "memory") {
    return `${fmt(r.rate)} B/conn RSS, ${fmt(r.heapPerConn)} B/conn heap+external${r.warning ? ` (${r.warning})` : ""}`;
  }
  let s = `${fmt(r.rate)} ${sc.metric}  cpu: server ${r.serverCpu.toFixed(0)}%, generator ${r.genCpu.toFixed(0)}%, other ${r.otherOnServerCore.toFixed(0)}%/${r.otherOnGenCore.toFixed(0)}%`;
  if (r.latency)
    s += `  p50 ${(r.latency.p50 * 1000).toFixed(0)} µs p99 ${(r.latency.p99 * 1000).toFixed(0)} µs`;
  if (r.serverFaults !== undefined && r.msgs > 0)
    s += `  faults/msg ${(r.serverFaults / r.msgs).toPrecision(3)}`;
  if (r.failed) s += `  (${r.failed} failed)`;
  if (r.stalls) s += `  (${r.stalls} stalls)`;
  if (r.closedEarly) s += `  (${r.closedEarly} closed early)`;
  return s;
}

main().catch((e) => {
  console.error(e);
  killAll();
  process.exit(1);
});
