/**
 * Close frame payloads (RFC 6455 §5.5.1) and status codes (RFC 6455 §7.4, IANA registry §11.7).
 *
 * A close payload is either empty or a 2-byte big-endian status code followed by a UTF-8 reason.
 * Control frames carry at most 125 payload bytes (§5.5), which leaves 123 for the reason; the frame
 * parser enforces the 125-byte limit before a payload ever gets here.
 */
import { Buffer } from "node:buffer";
import { ErrorCodes, ProtocolError } from "./errors.js";
import { isValidUtf8 } from "./utf8.js";

/** Close status codes by name (RFC 6455 §7.4.1, plus 1012–1014 from the IANA registry). */
export const CloseCodes = {
  /** 1000: the purpose of the connection has been fulfilled. */
  NORMAL: 1000,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GOING_AWAY: 1001,
  /** 1002: the peer broke the protocol. */
  PROTOCOL_ERROR: 1002,
  /** 1003: a data type the endpoint cannot accept (e.g. binary to a text-only endpoint). */
  UNSUPPORTED_DATA: 1003,
  /** 1005: reserved, never on the wire; reported when a close frame had no status code. */
  NO_STATUS: 1005,
  /** 1006: reserved, never on the wire; reported when the connection dropped without a close frame. */
  ABNORMAL: 1006,
  /** 1007: message data inconsistent with its type (invalid UTF-8 in a text message). */
  INVALID_PAYLOAD: 1007,
  /** 1008: a message violated the endpoint's policy. */
  POLICY_VIOLATION: 1008,
  /** 1009: a message too big to process. */
  MESSAGE_TOO_BIG: 1009,
  /** 1010: the client expected the server to negotiate an extension it did not. */
  MANDATORY_EXTENSION: 1010,
  /** 1011: the server hit an unexpected condition. */
  INTERNAL_ERROR: 1011,
  /** 1012: the service is restarting (IANA registry). */
  SERVICE_RESTART: 1012,
  /** 1013: try again later (IANA registry). */
  TRY_AGAIN_LATER: 1013,
  /** 1014: a gateway or proxy got an invalid response upstream (IANA registry). */
  BAD_GATEWAY: 1014,
  /** 1015: reserved, never on the wire; reported when the TLS handshake failed. */
  TLS_HANDSHAKE: 1015,
} as const;

/** One of the named {@link CloseCodes}. */
export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** Shared zero-length reason: a zero-length Buffer has no bytes anyone could mutate. */
const EMPTY = Buffer.alloc(0);

/**
 * The intrinsic `%TypedArray%.prototype[@@toStringTag]` getter. It reads the internal slot, so
 * unlike `instanceof` it recognises a Uint8Array from another realm (vm, worker transfer), and
 * unlike a property read it cannot be fooled by an object that merely claims the tag.
 */
const typedArrayTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype) as object,
  Symbol.toStringTag,
)?.get as (this: unknown) => string | undefined;

/** True for a `Uint8Array` or `Buffer` from any realm; false for every other view or value. */
function isUint8Array(value: unknown): value is Uint8Array {
  return typedArrayTag.call(value) === "Uint8Array";
}

/** Longest reason that fits a close frame: 125 control-frame bytes minus the 2-byte code. */
const MAX_REASON_BYTES = 123;

/**
 * True when `code` may be sent and received in a close frame (RFC 6455 §7.4.1, §7.4.2):
 * 1000–1003, 1007–1014 and the application/private range 3000–4999. 1004 is reserved, 1005, 1006
 * and 1015 are only ever reported locally; 0–999 are unused and 1016–2999 are reserved for future
 * specifications, so a peer sending one is failed rather than trusted with a meaning we don't know.
 */
export function isValidWireCloseCode(code: number): boolean {
  // Non-integers fail the comparisons' spirit but not their letter (1000.5 lies inside 1000–1003).
  if (!Number.isInteger(code)) return false;
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/**
 * Builds the payload of a close frame to send (RFC 6455 §5.5.1).
 *
 * - no `code`: an empty payload; a non-empty `reason` without a code is a `TypeError`, since the
 *   reason can only follow a code on the wire;
 * - `code` not valid on the wire ({@link isValidWireCloseCode}): `TypeError` (ws wording);
 * - `reason` other than a string, `Buffer` or `Uint8Array`: `TypeError`;
 * - `reason` over 123 bytes once encoded: `RangeError` (ws wording).
 *
 * The result is freshly allocated and every byte of it is written: ws 8.20.1 sized its buffer
 * from `byteLength` of an arbitrary view and copied only part of it, leaking uninitialised memory,
 * which is why non-`Uint8Array` views are refused here instead of reinterpreted.
 *
 * @param code - status code to send, or `undefined` for an empty close frame
 * @param reason - UTF-8 text or raw bytes (the caller vouches that raw bytes are UTF-8)
 * @returns the close frame payload: big-endian code then reason bytes
 */
export function encodeClosePayload(code?: number, reason?: string | Buffer | Uint8Array): Buffer {
  let reasonLength = 0;
  if (reason !== undefined) {
    if (typeof reason === "string") reasonLength = Buffer.byteLength(reason, "utf8");
    else if (isUint8Array(reason)) reasonLength = reason.length;
    else throw new TypeError("The close reason must be a string, a Buffer or a Uint8Array");
  }

  if (code === undefined) {
    if (reasonLength !== 0) {
      throw new TypeError("A close reason cannot be sent without a close code");
    }
    return EMPTY;
  }
  if (typeof code !== "number" || !isValidWireCloseCode(code)) {
    throw new TypeError("First argument must be a valid error code number");
  }
  if (reasonLength > MAX_REASON_BYTES) {
    throw new RangeError("The message must not be greater than 123 bytes");
  }

  // Not allocUnsafe: alloc costs nothing measurable at ≤125 bytes, and it makes "every byte is
  // written" true by construction rather than by careful reasoning about each branch.
  const payload = Buffer.alloc(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  if (typeof reason === "string") payload.write(reason, 2, "utf8");
  else if (reason !== undefined) payload.set(reason, 2);
  return payload;
}

/**
 * Reads the payload of a received close frame (RFC 6455 §5.5.1, §7.1.5).
 *
 * - empty: `{ code: 1005, reason: <empty> }` (no status code was present, §7.1.5);
 * - one byte: {@link ProtocolError} `WS_ERR_INVALID_CLOSE_PAYLOAD`, close 1002;
 * - a code not valid on the wire: `WS_ERR_INVALID_CLOSE_CODE`, close 1002 (§7.4.1);
 * - a reason that is not UTF-8: `WS_ERR_INVALID_UTF8`, close 1007 (§5.5.1, §8.1).
 *
 * @param payload - the unmasked close frame payload (at most 125 bytes, checked by the parser)
 * @returns the code and the reason as a Buffer view over `payload` (no copy)
 */
export function decodeClosePayload(payload: Uint8Array): { code: number; reason: Buffer } {
  const length = payload.length;
  if (length === 0) return { code: CloseCodes.NO_STATUS, reason: EMPTY };
  if (length === 1) {
    throw new ProtocolError(
      ErrorCodes.INVALID_CLOSE_PAYLOAD,
      1002,
      "Invalid close frame payload: a 1-byte payload cannot hold a status code",
    );
  }

  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidWireCloseCode(code)) {
    throw new ProtocolError(ErrorCodes.INVALID_CLOSE_CODE, 1002, `Invalid close code ${code}`);
  }

  const reason = Buffer.from(payload.buffer, payload.byteOffset + 2, length - 2);
  if (!isValidUtf8(reason)) {
    throw new ProtocolError(ErrorCodes.INVALID_UTF8, 1007, "Invalid UTF-8 in the close reason");
  }
  return { code, reason };
}
