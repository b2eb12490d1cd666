/**
 * Interop with undici 6's WHATWG `WebSocket` client (the one Node's global `WebSocket` is built on)
 * against socketeer's server, with and without permessage-deflate. undici always offers
 * `permessage-deflate; client_max_window_bits`; it inflates what the server compresses but never
 * compresses its own messages. A WHATWG client cannot send pings or fragments, and may only
 * close with 1000 or 3000–4999, so those are exercised from our side only.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { describe, test } from "node:test";
import { WebSocket as UndiciWebSocket } from "undici";
import { type WebSocket, WebSocketServer } from "../../src/index.js";
import { waitEvent } from "../helpers/api-util.js";

/** A message as the undici client received it. */
interface Received {
  data: Buffer;
  binary: boolean;
}

/** The close as the undici client saw it. */
interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** An undici client with its events queued, so a test can await them in order. */
class UndiciPeer {
  readonly ws: UndiciWebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  readonly errors: string[] = [];
  private readonly messages: Received[] = [];
  private readonly waiters: Array<(message: Received) => void> = [];

  constructor(url: string, protocols: string[]) {
    this.ws = new UndiciWebSocket(url, protocols);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve());
      this.ws.addEventListener("close", () => reject(new Error("undici closed before opening")));
    });
    // Keep the rejection from surfacing unhandled when a test never awaits `opened`.
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (event) =>
        resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean }),
      );
    });
    this.ws.addEventListener("error", (event) => {
      this.errors.push(String((event as unknown as { message?: string }).message ?? event.type));
    });
    this.ws.addEventListener("message", (event) => {
      const data = event.data as string | ArrayBuffer;
      const message =
        typeof data === "string"
          ? { data: Buffer.from(data), binary: false }
          : { data: Buffer.from(data), binary: true };
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter(message);
      else this.messages.push(message);
    });
  }

  /** The next message the client received; rejects after `ms`. */
  nextMessage(ms = 10_000): Promise<Received> {
    const queued = this.messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (message: Received): void => {
        clearTimeout(timer);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message at the undici client within ${ms} ms`));
      }, ms);
      this.waiters.push(waiter);
    });
  }
}

interface Connection {
  client: UndiciPeer;
  server: WebSocket;
  request: IncomingMessage;
  /** The server side's TCP socket, to count bytes on the wire. */
  socket: Socket;
  serverErrors: Error[];
  close(): Promise<void>;
}

async function open(deflate: boolean, protocols: string[] = []): Promise<Connection> {
  const wss = await new Promise<WebSocketServer>((resolve, reject) => {
    const server: WebSocketServer = new WebSocketServer(
      {
        host: "127.0.0.1",
        port: 0,
        perMessageDeflate: deflate,
        // The LAST offered protocol, so a "first offered" default cannot pass by accident.
        handleProtocols: (offered) => [...offered].at(-1) ?? false,
      },
      () => resolve(server),
    );
    server.once("error", reject);
  });
  const port = (wss.address() as AddressInfo).port;
  const connection = waitEvent<[WebSocket, IncomingMessage]>(wss, "connection");
  const client = new UndiciPeer(`ws://127.0.0.1:${port}/interop`, protocols);
  const close = async (): Promise<void> => {
    if (client.ws.readyState !== UndiciWebSocket.CLOSED) {
      for (const socket of wss.clients) socket.terminate();
      await Promise.race([client.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
  try {
    const [[server, request]] = await Promise.all([connection, client.opened]);
    const serverErrors: Error[] = [];
    server.on("error", (error) => serverErrors.push(error));
    return { client, server, request, socket: request.socket as Socket, serverErrors, close };
  } catch (error) {
    await close();
    throw error;
  }
}

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

function assertNoErrors(conn: Connection): void {
  assert.deepEqual(conn.serverErrors, [], "no error on our side");
  assert.deepEqual(conn.client.errors, [], "no error at the undici client");
}

for (const deflate of [false, true]) {
  describe(`undici client → socketeer server, permessage-deflate ${deflate ? "on" : "off"}`, () => {
    test("RFC 7692: the extension is negotiated as configured", { timeout: 10_000 }, async () => {
      const conn = await open(deflate);
      try {
        assert.match(
          conn.request.headers["sec-websocket-extensions"] ?? "",
          /^permessage-deflate/,
          "undici offers permessage-deflate",
        );
        assert.equal(conn.server.extensions, deflate ? "permessage-deflate" : "");
        if (deflate) assert.match(conn.client.ws.extensions, /^permessage-deflate/);
        else assert.equal(conn.client.ws.extensions, "");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("text, binary and empty messages both ways keep their bytes and type", {
      timeout: 10_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        const cases: Array<[string | Buffer, Buffer, boolean]> = [
          ["héllo wörld ✓", Buffer.from("héllo wörld ✓"), false],
          [Buffer.from([0, 1, 2, 253, 254, 255]), Buffer.from([0, 1, 2, 253, 254, 255]), true],
          ["", Buffer.alloc(0), false],
          [Buffer.alloc(0), Buffer.alloc(0), true],
          ["z".repeat(5000), Buffer.from("z".repeat(5000)), false], // over the deflate threshold
        ];
        for (const [data, bytes, isBinary] of cases) {
          const atServer = waitEvent<[Buffer, boolean]>(conn.server, "message");
          conn.client.ws.send(typeof data === "string" ? data : new Uint8Array(data));
          const [got, gotIsBinary] = await atServer;
          assert.equal(gotIsBinary, isBinary, `we see the type of undici's ${bytes.length} bytes`);
          assert.deepEqual(got, bytes, "we see undici's bytes");

          const atClient = conn.client.nextMessage();
          conn.server.send(data);
          const back = await atClient;
          assert.equal(back.binary, isBinary, `undici sees the type of our ${bytes.length} bytes`);
          assert.deepEqual(back.data, bytes, "undici sees our bytes");
        }
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("16 MiB messages both ways", { timeout: 120_000 }, async () => {
      const conn = await open(deflate);
      try {
        // Half random (incompressible), half repetitive (compressible).
        const large = Buffer.concat([
          randomBytes(8 * 1024 * 1024),
          Buffer.alloc(8 * 1024 * 1024, "socketeer"),
        ]);
        const atServer = waitEvent<[Buffer, boolean]>(conn.server, "message", 60_000);
        conn.client.ws.send(large);
        const [got, gotIsBinary] = await atServer;
        assert.equal(gotIsBinary, true);
        assert.equal(got.length, large.length);
        assert.equal(sha(got), sha(large), "undici's 16 MiB arrived intact");

        const atClient = conn.client.nextMessage(60_000);
        conn.server.send(large);
        const back = await atClient;
        assert.equal(back.binary, true);
        assert.equal(back.data.length, large.length);
        assert.equal(sha(back.data), sha(large), "our 16 MiB arrived intact at undici");

        const text = `${randomBytes(4 * 1024 * 1024).toString("hex")}${"ü".repeat(4 * 1024 * 1024)}`;
        const atClient2 = conn.client.nextMessage(60_000);
        conn.server.send(text);
        const textBack = await atClient2;
        assert.equal(textBack.binary, false);
        assert.equal(sha(textBack.data), sha(text), "our 16 MiB of text arrived intact at undici");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test(`RFC 7692 §7.2: our messages are ${deflate ? "" : "not "}compressed on the wire`, {
      timeout: 20_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        const size = 1024 * 1024;
        const text = "interop ".repeat(size / 8);
        const before = conn.socket.bytesWritten;
        const atClient = conn.client.nextMessage();
        await new Promise<void>((resolve, reject) =>
          conn.server.send(text, (error) => (error ? reject(error) : resolve())),
        );
        const got = await atClient;
        assert.equal(sha(got.data), sha(text), "undici inflated our 1 MiB of text");
        const sent = conn.socket.bytesWritten - before;
        if (deflate)
          assert.ok(sent < size / 20, `1 MiB of repeated text went out as ${sent} bytes`);
        else assert.ok(sent >= size, `uncompressed, 1 MiB went out as ${sent} bytes`);
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("RFC 6455 §5.4: our fragmented messages are reassembled by undici", {
      timeout: 10_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        const atClient = conn.client.nextMessage();
        conn.server.send("frag", { fin: false });
        conn.server.send("men", { fin: false });
        conn.server.send("ted ✓", { fin: true });
        const text = await atClient;
        assert.equal(text.binary, false);
        assert.equal(text.data.toString(), "fragmented ✓");

        const part = randomBytes(20_000);
        const atClient2 = conn.client.nextMessage();
        conn.server.send(part, { fin: false });
        conn.server.send(Buffer.alloc(0), { fin: false });
        conn.server.send(part, { fin: true });
        const binary = await atClient2;
        assert.equal(binary.binary, true);
        assert.deepEqual(binary.data, Buffer.concat([part, part]));
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("RFC 6455 §5.5.3: undici answers our pings with their payload", {
      timeout: 10_000,
    }, async () => {
      const conn = await open(deflate);
      try {
        for (const payload of [
          Buffer.from("are you there?"),
          Buffer.alloc(0),
          Buffer.alloc(125, 0x5a),
        ]) {
          const pong = waitEvent<[Buffer]>(conn.server, "pong");
          conn.server.ping(payload);
          assert.deepEqual((await pong)[0], payload, `pong for a ${payload.length}-byte ping`);
        }
        // Messages still flow after the control frames.
        const atClient = conn.client.nextMessage();
        conn.server.send("after pings");
        assert.equal((await atClient).data.toString(), "after pings");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });

    test("RFC 6455 §4.2.2: handleProtocols picks from undici's offer", {
      timeout: 10_000,
    }, async () => {
      const conn = await open(deflate, ["chat.v1", "chat.v2"]);
      try {
        assert.equal(conn.request.headers["sec-websocket-protocol"], "chat.v1, chat.v2");
        assert.equal(conn.server.protocol, "chat.v2");
        assert.equal(conn.client.ws.protocol, "chat.v2");
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    });
  });
}

describe("undici client → socketeer server: close codes and reasons", () => {
  test("RFC 6455 §7.4: 1000, 1001, 3000, 4999 with reasons, server closing", {
    timeout: 30_000,
  }, async () => {
    for (const code of [1000, 1001, 3000, 4999]) {
      const conn = await open(false);
      try {
        const reason = `reason for ${code} ✓`;
        const atServer = waitEvent<[number, Buffer]>(conn.server, "close");
        conn.server.close(code, reason);
        const closed = await conn.client.closed;
        assert.deepEqual(closed, { code, reason, wasClean: true }, `undici sees ${code}`);
        const [serverCode, serverReason] = await atServer;
        assert.equal(serverCode, code, `we see undici's echo of ${code}`);
        // undici 6 echoes the code without the reason (RFC 6455 §5.5.1 only says endpoints
        // "typically" echo the code); we report the echo as it arrived.
        assert.ok(
          ["", reason].includes(serverReason.toString()),
          `the echo's reason is empty or ours, got ${JSON.stringify(serverReason.toString())}`,
        );
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    }
  });

  // A WHATWG client may only send 1000 or 3000–4999 (1001 is for the user agent itself).
  test("RFC 6455 §7.4: 1000, 3000, 4999 with reasons, undici closing", {
    timeout: 30_000,
  }, async () => {
    for (const code of [1000, 3000, 4999]) {
      const conn = await open(false);
      try {
        const reason = `reason for ${code} ✓`;
        const atServer = waitEvent<[number, Buffer]>(conn.server, "close");
        conn.client.ws.close(code, reason);
        const [serverCode, serverReason] = await atServer;
        assert.equal(serverCode, code, `we see ${code}`);
        assert.equal(serverReason.toString(), reason, `we see the reason of ${code}`);
        const closed = await conn.client.closed;
        assert.deepEqual(closed, { code, reason, wasClean: true }, `undici sees ${code} echoed`);
        assertNoErrors(conn);
      } finally {
        await conn.close();
      }
    }
  });

  test("RFC 6455 §7.1.5: undici's close() without a code is 1005 on both sides", {
    timeout: 10_000,
  }, async () => {
    const conn = await open(false);
    try {
      const atServer = waitEvent<[number, Buffer]>(conn.server, "close");
      conn.client.ws.close();
      assert.equal((await atServer)[0], 1005);
      assert.equal((await conn.client.closed).code, 1005);
      assertNoErrors(conn);
    } finally {
      await conn.close();
    }
  });
});
