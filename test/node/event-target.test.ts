/**
 * The WHATWG surface of a socket, as ws 8 provides it: addEventListener/removeEventListener (with
 * `once`, duplicates ignored, `handleEvent` objects), the onopen/onmessage/onclose/onerror
 * attributes, and the event objects (`type`, `target`, `data`, `code`, `reason`, `wasClean`,
 * `error`, `message`).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { describe, test } from "node:test";
import {
  CloseEvent,
  ErrorEvent,
  MessageEvent,
  WebSocket,
  WebSocketEvent,
} from "../../src/index.js";
import {
  closePair,
  connectPair,
  delay,
  startServer,
  stopServer,
  until,
  waitEvent,
} from "../helpers/api-util.js";

const T = { timeout: 10_000 };

/** Event objects are typed loosely here: the test checks their fields itself. */
type AnyEvent = WebSocketEvent & {
  data?: unknown;
  code?: number;
  reason?: string;
  wasClean?: boolean;
  error?: unknown;
  message?: string;
};

describe("addEventListener", () => {
  test("open, message, close: event objects with type and target", T, async () => {
    const srv = await startServer();
    srv.wss.on("connection", (ws) => {
      ws.send("text message");
      ws.send(Buffer.from([1, 2, 3]));
      ws.close(4000, "done here");
    });
    const client = new WebSocket(srv.url);
    const events: AnyEvent[] = [];
    const record = (event: AnyEvent): void => {
      events.push(event);
    };
    client.addEventListener("open", record);
    client.addEventListener("message", record);
    client.addEventListener("close", record);
    try {
      await waitEvent(client, "close");
      assert.deepEqual(
        events.map((e) => e.type),
        ["open", "message", "message", "close"],
      );
      for (const event of events) {
        assert.equal(event.target, client, `${event.type}.target`);
        assert.ok(event instanceof WebSocketEvent);
      }
      const [, text, binary, close] = events as [AnyEvent, AnyEvent, AnyEvent, AnyEvent];
      assert.ok(text instanceof MessageEvent);
      assert.equal(text.data, "text message", "text arrives as a string");
      assert.ok(Buffer.isBuffer(binary.data), "binary as a Buffer with binaryType nodebuffer");
      assert.deepEqual(binary.data, Buffer.from([1, 2, 3]));
      assert.ok(close instanceof CloseEvent);
      assert.equal(close.code, 4000);
      assert.equal(close.reason, "done here");
      assert.equal(typeof close.reason, "string");
      assert.equal(close.wasClean, true);
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("message data follows binaryType: arraybuffer gives an ArrayBuffer", T, async () => {
    const pair = await connectPair();
    try {
      pair.client.binaryType = "arraybuffer";
      const got = new Promise<AnyEvent>((resolve) =>
        pair.client.addEventListener("message", resolve),
      );
      pair.server.send(Buffer.from([7, 7, 7]));
      const event = await got;
      assert.ok(event.data instanceof ArrayBuffer);
      assert.deepEqual(Buffer.from(event.data), Buffer.from([7, 7, 7]));
    } finally {
      await closePair(pair);
    }
  });

  test("once: true fires a listener only for the first event", T, async () => {
    const pair = await connectPair();
    try {
      let onceCalls = 0;
      let allCalls = 0;
      pair.client.addEventListener("message", () => onceCalls++, { once: true });
      pair.client.addEventListener("message", () => allCalls++);
      pair.server.send("one");
      pair.server.send("two");
      pair.server.send("three");
      await until(() => allCalls === 3);
      assert.equal(onceCalls, 1);
    } finally {
      await closePair(pair);
    }
  });

  test("registering the same listener twice has no effect (DOM rule)", T, async () => {
    const pair = await connectPair();
    try {
      let calls = 0;
      const listener = (): void => {
        calls++;
      };
      pair.client.addEventListener("message", listener);
      pair.client.addEventListener("message", listener);
      pair.client.addEventListener("message", listener, { once: true });
      pair.server.send("a");
      pair.server.send("b");
      await until(() => calls >= 2);
      await delay(50);
      assert.equal(calls, 2);
    } finally {
      await closePair(pair);
    }
  });

  test("objects with handleEvent are called with the event", T, async () => {
    const pair = await connectPair();
    try {
      const handler = {
        received: [] as unknown[],
        self: null as unknown,
        handleEvent(event: AnyEvent): void {
          this.received.push(event.data);
          this.self = this;
        },
      };
      pair.client.addEventListener("message", handler);
      pair.server.send("for the object");
      await until(() => handler.received.length === 1);
      assert.deepEqual(handler.received, ["for the object"]);
      assert.equal(handler.self, handler);
      pair.client.removeEventListener("message", handler);
      pair.server.send("not delivered");
      await delay(100);
      assert.equal(handler.received.length, 1);
    } finally {
      await closePair(pair);
    }
  });

  test("removeEventListener removes it, including a once listener before it fired", T, async () => {
    const pair = await connectPair();
    try {
      let plain = 0;
      let onceOnly = 0;
      let kept = 0;
      const plainListener = (): void => {
        plain++;
      };
      const onceListener = (): void => {
        onceOnly++;
      };
      pair.client.addEventListener("message", plainListener);
      pair.client.addEventListener("message", onceListener, { once: true });
      pair.client.addEventListener("message", () => kept++);
      pair.client.removeEventListener("message", plainListener);
      pair.client.removeEventListener("message", onceListener);
      // Removing what was never added is harmless.
      pair.client.removeEventListener("message", () => {});
      pair.server.send("x");
      await until(() => kept === 1);
      await delay(50);
      assert.equal(plain, 0);
      assert.equal(onceOnly, 0);
      assert.equal(pair.client.listenerCount("message"), 1);
    } finally {
      await closePair(pair);
    }
  });

  test("unknown event types are ignored, as in ws", T, async () => {
    const pair = await connectPair();
    try {
      pair.client.addEventListener("ping" as "open", () => {});
      pair.client.addEventListener("nonsense" as "open", () => {});
      assert.equal(pair.client.listenerCount("ping"), 0);
      assert.equal(pair.client.listenerCount("nonsense"), 0);
    } finally {
      await closePair(pair);
    }
  });

  test("error events carry error and message; the close after it is not clean", T, async () => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const events: AnyEvent[] = [];
    client.addEventListener("error", (e) => events.push(e));
    client.addEventListener("close", (e) => events.push(e));
    await waitEvent(client, "close");
    assert.deepEqual(
      events.map((e) => e.type),
      ["error", "close"],
    );
    const [error, close] = events as [AnyEvent, AnyEvent];
    assert.ok(error instanceof ErrorEvent);
    assert.ok(error.error instanceof Error);
    assert.equal(error.message, (error.error as Error).message);
    assert.equal((error.error as NodeJS.ErrnoException).code, "ECONNREFUSED");
    assert.equal(error.target, client);
    assert.equal(close.code, 1006);
    assert.equal(close.reason, "");
    assert.equal(close.wasClean, false);
  });

  test("wasClean is false after terminate()", T, async () => {
    const pair = await connectPair();
    try {
      const closed = new Promise<AnyEvent>((resolve) =>
        pair.server.addEventListener("close", resolve),
      );
      pair.client.terminate();
      const event = await closed;
      assert.equal(event.code, 1006);
      assert.equal(event.wasClean, false);
    } finally {
      await closePair(pair);
    }
  });

  test("EventEmitter listeners and DOM listeners coexist", T, async () => {
    const pair = await connectPair();
    try {
      const seen: string[] = [];
      pair.client.on("message", (data: Buffer) => seen.push(`on:${data.toString()}`));
      pair.client.addEventListener("message", (e: AnyEvent) => seen.push(`dom:${String(e.data)}`));
      pair.server.send("hi");
      await until(() => seen.length === 2);
      assert.deepEqual(seen, ["on:hi", "dom:hi"]);
    } finally {
      await closePair(pair);
    }
  });
});

describe("on-event attributes", () => {
  test(
    "onopen, onmessage, onclose receive event objects; getters return the handler",
    T,
    async () => {
      const srv = await startServer();
      srv.wss.on("connection", (ws) => {
        ws.send("hello");
        ws.close(1000, "bye");
      });
      const client = new WebSocket(srv.url);
      const seen: string[] = [];
      const onopen = (e: AnyEvent): void => {
        seen.push(`open:${e.type}:${e.target === client}`);
      };
      const onmessage = (e: AnyEvent): void => {
        seen.push(`message:${String(e.data)}`);
      };
      const onclose = (e: AnyEvent): void => {
        seen.push(`close:${e.code}:${e.reason}:${e.wasClean}`);
      };
      assert.equal(client.onopen, null);
      client.onopen = onopen;
      client.onmessage = onmessage;
      client.onclose = onclose;
      assert.equal(client.onopen, onopen);
      assert.equal(client.onmessage, onmessage);
      assert.equal(client.onclose, onclose);
      try {
        await waitEvent(client, "close");
        assert.deepEqual(seen, ["open:open:true", "message:hello", "close:1000:bye:true"]);
      } finally {
        client.terminate();
        await stopServer(srv.wss);
      }
    },
  );

  test("setting an attribute replaces the previous handler; null removes it", T, async () => {
    const pair = await connectPair();
    try {
      const seen: string[] = [];
      pair.client.onmessage = () => seen.push("first");
      pair.client.onmessage = () => seen.push("second");
      pair.server.send("a");
      await until(() => seen.length >= 1);
      pair.client.onmessage = null;
      assert.equal(pair.client.onmessage, null);
      pair.server.send("b");
      await delay(100);
      assert.deepEqual(seen, ["second"]);
      assert.equal(pair.client.listenerCount("message"), 0);
    } finally {
      await closePair(pair);
    }
  });

  test("an attribute and addEventListener of the same function both fire", T, async () => {
    const pair = await connectPair();
    try {
      let calls = 0;
      const handler = (): void => {
        calls++;
      };
      pair.client.onmessage = handler;
      pair.client.addEventListener("message", handler);
      pair.server.send("x");
      await until(() => calls === 2);
      // removeEventListener leaves the attribute alone.
      pair.client.removeEventListener("message", handler);
      assert.equal(pair.client.onmessage, handler);
    } finally {
      await closePair(pair);
    }
  });

  test("onerror receives an ErrorEvent", T, async () => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const got = new Promise<AnyEvent>((resolve) => {
      client.onerror = resolve;
    });
    const event = await got;
    assert.ok(event instanceof ErrorEvent);
    assert.equal(event.type, "error");
    assert.ok(event.error instanceof Error);
    assert.equal(typeof event.message, "string");
    await until(() => client.readyState === WebSocket.CLOSED);
  });

  test("non-function values clear the attribute", T, async () => {
    const pair = await connectPair();
    try {
      pair.client.onclose = () => {};
      pair.client.onclose = "not a function" as never;
      assert.equal(pair.client.onclose, null);
    } finally {
      await closePair(pair);
    }
  });
});
