import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import * as zlib from "node:zlib";
import fc from "fast-check";
import {
  DeflateClosedError,
  limiterStats,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from "../../src/node/deflate.js";
import { Limiter, LimiterTask } from "../../src/node/limiter.js";
import { MAX_IDLE_STREAMS, ZlibStreamPool } from "../../src/node/zlib-pool.js";
import { ErrorCodes, ProtocolError } from "../../src/protocol/errors.js";
import { parseExtensions } from "../../src/protocol/extensions.js";

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const MiB = 1024 * 1024;

type Step = (
  data: Buffer,
  fin: boolean,
  cb: (error: Error | null, result?: Buffer) => void,
) => void;

/**
 * Runs one compress/decompress call as a promise, and fails the test run if the callback ever
 * fires a second time (every call must call back exactly once).
 */
function call(
  step: Step,
  data: Buffer,
  fin: boolean,
): Promise<{ error: Error | null; result: Buffer | undefined }> {
  return new Promise((resolve) => {
    let calls = 0;
    step(data, fin, (error, result) => {
      calls++;
      assert.equal(calls, 1, "callback called more than once");
      resolve({ error, result });
    });
  });
}

async function ok(step: Step, data: Buffer, fin: boolean): Promise<Buffer | undefined> {
  const { error, result } = await call(step, data, fin);
  if (error !== null) throw error;
  return result;
}

/** A client and a server that negotiated through the real header strings. */
function pair(
  clientOptions: PerMessageDeflateOptions = {},
  serverOptions: PerMessageDeflateOptions = {},
  maxPayload = 0,
): { client: PerMessageDeflate; server: PerMessageDeflate; response: string } {
  const client = new PerMessageDeflate(clientOptions, false, maxPayload);
  const server = new PerMessageDeflate(serverOptions, true, maxPayload);
  const response = server.accept(parseExtensions(client.offer()));
  assert.ok(response !== null, "server must accept the client's offer");
  client.acceptResponse(parseExtensions(response));
  return { client, server, response };
}

/** Compresses a message given as fragments; returns one payload per fragment. */
async function compressFrames(pmd: PerMessageDeflate, fragments: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < fragments.length; i++) {
    const result = await ok(pmd.compress.bind(pmd), fragments[i]!, i === fragments.length - 1);
    assert.ok(result instanceof Buffer, "result instanceof Buffer");
    out.push(result);
  }
  return out;
}

/** Decompresses one message given as frame payloads; non-final frames must give no result. */
async function decompressFrames(pmd: PerMessageDeflate, frames: Buffer[]): Promise<Buffer> {
  for (let i = 0; i < frames.length - 1; i++) {
    assert.equal(await ok(pmd.decompress.bind(pmd), frames[i]!, false), undefined);
  }
  const result = await ok(pmd.decompress.bind(pmd), frames[frames.length - 1]!, true);
  assert.ok(result instanceof Buffer, "result instanceof Buffer");
  return result;
}

/** Inflates one message payload with a brand-new inflater (no shared context). */
function inflateAlone(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
}

/** Records which zlib streams get written to while `body` runs (prototype hooks, undone after). */
async function streamsUsed(
  body: () => Promise<void>,
): Promise<{ inflaters: zlib.InflateRaw[]; deflaters: zlib.DeflateRaw[] }> {
  const used = { inflaters: [] as zlib.InflateRaw[], deflaters: [] as zlib.DeflateRaw[] };
  const deflateWrite = zlib.DeflateRaw.prototype.write;
  const inflateWrite = zlib.InflateRaw.prototype.write;
  type Write = typeof deflateWrite;
  zlib.DeflateRaw.prototype.write = function (this: zlib.DeflateRaw, ...args: Parameters<Write>) {
    used.deflaters.push(this);
    return deflateWrite.apply(this, args);
  } as Write;
  zlib.InflateRaw.prototype.write = function (this: zlib.InflateRaw, ...args: Parameters<Write>) {
    used.inflaters.push(this);
    return inflateWrite.apply(this, args);
  } as Write;
  try {
    await body();
  } finally {
    zlib.DeflateRaw.prototype.write = deflateWrite;
    zlib.InflateRaw.prototype.write = inflateWrite;
  }
  return used;
}

/** Splits `data` at random points into `count` pieces (some may be empty). */
function split(data: Buffer, count: number): Buffer[] {
  const cuts = Array.from({ length: count - 1 }, () =>
    Math.floor(Math.random() * (data.length + 1)),
  );
  cuts.sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    pieces.push(data.subarray(from, cut));
    from = cut;
  }
  return pieces;
}

/** Asserts two byte sequences are equal, reporting sizes rather than dumping megabytes. */
function assertBytes(
  actual: Buffer | undefined,
  expected: Buffer,
  label = "inflated message",
): void {
  assert.ok(actual instanceof Buffer, `${label}: no result`);
  assert.ok(
    actual.equals(expected),
    `${label}: got ${actual.length} bytes, expected ${expected.length} bytes`,
  );
}

function assertProtocolError(error: Error | null, code: string, closeCode: number): void {
  assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.equal(error.closeCode, closeCode);
}

/** A zlib raw deflater standing in for a peer: sync-flushes and strips the trailer per message. */
function peerCompressor(options: zlib.ZlibOptions = {}) {
  const stream = zlib.createDeflateRaw(options);
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  return {
    message(data: Buffer, reset = false): Promise<Buffer> {
      return new Promise((resolve) => {
        stream.write(data);
        stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          const out = Buffer.concat(chunks.splice(0));
          assert.deepEqual(out.subarray(out.length - 4), TRAILER);
          if (reset) stream.reset();
          resolve(out.subarray(0, out.length - 4));
        });
      });
    },
    close(): void {
      stream.close();
    },
  };
}

function externalBytes(): number {
  const usage = process.memoryUsage();
  return usage.external + usage.arrayBuffers;
}

let bomb: Promise<Buffer> | null = null;
/** 256 MiB of zeros, raw-deflated at level 9 and sync-flushed (about 250 KiB), trailer removed. */
function getBomb(): Promise<Buffer> {
  bomb ??= new Promise((resolve) => {
    const stream = zlib.createDeflateRaw({ level: 9 });
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < 256; i++) stream.write(zeros);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      const out = Buffer.concat(chunks);
      stream.close();
      resolve(out.subarray(0, out.length - 4));
    });
  });
  return bomb;
}

// ---- negotiation through the class --------------------------------------------------------------

test("RFC 7692 §7.1: offer, accept and acceptResponse agree on the parameters", {
  timeout: 10_000,
}, () => {
  const { client, server, response } = pair(
    { serverMaxWindowBits: 10, clientNoContextTakeover: true },
    { serverNoContextTakeover: true },
  );
  assert.equal(
    response,
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
  );
  const expected = {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 15,
  };
  assert.deepEqual(server.negotiated, expected);
  assert.deepEqual(client.negotiated, expected);
  assert.equal(client.canCompress, true);
  assert.equal(server.canCompress, true);
  assert.equal(PerMessageDeflate.extensionName, "permessage-deflate");
  assert.equal(client.threshold, 1024);
  assert.equal(new PerMessageDeflate({ threshold: 0 }, true, 0).threshold, 0);
});

test("RFC 7692 §5: acceptResponse throws an Error saying why; accept declines with null", {
  timeout: 10_000,
}, () => {
  const client = new PerMessageDeflate({}, false, 0);
  assert.throws(
    () => client.acceptResponse(parseExtensions("permessage-deflate; server_max_window_bits=16")),
    (error: unknown) =>
      error instanceof Error && /server_max_window_bits.*"16"/.test(error.message),
  );
  assert.equal(client.negotiated, null);
  assert.equal(client.canCompress, false);
  assert.throws(
    () => client.acceptResponse(parseExtensions("permessage-deflate; foo")),
    /Unknown parameter/,
  );

  const server = new PerMessageDeflate({}, true, 0);
  assert.equal(
    server.accept(parseExtensions("permessage-deflate; server_max_window_bits=7")),
    null,
  );
  assert.equal(server.negotiated, null);
  // Invalid first offer, valid second: the second is accepted.
  assert.equal(
    server.accept(
      parseExtensions(
        "permessage-deflate; server_max_window_bits=08, permessage-deflate; client_max_window_bits",
      ),
    ),
    "permessage-deflate",
  );
  assert.ok(server.negotiated !== null, "server.negotiated !== null");

  assert.throws(() => client.accept([]), /servers/);
  assert.throws(() => server.acceptResponse([]), /clients/);
  assert.throws(() => new PerMessageDeflate({ serverMaxWindowBits: 16 }, true, 0), RangeError);
});

test("RFC 7692 §7.2: calls before negotiation or after cleanup call back with an error", {
  timeout: 10_000,
}, async () => {
  const unnegotiated = new PerMessageDeflate({}, true, 0);
  const a = await call(unnegotiated.compress.bind(unnegotiated), Buffer.from("x"), true);
  assert.match(String(a.error), /not been negotiated/);
  const b = await call(unnegotiated.decompress.bind(unnegotiated), Buffer.from("x"), true);
  assert.match(String(b.error), /not been negotiated/);

  const { client } = pair();
  client.cleanup();
  client.cleanup(); // idempotent
  const c = await call(client.compress.bind(client), Buffer.from("x"), true);
  assert.ok(c.error instanceof DeflateClosedError, "c.error instanceof DeflateClosedError");
  const d = await call(client.decompress.bind(client), Buffer.from("x"), true);
  assert.ok(d.error instanceof DeflateClosedError, "d.error instanceof DeflateClosedError");
  assert.equal(client.canCompress, false);
});

// ---- round trips -------------------------------------------------------------------------------

test("RFC 7692 §7.2.1: compress then decompress round-trips in both directions", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  const repetitive = Buffer.alloc(MiB);
  for (let i = 0; i < repetitive.length; i++) repetitive[i] = "websocket!"[i % 10]!.charCodeAt(0);
  const messages = [Buffer.from("a"), Buffer.alloc(0), randomBytes(64 * 1024), repetitive];
  for (const [from, to] of [
    [client, server],
    [server, client],
  ] as const) {
    for (const message of messages) {
      const [payload] = await compressFrames(from, [message]);
      if (message === repetitive)
        assert.ok(payload!.length < message.length / 50, "repetitive data shrinks");
      const back = await decompressFrames(to, [payload!]);
      assert.ok(back.equals(message), `round trip of ${message.length} bytes`);
    }
  }
  for (const pmd of [client, server]) pmd.cleanup();
});

test("RFC 7692 §7.2.3.6: an empty message compresses to the single byte 0x00", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  // First message, after another message (context kept), and twice in a row.
  for (const message of [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(0), Buffer.alloc(0)]) {
    const [payload] = await compressFrames(client, [message]);
    if (message.length === 0) assert.deepEqual(payload, Buffer.from([0x00]));
    assertBytes(await decompressFrames(server, [payload!]), message);
  }
  client.cleanup();
  server.cleanup();
});

test("RFC 7692 §7.2.2: a message split into many frames decompresses whole", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  const small = Buffer.from("fragmented permessage-deflate message ".repeat(20));
  const [smallPayload] = await compressFrames(client, [small]);
  // One byte per frame, including an empty final frame.
  const bytes = [...smallPayload!].map((byte) => Buffer.from([byte]));
  assertBytes(await decompressFrames(server, [...bytes, Buffer.alloc(0)]), small);

  const big = Buffer.concat([randomBytes(32 * 1024), Buffer.alloc(32 * 1024, 7)]);
  for (let round = 0; round < 5; round++) {
    const [payload] = await compressFrames(client, [big]);
    assertBytes(await decompressFrames(server, split(payload!, 2 + round * 7)), big);
  }
  client.cleanup();
  server.cleanup();
});

test("RFC 7692 §7.2.1: a message compressed fragment by fragment decompresses whole", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  const fragments = [
    Buffer.from("first part, "),
    Buffer.alloc(0),
    randomBytes(5000),
    Buffer.from("end"),
  ];
  const payloads = await compressFrames(client, fragments);
  // Non-final fragments end with a sync flush, so each frame's bytes are complete. An empty
  // fragment right after a flush adds nothing (zlib skips a repeated sync flush).
  payloads.slice(0, -1).forEach((payload, i) => {
    if (fragments[i]!.length === 0) assert.equal(payload.length, 0);
    else assert.deepEqual(payload.subarray(-4), TRAILER);
  });
  assertBytes(await decompressFrames(server, payloads), Buffer.concat(fragments));
  client.cleanup();
  server.cleanup();
});

test("one zlib write per call: each message is one thread-pool job each way", {
  timeout: 10_000,
}, async () => {
  // Every write to a zlib stream is a job on libuv's thread pool (two thread wake-ups), which
  // for small messages costs more than the compression; a separate trailer write and flush
  // would triple it.
  const { client, server } = pair();
  const message = Buffer.from("a small message, ".repeat(200));
  for (let round = 1; round <= 3; round++) {
    const used = await streamsUsed(async () => {
      const [payload] = await compressFrames(client, [message]);
      assertBytes(await decompressFrames(server, [payload!]), message);
    });
    assert.deepEqual([used.deflaters.length, used.inflaters.length], [1, 1]);
  }
  client.cleanup();
  server.cleanup();
});

test("RFC 7692 §7.2: calls made before earlier ones finish run in call order", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  const messages = Array.from({ length: 8 }, (_, i) =>
    Buffer.from(`message ${i} `.repeat(100 * (i + 1))),
  );
  const payloads = await Promise.all(
    messages.map((m) => ok(client.compress.bind(client), m, true)),
  );
  const results = await Promise.all(
    payloads.map((p) => ok(server.decompress.bind(server), p!, true)),
  );
  for (const [i, result] of results.entries()) {
    assert.ok(result?.equals(messages[i]!), `message ${i}`);
  }
  client.cleanup();
  server.cleanup();
});

test("RFC 7692 §7.2.1: property: any message and fragmentation round-trips", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 6 }),
      async (fragments, frames) => {
        const parts = fragments.map((f) => Buffer.from(f));
        const payload = Buffer.concat(await compressFrames(client, parts));
        const back = await decompressFrames(server, split(payload, frames));
        assertBytes(back, Buffer.concat(parts));
      },
    ),
    { numRuns: 60 },
  );
  client.cleanup();
  server.cleanup();
});

// ---- context takeover --------------------------------------------------------------------------

test("RFC 7692 §7.2.3.2: with context takeover a repeated message refers to the previous one", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  const message = randomBytes(4096);
  const [first] = await compressFrames(client, [message]);
  const [second] = await compressFrames(client, [message]);
  assert.ok(second!.length < first!.length / 10, "the repeat is a back-reference");
  assertBytes(await decompressFrames(server, [first!]), message);
  assertBytes(await decompressFrames(server, [second!]), message);
  // A fresh inflater cannot read the second message alone.
  let alone: Buffer | null = null;
  try {
    alone = inflateAlone(second!);
  } catch {
    // "invalid distance too far back": the expected outcome
  }
  assert.ok(alone === null || !alone.equals(message), "the repeat inflated without its context");
  client.cleanup();
  server.cleanup();
});

test("RFC 7692 §7.1.1: without context takeover each message inflates alone", {
  timeout: 10_000,
}, async () => {
  for (const [clientOptions, serverOptions, sender] of [
    [{}, { serverNoContextTakeover: true }, "server"],
    [{ clientNoContextTakeover: true }, {}, "client"],
    [{ serverNoContextTakeover: true }, {}, "server"],
    [{}, { clientNoContextTakeover: true }, "client"],
  ] as const) {
    const endpoints = pair(clientOptions, serverOptions);
    const from = endpoints[sender];
    const to = sender === "server" ? endpoints.client : endpoints.server;
    const message = randomBytes(4096);
    for (let i = 0; i < 3; i++) {
      const [payload] = await compressFrames(from, [message]);
      assert.ok(inflateAlone(payload!).equals(message), `${sender} message ${i} stands alone`);
      assertBytes(await decompressFrames(to, [payload!]), message);
    }
    endpoints.client.cleanup();
    endpoints.server.cleanup();
  }
});

test("RFC 7692 §7.1.1.2: the receiver resets its window when the peer has no context takeover", {
  timeout: 10_000,
}, async () => {
  // The server agreed client_no_context_takeover, so a client message that still refers to the
  // previous one (a misbehaving peer) cannot be inflated: proof the inflater was reset.
  const { server } = pair({ clientNoContextTakeover: true });
  const peer = peerCompressor();
  const message = randomBytes(2048);
  assertBytes(await decompressFrames(server, [await peer.message(message)]), message);
  const { error } = await call(server.decompress.bind(server), await peer.message(message), true);
  assertProtocolError(error, ErrorCodes.INVALID_COMPRESSED_DATA, 1007);
  peer.close();
  server.cleanup();
});

test("RFC 7692 §7.2.3.4: a peer ending messages with a BFINAL block is understood", {
  timeout: 10_000,
}, async () => {
  const { server } = pair();
  const messages = [Buffer.from("first"), Buffer.from("second ".repeat(50)), Buffer.alloc(0)];
  // deflateRawSync finishes the stream (BFINAL=1); the receiver still appends 00 00 ff ff.
  const payloads = messages.map((m) => zlib.deflateRawSync(m));
  for (const [i, payload] of payloads.entries()) {
    assertBytes(await decompressFrames(server, [payload]), messages[i]!);
  }
  // Pipelined, so the next call starts right after the stream ended.
  const results = await Promise.all(
    payloads.map((p) => ok(server.decompress.bind(server), p, true)),
  );
  for (const [i, result] of results.entries()) assertBytes(result, messages[i]!);
  server.cleanup();
});

// ---- failures -----------------------------------------------------------------------------------

test("RFC 7692 §6.2: corrupt compressed data fails with 1007 and the next message still works", {
  timeout: 10_000,
}, async () => {
  const { server } = pair();
  const { error } = await call(
    server.decompress.bind(server),
    Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]),
    true,
  );
  assertProtocolError(error, ErrorCodes.INVALID_COMPRESSED_DATA, 1007);
  assert.ok(error instanceof RangeError, "error instanceof RangeError");
  // A corrupt non-final frame fails too, without waiting for the end of the message.
  const second = await call(server.decompress.bind(server), Buffer.from([0x07, 0x00, 0x01]), false);
  assertProtocolError(second.error, ErrorCodes.INVALID_COMPRESSED_DATA, 1007);
  // The broken inflater was dropped: a fresh peer's message inflates.
  const peer = peerCompressor();
  assertBytes(
    await decompressFrames(server, [await peer.message(Buffer.from("ok"))]),
    Buffer.from("ok"),
  );
  peer.close();
  server.cleanup();
  assert.deepEqual(
    { ...limiterStats(), concurrency: 0 },
    { running: 0, queued: 0, concurrency: 0 },
  );
});

test("RFC 6455 §7.4.1: an inflated message over maxPayload fails with 1009", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair({}, {}, 1000);
  const exact = Buffer.alloc(1000, 1);
  assertBytes(await decompressFrames(server, await compressFrames(client, [exact])), exact);
  const [over] = await compressFrames(client, [Buffer.alloc(1001, 1)]);
  const { error } = await call(server.decompress.bind(server), over!, true);
  assertProtocolError(error, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
  assert.equal(error?.message, "Max payload size exceeded");

  // The limit is on the whole message, summed over its frames.
  const fresh = pair({}, {}, 1000);
  const payloads = await compressFrames(fresh.client, [Buffer.alloc(600, 2), Buffer.alloc(600, 3)]);
  assert.equal(
    await ok(fresh.server.decompress.bind(fresh.server), payloads[0]!, false),
    undefined,
  );
  const last = await call(fresh.server.decompress.bind(fresh.server), payloads[1]!, true);
  assertProtocolError(last.error, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
  for (const pmd of [client, server, fresh.client, fresh.server]) pmd.cleanup();
});

test("RFC 6455 §10.4: a 256 MiB decompression bomb stops at maxPayload with little memory", {
  timeout: 60_000,
}, async () => {
  const payload = await getBomb();
  assert.ok(payload.length < 512 * 1024, `bomb is ${payload.length} bytes`);
  const { server } = pair({}, {}, MiB);
  const before = externalBytes();
  let peak = before;
  // unref: a failing assertion must not leave a timer keeping the test process alive.
  const sampler = setInterval(() => {
    peak = Math.max(peak, externalBytes());
  }, 1).unref();
  const { error } = await call(server.decompress.bind(server), payload, true).finally(() =>
    clearInterval(sampler),
  );
  peak = Math.max(peak, externalBytes());
  assertProtocolError(error, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
  const growth = peak - before;
  assert.ok(growth < 8 * MiB, `external memory grew by ${(growth / MiB).toFixed(1)} MiB`);
  server.cleanup();
});

test("RFC 6455 §10.4: the same bomb spread over many frames stops at maxPayload", {
  timeout: 60_000,
}, async () => {
  const payload = await getBomb();
  const { server } = pair({}, {}, MiB);
  const frames: Buffer[] = [];
  for (let at = 0; at < payload.length; at += 64) frames.push(payload.subarray(at, at + 64));
  const before = externalBytes();
  let peak = before;
  let failedAt = -1;
  for (let i = 0; i < frames.length; i++) {
    const { error, result } = await call(
      server.decompress.bind(server),
      frames[i]!,
      i === frames.length - 1,
    );
    peak = Math.max(peak, externalBytes());
    if (error !== null) {
      assertProtocolError(error, ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH, 1009);
      failedAt = i;
      break;
    }
    assert.equal(result, undefined);
  }
  // 64 bytes of this bomb inflate to far less than 1 MiB: the limit tripped on a running total.
  assert.ok(failedAt > 1, `failed at frame ${failedAt}`);
  assert.ok(failedAt < frames.length - 1, "stopped long before the end of the bomb");
  const growth = peak - before;
  assert.ok(growth < 8 * MiB, `external memory grew by ${(growth / MiB).toFixed(1)} MiB`);
  server.cleanup();
});

test("a zlib option zlib refuses fails the call and gives its slot back", {
  timeout: 10_000,
}, async () => {
  const { server } = pair({}, { zlibDeflateOptions: { memLevel: 99 } });
  const { error } = await call(server.compress.bind(server), Buffer.from("x"), true);
  assert.ok(error instanceof RangeError, String(error));
  assert.equal(limiterStats().running, 0);
  server.cleanup();
});

// ---- window bits 8 -----------------------------------------------------------------------------

test("RFC 7692 §7.1.2: window bits 8 is accepted, inflates, and we send uncompressed", {
  timeout: 10_000,
}, async () => {
  const { client, server, response } = pair({ serverMaxWindowBits: 8, clientMaxWindowBits: 8 });
  assert.equal(response, "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8");
  assert.equal(server.negotiated?.serverMaxWindowBits, 8);
  assert.equal(client.negotiated?.clientMaxWindowBits, 8);
  // zlib cannot deflate with a 2^8 window, so neither end compresses (RFC 7692 §6 lets any
  // message go uncompressed).
  assert.equal(server.canCompress, false);
  assert.equal(client.canCompress, false);
  const refused = await call(client.compress.bind(client), Buffer.from("x"), true);
  assert.match(String(refused.error), /2\^8/);

  // A peer compressing with the small window (zlib's smallest) inflates on both ends.
  const message = Buffer.from("window bits eight ".repeat(200));
  for (const receiver of [client, server]) {
    const peer = peerCompressor({ windowBits: 8 });
    for (let i = 0; i < 3; i++) {
      assertBytes(await decompressFrames(receiver, [await peer.message(message)]), message);
    }
    peer.close();
  }

  // Only the limited direction is affected.
  const oneWay = pair({ serverMaxWindowBits: 8 });
  assert.equal(oneWay.server.canCompress, false);
  assert.equal(oneWay.client.canCompress, true);
  const [payload] = await compressFrames(oneWay.client, [message]);
  assertBytes(await decompressFrames(oneWay.server, [payload!]), message);
  for (const pmd of [client, server, oneWay.client, oneWay.server]) pmd.cleanup();
});

// ---- laziness, limiter, cleanup ----------------------------------------------------------------

test("zlib streams are created on first use and freed by cleanup", {
  timeout: 10_000,
}, async () => {
  const { client, server } = pair();
  for (const pmd of [client, server]) {
    assert.equal(Reflect.get(pmd, "inflater"), null);
    assert.equal(Reflect.get(pmd, "deflater"), null);
  }
  const [payload] = await compressFrames(client, [Buffer.from("lazy")]);
  assert.ok(Reflect.get(client, "deflater") !== null, 'Reflect.get(client, "deflater") !== null');
  assert.equal(Reflect.get(client, "inflater"), null);
  await decompressFrames(server, [payload!]);
  assert.ok(Reflect.get(server, "inflater") !== null, 'Reflect.get(server, "inflater") !== null');
  assert.equal(Reflect.get(server, "deflater"), null);
  client.cleanup();
  server.cleanup();
  assert.equal(Reflect.get(client, "deflater"), null);
  assert.equal(Reflect.get(server, "inflater"), null);
});

test("RFC 7692 §7.1.1: without context takeover, connections hand their streams on between messages", {
  timeout: 10_000,
}, async () => {
  // Each pair is another connection; all use the same (default) zlib options.
  const options = { serverNoContextTakeover: true, clientNoContextTakeover: true };
  const pairs = Array.from({ length: 3 }, () => pair(options, options));
  const messages = pairs.map((_, i) =>
    Buffer.from(`message ${i} of a chatty protocol, `.repeat(50)),
  );
  const used = await streamsUsed(async () => {
    for (const [i, { client, server }] of pairs.entries()) {
      const [payload] = await compressFrames(client, [messages[i]!]);
      assertBytes(await decompressFrames(server, [payload!]), messages[i]!);
      // Between messages no connection holds a stream.
      for (const pmd of [client, server]) {
        assert.equal(Reflect.get(pmd, "inflater"), null);
        assert.equal(Reflect.get(pmd, "deflater"), null);
      }
      // Each message compresses alone: its payload inflates with a brand-new inflater.
      assertBytes(inflateAlone(payload!), messages[i]!);
    }
  });
  // One message at a time: every connection reused the stream the one before it gave back.
  assert.equal(used.deflaters.length, 3);
  assert.equal(used.inflaters.length, 3);
  assert.equal(new Set(used.deflaters).size, 1);
  assert.equal(new Set(used.inflaters).size, 1);
  for (const { client, server } of pairs) {
    client.cleanup();
    server.cleanup();
  }
});

test("a stream that failed is closed, never handed on", { timeout: 10_000 }, async () => {
  const options = { serverNoContextTakeover: true, clientNoContextTakeover: true };
  const first = pair(options, options);
  const second = pair(options, options);
  const message = Buffer.from("after the corrupt one ".repeat(20));
  const [payload] = await compressFrames(second.client, [message]);
  const used = await streamsUsed(async () => {
    const { error } = await call(
      first.server.decompress.bind(first.server),
      Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]),
      true,
    );
    assertProtocolError(error, ErrorCodes.INVALID_COMPRESSED_DATA, 1007);
    assertBytes(await decompressFrames(second.server, [payload!]), message);
  });
  assert.equal(used.inflaters.length, 2);
  const [broken, next] = used.inflaters;
  assert.notEqual(next, broken);
  assert.equal(broken!.destroyed || broken!.closed, true);
  for (const { client, server } of [first, second]) {
    client.cleanup();
    server.cleanup();
  }
});

test("ZlibStreamPool keeps at most MAX_IDLE_STREAMS per options object and window size", () => {
  const pool = new ZlibStreamPool<string>();
  const options = { level: 1 };
  for (let i = 0; i < MAX_IDLE_STREAMS; i++) assert.equal(pool.give(options, 15, `s${i}`), true);
  assert.equal(pool.give(options, 15, "one too many"), false);
  assert.equal(pool.idle(options, 15), MAX_IDLE_STREAMS);
  // Other window sizes, other options objects (even equal ones) and no options are other keys.
  assert.equal(pool.take(options, 14), undefined);
  assert.equal(pool.take({ level: 1 }, 15), undefined);
  assert.equal(pool.take(undefined, 15), undefined);
  assert.equal(pool.give(undefined, 15, "default"), true);
  assert.equal(pool.take(undefined, 15), "default");
  // Last in, first out: the most recently used stream is the one most likely still in cache.
  assert.equal(pool.take(options, 15), `s${MAX_IDLE_STREAMS - 1}`);
  assert.equal(pool.idle(options, 15), MAX_IDLE_STREAMS - 1);
});

test("ws#1617/#1202: cleanup mid-flight on 50 connections gives back every limiter slot", {
  timeout: 30_000,
}, async () => {
  const instances = Array.from({ length: 50 }, () => pair().server);
  const concurrency = limiterStats().concurrency;
  assert.ok(
    Number.isFinite(concurrency) && concurrency > 0,
    "Number.isFinite(concurrency) && concurrency > 0",
  );
  const data = randomBytes(256 * 1024);
  let maxRunning = 0;
  const observe = () => {
    maxRunning = Math.max(maxRunning, limiterStats().running);
  };
  const sampler = setInterval(observe, 0).unref();
  let completed = 0;
  let closed = 0;
  const pending: Array<Promise<void>> = [];
  for (const pmd of instances) {
    for (let j = 0; j < 4; j++) {
      pending.push(
        call(pmd.compress.bind(pmd), data, j === 3).then(({ error, result }) => {
          observe();
          if (error === null) {
            assert.ok(result instanceof Buffer, "result instanceof Buffer");
            completed++;
          } else {
            assert.ok(error instanceof DeflateClosedError, String(error));
            closed++;
          }
        }),
      );
    }
  }
  observe();
  assert.ok(limiterStats().running <= concurrency, "limiterStats().running <= concurrency");
  assert.ok(limiterStats().queued > 0, "jobs are waiting for slots");
  // Let a few jobs finish so the rest are genuinely mid-flight (some inside a zlib flush).
  const deadline = Date.now() + 10_000; // bounded: a hang fails below instead of spinning
  while (completed < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const pmd of instances) pmd.cleanup();
  assert.deepEqual(
    { running: limiterStats().running, queued: limiterStats().queued },
    { running: 0, queued: 0 },
  );
  await Promise.all(pending);
  clearInterval(sampler);
  assert.equal(completed + closed, 200, "every call called back exactly once");
  assert.ok(closed > 0, "cleanup interrupted some calls");
  assert.ok(maxRunning <= concurrency, `running peaked at ${maxRunning}`);

  // A new connection is not starved by leaked slots. (1 s is a hang detector, not a speed test.)
  const fresh = pair();
  const roundTrip = (async () => {
    const [payload] = await compressFrames(fresh.client, [Buffer.from("still alive")]);
    return decompressFrames(fresh.server, [payload!]);
  })();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    roundTrip,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("compression hung: a limiter slot leaked")),
        1000,
      ).unref();
    }),
  ]);
  clearTimeout(timer);
  assert.equal(result.toString(), "still alive");
  fresh.client.cleanup();
  fresh.server.cleanup();
  // Late zlib events from the closed streams change nothing.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(
    { running: limiterStats().running, queued: limiterStats().queued },
    { running: 0, queued: 0 },
  );
});

// ---- the limiter itself ------------------------------------------------------------------------

class RecordingTask extends LimiterTask {
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly onRun: (task: RecordingTask) => void = () => {},
  ) {
    super();
  }

  override run(): void {
    this.log.push(this.name);
    this.onRun(this);
  }
}

test("Limiter runs at most `concurrency` tasks, in FIFO order", { timeout: 10_000 }, () => {
  const limiter = new Limiter(2);
  const log: string[] = [];
  const tasks = ["a", "b", "c", "d"].map((name) => new RecordingTask(name, log));
  for (const task of tasks) limiter.add(task);
  assert.deepEqual(log, ["a", "b"]);
  assert.deepEqual(limiter.stats(), { running: 2, queued: 2, concurrency: 2 });
  limiter.release(tasks[1]!);
  limiter.release(tasks[1]!); // a second release of the same job is ignored
  assert.deepEqual(log, ["a", "b", "c"]);
  assert.deepEqual(limiter.stats(), { running: 2, queued: 1, concurrency: 2 });
  assert.throws(() => limiter.add(tasks[3]!), /already queued/);
  for (const task of tasks) limiter.release(task);
  assert.deepEqual(log, ["a", "b", "c", "d"]);
  assert.deepEqual(limiter.stats(), { running: 0, queued: 0, concurrency: 2 });
});

test("Limiter.cancel removes a queued task and frees a running one", { timeout: 10_000 }, () => {
  const limiter = new Limiter(1);
  const log: string[] = [];
  const [a, b, c] = ["a", "b", "c"].map((name) => new RecordingTask(name, log));
  limiter.add(a!);
  limiter.add(b!);
  limiter.add(c!);
  limiter.cancel(b!); // queued: removed without running
  assert.deepEqual(limiter.stats(), { running: 1, queued: 1, concurrency: 1 });
  limiter.cancel(a!); // running: its slot goes to c
  assert.deepEqual(log, ["a", "c"]);
  limiter.cancel(a!); // idempotent
  limiter.cancel(c!);
  assert.deepEqual(limiter.stats(), { running: 0, queued: 0, concurrency: 1 });
  limiter.add(b!); // a cancelled task can be queued again
  assert.deepEqual(log, ["a", "c", "b"]);
  limiter.release(b!);
});

test("Limiter handles tasks that release synchronously inside run, without recursion", {
  timeout: 10_000,
}, () => {
  const limiter = new Limiter(1);
  const log: string[] = [];
  const tasks = Array.from(
    { length: 10_000 },
    (_, i) => new RecordingTask(String(i), log, (t) => limiter.release(t)),
  );
  // Queue them behind a blocker, then free it: the whole chain runs in one loop.
  const blocker = new RecordingTask("blocker", log);
  limiter.add(blocker);
  for (const task of tasks) limiter.add(task);
  limiter.release(blocker);
  assert.equal(log.length, 10_001);
  assert.deepEqual(limiter.stats(), { running: 0, queued: 0, concurrency: 1 });
  assert.equal(new Limiter(0).concurrency, Infinity);
  assert.throws(() => new Limiter(-1), RangeError);
});
