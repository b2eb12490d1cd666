// What is measured, and against which targets. run.mjs schedules these; report.mjs renders them.

/**
 * Servers, in table order. `impl` picks the code in server.mjs; `env` is added to the server's
 * environment. `default: false` servers run only when named in --servers.
 */
export const SERVERS = {
  socketeer: { impl: "socketeer", env: {}, label: "socketeer" },
  "socketeer-loop": {
    impl: "socketeer-loop",
    env: {},
    label: "socketeer (broadcast loop)",
    default: false,
    only: ["broadcast-1k", "broadcast-10k"],
  },
  // Another build of socketeer beside the current one in the same run (BENCH_BASE_PATH=/path/to/
  // an older dist/cjs/index.js), so a change is measured against its base under the same noise.
  "socketeer-base": {
    impl: "socketeer",
    env: { BENCH_SOCKETEER_PATH: process.env.BENCH_BASE_PATH ?? "" },
    label: "socketeer (BENCH_BASE_PATH build)",
    default: false,
  },
  "ws-native": { impl: "ws", env: {}, label: "ws + bufferutil + utf-8-validate" },
  ws: {
    impl: "ws",
    // ws reads these at require time and then never loads the native helpers.
    env: { WS_NO_BUFFER_UTIL: "1", WS_NO_UTF_8_VALIDATE: "1" },
    label: "ws without bufferutil / utf-8-validate",
  },
  uws: { impl: "uws", env: {}, label: "uWebSockets.js" },
  net: { impl: "net", env: {}, label: "bare net (ceiling)" },
};

/** Default order of a run; also the row order of every table. */
export const SERVER_ORDER = [
  "socketeer",
  "socketeer-base",
  "socketeer-loop",
  "ws-native",
  "ws",
  "uws",
  "net",
];

/**
 * Scenarios. `mode` is the server mode, `job` the generator job (port and pid are added).
 * `reps` overrides the run's repetition count (large-connection scenarios are slow to set up and
 * vary little; the noisiest ones get more). `target` is the project's goal for socketeer: ratio of socketeer's number to
 * `vs`'s, `higher` meaning socketeer must be at least `ratio` times, `lower` at most.
 */
export const SCENARIOS = [
  {
    id: "ceiling",
    title: "Generator ceiling: bare TCP echo, 16 B frames",
    what:
      "The generator against a TCP server that echoes bytes without any WebSocket work (same " +
      "16-byte frames, 64 connections × 32 in flight, replies counted by the same frame walk), once " +
      "with the Node.js generator and once with the native one. Any server number near these is " +
      "limited by the generator, not by the server.",
    mode: "echo",
    job: { kind: "echo", payload: "text", size: 16, conns: 64, inflight: 32 },
    metric: "msgs/s",
    engines: ["node", "c"],
  },
  {
    id: "echo-16",
    title: "Echo, 16 B text",
    what: "64 connections × 32 messages in flight, 16-byte text messages echoed back.",
    mode: "echo",
    job: { kind: "echo", payload: "text", size: 16, conns: 64, inflight: 32 },
    metric: "msgs/s",
    target: { ratio: 5, vs: "ws-native", higher: true, text: "≥ 5× ws" },
  },
  {
    id: "echo-1k",
    title: "Echo, 1 KiB text",
    what: "64 connections × 32 in flight, 1024-byte text messages.",
    mode: "echo",
    job: { kind: "echo", payload: "text", size: 1024, conns: 64, inflight: 32 },
    metric: "msgs/s",
    target: { ratio: 3.5, vs: "ws-native", higher: true, text: "≥ 3.5× ws" },
  },
  {
    id: "echo-64k",
    title: "Echo, 64 KiB binary",
    what: "16 connections × 4 in flight, 65536-byte binary messages.",
    mode: "echo",
    job: { kind: "echo", payload: "binary", size: 65536, conns: 16, inflight: 4 },
    metric: "msgs/s",
  },
  {
    id: "echo-1m",
    title: "Echo, 1 MiB binary",
    what: "4 connections × 2 in flight, 1048576-byte binary messages.",
    mode: "echo",
    job: { kind: "echo", payload: "binary", size: 1048576, conns: 4, inflight: 2 },
    metric: "msgs/s",
    // The noisiest scenario here: single repetitions of one server ranged over 2× in one run
    // (kernel loopback work, page faults), for ws as for socketeer. More repetitions steady the
    // median; every server gets the same number.
    reps: 9,
    target: { ratio: 1.0, vs: "ws-native", higher: true, text: "≥ 1.0× ws with native helpers" },
  },
  {
    id: "broadcast-1k",
    title: "Broadcast to 1,000 clients",
    what:
      "1,000 receiving connections + 1 publisher; each 64-byte text message the publisher sends " +
      "is broadcast by the server to every client; 32 broadcasts outstanding.",
    mode: "broadcast",
    job: { kind: "broadcast", clients: 1000, window: 32, size: 64 },
    metric: "deliveries/s",
  },
  {
    id: "broadcast-10k",
    title: "Broadcast to 10,000 clients",
    what: "As above with 10,000 receiving connections; 16 broadcasts outstanding.",
    mode: "broadcast",
    job: { kind: "broadcast", clients: 10000, window: 16, size: 64 },
    metric: "deliveries/s",
    reps: 3,
    target: {
      ratio: 5,
      vs: "ws-native",
      higher: true,
      text: "≥ 5× ws's documented broadcast loop",
    },
  },
  {
    id: "handshake",
    title: "Handshakes per second",
    what:
      "32 concurrent loops of TCP connect → upgrade request → 101 (accept checked) → close frame → " +
      "server close frame → server FIN. bare net = a hand-rolled minimal upgrade (the floor) that, " +
      "like socketeer, closes TCP once it has answered the close (RFC 6455 §7.1.1).",
    mode: "handshake",
    job: { kind: "handshake", concurrency: 32 },
    metric: "handshakes/s",
    reps: 9, // as noisy as echo-1m (single repetitions ranged over 2×)
    target: { ratio: 1.5, vs: "ws-native", higher: true, text: "≥ 1.5× ws" },
  },
  {
    id: "memory",
    title: "Idle memory per connection (10,000 connections)",
    what:
      "A fresh server per run; 10,000 upgraded, idle connections; (RSS after − RSS before) ÷ 10,000, " +
      "both after forced GC. bare net = net.Socket + minimal upgrade, holding the same sockets.",
    mode: "memory",
    job: { kind: "memory", conns: 10000 },
    metric: "bytes/conn",
    reps: 3,
    lowerIsBetter: true,
    target: { ratio: 1.1, vs: "net", higher: false, text: "≤ 1.1× bare net.Socket" },
  },
  {
    id: "deflate-1k",
    title: "Compressed echo, 1 KiB JSON-like text",
    what:
      "permessage-deflate (client_no_context_takeover offered), 32 connections × 8 in flight; the " +
      "generator sends compressed frames (deflateRaw, sync flush, 00 00 ff ff stripped).",
    mode: "echo",
    deflate: true,
    job: { kind: "echo", payload: "json", size: 1024, conns: 32, inflight: 8, deflate: true },
    metric: "msgs/s",
    skip: ["net"],
  },
  {
    id: "deflate-64k",
    title: "Compressed echo, 64 KiB JSON-like text",
    what: "As above, 8 connections × 2 in flight, 65536-byte messages.",
    mode: "echo",
    deflate: true,
    job: { kind: "echo", payload: "json", size: 65536, conns: 8, inflight: 2, deflate: true },
    metric: "msgs/s",
    skip: ["net"],
  },
  {
    id: "latency",
    title: "Latency, one message in flight per connection",
    what: "64 connections × 1 in flight, 16-byte text; round-trip times measured per message.",
    mode: "echo",
    job: { kind: "echo", payload: "text", size: 16, conns: 64, inflight: 1, latency: true },
    metric: "msgs/s",
  },
];
