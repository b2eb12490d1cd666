/**
 * Plumbing for the hardening suite (test/security): servers on 127.0.0.1:0 with every connection
 * recorded from its first tick, an event recorder that checks the "safe" oracle of
 * reliability.md §0 (one `error` at most, one `close`, nothing after it), memory probes, healthy
 * echo checks that prove other connections are unaffected, deflate helpers for hand-made
 * compressed frames, and a runner for child-process fixtures.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as zlib from "node:zlib";
import { type ServerOptions, WebSocket, WebSocketServer } from "../../src/index.js";
import { type HandshakeOptions, RawClient } from "./raw-client.js";

/** One `close` event. */
export interface ClosedWith {
  code: number;
  reason: string;
}

/**
 * Records every event of one socket, in order. Attach it synchronously (in `connection`, or right
 * after constructing a client) so it is also the `error` listener the oracle needs.
 */
export class Recorder {
  readonly events: string[] = [];
  readonly errors: Error[] = [];
  readonly closes: ClosedWith[] = [];
  readonly messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  pings = 0;
  pongs = 0;
  private waiters: Array<() => void> = [];

  constructor(
    readonly ws: WebSocket,
    options: { errorListener?: boolean } = {},
  ) {
    ws.on("open", () => this.note("open"));
    ws.on("message", (data: unknown, isBinary: boolean) => {
      const bytes = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data as Buffer[])
          : Buffer.from(data as ArrayBuffer);
      this.messages.push({ data: bytes, isBinary });
      this.note("message");
    });
    // Counted, not logged per event: floods send 100,000 of these.
    ws.on("ping", () => {
      this.pings++;
    });
    ws.on("pong", () => {
      this.pongs++;
    });
    if (options.errorListener !== false) {
      ws.on("error", (error: Error) => {
        this.errors.push(error);
        this.note("error");
      });
    }
    ws.on("close", (code: number, reason: Buffer) => {
      this.closes.push({ code, reason: reason.toString() });
      this.note("close");
    });
  }

  private note(event: string): void {
    this.events.push(event);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once `predicate()` holds; rejects after `ms` naming `what`. */
  async until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${what}: not within ${ms} ms (events: ${this.events.join(",")})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first `close`, once it happened. */
  async closed(ms = 10_000): Promise<ClosedWith> {
    await this.until(() => this.closes.length > 0, ms, "close event");
    return this.closes[0] as ClosedWith;
  }

  /** Resolves on `open`; rejects if the socket closed first. */
  async opened(ms = 10_000): Promise<void> {
    await this.until(() => this.events.includes("open") || this.closes.length > 0, ms, "open");
    if (!this.events.includes("open")) throw new Error(`closed before open: ${this.events}`);
  }

  /**
   * The oracle of reliability.md §0 item 3: at most `errors` error events (exactly that many),
   * exactly one close, and no event after the close.
   */
  assertSafeEnd(errors: 0 | 1): void {
    assert.equal(this.errors.length, errors, `error events: ${this.events.join(",")}`);
    assert.equal(this.closes.length, 1, `close events: ${this.events.join(",")}`);
    assert.equal(
      this.events[this.events.length - 1],
      "close",
      `events after close: ${this.events}`,
    );
    if (errors === 1) {
      assert.ok(
        this.events.indexOf("error") < this.events.indexOf("close"),
        "error comes before close",
      );
    }
  }
}

/** A listening server plus every connection it accepted, each recorded from its first tick. */
export interface SecServer {
  wss: WebSocketServer;
  port: number;
  url: string;
  /** Server-side recorders, in connection order. */
  connections: Recorder[];
  /** The server side of the connection whose client end is bound to local port `port`. */
  peer(port: number, ms?: number): Promise<Recorder>;
  /** Terminates every client and closes the server. */
  close(): Promise<void>;
}

/** What a test server does with messages: echo them back (default), or nothing. */
export interface SecServerOptions extends Omit<ServerOptions, "port" | "server" | "noServer"> {
  echo?: boolean;
  /** Attach an `error` listener to each connection (default true). */
  errorListener?: boolean;
}

function track(wss: WebSocketServer, options: { echo?: boolean; errorListener?: boolean }) {
  const connections: Recorder[] = [];
  const waiters: Array<() => void> = [];
  wss.on("connection", (ws: WebSocket) => {
    const recorder = new Recorder(ws, { errorListener: options.errorListener !== false });
    connections.push(recorder);
    if (options.echo !== false) {
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
      });
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const peer = async (port: number, ms = 10_000): Promise<Recorder> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = connections.find(
        (r) =>
          (r.ws as unknown as { _socket: { remotePort?: number } | null })._socket?.remotePort ===
          port,
      );
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no server connection from port ${port} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return { connections, peer };
}

/** Starts a socketeer server (`port` mode) on 127.0.0.1:0. */
export async function startServer(options: SecServerOptions = {}): Promise<SecServer> {
  const { echo, errorListener, ...serverOptions } = options;
  const wss = new WebSocketServer({ ...serverOptions, port: 0, host: "127.0.0.1" });
  wss.on("error", () => {});
  await once(wss, "listening");
  const port = (wss.address() as AddressInfo).port;
  const tracked = track(wss, { echo: echo ?? true, errorListener: errorListener ?? true });
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    ...tracked,
    close: () => stopServer(wss),
  };
}

/**
 * Attaches a socketeer server to a plain http server created with `httpOptions` (for the
 * `maxHeaderSize`/`maxHeadersCount` cases), listening on 127.0.0.1:0.
 */
export async function startOnHttpServer(
  httpOptions: http.ServerOptions,
  options: SecServerOptions = {},
  configure?: (server: http.Server) => void,
): Promise<SecServer & { http: http.Server }> {
  const { echo, errorListener, ...serverOptions } = options;
  const server = http.createServer(httpOptions);
  configure?.(server);
  const wss = new WebSocketServer({ ...serverOptions, server });
  wss.on("error", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const tracked = track(wss, { echo: echo ?? true, errorListener: errorListener ?? true });
  return {
    wss,
    http: server,
    port,
    url: `ws://127.0.0.1:${port}`,
    ...tracked,
    close: async () => {
      await stopServer(wss);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a raw client to `srv` (101 checked) and finds the server side of that connection. */
export async function openRaw(
  srv: Pick<SecServer, "port" | "peer">,
  options: HandshakeOptions = {},
): Promise<{ raw: RawClient; server: Recorder }> {
  const raw = await RawClient.open(srv.port, { timeoutMs: 10_000, ...options });
  try {
    const server = await srv.peer(raw.socket.localPort as number);
    return { raw, server };
  } catch (error) {
    raw.destroy();
    throw error;
  }
}

/** Terminates every tracked connection and waits for the server's `close`. */
export async function stopServer(wss: WebSocketServer): Promise<void> {
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

/**
 * Oracle item 5: a fresh client opens, gets its message echoed, and closes cleanly. Proves the
 * server (and the process) still serve others during or after an attack.
 */
export async function assertEchoes(
  url: string,
  options: { perMessageDeflate?: boolean; size?: number; ms?: number } = {},
): Promise<void> {
  const client = new WebSocket(url, { perMessageDeflate: options.perMessageDeflate ?? false });
  const recorder = new Recorder(client);
  try {
    await recorder.opened(options.ms ?? 5000);
    const text = "healthy "
      .repeat(Math.ceil((options.size ?? 16) / 8))
      .slice(0, options.size ?? 16);
    client.send(text);
    await recorder.until(() => recorder.messages.length > 0, options.ms ?? 5000, "echo");
    assert.equal(recorder.messages[0]?.data.toString(), text);
  } finally {
    client.close();
    await recorder.closed(5000).catch(() => client.terminate());
  }
}

// ---- memory ------------------------------------------------------------------------------

let gcFunction: (() => void) | null = null;

/** A full GC. Enables `--expose-gc` at run time if the process was not started with it. */
export function gcNow(): void {
  if (gcFunction === null) {
    const global = globalThis as { gc?: () => void };
    if (typeof global.gc === "function") gcFunction = global.gc;
    else {
      setFlagsFromString("--expose-gc");
      gcFunction = runInNewContext("gc") as () => void;
    }
  }
  gcFunction();
  gcFunction();
}

/**
 * Full GCs, with pauses, until `external` stops moving (zlib handles and sockets of earlier tests
 * release their native memory a few ticks after they close). Bounded: one second at most.
 */
export async function settle(): Promise<void> {
  let last = -1;
  for (let i = 0; i < 20; i++) {
    gcNow();
    const external = process.memoryUsage().external;
    if (last >= 0 && Math.abs(external - last) < 64 * 1024) return;
    last = external;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Heap and off-heap (Buffers) in use, in bytes. */
export function liveBytes(): { heap: number; external: number; total: number } {
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, external: usage.external, total: usage.heapUsed + usage.external };
}

/** Samples `external` every few ms until stopped; returns the peak growth over the start. */
export function peakExternal(): { stop(): number } {
  const base = process.memoryUsage().external;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().external);
  }, 2);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().external);
      return peak - base;
    },
  };
}

/** 2^20 bytes. */
export const MiB = 1024 * 1024;
/** 2^10 bytes. */
export const KiB = 1024;

// ---- permessage-deflate by hand ----------------------------------------------------------

/** The payload of a compressed message as RFC 7692 §7.2.1 sends it (sync flush, tail removed). */
export function deflateMessage(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/**
 * A decompression bomb: `size` zero bytes deflated (≈ 1000:1), built in 1 MiB steps so the test
 * never holds the inflated form.
 */
export async function deflatedZeros(size: number): Promise<Buffer> {
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on("data", (chunk: Buffer) => chunks.push(chunk));
  const block = Buffer.alloc(MiB);
  for (let done = 0; done < size; done += MiB) {
    if (!deflate.write(block.subarray(0, Math.min(MiB, size - done)))) {
      await once(deflate, "drain");
    }
  }
  await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  deflate.close();
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - 4);
}

// ---- time ----------------------------------------------------------------------------------

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Fails with `what` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Median of `runs` timings of `fn` in ms (process.hrtime based). */
export function medianMs(fn: () => void, runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

// ---- child processes ---------------------------------------------------------------------

/** A running fixture: its output lines, a way to talk to it, and its exit. */
export interface Fixture {
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern` (its match). */
  line(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Writes a line to the fixture's stdin. */
  send(text: string): void;
  /** Resolves with the exit code (or the signal name) once the fixture has exited. */
  exited(ms?: number): Promise<number | string>;
  /** Kills the fixture if it still runs. */
  kill(): void;
}

const fixtureDir = join(__dirname, "..", "security", "fixtures");

/** Starts `test/security/fixtures/<name>` under tsx with `args`. */
export function runFixture(
  name: string,
  args: string[] = [],
  options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {},
): Fixture {
  const child = spawn(
    process.execPath,
    [...(options.execArgv ?? []), "--import", "tsx", join(fixtureDir, name), ...args],
    { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } },
  );
  const lines: string[] = [];
  let err = "";
  let partial = "";
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (text: string) => {
    partial += text;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
    wake();
  });
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    err += text;
  });
  let exit: number | string | null = null;
  child.on("exit", (code, signal) => {
    exit = code ?? signal ?? "unknown";
    wake();
  });
  const waitFor = async <T>(get: () => T | null, ms: number, what: string): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = get();
      if (value !== null) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${what}: not within ${ms} ms\nstdout: ${lines.join("\n")}\nstderr: ${err}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return {
    child,
    lines,
    stderr: () => err,
    line: (pattern, ms = 10_000) =>
      waitFor(
        () => {
          for (const line of lines) {
            const match = pattern.exec(line);
            if (match !== null) return match;
          }
          if (exit !== null) {
            throw new Error(
              `fixture exited (${exit}) before ${pattern}\nstdout: ${lines.join("\n")}\nstderr: ${err}`,
            );
          }
          return null;
        },
        ms,
        `fixture line ${pattern}`,
      ),
    send: (text) => {
      child.stdin?.write(`${text}\n`);
    },
    exited: (ms = 10_000) => waitFor(() => exit, ms, "fixture exit"),
    kill: () => {
      if (exit === null) child.kill("SIGKILL");
    },
  };
}
