// Autobahn TestSuite client testee (the suite's fuzzing server tests our client). Protocol, one
// connection at a time: read the case count from URL/getCaseCount, then for each case open
// URL/runCase?case=i&agent=AGENT and echo every message with the same flag until the suite closes,
// then open URL/updateReports?agent=AGENT. Built from the package: run `npm run build` first.
// Usage: node scripts/autobahn/client-testee.mjs ws://127.0.0.1:9002 socketeer
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const WebSocket = require("../../dist/cjs/index.js");

const base = process.argv[2] ?? "ws://127.0.0.1:9002";
const agent = process.argv[3] ?? "socketeer";
/** A case that never ends would hang the run; the suite's own cases take seconds at most. */
const CASE_TIMEOUT_MS = 120_000;

/** Opens `url`, calls `onMessage` for each message, resolves when the connection closes. */
function connect(url, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 });
    const timer = setTimeout(() => ws.terminate(), CASE_TIMEOUT_MS);
    ws.on("message", (data, isBinary) => onMessage(ws, data, isBinary));
    // Protocol errors end the case with our close frame; the suite judges the result.
    ws.on("error", () => {});
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

let count = 0;
await connect(`${base}/getCaseCount`, (_ws, data) => {
  count = Number.parseInt(data.toString(), 10);
});
if (!Number.isInteger(count) || count <= 0) {
  console.error(`could not read the case count from ${base}/getCaseCount`);
  process.exit(1);
}
for (let i = 1; i <= count; i++) {
  await connect(
    `${base}/runCase?case=${i}&agent=${encodeURIComponent(agent)}`,
    (ws, data, isBinary) => {
      ws.send(data, { binary: isBinary });
    },
  );
}
await connect(`${base}/updateReports?agent=${encodeURIComponent(agent)}`, () => {});
console.log(`ran ${count} cases`);
