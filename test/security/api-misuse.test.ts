/**
 * API misuse that used to leak memory to the peer (reliability.md §1.1, §1.6) and the one
 * advisory class that does not apply (§1.11). Every byte the raw peer receives is compared with
 * what the app asked to send: a frame built from un-zeroed memory would not match.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as socketeer from "../../src/index.js";
import { WebSocket } from "../../src/index.js";
import { Opcode, type ParsedFrame, RawServer } from "../helpers/index.js";
import { openRaw, Recorder, type SecServer, startServer } from "../helpers/sec-util.js";

const T = { timeout: 20_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };

/** Payload shapes an app may pass, with the exact bytes each must produce on the wire. */
function shapes(): Array<[name: string, data: unknown, bytes: Buffer, opcode: number]> {
  const floats = new Float32Array([1.5, -2.25, 3e8, Number.NaN, 0]);
  const words = new Uint16Array([1, 2, 3, 4, 5, 6, 7, 8]).subarray(2, 6);
  const bytes = Buffer.from("pooled slice of a larger buffer").subarray(7, 19);
  const view = new DataView(new ArrayBuffer(12), 4, 6);
  view.setUint8(0, 0xab);
  view.setUint8(5, 0xcd);
  const out: Array<[string, unknown, Buffer, number]> = [
    ["number", 1000, Buffer.from("1000"), Opcode.TEXT],
    ["negative float", -1.5, Buffer.from("-1.5"), Opcode.TEXT],
    ["Float32Array", floats, Buffer.from(floats.buffer), Opcode.BINARY],
    [
      "Uint16Array with an offset",
      words,
      Buffer.from(words.buffer, words.byteOffset, words.byteLength),
      Opcode.BINARY,
    ],
    ["pooled Buffer slice", bytes, Buffer.from(bytes), Opcode.BINARY],
    ["DataView with an offset", view, Buffer.from(view.buffer, 4, 6), Opcode.BINARY],
    ["ArrayBuffer", new ArrayBuffer(33), Buffer.alloc(33), Opcode.BINARY],
    ["empty string", "", Buffer.alloc(0), Opcode.TEXT],
  ];
  // Strings whose worst-case UTF-8 size needs a longer header than their real size: the sender
  // reserves room for the worst case and shifts the bytes back (every gap must be closed).
  for (const length of [41, 42, 125, 126, 127, 5461, 5462, 20_000, 70_000]) {
    const text = "é€a".repeat(Math.ceil(length / 3)).slice(0, length);
    out.push([`string of ${length} UTF-16 units`, text, Buffer.from(text), Opcode.TEXT]);
  }
  for (const length of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
    const data = Buffer.alloc(length);
    for (let i = 0; i < length; i++) data[i] = (i * 7 + 3) & 0xff;
    out.push([`binary of ${length} bytes`, data, data, Opcode.BINARY]);
  }
  return out;
}

function assertFrame(frame: ParsedFrame, name: string, bytes: Buffer, opcode: number): void {
  assert.equal(frame.opcode, opcode, name);
  assert.ok(frame.payload.equals(bytes), `${name}: payload differs from what was sent`);
}

describe("1.1 no path sends un-initialised memory", SUITE, () => {
  let srv: SecServer;
  let raw: RawServer;
  before(async () => {
    srv = await startServer({ echo: false });
    raw = await RawServer.listen();
  });
  after(async () => {
    await srv.close();
    await raw.close();
  });

  test(
    '1.1 ping(1000), pong(1000), send(1000) send the text "1000", from both roles',
    T,
    async () => {
      const client = new WebSocket(raw.url(), { perMessageDeflate: false });
      const recorder = new Recorder(client);
      const conn = await raw.acceptWebSocket(10_000);
      await recorder.opened();
      client.ping(1000);
      client.pong(1000);
      client.send(1000);
      for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.TEXT]) {
        const frame = await conn.nextFrame(3000);
        assert.equal(frame.opcode, opcode);
        assert.equal(frame.payload.toString(), "1000");
        assert.ok(frame.masked);
      }
      client.terminate();

      const { raw: peer, server } = await openRaw(srv);
      try {
        server.ws.ping(1000);
        server.ws.pong(1000);
        server.ws.send(1000);
        for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.TEXT]) {
          const frame = await peer.nextFrame(3000);
          assert.equal(frame.opcode, opcode);
          assert.equal(frame.payload.toString(), "1000");
        }
      } finally {
        peer.destroy();
      }
    },
  );

  test("1.1 every payload shape arrives byte for byte (server role, unmasked)", T, async () => {
    const { raw: peer, server } = await openRaw(srv);
    try {
      const list = shapes();
      for (const [, data] of list) server.ws.send(data as string);
      for (const [name, , bytes, opcode] of list)
        assertFrame(await peer.nextFrame(5000), name, bytes, opcode);
    } finally {
      peer.destroy();
    }
  });

  test(
    "1.1 every payload shape arrives byte for byte (client role, masked), also as fragments",
    T,
    async () => {
      const client = new WebSocket(raw.url(), { perMessageDeflate: false });
      const recorder = new Recorder(client);
      const conn = await raw.acceptWebSocket(10_000);
      await recorder.opened();
      try {
        const list = shapes();
        for (const [, data] of list) client.send(data as string);
        for (const [name, , bytes, opcode] of list) {
          const frame = await conn.nextFrame(5000);
          assert.ok(frame.masked);
          assertFrame(frame, name, bytes, opcode);
        }
        // A message sent in fragments: each piece exact, only the last has FIN.
        client.send("first ", { fin: false });
        client.send(Buffer.from("second "), { fin: false, binary: false });
        client.send("last");
        const pieces = [await conn.nextFrame(), await conn.nextFrame(), await conn.nextFrame()];
        assert.deepEqual(
          pieces.map((f) => [f.opcode, f.fin, f.payload.toString()]),
          [
            [Opcode.TEXT, false, "first "],
            [Opcode.CONTINUATION, false, "second "],
            [Opcode.CONTINUATION, true, "last"],
          ],
        );
      } finally {
        client.terminate();
      }
    },
  );

  test(
    "1.1 review gate: every Buffer.allocUnsafe in src/ is a reviewed site that overwrites every byte",
    T,
    () => {
      // Each site below was read: the buffer is fully written before any byte of it leaves the
      // library (or only the written prefix is handed out). A new site must be reviewed the same
      // way and added here; this list is what makes that review happen.
      const reviewed: Record<string, number> = {
        // slab: only [regionStart, slabUsed) is ever written out, after being filled; masked frame:
        // header + every payload byte masked into it.
        "node/sender.ts": 3,
        // header scratch: only bytes gathered so far are read, never handed out; tail and a lent
        // chunk's growing tail: only tail[0, tailUsed) is kept (and the grown one starts with the
        // old tail's used bytes); grown: only message[0, messageLength) is delivered; split
        // frame's body: exactly payloadLength bytes, delivered only once every piece has been
        // copied or unmasked into it; copy of a lent payload: every byte unmasked or copied in.
        "protocol/frame-parser.ts": 6,
        // header + masked payload fill the whole buffer.
        "protocol/frame-writer.ts": 1,
        // a request head gathered across reads: only the bytes copied in are searched, and only
        // gathered[0, used) goes on (concatenated with the read that completes the head).
        "node/handshake-server.ts": 1,
        // a final compressed frame joined with its 4-byte trailer: the frame, then the trailer,
        // are copied over every byte.
        "node/deflate.ts": 1,
      };
      const found: Record<string, number> = {};
      const root = join(__dirname, "..", "..", "src");
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) walk(path);
          else if (entry.name.endsWith(".ts")) {
            const code = readFileSync(path, "utf8")
              .split("\n")
              .filter((line) => !line.trim().startsWith("//") && !line.trim().startsWith("*"))
              .join("\n");
            const count = (code.match(/allocUnsafe(Slow)?\s*\(/g) ?? []).length;
            if (count > 0) found[path.slice(root.length + 1)] = count;
          }
        }
      };
      walk(root);
      assert.deepEqual(
        found,
        reviewed,
        "an allocUnsafe site changed: review it, then update this list",
      );
    },
  );
});

describe("1.6 close() reasons", SUITE, () => {
  let srv: SecServer;
  before(async () => {
    srv = await startServer({ echo: false });
  });
  after(async () => {
    await srv.close();
  });

  test(
    "1.6 non-Uint8Array views and reasons over 123 bytes throw synchronously; nothing is sent",
    T,
    async () => {
      const { raw, server } = await openRaw(srv);
      try {
        const ws = server.ws;
        const bad: Array<[unknown, typeof TypeError | typeof RangeError]> = [
          [new Float32Array(20), TypeError],
          [new Uint16Array(10), TypeError],
          [new DataView(new ArrayBuffer(8)), TypeError],
          [new ArrayBuffer(8), TypeError],
          [{ length: 3 }, TypeError],
          ["x".repeat(124), RangeError],
          ["é".repeat(62), RangeError], // 124 bytes in UTF-8
          [Buffer.alloc(124), RangeError],
        ];
        for (const [reason, kind] of bad) {
          assert.throws(
            () => ws.close(1000, reason as string),
            kind,
            String((reason as object).constructor?.name),
          );
        }
        assert.throws(() => ws.close(1005), TypeError, "1005 is never put on the wire");
        assert.throws(() => ws.close(999), TypeError);
        assert.equal(ws.readyState, WebSocket.OPEN, "a refused close() changes nothing");
        await raw.expectNoFrame(100);

        // 123 bytes exactly is fine, and arrives as given.
        const reason = `${"é".repeat(61)}x`;
        ws.close(4000, reason);
        const close = await raw.expectClose(3000);
        assert.equal(close.code, 4000);
        assert.equal(close.reason, reason);
        assert.equal(close.reasonBytes.length, 123);
      } finally {
        raw.destroy();
      }
    },
  );
});

describe("1.11 timing-safe comparison", SUITE, () => {
  test(
    "1.11 not applicable: the library ships no credential check (the app's verifyClient owns it)",
    T,
    () => {
      // python-websockets' CVE was in its own Basic-auth helper. We export none, and the server
      // never reads Authorization: there is no secret comparison to make timing-safe.
      const exported = Object.keys(socketeer).join(" ");
      assert.doesNotMatch(exported, /auth|password|credential|token/i);
      const server = readFileSync(join(__dirname, "..", "..", "src", "node", "server.ts"), "utf8");
      assert.doesNotMatch(server, /authorization|timingSafeEqual|password/i);
    },
  );
});
