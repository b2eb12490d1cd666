/**
 * A strict parser for one HTTP/1.1 request head (RFC 9112 §2–§5), for the server's own port.
 *
 * Why our own: in `{ port }` mode socketeer owns the listening socket and only ever needs the
 * head of an upgrade request. Node's http server costs about a tenth of a handshake's CPU in
 * per-connection setup we never use (response machinery, keep-alive, parser pooling), so the
 * port-mode server reads the head itself with this parser. `{ server }` and `{ noServer }` keep
 * Node's parser, as the app owns that server.
 *
 * Strict on purpose: anything RFC 9112 lets a server reject is rejected (bare LF, obs-fold,
 * whitespace before a colon, control characters, a malformed request line), and what it requires
 * a server to reject is (a missing or repeated Host: §3.2), so one head has one meaning. Linear time: every line is checked by a regular expression without nested or
 * overlapping quantifiers, and optional whitespace is trimmed by hand.
 */

/** The head of an HTTP request, shaped like what Node's `IncomingMessage` carries. */
export interface RequestHead {
  /** The method token, e.g. `GET`. */
  method: string;
  /** The request target as sent, e.g. `/chat?room=1`. */
  url: string;
  /** `1` for HTTP/1.x. */
  versionMajor: number;
  /** `1` for HTTP/1.1. */
  versionMinor: number;
  /**
   * Field values by lower-cased name, combined as Node's http does: repeated fields joined with
   * ", " (`cookie` with "; "), the first one kept for single-valued fields (`host`,
   * `content-length`, …), `set-cookie` as an array.
   */
  headers: Record<string, string | string[]>;
  /** Names and values as received, alternating: `[name0, value0, name1, value1, …]`. */
  rawHeaders: string[];
}

/** Why a head was refused, with the status to answer. */
export interface HeadFailure {
  /** 400 for a malformed head, 505 for an HTTP version other than 1.x. */
  status: 400 | 505;
  /** What was wrong, for logs. */
  reason: string;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP\/(\d)\.(\d)$/;
/**
 * Every field line of a head at once: `name ":" value`, lines joined by CRLF. Names cannot hold
 * a colon and values cannot hold CR or LF, so each line matches one way only (linear time).
 */
const FIELD_LINES = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n(?!$)|$))*$/;

/**
 * Fields Node's http keeps the first value of when repeated (its `matchKnownFields`), so that
 * `req.headers` here means what it means behind Node's own server.
 */
const FIRST_WINS = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/**
 * Finds the end of a request head: the index just past the blank line (`\r\n\r\n`), or -1.
 * @param data - the bytes received so far
 * @param from - where to start looking (the caller passes the previous length minus 3, so a
 *   terminator split across reads is found without rescanning the whole head)
 */
export function findHeadEnd(data: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i + 3 < data.length; i++) {
    if (data[i] === 0x0d && data[i + 1] === 0x0a && data[i + 2] === 0x0d && data[i + 3] === 0x0a) {
      return i + 4;
    }
  }
  return -1;
}

/** Strips optional whitespace (SP and HTAB only: RFC 9110 §5.6.3) from both ends. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) {
    start++;
  }
  while (
    end > start &&
    (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)
  ) {
    end--;
  }
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** Sets `headers[name]` even for names like `__proto__` (an own property, never the prototype). */
function define(
  headers: Record<string, string | string[]>,
  name: string,
  value: string | string[],
) {
  if (name === "__proto__") {
    Object.defineProperty(headers, name, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    headers[name] = value;
  }
}

/**
 * Parses a request head.
 * @param head - the head as latin1 text, from the request line up to (not including) the blank
 *   line that ends it
 * @returns the parsed head, or why it is malformed
 */
export function parseRequestHead(head: string): RequestHead | HeadFailure {
  let lineEnd = head.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = head.length;
  const requestLine = REQUEST_LINE.exec(head.slice(0, lineEnd));
  if (requestLine === null) return { status: 400, reason: "Malformed request line" };
  const headers: Record<string, string | string[]> = {};
  const rawHeaders: string[] = [];
  let hostLines = 0;
  if (lineEnd < head.length) {
    const fields = head.slice(lineEnd + 2);
    // One pass checks every line; a bare LF or CR, obs-fold (a line starting with SP/HTAB),
    // whitespace before the colon and control characters all fail it: RFC 9112 §2.2, §5.1, §5.2.
    if (!FIELD_LINES.test(fields)) return { status: 400, reason: "Malformed header field" };
    let start = 0;
    while (start < fields.length) {
      let end = fields.indexOf("\r\n", start);
      if (end === -1) end = fields.length;
      const colon = fields.indexOf(":", start);
      const rawName = fields.slice(start, colon);
      const value = trimOws(fields.slice(colon + 1, end));
      start = end + 2;
      rawHeaders.push(rawName, value);
      const name = rawName.toLowerCase();
      if (name === "host") hostLines++;
      const previous = Object.hasOwn(headers, name) ? headers[name] : undefined;
      if (name === "set-cookie") {
        if (previous === undefined) define(headers, name, [value]);
        else (previous as string[]).push(value);
      } else if (previous === undefined) {
        define(headers, name, value);
      } else if (!FIRST_WINS.has(name)) {
        define(headers, name, `${previous as string}${name === "cookie" ? "; " : ", "}${value}`);
      }
    }
  }
  const versionMajor = Number(requestLine[3]);
  const versionMinor = Number(requestLine[4]);
  // RFC 9110 §15.6.6: HTTP/2 and later do not use this syntax (an h2 preface lands here).
  if (versionMajor !== 1) return { status: 505, reason: "HTTP Version Not Supported" };
  // RFC 9112 §3.2: an HTTP/1.1 request MUST carry exactly one Host field, else 400.
  if (hostLines > 1 || (hostLines === 0 && versionMinor >= 1)) {
    return { status: 400, reason: hostLines > 1 ? "Repeated Host header" : "Missing Host header" };
  }
  return {
    method: requestLine[1]!,
    url: requestLine[2]!,
    versionMajor,
    versionMinor,
    headers,
    rawHeaders,
  };
}

/** True when `result` is a failure rather than a head. */
export function isHeadFailure(result: RequestHead | HeadFailure): result is HeadFailure {
  return (result as HeadFailure).status !== undefined;
}
