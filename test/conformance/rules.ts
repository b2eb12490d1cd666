/**
 * The framing rules of reliability.md §2.3/§2.4 as data, shared by the server-side and client-side
 * suites so every rule is checked in both directions (python-websockets-style symmetric naming:
 * `server receives …` / `client receives …`).
 *
 * A row's `frames(mask)` builds what a peer of the given role sends: `mask` is the peer's correct
 * masking (a raw client masks, a raw server does not), so the row breaks exactly one rule.
 */
import { constants, deflateRawSync } from "node:zlib";
import { type ErrorCode, ErrorCodes } from "../../src/protocol/errors.js";
import {
  closeFrame,
  continuationFrame,
  forgeFrame,
  Opcode,
  rawCloseFrame,
  textFrame,
} from "../helpers/index.js";

/** A sequence of frames that must make the receiver fail the connection with `closeCode`. */
export interface FailureRow {
  /** Test name fragment, after "server receives " / "client receives ". */
  name: string;
  /** The RFC section the rule comes from, put in the test name. */
  rfc: string;
  /** The bytes the misbehaving peer writes (in one write). */
  frames: (mask: boolean) => Buffer[];
  /** Close code the library must send. */
  closeCode: number;
  /** Acceptable stable `err.code` values (socketeer's ErrorCodes); checked against socketeer only. */
  errorCodes: readonly ErrorCode[];
  /** Complete valid messages the frames carry before the violation (delivered). Default 0. */
  messagesBefore?: number;
}

const RSV_FLAGS = ["rsv1", "rsv2", "rsv3"] as const;

/** The frame kinds every RSV rule is checked on; continuation comes after an open fragment. */
const FRAME_KINDS: ReadonlyArray<{
  kind: string;
  build: (mask: boolean, flags: Record<string, boolean>) => Buffer[];
}> = [
  { kind: "text", build: (mask, f) => [forgeFrame({ opcode: 1, payload: "hi", mask, ...f })] },
  { kind: "binary", build: (mask, f) => [forgeFrame({ opcode: 2, payload: "hi", mask, ...f })] },
  {
    kind: "continuation",
    build: (mask, f) => [
      textFrame("a", { mask, fin: false }),
      forgeFrame({ opcode: 0, payload: "b", mask, ...f }),
    ],
  },
  { kind: "ping", build: (mask, f) => [forgeFrame({ opcode: 9, payload: "p", mask, ...f })] },
  { kind: "pong", build: (mask, f) => [forgeFrame({ opcode: 10, payload: "p", mask, ...f })] },
  {
    kind: "close",
    build: (mask, f) => [forgeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]), mask, ...f })],
  },
];

/** RFC 6455 §5.2: RSV1 without a negotiated extension, RSV2 and RSV3 always, on every frame type. */
export function rsvRows(): FailureRow[] {
  const rows: FailureRow[] = [];
  for (const flag of RSV_FLAGS) {
    for (const { kind, build } of FRAME_KINDS) {
      rows.push({
        name: `${flag.toUpperCase()} on a ${kind} frame (no extension)`,
        rfc: "RFC 6455 §5.2",
        frames: (mask) => build(mask, { [flag]: true }),
        closeCode: 1002,
        errorCodes: [flag === "rsv1" ? ErrorCodes.UNEXPECTED_RSV_1 : ErrorCodes.UNEXPECTED_RSV_2_3],
      });
    }
  }
  return rows;
}

/** RFC 6455 §5.2: reserved opcodes 0x3–0x7 and 0xB–0xF, with and without payload. */
export function opcodeRows(): FailureRow[] {
  const rows: FailureRow[] = [];
  for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    for (const payload of ["", "abc"]) {
      rows.push({
        name: `reserved opcode 0x${opcode.toString(16)} ${payload ? "with" : "without"} payload`,
        rfc: "RFC 6455 §5.2",
        frames: (mask) => [forgeFrame({ opcode, payload, mask })],
        closeCode: 1002,
        errorCodes: [ErrorCodes.INVALID_OPCODE],
      });
    }
  }
  return rows;
}

/** RFC 6455 §5.5: control frames over 125 bytes, including via the 16/64-bit length forms. */
export function controlLengthRows(): FailureRow[] {
  const big = Buffer.alloc(126, 0x61);
  const closeBig = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(124, 0x61)]);
  const code = [ErrorCodes.INVALID_CONTROL_PAYLOAD_LENGTH];
  return [
    {
      name: "a ping with a 126-byte payload",
      rfc: "RFC 6455 §5.5",
      frames: (mask) => [forgeFrame({ opcode: Opcode.PING, payload: big, mask })],
      closeCode: 1002,
      errorCodes: code,
    },
    {
      name: "a pong with a 126-byte payload",
      rfc: "RFC 6455 §5.5",
      frames: (mask) => [forgeFrame({ opcode: Opcode.PONG, payload: big, mask })],
      closeCode: 1002,
      errorCodes: code,
    },
    {
      name: "a close with a 126-byte payload",
      rfc: "RFC 6455 §5.5",
      frames: (mask) => [forgeFrame({ opcode: Opcode.CLOSE, payload: closeBig, mask })],
      closeCode: 1002,
      errorCodes: code,
    },
    {
      name: "a ping whose 16-bit length form says 5",
      rfc: "RFC 6455 §5.5",
      frames: (mask) => [
        forgeFrame({ opcode: Opcode.PING, payload: "hello", lengthEncoding: 16, mask }),
      ],
      closeCode: 1002,
      errorCodes: code,
    },
    {
      name: "a ping whose 64-bit length form says 5",
      rfc: "RFC 6455 §5.5",
      frames: (mask) => [
        forgeFrame({ opcode: Opcode.PING, payload: "hello", lengthEncoding: 64, mask }),
      ],
      closeCode: 1002,
      errorCodes: code,
    },
  ];
}

/** RFC 6455 §5.4/§5.5: control frames must not be fragmented. */
export function fragmentedControlRows(): FailureRow[] {
  return (
    [
      ["ping", Opcode.PING, "p"],
      ["pong", Opcode.PONG, "p"],
      ["close", Opcode.CLOSE, Buffer.from([0x03, 0xe8])],
    ] as const
  ).map(([kind, opcode, payload]) => ({
    name: `a fragmented ${kind} (FIN clear)`,
    rfc: "RFC 6455 §5.4",
    frames: (mask: boolean) => [forgeFrame({ opcode, payload, fin: false, mask })],
    closeCode: 1002,
    errorCodes: [ErrorCodes.EXPECTED_FIN],
  }));
}

// Which stable code names "continuation out of place" vs "new message inside one" is a naming
// choice of the implementation (ws uses INVALID_OPCODE for both), so either continuation code passes.
const CONTINUATION_CODES = [
  ErrorCodes.UNEXPECTED_CONTINUATION,
  ErrorCodes.EXPECTED_CONTINUATION,
] as const;

/** RFC 6455 §5.4: continuation frames only inside a message; no new message inside one. */
export function fragmentationRows(): FailureRow[] {
  return [
    {
      name: "a continuation frame with no message in progress (first frame)",
      rfc: "RFC 6455 §5.4",
      frames: (mask) => [continuationFrame("x", { mask })],
      closeCode: 1002,
      errorCodes: CONTINUATION_CODES,
    },
    {
      name: "a non-final continuation frame with no message in progress",
      rfc: "RFC 6455 §5.4",
      frames: (mask) => [continuationFrame("x", { mask, fin: false })],
      closeCode: 1002,
      errorCodes: CONTINUATION_CODES,
    },
    {
      name: "a continuation frame after a complete message",
      rfc: "RFC 6455 §5.4",
      frames: (mask) => [textFrame("done", { mask }), continuationFrame("x", { mask })],
      closeCode: 1002,
      errorCodes: CONTINUATION_CODES,
      messagesBefore: 1,
    },
    {
      name: "a new text frame inside a fragmented text message",
      rfc: "RFC 6455 §5.4",
      frames: (mask) => [textFrame("a", { mask, fin: false }), textFrame("b", { mask })],
      closeCode: 1002,
      errorCodes: CONTINUATION_CODES,
    },
    {
      name: "a new binary frame inside a fragmented text message",
      rfc: "RFC 6455 §5.4",
      frames: (mask) => [
        textFrame("a", { mask, fin: false }),
        forgeFrame({ opcode: 2, payload: "b", mask, fin: false }),
      ],
      closeCode: 1002,
      errorCodes: CONTINUATION_CODES,
    },
    {
      name: "a new text frame inside a fragmented binary message",
      rfc: "RFC 6455 §5.4",
      frames: (mask) => [
        forgeFrame({ opcode: 2, payload: "a", mask, fin: false }),
        continuationFrame("b", { mask, fin: false }),
        textFrame("c", { mask }),
      ],
      closeCode: 1002,
      errorCodes: CONTINUATION_CODES,
    },
  ];
}

/**
 * RFC 6455 §5.2: a 64-bit length with the most significant bit set is invalid → 1002 (ws says
 * 1009; the RFC wins). A huge length with the bit clear is merely over `maxPayload` → 1009. No
 * payload follows: the verdict must come from the header alone.
 */
export function lengthRows(maxPayload: number): FailureRow[] {
  const header = (announcedLength: bigint | number, mask: boolean, lengthEncoding?: 16 | 64) =>
    forgeFrame({
      opcode: Opcode.BINARY,
      announcedLength,
      mask,
      ...(lengthEncoding === undefined ? {} : { lengthEncoding }),
    });
  return [
    {
      name: "a 64-bit length 0x8000000000000000 (MSB set)",
      rfc: "RFC 6455 §5.2",
      frames: (mask) => [header(0x8000000000000000n, mask)],
      closeCode: 1002,
      errorCodes: [ErrorCodes.INVALID_PAYLOAD_LENGTH],
    },
    {
      name: "a 64-bit length 0xFFFFFFFFFFFFFFFF (MSB set)",
      rfc: "RFC 6455 §5.2",
      frames: (mask) => [header(0xffffffffffffffffn, mask)],
      closeCode: 1002,
      errorCodes: [ErrorCodes.INVALID_PAYLOAD_LENGTH],
    },
    {
      name: `an announced length of maxPayload+1 (${maxPayload + 1}) with no body yet`,
      rfc: "RFC 6455 §10.4",
      frames: (mask) => [header(maxPayload + 1, mask)],
      closeCode: 1009,
      errorCodes: [ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH],
    },
    {
      name: "an announced 64-bit length of 2^40 with no body yet",
      rfc: "RFC 6455 §10.4",
      frames: (mask) => [header(2n ** 40n, mask)],
      closeCode: 1009,
      errorCodes: [ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH],
    },
    {
      name: "an announced 64-bit length of 2^53 (MSB clear) with no body yet",
      rfc: "RFC 6455 §10.4",
      frames: (mask) => [header(2n ** 53n, mask)],
      closeCode: 1009,
      errorCodes: [ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH],
    },
    {
      name: "a text fragment whose 16-bit length pushes the message over maxPayload",
      rfc: "RFC 6455 §10.4",
      frames: (mask) => [
        textFrame("a".repeat(maxPayload - 10), { mask, fin: false }),
        forgeFrame({ opcode: 0, announcedLength: 11, mask }),
      ],
      closeCode: 1009,
      errorCodes: [ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH],
    },
  ];
}

/** Invalid UTF-8 byte sequences (Autobahn 6.x / RFC 3629 style), each with what is wrong. */
export const INVALID_UTF8: ReadonlyArray<readonly [string, Buffer]> = [
  ["a lone continuation byte", Buffer.from([0x61, 0x80, 0x62])],
  ["an overlong '/' (C0 AF)", Buffer.from([0xc0, 0xaf])],
  ["an overlong 3-byte NUL (E0 80 80)", Buffer.from([0xe0, 0x80, 0x80])],
  ["a UTF-16 surrogate U+D800 (ED A0 80)", Buffer.from([0xed, 0xa0, 0x80])],
  ["a code point above U+10FFFF (F4 90 80 80)", Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ["a sequence truncated at message end (E2 82)", Buffer.from([0x61, 0xe2, 0x82])],
  ["an invalid continuation byte (E2 28 A1)", Buffer.from([0xe2, 0x28, 0xa1])],
  ["the byte 0xFF", Buffer.from([0x61, 0xff])],
  ["the byte 0xFE", Buffer.from([0xfe])],
];

/** RFC 6455 §8.1: invalid UTF-8 in a single-frame text message → 1007. */
export function utf8Rows(): FailureRow[] {
  const rows: FailureRow[] = INVALID_UTF8.map(([what, bytes]) => ({
    name: `a text frame with ${what}`,
    rfc: "RFC 6455 §8.1",
    frames: (mask: boolean) => [textFrame(bytes, { mask })],
    closeCode: 1007,
    errorCodes: [ErrorCodes.INVALID_UTF8],
  }));
  rows.push(
    {
      name: "a fragmented text message whose final fragment is invalid UTF-8",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [
        textFrame("valid start ", { mask, fin: false }),
        continuationFrame(Buffer.from([0xed, 0xa0, 0x80]), { mask }),
      ],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
    {
      name: "a fragmented text message truncated mid-character at its end (F0 9F | empty FIN)",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [
        textFrame(Buffer.from([0x61, 0xf0, 0x9f]), { mask, fin: false }),
        continuationFrame("", { mask }),
      ],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
  );
  return rows;
}

/**
 * RFC 6455 §8.1 fail-fast (a SHOULD, Autobahn 6.4.x): invalid UTF-8 in a non-final fragment fails
 * the connection when that fragment arrives; the message's final frame is never sent.
 */
export function utf8FailFastRows(): FailureRow[] {
  return [
    {
      name: "invalid UTF-8 (0xFF) in a non-final continuation (fail fast)",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [
        textFrame("ab", { mask, fin: false }),
        continuationFrame(Buffer.from([0x63, 0xff]), { mask, fin: false }),
      ],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
    {
      name: "a character split across fragments whose continuation byte is invalid (fail fast)",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [
        textFrame(Buffer.from([0x61, 0xe2, 0x82]), { mask, fin: false }),
        continuationFrame(Buffer.from([0x28]), { mask, fin: false }),
      ],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
    {
      name: "invalid UTF-8 in the first, non-final text frame (fail fast)",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [textFrame(Buffer.from([0xc0, 0xaf, 0x61]), { mask, fin: false })],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
  ];
}

/** Close codes that must never appear on the wire (RFC 6455 §7.4.1/§7.4.2). */
export const INVALID_CLOSE_CODES = [
  0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
] as const;

/** Close codes a peer may send (RFC 6455 §7.4.1 and the registered/private ranges). */
export const VALID_CLOSE_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
] as const;

/** RFC 6455 §5.5.1/§7.4: malformed close frames. */
export function closeRows(): FailureRow[] {
  const rows: FailureRow[] = [
    {
      name: "a close frame with a 1-byte payload",
      rfc: "RFC 6455 §5.5.1",
      frames: (mask) => [rawCloseFrame(Buffer.from([0x03]), { mask })],
      closeCode: 1002,
      // ws reports this one as a control-length error; either stable code names it fairly.
      errorCodes: [ErrorCodes.INVALID_CLOSE_PAYLOAD, ErrorCodes.INVALID_CONTROL_PAYLOAD_LENGTH],
    },
    {
      name: "a close reason that is invalid UTF-8",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [closeFrame(1000, Buffer.from([0x6f, 0x6b, 0xff]), { mask })],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
    {
      name: "a close reason with a UTF-16 surrogate",
      rfc: "RFC 6455 §8.1",
      frames: (mask) => [closeFrame(1001, Buffer.from([0xed, 0xa0, 0x80]), { mask })],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_UTF8],
    },
  ];
  for (const code of INVALID_CLOSE_CODES) {
    rows.push({
      name: `a close frame with the invalid code ${code}`,
      rfc: "RFC 6455 §7.4",
      frames: (mask) => [closeFrame(code, "", { mask })],
      closeCode: 1002,
      errorCodes: [ErrorCodes.INVALID_CLOSE_CODE],
    });
  }
  return rows;
}

/** Every failure row that needs no negotiated extension and no pacing. */
export function allFramingFailureRows(maxPayload: number): FailureRow[] {
  return [
    ...rsvRows(),
    ...opcodeRows(),
    ...controlLengthRows(),
    ...fragmentedControlRows(),
    ...fragmentationRows(),
    ...lengthRows(maxPayload),
    ...utf8Rows(),
    ...utf8FailFastRows(),
    ...closeRows(),
  ];
}

/**
 * permessage-deflate payload for one message (RFC 7692 §7.2.1): raw DEFLATE, sync-flushed, with the
 * trailing 00 00 FF FF removed.
 */
export function deflateMessage(data: Uint8Array | string): Buffer {
  // finishFlush, not flush: the sync convenience call ends with finishFlush (Z_FINISH by default,
  // which would add a final block instead of the 00 00 FF FF tail RFC 7692 strips).
  const out = deflateRawSync(typeof data === "string" ? Buffer.from(data) : data, {
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  if (out.subarray(-4).toString("hex") !== "0000ffff") throw new Error("no sync-flush tail");
  return out.subarray(0, out.length - 4);
}

/** RFC 7692 §6: rows that apply once permessage-deflate is negotiated. */
export function deflateFailureRows(maxPayload: number): FailureRow[] {
  const bomb = deflateMessage(Buffer.alloc(maxPayload * 100));
  return [
    {
      name: "RSV1 on a ping with permessage-deflate negotiated",
      rfc: "RFC 7692 §6.1",
      frames: (mask) => [forgeFrame({ opcode: Opcode.PING, payload: "p", rsv1: true, mask })],
      closeCode: 1002,
      errorCodes: [ErrorCodes.UNEXPECTED_RSV_1],
    },
    {
      name: "RSV1 on a close with permessage-deflate negotiated",
      rfc: "RFC 7692 §6.1",
      frames: (mask) => [closeFrame(1000, "", { rsv1: true, mask })],
      closeCode: 1002,
      errorCodes: [ErrorCodes.UNEXPECTED_RSV_1],
    },
    {
      name: "RSV1 on a continuation frame with permessage-deflate negotiated",
      rfc: "RFC 7692 §6.1",
      frames: (mask) => {
        const body = deflateMessage("hello hello hello");
        return [
          forgeFrame({ opcode: 1, payload: body.subarray(0, 4), rsv1: true, fin: false, mask }),
          forgeFrame({ opcode: 0, payload: body.subarray(4), rsv1: true, mask }),
        ];
      },
      closeCode: 1002,
      errorCodes: [ErrorCodes.UNEXPECTED_RSV_1],
    },
    {
      name: "a compressed message whose data is not valid DEFLATE",
      rfc: "RFC 7692 §6.2",
      frames: (mask) => [
        forgeFrame({ opcode: 2, payload: Buffer.alloc(16, 0xff), rsv1: true, mask }),
      ],
      closeCode: 1007,
      errorCodes: [ErrorCodes.INVALID_COMPRESSED_DATA],
    },
    {
      name: `a compressed message inflating past maxPayload (${bomb.length} bytes on the wire)`,
      rfc: "RFC 7692 §8.1",
      frames: (mask) => [forgeFrame({ opcode: 2, payload: bomb, rsv1: true, mask })],
      closeCode: 1009,
      errorCodes: [ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH],
    },
    {
      name: "a fragmented compressed message whose inflated sum passes maxPayload",
      rfc: "RFC 7692 §8.1",
      frames: (mask) => {
        // Two independently flushed halves of one DEFLATE stream are not one stream; so deflate
        // the whole message and cut the compressed bytes instead.
        const whole = deflateMessage(Buffer.alloc(maxPayload * 2, 0x61));
        const cut = Math.floor(whole.length / 2);
        return [
          forgeFrame({ opcode: 2, payload: whole.subarray(0, cut), rsv1: true, fin: false, mask }),
          forgeFrame({ opcode: 0, payload: whole.subarray(cut), mask }),
        ];
      },
      closeCode: 1009,
      errorCodes: [ErrorCodes.UNSUPPORTED_MESSAGE_LENGTH],
    },
  ];
}
