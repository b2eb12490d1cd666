/**
 * The no-crash policy (reliability.md §1.18, §1.20; README "Differences from ws"): a peer can never
 * crash the process, and a throwing app handler neither disappears nor corrupts the parser.
 * Risky cases run in child processes (test/security/fixtures) so a crash is observed, not suffered.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { closeFrame, forgeFrame, Opcode, RawClient, RawServer } from "../helpers/index.js";
import { assertEchoes, type Fixture, runFixture } from "../helpers/sec-util.js";

const T = { timeout: 60_000 };
/** Whole-suite budget: generous, the machine is shared (each test has its own, tighter one). */
const SUITE = { timeout: 300_000 };

const fixtures: Fixture[] = [];
function start(name: string, args: string[]): Fixture {
  const fixture = runFixture(name, args);
  fixtures.push(fixture);
  return fixture;
}

describe("crash policy", SUITE, () => {
  after(() => {
    for (const fixture of fixtures) fixture.kill();
  });

  test(
    "1.18 protocol errors on sockets with no 'error' listener never kill the process",
    T,
    async () => {
      const server = start("crash-server.ts", ["no-error-listener"]);
      const port = Number((await server.line(/^PORT (\d+)$/, 30_000))[1]);
      const violations: Array<[name: string, frame: Buffer, code: number]> = [
        [
          "RSV2 set (engine.io CVE-2022-21676)",
          forgeFrame({ opcode: Opcode.TEXT, payload: "x", rsv2: true, mask: true }),
          1002,
        ],
        ["unmasked client frame", forgeFrame({ opcode: Opcode.TEXT, payload: "x" }), 1002],
        [
          "invalid UTF-8",
          forgeFrame({ opcode: Opcode.TEXT, payload: Buffer.from([0xc3, 0x28]), mask: true }),
          1007,
        ],
        [
          "over maxPayload",
          forgeFrame({ opcode: Opcode.BINARY, announcedLength: 2 ** 40, mask: true }),
          1009,
        ],
        [
          "1-byte close payload",
          forgeFrame({ opcode: Opcode.CLOSE, payload: Buffer.from([1]), mask: true }),
          1002,
        ],
      ];
      for (const [name, frame, code] of violations) {
        // Once after the handshake, once inside the handshake's own TCP write (the `head` bytes).
        for (const glued of [false, true]) {
          const raw = glued
            ? await RawClient.handshake(port, { append: frame })
            : await RawClient.open(port);
          try {
            assert.equal(raw.response.status, 101);
            if (!glued) raw.write(frame);
            const close = await raw.expectClose(5000);
            assert.equal(close.code, code, `${name}${glued ? " (in head)" : ""}`);
            await raw.waitForTcpEnd(5000);
          } finally {
            raw.destroy();
          }
        }
      }
      await assertEchoes(`ws://127.0.0.1:${port}`, { ms: 10_000 });
      server.send("quit");
      assert.equal(await server.exited(15_000), 0, server.stderr());
      assert.doesNotMatch(server.stderr(), /Uncaught|Error:/);
      assert.equal(server.lines.filter((l) => l === "CLOSE 1006").length, violations.length * 2);
    },
  );

  test(
    "1.18 client side: no 'error' listener, a masked server frame → close 1002 and a clean exit",
    T,
    async () => {
      const raw = await RawServer.listen();
      try {
        const client = start("crash-client.ts", [raw.url()]);
        const conn = await raw.acceptWebSocket(30_000);
        await client.line(/^OPEN$/, 10_000);
        conn.sendFrame({ opcode: Opcode.TEXT, payload: "masked by a server", mask: true });
        assert.equal((await conn.expectClose(5000)).code, 1002);
        conn.write(closeFrame(1002)); // answer, so the client can finish cleanly
        await client.line(/^CLOSE \d+$/, 10_000);
        // With nothing left to do, the process exits by itself: no crash, no handle left behind.
        assert.equal(await client.exited(15_000), 0, client.stderr());
        assert.doesNotMatch(client.stderr(), /Uncaught|Error:/);
      } finally {
        await raw.close();
      }
    },
  );

  test(
    "1.20 a throwing 'message' handler surfaces as an uncaught exception (as in ws)",
    T,
    async () => {
      const server = start("crash-server.ts", ["throwing-handler"]);
      const port = Number((await server.line(/^PORT (\d+)$/, 30_000))[1]);
      const raw = await RawClient.open(port);
      try {
        raw.sendFrame({ opcode: Opcode.TEXT, payload: "throw" });
        const code = await server.exited(15_000);
        assert.notEqual(code, 0, "the error was swallowed");
        assert.match(server.stderr(), /boom from message handler/);
      } finally {
        raw.destroy();
      }
    },
  );

  test(
    "1.20 when the app catches the throw, the parser keeps its place: later messages arrive once, in order",
    T,
    async () => {
      const server = start("crash-server.ts", ["throwing-handler-caught"]);
      const port = Number((await server.line(/^PORT (\d+)$/, 30_000))[1]);
      const raw = await RawClient.open(port);
      try {
        // Four messages in one TCP write: the throw happens in the middle of one parse loop.
        raw.write(
          Buffer.concat(
            ["one", "throw", "two", "three"].map((text) =>
              forgeFrame({ opcode: Opcode.TEXT, payload: text, mask: true }),
            ),
          ),
        );
        const echoes: string[] = [];
        for (let i = 0; i < 3; i++) echoes.push((await raw.nextFrame(5000)).payload.toString());
        assert.deepEqual(echoes, ["one", "two", "three"]);
        raw.sendFrame({ opcode: Opcode.TEXT, payload: "four" });
        assert.equal((await raw.nextFrame(5000)).payload.toString(), "four");
        await server.line(/^MESSAGE four$/, 5000); // stdout may lag behind the socket
        const messages = server.lines
          .filter((l) => l.startsWith("MESSAGE "))
          .map((l) => l.slice(8));
        assert.deepEqual(messages, ["one", "throw", "two", "three", "four"]);
        assert.deepEqual(
          server.lines.filter((l) => l.startsWith("CAUGHT")),
          ["CAUGHT boom from message handler"],
        );
      } finally {
        raw.destroy();
      }
      server.send("quit");
      assert.equal(await server.exited(15_000), 0, server.stderr());
    },
  );
});
