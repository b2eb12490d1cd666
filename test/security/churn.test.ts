/**
 * Many connections over time (reliability.md §1.26, §3.13–3.15, §3.18): churn without leaks, the
 * footprint of idle connections, lazy zlib contexts and their cost per window size, and a server
 * shutting down under 500 live clients. Memory is measured in child processes started with
 * `--expose-gc` (test/security/fixtures), where no other test's garbage blurs the numbers.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import { RawClient } from "../helpers/index.js";
import { KiB, MiB, Recorder, runFixture, startServer } from "../helpers/sec-util.js";

/** The open-file limit this process (and its children) run under. */
function fileLimit(): number {
  const out = execFileSync("/bin/sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  return out === "unlimited" ? 1_000_000 : Number(out);
}

/** Runs a fixture with --expose-gc and returns its JSON report. */
async function measure(name: string, args: string[], ms: number): Promise<Record<string, unknown>> {
  const fixture = runFixture(name, args, { execArgv: ["--expose-gc"] });
  try {
    const code = await fixture.exited(ms);
    assert.equal(code, 0, fixture.stderr());
    const line = fixture.lines.find((l) => l.startsWith("{"));
    assert.ok(line !== undefined, `no report; stderr: ${fixture.stderr()}`);
    return JSON.parse(line) as Record<string, unknown>;
  } finally {
    fixture.kill();
  }
}

interface Cost {
  clients: number;
  extensions: string;
  idle: { rss: number; live: number };
  active: { rss: number; live: number };
  after: { rss: number; live: number };
}

describe("churn and many connections", { timeout: 600_000 }, () => {
  test("1.26/3.14 10,000 connections in 20 waves of 500: memory back to baseline, no handle left, clients empty", {
    timeout: 540_000,
  }, async (t) => {
    // Each open connection holds two descriptors here (client and server end, one process).
    const perWave = Math.min(500, Math.floor((fileLimit() - 200) / 2));
    const waves = Math.ceil(10_000 / perWave);
    const report = (await measure("churn.ts", [String(waves), String(perWave)], 520_000)) as {
      connections: number;
      elapsedMs: number;
      baseline: { heap: number; external: number; rss: number };
      after: { heap: number; external: number; rss: number };
      clients: number;
      resourcesBefore: Record<string, number>;
      resourcesAfter: Record<string, number>;
    };
    const live = (m: { heap: number; external: number }) => m.heap + m.external;
    const grown = live(report.after) - live(report.baseline);
    const rss = report.after.rss - report.baseline.rss;
    t.diagnostic(
      `${report.connections} connections in ${report.elapsedMs} ms; heap+external ${(grown / KiB).toFixed(0)} KiB, rss ${(rss / MiB).toFixed(1)} MiB over baseline`,
    );
    assert.ok(report.connections >= 10_000);
    assert.equal(report.clients, 0, "server.clients is empty");
    assert.ok(grown < 4 * MiB, `heap+external grew by ${(grown / MiB).toFixed(1)} MiB`);
    assert.ok(rss < 64 * MiB, `rss grew by ${(rss / MiB).toFixed(1)} MiB`);
    // Nothing of ours is left running: no socket, no server, no timer (only the child's own
    // startup leftovers, present before the server existed, may differ).
    for (const kind of ["TCPSocketWrap", "TCPServerWrap", "Timeout", "Immediate"]) {
      assert.equal(
        report.resourcesAfter[kind] ?? 0,
        0,
        `${kind} left: ${JSON.stringify(report.resourcesAfter)}`,
      );
    }
  });

  test("3.13 2,000 idle connections: a few KiB each, zlib only when used, all released on close", {
    timeout: 240_000,
  }, async (t) => {
    const pairs = Math.min(2000, Math.floor((fileLimit() - 256) / 2));
    const plain = (await measure(
      "conn-cost.ts",
      ["off", String(pairs), "0"],
      220_000,
    )) as unknown as Cost;
    const deflate = (await measure(
      "conn-cost.ts",
      ["default", String(pairs), "0"],
      220_000,
    )) as unknown as Cost;
    t.diagnostic(
      `${pairs} idle client+server pairs: ${(plain.idle.live / KiB).toFixed(1)} KiB each without deflate, ` +
        `${(deflate.idle.live / KiB).toFixed(1)} KiB with deflate negotiated; left after close ${(plain.after.live / KiB).toFixed(0)} / ${(deflate.after.live / KiB).toFixed(0)} KiB`,
    );
    assert.equal(deflate.extensions, "permessage-deflate");
    for (const cost of [plain, deflate]) {
      assert.equal(cost.clients, 0);
      assert.ok(cost.idle.live < 32 * KiB, `idle pair: ${cost.idle.live} bytes`);
      assert.ok(cost.after.live < 4 * MiB, `left after close: ${cost.after.live} bytes`);
    }
    // Negotiated but unused, permessage-deflate allocates no zlib context.
    assert.ok(deflate.idle.live < plain.idle.live + 8 * KiB, "zlib contexts are created lazily");
    assert.ok(deflate.idle.rss < 64 * KiB, `idle deflate pair RSS: ${deflate.idle.rss}`);
  });

  test("3.15 zlib contexts: created by the first message; a 2^10 window costs less than 2^15", {
    timeout: 120_000,
  }, async (t) => {
    const wide = (await measure("conn-cost.ts", ["15", "40", "1"], 100_000)) as unknown as Cost;
    const narrow = (await measure("conn-cost.ts", ["10", "40", "1"], 100_000)) as unknown as Cost;
    t.diagnostic(
      `per client+server pair after one compressed echo: window 15 ${(wide.active.rss / KiB).toFixed(0)} KiB RSS, ` +
        `window 10 ${(narrow.active.rss / KiB).toFixed(0)} KiB RSS (idle: ${(wide.idle.rss / KiB).toFixed(0)} KiB)`,
    );
    assert.ok(
      wide.active.rss > wide.idle.rss + 128 * KiB,
      "the contexts appear with the first message",
    );
    assert.ok(narrow.active.rss < wide.active.rss, "smaller windows cost less");
    for (const cost of [wide, narrow]) {
      assert.equal(cost.clients, 0);
      assert.ok(cost.after.live < 4 * MiB, `left after close: ${cost.after.live} bytes`);
    }
  });

  test("3.18 shutdown under 500 live clients: no new connections, existing ones closed by the app within closeTimeout", {
    timeout: 120_000,
  }, async () => {
    const srv = await startServer({ closeTimeout: 500 });
    const clients: Recorder[] = [];
    try {
      for (let i = 0; i < 500; i += 100) {
        const batch = Array.from(
          { length: 100 },
          () => new Recorder(new WebSocket(srv.url, { perMessageDeflate: false })),
        );
        await Promise.all(batch.map((r) => r.opened(30_000)));
        clients.push(...batch);
      }
      assert.equal(srv.wss.clients.size, 500);
      let closed = false;
      srv.wss.close(() => {
        closed = true;
      });
      // ws 8 policy (README): close() stops accepting, open sockets stay until the app ends them.
      const late = new Recorder(new WebSocket(srv.url, { perMessageDeflate: false }));
      await late.closed(5000);
      late.assertSafeEnd(1);
      assert.match(late.errors[0]?.message ?? "", /ECONNREFUSED/);
      assert.ok(clients.every((c) => c.ws.readyState === WebSocket.OPEN));
      assert.equal(closed, false, "'close' waits for the open sockets");

      const started = Date.now();
      for (const ws of srv.wss.clients) ws.close(1001, "shutting down");
      await Promise.all(clients.map((c) => c.closed(10_000)));
      const elapsed = Date.now() - started;
      for (const c of clients) {
        assert.equal(c.closes[0]?.code, 1001);
        c.assertSafeEnd(0);
      }
      assert.ok(elapsed < 500 + 5000, `all closed after ${elapsed} ms`);
      const deadline = Date.now() + 5000;
      while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(closed, "the server emitted 'close' once its clients were gone");
      assert.equal(srv.wss.clients.size, 0);
    } finally {
      for (const c of clients) c.ws.terminate();
    }
  });

  test("3.18 handleUpgrade after close() answers 503", { timeout: 20_000 }, async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.close()),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      wss.close();
      const raw = await RawClient.handshake((server.address() as AddressInfo).port);
      try {
        assert.equal(raw.response.status, 503);
        await raw.waitForTcpEnd(3000);
      } finally {
        raw.destroy();
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
