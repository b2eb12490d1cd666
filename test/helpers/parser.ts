/** A FrameParser as the protocol tests make it: server role, no limits, no inflater by default. */
import {
  DEFAULT_MAX_FRAGMENTS,
  FrameParser,
  type FrameParserEvents,
  type FrameParserOptions,
} from "../../src/protocol/frame-parser.js";

/** A parser reporting to `events`, with `options` over the test defaults. */
export function parserFor(
  events: FrameParserEvents,
  options: Partial<FrameParserOptions> = {},
): FrameParser {
  return new FrameParser(
    {
      isServer: true,
      maxPayload: 0,
      maxFragments: DEFAULT_MAX_FRAGMENTS,
      skipUTF8Validation: false,
      inflater: null,
      ...options,
    },
    events,
  );
}
