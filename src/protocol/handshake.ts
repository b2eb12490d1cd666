/**
 * Opening-handshake pieces that need no socket (RFC 6455 §4.1, §4.2, §11.3): the key and its
 * accept hash, the version check, and the `Sec-WebSocket-Protocol` list.
 *
 * Header parsing here is a single left-to-right character scan with no regular expressions:
 * ws CVE-2021-32640 was a regex split of this very header that went quadratic on a value like
 * `b` + many spaces + `x`, and a scanner cannot backtrack.
 */
import * as crypto from "node:crypto";
import { createHash, randomBytes } from "node:crypto";

/** The GUID every `Sec-WebSocket-Accept` is derived with (RFC 6455 §1.3, §4.2.2). */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * The `Sec-WebSocket-Accept` value for a client key (RFC 6455 §4.2.2 step 5.4):
 * base64 of the SHA-1 of the key concatenated with {@link WEBSOCKET_GUID}.
 *
 * @param key - the client's `Sec-WebSocket-Key`, as sent (not decoded)
 */
export function acceptKey(key: string): string {
  const input = key + WEBSOCKET_GUID;
  if (oneShotHash !== undefined) return oneShotHash("sha1", input, "base64");
  return createHash("sha1").update(input).digest("base64");
}

/**
 * `crypto.hash` (Node >= 20.12): a one-shot digest without a Hash object, about 3× faster than
 * `createHash` for a 60-byte input, which shows at thousands of handshakes a second.
 */
const oneShotHash = (
  crypto as { hash?: (algorithm: string, data: string, encoding: "base64") => string }
).hash;

/** 1 for each char code in the base64 alphabet (`A–Z a–z 0–9 + /`), indexed by code < 128. */
const BASE64_CHARS = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
  BASE64_CHARS[ch.charCodeAt(0)] = 1;
}

/**
 * True when `value` is a `Sec-WebSocket-Key` a server may accept (RFC 6455 §4.2.1 item 5): the
 * base64 encoding of 16 bytes, i.e. exactly 22 alphabet characters followed by `==`.
 *
 * This is ws's rule: it does not insist that the last alphabet character leave its low 4 bits
 * zero (canonical encoding), since lenient decoders still read 16 bytes from such a key.
 */
export function isValidKey(value: unknown): boolean {
  if (typeof value !== "string" || value.length !== 24) return false;
  if (value.charCodeAt(22) !== 0x3d || value.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) {
    // Codes >= 128 index past the table and read undefined, which is not 1.
    if (BASE64_CHARS[value.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

/** A fresh `Sec-WebSocket-Key`: base64 of 16 random bytes (RFC 6455 §4.1 item 7). */
export function generateKey(): string {
  return randomBytes(16).toString("base64");
}

/**
 * `Sec-WebSocket-Version` values we accept (RFC 6455 §4.2.1 item 6, §11.3.5). 13 is RFC 6455;
 * 8 is draft hybi-08..12 whose wire format is identical, accepted for ws parity.
 */
export const SUPPORTED_VERSIONS: readonly string[] = Object.freeze(["13", "8"]);

/**
 * The `Sec-WebSocket-Version` header value to send with a 400/426 response when the client asked
 * for a version we do not speak (RFC 6455 §4.2.2, §4.4).
 */
export const SUPPORTED_VERSIONS_HEADER = "13, 8";

/**
 * True when a request's `Sec-WebSocket-Version` names a version we speak. The match is exact:
 * a list (`"13, 8"`), padding (`" 13"`), or a numeric spelling (`"013"`, `"0xd"`) is refused,
 * where ws converts the header with `+value` and would accept the last three.
 *
 * @param value - the header value, or `undefined` when it is missing
 */
export function isSupportedVersion(value: string | undefined): boolean {
  return value === "13" || value === "8";
}

/**
 * RFC 7230 §3.2.6 `tchar`, indexed by char code: `!#$%&'*+-.^_`|~`, digits and letters.
 * A table lookup is branch-free per character, which matters when scanning attacker-sized headers.
 */
const TOKEN_CHARS = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TOKEN_CHARS[ch.charCodeAt(0)] = 1;
}

/**
 * True when the UTF-16 code unit `code` is an RFC 7230 `tchar` (RFC 7230 §3.2.6). Anything at or
 * above 128 is not.
 */
export function isTokenChar(code: number): boolean {
  return TOKEN_CHARS[code] === 1;
}

/** True when `value` is a non-empty RFC 7230 token. */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (TOKEN_CHARS[value.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

/** Space or horizontal tab: RFC 7230 `OWS`. */
function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Parses a `Sec-WebSocket-Protocol` header value (RFC 6455 §4.1, §11.3.4): a comma-separated list
 * of RFC 7230 tokens, with optional spaces and tabs around each comma (and around the whole value,
 * which RFC 7230 §3.2.4 says is not part of it).
 *
 * Throws `SyntaxError` (with the offending index) on an empty element (`a,,b`, a trailing comma,
 * an empty value), a non-token character (`a b`, quotes, control or non-ASCII characters) or a
 * duplicate (`a, a`). Names are plain strings in a `Set`, so `__proto__` is just a name.
 *
 * One pass, constant work per character.
 *
 * @param header - the header field value
 * @returns the protocols, in header order
 */
export function parseProtocolList(header: string): Set<string> {
  const protocols = new Set<string>();
  const length = header.length;
  let i = 0;
  for (;;) {
    while (i < length && isOws(header.charCodeAt(i))) i++;
    const start = i;
    while (i < length && TOKEN_CHARS[header.charCodeAt(i)] === 1) i++;
    if (i === start) {
      if (i === length) throw new SyntaxError(`Expected a subprotocol name at index ${i}`);
      const code = header.charCodeAt(i);
      throw new SyntaxError(
        code === 0x2c
          ? `Empty subprotocol name at index ${i}`
          : `Unexpected character at index ${i} in a subprotocol list`,
      );
    }
    const name = header.slice(start, i);
    if (protocols.has(name)) {
      throw new SyntaxError(`The "${name}" subprotocol is duplicated (index ${start})`);
    }
    protocols.add(name);
    while (i < length && isOws(header.charCodeAt(i))) i++;
    if (i === length) return protocols;
    if (header.charCodeAt(i) !== 0x2c) {
      throw new SyntaxError(`Unexpected character at index ${i} in a subprotocol list`);
    }
    i++; // past the comma: the next element must be a name
  }
}

/**
 * Checks the subprotocols a client is about to offer (the `protocols` argument of the client
 * constructor): each must be a token string (RFC 6455 §4.1 item 10) and none may repeat.
 *
 * @throws SyntaxError "An invalid or duplicated subprotocol was specified" (ws wording)
 */
export function validateClientProtocols(protocols: ReadonlyArray<unknown>): void {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (typeof protocol !== "string" || !isToken(protocol) || seen.has(protocol)) {
      throw new SyntaxError("An invalid or duplicated subprotocol was specified");
    }
    seen.add(protocol);
  }
}
