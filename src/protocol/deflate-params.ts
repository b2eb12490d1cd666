/**
 * permessage-deflate negotiation (RFC 7692 §5, §7.1) as pure functions: validate the parameters
 * of one offer or response, choose the server's answer, check the client's answer. No zlib here;
 * `src/node/deflate.ts` applies the result.
 *
 * The four parameters:
 * - `server_no_context_takeover` / `client_no_context_takeover` (§7.1.1): no value;
 * - `server_max_window_bits` (§7.1.2.1): a value 8–15 in offers and responses;
 * - `client_max_window_bits` (§7.1.2.2): no value or 8–15 in an offer, a value 8–15 in a response.
 * A value is `1*DIGIT` without leading zeros, so `08`, `+9`, `9.0` and `` are all invalid.
 *
 * Where this differs from ws 8 (RFC 7692 wins):
 * - An offer with an unknown, duplicated or invalid parameter is declined and the next offer is
 *   tried (§5.1: the server MUST decline it); ws fails the whole handshake with 400.
 * - A numeric `serverMaxWindowBits`/`clientMaxWindowBits` option smaller than what the client
 *   offered is answered with the smaller of the two (§7.1.2) instead of declining the offer; and
 *   a numeric `clientMaxWindowBits` with an offer lacking `client_max_window_bits` accepts the
 *   offer without the parameter (§7.1.2.2 forbids sending it then) instead of declining.
 * - A client accepts `client_no_context_takeover` in any response (§7.1.1.2: it can always
 *   honour it) and a `client_max_window_bits` response value above what it offered (§7.1.2.2: it
 *   keeps its own smaller window); ws rejects both in some option combinations.
 * - A client rejects a response that drops `server_no_context_takeover` or
 *   `server_max_window_bits=N` it offered, or raises N (§7.1.1.1, §7.1.2.1); ws does not check.
 * - `serverMaxWindowBits: true` on a client offers nothing (an offer's `server_max_window_bits`
 *   needs a value, §7.1.2.1); ws writes a bare `server_max_window_bits`, which RFC-following
 *   servers must decline.
 */
import { type ExtensionOffer, formatExtensions } from "./extensions.js";

/** The extension token (RFC 7692 §6). */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** The largest LZ77 window, 2^15 bytes: what applies when no `*_max_window_bits` is agreed. */
export const DEFAULT_WINDOW_BITS = 15;

/** The smallest LZ77 window RFC 7692 allows, 2^8 bytes. */
export const MIN_WINDOW_BITS = 8;

/**
 * The negotiation side of the `perMessageDeflate` options (ws names and meanings).
 * `undefined` means "not set".
 */
export interface DeflateNegotiationOptions {
  /**
   * Server: always answer with `server_no_context_takeover`; `false` declines offers asking for
   * it. Client: ask the server not to keep its context between messages.
   */
  serverNoContextTakeover?: boolean | undefined;
  /**
   * Server: tell the client not to keep its context. Client: announce that we will not (and then
   * we do not, whatever the server answers, §7.1.1.2).
   */
  clientNoContextTakeover?: boolean | undefined;
  /**
   * Server: a number caps our window (the answer carries the smaller of it and the client's
   * limit); `false` declines offers that limit it. Client: a number asks the server to use at most
   * that window; `true`/`false` offer nothing.
   */
  serverMaxWindowBits?: number | boolean | undefined;
  /**
   * Server: a number asks the client to use at most that window (only when the client offered
   * `client_max_window_bits`); `false` never sends the parameter. Client: a number offers (and
   * caps our window at) that value; `true` or unset offers the bare parameter; `false` does not
   * offer it, so the server may not restrict us.
   */
  clientMaxWindowBits?: number | boolean | undefined;
}

/**
 * The parameters of one validated permessage-deflate element. `null` means absent; `true` for
 * `clientMaxWindowBits` means present without a value (only valid in an offer).
 */
export interface DeflateParams {
  /** `server_no_context_takeover` present. */
  serverNoContextTakeover: boolean;
  /** `client_no_context_takeover` present. */
  clientNoContextTakeover: boolean;
  /** `server_max_window_bits` value, or `null` when absent. */
  serverMaxWindowBits: number | null;
  /** `client_max_window_bits` value, `true` when present without one, `null` when absent. */
  clientMaxWindowBits: number | true | null;
}

/** What both ends use once the handshake is done: every field has its effective value. */
export interface NegotiatedDeflate {
  /** The server resets its compressor after each message. */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message. */
  clientNoContextTakeover: boolean;
  /** Base-2 log of the window the server compresses with (8–15). */
  serverMaxWindowBits: number;
  /** Base-2 log of the window the client compresses with (8–15). */
  clientMaxWindowBits: number;
}

/** Result of a check that can fail: the value, or why not (a sentence for logs and errors). */
export type DeflateResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** A server's decision to accept one offer. */
export interface DeflateAcceptance {
  /** Index of the accepted offer in the list given to {@link selectDeflateOffer}. */
  index: number;
  /** The parameters to answer with (format them with {@link formatDeflateParams}). */
  response: DeflateParams;
  /** The effective configuration for both directions. */
  negotiated: NegotiatedDeflate;
}

const SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS = "client_max_window_bits";

/**
 * Parses a window-bits value: `1*DIGIT` without leading zeros, 8 to 15 (RFC 7692 §7.1.2).
 * Returns `null` for anything else; the check is by characters so `"+9"`, `"9.0"`, `" 9"` and
 * `"0x9"` (all of which `Number()` would accept) are refused.
 */
export function parseWindowBits(value: string): number | null {
  if (value.length === 1) {
    const code = value.charCodeAt(0);
    return code === 0x38 || code === 0x39 ? code - 0x30 : null; // "8" or "9"
  }
  if (value.length === 2 && value.charCodeAt(0) === 0x31 /* 1 */) {
    const code = value.charCodeAt(1);
    return code >= 0x30 && code <= 0x35 ? 10 + code - 0x30 : null; // "10" to "15"
  }
  return null;
}

/** A readable rendering of a parameter value for error messages. */
function showValue(value: string | true): string {
  return value === true ? "no value" : `"${value}"`;
}

/**
 * Validates the parameters of one permessage-deflate element (RFC 7692 §5, §7.1): known names
 * only, each at most once, values of the right form.
 *
 * @param params - the element's parameters as parsed by `parseExtensions`
 * @param from - `"offer"` (client to server) or `"response"` (server to client); a response's
 *   `client_max_window_bits` must carry a value (§7.1.2.2)
 */
export function parseDeflateParams(
  params: ReadonlyMap<string, ReadonlyArray<string | true>>,
  from: "offer" | "response",
): DeflateResult<DeflateParams> {
  const parsed: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: null,
    clientMaxWindowBits: null,
  };
  for (const [name, values] of params) {
    if (values.length !== 1) {
      return { ok: false, reason: `Parameter "${name}" appears ${values.length} times` };
    }
    const value = values[0] as string | true;
    switch (name) {
      case SERVER_NO_CONTEXT_TAKEOVER:
      case CLIENT_NO_CONTEXT_TAKEOVER:
        if (value !== true) {
          return {
            ok: false,
            reason: `Parameter "${name}" takes no value, got ${showValue(value)} (RFC 7692 §7.1.1)`,
          };
        }
        if (name === SERVER_NO_CONTEXT_TAKEOVER) parsed.serverNoContextTakeover = true;
        else parsed.clientNoContextTakeover = true;
        break;
      case SERVER_MAX_WINDOW_BITS: {
        const bits = value === true ? null : parseWindowBits(value);
        if (bits === null) {
          return {
            ok: false,
            reason: `Invalid value for "${name}": ${showValue(value)} (RFC 7692 §7.1.2.1: an integer 8-15 without leading zeros)`,
          };
        }
        parsed.serverMaxWindowBits = bits;
        break;
      }
      case CLIENT_MAX_WINDOW_BITS: {
        if (value === true && from === "offer") {
          parsed.clientMaxWindowBits = true;
          break;
        }
        const bits = value === true ? null : parseWindowBits(value);
        if (bits === null) {
          return {
            ok: false,
            reason: `Invalid value for "${name}": ${showValue(value)} (RFC 7692 §7.1.2.2: ${
              from === "offer" ? "no value or " : ""
            }an integer 8-15 without leading zeros)`,
          };
        }
        parsed.clientMaxWindowBits = bits;
        break;
      }
      default:
        return { ok: false, reason: `Unknown parameter "${name}" (RFC 7692 §7.1)` };
    }
  }
  return { ok: true, value: parsed };
}

/** True for an integer window-bits setting RFC 7692 allows. */
function isWindowBits(value: number): boolean {
  return Number.isInteger(value) && value >= MIN_WINDOW_BITS && value <= DEFAULT_WINDOW_BITS;
}

/**
 * Checks the negotiation options, so a bad value fails at construction rather than producing an
 * offer every peer must refuse (or, as with undici CVE-2026-2229, a crash once zlib sees it).
 *
 * @throws RangeError for a `*MaxWindowBits` number that is not an integer 8–15
 * @throws TypeError for a value of the wrong type
 */
export function validateDeflateOptions(options: DeflateNegotiationOptions): void {
  for (const key of ["serverNoContextTakeover", "clientNoContextTakeover"] as const) {
    const value = options[key];
    if (value !== undefined && typeof value !== "boolean") {
      throw new TypeError(`perMessageDeflate.${key} must be a boolean`);
    }
  }
  for (const key of ["serverMaxWindowBits", "clientMaxWindowBits"] as const) {
    const value = options[key];
    if (value === undefined || typeof value === "boolean") continue;
    if (typeof value !== "number") {
      throw new TypeError(`perMessageDeflate.${key} must be a boolean or a number`);
    }
    if (!isWindowBits(value)) {
      throw new RangeError(
        `perMessageDeflate.${key} must be an integer from 8 to 15, got ${value}`,
      );
    }
  }
}

/**
 * Formats one element, e.g. `permessage-deflate; client_no_context_takeover;
 * server_max_window_bits=10`. Parameters are written in the order of RFC 7692 §7.1.
 */
export function formatDeflateParams(params: DeflateParams): string {
  const out: Record<string, string | true> = {};
  if (params.serverNoContextTakeover) out[SERVER_NO_CONTEXT_TAKEOVER] = true;
  if (params.clientNoContextTakeover) out[CLIENT_NO_CONTEXT_TAKEOVER] = true;
  if (params.serverMaxWindowBits !== null) {
    out[SERVER_MAX_WINDOW_BITS] = String(params.serverMaxWindowBits);
  }
  if (params.clientMaxWindowBits !== null) {
    out[CLIENT_MAX_WINDOW_BITS] =
      params.clientMaxWindowBits === true ? true : String(params.clientMaxWindowBits);
  }
  return formatExtensions([{ name: PERMESSAGE_DEFLATE, params: out }]);
}

/**
 * The client's offer for these options (what ws sends): `client_max_window_bits` without a value
 * unless the option is a number (then with it) or `false` (then absent); `server_max_window_bits`
 * only for a number.
 */
export function buildDeflateOffer(options: DeflateNegotiationOptions): DeflateParams {
  const client = options.clientMaxWindowBits;
  const server = options.serverMaxWindowBits;
  return {
    serverNoContextTakeover: options.serverNoContextTakeover === true,
    clientNoContextTakeover: options.clientNoContextTakeover === true,
    serverMaxWindowBits: typeof server === "number" ? server : null,
    clientMaxWindowBits: typeof client === "number" ? client : client === false ? null : true,
  };
}

/**
 * Server side: decides whether one offer is acceptable under our options and, if so, what to
 * answer (RFC 7692 §5.1, §7.1).
 *
 * @param offer - one element of the client's header; its name must be `permessage-deflate`
 */
export function evaluateDeflateOffer(
  offer: ExtensionOffer,
  options: DeflateNegotiationOptions,
): DeflateResult<Omit<DeflateAcceptance, "index">> {
  if (offer.name !== PERMESSAGE_DEFLATE) {
    return { ok: false, reason: `Not a ${PERMESSAGE_DEFLATE} offer: "${offer.name}"` };
  }
  const parsed = parseDeflateParams(offer.params, "offer");
  if (!parsed.ok) return parsed;
  const asked = parsed.value;

  // ws's meaning of an explicit `false`: we insist on context takeover / a full window, so an
  // offer requiring otherwise is declined (a server may decline any offer, §5.1).
  if (options.serverNoContextTakeover === false && asked.serverNoContextTakeover) {
    return {
      ok: false,
      reason: `The offer requires ${SERVER_NO_CONTEXT_TAKEOVER} and serverNoContextTakeover is false`,
    };
  }
  if (options.serverMaxWindowBits === false && asked.serverMaxWindowBits !== null) {
    return {
      ok: false,
      reason: `The offer limits ${SERVER_MAX_WINDOW_BITS} and serverMaxWindowBits is false`,
    };
  }

  // §7.1.2.1: the answer carries a value no larger than the client's limit; ours may lower it.
  let serverBits = asked.serverMaxWindowBits;
  if (typeof options.serverMaxWindowBits === "number") {
    serverBits =
      serverBits === null
        ? options.serverMaxWindowBits
        : Math.min(serverBits, options.serverMaxWindowBits);
  }

  // §7.1.2.2: only if offered; the client's value is a hint we echo (capped by ours) so we can
  // inflate with the smaller window.
  let clientBits: number | null = null;
  const offeredClient = asked.clientMaxWindowBits;
  if (offeredClient !== null && options.clientMaxWindowBits !== false) {
    const ours =
      typeof options.clientMaxWindowBits === "number" ? options.clientMaxWindowBits : null;
    if (offeredClient === true) clientBits = ours;
    else clientBits = ours === null ? offeredClient : Math.min(offeredClient, ours);
  }

  const response: DeflateParams = {
    serverNoContextTakeover:
      asked.serverNoContextTakeover || options.serverNoContextTakeover === true,
    // Echoing the client's own hint costs nothing and tells both ends the same thing (ws does).
    clientNoContextTakeover:
      asked.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: serverBits,
    clientMaxWindowBits: clientBits,
  };
  return {
    ok: true,
    value: {
      response,
      negotiated: {
        serverNoContextTakeover: response.serverNoContextTakeover,
        clientNoContextTakeover: response.clientNoContextTakeover,
        serverMaxWindowBits: serverBits ?? DEFAULT_WINDOW_BITS,
        // A value in the offer binds the client even when we do not answer with one (§7.1.2.2).
        clientMaxWindowBits:
          clientBits ?? (typeof offeredClient === "number" ? offeredClient : DEFAULT_WINDOW_BITS),
      },
    },
  };
}

/**
 * Server side: the first acceptable offer, in header order, or `null` to answer without the
 * extension (RFC 7692 §5.1: invalid offers are declined, not fatal).
 *
 * @param offers - the client's elements; those not named `permessage-deflate` are skipped
 * @param declined - if given, receives one reason per declined permessage-deflate offer (for logs)
 */
export function selectDeflateOffer(
  offers: ReadonlyArray<ExtensionOffer>,
  options: DeflateNegotiationOptions,
  declined?: string[],
): DeflateAcceptance | null {
  for (let index = 0; index < offers.length; index++) {
    const offer = offers[index] as ExtensionOffer;
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const result = evaluateDeflateOffer(offer, options);
    if (result.ok) return { index, ...result.value };
    declined?.push(result.reason);
  }
  return null;
}

/**
 * Client side: checks the server's answer against what {@link buildDeflateOffer} offered for the
 * same options (RFC 7692 §5, §7.1) and returns the effective configuration. Any failure means
 * the client must fail the connection; checking every value here keeps a hostile answer (e.g.
 * `server_max_window_bits=16`, undici CVE-2026-2229) from ever reaching zlib.
 *
 * @param response - the permessage-deflate elements of `Sec-WebSocket-Extensions` in the
 *   response; exactly one is valid
 */
export function checkDeflateResponse(
  response: ReadonlyArray<ExtensionOffer>,
  options: DeflateNegotiationOptions,
): DeflateResult<NegotiatedDeflate> {
  if (response.length !== 1) {
    return {
      ok: false,
      reason: `Expected one ${PERMESSAGE_DEFLATE} element in the response, got ${response.length}`,
    };
  }
  const element = response[0] as ExtensionOffer;
  if (element.name !== PERMESSAGE_DEFLATE) {
    return { ok: false, reason: `Not a ${PERMESSAGE_DEFLATE} response: "${element.name}"` };
  }
  const parsed = parseDeflateParams(element.params, "response");
  if (!parsed.ok) return parsed;
  const answer = parsed.value;
  const offered = buildDeflateOffer(options);

  // §7.1.1.1: a server accepts server_no_context_takeover by including it.
  if (offered.serverNoContextTakeover && !answer.serverNoContextTakeover) {
    return {
      ok: false,
      reason: `The response drops ${SERVER_NO_CONTEXT_TAKEOVER}, which was offered (RFC 7692 §7.1.1.1)`,
    };
  }
  // §7.1.2.1: accepted with the same or a smaller value.
  if (offered.serverMaxWindowBits !== null) {
    if (answer.serverMaxWindowBits === null) {
      return {
        ok: false,
        reason: `The response drops ${SERVER_MAX_WINDOW_BITS}, which was offered (RFC 7692 §7.1.2.1)`,
      };
    }
    if (answer.serverMaxWindowBits > offered.serverMaxWindowBits) {
      return {
        ok: false,
        reason: `The response's ${SERVER_MAX_WINDOW_BITS}=${answer.serverMaxWindowBits} exceeds the offered ${offered.serverMaxWindowBits} (RFC 7692 §7.1.2.1)`,
      };
    }
  }
  // §7.1.2.2: not allowed in a response to an offer without it.
  if (answer.clientMaxWindowBits !== null && offered.clientMaxWindowBits === null) {
    return {
      ok: false,
      reason: `The response has ${CLIENT_MAX_WINDOW_BITS}, which was not offered (RFC 7692 §7.1.2.2)`,
    };
  }

  // A number in our offer is a promise we keep whatever the answer (§7.1.2.2), and so is a
  // client_no_context_takeover hint (§7.1.1.2).
  const answerClient =
    typeof answer.clientMaxWindowBits === "number"
      ? answer.clientMaxWindowBits
      : DEFAULT_WINDOW_BITS;
  const offeredClient =
    typeof offered.clientMaxWindowBits === "number"
      ? offered.clientMaxWindowBits
      : DEFAULT_WINDOW_BITS;
  return {
    ok: true,
    value: {
      serverNoContextTakeover: answer.serverNoContextTakeover,
      clientNoContextTakeover: answer.clientNoContextTakeover || offered.clientNoContextTakeover,
      serverMaxWindowBits: answer.serverMaxWindowBits ?? DEFAULT_WINDOW_BITS,
      clientMaxWindowBits: Math.min(answerClient, offeredClient),
    },
  };
}
