// The `npm start` demo: a chat with rooms, served by ONE Node http server that hands out the
// page and also accepts WebSocket upgrades on the same port and URL.
//
//   npm start                      # http://localhost:8080
//   PORT=3000 HOST=0.0.0.0 npm start
//   node demo/server.mjs --port 3000
//
// Wire protocol (JSON text messages; anything else gets a polite {type:"error"} reply):
//   client -> server
//     { type: "join", room, name }   join (or switch to) a room under a display name
//     { type: "say", text }          post to the current room
//     { type: "leave" }              leave the current room
//   server -> client
//     { type: "welcome", id, rooms, limits }
//     { type: "rooms", rooms: [{ name, count }] }         whenever head counts change
//     { type: "joined", room, you, members, history }
//     { type: "presence", room, event: "join"|"leave", user, members }
//     { type: "message", room, id, from: { id, name }, text, ts }
//     { type: "error", error: "<code>", message: "<for humans>" }

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "socketeer";
import { DEFAULT_ROOMS, Rooms } from "./rooms.mjs";

/** Input limits, also sent to the page so it can enforce them before sending. */
export const LIMITS = Object.freeze({
  /** Characters in a display name. */
  name: 24,
  /** Characters in a room name. */
  room: 32,
  /** Characters in one chat message. */
  text: 1000,
  /** Bytes in one WebSocket message; a JSON envelope around `text` fits easily. */
  frame: 8 * 1024,
});

/** Hard cap enforced by the library: anything larger is closed with 1009 before we see it. */
const MAX_PAYLOAD = 64 * 1024;

/** Rate limit per connection: at most this many messages in any RATE_WINDOW_MS. */
const RATE_MESSAGES = 20;
const RATE_WINDOW_MS = 10_000;

const PUBLIC = new URL("./public/", import.meta.url);
const FILES = new Map([
  ["/", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/index.html", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/app.js", { file: "app.js", type: "text/javascript; charset=utf-8" }],
  ["/style.css", { file: "style.css", type: "text/css; charset=utf-8" }],
]);

const SECURITY_HEADERS = {
  // 'self' covers ws:/wss: to the same host in current browsers (CSP Level 3).
  "Content-Security-Policy":
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

// C0/C1 controls except tab and newline never belong in a name or a chat line.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Validates one message from a client. Pure, so it is unit-tested on its own.
 * @param {string} text the raw JSON text
 * @returns {{ ok: true, value: { type: "join", room: string, name: string } | { type: "say", text: string } | { type: "leave" } } | { ok: false, error: string, message: string }}
 */
export function parseClientMessage(text) {
  const bad = (error, message) => ({ ok: false, error, message });
  if (text.length > LIMITS.frame)
    return bad("too_large", `messages are limited to ${LIMITS.frame} bytes`);
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    return bad("bad_json", "messages must be JSON");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return bad("bad_message", "messages must be JSON objects with a type");
  }
  switch (data.type) {
    case "join": {
      const name = typeof data.name === "string" ? data.name.trim() : "";
      const room = typeof data.room === "string" ? data.room.trim().toLowerCase() : "";
      if (name === "" || [...name].length > LIMITS.name || CONTROL.test(name)) {
        return bad("bad_name", `names are 1 to ${LIMITS.name} characters`);
      }
      if (room.length > LIMITS.room || !ROOM_NAME.test(room)) {
        return bad(
          "bad_room",
          `room names are 1 to ${LIMITS.room} letters, digits, "-" or "_", starting with a letter or digit`,
        );
      }
      return { ok: true, value: { type: "join", room, name } };
    }
    case "say": {
      const said = typeof data.text === "string" ? data.text.trim() : "";
      if (said === "") return bad("bad_text", "empty message");
      if ([...said].length > LIMITS.text)
        return bad("bad_text", `messages are limited to ${LIMITS.text} characters`);
      if (CONTROL.test(said)) return bad("bad_text", "messages may not contain control characters");
      return { ok: true, value: { type: "say", text: said } };
    }
    case "leave":
      return { ok: true, value: { type: "leave" } };
    default:
      return bad("unknown_type", 'type must be "join", "say" or "leave"');
  }
}

function defaultLog(line) {
  console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);
}

/**
 * Starts the chat demo.
 * @param {{ port?: number, host?: string, log?: (line: string) => void, heartbeat?: { interval: number, timeout: number } | false }} [options]
 * @returns {Promise<{ url: string, port: number, host: string, server: import("node:http").Server, wss: import("socketeer").WebSocketServer, close(): Promise<void> }>}
 */
export async function startDemo({
  port = 8080,
  host = "localhost",
  log = defaultLog,
  heartbeat = { interval: 30_000, timeout: 10_000 },
} = {}) {
  let nextId = 1;
  let nextMessageId = 1;

  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const entry = FILES.get(path);
    if (entry === undefined || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(entry === undefined ? 404 : 405, {
        "Content-Type": "text/plain; charset=utf-8",
      });
      res.end(entry === undefined ? "Not Found\n" : "Method Not Allowed\n");
      return;
    }
    try {
      // Read on every request: tiny files, and edits show up on reload without a restart.
      const body = await readFile(new URL(entry.file, PUBLIC));
      res.writeHead(200, {
        "Content-Type": entry.type,
        "Content-Length": body.length,
        ...SECURITY_HEADERS,
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("Internal Server Error\n");
    }
  });

  const wss = new WebSocketServer({
    server,
    maxPayload: MAX_PAYLOAD,
    // socketeer's built-in heartbeat: one timer wheel pings idle sockets and drops dead ones.
    ...(heartbeat ? { heartbeat } : {}),
    // Browsers always send Origin; refuse pages from other sites (cross-site WebSocket
    // hijacking). Tools such as `socketeer connect` send none and are let in.
    verifyClient: ({ origin, req }, done) => {
      let sameSite = !origin;
      try {
        sameSite ||= new URL(origin).host === req.headers.host;
      } catch {
        // A malformed Origin is treated like a foreign one.
      }
      done(sameSite, 403, "Forbidden: cross-origin WebSocket");
    },
  });

  // Rooms are socketeer topics: a message to a room is framed once and fanned out by the server.
  const rooms = new Rooms({ defaultRooms: DEFAULT_ROOMS, publisher: wss });

  const sendJson = (socket, message) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const broadcastRooms = () => {
    wss.broadcast(JSON.stringify({ type: "rooms", rooms: rooms.list() }));
  };
  const announceLeave = (member, room) => {
    log(`#${member.id} ${member.name} left ${room}`);
    rooms.broadcastToRoom(room, {
      type: "presence",
      room,
      event: "leave",
      user: { id: member.id, name: member.name },
      members: rooms.members(room),
    });
  };

  wss.on("connection", (socket, req) => {
    const member = { id: String(nextId++), name: "", socket };
    const peer = req.socket.remoteAddress ?? "?";
    const sent = [];
    log(`+ #${member.id} connected from ${peer} (${wss.clients.size} online)`);
    sendJson(socket, { type: "welcome", id: member.id, rooms: rooms.list(), limits: LIMITS });

    socket.on("message", (data, isBinary) => {
      const now = Date.now();
      while (sent.length > 0 && now - sent[0] > RATE_WINDOW_MS) sent.shift();
      if (sent.length >= RATE_MESSAGES) {
        return sendJson(socket, {
          type: "error",
          error: "rate_limited",
          message: "slow down a little",
        });
      }
      sent.push(now);
      if (isBinary) {
        return sendJson(socket, {
          type: "error",
          error: "bad_message",
          message: "binary messages are not supported",
        });
      }
      const parsed = parseClientMessage(data.toString("utf8"));
      if (!parsed.ok)
        return sendJson(socket, { type: "error", error: parsed.error, message: parsed.message });
      const msg = parsed.value;

      if (msg.type === "join") {
        const before = rooms.roomOf(member);
        if (before === msg.room && member.name === msg.name) return;
        if (before !== undefined) {
          rooms.leave(member);
          announceLeave(member, before);
        }
        member.name = msg.name;
        if (!rooms.join(member, msg.room).joined) {
          broadcastRooms();
          return sendJson(socket, {
            type: "error",
            error: "too_many_rooms",
            message: "too many rooms exist; join one",
          });
        }
        log(`#${member.id} ${member.name} joined ${msg.room}`);
        const members = rooms.members(msg.room);
        sendJson(socket, {
          type: "joined",
          room: msg.room,
          you: { id: member.id, name: member.name },
          members,
          history: rooms.history(msg.room),
        });
        rooms.broadcastToRoom(
          msg.room,
          {
            type: "presence",
            room: msg.room,
            event: "join",
            user: { id: member.id, name: member.name },
            members,
          },
          { except: member },
        );
        broadcastRooms();
        return;
      }

      const room = rooms.roomOf(member);
      if (msg.type === "leave") {
        if (room === undefined) return;
        rooms.leave(member);
        announceLeave(member, room);
        broadcastRooms();
        return;
      }

      // msg.type === "say"
      if (room === undefined)
        return sendJson(socket, {
          type: "error",
          error: "not_joined",
          message: "join a room first",
        });
      const entry = {
        type: "message",
        room,
        id: String(nextMessageId++),
        from: { id: member.id, name: member.name },
        text: msg.text,
        ts: now,
      };
      rooms.remember(room, entry);
      rooms.broadcastToRoom(room, entry);
    });

    socket.on("error", (err) => log(`! #${member.id} ${err.message}`));
    socket.on("close", (code) => {
      const room = rooms.leave(member);
      if (room !== undefined) {
        announceLeave(member, room);
        broadcastRooms();
      }
      log(`- #${member.id} closed ${code} (${wss.clients.size} online)`);
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const shownHost = host.includes(":") ? `[${host}]` : host;
  const url = `http://${shownHost}:${address.port}/`;

  let closing;
  /** Says goodbye to every client with 1001 (Going Away), then stops listening. */
  const close = () => {
    closing ??= new Promise((resolve) => {
      log(`shutting down (${wss.clients.size} online)`);
      for (const client of wss.clients) client.close(1001, "server shutting down");
      // Clients normally answer within a round trip; do not let a dead one hold up the exit.
      const force = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
      }, 3_000);
      force.unref();
      wss.close(() => {
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        // Keep-alive HTTP connections would otherwise hold server.close() open.
        server.closeAllConnections();
      });
    });
    return closing;
  };

  return { url, port: address.port, host, server, wss, close };
}

/** Reads `--port <n>` / `--port=<n>` from argv, falling back to PORT, then 8080. */
function portFromArgs(argv, env) {
  let text = env.PORT;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--port") text = argv[i + 1];
    else if (argv[i].startsWith("--port=")) text = argv[i].slice(7);
  }
  if (text === undefined || text === "") return 8080;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    console.error(`invalid port "${text}": use a number from 0 to 65535`);
    process.exit(2);
  }
  return port;
}

// Start only when run directly (`node demo/server.mjs`), not when imported by the tests.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = portFromArgs(process.argv.slice(2), process.env);
  const host = process.env.HOST || "localhost";
  try {
    const demo = await startDemo({ port, host });
    defaultLog(`chat demo running at ${demo.url} (Ctrl-C to stop)`);
    const stop = async () => {
      await demo.close();
      process.exit(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  } catch (err) {
    if (err.code === "EADDRINUSE")
      console.error(`port ${port} is already in use; try PORT=${port + 1} npm start`);
    else console.error(`cannot start the demo: ${err.message}`);
    process.exit(1);
  }
}
