// Autobahn TestSuite echo server (the suite's fuzzing client tests it): sends every message back
// with the same text/binary flag, negotiating permessage-deflate. Built from the package, so run
// `npm run build` first. Usage: node scripts/autobahn/echo-server.mjs [port]
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// The CommonJS entry is the ws-shaped `WebSocket` class with `.WebSocketServer` attached.
const { WebSocketServer } = require("../../dist/cjs/index.js");

const port = Number(process.argv[2] ?? process.env.PORT ?? 9001);
const server = new WebSocketServer({
  port,
  host: "127.0.0.1",
  perMessageDeflate: true,
  // Section 9 sends messages up to 16 MiB; leave room above that.
  maxPayload: 64 * 1024 * 1024,
});

server.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  // Protocol errors are answered by the library with a close frame; nothing more to do here,
  // but an 'error' listener keeps them from being reported as unhandled.
  ws.on("error", () => {});
});

server.on("listening", () => {
  console.log(`echo server listening on ws://127.0.0.1:${port}`);
});

function shutdown() {
  server.close(() => process.exit(0));
  for (const client of server.clients) client.terminate();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
