/**
 * Sockets reading into the one shared buffer (src/node/shared-read.ts): which sockets do, that
 * many connections at once each get their own bytes, that pause() still holds the peer back, and
 * that the 'data' path (TLS, SOCKETEER_NO_SHARED_READ) behaves the same.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import { readIntoSharedBuffer, readsIntoSharedBuffer } from "../../src/node/shared-read.js";
import { selfSigned } from "../helpers/api-tls.js";
import {
  closePair,
  connectPair,
  startServer,
  stopServer,
  until,
  waitEvent,
} from "../helpers/api-util.js";

const T = { timeout: 30_000 };

type Internal = { _socket: net.Socket; _parser: { queuedBytes: number } | null };
const socketOf = (ws: WebSocket): net.Socket => (ws as unknown as Internal)._socket;

function patterned(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + seed * 7) & 0xff;
  return out;
}
const digest = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** Sends each payload and resolves with the echoes, in order. */
async function echoAll(ws: WebSocket, payloads: Buffer[]): Promise<Buffer[]> {
  const echoes: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    ws.on("message", (data: Buffer) => {
      echoes.push(data);
      if (echoes.length === payloads.length) resolve();
    });
    ws.once("close", () => reject(new Error("closed before every echo came back")));
  });
  for (const payload of payloads) ws.send(payload);
  await done;
  return echoes;
}

const echo = (ws: WebSocket): void => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
};

describe("shared read buffer", () => {
  test(
    "plain TCP sockets on both sides read into it, and messages of every size arrive intact",
    T,
    async () => {
      const pair = await connectPair();
      try {
        echo(pair.server);
        // Asked on the first received bytes: an idle connection keeps Node's default.
        assert.equal(readsIntoSharedBuffer(socketOf(pair.server)), false, "server side, idle");
        assert.equal(readsIntoSharedBuffer(socketOf(pair.client)), false, "client side, idle");
        const payloads = [0, 1, 125, 126, 4096, 65_535, 65_536, 200_000, 1 << 20].map(patterned);
        const echoes = await echoAll(pair.client, payloads);
        assert.deepEqual(echoes.map(digest), payloads.map(digest));
        assert.ok(readsIntoSharedBuffer(socketOf(pair.server)), "server side");
        assert.ok(readsIntoSharedBuffer(socketOf(pair.client)), "client side");
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "with SOCKETEER_NO_SHARED_READ set, sockets keep 'data' events and behave the same",
    T,
    async () => {
      process.env.SOCKETEER_NO_SHARED_READ = "1";
      try {
        const pair = await connectPair();
        try {
          echo(pair.server);
          const payloads = [3, 70_000, 1 << 20].map(patterned);
          assert.deepEqual(
            (await echoAll(pair.client, payloads)).map(digest),
            payloads.map(digest),
          );
          assert.equal(readsIntoSharedBuffer(socketOf(pair.server)), false);
          assert.equal(readsIntoSharedBuffer(socketOf(pair.client)), false);
        } finally {
          await closePair(pair);
        }
      } finally {
        delete process.env.SOCKETEER_NO_SHARED_READ;
      }
    },
  );

  test("TLS sockets keep 'data' events", { timeout: 40_000 }, async () => {
    const { key, cert } = selfSigned();
    const server = https.createServer({ key, cert });
    const wss = new WebSocketServer({ server });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    const connection = waitEvent<[WebSocket]>(wss, "connection");
    const client = new WebSocket(`wss://127.0.0.1:${port}`, { ca: cert });
    try {
      const [[serverSide]] = await Promise.all([connection, waitEvent(client, "open")]);
      echo(serverSide);
      const payloads = [10, 300_000].map(patterned);
      assert.deepEqual((await echoAll(client, payloads)).map(digest), payloads.map(digest));
      assert.equal(readsIntoSharedBuffer(socketOf(serverSide)), false);
      assert.equal(readsIntoSharedBuffer(socketOf(client)), false);
    } finally {
      client.terminate();
      await stopServer(wss);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("eight connections sending at once each get exactly their own bytes", T, async () => {
    const srv = await startServer({ perMessageDeflate: { threshold: 0 } });
    srv.wss.on("connection", echo);
    const clients = Array.from(
      { length: 8 },
      (_, i) => new WebSocket(srv.url, { perMessageDeflate: i % 2 === 0 }),
    );
    try {
      await Promise.all(clients.map((client) => waitEvent(client, "open")));
      const sizes = [17, 5000, 70_000, 300_000, 1 << 20, 40];
      const results = await Promise.all(
        clients.map((client, i) => {
          const payloads = sizes.map((size, j) => patterned(size, i * 10 + j));
          return echoAll(client, payloads).then((echoes) => ({ echoes, payloads }));
        }),
      );
      for (const [i, { echoes, payloads }] of results.entries()) {
        assert.deepEqual(echoes.map(digest), payloads.map(digest), `client ${i}`);
      }
      for (const client of srv.wss.clients) assert.ok(readsIntoSharedBuffer(socketOf(client)));
    } finally {
      for (const client of clients) client.terminate();
      await stopServer(srv.wss);
    }
  });

  test(
    "pause() stops reading: the peer's bytes wait in TCP, and all arrive in order on resume()",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const received: Buffer[] = [];
        pair.server.on("message", (data: Buffer) => received.push(data));
        // One message first, so that the server's socket reads into the shared buffer.
        pair.client.send("hello");
        await until(() => received.length === 1, 5000, "the first message");
        assert.ok(readsIntoSharedBuffer(socketOf(pair.server)));
        received.length = 0;
        pair.server.pause();
        const payloads = Array.from({ length: 24 }, (_, i) => patterned(1 << 20, i));
        for (const payload of payloads) pair.client.send(payload);
        // The client cannot hand everything to the kernel while the server does not read.
        await until(() => pair.client.bufferedAmount > 0, 5000, "the client's backlog");
        await new Promise((resolve) => setTimeout(resolve, 200));
        const queued = (pair.server as unknown as Internal)._parser?.queuedBytes ?? 0;
        assert.equal(received.length, 0, "nothing delivered while paused");
        assert.ok(queued <= 1 << 20, `at most one read queued while paused, not ${queued} bytes`);
        pair.server.resume();
        await until(() => received.length === payloads.length, 20_000, "every message");
        assert.deepEqual(received.map(digest), payloads.map(digest));
      } finally {
        await closePair(pair);
      }
    },
  );

  test("a socket made with its own onread buffer is left alone", T, async () => {
    const server = net.createServer((socket) => socket.end("hello"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const own = Buffer.alloc(16);
    const seen: string[] = [];
    const socket = net.connect({
      port: (server.address() as AddressInfo).port,
      host: "127.0.0.1",
      onread: {
        buffer: own,
        callback: (nread: number, buffer: Uint8Array) => {
          seen.push(Buffer.from(buffer.subarray(0, nread)).toString("latin1"));
          return true;
        },
      },
    });
    try {
      await once(socket, "connect");
      assert.equal(
        readIntoSharedBuffer(socket, () => true),
        false,
      );
      await until(() => seen.join("") === "hello", 5000, "the caller's onread");
    } finally {
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
