/**
 * Interfaces the pure protocol core uses to reach work it cannot do itself (zlib lives in the
 * Node adapter layer). Keeping them here lets the core stay free of Node I/O modules.
 */

/**
 * Inflates the payloads of one compressed message, frame by frame (RFC 7692 §7.2.2).
 * Called once per frame of a message with RSV1 set on its first frame; `fin` is true on the
 * last frame. On a non-final frame the callback gets no result (the data is kept inside); on the
 * final frame it gets the whole inflated message. An error is a {@link ProtocolError} for a size
 * limit (1009) or corrupt data (1007).
 */
export interface MessageInflater {
  /** Inflates `data`; see the interface description for when `result` is given. */
  decompress(
    data: Buffer,
    fin: boolean,
    callback: (error: Error | null, result?: Buffer) => void,
  ): void;
}

/**
 * Deflates outgoing message payloads (RFC 7692 §7.2.1). With `fin` the result has the trailing
 * `00 00 ff ff` removed, ready to be framed with RSV1 set on the first frame.
 */
export interface MessageDeflater {
  /** Deflates `data`, calling back with the compressed bytes. */
  compress(
    data: Buffer,
    fin: boolean,
    callback: (error: Error | null, result?: Buffer) => void,
  ): void;
}
