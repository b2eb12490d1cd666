/**
 * Tests of the adversarial helpers themselves: if the forger or the reader were wrong, every
 * conformance verdict built on them would be too.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import {
  buildUpgradeRequest,
  closeFrame,
  closePayload,
  computeAccept,
  FrameReader,
  forgeFrame,
  fragmentMessage,
  HttpHeadReader,
  headerValue,
  maskBytes,
  Opcode,
  parseFrames,
  RawClient,
  RawServer,
  rawCloseFrame,
  splitAt,
  textFrame,
  writeSplit,
} from "./index.js";

const hex = (b: Buffer): string => b.toString("hex");

test("forger: RFC 6455 §5.2 header bits and 7-bit length", () => {
  assert.equal(hex(textFrame("hello")), `8105${Buffer.from("hello").toString("hex")}`);
  const all = forgeFrame({ opcode: 0xf, fin: false, rsv1: true, rsv2: true, rsv3: true });
  assert.equal(hex(all), "7f00");
  assert.equal(hex(forgeFrame({ opcode: Opcode.PING, rsv2: true })), "a900");
});

test("forger: RFC 6455 §5.2 16/64-bit, non-minimal, top-bit and lying lengths", () => {
  const p = Buffer.from("abcde");
  assert.equal(hex(forgeFrame({ opcode: 1, payload: p, lengthEncoding: 16 })), `817e0005${hex(p)}`);
  assert.equal(
    hex(forgeFrame({ opcode: 1, payload: p, lengthEncoding: 64 })),
    `817f0000000000000005${hex(p)}`,
  );
  assert.equal(hex(forgeFrame({ opcode: 2, payload: Buffer.alloc(126) })).slice(0, 8), "827e007e");
  assert.equal(
    hex(forgeFrame({ opcode: 2, payload: Buffer.alloc(65536) })).slice(0, 20),
    "827f0000000000010000",
  );
  assert.equal(
    hex(forgeFrame({ opcode: 2, announcedLength: 0x8000000000000000n })),
    "827f8000000000000000",
  );
  assert.equal(
    hex(forgeFrame({ opcode: 2, announcedLength: 0xffffffffffffffffn })),
    "827fffffffffffffffff",
  );
  // Announces 10, sends 2; and a 7-bit field of 126 with the extended length missing.
  assert.equal(hex(forgeFrame({ opcode: 1, payload: "hi", announcedLength: 10 })), "810a6869");
  assert.equal(hex(forgeFrame({ opcode: 1, announcedLength: 126, lengthEncoding: 7 })), "817e");
  assert.throws(() => forgeFrame({ opcode: 16 }), RangeError);
  assert.throws(
    () => forgeFrame({ opcode: 1, announcedLength: 70000, lengthEncoding: 16 }),
    RangeError,
  );
});

test("forger: RFC 6455 §5.3 masking with an explicit key", () => {
  const key = Buffer.from([1, 2, 3, 4]);
  const frame = forgeFrame({ opcode: 1, payload: "abcdef", mask: true, maskingKey: key });
  assert.equal(frame[1], 0x80 | 6);
  assert.deepEqual(frame.subarray(2, 6), key);
  assert.deepEqual(frame.subarray(6), maskBytes(Buffer.from("abcdef"), key));
  assert.deepEqual(maskBytes(frame.subarray(6), key), Buffer.from("abcdef"));
  // A random key is used when none is given.
  const a = forgeFrame({ opcode: 1, payload: "x", mask: true });
  assert.equal(a.length, 2 + 4 + 1);
});

test("forger: close payloads and fragmentation", () => {
  assert.equal(hex(closePayload(1000, "ok")), "03e86f6b");
  assert.equal(hex(closePayload()), "");
  assert.equal(hex(closeFrame(65535)), "8802ffff");
  assert.equal(hex(rawCloseFrame(Buffer.from([3]))), "880103");
  const frames = fragmentMessage(Opcode.TEXT, "abcdef", [2, 4], {}, { rsv1: true });
  assert.deepEqual(frames.map(hex), ["41026162", "00026364", "80026566"]);
  assert.deepEqual(
    splitAt(Buffer.from("abc"), [1, 1, 3]).map((b) => b.toString()),
    ["a", "", "bc", ""],
  );
});

test("reader: parses masked and unmasked frames fed one byte at a time", () => {
  const key = Buffer.from([9, 8, 7, 6]);
  const stream = Buffer.concat([
    textFrame("héllo", { mask: true, maskingKey: key }),
    forgeFrame({ opcode: 2, payload: Buffer.alloc(300, 7), fin: false, rsv3: true }),
    forgeFrame({ opcode: 2, payload: Buffer.alloc(70000, 1), lengthEncoding: 64 }),
    closeFrame(1001, "bye"),
  ]);
  const reader = new FrameReader();
  for (let i = 0; i < stream.length; i++) reader.push(stream.subarray(i, i + 1));
  const frames = reader.queue;
  assert.equal(frames.length, 4);
  assert.equal(frames[0]?.payload.toString(), "héllo");
  assert.equal(frames[0]?.masked, true);
  assert.deepEqual(frames[0]?.maskingKey, key);
  assert.equal(frames[1]?.fin, false);
  assert.equal(frames[1]?.rsv3, true);
  assert.equal(frames[1]?.lengthEncoding, 16);
  assert.equal(frames[2]?.payload.length, 70000);
  assert.equal(frames[2]?.lengthEncoding, 64);
  assert.equal(frames[3]?.opcode, Opcode.CLOSE);
  assert.deepEqual(
    parseFrames(stream).map((f) => f.opcode),
    [1, 2, 2, 8],
  );
});

test("reader: expectClose, expectNoFrame, nextFrame timeout and TCP end", async () => {
  const reader = new FrameReader();
  await assert.rejects(reader.nextFrame(30), /no frame within 30 ms/);
  await reader.expectNoFrame(20);
  reader.push(closeFrame(4000, "done"));
  assert.deepEqual(await reader.expectClose(100).then((c) => [c.code, c.reason]), [4000, "done"]);
  reader.push(closeFrame());
  assert.equal((await reader.expectClose(100)).code, null);
  reader.push(textFrame("x"));
  await assert.rejects(reader.expectClose(100), /expected a close frame, got opcode 0x1/);
  reader.push(textFrame("y"));
  reader.push(closeFrame(1000));
  const c = await reader.expectClose(100, { skipOtherFrames: true });
  assert.equal(c.code, 1000);
  assert.equal(reader.skipped.length, 1);
  reader.push(rawCloseFrame(Buffer.from([0x03, 0xe8, 0xff])));
  await assert.rejects(reader.expectClose(100));
  const waiting = reader.waitForTcpEnd(500);
  setTimeout(() => reader.markEnded("end"), 10);
  assert.equal(await waiting, "end");
  await assert.rejects(reader.nextFrame(100), /connection ended \(end\)/);
});

test("HTTP head reader: CRLF CRLF split at every position", () => {
  const text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
  const bytes = Buffer.concat([Buffer.from(text, "latin1"), Buffer.from([0x81, 0x00])]);
  for (let i = 1; i < bytes.length; i++) {
    const reader = new HttpHeadReader();
    const first = reader.push(bytes.subarray(0, i));
    const done = first ?? reader.push(bytes.subarray(i));
    assert.ok(done, `split at ${i}`);
    assert.equal(done.head.startLine, "HTTP/1.1 101 Switching Protocols");
    assert.equal(headerValue(done.head, "x-a"), "1, 2");
    // The bytes after the head are everything past the blank line that the reader was given.
    const expectedRest = first === null ? 2 : Math.max(0, i - text.length);
    assert.equal(done.rest.length, expectedRest, `split at ${i}`);
  }
  assert.throws(() => new HttpHeadReader(10).push(Buffer.from("GET / HTTP/1.1\r\nHost: x")));
});

test("upgrade request builder: missing, duplicated, huge and extra headers", () => {
  const base = buildUpgradeRequest({ port: 80, key: "dGhlIHNhbXBsZSBub25jZQ==" });
  assert.equal(
    base.text,
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  const odd = buildUpgradeRequest({
    method: "POST",
    path: "/x",
    version: "8",
    headers: { upgrade: null, "Sec-WebSocket-Key": ["a", "b"], "X-Big": "z".repeat(5000) },
    extraLines: ["NoColonHere"],
  });
  assert.match(odd.text, /^POST \/x HTTP\/1\.1\r\n/);
  assert.doesNotMatch(odd.text, /Upgrade:/);
  assert.match(odd.text, /Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\n/);
  assert.match(odd.text, /Sec-WebSocket-Version: 8\r\n/);
  assert.match(odd.text, /X-Big: z{5000}\r\nNoColonHere\r\n\r\n$/);
  // RFC 6455 §1.3 worked example.
  assert.equal(computeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

test("raw client ↔ raw server: dribbled handshake with frames glued on, masking per role", {
  timeout: 10_000,
}, async () => {
  const server = await RawServer.listen();
  let client: RawClient | undefined;
  try {
    const glued = textFrame("glued", { mask: true });
    const pending = RawClient.handshake(server.port, {
      headers: { "X-Test": "yes" },
      append: glued,
      dribble: { delayMs: 0, chunkSize: 7 },
    });
    const conn = await server.accept();
    assert.equal(conn.request.method, "GET");
    assert.equal(conn.header("x-test"), "yes");
    assert.equal(Buffer.from(conn.key ?? "", "base64").length, 16);
    await conn.respond({ headers: { "X-Extra": ["1", "2"] }, append: textFrame("from server") });
    client = await pending;
    assert.equal(client.response.status, 101);
    assert.equal(headerValue(client.response, "sec-websocket-accept"), computeAccept(client.key));
    assert.deepEqual(client.response.headers["x-extra"], ["1", "2"]);

    const fromClient = await conn.nextFrame(1000);
    assert.equal(fromClient.payload.toString(), "glued");
    assert.equal(fromClient.masked, true);
    const fromServer = await client.nextFrame(1000);
    assert.equal(fromServer.payload.toString(), "from server");
    assert.equal(fromServer.masked, false);

    client.sendFrame({ opcode: Opcode.BINARY, payload: Buffer.from([1, 2, 3]) });
    const bin = await conn.nextFrame(1000);
    assert.equal(bin.masked, true);
    assert.deepEqual(bin.payload, Buffer.from([1, 2, 3]));

    // EOF is visible to the other side.
    client.end();
    assert.equal(await conn.waitForTcpEnd(1000), "end");
  } finally {
    client?.destroy();
    await server.close();
  }
});

test("split writer: pieces arrive in order, in separate reads when paced", {
  timeout: 10_000,
}, async () => {
  const server = await RawServer.listen();
  const client = await RawClient.connect(server.port);
  try {
    const reads: Buffer[] = [];
    for (let i = 0; i < 100 && server.connections.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const socket: Socket | undefined = server.connections[0]?.socket;
    assert.ok(socket, "server saw the connection");
    socket.on("data", (chunk: Buffer) => reads.push(chunk));
    const bytes = Buffer.from("0123456789");
    await writeSplit(client.socket, bytes, [3, 6], 30);
    await client.writeByteByByte(Buffer.from("abc"), 20);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(Buffer.concat(reads).toString(), "0123456789abc");
    // Pacing makes at least some pieces arrive on their own (generous: never asserts all of them).
    assert.ok(reads.length >= 2, `reads: ${reads.length}`);
  } finally {
    client.destroy();
    await server.close();
  }
});

test("raw client: a non-101 response and its TCP end are observable", {
  timeout: 10_000,
}, async () => {
  const server = await RawServer.listen();
  try {
    const pending = RawClient.handshake(server.port);
    const conn = await server.accept();
    await conn.respond({ status: 400, statusText: "Bad Request", body: "nope" });
    conn.end();
    const client = await pending;
    try {
      assert.equal(client.response.status, 400);
      assert.equal(client.response.statusText, "Bad Request");
      assert.equal(headerValue(client.response, "content-length"), "4");
      assert.equal(await client.waitForTcpEnd(1000), "end");
      assert.equal(client.bytesAfterHead, 4);
    } finally {
      client.destroy();
    }
  } finally {
    await server.close();
  }
});

test("reader: attached straight to a socket, sees frames then the peer's FIN", {
  timeout: 10_000,
}, async () => {
  const server = createServer((s) => s.end(Buffer.concat([textFrame("x"), closeFrame(1000)])));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const socket = connect({ port, host: "127.0.0.1" });
  try {
    const reader = new FrameReader(socket);
    assert.equal((await reader.nextFrame(1000)).payload.toString(), "x");
    assert.equal((await reader.expectClose(1000)).code, 1000);
    assert.equal(await reader.waitForTcpEnd(1000), "end");
  } finally {
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
