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

/** A method: one or more token characters (RFC 9110 §5.6.2). */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A request target: visible ASCII and obs-text, no spaces (RFC 9112 §3.2). */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
/**
 * Every field line of a head at once: `name ":" value`, lines joined by CRLF. Names cannot hold
 * a colon and values cannot hold CR or LF, so each line matches one way only (linear time).
 * Sticky, so it checks the head from just past the request line without slicing it.
 */
const FIELD_LINES = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n(?!$)|$))*$/y;

/**
 * Field names as the usual clients spell them (browsers, ws, undici, python-websockets), with
 * their lower-case forms, grouped by length. A name spelled exactly so costs no string of its own:
 * both `rawHeaders` and `headers` get these constants. Other names are sliced and lower-cased.
 */
const KNOWN_NAMES: Array<Array<[raw: string, lower: string]>> = [];
for (const raw of [
  "Host",
  "Upgrade",
  "Connection",
  "Origin",
  "Pragma",
  "Cache-Control",
  "User-Agent",
  "Accept-Encoding",
  "Accept-Language",
  "Cookie",
  "Authorization",
  "Sec-WebSocket-Key",
  "Sec-WebSocket-Version",
  "Sec-WebSocket-Extensions",
  "Sec-WebSocket-Protocol",
]) {
  const lower = raw.toLowerCase();
  for (const spelling of [raw, lower]) {
    (KNOWN_NAMES[spelling.length] ??= []).push([spelling, lower]);
  }
}

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

/** Optional whitespace: SP and HTAB only (RFC 9110 §5.6.3). */
function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** The known spelling of the name at `head[start, start + length)`, or undefined. */
function knownName(head: string, start: number, length: number): [string, string] | undefined {
  const candidates = KNOWN_NAMES[length];
  if (candidates === undefined) return undefined;
  for (const known of candidates) if (head.startsWith(known[0], start)) return known;
  return undefined;
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
  const length = head.length;
  let lineEnd = head.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = length;
  // method SP request-target SP "HTTP/" DIGIT "." DIGIT (RFC 9112 §3), read without a regex
  // capture so the common request line costs one string (the target).
  const space1 = head.indexOf(" ");
  const space2 = space1 === -1 ? -1 : head.indexOf(" ", space1 + 1);
  const major = head.charCodeAt(lineEnd - 3) - 0x30;
  const minor = head.charCodeAt(lineEnd - 1) - 0x30;
  if (
    space1 < 1 ||
    space2 === -1 ||
    lineEnd - space2 !== 9 ||
    !head.startsWith("HTTP/", space2 + 1) ||
    !(major >= 0 && major <= 9) ||
    head.charCodeAt(lineEnd - 2) !== 0x2e ||
    !(minor >= 0 && minor <= 9)
  ) {
    return { status: 400, reason: "Malformed request line" };
  }
  const method = space1 === 3 && head.startsWith("GET") ? "GET" : head.slice(0, space1);
  const url = head.slice(space1 + 1, space2);
  if (!METHOD.test(method) || !TARGET.test(url)) {
    return { status: 400, reason: "Malformed request line" };
  }
  const headers: Record<string, string | string[]> = {};
  const rawHeaders: string[] = [];
  let hostLines = 0;
  if (lineEnd < length) {
    // One pass checks every line; a bare LF or CR, obs-fold (a line starting with SP/HTAB),
    // whitespace before the colon and control characters all fail it: RFC 9112 §2.2, §5.1, §5.2.
    FIELD_LINES.lastIndex = lineEnd + 2;
    if (!FIELD_LINES.test(head)) return { status: 400, reason: "Malformed header field" };
    let start = lineEnd + 2;
    while (start < length) {
      let end = head.indexOf("\r\n", start);
      if (end === -1) end = length;
      const colon = head.indexOf(":", start);
      let valueStart = colon + 1;
      let valueEnd = end;
      while (valueStart < valueEnd && isOws(head.charCodeAt(valueStart))) valueStart++;
      while (valueEnd > valueStart && isOws(head.charCodeAt(valueEnd - 1))) valueEnd--;
      const value = head.slice(valueStart, valueEnd);
      const known = knownName(head, start, colon - start);
      const rawName = known === undefined ? head.slice(start, colon) : known[0];
      start = end + 2;
      rawHeaders.push(rawName, value);
      const name = known === undefined ? rawName.toLowerCase() : known[1];
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
  // RFC 9110 §15.6.6: HTTP/2 and later do not use this syntax (an h2 preface lands here).
  if (major !== 1) return { status: 505, reason: "HTTP Version Not Supported" };
  // RFC 9112 §3.2: an HTTP/1.1 request MUST carry exactly one Host field, else 400.
  if (hostLines > 1 || (hostLines === 0 && minor >= 1)) {
    return { status: 400, reason: hostLines > 1 ? "Repeated Host header" : "Missing Host header" };
  }
  return { method, url, versionMajor: major, versionMinor: minor, headers, rawHeaders };
}

/** True when `result` is a failure rather than a head. */
export function isHeadFailure(result: RequestHead | HeadFailure): result is HeadFailure {
  return (result as HeadFailure).status !== undefined;
}
