/**
 * Output formatting for the `socketeer` CLI: colours (only on a terminal), timestamps,
 * hex for binary messages, close-code names and friendly error text.
 */

/** The subset of a writable stream the CLI's decisions depend on. */
export interface OutputStream {
  /** True when the stream is a terminal (Node sets it on `process.stdout`/`stderr`). */
  readonly isTTY?: boolean;
  /** Writes a chunk; the CLI only writes strings. */
  write(chunk: string): boolean;
}

/**
 * Decides whether to colour output written to `stream`.
 *
 * Colour only on a terminal, and never when `NO_COLOR` is set to a non-empty value
 * (https://no-color.org). `FORCE_COLOR` (non-empty, not "0") turns it on regardless, which is
 * how tests and `less -R` users ask for it.
 */
export function shouldColor(stream: OutputStream, env: NodeJS.ProcessEnv): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== "" && force !== "0") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return stream.isTTY === true;
}

/** Wraps text in ANSI colour codes, or passes it through untouched when disabled. */
export class Style {
  /** Whether escapes are emitted at all. */
  readonly enabled: boolean;

  /** @param enabled normally the result of {@link shouldColor}. */
  constructor(enabled: boolean) {
    this.enabled = enabled;
  }

  /** Errors. */
  red(text: string): string {
    return this.wrap(31, text);
  }

  /** Messages we sent. */
  green(text: string): string {
    return this.wrap(32, text);
  }

  /** Connection events and warnings. */
  yellow(text: string): string {
    return this.wrap(33, text);
  }

  /** Messages we received. */
  cyan(text: string): string {
    return this.wrap(36, text);
  }

  /** Timestamps and secondary detail. */
  dim(text: string): string {
    return this.wrap(2, text, 22);
  }

  /** Emphasis (URLs). */
  bold(text: string): string {
    return this.wrap(1, text, 22);
  }

  private wrap(open: number, text: string, close = 39): string {
    return this.enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  }
}

/** Local wall-clock time as `HH:MM:SS.mmm`: short enough for every line, precise enough to see latency. */
export function timestamp(date: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(
    date.getMilliseconds(),
  ).padStart(3, "0")}`;
}

/**
 * Hex rendering of a binary payload, bytes separated by spaces; stops after `limit` bytes and
 * says how many were left out, so one large frame cannot flood the terminal.
 */
export function toHex(data: Uint8Array, limit = 256): string {
  const shown = Math.min(data.length, limit);
  const parts: string[] = new Array(shown);
  for (let i = 0; i < shown; i++) parts[i] = (data[i] as number).toString(16).padStart(2, "0");
  const rest = data.length - shown;
  return rest > 0 ? `${parts.join(" ")} … (+${rest} bytes)` : parts.join(" ");
}

/**
 * Makes untrusted text safe to print on a terminal.
 *
 * A server controls what it sends; printed raw, an ESC or C1 control character could move the
 * cursor, retitle the window or worse. Tabs and newlines are kept, every other C0/C1 control
 * and DEL is shown as a `\xNN` escape.
 */
export function escapeControls(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (ch) => {
    return `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

const CLOSE_CODE_NAMES: Readonly<Record<number, string>> = {
  1000: "Normal Closure",
  1001: "Going Away",
  1002: "Protocol Error",
  1003: "Unsupported Data",
  1005: "No Status Received",
  1006: "Abnormal Closure",
  1007: "Invalid Payload Data",
  1008: "Policy Violation",
  1009: "Message Too Big",
  1010: "Mandatory Extension",
  1011: "Internal Error",
  1012: "Service Restart",
  1013: "Try Again Later",
  1014: "Bad Gateway",
  1015: "TLS Handshake",
};

/** The RFC 6455 §7.4.1 / IANA registry name of a close code, or a range description. */
export function closeCodeName(code: number): string {
  const name = CLOSE_CODE_NAMES[code];
  if (name !== undefined) return name;
  if (code >= 3000 && code <= 3999) return "registered";
  if (code >= 4000 && code <= 4999) return "application";
  return "unknown";
}

/**
 * One line of human text for a connection or server error: Node's system error codes turned
 * into what the user should check, everything else passed through.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const where = e.address !== undefined ? `${e.address}${e.port ? `:${e.port}` : ""}` : "";
  switch (e.code) {
    case "ECONNREFUSED":
      return `connection refused${where ? ` by ${where}` : ""} (is the server running?)`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `host not found${e.hostname ? `: ${e.hostname}` : ""}`;
    case "ECONNRESET":
      return "connection reset by the server";
    case "ETIMEDOUT":
      return `connection timed out${where ? ` (${where})` : ""}`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `no route to host${where ? ` ${where}` : ""}`;
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "ERR_TLS_CERT_ALTNAME_INVALID":
    case "CERT_HAS_EXPIRED":
      return `TLS certificate rejected: ${e.message} (use --no-check for a self-signed test server)`;
    default:
      return e.message || String(e.code ?? err);
  }
}

/** The process streams a command talks to; `process` in production, fakes are possible in tests. */
export interface CliIo {
  /** Where lines to send come from (a terminal or a pipe). */
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  /** Messages and command output. */
  readonly stdout: OutputStream & NodeJS.WritableStream;
  /** Connection status, warnings and errors when stdout is not a terminal. */
  readonly stderr: OutputStream & NodeJS.WritableStream;
  /** Read for `NO_COLOR` / `FORCE_COLOR`. */
  readonly env: NodeJS.ProcessEnv;
}
