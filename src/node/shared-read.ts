/**
 * Reading every socket into one shared buffer.
 *
 * Why: by default Node allocates a new 64 KiB buffer for each read of each socket and hands it
 * over as a Buffer that lives until the garbage collector frees it. At 1 MiB messages that is 16
 * allocations per message, and their churn (malloc, and page faults as glibc trims and regrows its
 * heap behind the collector) cost more than all of the framing. Node can read into a buffer the
 * caller provides, but only through the `onread` option of `new net.Socket()`, which sockets
 * accepted by a server (or handed over by an http server's 'upgrade') never get. This module sets
 * on such a socket the three fields that option sets, found by their symbols' descriptions (the
 * same names since Node 12), and tells the handle to read into the buffer, which is what
 * `net.Socket`'s constructor does for `onread`. Where they are not found (another runtime, a TLS
 * socket, a Duplex that is not a socket), the socket keeps its 'data' events and nothing else
 * changes. `SOCKETEER_NO_SHARED_READ=1` keeps 'data' events everywhere (to compare the two).
 *
 * One buffer serves every socket: Node delivers each read synchronously to the callback, which
 * parses it to the end before returning, so no two reads share it; the parser copies whatever it
 * keeps or delivers (`FrameParser.push(chunk, borrowed)`). Pausing still works: with `onread`
 * set, Node's `pause()` stops reading from the handle, which is real TCP backpressure.
 *
 * With WebAssembly SIMD the buffer is the spare page of the masking kernel's memory, so received
 * payloads are unmasked where the kernel wrote them, without being copied in first.
 */
import type { Duplex } from "node:stream";
import { simdMasker } from "../protocol/simd-mask.js";

/** Bytes per read: Node's own read size, so reads are as large as before. */
const SHARED_READ_SIZE = 64 * 1024;

/**
 * What Node calls with each read: the byte count and the shared buffer (bytes [0, nread)).
 * Returning false stops reading until the socket's `resume()`.
 */
export type SharedReadCallback = (this: Duplex, nread: number, buffer: Buffer) => boolean;

/** The handle method behind `onread` (a libuv stream's C++ binding). */
interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/** The parts of a `net.Socket` this module reads: all private to Node, hence the checks. */
interface SocketInternals {
  _handle?: Partial<UserBufferHandle> | null;
  encrypted?: boolean;
  connecting?: boolean;
}

/** Node's symbols for the `onread` fields, looked up once; null when this Node has none. */
interface OnreadSymbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let symbols: OnreadSymbols | null | undefined;
let sharedBuffer: Buffer | null = null;

function disabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  return Boolean(env?.SOCKETEER_NO_SHARED_READ);
}

function findSymbols(socket: object): OnreadSymbols | null {
  const own = Object.getOwnPropertySymbols(socket);
  const find = (name: string) => own.find((symbol) => symbol.description === name);
  const buffer = find("kBuffer");
  const callback = find("kBufferCb");
  const generator = find("kBufferGen");
  if (buffer === undefined || callback === undefined || generator === undefined) return null;
  return { buffer, callback, generator };
}

/** The one read buffer: the SIMD kernel's spare page when there is one, else a plain buffer. */
function sharedReadBuffer(): Buffer {
  if (sharedBuffer !== null) return sharedBuffer;
  const spare = simdMasker()?.spare;
  sharedBuffer =
    spare !== undefined
      ? Buffer.from(spare.buffer, spare.byteOffset, SHARED_READ_SIZE)
      : Buffer.alloc(SHARED_READ_SIZE);
  return sharedBuffer;
}

/**
 * Makes Node read `socket` into the shared buffer and call `onRead` instead of emitting 'data'.
 * Returns false, having changed nothing, when the socket cannot (see the module comment).
 * @param socket - a connected socket no one else reads
 * @param onRead - called with each read; must consume or copy the bytes before returning
 */
export function readIntoSharedBuffer(socket: Duplex, onRead: SharedReadCallback): boolean {
  const internals = socket as Duplex & SocketInternals;
  const handle = internals._handle;
  if (
    handle == null ||
    typeof handle.useUserBuffer !== "function" ||
    internals.encrypted === true ||
    internals.connecting === true ||
    disabled()
  ) {
    return false;
  }
  if (symbols === undefined) symbols = findSymbols(socket);
  if (symbols === null) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  // Only a socket made without `onread` (the field is null): never take over a caller's buffer.
  if (!Object.hasOwn(socket, symbols.buffer) || fields[symbols.buffer] != null) return false;
  const buffer = sharedReadBuffer();
  fields[symbols.buffer] = buffer;
  fields[symbols.callback] = onRead;
  fields[symbols.generator] = null;
  handle.useUserBuffer(buffer);
  return true;
}

/** True when `socket` reads into the shared buffer (for tests and diagnostics). */
export function readsIntoSharedBuffer(socket: Duplex): boolean {
  if (symbols == null) return false;
  return (socket as unknown as Record<symbol, unknown>)[symbols.buffer] === sharedBuffer;
}
