/**
 * `createWebSocketStream(socket, options)`: a Duplex over a socket, as in ws. Each write is a
 * message, each message a chunk; backpressure holds in both directions (a full readable buffer
 * pauses the socket, and writes wait for the socket to take the data); ending the stream closes
 * the socket and the peer's close ends it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, test } from "node:test";
import { createWebSocketStream, WebSocket } from "../../src/index.js";
import { closePair, connectPair, delay, type Pair, until, waitEvent } from "../helpers/api-util.js";
import { RawServer } from "../helpers/raw-server.js";

const T = { timeout: 20_000 };
const TOTAL = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** Chunk `i` of the 8 MiB test data: distinct per index, so order errors change the hash. */
function chunkAt(i: number): Buffer {
  const chunk = Buffer.alloc(CHUNK, i & 0xff);
  chunk.writeUInt32BE(i, 0);
  return chunk;
}

function expectedHash(): string {
  const hash = createHash("sha256");
  for (let i = 0; i < TOTAL / CHUNK; i++) hash.update(chunkAt(i));
  return hash.digest("hex");
}

describe("createWebSocketStream", () => {
  test("writes become messages and messages become readable chunks", T, async () => {
    const pair = await connectPair();
    try {
      const clientStream = createWebSocketStream(pair.client);
      const serverStream = createWebSocketStream(pair.server);
      const atServer = waitEvent<[Buffer, boolean]>(pair.server, "message");
      clientStream.write("hello from a stream");
      const [data, isBinary] = await atServer;
      assert.equal(data.toString(), "hello from a stream");
      // As in ws: the Duplex decodes strings to Buffers (decodeStrings defaults to true), so a
      // string write goes out as a binary message.
      assert.equal(isBinary, true);

      const chunk = new Promise<Buffer>((resolve) => clientStream.once("data", resolve));
      serverStream.write(Buffer.from([1, 2, 3]));
      assert.deepEqual(await chunk, Buffer.from([1, 2, 3]));
    } finally {
      await closePair(pair);
    }
  });

  test("writes made while CONNECTING are sent once the socket opens", T, async () => {
    const pair = await connectPair();
    const received: string[] = [];
    pair.wss.once("connection", (ws: WebSocket) => {
      ws.on("message", (data: Buffer) => received.push(data.toString()));
    });
    const late = new WebSocket(pair.url);
    try {
      assert.equal(late.readyState, WebSocket.CONNECTING);
      const stream = createWebSocketStream(late);
      const written = new Promise<void>((resolve, reject) =>
        stream.write("early", (error) => (error ? reject(error) : resolve())),
      );
      stream.write("second");
      await written;
      await until(() => received.length === 2);
      assert.deepEqual(received, ["early", "second"]);
    } finally {
      late.terminate();
      await closePair(pair);
    }
  });

  test("with decodeStrings: false a string write is a text message", T, async () => {
    const pair = await connectPair();
    try {
      const stream = createWebSocketStream(pair.client, { decodeStrings: false });
      const atServer = waitEvent<[Buffer, boolean]>(pair.server, "message");
      stream.write("as text");
      const [data, isBinary] = await atServer;
      assert.equal(data.toString(), "as text");
      assert.equal(isBinary, false);
    } finally {
      await closePair(pair);
    }
  });

  test("readableObjectMode gives text messages as strings and binary as Buffers", T, async () => {
    const pair = await connectPair();
    try {
      const stream = createWebSocketStream(pair.client, { readableObjectMode: true });
      const chunks: unknown[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(chunk));
      pair.server.send("text");
      pair.server.send(Buffer.from([5]));
      await until(() => chunks.length === 2);
      assert.equal(chunks[0], "text");
      assert.deepEqual(chunks[1], Buffer.from([5]));
    } finally {
      await closePair(pair);
    }
  });

  test(
    "end() closes the socket; the peer sees a clean close; the stream then closes (ws)",
    T,
    async () => {
      const pair = await connectPair();
      try {
        const stream = createWebSocketStream(pair.client);
        stream.resume();
        const serverClosed = waitEvent<[number]>(pair.server, "close");
        const streamClosed = waitEvent(stream, "close");
        stream.end("last message");
        const message = await waitEvent<[Buffer]>(pair.server, "message");
        assert.equal(message[0].toString(), "last message");
        const [code] = await serverClosed;
        assert.equal(code, 1005);
        await streamClosed;
        await until(() => pair.client.readyState === WebSocket.CLOSED);
      } finally {
        await closePair(pair);
      }
    },
  );

  test("the peer's close ends the readable side after the data", T, async () => {
    const pair = await connectPair();
    try {
      const stream = createWebSocketStream(pair.client);
      const chunks: string[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk.toString()));
      const ended = waitEvent(stream, "end");
      pair.server.send("one");
      pair.server.send("two");
      pair.server.close(1000);
      await ended;
      assert.deepEqual(chunks, ["one", "two"]);
      assert.equal(pair.client.readyState, WebSocket.CLOSED);
    } finally {
      await closePair(pair);
    }
  });

  test("destroy() terminates the socket (the peer sees 1006)", T, async () => {
    const pair = await connectPair();
    try {
      const stream = createWebSocketStream(pair.client);
      const serverClosed = waitEvent<[number]>(pair.server, "close");
      stream.destroy();
      assert.equal((await serverClosed)[0], 1006);
      await until(() => pair.client.readyState === WebSocket.CLOSED);
    } finally {
      await closePair(pair);
    }
  });

  test("a socket error destroys the stream with that error", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url(), { perMessageDeflate: false });
    try {
      const conn = await raw.acceptWebSocket();
      await waitEvent(client, "open");
      const stream = createWebSocketStream(client);
      const streamError = waitEvent<[Error]>(stream, "error");
      // RFC 6455 §5.2: RSV bits without a negotiated extension fail the connection.
      conn.sendFrame({ opcode: 0x1, payload: "x", rsv2: true });
      const [error] = await streamError;
      assert.ok(error instanceof RangeError, `got ${String(error)}`);
      assert.equal((await conn.expectClose(3000)).code, 1002);
      conn.end();
      await until(() => client.readyState === WebSocket.CLOSED);
      assert.equal(stream.destroyed, true);
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  for (const direction of ["client to server", "server to client"] as const) {
    test(
      `backpressure both ways, ${direction}: 8 MiB from a fast writer to a slow reader`,
      T,
      async () => {
        const pair: Pair = await connectPair();
        const writerSocket = direction === "client to server" ? pair.client : pair.server;
        const readerSocket = direction === "client to server" ? pair.server : pair.client;
        try {
          const writer = createWebSocketStream(writerSocket);
          const reader = createWebSocketStream(readerSocket);
          writer.resume(); // nothing comes back; keep the writer's readable side drained

          let produced = 0;
          const count = TOTAL / CHUNK;
          async function* source(): AsyncGenerator<Buffer> {
            for (let i = 0; i < count; i++) {
              produced += CHUNK;
              yield chunkAt(i);
            }
          }
          const sent = pipeline(Readable.from(source()), writer);

          // Nobody reads yet: the reader's buffer fills, its socket pauses, TCP fills up, and the
          // writer must stop producing well before the end.
          await until(() => readerSocket.isPaused, 5000, "reading socket paused");
          let stalledAt = -1;
          for (let i = 0; i < 100; i++) {
            const before = produced;
            await delay(50);
            if (produced === before) {
              stalledAt = produced;
              break;
            }
          }
          assert.ok(stalledAt > 0, "the writer stopped producing");
          assert.ok(stalledAt < TOTAL, `the writer waits (stalled at ${stalledAt} of ${TOTAL})`);
          assert.equal(readerSocket.isPaused, true);

          // Now a slow reader takes everything, in order. The writer's end() closes its socket,
          // and the close ends the reader.
          const hash = createHash("sha256");
          let received = 0;
          let slowWrites = 0;
          await pipeline(
            reader,
            new Writable({
              highWaterMark: 16 * 1024,
              write(chunk: Buffer, _encoding, callback) {
                hash.update(chunk);
                received += chunk.length;
                // Slow: every fourth chunk waits a timer turn.
                if (++slowWrites % 4 === 0) setTimeout(callback, 1);
                else setImmediate(callback);
              },
            }),
          );
          await sent;
          assert.equal(received, TOTAL);
          assert.equal(hash.digest("hex"), expectedHash());
        } finally {
          await closePair(pair);
        }
      },
    );
  }
});
