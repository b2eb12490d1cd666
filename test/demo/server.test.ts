/**
 * The chat demo's server without a browser: its HTTP side, its JSON protocol and validation,
 * presence, shutdown, and `node demo/server.mjs` run the way `npm start` runs it.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket as WsClient } from "ws";
import type { Demo } from "../../demo/server.mjs" with { "resolution-mode": "import" };
import { WebSocket } from "../../src/index.js";

const T = { timeout: 15_000 };

type Json = { type: string; [key: string]: unknown };

/** A chat client that keeps every JSON message it receives, to be awaited by type. */
class ChatClient {
  readonly ws: WebSocket;
  private readonly inbox: Json[] = [];
  private readonly waiters: { type: string; resolve: (m: Json) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString()) as Json;
      const i = this.waiters.findIndex((w) => w.type === message.type);
      if (i === -1) this.inbox.push(message);
      else this.waiters.splice(i, 1)[0]?.resolve(message);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code: number, reason: Buffer) =>
        resolve({ code, reason: reason.toString() }),
      );
    });
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.on("open", () => resolve());
      this.ws.on("error", reject);
    });
  }

  /** The next message of `type` (already received or still to come). */
  next<M extends Json = Json>(type: string): Promise<M> {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i !== -1) return Promise.resolve(this.inbox.splice(i, 1)[0] as M);
    return new Promise((resolve) =>
      this.waiters.push({ type, resolve: resolve as (m: Json) => void }),
    );
  }

  send(message: unknown): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  async join(
    room: string,
    name: string,
  ): Promise<Json & { members: { id: string; name: string }[] }> {
    this.send({ type: "join", room, name });
    return this.next("joined");
  }

  close(): Promise<unknown> {
    this.ws.close();
    return this.closed;
  }
}

function wsUrl(demo: Demo): string {
  return demo.url.replace(/^http/, "ws");
}

function get(
  url: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("chat demo server", () => {
  let demo: Demo;
  const log: string[] = [];
  const clients: ChatClient[] = [];
  const connect = async (headers?: Record<string, string>) => {
    const client = new ChatClient(wsUrl(demo), headers);
    clients.push(client);
    await client.opened();
    return client;
  };

  before(async () => {
    const { startDemo } = await import("../../demo/server.mjs");
    demo = await startDemo({ port: 0, host: "127.0.0.1", log: (line) => log.push(line) });
  });
  after(async () => {
    for (const client of clients) client.ws.terminate();
    await demo.close();
  });

  test("one port serves the page, its assets and WebSocket upgrades", T, async () => {
    const page = await get(demo.url);
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(page.body, /<script src="\/app\.js" defer><\/script>/);
    assert.match(String(page.headers["content-security-policy"]), /default-src 'self'/);
    assert.equal(page.headers["x-content-type-options"], "nosniff");
    assert.match(
      String((await get(`${demo.url}app.js`)).headers["content-type"]),
      /^text\/javascript/,
    );
    assert.match(String((await get(`${demo.url}style.css`)).headers["content-type"]), /^text\/css/);
    assert.equal((await get(`${demo.url}style.css`, "HEAD")).status, 200);
    assert.equal((await get(`${demo.url}../package.json`)).status, 404);
    assert.equal((await get(`${demo.url}rooms.mjs`)).status, 404);
    assert.equal((await get(demo.url, "POST")).status, 405);
    const client = await connect();
    const welcome = await client.next("welcome");
    assert.deepEqual((welcome.rooms as { name: string }[]).map((r) => r.name).slice(0, 3), [
      "general",
      "random",
      "help",
    ]);
  });

  test("join, presence and live messages between two clients", T, async () => {
    const ada = await connect();
    const bob = await connect();
    const adaJoined = await ada.join("lobby", "Ada");
    assert.deepEqual(
      adaJoined.members.map((m) => m.name),
      ["Ada"],
    );
    const bobJoined = await bob.join("lobby", "Bob");
    assert.deepEqual(
      bobJoined.members.map((m) => m.name),
      ["Ada", "Bob"],
    );
    const presence = await ada.next("presence");
    assert.equal(presence.event, "join");
    assert.deepEqual(presence.user, { id: (bobJoined.you as { id: string }).id, name: "Bob" });

    bob.send({ type: "say", text: "  hello, Ada  " });
    const atAda = await ada.next("message");
    const atBob = await bob.next("message");
    assert.equal(atAda.text, "hello, Ada", "trimmed");
    assert.deepEqual(atAda, atBob);
    assert.deepEqual(atAda.from, { id: (bobJoined.you as { id: string }).id, name: "Bob" });

    // Someone joining later sees the recent history.
    const cy = await connect();
    const cyJoined = await cy.join("lobby", "Cy");
    assert.deepEqual(
      (cyJoined.history as { text: string }[]).map((m) => m.text),
      ["hello, Ada"],
    );

    // Leaving (or disconnecting) updates everyone's online list.
    const cyArrived = await ada.next("presence");
    assert.equal(cyArrived.event, "join");
    await cy.close();
    const gone = await ada.next("presence");
    assert.equal(gone.event, "leave");
    assert.deepEqual(
      (gone.members as { name: string }[]).map((m) => m.name),
      ["Ada", "Bob"],
    );
    bob.send({ type: "leave" });
    const bobLeft = await ada.next("presence");
    assert.equal(bobLeft.event, "leave");
    assert.ok(log.some((line) => /Ada joined lobby/.test(line)));
    assert.ok(log.some((line) => /Bob left lobby/.test(line)));
  });

  test("invalid input gets a polite error and the connection stays usable", T, async () => {
    const client = await connect();
    const cases: [unknown, string][] = [
      ["not json", "bad_json"],
      [[1, 2], "bad_message"],
      [{ type: "dance" }, "unknown_type"],
      [{ type: "say", text: "too early" }, "not_joined"],
      [{ type: "join", room: "general", name: "" }, "bad_name"],
      [{ type: "join", room: "general", name: "x".repeat(25) }, "bad_name"],
      [{ type: "join", room: "general", name: "a\u001bb" }, "bad_name"],
      [{ type: "join", room: "../etc", name: "Eve" }, "bad_room"],
      [{ type: "join", room: "r".repeat(33), name: "Eve" }, "bad_room"],
      [{ type: "join", room: "ok", name: 42 }, "bad_name"],
    ];
    for (const [message, error] of cases) {
      client.send(message);
      const reply = await client.next("error");
      assert.equal(reply.error, error, JSON.stringify(message));
      assert.equal(typeof reply.message, "string");
    }
    client.ws.send(Buffer.from([1, 2, 3]));
    assert.equal((await client.next("error")).error, "bad_message");
    await client.join("General", "Eve");
    client.send({ type: "say", text: "x".repeat(1001) });
    assert.equal((await client.next("error")).error, "bad_text");
    client.send({ type: "say", text: "   " });
    assert.equal((await client.next("error")).error, "bad_text");
    client.send({ type: "say", text: "still here" });
    assert.equal((await client.next("message")).text, "still here");
    assert.equal(client.ws.readyState, WebSocket.OPEN);
  });

  test("RFC 6455 §7.4.1: a message over the 64 KiB maxPayload is closed with 1009", T, async () => {
    const client = await connect();
    client.ws.send(JSON.stringify({ type: "say", text: "x".repeat(70_000) }));
    assert.equal((await client.closed).code, 1009);
  });

  test("flooding is rate limited, politely", T, async () => {
    const client = await connect();
    await client.join("flood", "Fast");
    for (let i = 0; i < 25; i++) client.send({ type: "say", text: `m${i}` });
    const error = await client.next("error");
    assert.equal(error.error, "rate_limited");
  });

  test(
    "a page from another origin is refused; the same origin and no origin are accepted",
    T,
    async () => {
      const host = new URL(demo.url).host;
      const same = await connect({ Origin: `http://${host}` });
      assert.equal(same.ws.readyState, WebSocket.OPEN);
      const evil = new ChatClient(wsUrl(demo), { Origin: "https://evil.example" });
      await assert.rejects(evil.opened(), /403/);
    },
  );
});

describe("chat demo heartbeat", () => {
  test(
    "the heartbeat option reaches socketeer: a client that never answers pings is dropped",
    T,
    async () => {
      const { startDemo } = await import("../../demo/server.mjs");
      const demo = await startDemo({
        port: 0,
        host: "127.0.0.1",
        log: () => {},
        heartbeat: { interval: 200, timeout: 200 },
      });
      try {
        // ws's client can be told not to answer pings, which socketeer's heartbeat must notice.
        const silent = new WsClient(wsUrl(demo), { autoPong: false });
        const pinged = new Promise<void>((resolve) => silent.once("ping", () => resolve()));
        const closed = new Promise<number>((resolve) =>
          silent.on("close", (code) => resolve(code)),
        );
        await pinged;
        assert.equal(await closed, 1006);
      } finally {
        await demo.close();
      }
    },
  );
});

describe("chat demo shutdown", () => {
  test("close() says goodbye with 1001 to every client", T, async () => {
    const { startDemo } = await import("../../demo/server.mjs");
    const demo = await startDemo({ port: 0, host: "127.0.0.1", log: () => {} });
    const a = new ChatClient(wsUrl(demo));
    const b = new ChatClient(wsUrl(demo));
    await Promise.all([a.opened(), b.opened()]);
    await demo.close();
    assert.equal((await a.closed).code, 1001);
    assert.equal((await b.closed).code, 1001);
  });

  test(
    "`node demo/server.mjs` honours PORT/HOST and exits 0 on SIGTERM after closing clients with 1001",
    T,
    async () => {
      const child = spawn(process.execPath, [join(__dirname, "..", "..", "demo", "server.mjs")], {
        env: { ...process.env, PORT: "0", HOST: "127.0.0.1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        output += chunk;
      });
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          output += chunk;
          const match = output.match(/running at (http:\/\/127\.0\.0\.1:\d+\/)/);
          if (match?.[1]) resolve(match[1]);
        });
        child.on("exit", () => reject(new Error(`demo exited early:\n${output}`)));
      });
      const exited = new Promise<number | null>((resolve) =>
        child.on("exit", (code) => resolve(code)),
      );
      const client = new ChatClient(url.replace(/^http/, "ws"));
      await client.opened();
      assert.equal((await client.next("welcome")).type, "welcome");
      child.kill("SIGTERM");
      assert.equal((await client.closed).code, 1001);
      assert.equal(await exited, 0);
      assert.match(output, /connected from 127\.0\.0\.1/);
      assert.match(output, /shutting down/);
    },
  );
});
