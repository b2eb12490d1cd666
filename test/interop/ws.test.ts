/**
 * Interop with the real `ws` package, both directions: socketeer client ↔ ws server and ws client
 * ↔ socketeer server, with and without permessage-deflate. Messages of every kind and size, fragmented
 * sends, ping/pong payloads, every valid close code with a reason, subprotocols and headers.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { WebSocketServer as WsServer, WebSocket as WsWebSocket } from "ws";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import { until, waitEvent } from "../helpers/api-util.js";

/** What both libraries' sockets have in common, as these tests use it. */
interface Peer extends EventEmitter {
  readonly protocol: string;
  readonly extensions: string;
  readonly readyState: number;
  send(
    data: unknown,
    options?: { binary?: boolean; fin?: boolean; compress?: boolean },
    callback?: (error?: Error | null) => void,
  ): void;
  ping(data?: unknown): void;
  pong(data?: unknown): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** What both libraries' servers have in common, as these tests use it. */
interface AnyServer extends EventEmitter {
  clients: Set<unknown>;
  address(): AddressInfo | string | null;
  close(callback?: () => void): void;
}

type Direction = "socketeer client → ws server" | "ws client → socketeer server";
const DIRECTIONS: Direction[] = ["socketeer client → ws server", "ws client → socketeer server"];

interface OpenOptions {
  deflate: boolean;
  protocols?: string[];
  headers?: Record<string, string>;
  /** Echo every message back with its type (default true). */
  echo?: boolean;
}

interface Connection {
  client: Peer;
  server: Peer;
  request: IncomingMessage;
  upgrade: IncomingMessage;
  close(): Promise<void>;
}

/** Starts the server side of `direction`, connects the client side, resolves once both are open. */
async function open(direction: Direction, options: OpenOptions): Promise<Connection> {
  const serverOptions = {
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: options.deflate,
    handleProtocols: (offered: Set<string>) => {
      // Pick the last offered protocol, so "first offered" defaults cannot pass by accident.
      const list = [...offered];
      return list.length > 0 ? list[list.length - 1]! : false;
    },
  };
  const ourServer = direction === "ws client → socketeer server";
  const wss: AnyServer = await new Promise((resolve, reject) => {
    const server: AnyServer = ourServer
      ? (new WebSocketServer(serverOptions, () => resolve(server)) as unknown as AnyServer)
      : (new WsServer(serverOptions, () => resolve(server)) as unknown as AnyServer);
    server.once("error", reject);
  });
  wss.on("headers", (lines: string[]) => lines.push("X-Interop-Server: hello"));
  const port = (wss.address() as AddressInfo).port;
  const connection = waitEvent<[Peer, IncomingMessage]>(wss, "connection");
  const clientOptions = { perMessageDeflate: options.deflate, headers: options.headers ?? {} };
  const url = `ws://127.0.0.1:${port}/interop`;
  const client = (ourServer
    ? new WsWebSocket(url, options.protocols ?? [], clientOptions)
    : new WebSocket(url, options.protocols ?? [], clientOptions)) as unknown as Peer;
  const upgrade = waitEvent<[IncomingMessage]>(client, "upgrade");
  const [[server, request]] = await Promise.all([connection, waitEvent(client, "open")]);
  if (options.echo !== false) {
    server.on("message", (data: Buffer, isBinary: boolean) =>
      server.send(data, { binary: isBinary }),
    );
  }
  return {
    client,
    server,
    request,
    upgrade: (await upgrade)[0],
    close: async () => {
      client.terminate();
      for (const socket of wss.clients) (socket as Peer).terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Sends `data` from the client and resolves with the echo. */
function roundTrip(
  conn: Connection,
  data: unknown,
  options: { binary?: boolean } = {},
): Promise<[Buffer, boolean]> {
  const echoed = waitEvent<[Buffer, boolean]>(conn.client, "message", 50_000);
  conn.client.send(data, options);
  return echoed;
}

const sha = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

const CLOSE_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
];

for (const direction of DIRECTIONS) {
  for (const deflate of [false, true]) {
    describe(`${direction}, permessage-deflate ${deflate ? "on" : "off"}`, () => {
      test("the extension is negotiated as configured", { timeout: 10_000 }, async () => {
        const conn = await open(direction, { deflate });
        try {
          const expected = deflate ? "permessage-deflate" : "";
          assert.equal(conn.client.extensions, expected);
          assert.equal(conn.server.extensions, expected);
        } finally {
          await conn.close();
        }
      });

      test("text, binary and empty messages round-trip with their type", {
        timeout: 10_000,
      }, async () => {
        const conn = await open(direction, { deflate });
        try {
          const cases: Array<[unknown, { binary?: boolean }, Buffer, boolean]> = [
            ["héllo wörld ✓", {}, Buffer.from("héllo wörld ✓"), false],
            [
              Buffer.from([0, 1, 2, 253, 254, 255]),
              {},
              Buffer.from([0, 1, 2, 253, 254, 255]),
              true,
            ],
            ["", {}, Buffer.alloc(0), false],
            [Buffer.alloc(0), {}, Buffer.alloc(0), true],
            ["text as binary", { binary: true }, Buffer.from("text as binary"), true],
          ];
          for (const [data, options, bytes, isBinary] of cases) {
            const [echo, echoIsBinary] = await roundTrip(conn, data, options);
            assert.deepEqual(echo, bytes);
            assert.equal(echoIsBinary, isBinary);
          }
        } finally {
          await conn.close();
        }
      });

      test("64 KiB and 16 MiB messages round-trip intact", { timeout: 90_000 }, async () => {
        const conn = await open(direction, { deflate });
        try {
          const text = "0123456789abcdef".repeat(4096); // 64 KiB of text
          const [textEcho, textIsBinary] = await roundTrip(conn, text);
          assert.equal(textIsBinary, false);
          assert.equal(textEcho.toString(), text);

          const medium = randomBytes(64 * 1024);
          const [mediumEcho] = await roundTrip(conn, medium);
          assert.equal(sha(mediumEcho), sha(medium));

          // 16 MiB: half random (incompressible), half repetitive (compressible).
          const large = Buffer.concat([
            randomBytes(8 * 1024 * 1024),
            Buffer.alloc(8 * 1024 * 1024, "socketeer"),
          ]);
          const [largeEcho, largeIsBinary] = await roundTrip(conn, large);
          assert.equal(largeIsBinary, true);
          assert.equal(largeEcho.length, large.length);
          assert.equal(sha(largeEcho), sha(large));
        } finally {
          await conn.close();
        }
      });

      test("RFC 6455 §5.4: fragmented sends are reassembled by the other library", {
        timeout: 10_000,
      }, async () => {
        const conn = await open(direction, { deflate, echo: false });
        try {
          const atServer = waitEvent<[Buffer, boolean]>(conn.server, "message");
          conn.client.send("frag", { fin: false });
          conn.client.send("men", { fin: false });
          conn.client.send("ted ✓", { fin: true });
          const [data, isBinary] = await atServer;
          assert.equal(data.toString(), "fragmented ✓");
          assert.equal(isBinary, false);

          const atClient = waitEvent<[Buffer, boolean]>(conn.client, "message");
          const part = randomBytes(20_000);
          conn.server.send(part, { fin: false });
          conn.server.send(part, { fin: false });
          conn.server.send(part, { fin: true });
          const [back, backIsBinary] = await atClient;
          assert.equal(backIsBinary, true);
          assert.deepEqual(back, Buffer.concat([part, part, part]));
        } finally {
          await conn.close();
        }
      });

      test("RFC 6455 §5.5.2/§5.5.3: ping and pong payloads both ways", {
        timeout: 10_000,
      }, async () => {
        const conn = await open(direction, { deflate });
        try {
          const serverPing = waitEvent<[Buffer]>(conn.server, "ping");
          const clientPong = waitEvent<[Buffer]>(conn.client, "pong");
          conn.client.ping("from client");
          assert.equal((await serverPing)[0].toString(), "from client");
          assert.equal((await clientPong)[0].toString(), "from client");

          const clientPing = waitEvent<[Buffer]>(conn.client, "ping");
          const serverPong = waitEvent<[Buffer]>(conn.server, "pong");
          const payload = Buffer.alloc(125, 0xab);
          conn.server.ping(payload);
          assert.deepEqual((await clientPing)[0], payload);
          assert.deepEqual((await serverPong)[0], payload);

          const unsolicited = waitEvent<[Buffer]>(conn.server, "pong");
          conn.client.pong("unsolicited");
          assert.equal((await unsolicited)[0].toString(), "unsolicited");
        } finally {
          await conn.close();
        }
      });

      test("subprotocols and custom headers", { timeout: 10_000 }, async () => {
        const conn = await open(direction, {
          deflate,
          protocols: ["chat.v1", "chat.v2"],
          headers: { "X-Interop-Client": "from client" },
        });
        try {
          assert.equal(conn.client.protocol, "chat.v2");
          assert.equal(conn.server.protocol, "chat.v2");
          assert.equal(conn.request.headers["x-interop-client"], "from client");
          assert.equal(conn.request.url, "/interop");
          assert.equal(conn.upgrade.headers["x-interop-server"], "hello");
        } finally {
          await conn.close();
        }
      });
    });
  }

  describe(`${direction}: close codes`, () => {
    for (const initiator of ["client", "server"] as const) {
      test(`RFC 6455 §7.4.1: every valid close code with a reason, ${initiator} closing`, {
        timeout: 30_000,
      }, async () => {
        for (const code of CLOSE_CODES) {
          const conn = await open(direction, { deflate: false, echo: false });
          try {
            const closing = initiator === "client" ? conn.client : conn.server;
            const peer = initiator === "client" ? conn.server : conn.client;
            const atPeer = waitEvent<[number, Buffer]>(peer, "close");
            const atCloser = waitEvent<[number, Buffer]>(closing, "close");
            const reason = `reason for ${code} ✓`;
            closing.close(code, reason);
            const [peerCode, peerReason] = await atPeer;
            const [closerCode] = await atCloser;
            assert.equal(peerCode, code, `peer sees ${code}`);
            assert.equal(peerReason.toString(), reason, `peer sees the reason of ${code}`);
            assert.equal(closerCode, code, `closing side sees ${code} echoed`);
          } finally {
            await conn.close();
          }
        }
      });
    }

    test("the closing side gets its reason back in the echo, as between two ws peers", {
      timeout: 10_000,
    }, async () => {
      for (const initiator of ["client", "server"] as const) {
        const conn = await open(direction, { deflate: false, echo: false });
        try {
          const closing = initiator === "client" ? conn.client : conn.server;
          const atCloser = waitEvent<[number, Buffer]>(closing, "close");
          closing.close(4321, "echo me");
          const [code, reason] = await atCloser;
          assert.deepEqual([code, reason.toString()], [4321, "echo me"], `${initiator} closing`);
        } finally {
          await conn.close();
        }
      }
    });

    test("close() without a code: both sides see 1005", { timeout: 10_000 }, async () => {
      const conn = await open(direction, { deflate: false, echo: false });
      try {
        const atServer = waitEvent<[number]>(conn.server, "close");
        const atClient = waitEvent<[number]>(conn.client, "close");
        conn.client.close();
        assert.equal((await atServer)[0], 1005);
        assert.equal((await atClient)[0], 1005);
        await until(() => conn.client.readyState === 3 && conn.server.readyState === 3);
      } finally {
        await conn.close();
      }
    });
  });
}
