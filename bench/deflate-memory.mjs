// Server memory held by idle permessage-deflate connections (issue: "measure RSS with 1,000 and
// 10,000 idle compressed connections, and with serverNoContextTakeover").
//
//   npm run build && node bench/deflate-memory.mjs [--counts 1000,10000]
//
// For each configuration a fresh server process is started (socketeer from dist/, or ws for
// comparison); a client process opens N connections offering permessage-deflate, each sends one
// compressible message and gets its echo (so both zlib contexts exist, as on a real chat socket),
// then all stay idle. The server reports RSS and heap+external after gc(), minus its baseline.
// Loopback only; everything is closed at the end.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];

if (role === "server") {
  const [impl, mode] = process.argv.slice(3);
  const { WebSocketServer } =
    impl === "ws" ? await import("ws") : (await import("../dist/cjs/index.js")).default;
  const perMessageDeflate =
    mode === "off"
      ? false
      : mode === "nct"
        ? { serverNoContextTakeover: true, threshold: 0 }
        : { threshold: 0 };
  globalThis.gc?.();
  const base = process.memoryUsage();
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate });
  wss.on("connection", (s) => s.on("message", (d, b) => s.send(d, { binary: b })));
  wss.on("listening", () => process.send({ port: wss.address().port }));
  process.on("message", (m) => {
    if (m !== "measure") return;
    globalThis.gc?.();
    const now = process.memoryUsage();
    process.send({
      clients: wss.clients.size,
      rss: now.rss - base.rss,
      heapExternal: now.heapUsed + now.external - (base.heapUsed + base.external),
    });
  });
} else if (role === "client") {
  const [port, count] = process.argv.slice(3).map(Number);
  const { default: WS } = await import("ws");
  const sockets = [];
  let ready = 0;
  const message = JSON.stringify({ type: "chat", text: "hello everyone ".repeat(20) });
  for (let i = 0; i < count; i++) {
    const ws = new WS(`ws://127.0.0.1:${port}`, { perMessageDeflate: { threshold: 0 } });
    ws.on("open", () => ws.send(message));
    ws.once("message", () => {
      if (++ready === count) process.send("ready");
    });
    ws.on("error", () => {});
    sockets.push(ws);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20)); // do not flood the backlog
  }
  process.on("message", () => {
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  });
} else {
  const arg = process.argv.indexOf("--counts");
  const counts = (arg > 0 ? process.argv[arg + 1] : "1000,10000").split(",").map(Number);
  const rows = [];
  for (const count of counts) {
    for (const [impl, mode] of [
      ["socketeer", "off"],
      ["socketeer", "takeover"],
      ["socketeer", "nct"],
      ["ws", "takeover"],
      ["ws", "nct"],
    ]) {
      const server = fork(self, ["server", impl, mode], { execArgv: ["--expose-gc"] });
      const { port } = await new Promise((r) => server.once("message", r));
      const client = fork(self, ["client", String(port), String(count)]);
      const timer = setTimeout(() => {
        console.error(`timed out: ${impl} ${mode} ${count}`);
        process.exit(1);
      }, 180_000);
      await new Promise((r) => client.once("message", r));
      await new Promise((r) => setTimeout(r, 500));
      server.send("measure");
      const m = await new Promise((r) => server.once("message", r));
      clearTimeout(timer);
      client.send("done");
      await new Promise((r) => client.once("exit", r));
      server.kill();
      const label =
        mode === "off"
          ? "no deflate"
          : mode === "nct"
            ? "serverNoContextTakeover"
            : "context takeover";
      const row = {
        impl,
        config: label,
        connections: m.clients,
        rssMiB: +(m.rss / 2 ** 20).toFixed(1),
        rssPerConnKiB: +(m.rss / m.clients / 1024).toFixed(1),
        heapExternalPerConnKiB: +(m.heapExternal / m.clients / 1024).toFixed(1),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  console.log(
    "\n| server | deflate | connections | RSS Δ (MiB) | RSS / conn (KiB) | heap+external / conn (KiB) |",
  );
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.impl} | ${r.config} | ${r.connections} | ${r.rssMiB} | ${r.rssPerConnKiB} | ${r.heapExternalPerConnKiB} |`,
    );
  }
}
