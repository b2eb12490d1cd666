/**
 * `socketeer serve`: a throwaway WebSocket server for trying clients out.
 *
 * Echoes (or relays) every message, optionally serves a directory of static files on the same
 * port, speaks TLS when given a certificate, and logs connections with a live count.
 */

import { createReadStream, readFileSync } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { WebSocket, WebSocketServer } from "../index.js";
import { type OptionSpecs, parseArgs, parsePort, UsageError } from "./args.js";
import {
  type CliIo,
  closeCodeName,
  describeError,
  escapeControls,
  Style,
  shouldColor,
  timestamp,
} from "./format.js";

/** Help text for `socketeer serve`. */
export const serveHelp = `Usage: socketeer serve [options]

Start a WebSocket server that echoes every message back (or relays it to the
other clients), printing its URL and each connection as it comes and goes.
Stop it with Ctrl-C: clients get close code 1001 (Going Away).

Options:
  -p, --port <n>       port to listen on (default 8080; 0 picks a free one)
      --host <name>    interface to listen on (default localhost;
                       0.0.0.0 or :: to accept connections from other machines)
      --echo           send each message back to its sender (default)
      --broadcast      send each message to every other connected client
      --static <dir>   also serve the files in <dir> over HTTP on the same port
      --compress       accept permessage-deflate compression
      --tls-cert <f>   PEM certificate: serve https:// and wss:// (needs --tls-key)
      --tls-key <f>    PEM private key for --tls-cert
  -v, --verbose        print every message received
  -h, --help           show this help
`;

const specs = {
  help: { type: "boolean", short: "h" },
  port: { type: "string", short: "p" },
  host: { type: "string" },
  echo: { type: "boolean" },
  broadcast: { type: "boolean" },
  static: { type: "string" },
  compress: { type: "boolean" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  verbose: { type: "boolean", short: "v" },
} as const satisfies OptionSpecs;

/** How long clients get to answer our 1001 close frame on shutdown before they are cut off. */
const SHUTDOWN_GRACE_MS = 2_000;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
};

/**
 * Maps a request path to a file inside `root`, or `undefined` when it would leave `root`.
 *
 * The URL path is percent-decoded first (so `%2e%2e/` is caught too), resolved against the
 * root, and refused if the result is outside it. Symlinks are checked by the caller with
 * `realpath`, because a link inside the root may point anywhere.
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  const pathname = urlPath.split("?", 1)[0] ?? "/";
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const full = resolve(root, `.${decoded.startsWith("/") ? "" : "/"}${decoded}`);
  const rel = relative(root, full);
  if (rel.startsWith("..") || isAbsolute(rel)) return undefined;
  return full;
}

/** Builds the request handler for `--static`: GET/HEAD of files under `root`, nothing else. */
function staticHandler(root: string): http.RequestListener {
  const realRoot = realpath(root);
  return (req, res) => {
    const fail = (status: number, text: string) => {
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`${text}\n`);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return fail(405, "Method Not Allowed");
    }
    const base = resolveStaticPath(root, req.url ?? "/");
    if (base === undefined) return fail(404, "Not Found");
    void (async () => {
      try {
        let file = base;
        let info = await stat(file);
        if (info.isDirectory()) {
          file = join(file, "index.html");
          info = await stat(file);
        }
        const real = await realpath(file);
        const rootReal = await realRoot;
        if (real !== rootReal && !real.startsWith(rootReal + sep)) return fail(404, "Not Found");
        if (!info.isFile()) return fail(404, "Not Found");
        res.writeHead(200, {
          "Content-Type": CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
          "Content-Length": info.size,
          "Cache-Control": "no-cache",
          "X-Content-Type-Options": "nosniff",
        });
        if (req.method === "HEAD") return res.end();
        createReadStream(real)
          .on("error", () => res.destroy())
          .pipe(res);
      } catch {
        fail(404, "Not Found");
      }
    })();
  };
}

/** Formats a listening address as a URL host, bracketing IPv6 and naming "any" as localhost. */
function displayHost(host: string | undefined, address: AddressInfo): string {
  const name = host ?? address.address;
  if (name === "0.0.0.0" || name === "::" || name === "") return "localhost";
  return name.includes(":") ? `[${name}]` : name;
}

/**
 * Runs `socketeer serve` until SIGINT/SIGTERM. Resolves with the exit code: 0 after a clean
 * shutdown, 1 when the server could not start (port in use, unreadable certificate…).
 */
export async function runServe(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs(argv, specs);
  if (values.help) {
    io.stdout.write(serveHelp);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.echo && values.broadcast) throw new UsageError("choose one of --echo or --broadcast");
  const port = values.port === undefined ? 8080 : parsePort(values.port);
  const host = values.host ?? "localhost";
  if (host === "") throw new UsageError("--host must not be empty");
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) {
    throw new UsageError("--tls-cert and --tls-key must be given together");
  }
  const mode = values.broadcast ? "broadcast" : "echo";
  const style = new Style(shouldColor(io.stdout, io.env));
  const errStyle = new Style(shouldColor(io.stderr, io.env));
  const clean = (text: string) => (io.stdout.isTTY ? escapeControls(text) : text);
  const log = (text: string) => io.stdout.write(`${style.dim(timestamp())} ${text}\n`);
  const fail = (text: string) => {
    io.stderr.write(`${errStyle.red(`socketeer serve: ${text}`)}\n`);
    return 1;
  };

  let staticRoot: string | undefined;
  if (values.static !== undefined) {
    staticRoot = resolve(values.static);
    try {
      if (!(await stat(staticRoot)).isDirectory())
        return fail(`--static ${values.static} is not a directory`);
    } catch {
      return fail(`--static directory not found: ${values.static}`);
    }
  }

  const onRequest: http.RequestListener =
    staticRoot !== undefined
      ? staticHandler(staticRoot)
      : (_req, res) => {
          // Plain HTTP to a WebSocket-only endpoint: say what is expected (RFC 7231 §6.5.15).
          res.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Upgrade: "websocket" });
          res.end("Upgrade Required: this is a WebSocket server\n");
        };

  let server: http.Server;
  if (values["tls-cert"] !== undefined && values["tls-key"] !== undefined) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(values["tls-cert"]);
      key = readFileSync(values["tls-key"]);
    } catch (err) {
      return fail(`cannot read TLS files: ${describeError(err)}`);
    }
    try {
      server = https.createServer({ cert, key }, onRequest);
    } catch (err) {
      return fail(`invalid TLS certificate or key: ${describeError(err)}`);
    }
  } else {
    server = http.createServer(onRequest);
  }
  const secure = server instanceof https.Server;

  try {
    await new Promise<void>((ok, bad) => {
      server.once("error", bad);
      server.listen(port, host, () => {
        server.off("error", bad);
        ok();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      return fail(`port ${port} is already in use on ${host} (try --port)`);
    if (code === "EACCES")
      return fail(`permission denied to listen on port ${port} (try one above 1023)`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      return fail(`cannot listen on host ${host}: no such local address`);
    }
    return fail(`cannot listen on ${host}:${port}: ${describeError(err)}`);
  }

  const wss = new WebSocketServer({ server, perMessageDeflate: values.compress });
  const address = server.address() as AddressInfo;
  const hostPart = `${displayHost(host, address)}:${address.port}`;
  const wsUrl = `${secure ? "wss" : "ws"}://${hostPart}`;
  log(`${style.bold(`listening on ${wsUrl}`)} (${mode}${values.compress ? ", compression" : ""})`);
  if (staticRoot !== undefined) {
    log(`serving ${staticRoot} at ${style.bold(`${secure ? "https" : "http"}://${hostPart}/`)}`);
  }
  log(style.dim("press Ctrl-C to stop"));

  let open = 0;
  wss.on("connection", (ws: WebSocket, req: http.IncomingMessage) => {
    open++;
    const peer = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
    log(`${style.green("+")} ${peer} connected ${style.dim(`(${open} open)`)}`);
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (values.verbose) {
        const size = Buffer.isBuffer(data) ? data.length : 0;
        const text =
          isBinary || !Buffer.isBuffer(data) ? `[binary ${size} B]` : clean(data.toString());
        log(`${style.cyan("<")} ${peer} ${text}`);
      }
      if (mode === "echo") {
        ws.send(data, { binary: isBinary });
        return;
      }
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN)
          client.send(data, { binary: isBinary });
      }
    });
    ws.on("error", (err: Error) => log(`${style.red("!")} ${peer} ${describeError(err)}`));
    ws.on("close", (code: number) => {
      open--;
      log(
        `${style.yellow("-")} ${peer} closed ${code} ${closeCodeName(code)} ${style.dim(`(${open} open)`)}`,
      );
    });
  });

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = () => {
      if (stopping) {
        // Second Ctrl-C: the user does not want to wait for the goodbyes.
        for (const client of wss.clients) client.terminate();
        return;
      }
      stopping = true;
      log(`shutting down (${open} open)`);
      for (const client of wss.clients) client.close(1001, "server shutting down");
      const force = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
      }, SHUTDOWN_GRACE_MS);
      wss.close(() => {
        // wss.close() with an external server does not close it, nor idle keep-alive sockets.
        server.close(() => {
          clearTimeout(force);
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          done(0);
        });
        server.closeAllConnections();
      });
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
