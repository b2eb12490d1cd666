/**
 * The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1, §11.3.2; RFC 7230 §3.2.6; RFC 7692 §5).
 *
 * ```
 * Sec-WebSocket-Extensions = 1#extension
 * extension = token *( OWS ";" OWS param )
 * param     = token [ OWS "=" OWS ( token / quoted-string ) ]
 * ```
 * and a quoted-string value must be a token once unescaped (RFC 6455 §9.1).
 *
 * The parser is a single left-to-right scan with no regular expressions and no backtracking:
 * faye-websocket-extensions CVE-2020-7662 was a regex that went exponential on an unterminated
 * quoted value made of many `\c` pairs. Every character is looked at a bounded number of times.
 * Names and values go into arrays and Maps, never object keys, so `__proto__` or `constructor`
 * cannot reach a prototype.
 */
import { isToken, isTokenChar } from "./handshake.js";

/** One extension offered (or accepted) in the header, e.g. one `permessage-deflate; …` element. */
export interface ExtensionOffer {
  /** The extension token, e.g. `permessage-deflate`. */
  name: string;
  /**
   * Parameters in first-appearance order. A parameter without a value is `true`; a repeated
   * parameter keeps every value in order (RFC 7692 §7 makes the deflate negotiation reject
   * duplicates, which is that layer's decision, not the parser's).
   */
  params: Map<string, Array<string | true>>;
}

/** Offer shape accepted by {@link formatExtensions}: params as a Map or a plain record. */
export interface ExtensionOfferInput {
  /** The extension token. */
  name: string;
  /** Parameters; a value of `true` is written as a bare name. */
  params?:
    | ReadonlyMap<string, ReadonlyArray<string | true>>
    | Readonly<Record<string, string | true | ReadonlyArray<string | true>>>;
}

/** Space or horizontal tab: RFC 7230 `OWS`. */
function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Describes the character at `index` for an error message, e.g. `"x" (U+0078)`. */
function describe(header: string, index: number): string {
  const code = header.charCodeAt(index);
  const hex = code.toString(16).toUpperCase().padStart(4, "0");
  // Control characters are printed only as code points, so the message stays one clean line.
  return code < 0x20 || code === 0x7f ? `U+${hex}` : `"${header[index]}" (U+${hex})`;
}

/** The SyntaxError for an unexpected character at `index` (or the end of the header). */
function unexpected(header: string, index: number, expected: string): SyntaxError {
  if (index >= header.length) {
    return new SyntaxError(
      `Unexpected end of Sec-WebSocket-Extensions at index ${index}: expected ${expected}`,
    );
  }
  return new SyntaxError(
    `Unexpected character ${describe(header, index)} at index ${index} in Sec-WebSocket-Extensions: expected ${expected}`,
  );
}

/**
 * Parses a `Sec-WebSocket-Extensions` header value into offers, in header order. The same name may
 * appear several times (a client offering permessage-deflate with different parameters, RFC 7692
 * §5); choosing among them is the caller's job. Optional whitespace around the whole value is
 * allowed, as it is not part of a field value (RFC 7230 §3.2.4).
 *
 * @param header - the header field value (several header lines already joined with `, `)
 * @throws SyntaxError naming the offending index: empty element, `;` with no parameter name, `=`
 *   with no value, unterminated or non-token quoted value, control or other non-token characters
 */
export function parseExtensions(header: string): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  const length = header.length;
  let i = 0;

  for (;;) {
    while (i < length && isOws(header.charCodeAt(i))) i++;
    const nameStart = i;
    while (i < length && isTokenChar(header.charCodeAt(i))) i++;
    if (i === nameStart) throw unexpected(header, i, "an extension name");
    const params = new Map<string, Array<string | true>>();
    offers.push({ name: header.slice(nameStart, i), params });
    while (i < length && isOws(header.charCodeAt(i))) i++;

    while (i < length && header.charCodeAt(i) === 0x3b /* ; */) {
      i++;
      while (i < length && isOws(header.charCodeAt(i))) i++;
      const paramStart = i;
      while (i < length && isTokenChar(header.charCodeAt(i))) i++;
      if (i === paramStart) throw unexpected(header, i, "a parameter name after ';'");
      const paramName = header.slice(paramStart, i);
      while (i < length && isOws(header.charCodeAt(i))) i++;

      let value: string | true = true;
      if (i < length && header.charCodeAt(i) === 0x3d /* = */) {
        i++;
        while (i < length && isOws(header.charCodeAt(i))) i++;
        if (i < length && header.charCodeAt(i) === 0x22 /* " */) {
          // quoted-string whose content must be a token once unescaped (RFC 6455 §9.1): every
          // character is a tchar or a backslash followed by a tchar. Since a backslash can only
          // escape a tchar, dropping every backslash is the whole unescape; it costs a copy only
          // when one was seen.
          const quote = i;
          const valueStart = ++i;
          let escaped = false;
          for (;;) {
            if (i >= length) {
              throw new SyntaxError(
                `Unterminated quoted string starting at index ${quote} in Sec-WebSocket-Extensions`,
              );
            }
            const code = header.charCodeAt(i);
            if (code === 0x22) break;
            if (code === 0x5c /* \ */) {
              escaped = true;
              i++;
              if (i < length && !isTokenChar(header.charCodeAt(i))) {
                throw unexpected(header, i, "a token character after '\\' in a quoted value");
              }
              // At the end of input the next turn of the loop reports the missing quote.
              if (i < length) i++;
              continue;
            }
            if (!isTokenChar(code)) {
              throw unexpected(header, i, "a token character or '\"' in a quoted value");
            }
            i++;
          }
          if (i === valueStart) throw unexpected(header, i, `a value for parameter "${paramName}"`);
          const raw = header.slice(valueStart, i);
          value = escaped ? raw.replaceAll("\\", "") : raw;
          i++; // past the closing quote
        } else {
          const valueStart = i;
          while (i < length && isTokenChar(header.charCodeAt(i))) i++;
          if (i === valueStart) throw unexpected(header, i, `a value for parameter "${paramName}"`);
          value = header.slice(valueStart, i);
        }
        while (i < length && isOws(header.charCodeAt(i))) i++;
      }

      const values = params.get(paramName);
      if (values === undefined) params.set(paramName, [value]);
      else values.push(value);
    }

    if (i === length) return offers;
    if (header.charCodeAt(i) !== 0x2c /* , */) throw unexpected(header, i, "';', ',' or the end");
    i++;
  }
}

/**
 * Writes `value` as an RFC 7230 §3.2.6 quoted-string, or throws when it holds a character no
 * quoted-string may carry (controls other than tab, DEL, anything above U+00FF): refusing them is
 * what keeps a caller's value from splitting the header (CR/LF injection).
 */
function quote(value: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff) {
      throw new TypeError(`Invalid character at index ${i} of extension parameter value`);
    }
    if (code === 0x22 || code === 0x5c) {
      out += `${value.slice(from, i)}\\`;
      from = i;
    }
  }
  return `${out}${value.slice(from)}"`;
}

/** Appends `; name` or `; name=value` for each value of one parameter. */
function formatParam(out: string, name: string, values: unknown): string {
  if (!isToken(name)) throw new TypeError(`Invalid extension parameter name "${name}"`);
  const list: ReadonlyArray<unknown> = Array.isArray(values) ? values : [values];
  for (const value of list) {
    if (value === true) out += `; ${name}`;
    else if (typeof value === "string") out += `; ${name}=${isToken(value) ? value : quote(value)}`;
    else throw new TypeError(`Invalid value for extension parameter "${name}"`);
  }
  return out;
}

/**
 * Builds a `Sec-WebSocket-Extensions` header value (RFC 6455 §9.1): `name; p1; p2=v` per offer,
 * offers joined by `, `. A `true` value writes the bare parameter name; a value that is not a token
 * is written as a quoted-string (note that RFC 6455 §9.1 recipients, this module's parser
 * included, accept a quoted value only if it unescapes to a token, so such values are for peers
 * with their own rules).
 *
 * @throws TypeError for a name that is not a token, a value that is neither a string nor `true`,
 *   or a value with characters no header may carry
 */
export function formatExtensions(offers: ReadonlyArray<ExtensionOfferInput>): string {
  let header = "";
  for (const offer of offers) {
    if (!isToken(offer.name)) throw new TypeError(`Invalid extension name "${offer.name}"`);
    let element = offer.name;
    const params = offer.params;
    if (params instanceof Map) {
      for (const [name, values] of params) element = formatParam(element, name, values);
    } else if (params !== undefined) {
      // Own enumerable keys only: nothing inherited from a prototype can sneak into the header.
      const record = params as Readonly<Record<string, unknown>>;
      for (const name of Object.keys(record)) element = formatParam(element, name, record[name]);
    }
    header = header === "" ? element : `${header}, ${element}`;
  }
  return header;
}
