/**
 * The port-mode listener (`HandshakeServer`): it must hand `upgrade` the same request Node's http
 * server would, keep bytes that follow the head, and answer everything else (426, 400, 431, 408)
 * by itself, closing the connection each time.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { describe, test } from "node:test";
import { HandshakeServer } from "../../src/node/handshake-server.js";

const T = { timeout: 15_000 };

interface Upgrade {
  request: http.IncomingMessage;
  socket: net.Socket;
  head: Buffer;
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

async function closeServer(server: net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Sends `chunks` (with a pause between them) and resolves with the first upgrade seen. */
async function upgradeOn(
  server: net.Server,
  port: number,
  chunks: Array<string | Buffer>,
): Promise<{ upgrade: Upgrade; client: net.Socket }> {
  const seen = once(server, "upgrade") as Promise<[http.IncomingMessage, net.Socket, Buffer]>;
  const client = net.connect(port, "127.0.0.1");
  client.on("error", () => {});
  await once(client, "connect");
  for (const chunk of chunks) {
    client.write(chunk);
    if (chunks.length > 1) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const [request, socket, head] = await seen;
  return { upgrade: { request, socket, head }, client };
}

/** Sends `data` and collects everything until the server closes the connection. */
async function response(port: number, data: string | Buffer): Promise<string> {
  const client = net.connect(port, "127.0.0.1");
  client.on("error", () => {});
  const got: Buffer[] = [];
  client.on("data", (chunk: Buffer) => got.push(chunk));
  await once(client, "connect");
  client.write(data);
  await once(client, "close");
  return Buffer.concat(got).toString("latin1");
}

const KEY_LINES =
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n";

const HEADS = [
  `GET /chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n${KEY_LINES}\r\n`,
  `GET / HTTP/1.1\r\nhost: a\r\nUser-Agent: u1\r\nuser-agent: u2\r\n${KEY_LINES}Sec-WebSocket-Protocol: a\r\nsec-websocket-protocol:  b \t\r\nCookie: c=1\r\nCookie: d=2\r\nSet-Cookie: e\r\nSet-Cookie: f\r\nX-Empty:\r\n\r\n`,
  `GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n`,
];

describe("HandshakeServer", () => {
  test(
    "gives 'upgrade' the same request fields as Node's http server (differential)",
    T,
    async () => {
      const ours = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
      const node = http.createServer();
      const ourPort = await listen(ours);
      const nodePort = await listen(node);
      try {
        for (const head of HEADS) {
          const frame = Buffer.from([0x81, 0x80, 1, 2, 3, 4]);
          const a = await upgradeOn(ours, ourPort, [Buffer.concat([Buffer.from(head), frame])]);
          const b = await upgradeOn(node, nodePort, [Buffer.concat([Buffer.from(head), frame])]);
          for (const field of ["method", "url", "httpVersion", "httpVersionMajor"] as const) {
            assert.equal(a.upgrade.request[field], b.upgrade.request[field], field);
          }
          assert.deepEqual({ ...a.upgrade.request.headers }, { ...b.upgrade.request.headers });
          assert.deepEqual(a.upgrade.request.rawHeaders, b.upgrade.request.rawHeaders);
          assert.ok(a.upgrade.request instanceof http.IncomingMessage, "a real IncomingMessage");
          assert.equal(a.upgrade.request.socket, a.upgrade.socket);
          assert.ok(a.upgrade.head.equals(frame), "bytes after the head come as `head`");
          assert.ok(b.upgrade.head.equals(frame), "(Node agrees)");
          for (const side of [a, b]) {
            side.upgrade.socket.destroy();
            side.client.destroy();
          }
        }
      } finally {
        await Promise.all([closeServer(ours), closeServer(node)]);
      }
    },
  );

  test(
    "a head sent byte by byte, then frames: nothing is lost before the app reads",
    T,
    async () => {
      const server = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
      const port = await listen(server);
      try {
        const head = HEADS[0]!;
        const bytes = [...Buffer.from(head)].map((b) => Buffer.from([b]));
        const { upgrade, client } = await upgradeOn(server, port, bytes);
        assert.equal(upgrade.request.headers.upgrade, "websocket");
        assert.equal(upgrade.head.length, 0);
        client.write("after-the-head");
        // The app attaches its reader late (as an async verifyClient would).
        await new Promise((resolve) => setTimeout(resolve, 100));
        const got: Buffer[] = [];
        upgrade.socket.on("data", (chunk: Buffer) => got.push(chunk));
        for (let i = 0; i < 100 && Buffer.concat(got).length < 14; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(Buffer.concat(got).toString(), "after-the-head");
        upgrade.socket.destroy();
        client.destroy();
      } finally {
        await closeServer(server);
      }
    },
  );

  test(
    "RFC 9110 §15.5.22: a plain request gets 426 naming websocket, then the close",
    T,
    async () => {
      const server = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
      let upgrades = 0;
      server.on("upgrade", () => upgrades++);
      const port = await listen(server);
      try {
        const text = await response(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert.match(text, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
        assert.match(text, /\r\nUpgrade: websocket\r\n/);
        assert.match(text, /\r\n\r\nUpgrade Required$/);
        // An Upgrade header without the Connection token is not an upgrade either (as in Node).
        const noToken = await response(
          port,
          "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        );
        assert.match(noToken, /^HTTP\/1\.1 426 /);
        assert.equal(upgrades, 0);
      } finally {
        await closeServer(server);
      }
    },
  );

  test("RFC 9112: a malformed head gets 400 and a head over maxHeaderSize 431", T, async () => {
    const server = new HandshakeServer({
      headersTimeout: 5000,
      requestTimeout: 5000,
      maxHeaderSize: 1024,
    });
    const port = await listen(server);
    try {
      assert.match(await response(port, "GET / HTTP/1.1\r\nBad : x\r\n\r\n"), /^HTTP\/1\.1 400 /);
      assert.match(await response(port, "GET / HTTP/1.1\nHost: x\n\n\r\n\r\n"), /^HTTP\/1\.1 400 /);
      const big = `GET / HTTP/1.1\r\nX: ${"a".repeat(2000)}\r\n\r\n`;
      assert.match(await response(port, big), /^HTTP\/1\.1 431 /);
      // Never completed: cut as soon as it passes the limit, not buffered on.
      const endless = `GET / HTTP/1.1\r\nX: ${"a".repeat(1100)}`;
      assert.match(await response(port, endless), /^HTTP\/1\.1 431 /);
    } finally {
      await closeServer(server);
    }
  });

  test("a head not complete within headersTimeout gets 408 and the close", T, async () => {
    const server = new HandshakeServer({ headersTimeout: 200, requestTimeout: 0 });
    const port = await listen(server);
    try {
      const started = Date.now();
      const text = await response(port, "GET / HTTP/1.1\r\nHost: x\r\n");
      const elapsed = Date.now() - started;
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.ok(elapsed >= 190, `cut after ${elapsed} ms, before the timeout`);
    } finally {
      await closeServer(server);
    }
  });

  test("RFC 9110 §9.3.2: a HEAD request gets the 426 headers without a body", T, async () => {
    const server = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
    const port = await listen(server);
    try {
      const text = await response(port, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(text, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
      assert.match(text, /\r\nContent-Length: 16\r\n/, "the length a GET would get");
      assert.ok(text.endsWith("\r\n\r\n"), `no body after the head: ${JSON.stringify(text)}`);
    } finally {
      await closeServer(server);
    }
  });

  test("RFC 9110 §15.6.6: an HTTP/2 preface gets 505; a missing Host 400", T, async () => {
    const server = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
    const port = await listen(server);
    try {
      const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      assert.match(await response(port, preface), /^HTTP\/1\.1 505 /);
      assert.match(await response(port, `GET / HTTP/1.1\r\n${KEY_LINES}\r\n`), /^HTTP\/1\.1 400 /);
    } finally {
      await closeServer(server);
    }
  });

  test(
    "the request stream has ended: reading `req` cannot swallow the frames after the head",
    T,
    async () => {
      const server = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
      const port = await listen(server);
      try {
        const frame = Buffer.from("first-frame-bytes");
        const { upgrade, client } = await upgradeOn(server, port, [
          Buffer.concat([Buffer.from(HEADS[0]!), frame]),
        ]);
        // The "dump the request body" idiom an async verifyClient might use.
        upgrade.request.resume();
        await once(upgrade.request, "end");
        client.write("second");
        await new Promise((resolve) => setTimeout(resolve, 50));
        const got: Buffer[] = [upgrade.head];
        upgrade.socket.on("data", (chunk: Buffer) => got.push(chunk));
        for (let i = 0; i < 100 && Buffer.concat(got).length < frame.length + 6; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(Buffer.concat(got).toString(), "first-frame-bytessecond");
        upgrade.socket.destroy();
        client.destroy();
      } finally {
        await closeServer(server);
      }
    },
  );

  test(
    "a head dribbled a byte at a time is cut with 431 once it passes maxHeaderSize",
    T,
    async () => {
      const server = new HandshakeServer({
        headersTimeout: 10_000,
        requestTimeout: 10_000,
        maxHeaderSize: 256,
      });
      const port = await listen(server);
      const client = net.connect(port, "127.0.0.1");
      client.setNoDelay(true);
      client.on("error", () => {});
      const got: Buffer[] = [];
      client.on("data", (chunk: Buffer) => got.push(chunk));
      let closed = false;
      client.on("close", () => {
        closed = true;
      });
      try {
        await once(client, "connect");
        const head = Buffer.from(`GET / HTTP/1.1\r\nHost: h\r\nX: ${"a".repeat(400)}`);
        let sent = 0;
        for (; sent < head.length && !closed && got.length === 0; sent++) {
          client.write(head.subarray(sent, sent + 1));
          await new Promise((resolve) => setImmediate(resolve));
        }
        for (let i = 0; i < 200 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
        assert.match(Buffer.concat(got).toString("latin1"), /^HTTP\/1\.1 431 /);
        assert.ok(closed, "the connection was closed");
        assert.ok(sent <= 256 + 64, `cut near the limit, after ${sent} bytes`);
      } finally {
        client.destroy();
        await closeServer(server);
      }
    },
  );

  test("a peer that resets mid-head leaves no state and no error behind", T, async () => {
    const server = new HandshakeServer({ headersTimeout: 5000, requestTimeout: 5000 });
    const port = await listen(server);
    const client = net.connect(port, "127.0.0.1");
    client.on("error", () => {});
    await once(client, "connect");
    client.write("GET / HTTP/1.1\r\nHost");
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    try {
      assert.equal(server.pendingHeads, 0);
    } finally {
      await closeServer(server);
    }
  });
});
