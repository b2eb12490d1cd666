/**
 * The client: `new WebSocket(address, protocols?, options?)` with every address form and option,
 * the client-only events (`upgrade`, `unexpected-response`, `redirect`), TLS with a certificate
 * made for the run, and the ways an opening handshake fails (RFC 6455 §4.1).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "../../src/index.js";
import { hasOpenssl, selfSigned } from "../helpers/api-tls.js";
import {
  closePair,
  connectPair,
  delay,
  startServer,
  stopServer,
  waitEvent,
} from "../helpers/api-util.js";
import { RawServer, type RawServerConnection } from "../helpers/raw-server.js";

const T = { timeout: 10_000 };

/** Opens a client and waits for 'open', or rejects with its error. */
function opened(client: WebSocket, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no open")), ms);
    client.once("open", () => {
      clearTimeout(timer);
      resolve();
    });
    client.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Waits for a client's handshake to fail: its 'error', then 'close' with 1006. */
async function failure(client: WebSocket, ms = 5000): Promise<Error> {
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  let opens = 0;
  client.on("open", () => opens++);
  const [code] = await waitEvent<[number]>(client, "close", ms);
  assert.equal(code, 1006);
  assert.equal(opens, 0, "the socket never opened");
  assert.equal(errors.length, 1, "exactly one 'error'");
  assert.equal(client.readyState, WebSocket.CLOSED);
  return errors[0]!;
}

describe("addresses", () => {
  test("ws: with a path and query; the request target is path + query", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(`${srv.url}/chat/room?id=7&x=y`);
    try {
      const [, request] = await waitEvent<[WebSocket, http.IncomingMessage]>(srv.wss, "connection");
      await opened(client);
      assert.equal(request.url, "/chat/room?id=7&x=y");
      assert.equal(client.url, `${srv.url}/chat/room?id=7&x=y`);
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("http: is treated as ws:, and url says ws:", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(`http://127.0.0.1:${srv.port}/x`);
    try {
      await opened(client);
      assert.equal(client.url, `ws://127.0.0.1:${srv.port}/x`);
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("a URL object is accepted and not modified", T, async () => {
    const srv = await startServer();
    const address = new URL(`http://127.0.0.1:${srv.port}/from-url?q=1`);
    const client = new WebSocket(address);
    try {
      await opened(client);
      assert.equal(client.url, `ws://127.0.0.1:${srv.port}/from-url?q=1`);
      assert.equal(
        address.href,
        `http://127.0.0.1:${srv.port}/from-url?q=1`,
        "caller's URL untouched",
      );
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test(
    "ws+unix: connects over a Unix domain socket, with and without a request path",
    T,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "socketeer-api-unix-"));
      const socketPath = join(dir, "ws.sock");
      const server = http.createServer();
      const wss = new WebSocketServer({ server });
      const urls: string[] = [];
      wss.on("connection", (_ws, request) => urls.push(request.url ?? ""));
      server.listen(socketPath);
      await once(server, "listening");
      const clients: WebSocket[] = [];
      try {
        const withPath = new WebSocket(`ws+unix:${socketPath}:/chat?room=1`);
        clients.push(withPath);
        await opened(withPath);
        const echo = waitEvent<[Buffer]>(withPath, "message");
        for (const ws of wss.clients) ws.send("over unix");
        assert.equal((await echo)[0].toString(), "over unix");

        const bare = new WebSocket(`ws+unix:${socketPath}`);
        clients.push(bare);
        await opened(bare);
        assert.deepEqual(urls, ["/chat?room=1", "/"]);
      } finally {
        for (const client of clients) client.terminate();
        await stopServer(wss);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test("invalid addresses throw SyntaxError synchronously, as in ws", () => {
    const cases: Array<[string, RegExp]> = [
      ["not a url", /Invalid URL/],
      ["/relative/path", /Invalid URL/],
      ["ftp://127.0.0.1/", /protocol must be one of/],
      ["ws://127.0.0.1/#fragment", /fragment/],
      ["ws+unix:", /pathname is empty/],
    ];
    for (const [address, message] of cases) {
      assert.throws(
        () => new WebSocket(address),
        (error: unknown) => error instanceof SyntaxError && message.test(error.message),
        address,
      );
    }
  });

  test("invalid or duplicated subprotocols throw SyntaxError", () => {
    assert.throws(() => new WebSocket("ws://127.0.0.1:1", ["chat", "chat"]), SyntaxError);
    assert.throws(() => new WebSocket("ws://127.0.0.1:1", "bad protocol"), SyntaxError);
    assert.throws(() => new WebSocket("ws://127.0.0.1:1", ["ok", "a,b"]), SyntaxError);
  });

  test("a refused connection: 'error' (ECONNREFUSED) then 'close' with 1006", T, async () => {
    // A port that was just free: bind, note it, close.
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const error = await failure(client);
    assert.equal((error as NodeJS.ErrnoException).code, "ECONNREFUSED");
  });
});

describe("request options", () => {
  test("headers, origin and URL credentials reach the server", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(`ws://alice:s%3Acret@127.0.0.1:${raw.port}/`, {
      headers: { "X-Custom": "value", "X-Number": 42 },
      origin: "https://example.test",
      perMessageDeflate: false,
    });
    try {
      const conn = await raw.acceptWebSocket();
      await opened(client);
      assert.equal(conn.header("x-custom"), "value");
      assert.equal(conn.header("x-number"), "42");
      assert.equal(conn.header("origin"), "https://example.test");
      assert.equal(conn.header("sec-websocket-origin"), undefined);
      assert.equal(conn.header("sec-websocket-version"), "13");
      assert.equal(
        conn.header("authorization"),
        `Basic ${Buffer.from("alice:s:cret").toString("base64")}`,
      );
      assert.equal(conn.request.method, "GET");
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test("protocolVersion 8 sends Sec-WebSocket-Version: 8 and Sec-WebSocket-Origin", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url(), {
      protocolVersion: 8,
      origin: "https://example.test",
      perMessageDeflate: false,
    });
    try {
      const conn = await raw.acceptWebSocket();
      await opened(client);
      assert.equal(conn.header("sec-websocket-version"), "8");
      assert.equal(conn.header("sec-websocket-origin"), "https://example.test");
      assert.equal(conn.header("origin"), undefined);
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test("protocolVersion other than 8 or 13 is a RangeError", () => {
    for (const version of [0, 7, 12, 14]) {
      assert.throws(
        () => new WebSocket("ws://127.0.0.1:1", { protocolVersion: version }),
        RangeError,
        `version ${version}`,
      );
    }
  });

  test("handshakeTimeout: a server that never answers fails the handshake", T, async () => {
    const raw = await RawServer.listen();
    const started = Date.now();
    const client = new WebSocket(raw.url(), { handshakeTimeout: 200 });
    try {
      await raw.accept();
      const error = await failure(client, 8000);
      assert.match(error.message, /Opening handshake has timed out/);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 150 && elapsed < 6000, `failed after ${elapsed} ms`);
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test("agent: the request goes through the given http.Agent", T, async () => {
    const srv = await startServer();
    let created = 0;
    class CountingAgent extends http.Agent {
      override createConnection(
        ...args: Parameters<http.Agent["createConnection"]>
      ): ReturnType<http.Agent["createConnection"]> {
        created++;
        return super.createConnection(...args);
      }
    }
    const agent = new CountingAgent();
    const client = new WebSocket(srv.url, { agent });
    try {
      await opened(client);
      assert.equal(created, 1);
    } finally {
      client.terminate();
      agent.destroy();
      await stopServer(srv.wss);
    }
  });

  test("createConnection: the given function makes the connection", T, async () => {
    const srv = await startServer();
    const seen: Array<{ host?: string | null; port?: number | string | null }> = [];
    const client = new WebSocket(srv.url, {
      createConnection: (options) => {
        seen.push({ host: options.host ?? null, port: options.port ?? null });
        return net.connect({ host: "127.0.0.1", port: srv.port });
      },
    });
    try {
      await opened(client);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.host, "127.0.0.1");
      assert.equal(Number(seen[0]!.port), srv.port);
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("finishRequest: the app ends the request itself, after adding a header", T, async () => {
    const raw = await RawServer.listen();
    let given: WebSocket | null = null;
    const client = new WebSocket(raw.url(), {
      perMessageDeflate: false,
      finishRequest: (request, ws) => {
        given = ws;
        request.setHeader("X-Late", "added in finishRequest");
        request.end();
      },
    });
    try {
      const conn = await raw.acceptWebSocket();
      await opened(client);
      assert.equal(given, client);
      assert.equal(conn.header("x-late"), "added in finishRequest");
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test(
    "perMessageDeflate: offered by default, not with false, options shape the offer",
    T,
    async () => {
      const raw = await RawServer.listen();
      const clients: WebSocket[] = [];
      try {
        const offerOf = async (
          options: ConstructorParameters<typeof WebSocket>[1],
        ): Promise<string | undefined> => {
          const client = new WebSocket(raw.url(), options as never);
          client.on("error", () => {});
          clients.push(client);
          const conn = await raw.accept();
          conn.destroy();
          return conn.header("sec-websocket-extensions");
        };
        const byDefault = await offerOf({});
        assert.match(byDefault ?? "", /^permessage-deflate/);
        assert.match(byDefault ?? "", /client_max_window_bits/);
        assert.equal(await offerOf({ perMessageDeflate: false }), undefined);
        const shaped = await offerOf({ perMessageDeflate: { serverNoContextTakeover: true } });
        assert.match(shaped ?? "", /server_no_context_takeover/);
      } finally {
        for (const client of clients) client.terminate();
        await raw.close();
      }
    },
  );

  test("perMessageDeflate is negotiated with a server that enables it", T, async () => {
    const on = await connectPair({ perMessageDeflate: true }, {});
    const off = await connectPair({ perMessageDeflate: true }, { perMessageDeflate: false });
    try {
      assert.equal(on.client.extensions, "permessage-deflate");
      assert.equal(off.client.extensions, "");
      const message = waitEvent<[Buffer]>(on.server, "message");
      on.client.send("x".repeat(5000));
      assert.equal((await message)[0].toString(), "x".repeat(5000));
    } finally {
      await closePair(on);
      await closePair(off);
    }
  });

  test(
    "maxPayload: a larger message fails the client with 1009 sent to the server",
    T,
    async () => {
      const pair = await connectPair({}, { maxPayload: 1000 });
      try {
        const atClient = collectErrorAndClose(pair.client);
        const atServer = waitEvent<[number]>(pair.server, "close");
        const fits = waitEvent<[Buffer]>(pair.client, "message");
        pair.server.send(Buffer.alloc(1000, 1));
        assert.equal((await fits)[0].length, 1000);
        pair.server.send(Buffer.alloc(1001, 1));
        const { errors, code } = await atClient;
        assert.equal(errors.length, 1);
        assert.ok(errors[0] instanceof RangeError);
        assert.equal(
          (errors[0] as Error & { code?: string }).code,
          "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
        );
        assert.equal(code, 1006);
        assert.equal((await atServer)[0], 1009);
      } finally {
        await closePair(pair);
      }
    },
  );

  test(
    "skipUTF8Validation: invalid UTF-8 text is delivered instead of failing with 1007",
    T,
    async () => {
      const raw = await RawServer.listen();
      const strict = new WebSocket(raw.url(), { perMessageDeflate: false });
      const lax = new WebSocket(raw.url(), { perMessageDeflate: false, skipUTF8Validation: true });
      try {
        const bad = Buffer.from([0x68, 0x69, 0xff, 0xfe]);
        const strictConn = await raw.acceptWebSocket();
        await opened(strict);
        const strictResult = collectErrorAndClose(strict);
        strictConn.sendFrame({ opcode: 0x1, payload: bad });
        const closeFrame = await strictConn.expectClose(3000);
        assert.equal(closeFrame.code, 1007);
        strictConn.end();
        const { errors } = await strictResult;
        assert.equal((errors[0] as Error & { code?: string }).code, "WS_ERR_INVALID_UTF8");

        const laxConn = await raw.acceptWebSocket();
        await opened(lax);
        const message = waitEvent<[Buffer, boolean]>(lax, "message");
        laxConn.sendFrame({ opcode: 0x1, payload: bad });
        const [data, isBinary] = await message;
        assert.equal(isBinary, false);
        assert.deepEqual(data, bad);
      } finally {
        strict.terminate();
        lax.terminate();
        await raw.close();
      }
    },
  );

  test("autoPong: false on the client: 'ping' is emitted, no pong goes back", T, async () => {
    const pair = await connectPair({}, { autoPong: false });
    try {
      let pongs = 0;
      pair.server.on("pong", () => pongs++);
      const ping = waitEvent<[Buffer]>(pair.client, "ping");
      pair.server.ping("hello?");
      assert.equal((await ping)[0].toString(), "hello?");
      await delay(200);
      assert.equal(pongs, 0);
    } finally {
      await closePair(pair);
    }
  });
});

/** Resolves with the errors seen and the close code once `ws` emits 'close'. */
async function collectErrorAndClose(ws: WebSocket): Promise<{ errors: Error[]; code: number }> {
  const errors: Error[] = [];
  ws.on("error", (error) => errors.push(error));
  const [code] = await waitEvent<[number]>(ws, "close");
  return { errors, code };
}

describe("client events", () => {
  test("'upgrade' gives the 101 response before 'open'", T, async () => {
    const srv = await startServer();
    const client = new WebSocket(srv.url);
    const order: string[] = [];
    let response: http.IncomingMessage | null = null;
    client.on("upgrade", (res) => {
      order.push("upgrade");
      response = res;
    });
    client.on("open", () => order.push("open"));
    try {
      await opened(client);
      assert.deepEqual(order, ["upgrade", "open"]);
      const res = response as http.IncomingMessage | null;
      assert.ok(res !== null);
      assert.equal(res.statusCode, 101);
      assert.equal(typeof res.headers["sec-websocket-accept"], "string");
    } finally {
      client.terminate();
      await stopServer(srv.wss);
    }
  });

  test("'unexpected-response' hands the non-101 response to the app; no error", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url());
    const errors: Error[] = [];
    client.on("error", (error) => errors.push(error));
    try {
      const got = new Promise<{ status: number; body: string; request: http.ClientRequest }>(
        (resolve) => {
          client.on("unexpected-response", (request, res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
              body += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body, request }));
          });
        },
      );
      const conn = await raw.accept();
      await conn.respond({ status: 403, statusText: "Forbidden", body: "go away" });
      const { status, body, request } = await got;
      assert.equal(status, 403);
      assert.equal(body, "go away");
      assert.equal(typeof request.setHeader, "function");
      assert.equal(client.readyState, WebSocket.CONNECTING);
      assert.equal(errors.length, 0, "no error for a handled unexpected response");
      // The app decides what happens next; aborting ends with 1006.
      const closed = waitEvent<[number]>(client, "close");
      client.terminate();
      assert.equal((await closed)[0], 1006);
      assert.ok(errors.every((e) => !/Unexpected server response/.test(e.message)));
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test("an unhandled non-101 response: error 'Unexpected server response: N'", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url());
    try {
      const conn = await raw.accept();
      await conn.respond({ status: 401, body: "who are you" });
      const error = await failure(client);
      assert.equal(error.message, "Unexpected server response: 401");
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test("close() and terminate() while CONNECTING abort the handshake", T, async () => {
    const raw = await RawServer.listen();
    try {
      for (const method of ["close", "terminate"] as const) {
        const client = new WebSocket(raw.url());
        const result = failure(client);
        await raw.accept();
        client[method]();
        const error = await result;
        assert.match(error.message, /closed before the connection was established/, method);
      }
    } finally {
      await raw.close();
    }
  });
});

/** Answers the next handshake on `raw` with a redirect to `location`. */
async function redirectNext(
  raw: RawServer,
  location: string,
  status = 302,
): Promise<RawServerConnection> {
  const conn = await raw.accept();
  await conn.respond({ status, statusText: "Found", headers: { Location: location } });
  return conn;
}

describe("redirects", () => {
  test("without followRedirects a 3xx is an unexpected response", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url());
    try {
      await redirectNext(raw, "ws://127.0.0.1:1/");
      const error = await failure(client);
      assert.equal(error.message, "Unexpected server response: 302");
    } finally {
      client.terminate();
      await raw.close();
    }
  });

  test(
    "followRedirects to another host drops Authorization and Cookie, keeps the rest",
    T,
    async () => {
      const redirector = await RawServer.listen();
      const target = await RawServer.listen();
      const client = new WebSocket(`${redirector.url("/start")}`, {
        followRedirects: true,
        perMessageDeflate: false,
        headers: { Authorization: "Bearer secret", Cookie: "session=1", "X-Keep": "kept" },
      });
      const redirects: string[] = [];
      client.on("redirect", (url) => redirects.push(url));
      try {
        const first = await redirectNext(redirector, `${target.url("/landed")}?a=1`);
        assert.equal(first.header("authorization"), "Bearer secret");
        assert.equal(first.header("cookie"), "session=1");
        const second = await target.acceptWebSocket();
        await opened(client);
        assert.equal(second.request.path, "/landed?a=1");
        assert.equal(second.header("authorization"), undefined, "Authorization dropped");
        assert.equal(second.header("cookie"), undefined, "Cookie dropped");
        assert.equal(second.header("x-keep"), "kept");
        assert.equal(second.header("host"), `127.0.0.1:${target.port}`);
        assert.deepEqual(redirects, [`${target.url("/landed")}?a=1`]);
        assert.equal(client.url, `${target.url("/landed")}?a=1`);
      } finally {
        client.terminate();
        await redirector.close();
        await target.close();
      }
    },
  );

  test("credentials from the URL are not sent to another host after a redirect", T, async () => {
    const redirector = await RawServer.listen();
    const target = await RawServer.listen();
    const client = new WebSocket(`ws://user:pass@127.0.0.1:${redirector.port}/`, {
      followRedirects: true,
      perMessageDeflate: false,
    });
    try {
      const first = await redirectNext(redirector, target.url());
      assert.equal(
        first.header("authorization"),
        `Basic ${Buffer.from("user:pass").toString("base64")}`,
      );
      const second = await target.acceptWebSocket();
      await opened(client);
      assert.equal(second.header("authorization"), undefined);
    } finally {
      client.terminate();
      await redirector.close();
      await target.close();
    }
  });

  test(
    "followRedirects on the same host keeps Authorization and Cookie; relative Location",
    T,
    async () => {
      const raw = await RawServer.listen();
      const client = new WebSocket(raw.url("/a"), {
        followRedirects: true,
        perMessageDeflate: false,
        headers: { Authorization: "Bearer secret", Cookie: "session=1" },
      });
      try {
        await redirectNext(raw, "/b", 301);
        const second = await raw.acceptWebSocket();
        await opened(client);
        assert.equal(second.request.path, "/b");
        assert.equal(second.header("authorization"), "Bearer secret");
        assert.equal(second.header("cookie"), "session=1");
        assert.equal(client.url, raw.url("/b"));
      } finally {
        client.terminate();
        await raw.close();
      }
    },
  );

  test(
    "'redirect' gives the new URL and the request for it, whose headers can still change",
    T,
    async () => {
      const redirector = await RawServer.listen();
      const target = await RawServer.listen();
      const client = new WebSocket(redirector.url(), {
        followRedirects: true,
        perMessageDeflate: false,
      });
      const seen: Array<{ url: string; urlDuringEvent: string; setHeaderError: string | null }> =
        [];
      client.on("redirect", (url, request) => {
        let setHeaderError: string | null = null;
        try {
          // ws: "the headers can be modified" — the request for the new URL is not sent yet.
          request.setHeader("X-Added-On-Redirect", "yes");
        } catch (error) {
          setHeaderError = (error as Error).message;
        }
        seen.push({ url, urlDuringEvent: client.url, setHeaderError });
      });
      client.on("error", () => {});
      try {
        await redirectNext(redirector, target.url("/next"));
        const conn = await target.acceptWebSocket();
        await opened(client);
        assert.deepEqual(
          { seen, header: conn.header("x-added-on-redirect") ?? null },
          {
            seen: [
              {
                url: target.url("/next"),
                urlDuringEvent: target.url("/next"),
                setHeaderError: null,
              },
            ],
            header: "yes",
          },
        );
      } finally {
        client.terminate();
        await redirector.close();
        await target.close();
      }
    },
  );

  test(
    "a redirect loop fails with 'Maximum redirects exceeded' after maxRedirects",
    T,
    async () => {
      const raw = await RawServer.listen();
      const client = new WebSocket(raw.url("/loop"), { followRedirects: true, maxRedirects: 3 });
      const result = failure(client, 8000);
      // Resolves to null once the client has given up, so the accept loop stops at once.
      const gaveUp = result.then(
        () => null,
        () => null,
      );
      let requests = 0;
      try {
        while (requests < 10) {
          const conn = await Promise.race([raw.accept(3000).catch(() => null), gaveUp]);
          if (conn === null) break;
          requests++;
          await conn.respond({ status: 302, headers: { Location: raw.url("/loop") } });
        }
        const error = await result;
        assert.equal(error.message, "Maximum redirects exceeded");
        // The first request plus the three redirects followed.
        assert.equal(requests, 4);
      } finally {
        client.terminate();
        await raw.close();
      }
    },
  );
});

describe("handshake failures (RFC 6455 §4.1)", () => {
  async function failWith(
    respond: (conn: RawServerConnection) => Promise<void>,
    protocols?: string[],
  ): Promise<Error> {
    const raw = await RawServer.listen();
    const client =
      protocols === undefined
        ? new WebSocket(raw.url(), { perMessageDeflate: false })
        : new WebSocket(raw.url(), protocols, { perMessageDeflate: false });
    try {
      const result = failure(client);
      await respond(await raw.accept());
      return await result;
    } finally {
      client.terminate();
      await raw.close();
    }
  }

  test("a wrong Sec-WebSocket-Accept fails the connection", T, async () => {
    const error = await failWith((conn) =>
      conn.respond({ headers: { "Sec-WebSocket-Accept": "dGhlIHNhbXBsZSBub25jZQ==" } }),
    );
    assert.equal(error.message, "Invalid Sec-WebSocket-Accept header");
  });

  test("an Upgrade header other than websocket fails the connection", T, async () => {
    const error = await failWith((conn) => conn.respond({ headers: { Upgrade: "h2c" } }));
    assert.equal(error.message, "Invalid Upgrade header");
  });

  test("a subprotocol the client did not offer fails the connection", T, async () => {
    const unasked = await failWith((conn) =>
      conn.respond({ headers: { "Sec-WebSocket-Protocol": "chat" } }),
    );
    assert.equal(unasked.message, "Server sent a subprotocol but none was requested");
    const wrong = await failWith(
      (conn) => conn.respond({ headers: { "Sec-WebSocket-Protocol": "other" } }),
      ["chat"],
    );
    assert.equal(wrong.message, "Server sent an invalid subprotocol");
    const none = await failWith((conn) => conn.respond(), ["chat"]);
    assert.equal(none.message, "Server sent no subprotocol");
  });

  test("an extension the client did not offer fails the connection", T, async () => {
    const error = await failWith((conn) =>
      conn.respond({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } }),
    );
    assert.equal(
      error.message,
      "Server sent a Sec-WebSocket-Extensions header but no extension was requested",
    );
  });

  test("the offered subprotocol accepted by the server is the socket's protocol", T, async () => {
    const raw = await RawServer.listen();
    const client = new WebSocket(raw.url(), ["chat", "superchat"], { perMessageDeflate: false });
    try {
      const conn = await raw.acceptWebSocket(2000, {
        headers: { "Sec-WebSocket-Protocol": "superchat" },
      });
      await opened(client);
      assert.equal(conn.header("sec-websocket-protocol"), "chat,superchat");
      assert.equal(client.protocol, "superchat");
    } finally {
      client.terminate();
      await raw.close();
    }
  });
});

describe("TLS (wss:)", () => {
  test("openssl is available to make the test certificate", () => {
    assert.ok(hasOpenssl(), "the TLS tests need the openssl binary");
  });

  /** An https server with a fresh self-signed certificate and a WebSocketServer on it. */
  async function tlsServer(): Promise<{
    port: number;
    ca: Buffer;
    wss: WebSocketServer;
    close: () => Promise<void>;
  }> {
    const { key, cert } = selfSigned();
    const server = https.createServer({ key, cert });
    const wss = new WebSocketServer({ server });
    wss.on("connection", (ws) =>
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    return {
      port,
      ca: cert,
      wss,
      close: async () => {
        await stopServer(wss);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  test("an untrusted self-signed certificate fails the handshake", {
    timeout: 40_000,
  }, async () => {
    const srv = await tlsServer();
    try {
      const client = new WebSocket(`wss://localhost:${srv.port}`);
      const error = await failure(client);
      assert.match(String((error as NodeJS.ErrnoException).code), /SELF_SIGNED|UNABLE_TO_VERIFY/);
    } finally {
      await srv.close();
    }
  });

  test("with the certificate as ca the connection opens and echoes", {
    timeout: 40_000,
  }, async () => {
    const srv = await tlsServer();
    const byName = new WebSocket(`wss://localhost:${srv.port}/secure`, { ca: srv.ca });
    const byIp = new WebSocket(`wss://127.0.0.1:${srv.port}`, { ca: srv.ca });
    const viaHttps = new WebSocket(`https://localhost:${srv.port}`, { ca: srv.ca });
    try {
      await Promise.all([opened(byName), opened(byIp), opened(viaHttps)]);
      assert.equal(byName.url, `wss://localhost:${srv.port}/secure`);
      assert.equal(viaHttps.url, `wss://localhost:${srv.port}/`);
      const echo = waitEvent<[Buffer]>(byName, "message");
      byName.send("over tls");
      assert.equal((await echo)[0].toString(), "over tls");
      for (const server of srv.wss.clients) {
        const socket = (server as unknown as { _socket: { encrypted?: boolean } })._socket;
        assert.equal(socket.encrypted, true);
      }
    } finally {
      byName.terminate();
      byIp.terminate();
      viaHttps.terminate();
      await srv.close();
    }
  });

  test("rejectUnauthorized: false accepts the untrusted certificate", {
    timeout: 40_000,
  }, async () => {
    const srv = await tlsServer();
    const client = new WebSocket(`wss://localhost:${srv.port}`, { rejectUnauthorized: false });
    try {
      await opened(client);
    } finally {
      client.terminate();
      await srv.close();
    }
  });

  test("a servername the certificate does not cover fails, even with the ca", {
    timeout: 40_000,
  }, async () => {
    const srv = await tlsServer();
    try {
      const client = new WebSocket(`wss://localhost:${srv.port}`, {
        ca: srv.ca,
        servername: "wrong.example",
      });
      const error = await failure(client);
      assert.equal((error as NodeJS.ErrnoException).code, "ERR_TLS_CERT_ALTNAME_INVALID");
    } finally {
      await srv.close();
    }
  });
});
