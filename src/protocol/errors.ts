/**
 * The one error type the protocol core throws or reports.
 *
 * Every failure carries the close code to send (RFC 6455 §7.4.1) and a stable string code
 * in ws's style (`WS_ERR_…`), so callers and tests match on `code`, never on message text.
 */

/** Stable string codes for every way a peer can break the protocol. */
export const ErrorCodes = {
  /** Opcode 0x3–0x7 or 0xB–0xF (RFC 6455 §5.2). */
  INVALID_OPCODE: "WS_ERR_INVALID_OPCODE",
  /** RSV1 set without a negotiated extension, or on a control/continuation frame. */
  UNEXPECTED_RSV_1: "WS_ERR_UNEXPECTED_RSV_1",
  /** RSV2 or RSV3 set: no extension we implement defines them. */
  UNEXPECTED_RSV_2_3: "WS_ERR_UNEXPECTED_RSV_2_3",
  /** A server received an unmasked frame (RFC 6455 §5.1). */
  EXPECTED_MASK: "WS_ERR_EXPECTED_MASK",
  /** A client received a masked frame (RFC 6455 §5.1). */
  UNEXPECTED_MASK: "WS_ERR_UNEXPECTED_MASK",
  /** A control frame with FIN clear (RFC 6455 §5.5). */
  EXPECTED_FIN: "WS_ERR_EXPECTED_FIN",
  /** A control frame whose payload is over 125 bytes (RFC 6455 §5.5). */
  INVALID_CONTROL_PAYLOAD_LENGTH: "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
  /** A 64-bit length with its most significant bit set (RFC 6455 §5.2). */
  INVALID_PAYLOAD_LENGTH: "WS_ERR_INVALID_PAYLOAD_LENGTH",
  /** A continuation frame with no message in progress, or a new message inside one. */
  UNEXPECTED_CONTINUATION: "WS_ERR_UNEXPECTED_CONTINUATION",
  /** A data frame arrived while a fragmented message was still open. */
  EXPECTED_CONTINUATION: "WS_ERR_EXPECTED_CONTINUATION",
  /** A message (announced, summed over fragments, or inflated) over `maxPayload`. */
  UNSUPPORTED_MESSAGE_LENGTH: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
  /** More fragments in one message than `maxFragments` allows. */
  TOO_MANY_FRAGMENTS: "WS_ERR_TOO_MANY_FRAGMENTS",
  /** Invalid UTF-8 in a text message or a close reason (RFC 6455 §8.1). */
  INVALID_UTF8: "WS_ERR_INVALID_UTF8",
  /** A close frame with a 1-byte payload (RFC 6455 §5.5.1). */
  INVALID_CLOSE_PAYLOAD: "WS_ERR_INVALID_CLOSE_PAYLOAD",
  /** A close code that may not appear on the wire (RFC 6455 §7.4). */
  INVALID_CLOSE_CODE: "WS_ERR_INVALID_CLOSE_CODE",
  /** A compressed message that does not inflate (RFC 7692 §6.2). */
  INVALID_COMPRESSED_DATA: "WS_ERR_INVALID_COMPRESSED_DATA",
} as const;

/** One of the {@link ErrorCodes} values. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Close codes a protocol failure can ask for (RFC 6455 §7.4.1). */
export type FailureCloseCode = 1002 | 1007 | 1008 | 1009 | 1011;

/**
 * A peer broke RFC 6455/7692 or a configured limit. `closeCode` is what to send in the close
 * frame that fails the connection; `code` is the stable identifier.
 *
 * Extends `RangeError` as ws's receiver errors do, so `instanceof RangeError` checks written for
 * ws keep working.
 */
export class ProtocolError extends RangeError {
  /** Stable identifier, e.g. `WS_ERR_INVALID_OPCODE`. */
  readonly code: ErrorCode;
  /** The close code the connection is failed with. */
  readonly closeCode: FailureCloseCode;

  /**
   * @param code - stable identifier from {@link ErrorCodes}
   * @param closeCode - close code to send when failing the connection
   * @param message - human-readable detail
   */
  constructor(code: ErrorCode, closeCode: FailureCloseCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.closeCode = closeCode;
  }
}
