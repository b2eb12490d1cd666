/**
 * `socketeer connect`, run as a child process against socketeer's own server and against the
 * real `ws` server: the CLI must behave the same with either peer.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocketServer as WsServer } from "ws";
import { WebSocketServer as SocketeerServer } from "../../src/index.js";
import { runCli, startCli, tlsFiles } from "./cli-process.js";

const T = { timeout: 15_000 };

/** The parts of a server-side socket these tests use; both libraries provide them. */
interface PeerSocket {
  protocol: string;
  extensions: string;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: "close", listener: (code: number, reason: Buffer) => void): unknown;
  send(data: string | Buffer): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

interface PeerServer {
  on(event: "connection", listener: (socket: PeerSocket, req: IncomingMessage) => void): unknown;
  close(cb?: () => void): void;
}

interface Peer {
  url: string;
  /** The last handshake request and the negotiated subprotocol. */
  last: { headers: IncomingMessage["headers"]; protocol: string } | undefined;
  /** Resolves with the code and reason of the next connection that closes. */
  nextClose(): Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

type Implementation = "socketeer" | "ws";

/**
 * A scripted peer: echoes text, and on a few magic messages closes, drops the connection or
 * sends binary, so every CLI output path can be provoked.
 */
async function startPeer(
  impl: Implementation,
  options: { compress?: boolean; server?: Server } = {},
): Promise<Peer> {
  const http = options.server ?? createHttpServer();
  const serverOptions = { server: http, perMessageDeflate: options.compress ?? false };
  const wss = (impl === "ws"
    ? new WsServer(serverOptions)
    : new SocketeerServer(serverOptions)) as unknown as PeerServer;
  const closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];
  const peer: Peer = {
    url: "",
    last: undefined,
    nextClose: () => new Promise((resolve) => closeWaiters.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        wss.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
  wss.on("connection", (socket, req) => {
    peer.last = { headers: req.headers, protocol: socket.protocol };
    socket.on("close", (code, reason) => {
      for (const waiter of closeWaiters.splice(0)) waiter({ code, reason: reason.toString() });
    });
    socket.on("message", (data, isBinary) => {
      const text = data.toString();
      if (isBinary) socket.send(data);
      else if (text === "close-me") socket.close(4000, "bye");
      else if (text === "close-normal") socket.close(1000, "done");
      else if (text === "binary") socket.send(Buffer.from([0x00, 0x01, 0x02, 0xff]));
      else if (text === "drop") socket.terminate();
      else socket.send(text);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  peer.url = `${options.server ? "wss" : "ws"}://127.0.0.1:${port}`;
  return peer;
}

for (const impl of ["socketeer", "ws"] as const) {
  describe(`socketeer connect against a ${impl} server`, () => {
    let peer: Peer;
    before(async () => {
      peer = await startPeer(impl);
    });
    after(() => peer.close());

    test(
      "pipe mode: `echo hi | connect <url> --wait 1` prints the echo and exits 0",
      T,
      async () => {
        const result = await runCli(["connect", peer.url, "--wait", "1"], { input: "hi\n" });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^\d\d:\d\d:\d\d\.\d{3} > hi$/m, "sent line shown with time");
        assert.match(result.stdout, /^\d\d:\d\d:\d\d\.\d{3} < hi$/m, "echo shown with time");
        assert.match(result.stderr, /\* connected to ws:\/\/127\.0\.0\.1:\d+\//);
        assert.match(result.stderr, /disconnected: 1000 Normal Closure/);
        assert.ok(!(result.stdout + result.stderr).includes("\u001b["), "no colours on a pipe");
      },
    );

    test("every piped line is one message, in order", T, async () => {
      const result = await runCli(["connect", peer.url, "-w", "1"], { input: "one\ntwo\nthree\n" });
      assert.equal(result.code, 0, result.stderr);
      const echoed = [...result.stdout.matchAll(/ < (.*)$/gm)].map((m) => m[1]);
      assert.deepEqual(echoed, ["one", "two", "three"]);
    });

    test("a close by the server shows its code and reason; 4000 exits 1", T, async () => {
      const result = await runCli(["connect", peer.url, "--wait", "5"], { input: "close-me\n" });
      assert.match(result.stderr, /disconnected: 4000 application "bye"/);
      assert.equal(result.code, 1);
    });

    test("a normal close (1000) by the server exits 0", T, async () => {
      const cli = startCli(["connect", peer.url]);
      await cli.waitFor(/connected to/, "stderr");
      cli.child.stdin.write("close-normal\n");
      const result = await cli.exited;
      assert.match(result.stderr, /disconnected: 1000 Normal Closure "done"/);
      assert.equal(result.code, 0);
    });

    test("an abnormal close (TCP dropped, 1006) exits 1", T, async () => {
      const cli = startCli(["connect", peer.url]);
      await cli.waitFor(/connected to/, "stderr");
      cli.child.stdin.write("drop\n");
      const result = await cli.exited;
      assert.match(result.stderr, /disconnected: 1006 Abnormal Closure/);
      assert.equal(result.code, 1);
    });

    test("binary messages are printed as hex", T, async () => {
      const result = await runCli(["connect", peer.url, "--wait", "1"], { input: "binary\n" });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, / < \[binary 4 B\] 00 01 02 ff$/m);
    });

    test("--header, --origin, --auth and --protocol reach the server", T, async () => {
      const result = await runCli(
        [
          "connect",
          peer.url,
          "--header",
          "X-Trace: abc 123",
          "-H",
          "X-Second:two",
          "--origin",
          "https://example.test",
          "--auth",
          "ada:s3cret:x",
          "--protocol",
          "chat.v2",
          "-s",
          "chat.v1",
        ],
        { input: "" },
      );
      assert.equal(result.code, 0, result.stderr);
      const headers = peer.last?.headers ?? {};
      assert.equal(headers["x-trace"], "abc 123");
      assert.equal(headers["x-second"], "two");
      assert.equal(headers.origin, "https://example.test");
      assert.equal(
        headers.authorization,
        `Basic ${Buffer.from("ada:s3cret:x").toString("base64")}`,
      );
      assert.deepEqual(headers["sec-websocket-protocol"]?.split(/\s*,\s*/), ["chat.v2", "chat.v1"]);
      assert.equal(peer.last?.protocol, "chat.v2");
      assert.match(result.stderr, /subprotocol chat\.v2/);
    });

    test("/ping prints the pong; /close sends the code and reason typed", T, async () => {
      const closed = peer.nextClose();
      const result = await runCli(["connect", peer.url, "--wait", "5"], {
        input: "/ping hello\n/close 4001 see you later\n",
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, / < pong hello$/m);
      assert.deepEqual(await closed, { code: 4001, reason: "see you later" });
      assert.match(result.stderr, /disconnected: 4001/);
    });

    test("a bad /close code is refused locally; //text sends a leading slash", T, async () => {
      const result = await runCli(["connect", peer.url, "--wait", "1"], {
        input: "/close 1006\n//slash\n/nope\n",
      });
      assert.match(result.stderr, /close code must be 1000-1003, 1007-1014 or 3000-4999/);
      assert.match(result.stderr, /unknown command \/nope/);
      assert.match(result.stdout, / < \/slash$/m);
      assert.equal(result.code, 0, result.stderr);
    });
  });

  describe(`socketeer connect --compress against a ${impl} server`, () => {
    let peer: Peer;
    before(async () => {
      peer = await startPeer(impl, { compress: true });
    });
    after(() => peer.close());

    test(
      "RFC 7692: --compress negotiates permessage-deflate and messages still round-trip",
      T,
      async () => {
        const text = "compressible ".repeat(50).trim();
        const result = await runCli(["connect", peer.url, "--compress", "--wait", "1"], {
          input: `${text}\n`,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /extensions permessage-deflate/);
        assert.match(peer.last?.headers["sec-websocket-extensions"] ?? "", /permessage-deflate/);
        assert.ok(result.stdout.includes(` < ${text}\n`));
      },
    );

    test("without --compress no extension is offered", T, async () => {
      const result = await runCli(["connect", peer.url, "--wait", "0.5"], { input: "plain\n" });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(peer.last?.headers["sec-websocket-extensions"], undefined);
      assert.doesNotMatch(result.stderr, /extensions/);
    });
  });
}

describe("socketeer connect over TLS", () => {
  let peer: Peer;
  before(async () => {
    const { cert, key } = tlsFiles();
    const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) });
    peer = await startPeer("socketeer", { server });
  });
  after(() => peer.close());

  test("a self-signed certificate is rejected by default, with a hint", T, async () => {
    const result = await runCli(["connect", peer.url], { input: "" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /certificate/i);
    assert.match(result.stderr, /--no-check/);
  });

  test("--no-check accepts it and wss works", T, async () => {
    const result = await runCli(["connect", peer.url, "--no-check", "--wait", "1"], {
      input: "secure hi\n",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, / < secure hi$/m);
  });
});

describe("socketeer connect failures", () => {
  test("a refused connection exits 1 with a readable message", T, async () => {
    // Reserve a port, then free it: nothing listens there now.
    const probe = createHttpServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const result = await runCli(["connect", `ws://127.0.0.1:${port}`], { input: "hi\n" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /connection refused/);
    assert.doesNotMatch(result.stderr, /at .*\.js:\d+/, "no stack trace");
  });

  test("an HTTP server that does not upgrade is a failure (exit 1)", T, async () => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = http.address() as AddressInfo;
      const result = await runCli(["connect", `ws://127.0.0.1:${port}`], { input: "" });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /error: .*404/);
    } finally {
      http.close();
    }
  });

  for (const [url, why] of [
    ["ftp://example.com", /scheme must be ws/],
    ["ws://", /invalid URL/],
    ["ws://example.com/#top", /fragment/],
    ["http://exa mple.com", /invalid URL/],
  ] as const) {
    test(`bad URL ${JSON.stringify(url)} is a usage error (exit 2)`, T, async () => {
      const result = await runCli(["connect", url]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, why);
      assert.match(result.stderr, /socketeer connect --help/);
    });
  }

  test("missing URL, unknown flags and malformed values are usage errors (exit 2)", T, async () => {
    const cases: [string[], RegExp][] = [
      [["connect"], /missing <url>/],
      [
        ["connect", "ws://x", "--hedaer", "a: b"],
        /unknown option --hedaer \(did you mean --header\?\)/,
      ],
      [["connect", "ws://x", "--header", "no colon"], /--header must look like "Name: value"/],
      [["connect", "ws://x", "--wait", "soon"], /--wait must be a number of seconds/],
      [["connect", "ws://x", "--auth", "nopassword"], /--auth must look like user:password/],
      [["connect", "ws://x", "--protocol"], /option --protocol needs a value/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });
});
