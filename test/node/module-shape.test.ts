/**
 * The published module's shape, from the BUILT package (run `npm run build` first; `npm test`
 * does): `require("socketeer")` is the WebSocket class with the API attached, as `require("ws")`
 * is; the ESM entry has the class as default plus named exports; and both entries hand out the
 * same class objects (one copy of every class, no dual-package hazard).
 *
 * The package is reached by its own name (Node's package self-reference, via `exports`), so the
 * `exports` map itself is under test. ESM runs in a child process: this file is CommonJS.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";

const root = resolve(__dirname, "..", "..");
const requireHere = createRequire(__filename);

interface PackageJson {
  name: string;
  main: string;
  types: string;
  exports: {
    ".": {
      import: { types: string; default: string };
      require: { types: string; default: string };
    };
  };
}
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;

/** Runs an ESM snippet in a child process with the package root as cwd; returns its stdout JSON. */
function runModule(source: string): unknown {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", source], {
    cwd: root,
    encoding: "utf8",
    timeout: 15_000,
  });
  return JSON.parse(out.trim().split("\n").at(-1) ?? "null");
}

/** The CommonJS entry as an app sees it. */
interface CjsEntry {
  (address: string): unknown;
  WebSocket: unknown;
  WebSocketServer: unknown;
  Server: unknown;
  createWebSocketStream: unknown;
  CONNECTING: number;
  OPEN: number;
  CLOSING: number;
  CLOSED: number;
}

describe("module shape (built package)", () => {
  test("the build output named by package.json exists", () => {
    const entries = pkg.exports["."];
    for (const file of [
      pkg.main,
      pkg.types,
      entries.import.default,
      entries.import.types,
      entries.require.default,
      entries.require.types,
    ]) {
      assert.ok(existsSync(join(root, file)), `${file} is missing: run \`npm run build\``);
    }
    assert.equal(pkg.name, "socketeer");
  });

  test('require("socketeer") is the WebSocket class with the API attached, as require("ws")', () => {
    const mod = requireHere("socketeer") as CjsEntry;
    assert.equal(typeof mod, "function");
    assert.equal(mod.WebSocket, mod);
    assert.equal(typeof mod.WebSocketServer, "function");
    assert.equal(mod.Server, mod.WebSocketServer);
    assert.equal(typeof mod.createWebSocketStream, "function");
    assert.deepEqual([mod.CONNECTING, mod.OPEN, mod.CLOSING, mod.CLOSED], [0, 1, 2, 3]);
    // Same file as the one the exports map names.
    assert.equal(mod, requireHere(join(root, pkg.exports["."].require.default)));
    type SocketClass = new (address: null) => { readyState: number; OPEN: number };
    const socket = new (mod.WebSocket as unknown as SocketClass)(null);
    assert.equal(socket.readyState, 0);
    assert.equal(socket.OPEN, 1);
  });

  test("ESM: default and named imports, the same class objects as require()", {
    timeout: 20_000,
  }, () => {
    const result = runModule(`
      import WebSocket, { WebSocketServer, createWebSocketStream, WebSocket as W, Server } from "socketeer";
      import * as ns from "socketeer";
      import { createRequire } from "node:module";
      const cjs = createRequire(import.meta.url)("socketeer");
      console.log(JSON.stringify({
        defaultIsClass: typeof WebSocket === "function",
        namedIsDefault: W === WebSocket,
        serverIsFunction: typeof WebSocketServer === "function",
        serverAlias: Server === WebSocketServer,
        streamIsFunction: typeof createWebSocketStream === "function",
        sameClass: cjs === WebSocket,
        sameServer: cjs.WebSocketServer === WebSocketServer,
        sameStream: cjs.createWebSocketStream === createWebSocketStream,
        statics: [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED],
        named: ["WebSocket", "WebSocketServer", "Server", "createWebSocketStream", "default"].filter((k) => !(k in ns)),
      }));
    `);
    assert.deepEqual(result, {
      defaultIsClass: true,
      namedIsDefault: true,
      serverIsFunction: true,
      serverAlias: true,
      streamIsFunction: true,
      sameClass: true,
      sameServer: true,
      sameStream: true,
      statics: [0, 1, 2, 3],
      named: [],
    });
  });

  test("dynamic import() from CommonJS gives the same class as require()", {
    timeout: 20_000,
  }, () => {
    const out = execFileSync(
      process.execPath,
      [
        "-e",
        `import("socketeer").then((m) => {
           const cjs = require("socketeer");
           console.log(JSON.stringify([m.default === cjs, m.WebSocket === cjs, m.WebSocketServer === cjs.WebSocketServer]));
         });`,
      ],
      { cwd: root, encoding: "utf8", timeout: 15_000 },
    );
    assert.deepEqual(JSON.parse(out.trim()), [true, true, true]);
  });

  test("an ESM server and a CommonJS client talk to each other", { timeout: 20_000 }, () => {
    const result = runModule(`
      import { WebSocketServer } from "socketeer";
      import { createRequire } from "node:module";
      const WebSocket = createRequire(import.meta.url)("socketeer");
      const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" }, () => {
        const client = new WebSocket("ws://127.0.0.1:" + wss.address().port);
        client.on("message", (data) => {
          console.log(JSON.stringify({ echoed: data.toString(), isSocket: client instanceof WebSocket }));
          client.terminate();
          for (const ws of wss.clients) ws.terminate();
          wss.close();
        });
        client.on("open", () => client.send("mixed"));
      });
      wss.on("connection", (ws) => ws.on("message", (data) => ws.send(data.toString())));
      setTimeout(() => { console.log("null"); process.exit(1); }, 10000).unref();
    `);
    assert.deepEqual(result, { echoed: "mixed", isSocket: true });
  });
});
