/**
 * `socketeer serve`, run as a child process and driven by both socketeer's and ws's clients
 * (and by `socketeer connect` itself).
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket as WsClient } from "ws";
import { WebSocket as SocketeerClient } from "../../src/index.js";
import { type CliProcess, runCli, startCli, tlsFiles } from "./cli-process.js";

const T = { timeout: 15_000 };

/** The client API both libraries share, as far as these tests need it. */
interface Client {
  readonly readyState: number;
  readonly extensions: string;
  on(event: "open", listener: () => void): unknown;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: "close", listener: (code: number, reason: Buffer) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  send(data: string | Buffer): void;
  close(): void;
  terminate(): void;
}

type Impl = "socketeer" | "ws";

function connectClient(
  impl: Impl,
  url: string,
  options: { perMessageDeflate?: boolean; rejectUnauthorized?: boolean } = {},
): Promise<Client> {
  const opts = {
    perMessageDeflate: options.perMessageDeflate ?? false,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
  const client = (impl === "ws"
    ? new WsClient(url, opts)
    : new SocketeerClient(url, opts)) as unknown as Client;
  return new Promise((resolve, reject) => {
    client.on("open", () => resolve(client));
    client.on("error", reject);
  });
}

function nextMessage(client: Client): Promise<{ text: string; isBinary: boolean }> {
  return new Promise((resolve) => {
    client.on("message", (data, isBinary) => resolve({ text: data.toString(), isBinary }));
  });
}

function closed(client: Client): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    client.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

async function startServe(args: string[]): Promise<{ cli: CliProcess; url: string; port: number }> {
  const cli = startCli(["serve", "--port", "0", "--host", "127.0.0.1", ...args], {
    timeout: 20_000,
  });
  const [, url = "", port = ""] = await cli.waitFor(/listening on (wss?:\/\/127\.0\.0\.1:(\d+))/);
  return { cli, url, port: Number(port) };
}

async function stop(cli: CliProcess): Promise<number | null> {
  if (cli.child.exitCode === null) cli.child.kill("SIGINT");
  return (await cli.exited).code;
}

function fetchRaw(
  port: number,
  path: string,
  method = "GET",
): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    // http.request sends the path verbatim (no normalisation), which is what a traversal test needs.
    const req = httpRequest({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ res, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

for (const impl of ["socketeer", "ws"] as const) {
  describe(`socketeer serve with a ${impl} client`, () => {
    test("echo mode answers a client; SIGINT closes it with 1001 and exits 0", T, async () => {
      const { cli, url } = await startServe([]);
      try {
        const client = await connectClient(impl, url);
        const reply = nextMessage(client);
        client.send("ping me back");
        assert.deepEqual(await reply, { text: "ping me back", isBinary: false });
        const binaryReply = nextMessage(client);
        client.send(Buffer.from([1, 2, 3]));
        assert.deepEqual(await binaryReply, { text: "\u0001\u0002\u0003", isBinary: true });
        await cli.waitFor(/connected \(1 open\)/);

        const goodbye = closed(client);
        cli.child.kill("SIGINT");
        assert.equal((await goodbye).code, 1001);
        const result = await cli.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /shutting down/);
        assert.match(result.stdout, /closed 1001 Going Away \(0 open\)/);
      } finally {
        await stop(cli);
      }
    });

    test(
      "--broadcast relays each message to the other clients, not back to the sender",
      T,
      async () => {
        const { cli, url } = await startServe(["--broadcast"]);
        try {
          const a = await connectClient(impl, url);
          const b = await connectClient(impl, url);
          const c = await connectClient(impl, url);
          await cli.waitFor(/\(3 open\)/);
          const echoedToA: string[] = [];
          a.on("message", (data) => echoedToA.push(data.toString()));
          const atB = nextMessage(b);
          const atC = nextMessage(c);
          a.send("to everyone else");
          assert.equal((await atB).text, "to everyone else");
          assert.equal((await atC).text, "to everyone else");
          // b answers; a hearing b (and never itself) proves the relay excludes the sender.
          const atA = nextMessage(a);
          b.send("reply");
          assert.equal((await atA).text, "reply");
          assert.deepEqual(echoedToA, ["reply"]);
          for (const client of [a, b, c]) client.close();
        } finally {
          assert.equal(await stop(cli), 0);
        }
      },
    );

    test("RFC 7692: --compress accepts permessage-deflate", T, async () => {
      const { cli, url } = await startServe(["--compress"]);
      try {
        const client = await connectClient(impl, url, { perMessageDeflate: true });
        assert.match(client.extensions, /permessage-deflate/);
        const reply = nextMessage(client);
        client.send("squeeze ".repeat(100));
        assert.equal((await reply).text, "squeeze ".repeat(100));
        client.close();
      } finally {
        assert.equal(await stop(cli), 0);
      }
    });
  });
}

describe("socketeer serve end to end with socketeer connect", () => {
  test("connect's piped line comes back from serve", T, async () => {
    const { cli, url } = await startServe([]);
    try {
      const result = await runCli(["connect", url, "--wait", "1"], { input: "round trip\n" });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, / < round trip$/m);
      await cli.waitFor(/closed 1000 Normal Closure \(0 open\)/);
    } finally {
      assert.equal(await stop(cli), 0);
    }
  });

  test("--tls-cert/--tls-key serve wss:// (connect --no-check talks to it)", T, async () => {
    const tls = tlsFiles();
    const { cli, url } = await startServe(["--tls-cert", tls.cert, "--tls-key", tls.key]);
    try {
      assert.match(url, /^wss:\/\//);
      const result = await runCli(["connect", url, "--no-check", "--wait", "1"], {
        input: "over tls\n",
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, / < over tls$/m);
      const client = await connectClient("ws", url, { rejectUnauthorized: false });
      const reply = nextMessage(client);
      client.send("ws over tls");
      assert.equal((await reply).text, "ws over tls");
      client.close();
    } finally {
      assert.equal(await stop(cli), 0);
    }
  });
});

describe("socketeer serve --static", () => {
  let root: string;
  let outside: string;
  before(() => {
    const base = mkdtempSync(join(tmpdir(), "socketeer-static-"));
    root = join(base, "site");
    outside = join(base, "secret.txt");
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "index.html"), "<h1>home</h1>");
    writeFileSync(join(root, "sub", "index.html"), "<h1>sub</h1>");
    writeFileSync(join(root, "app.js"), "console.log(1)");
    writeFileSync(outside, "top secret");
    symlinkSync(outside, join(root, "leak.txt"));
  });
  after(() => rmSync(join(root, ".."), { recursive: true, force: true }));

  test(
    "serves files and WebSocket on the same port; path traversal and symlink escapes get 404",
    T,
    async () => {
      const { cli, url, port } = await startServe(["--static", root]);
      try {
        await cli.waitFor(new RegExp(`serving .* at http://127\\.0\\.0\\.1:${port}/`));
        const home = await fetchRaw(port, "/");
        assert.equal(home.res.statusCode, 200);
        assert.equal(home.body, "<h1>home</h1>");
        assert.match(home.res.headers["content-type"] ?? "", /^text\/html/);
        const js = await fetchRaw(port, "/app.js?v=1");
        assert.equal(js.body, "console.log(1)");
        assert.match(js.res.headers["content-type"] ?? "", /^text\/javascript/);
        assert.equal((await fetchRaw(port, "/sub/")).body, "<h1>sub</h1>");
        assert.equal((await fetchRaw(port, "/app.js", "HEAD")).res.statusCode, 200);
        assert.equal((await fetchRaw(port, "/app.js", "POST")).res.statusCode, 405);
        assert.equal((await fetchRaw(port, "/missing.html")).res.statusCode, 404);

        for (const path of [
          "/../secret.txt",
          "/sub/../../secret.txt",
          "/%2e%2e/secret.txt",
          "/..%2fsecret.txt",
          "/leak.txt",
          "/%00",
        ]) {
          const { res, body } = await fetchRaw(port, path);
          assert.equal(res.statusCode, 404, path);
          assert.doesNotMatch(body, /top secret/, path);
        }

        const client = await connectClient("socketeer", url);
        const reply = nextMessage(client);
        client.send("same port");
        assert.equal((await reply).text, "same port");
        client.close();
      } finally {
        assert.equal(await stop(cli), 0);
      }
    },
  );

  test("without --static, plain HTTP gets 426 Upgrade Required", T, async () => {
    const { cli, port } = await startServe([]);
    try {
      const { res } = await fetchRaw(port, "/");
      assert.equal(res.statusCode, 426);
      assert.equal(res.headers.upgrade, "websocket");
    } finally {
      assert.equal(await stop(cli), 0);
    }
  });
});

describe("socketeer serve errors", () => {
  test("a port in use is reported and exits 1", T, async () => {
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const port = (blocker.address() as { port: number }).port;
      const result = await runCli(["serve", "--port", String(port), "--host", "127.0.0.1"]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`port ${port} is already in use`));
    } finally {
      blocker.close();
    }
  });

  test(
    "bad ports, a missing --tls-key and unknown flags are usage errors (exit 2)",
    T,
    async () => {
      const cases: [string[], RegExp][] = [
        [["serve", "--port", "99999"], /--port must be a whole number from 0 to 65535/],
        [["serve", "--port", "eighty"], /--port must be a whole number/],
        [["serve", "-p", "-1"], /--port must be a whole number/],
        [
          ["serve", "--tls-cert", tlsFiles().cert],
          /--tls-cert and --tls-key must be given together/,
        ],
        [["serve", "--echo", "--broadcast"], /choose one of --echo or --broadcast/],
        [["serve", "--verbos"], /unknown option --verbos \(did you mean --verbose\?\)/],
        [["serve", "extra"], /unexpected argument "extra"/],
      ];
      for (const [args, message] of cases) {
        const result = await runCli(args);
        assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, message);
        assert.match(result.stderr, /socketeer serve --help/);
      }
    },
  );

  test("a missing --static directory exits 1", T, async () => {
    const result = await runCli([
      "serve",
      "--port",
      "0",
      "--static",
      join(tmpdir(), "no-such-dir-socketeer"),
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--static directory not found/);
  });
});
