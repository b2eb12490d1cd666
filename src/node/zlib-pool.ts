/**
 * Idle zlib streams, reset, kept for the next message of any connection with the same settings.
 *
 * Why: with no context takeover (RFC 7692 §7.1.1) every message starts from an empty window, so
 * a connection needs a zlib stream only while a message is in progress. Keeping one per
 * connection between messages, as ws does, costs every idle connection about 56 KiB (inflate,
 * 2^15 window) or 280 KiB (deflate); making a new one per message costs its setup and the page
 * faults of its fresh memory (the compressed 1 KiB echo ran 10 % slower that way). Streams go
 * back here at the end of a message and the next message takes one, so connections hold zlib
 * memory only while they use it and streams are still reused.
 *
 * Bounded: at most {@link MAX_IDLE_STREAMS} wait per key; a stream given back to a full key is
 * closed by the caller. Keys are the zlib options object (one per server or client
 * configuration; streams made from different objects are never mixed) and the window size.
 */

/** Idle streams kept per options object and window size (the limiter's default concurrency). */
export const MAX_IDLE_STREAMS = 10;

/** Stands in for "no zlib options given" as a key. */
const NO_OPTIONS = {};

/** A pool of one kind of stream (callers keep inflaters and deflaters in separate pools). */
export class ZlibStreamPool<T> {
  private readonly byOptions = new WeakMap<object, Map<number, T[]>>();

  /**
   * An idle stream made with these settings, or undefined when there is none.
   * @param options - the zlib options object the stream was made with, if any
   * @param windowBits - the window size it was made with
   */
  take(options: object | undefined, windowBits: number): T | undefined {
    return this.byOptions
      .get(options ?? NO_OPTIONS)
      ?.get(windowBits)
      ?.pop();
  }

  /**
   * Keeps a reset stream for reuse. Returns false, keeping nothing, when this key already holds
   * {@link MAX_IDLE_STREAMS}: the caller then closes the stream.
   * @param options - the zlib options object the stream was made with, if any
   * @param windowBits - the window size it was made with
   * @param stream - the stream, reset and with nothing in progress
   */
  give(options: object | undefined, windowBits: number, stream: T): boolean {
    const key = options ?? NO_OPTIONS;
    let byBits = this.byOptions.get(key);
    if (byBits === undefined) this.byOptions.set(key, (byBits = new Map()));
    let idle = byBits.get(windowBits);
    if (idle === undefined) byBits.set(windowBits, (idle = []));
    if (idle.length >= MAX_IDLE_STREAMS) return false;
    idle.push(stream);
    return true;
  }

  /** How many streams wait for these settings (for tests and metrics). */
  idle(options: object | undefined, windowBits: number): number {
    return this.byOptions.get(options ?? NO_OPTIONS)?.get(windowBits)?.length ?? 0;
  }
}
