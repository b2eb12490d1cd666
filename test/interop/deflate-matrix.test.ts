// permessage-deflate against the real ws package with every combination of the four RFC 7692
// parameters, both directions: our server with a ws client, and our client with a ws server.
// Each pairing negotiates, then exchanges compressible and incompressible messages in a row
// (so context takeover, or its absence, is exercised across messages).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import WS, { WebSocketServer as WsServer } from "ws";
import { WebSocket, WebSocketServer } from "../../src/index.js";

interface Combo {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | undefined;
}

const combos: Combo[] = [];
for (const serverNoContextTakeover of [false, true]) {
  for (const clientNoContextTakeover of [false, true]) {
    for (const serverMaxWindowBits of [undefined, 10]) {
      for (const clientMaxWindowBits of [undefined, 11]) {
        combos.push({
          serverNoContextTakeover,
          clientNoContextTakeover,
          serverMaxWindowBits,
          clientMaxWindowBits,
        });
      }
    }
  }
}

/** Options with the undefined window sizes left out (exactOptionalPropertyTypes). */
function deflateOptions(combo: Combo) {
  return {
    threshold: 0,
    serverNoContextTakeover: combo.serverNoContextTakeover,
    clientNoContextTakeover: combo.clientNoContextTakeover,
    ...(combo.serverMaxWindowBits === undefined
      ? {}
      : { serverMaxWindowBits: combo.serverMaxWindowBits }),
    ...(combo.clientMaxWindowBits === undefined
      ? {}
      : { clientMaxWindowBits: combo.clientMaxWindowBits }),
  };
}

const messages: Array<{ data: Buffer | string; binary: boolean }> = [
  { data: JSON.stringify({ user: "ada", text: "hello ".repeat(200) }), binary: false },
  { data: JSON.stringify({ user: "ada", text: "hello ".repeat(201) }), binary: false },
  { data: randomBytes(3000), binary: true },
  { data: "x".repeat(70_000), binary: false },
  { data: "", binary: false },
];

function same(received: unknown, expected: Buffer | string): boolean {
  return Buffer.from(received as Buffer).equals(
    Buffer.isBuffer(expected) ? expected : Buffer.from(expected),
  );
}

/** Sends every message and waits for their echoes. */
type Listener = (data: unknown, isBinary: boolean) => void;
interface Peer {
  send(data: Buffer | string, options: { binary: boolean }): unknown;
  onMessage(listener: Listener): void;
}

async function exchange(socket: Peer) {
  const echoes: Array<{ data: unknown; binary: boolean }> = [];
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${echoes.length} echoes`)), 10_000);
    socket.onMessage((data, isBinary) => {
      echoes.push({ data, binary: isBinary });
      if (echoes.length === messages.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  for (const m of messages) socket.send(m.data, { binary: m.binary });
  await done;
  for (const [i, m] of messages.entries()) {
    assert.equal(echoes[i]!.binary, m.binary, `message ${i} type`);
    assert.ok(same(echoes[i]!.data, m.data), `message ${i} intact`);
  }
}

function describe(combo: Combo): string {
  return `snct=${combo.serverNoContextTakeover} cnct=${combo.clientNoContextTakeover} smwb=${combo.serverMaxWindowBits ?? "-"} cmwb=${combo.clientMaxWindowBits ?? "-"}`;
}

// The little of each library the loop needs: both are ws 8 APIs, so one shape fits both sides.
interface EchoSocket {
  readonly extensions: string;
  send(data: unknown, options: { binary: boolean }): unknown;
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): unknown;
  once(event: "open" | "error", listener: (error?: Error) => void): unknown;
  terminate(): void;
}
interface EchoServer {
  readonly clients: Set<EchoSocket>;
  once(event: "listening", listener: () => void): unknown;
  on(event: "connection", listener: (socket: EchoSocket) => void): unknown;
  address(): unknown;
  close(callback: () => void): void;
}
type ServerClass = new (options: object) => EchoServer;
type ClientClass = new (url: string, options: object) => EchoSocket;

// Each direction: which side is socketeer.
const directions: Array<{ name: string; Server: ServerClass; Client: ClientClass }> = [
  {
    name: "our server with a ws client",
    Server: WebSocketServer as unknown as ServerClass,
    Client: WS as unknown as ClientClass,
  },
  {
    name: "our client with a ws server",
    Server: WsServer as unknown as ServerClass,
    Client: WebSocket as unknown as ClientClass,
  },
];

for (const { name, Server, Client } of directions) {
  test(`RFC 7692 §7: ${name}, every parameter combination`, { timeout: 60_000 }, async () => {
    for (const combo of combos) {
      const wss = new Server({
        port: 0,
        host: "127.0.0.1",
        perMessageDeflate: deflateOptions(combo),
      });
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      wss.on("connection", (s) => s.on("message", (d, b) => s.send(d, { binary: b })));
      const port = (wss.address() as AddressInfo).port;
      const client = new Client(`ws://127.0.0.1:${port}`, {
        perMessageDeflate: deflateOptions(combo),
      });
      try {
        await new Promise<void>((resolve, reject) => {
          client.once("open", () => resolve());
          client.once("error", (error) => reject(error));
        });
        assert.equal(client.extensions, "permessage-deflate", describe(combo));
        await exchange({
          send: (d, o) => client.send(d, o),
          onMessage: (l) => client.on("message", l),
        });
      } finally {
        client.terminate();
        for (const s of wss.clients) s.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
    }
  });
}
