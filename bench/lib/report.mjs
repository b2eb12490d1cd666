// Medians, ratios and the docs/performance.md page.

/** A run counts as generator-bound when the generator's core is full and the server's is not. */
const GEN_BOUND = { gen: 90, server: 85 };
/** Busy % of a pinned core not charged to the process on it, above which a run is called noisy. */
const NOISY = 15;
/** Generator CPU % above which a row is marked as close to the generator's limit. */
const GEN_NEAR = 75;

function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Per-server medians of a scenario's runs. */
export function summarize(sc, runs) {
  const out = {};
  for (const [id, rs] of Object.entries(runs)) {
    const ok = rs.filter((r) => !r.error);
    const pick = (f) => median(ok.map(f));
    const s = {
      runs: rs.length,
      ok: ok.length,
      errors: rs.filter((r) => r.error).map((r) => String(r.error).split("\n")[0]),
      rate: pick((r) => r.rate),
      min: Math.min(...ok.map((r) => r.rate)),
      max: Math.max(...ok.map((r) => r.rate)),
    };
    if (sc.mode === "memory") {
      s.heapPerConn = pick((r) => r.heapPerConn);
      s.opened = pick((r) => r.opened);
    } else {
      s.serverCpu = pick((r) => r.serverCpu);
      s.genCpu = pick((r) => r.genCpu);
      s.otherOnServerCore = pick((r) => r.otherOnServerCore);
      s.otherOnGenCore = pick((r) => r.otherOnGenCore);
      // Generator-bound: its core is full while the server's core still has idle time (so the
      // server was waiting for work, not starved by other load).
      const bound = (r) =>
        r.genCpu >= GEN_BOUND.gen && r.serverCpu + (r.otherOnServerCore ?? 0) < GEN_BOUND.server;
      s.genBoundRuns = ok.filter(bound).length;
      s.genBound = s.genBoundRuns > ok.length / 2;
      s.genNearLimit = s.genCpu >= GEN_NEAR;
    }
    if (ok.some((r) => r.latency)) {
      s.p50 = pick((r) => r.latency?.p50);
      s.p99 = pick((r) => r.latency?.p99);
      s.p999 = pick((r) => r.latency?.p999);
    }
    if (ok.some((r) => r.serverFaults !== undefined && r.msgs > 0))
      s.faultsPerMsg = pick((r) => r.serverFaults / r.msgs);
    if (ok.some((r) => r.wireBytesPerMsg !== undefined))
      s.wireBytesPerMsg = pick((r) => r.wireBytesPerMsg);
    if (ok.some((r) => r.compressedReply !== undefined))
      s.compressedReply = ok.every((r) => r.compressedReply);
    if (ok.some((r) => r.stalls !== undefined))
      s.stalls = ok.reduce((a, r) => a + (r.stalls ?? 0), 0);
    if (ok.some((r) => r.failed !== undefined))
      s.failed = ok.reduce((a, r) => a + (r.failed ?? 0), 0);
    if (ok.some((r) => r.closedEarly))
      s.closedEarly = ok.reduce((a, r) => a + (r.closedEarly ?? 0), 0);
    out[id] = s;
  }
  return out;
}

function num(n) {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(0)} k`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  if (Math.abs(n) >= 10) return n.toFixed(0);
  return n.toFixed(2);
}
function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1048576) return `${(n / 1048576).toFixed(1)} MiB`;
  if (Math.abs(n) >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n.toFixed(0)} B`;
}
const pct = (n) => (Number.isFinite(n) ? `${n.toFixed(0)} %` : "–");
const us = (ms) => {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
};
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN);
const x = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : "–");

/** True when either row's pinned cores were busy with other work beyond the noise threshold. */
function noisy(...rows) {
  return rows.some((r) => r && (r.otherOnServerCore > NOISY || r.otherOnGenCore > NOISY));
}

/** Whether socketeer meets a scenario's target; null when it cannot be judged. */
export function targetStatus(sc, summary) {
  const t = sc.target;
  if (!t) return null;
  const s = summary.socketeer;
  const ref = summary[t.vs];
  if (!s || !ref || !Number.isFinite(s.rate) || !Number.isFinite(ref.rate)) {
    return { ratio: Number.NaN, met: null };
  }
  const r = ratio(s.rate, ref.rate);
  return { ratio: r, met: t.higher ? r >= t.ratio : r <= t.ratio };
}

function statusText(st) {
  if (st === null) return "";
  if (st.met === null) return "not measured";
  return `${x(st.ratio)} → ${st.met ? "**met**" : "**not met**"}`;
}

/** The whole docs/performance.md page. */
/**
 * The page. `findings` (markdown, from bench/findings.md) is the hand-written part: where the
 * time goes in each scenario, from profiles; it is placed after the targets.
 */
export function renderMarkdown(result, scenarios, servers, findings = "") {
  const m = result.machine;
  const L = [];
  L.push("# Performance");
  L.push("");
  L.push(
    "_This page is generated by `npm run bench` (`node bench/run.mjs`); do not edit it by hand. " +
      "Raw numbers: [`bench/results/latest.json`](../bench/results/latest.json)._",
  );
  L.push("");
  if (result.options.quick) {
    L.push(
      "> **Quick run** (`--quick`): short windows and a single repetition. Use it to smoke-test",
    );
    L.push("> the harness, not to quote numbers.");
    L.push("");
  }
  if (result.note) {
    L.push(`> **Note:** ${result.note}`);
    L.push("");
  }
  L.push("## Run");
  L.push("");
  L.push(`- Date: ${result.date}`);
  L.push(`- Command: \`${result.command}\` (${result.seconds.toFixed(0)} s)`);
  L.push(
    `- Machine: ${m.cpuModel}, \`nproc\` = ${m.nproc}, ${m.memory} RAM, Linux ${m.kernel}, Node.js ${m.node}`,
  );
  L.push(
    `- Limits: \`ulimit -n\` = ${m.nofile}, ephemeral ports = ${m.ephemeralPorts} ` +
      "(the generator closes with RST, so no TIME_WAIT piles up on its side between runs)",
  );
  L.push(`- Load average at start / end: ${result.loadavgStart} / ${result.loadavgEnd}`);
  L.push(`- Load generator: ${result.generator}`);
  L.push(
    m.pinned
      ? "- Pinning: every server in its own process on core 0 (`taskset -c 0`), the load generator in one process on core 1 (`taskset -c 1`)."
      : "- Pinning: **not available** on this machine (taskset missing or one core): server and generator share cores, CPU columns are still per process.",
  );
  L.push(
    `- ${result.options.reps} repetition(s) per scenario (fewer where a scenario says so), ` +
      `${result.options.warmupMs} ms warm-up then ${result.options.measureMs} ms measured per run; ` +
      "servers take turns within each repetition, in a rotated order; tables show medians.",
  );
  L.push("");
  L.push("### Servers");
  L.push("");
  L.push(
    "| server | version | bufferutil | utf-8-validate | masking uses | UTF-8 check uses | broadcast via |",
  );
  L.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const [id, info] of Object.entries(result.servers)) {
    const jsLib = info.impl === "ws" || info.impl?.startsWith("socketeer");
    const helper = (h) => (jsLib ? (info[h] ?? "–") : "n/a");
    L.push(
      `| ${info.label ?? servers[id]?.label ?? id} | ${info.version ?? "–"} | ${helper("bufferutil")} | ` +
        `${helper("utf-8-validate")} | ${info.masking ?? (jsLib ? "–" : "n/a")} | ` +
        `${info.utf8 ?? (jsLib ? "–" : "n/a")} | ${info.broadcast ?? "–"} |`,
    );
  }
  L.push("");
  L.push(
    "The helper columns are read from inside each server process: `native` means the compiled addon " +
      "(`.node`) was loaded, `JS fallback` that the package fell back to its JS version, `not loaded` " +
      "that nothing required it. The row without helpers runs with `WS_NO_BUFFER_UTIL=1` and " +
      "`WS_NO_UTF_8_VALIDATE=1`. ws 8 prefers Node's own `buffer.isUtf8` when it exists " +
      "(Node ≥ 18.14), so on this Node.js neither ws row loads `utf-8-validate` and both check " +
      "UTF-8 natively: the two ws rows differ in masking only.",
  );
  L.push("");
  if (result.notes.length) {
    L.push("### Notes from this run");
    L.push("");
    for (const n of result.notes) L.push(`- ${n}`);
    L.push("");
  }

  // Summary of targets.
  L.push("## Targets");
  L.push("");
  if (result.options.quick) {
    L.push("_Quick run: one short window per server, so the statuses below are indicative only._");
    L.push("");
  }
  L.push("Ratios are socketeer's median over the reference's median from this run. \"ws\" in a");
  L.push(
    "target means ws **with** its native helpers (`bufferutil` + `utf-8-validate`), its faster",
  );
  L.push("configuration.");
  L.push("");
  L.push("| scenario | target | socketeer | reference | ratio | status |");
  L.push("| --- | --- | --- | --- | --- | --- |");
  for (const sc of scenarios) {
    if (!sc.target) continue;
    const data = result.scenarios[sc.id];
    const fmtv = sc.mode === "memory" ? bytes : num;
    const sum = data?.summary ?? {};
    const st = data ? targetStatus(sc, sum) : { ratio: Number.NaN, met: null };
    const refLabel = servers[sc.target.vs]?.label ?? sc.target.vs;
    L.push(
      `| ${sc.title} | ${sc.target.text} | ${fmtv(sum.socketeer?.rate)} | ${fmtv(sum[sc.target.vs]?.rate)} (${refLabel}) | ` +
        `${x(st.ratio)} | ${st.met === null ? "not measured" : st.met ? "met" : "not met"}` +
        `${st.met !== null && noisy(sum.socketeer, sum[sc.target.vs]) ? " (noisy run)" : ""} |`,
    );
  }
  L.push("");

  // Per-scenario tables.
  if (findings.trim() !== "") {
    L.push(findings.trim());
    L.push("");
  }
  L.push("## Results");
  L.push("");
  const genBound = [];
  const genNear = [];
  for (const sc of scenarios) {
    const data = result.scenarios[sc.id];
    if (!data) continue;
    const sum = data.summary;
    L.push(`### ${sc.title}`);
    L.push("");
    L.push(`${sc.what} ${data.reps} repetition(s).`);
    L.push("");
    const ids = Object.keys(sum);
    const st = targetStatus(sc, sum);
    if (sc.mode === "memory") {
      L.push(
        "| server | RSS / conn | heap + external / conn | range (RSS) | × bare net | × ws-native | × uWS | target |",
      );
      L.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
      for (const id of ids) {
        const s = sum[id];
        if (s.ok === 0) {
          L.push(`| ${label(id, result, servers)} | error: ${s.errors[0] ?? "?"} | | | | | | |`);
          continue;
        }
        L.push(
          `| ${label(id, result, servers)} | ${bytes(s.rate)} | ${bytes(s.heapPerConn)} | ${bytes(s.min)} – ${bytes(s.max)} | ` +
            `${x(ratio(s.rate, sum.net?.rate))} | ${x(ratio(s.rate, sum["ws-native"]?.rate))} | ${x(ratio(s.rate, sum.uws?.rate))} | ` +
            `${id === "socketeer" && sc.target ? `${sc.target.text}: ${statusText(st)}` : ""} |`,
        );
      }
    } else {
      const lat = ids.some((id) => sum[id].p50 !== undefined);
      const wire = sc.job.deflate === true;
      // Page faults cost the server about 11 µs each on this VM; shown where they
      // reach one per message, where they explain much of the spread between repetitions.
      const faults = ids.some((id) => (sum[id].faultsPerMsg ?? 0) >= 1);
      let head = `| server | ${sc.metric} | range | server CPU | generator CPU | × ws-native | × uWS |`;
      let sep = "| --- | --- | --- | --- | --- | --- | --- |";
      if (lat) {
        head += " p50 | p99 | p99.9 |";
        sep += " --- | --- | --- |";
      }
      if (wire) {
        head += " reply bytes on the wire |";
        sep += " --- |";
      }
      if (faults) {
        head += " server page faults / msg |";
        sep += " --- |";
      }
      head += " target | notes |";
      sep += " --- | --- |";
      L.push(head);
      L.push(sep);
      for (const id of ids) {
        const s = sum[id];
        if (s.ok === 0) {
          L.push(`| ${label(id, result, servers)} | error: ${s.errors[0] ?? "?"} |`);
          continue;
        }
        const note = [];
        if (s.genBound) {
          note.push("⚠ generator-bound");
          genBound.push(`${sc.title} / ${label(id, result, servers)}`);
        } else if (s.genBoundRuns > 0) {
          note.push(`${s.genBoundRuns} run(s) generator-bound`);
        } else if (s.genNearLimit) {
          note.push("generator near its limit");
          genNear.push(`${sc.title} / ${label(id, result, servers)}`);
        }
        if (s.otherOnServerCore > NOISY || s.otherOnGenCore > NOISY) {
          note.push(`other load ${pct(s.otherOnServerCore)} / ${pct(s.otherOnGenCore)}`);
        }
        if (s.errors.length) note.push(`${s.errors.length} failed run(s)`);
        if (s.stalls) note.push(`${s.stalls} stall(s)`);
        if (s.failed) note.push(`${s.failed} failed handshakes`);
        if (s.closedEarly) note.push(`${s.closedEarly} sockets closed early`);
        if (wire && s.compressedReply === false) note.push("replies not compressed");
        let row =
          `| ${label(id, result, servers)} | ${num(s.rate)} | ${num(s.min)} – ${num(s.max)} | ${pct(s.serverCpu)} | ${pct(s.genCpu)} | ` +
          `${x(ratio(s.rate, sum["ws-native"]?.rate))} | ${x(ratio(s.rate, sum.uws?.rate))} |`;
        if (lat) row += ` ${us(s.p50)} | ${us(s.p99)} | ${us(s.p999)} |`;
        if (wire) row += ` ${bytes(s.wireBytesPerMsg)} |`;
        if (faults)
          row += ` ${s.faultsPerMsg === undefined ? "–" : s.faultsPerMsg.toPrecision(2)} |`;
        row += ` ${id === "socketeer" && sc.target ? `${sc.target.text}: ${statusText(st)}` : ""} | ${note.join("; ")} |`;
        L.push(row);
      }
    }
    L.push("");
  }

  L.push("## Is the load generator the bottleneck?");
  L.push("");
  L.push(
    "The generator writes pre-masked frames from a pre-built batch, keeps many messages in " +
      "flight and counts replies by walking frame headers in each read (no per-message allocation). " +
      "Its ceiling is the **bare net** row of each table: a TCP server that echoes (or fans out) bytes " +
      "without any WebSocket work, measured by the same generator counting the same frames. A result " +
      `is flagged *generator-bound* when the generator is ≥ ${GEN_BOUND.gen} % busy while the ` +
      `server's core (server + other load) is < ${GEN_BOUND.server} % busy: the server was waiting ` +
      "for work, so the number says more about the generator than the server. Rows where the " +
      `generator is ≥ ${GEN_NEAR} % busy are marked as near its limit.`,
  );
  L.push("");
  const ceil = result.scenarios.ceiling?.summary;
  if (ceil) {
    const n = ceil["net-node"]?.rate;
    const c = ceil["net-c"]?.rate;
    L.push(
      `Ceiling in this run (16 B echo against bare net): Node.js generator ${num(n)} msgs/s at ` +
        `${pct(ceil["net-node"]?.genCpu)} of its core, native generator ${num(c)} msgs/s at ` +
        `${pct(ceil["net-c"]?.genCpu)}. The native generator is used for the throughput scenarios ` +
        "when it builds; the idle-memory scenario always uses the Node.js one (it is not a speed test).",
    );
    L.push("");
  }
  if (genNear.length) {
    L.push("Medians with the generator near its limit in this run:");
    L.push("");
    for (const g of genNear) L.push(`- ${g}`);
    L.push("");
  }
  if (genBound.length) {
    L.push("Generator-bound medians in this run:");
    L.push("");
    for (const g of genBound) L.push(`- ${g}`);
  } else {
    L.push("No median in this run was generator-bound.");
  }
  L.push("");
  L.push("## Method");
  L.push("");
  L.push(
    "- **CPU %** is `utime + stime` of the whole process (all threads) from `/proc/<pid>/stat`, over " +
      "the measured window; 100 % = one core.",
  );
  L.push(
    "- **Server page faults / msg** (tables where some server reaches one per message): the server " +
      "process's minor faults from `/proc/<pid>/stat` over the measured window, per message. They " +
      "come from memory the allocator handed back to the kernel and takes again. On this VM the first " +
      "touch of a fresh page costs about 11 µs (bare metal: well under 1 µs), so 25 faults per " +
      "message cost the server about 0.3 ms.",
  );
  L.push(
    "- **Echo**: every connection keeps a fixed number of messages in flight and refills in bulk; " +
      "msgs/s counts echoed messages. Before each run one message is echoed and checked byte for byte " +
      "(inflated when compressed).",
  );
  L.push(
    "- **Broadcast**: deliveries/s counts messages received across all receiving connections; the " +
      "publisher's own copy is not counted. ws uses the loop from its README (`wss.clients.forEach` + " +
      "`readyState === OPEN` + `send`); uWS uses `app.publish`; socketeer uses `server.publish` once " +
      "it exists (until then the same loop as ws).",
  );
  L.push(
    "- **Handshakes**: a handshake counts once the server's close frame and its FIN have arrived.",
  );
  L.push(
    "- **Memory**: the server is started fresh per run with `--expose-gc`; GC runs before both readings.",
  );
  L.push(
    "- **Compression**: the generator offers `permessage-deflate; client_no_context_takeover`, so each " +
      "precompressed frame stays valid; ws and socketeer run with `perMessageDeflate: true`, uWS with " +
      "`SHARED_COMPRESSOR | SHARED_DECOMPRESSOR`. The wire-bytes column shows whether replies came back " +
      "compressed.",
  );
  L.push("- Loopback only (127.0.0.1); every loop in the harness is bounded by time or count.");
  L.push("");
  return `${L.join("\n")}\n`;
}

function label(id, result, servers) {
  if (id === "net-node") return "bare net ← Node.js generator";
  if (id === "net-c") return "bare net ← native C generator";
  const info = result.servers[id];
  const base = servers[id]?.label ?? id;
  if (id === "uws" && info?.version) return `${base} ${info.version}`;
  return base;
}
