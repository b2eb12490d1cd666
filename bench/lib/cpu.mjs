// CPU accounting from /proc, so every process (Node or native, including its libuv and V8
// threads) is measured the same way from the outside.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let clkTck = 100;
try {
  clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // getconf missing: 100 Hz is the Linux default on every mainstream architecture.
}

/**
 * CPU time (utime + stime, all threads) of `pid` in seconds, or NaN if it cannot be read.
 * /proc/<pid>/stat sums every thread of the process, which is what we want: zlib work on the
 * libuv pool and V8's GC helpers are the server's cost too.
 */
export function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name may contain spaces and parentheses; fields start after the last ")".
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / clkTck;
  } catch {
    return Number.NaN;
  }
}

/**
 * Busy seconds of each CPU core from /proc/stat (everything but idle and iowait), so the harness
 * can tell how much of a core went to processes other than the one it measures.
 */
export function coreBusySeconds() {
  const out = [];
  try {
    for (const line of readFileSync("/proc/stat", "latin1").split("\n")) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (m === null) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      // user nice system idle iowait irq softirq steal (guest time is already inside user).
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
      out[Number(m[1])] = (total - f[3] - f[4]) / clkTck;
    }
  } catch {
    // not Linux: no per-core numbers
  }
  return out;
}
