/**
 * `socketeer connect <url>`: an interactive WebSocket client in the spirit of wscat.
 *
 * Lines typed (or piped in) are sent as text messages; everything received is printed with a
 * direction marker and the time. On a terminal it runs a `node:readline` prompt; with a pipe it
 * sends every line, then (after `--wait`) closes, so it also works in scripts.
 */

import { Buffer } from "node:buffer";
import * as readline from "node:readline";
import { WebSocket } from "../index.js";
import { type OptionSpecs, parseArgs, parseSeconds, UsageError } from "./args.js";
import {
  type CliIo,
  closeCodeName,
  describeError,
  escapeControls,
  Style,
  shouldColor,
  timestamp,
  toHex,
} from "./format.js";

/** Help text for `socketeer connect`. */
export const connectHelp = `Usage: socketeer connect <url> [options]

Open a WebSocket connection, send each input line as a text message and print
what arrives. On a terminal you get a prompt; with a pipe every line is sent,
then the connection closes (after --wait seconds, if given).

  echo hello | socketeer connect ws://localhost:8080 --wait 1

Options:
  -H, --header "K: V"   add a request header (repeatable)
  -s, --protocol <p>    offer a subprotocol (repeatable)
  -o, --origin <url>    send this Origin header
      --auth user:pass  HTTP Basic authentication
  -n, --no-check        accept self-signed / invalid TLS certificates
      --compress        offer permessage-deflate compression
  -w, --wait <seconds>  after input ends, wait this long for replies, then close
  -h, --help            show this help

Commands (typed as a line):
  /ping [data]            send a ping; the pong is printed
  /close [code] [reason]  close the connection (default 1000)
  /help                   list these commands
  //text                  send "/text" (escape a leading slash)

Output: "<" marks received messages, ">" sent ones, "*" connection events;
binary messages are shown as hex. Exit status: 0 after a normal close (1000,
1001, 1005 or one you asked for), 1 if the connection failed or closed
abnormally, 2 for usage errors such as a bad URL.
`;

const specs = {
  help: { type: "boolean", short: "h" },
  header: { type: "string", multiple: true, short: "H" },
  protocol: { type: "string", multiple: true, short: "s" },
  origin: { type: "string", short: "o" },
  auth: { type: "string" },
  "no-check": { type: "boolean", short: "n" },
  compress: { type: "boolean" },
  wait: { type: "string", short: "w" },
} as const satisfies OptionSpecs;

const INTERACTIVE_HELP = [
  "/ping [data]            send a ping",
  "/close [code] [reason]  close the connection",
  "//text                  send a line that starts with /",
];

/** Close codes after which a peer-initiated close still counts as success. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);

/** How long to wait for the peer to answer our close frame before dropping the TCP connection. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Turns what the user typed into a WebSocket URL: adds `ws://` when no scheme is given, maps
 * `http(s)` to `ws(s)`, and rejects anything a WebSocket client cannot open (RFC 6455 §3).
 * Throws {@link UsageError}.
 */
export function normalizeUrl(text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `ws://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`invalid URL "${text}"`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new UsageError(`invalid URL "${text}": the scheme must be ws:// or wss://`);
  }
  if (url.hostname === "") throw new UsageError(`invalid URL "${text}": no host`);
  if (url.hash !== "") {
    throw new UsageError(`invalid URL "${text}": WebSocket URLs cannot have a #fragment`);
  }
  return url;
}

/** Parses `--header "Name: value"` into a pair, validating the name as an HTTP token. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(":");
  const name = colon === -1 ? "" : text.slice(0, colon).trim();
  const value = colon === -1 ? "" : text.slice(colon + 1).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError(`--header must look like "Name: value" (got "${text}")`);
  }
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header value may not contain line breaks`);
  return [name, value];
}

/**
 * Runs `socketeer connect`. Resolves with the process exit code once the connection has closed
 * (or failed); never rejects for network problems, only reports them.
 */
export async function runConnect(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs(argv, specs);
  if (values.help) {
    io.stdout.write(connectHelp);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("missing <url>");
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const url = normalizeUrl(positionals[0] as string);
  const waitMs = values.wait === undefined ? 0 : parseSeconds(values.wait, "--wait") * 1000;

  const headers: Record<string, string> = {};
  for (const header of values.header) {
    const [name, value] = parseHeader(header);
    headers[name] = value;
  }
  if (values.auth !== undefined) {
    if (!values.auth.includes(":")) throw new UsageError(`--auth must look like user:password`);
    headers.Authorization = `Basic ${Buffer.from(values.auth, "utf8").toString("base64")}`;
  }

  const interactive = io.stdin.isTTY === true && io.stdout.isTTY === true;
  const outStyle = new Style(shouldColor(io.stdout, io.env));
  // Connection events go to stderr in pipe mode, so stdout carries only the messages.
  const statusStream = interactive ? io.stdout : io.stderr;
  const statusStyle = interactive ? outStyle : new Style(shouldColor(io.stderr, io.env));
  const clean = (text: string) => (io.stdout.isTTY ? escapeControls(text) : text);

  let ws: WebSocket;
  try {
    ws = new WebSocket(url.href, values.protocol, {
      headers,
      perMessageDeflate: values.compress,
      rejectUnauthorized: !values["no-check"],
      ...(values.origin === undefined ? {} : { origin: values.origin }),
    });
  } catch (err) {
    // The constructor throws for options it rejects outright (e.g. a malformed subprotocol).
    throw new UsageError(describeError(err));
  }

  return new Promise<number>((resolve) => {
    let rl: readline.Interface | undefined;
    let opened = false;
    let closeRequested = false;
    let inputEnded = false;
    let failure: unknown;
    const pending: string[] = [];
    const timers = new Set<NodeJS.Timeout>();

    /** Prints one line without garbling a half-typed prompt line. */
    const print = (stream: NodeJS.WritableStream, line: string) => {
      if (interactive && rl !== undefined) {
        readline.clearLine(io.stdout, 0);
        readline.cursorTo(io.stdout, 0);
        stream.write(`${line}\n`);
        rl.prompt(true);
      } else {
        stream.write(`${line}\n`);
      }
    };
    const status = (text: string) =>
      print(statusStream, `${statusStyle.dim(timestamp())} ${statusStyle.yellow("*")} ${text}`);
    const problem = (text: string) =>
      print(io.stderr, `${statusStyle.dim(timestamp())} ${statusStyle.red(`error: ${text}`)}`);
    const received = (text: string) =>
      print(io.stdout, `${outStyle.dim(timestamp())} ${outStyle.cyan("<")} ${text}`);

    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };

    const requestClose = (code?: number, reason?: string) => {
      if (closeRequested) {
        // A second Ctrl-C, or the peer never answered: stop waiting.
        ws.terminate();
        return;
      }
      closeRequested = true;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
        try {
          ws.close(code, reason);
        } catch (err) {
          problem(describeError(err));
          ws.terminate();
          return;
        }
        later(CLOSE_GRACE_MS, () => ws.terminate());
      }
    };

    const send = (text: string) => {
      if (ws.readyState !== WebSocket.OPEN) {
        problem("not connected; message not sent");
        return;
      }
      ws.send(text, (err) => {
        if (err) problem(`send failed: ${describeError(err)}`);
      });
      if (!interactive) {
        print(io.stdout, `${outStyle.dim(timestamp())} ${outStyle.green(">")} ${clean(text)}`);
      } else {
        echoTypedLine(text);
      }
    };

    /** Rewrites the line readline just echoed ("> text") with a timestamp, when it fits. */
    const echoTypedLine = (text: string) => {
      // A pseudo-terminal may report 0 columns; treat that as unknown.
      const columns = (io.stdout as { columns?: number }).columns || 80;
      if (text.length + 2 >= columns) return;
      readline.moveCursor(io.stdout, 0, -1);
      readline.clearLine(io.stdout, 0);
      io.stdout.write(`${outStyle.dim(timestamp())} ${outStyle.green(">")} ${clean(text)}\n`);
    };

    const runCommand = (line: string) => {
      const [command = "", ...args] = line.slice(1).split(" ");
      switch (command) {
        case "ping": {
          if (ws.readyState !== WebSocket.OPEN) return problem("not connected; ping not sent");
          const data = args.join(" ");
          ws.ping(data === "" ? undefined : data);
          return status(`ping sent${data ? ` ${clean(data)}` : ""}`);
        }
        case "close":
        case "quit":
        case "exit": {
          const [codeText, ...words] = args;
          const reason = words.join(" ");
          let code: number | undefined;
          if (codeText !== undefined && codeText !== "") {
            code = Number(codeText);
            if (!isSendableCloseCode(code)) {
              return problem(
                `close code must be 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 §7.4), not ${codeText}`,
              );
            }
          }
          if (Buffer.byteLength(reason) > 123) {
            return problem("close reason must be at most 123 bytes (RFC 6455 §5.5)");
          }
          status(`closing${code === undefined ? "" : ` with ${code}`}`);
          return requestClose(code ?? 1000, reason);
        }
        case "help":
          for (const help of INTERACTIVE_HELP) status(help);
          return;
        default:
          return problem(`unknown command /${command} (try /help; start with // to send "/")`);
      }
    };

    const handleLine = (line: string) => {
      if (line.startsWith("//")) return send(line.slice(1));
      if (line.startsWith("/")) return runCommand(line);
      // On a terminal an empty Enter just redraws the prompt; in a pipe every line is a message.
      if (interactive && line === "") return rl?.prompt();
      send(line);
    };

    const onInputLine = (line: string) => {
      if (!opened) {
        pending.push(line);
        return;
      }
      handleLine(line);
      if (interactive) rl?.prompt();
    };

    const finishInput = () => {
      // Input is over (EOF or Ctrl-D): give the server --wait seconds to answer, then close.
      if (waitMs > 0) later(waitMs, () => requestClose(1000));
      else requestClose(1000);
    };

    rl = readline.createInterface({
      input: io.stdin,
      ...(interactive ? { output: io.stdout, prompt: `${outStyle.green(">")} ` } : {}),
      terminal: interactive,
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    rl.on("line", onInputLine);
    rl.on("close", () => {
      rl = undefined;
      if (inputEnded) return;
      inputEnded = true;
      if (opened) finishInput();
    });
    // readline turns Ctrl-C into this event on a terminal; in pipe mode it is a process signal.
    rl.on("SIGINT", () => requestClose(1000));
    const onSignal = () => requestClose(1000);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    ws.on("open", () => {
      opened = true;
      const extras = [
        ws.protocol ? `subprotocol ${ws.protocol}` : "",
        ws.extensions ? `extensions ${ws.extensions}` : "",
      ].filter(Boolean);
      status(
        `connected to ${statusStyle.bold(url.href)}${extras.length ? ` (${extras.join(", ")})` : ""}` +
          (interactive ? " - type a message, /help for commands, Ctrl-C to quit" : ""),
      );
      for (const line of pending.splice(0)) handleLine(line);
      if (inputEnded) finishInput();
      else if (interactive) rl?.prompt();
    });

    ws.on("message", (data: unknown, isBinary: boolean) => {
      const buf = toBuffer(data);
      if (isBinary) received(`${outStyle.dim(`[binary ${buf.length} B]`)} ${toHex(buf)}`);
      else received(clean(buf.toString("utf8")));
    });
    ws.on("ping", (data: Buffer) => {
      received(outStyle.dim(`ping${data.length ? ` ${clean(data.toString("utf8"))}` : ""}`));
    });
    ws.on("pong", (data: Buffer) => {
      received(outStyle.dim(`pong${data.length ? ` ${clean(data.toString("utf8"))}` : ""}`));
    });
    ws.on("error", (err: Error) => {
      failure ??= err;
      problem(describeError(err));
    });
    ws.on("close", (code: number, reason: Buffer) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (rl !== undefined) {
        const closing = rl;
        rl = undefined;
        inputEnded = true;
        if (interactive) {
          // Wipe the idle prompt so the last lines printed do not follow a dangling "> ".
          readline.clearLine(io.stdout, 0);
          readline.cursorTo(io.stdout, 0);
        }
        closing.close();
      }
      if (!opened) {
        if (failure === undefined) problem("connection closed before the handshake completed");
        resolve(1);
        return;
      }
      const why = reason.length ? ` ${JSON.stringify(clean(reason.toString("utf8")))}` : "";
      status(`disconnected: ${code} ${closeCodeName(code)}${why}`);
      const ok = failure === undefined && (closeRequested || CLEAN_CLOSE_CODES.has(code));
      resolve(ok && code !== 1006 ? 0 : 1);
    });
  });
}

/**
 * Close codes an endpoint may put on the wire (RFC 6455 §7.4.1–7.4.2): 1004 is reserved and
 * 1005, 1006 and 1015 exist only to report what happened locally.
 */
function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/** Accepts any of ws's `binaryType` shapes so the printer does not depend on that setting. */
function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(String(data));
}
