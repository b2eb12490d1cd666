/**
 * Small HTTP/1.1 helpers shared by the WebSocket server and its own port-mode listener: token
 * lists in header values, and the one-write error response that ends a refused handshake.
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";

/** Until a WebSocket owns the socket, a peer's reset must not become an uncaught 'error'. */
export function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** True when the comma-separated header `value` contains `token` (ASCII case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  // The usual case, a lone token ("Upgrade", "websocket"), without splitting.
  if (value.length === token.length) return value.toLowerCase() === token;
  for (const part of value.split(",")) {
    if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** Header lines (`Name: value\r\n`) for `headers`; throws on names or values HTTP forbids. */
export function formatHeaders(headers: http.OutgoingHttpHeaders): string {
  let out = "";
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    // Node's validators refuse CR, LF and other characters that would let a value split the
    // response (header injection).
    http.validateHeaderName(name);
    for (const item of Array.isArray(value) ? value : [value]) {
      const text = String(item);
      http.validateHeaderValue(name, text);
      out += `${name}: ${text}\r\n`;
    }
  }
  return out;
}

/**
 * Answers a refused handshake with one write: status line, `Connection: close`, plain-text body
 * (default: the status text; none when `headRequest`), then destroys the socket once the response
 * is flushed. Caller `headers` replace our defaults case-insensitively.
 */
export function abortHandshake(
  socket: Duplex,
  code: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
  headRequest = false,
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const reason = http.STATUS_CODES[code] ?? "Unknown";
  const body = message ?? reason;
  const fields: http.OutgoingHttpHeaders = {
    Connection: "close",
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  };
  let extra = "";
  if (headers !== undefined) {
    for (const name of Object.keys(headers)) {
      const lower = name.toLowerCase();
      for (const ours of Object.keys(fields)) {
        if (ours.toLowerCase() === lower) delete fields[ours];
      }
    }
    extra = formatHeaders(headers);
  }
  socket.once("finish", () => socket.destroy());
  // RFC 9110 §9.3.2: the answer to HEAD has the headers a GET would get, and no body.
  const content = headRequest ? "" : body;
  socket.end(`HTTP/1.1 ${code} ${reason}\r\n${formatHeaders(fields)}${extra}\r\n${content}`);
}
