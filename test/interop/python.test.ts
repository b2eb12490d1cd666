/**
 * Interop with python3-websockets (the Debian package; `websockets` 10.x on bookworm), both
 * directions: python client ↔ socketeer server and socketeer client ↔ python server, with python's
 * `compression=None` and with its default permessage-deflate (which, as a server, answers with
 * `server_max_window_bits=12; client_max_window_bits=12`, a window our side must honour).
 *
 * Python runs `python/peer.py` as a child: the test writes JSON commands on its stdin and reads
 * JSON events from its stdout (see the script's docstring). A missing python3-websockets is a test
 * failure with the install command, never a skip.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import { waitEvent } from "../helpers/api-util.js";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(__dirname, "python", "peer.py");
const INSTALL = "apt-get install -y --no-install-recommends python3-websockets";

let pythonCheck: { version: string } | { error: string } | null = null;

/** The installed websockets version; throws (failing the test) with the install command if absent. */
function websocketsVersion(): string {
  if (pythonCheck === null) {
    if (!existsSync(PYTHON)) {
      pythonCheck = { error: `${PYTHON} not found: apt-get install -y python3 && ${INSTALL}` };
    } else {
      try {
        const out = execFileSync(
          PYTHON,
          ["-c", "import websockets; print(websockets.__version__)"],
          {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 30_000,
          },
        );
        pythonCheck = { version: out.trim() };
      } catch (error) {
        pythonCheck = {
          error:
            `python3-websockets is not installed for ${PYTHON} (${(error as Error).message.split("\n")[0]}). ` +
            `Install it with: ${INSTALL} (scripts/ensure-system-deps.sh does this in npm test)`,
        };
      }
    }
  }
  if ("error" in pythonCheck) throw new Error(pythonCheck.error);
  return pythonCheck.version;
}

/** One JSON line printed by peer.py. */
interface PyEvent {
  event: string;
  [field: string]: unknown;
}

/** A message as peer.py reports it. */
interface PyMessage extends PyEvent {
  binary: boolean;
  length: number;
  sha256: string;
  b64?: string;
}

/** The `open` event: what python negotiated. */
interface PyOpen extends PyEvent {
  subprotocol: string | null;
  extensions: string[];
  offered_extensions: string | null;
  accepted_extensions: string | null;
  version: string;
}

/** The `close` event: the code and reason python received. */
interface PyClose extends PyEvent {
  code: number;
  reason: string;
}

/** A running peer.py, driven over its stdin/stdout. */
class PythonPeer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  private stderr = "";
  private buffer = "";
  private nextId = 1;
  private readonly queues = new Map<string, PyEvent[]>();
  private readonly waiters: Array<{
    event: string;
    match: (e: PyEvent) => boolean;
    resolve: (e: PyEvent) => void;
    reject: (error: Error) => void;
    timer: NodeJS.Timeout;
  }> = [];
  private exitCode: number | null | undefined;

  constructor(args: string[]) {
    websocketsVersion();
    this.child = spawn(PYTHON, ["-u", SCRIPT, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8").on("data", (chunk: string) => this.onStdout(chunk));
    this.child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    // A write after python exits must not crash the test process.
    this.child.stdin.on("error", () => {});
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code) => {
        this.exitCode = code;
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(
            new Error(`peer.py exited (${code}) before '${waiter.event}'; stderr:\n${this.stderr}`),
          );
        }
        resolve(code);
      });
    });
  }

  private onStdout(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf("\n");
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      newline = this.buffer.indexOf("\n");
      if (line === "") continue;
      const event = JSON.parse(line) as PyEvent;
      const index = this.waiters.findIndex((w) => w.event === event.event && w.match(event));
      if (index !== -1) {
        const [waiter] = this.waiters.splice(index, 1);
        clearTimeout(waiter!.timer);
        waiter!.resolve(event);
        continue;
      }
      const queue = this.queues.get(event.event);
      if (queue === undefined) this.queues.set(event.event, [event]);
      else queue.push(event);
    }
  }

  /** The next (oldest unclaimed) event named `event` that satisfies `match`. */
  next<T extends PyEvent = PyEvent>(
    event: string,
    ms = 10_000,
    match: (e: PyEvent) => boolean = () => true,
  ): Promise<T> {
    const queue = this.queues.get(event) ?? [];
    const index = queue.findIndex(match);
    if (index !== -1) return Promise.resolve(queue.splice(index, 1)[0] as T);
    if (this.exitCode !== undefined) {
      return Promise.reject(
        new Error(`peer.py already exited (${this.exitCode}); stderr:\n${this.stderr}`),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.timer === timer);
        if (i !== -1) this.waiters.splice(i, 1);
        reject(
          new Error(`no '${event}' event from peer.py within ${ms} ms; stderr:\n${this.stderr}`),
        );
      }, ms);
      this.waiters.push({ event, match, resolve: resolve as (e: PyEvent) => void, reject, timer });
    });
  }

  /** Runs a command and resolves with its `done` event; a python-side error rejects. */
  async command(op: string, fields: Record<string, unknown> = {}, ms = 10_000): Promise<PyEvent> {
    const id = this.nextId++;
    const done = this.next("done", ms, (e) => e.id === id);
    this.child.stdin.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    const result = await done;
    if (typeof result.error === "string") throw new Error(`peer.py ${op} failed: ${result.error}`);
    return result;
  }

  /** Sends a command without waiting for it (for `close`, whose `done` may race the exit). */
  post(op: string, fields: Record<string, unknown> = {}): void {
    this.child.stdin.write(`${JSON.stringify({ id: this.nextId++, op, ...fields })}\n`);
  }

  /** Ends stdin; kills the process if it has not exited within 3 s. */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

type Direction = "python client → socketeer server" | "socketeer client → python server";
const DIRECTIONS: Direction[] = [
  "python client → socketeer server",
  "socketeer client → python server",
];

interface Connection {
  ours: WebSocket;
  py: PythonPeer;
  pyOpen: PyOpen;
  /** The TCP socket under our side, to count the bytes that crossed the wire. */
  socket: Socket;
  /** Errors our side emitted; a test ends by checking there were none. */
  errors: Error[];
  close(): Promise<void>;
}

/** Connects the two sides of `direction`; python compresses when `deflate`. */
async function open(
  direction: Direction,
  deflate: boolean,
  options: { protocols?: string[]; pythonProtocols?: string[] } = {},
): Promise<Connection> {
  websocketsVersion(); // fails the test with the install command before anything is opened
  const compression = ["--compression", deflate ? "deflate" : "none"];
  const errors: Error[] = [];
  if (direction === "python client → socketeer server") {
    const wss = await new Promise<WebSocketServer>((resolve, reject) => {
      const server: WebSocketServer = new WebSocketServer(
        {
          host: "127.0.0.1",
          port: 0,
          perMessageDeflate: deflate,
          // Pick the LAST offered protocol, so a "first offered" default cannot pass by accident.
          handleProtocols: (offered) => [...offered].at(-1) ?? false,
        },
        () => resolve(server),
      );
      server.once("error", reject);
    });
    const port = (wss.address() as AddressInfo).port;
    const connection = waitEvent<[WebSocket, IncomingMessage]>(wss, "connection", 15_000);
    const protocols = options.protocols ?? [];
    const py = new PythonPeer([
      "client",
      `ws://127.0.0.1:${port}/interop`,
      ...compression,
      ...(protocols.length > 0 ? ["--subprotocols", protocols.join(",")] : []),
    ]);
    try {
      const [[ours, request], pyOpen] = await Promise.all([
        connection,
        py.next<PyOpen>("open", 15_000),
      ]);
      ours.on("error", (error) => errors.push(error));
      assert.equal(request.url, "/interop", "python requested the path it was given");
      return {
        ours,
        py,
        pyOpen,
        socket: request.socket as Socket,
        errors,
        close: async () => {
          for (const client of wss.clients) client.terminate();
          await py.stop();
          await new Promise<void>((resolve) => wss.close(() => resolve()));
        },
      };
    } catch (error) {
      await py.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      throw error;
    }
  }

  const pyProtocols = options.pythonProtocols ?? [];
  const py = new PythonPeer([
    "server",
    ...compression,
    ...(pyProtocols.length > 0 ? ["--subprotocols", pyProtocols.join(",")] : []),
  ]);
  try {
    const { port } = (await py.next("listening", 15_000)) as PyEvent & { port: number };
    // Our client keeps its default (offer permessage-deflate): with compression=None python
    // must decline it, and we must accept the decline.
    const ours = new WebSocket(`ws://127.0.0.1:${port}/interop`, options.protocols ?? []);
    ours.on("error", (error) => errors.push(error));
    const upgrade = waitEvent<[IncomingMessage]>(ours, "upgrade", 15_000);
    const [pyOpen] = await Promise.all([
      py.next<PyOpen>("open", 15_000),
      waitEvent(ours, "open", 15_000),
    ]);
    const [response] = await upgrade;
    return {
      ours,
      py,
      pyOpen,
      socket: response.socket as Socket,
      errors,
      close: async () => {
        ours.terminate();
        await py.stop();
      },
    };
  } catch (error) {
    await py.stop();
    throw error;
  }
}

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

/** The bytes of a message python reported inline. */
function bytesOf(message: PyMessage): Buffer {
  assert.ok(message.b64 !== undefined, `message of ${message.length} bytes was reported inline`);
  return Buffer.from(message.b64, "base64");
}

/** Waits for our side's next message. */
function ourMessage(ws: WebSocket, ms = 10_000): Promise<[Buffer, boolean]> {
  return waitEvent<[Buffer, boolean]>(ws, "message", ms);
}

const CLOSE_CODES = [1000, 1001, 3000, 4999];

describe("python3-websockets is installed", () => {
  test("the peer library can be imported", { timeout: 30_000 }, () => {
    const version = websocketsVersion();
    assert.match(version, /^\d+\.\d+/, `websockets reports a version (${version})`);
  });
});

for (const direction of DIRECTIONS) {
  for (const deflate of [false, true]) {
    describe(`${direction}, python compression ${deflate ? "deflate" : "None"}`, () => {
      test("RFC 7692: permessage-deflate is negotiated exactly when python asks/allows it", {
        timeout: 20_000,
      }, async () => {
        const conn = await open(direction, deflate);
        try {
          const expected = deflate ? "permessage-deflate" : "";
          assert.equal(conn.ours.extensions, expected, "our side's extensions");
          assert.deepEqual(
            conn.pyOpen.extensions,
            deflate ? ["permessage-deflate"] : [],
            "python's negotiated extensions",
          );
          if (direction === "socketeer client → python server") {
            assert.match(
              conn.pyOpen.offered_extensions ?? "",
              /^permessage-deflate/,
              "our client offers permessage-deflate by default",
            );
          }
          if (deflate) {
            assert.match(conn.pyOpen.accepted_extensions ?? "", /^permessage-deflate/);
          } else {
            assert.equal(conn.pyOpen.accepted_extensions, null, "no extension in the 101");
          }
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });

      test("text, binary and empty messages both ways keep their bytes and type", {
        timeout: 20_000,
      }, async () => {
        const conn = await open(direction, deflate);
        try {
          const cases: Array<[string | Buffer, Buffer, boolean]> = [
            ["héllo wörld ✓", Buffer.from("héllo wörld ✓"), false],
            [
              Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]),
              Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]),
              true,
            ],
            ["", Buffer.alloc(0), false],
            [Buffer.alloc(0), Buffer.alloc(0), true],
            ["a".repeat(5000), Buffer.from("a".repeat(5000)), false], // over the deflate threshold
          ];
          for (const [data, bytes, isBinary] of cases) {
            const atPython = conn.py.next<PyMessage>("message");
            conn.ours.send(data);
            const got = await atPython;
            assert.equal(got.binary, isBinary, `python sees the type of ${bytes.length} bytes`);
            assert.deepEqual(bytesOf(got), bytes, "python sees our bytes");

            const atOurs = ourMessage(conn.ours);
            await conn.py.command(
              "send",
              isBinary ? { b64: bytes.toString("base64") } : { text: bytes.toString() },
            );
            const [back, backIsBinary] = await atOurs;
            assert.equal(
              backIsBinary,
              isBinary,
              `we see the type of python's ${bytes.length} bytes`,
            );
            assert.deepEqual(back, bytes, "we see python's bytes");
          }
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });

      test("16 MiB messages both ways (echoed by python, and made by python)", {
        timeout: 180_000,
      }, async () => {
        const conn = await open(direction, deflate);
        try {
          await conn.py.command("echo");
          // Half random (incompressible), half repetitive (compressible).
          const large = Buffer.concat([
            randomBytes(8 * 1024 * 1024),
            Buffer.alloc(8 * 1024 * 1024, "socketeer"),
          ]);
          const atPython = conn.py.next<PyMessage>("message", 120_000);
          const echoed = ourMessage(conn.ours, 120_000);
          conn.ours.send(large);
          const seen = await atPython;
          assert.deepEqual(
            [seen.binary, seen.length, seen.sha256],
            [true, large.length, sha(large)],
            "python received our 16 MiB intact",
          );
          const [echo, echoIsBinary] = await echoed;
          assert.equal(echoIsBinary, true);
          assert.equal(echo.length, large.length);
          assert.equal(sha(echo), sha(large), "python's echo of 16 MiB is intact");

          for (const binary of [true, false]) {
            const atOurs = ourMessage(conn.ours, 120_000);
            const made = await conn.py.command(
              "send_large",
              { size: 16 * 1024 * 1024, binary },
              120_000,
            );
            const [data, isBinary] = await atOurs;
            assert.equal(isBinary, binary, "the type of python's 16 MiB message");
            assert.equal(data.length, made.length, "the length of python's 16 MiB message");
            assert.equal(sha(data), made.sha256, "python's 16 MiB message is intact");
          }
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });

      test(`RFC 7692 §7.2: messages are ${deflate ? "" : "not "}compressed on the wire`, {
        timeout: 30_000,
      }, async () => {
        const conn = await open(direction, deflate);
        try {
          const size = 1024 * 1024;
          const text = "interop ".repeat(size / 8);

          const written = conn.socket.bytesWritten;
          const atPython = conn.py.next<PyMessage>("message");
          await new Promise<void>((resolve, reject) =>
            conn.ours.send(text, (error) => (error ? reject(error) : resolve())),
          );
          const got = await atPython;
          assert.equal(got.sha256, sha(text), "python inflated our 1 MiB of text");
          const sent = conn.socket.bytesWritten - written;

          const read = conn.socket.bytesRead;
          const atOurs = ourMessage(conn.ours);
          await conn.py.command("send", { text });
          const [back] = await atOurs;
          assert.equal(sha(back), sha(text), "we inflated python's 1 MiB of text");
          const received = conn.socket.bytesRead - read;

          if (deflate) {
            assert.ok(sent < size / 20, `we compressed 1 MiB of repeated text to ${sent} bytes`);
            assert.ok(received < size / 20, `python compressed 1 MiB to ${received} bytes`);
          } else {
            assert.ok(sent >= size, `uncompressed, we wrote ${sent} bytes for 1 MiB`);
            assert.ok(received >= size, `uncompressed, python wrote ${received} bytes for 1 MiB`);
          }
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });

      test("RFC 6455 §5.4: fragmented messages are reassembled both ways", {
        timeout: 20_000,
      }, async () => {
        const conn = await open(direction, deflate);
        try {
          const atPython = conn.py.next<PyMessage>("message");
          conn.ours.send("frag", { fin: false });
          conn.ours.send("men", { fin: false });
          conn.ours.send("ted ✓", { fin: true });
          const text = await atPython;
          assert.equal(text.binary, false);
          assert.equal(
            bytesOf(text).toString(),
            "fragmented ✓",
            "python joined our text fragments",
          );

          const part = randomBytes(20_000);
          const atPython2 = conn.py.next<PyMessage>("message");
          conn.ours.send(part, { fin: false });
          conn.ours.send(part, { fin: false });
          conn.ours.send(part, { fin: true });
          const binary = await atPython2;
          assert.equal(binary.binary, true);
          assert.equal(
            binary.sha256,
            sha(Buffer.concat([part, part, part])),
            "python joined our binary fragments",
          );

          const atOurs = ourMessage(conn.ours);
          await conn.py.command("send_fragments", { texts: ["py", "thon ", "fragments ✓"] });
          const [joined, joinedIsBinary] = await atOurs;
          assert.equal(joinedIsBinary, false);
          assert.equal(
            joined.toString(),
            "python fragments ✓",
            "we joined python's text fragments",
          );

          const atOurs2 = ourMessage(conn.ours);
          const pieces = [
            randomBytes(3000),
            Buffer.alloc(0),
            Buffer.alloc(70_000, 7),
            randomBytes(1),
          ];
          await conn.py.command("send_fragments", {
            b64s: pieces.map((p) => p.toString("base64")),
          });
          const [bin, binIsBinary] = await atOurs2;
          assert.equal(binIsBinary, true);
          assert.deepEqual(bin, Buffer.concat(pieces), "we joined python's binary fragments");
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });

      test("RFC 6455 §5.5.2/§5.5.3: pings are answered with the same payload both ways", {
        timeout: 20_000,
      }, async () => {
        const conn = await open(direction, deflate);
        try {
          for (const payload of [
            Buffer.from("from python"),
            Buffer.alloc(0),
            Buffer.alloc(125, 0xab),
          ]) {
            const ping = waitEvent<[Buffer]>(conn.ours, "ping");
            // peer.py's ping resolves only once a pong with this payload arrives.
            const done = await conn.py.command("ping", { b64: payload.toString("base64") });
            assert.equal(done.pong, payload.toString("base64"), "python got its pong");
            assert.deepEqual((await ping)[0], payload, "our side saw python's ping");
          }

          for (const payload of [
            Buffer.from("from socketeer"),
            Buffer.alloc(0),
            Buffer.alloc(125, 0xcd),
          ]) {
            const pong = waitEvent<[Buffer]>(conn.ours, "pong");
            conn.ours.ping(payload);
            assert.deepEqual((await pong)[0], payload, "python answered our ping with its payload");
          }

          const unsolicited = waitEvent<[Buffer]>(conn.ours, "pong");
          await conn.py.command("pong", { b64: Buffer.from("unsolicited").toString("base64") });
          assert.equal((await unsolicited)[0].toString(), "unsolicited");
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });

      test("RFC 6455 §4.1/§4.2.2: subprotocol negotiation", { timeout: 20_000 }, async () => {
        const ourServer = direction === "python client → socketeer server";
        const conn = await open(
          direction,
          deflate,
          ourServer
            ? { protocols: ["chat.v1", "chat.v2"] }
            : { protocols: ["chat.v2", "chat.v1"], pythonProtocols: ["chat.v1"] },
        );
        try {
          // Our handleProtocols picks the last offer; python's server the only one it supports.
          const expected = ourServer ? "chat.v2" : "chat.v1";
          assert.equal(conn.ours.protocol, expected, "our side's protocol");
          assert.equal(conn.pyOpen.subprotocol, expected, "python's protocol");
          assert.deepEqual(conn.errors, []);
        } finally {
          await conn.close();
        }
      });
    });
  }

  describe(`${direction}: close codes and reasons`, () => {
    for (const initiator of ["socketeer", "python"] as const) {
      test(`RFC 6455 §7.4: 1000, 1001, 3000, 4999 with reasons, ${initiator} closing`, {
        timeout: 60_000,
      }, async () => {
        for (const code of CLOSE_CODES) {
          const conn = await open(direction, false);
          try {
            const reason = `reason for ${code} ✓`;
            const ourClose = waitEvent<[number, Buffer]>(conn.ours, "close", 15_000);
            const pyClose = conn.py.next<PyClose>("close", 15_000);
            if (initiator === "socketeer") conn.ours.close(code, reason);
            else conn.py.post("close", { code, reason });
            const [ourCode, ourReason] = await ourClose;
            const py = await pyClose;
            assert.equal(ourCode, code, `socketeer sees ${code}`);
            assert.equal(ourReason.toString(), reason, `socketeer sees the reason of ${code}`);
            assert.equal(py.code, code, `python sees ${code}`);
            assert.equal(py.reason, reason, `python sees the reason of ${code}`);
            assert.equal(await conn.py.exited, 0, "peer.py ends cleanly after the close");
            assert.deepEqual(conn.errors, []);
          } finally {
            await conn.close();
          }
        }
      });
    }
  });
}
