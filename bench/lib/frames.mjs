// Hand-written WebSocket client framing for the load generator.
//
// Why not use a WebSocket client library: the generator has to be faster than every server it
// measures, so it never builds a frame on the hot path. Frames are built (and masked) once, up
// front, into one Buffer per connection; the hot path only writes slices of that Buffer and counts
// replies by walking frame headers in whatever the kernel handed over, without copying payloads.
import { createHash, randomBytes } from "node:crypto";
import { deflateRawSync, inflateRawSync, constants as zc } from "node:zlib";

/** RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
export const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** RFC 7692 §7.2.1: the tail a sync flush leaves, stripped from every compressed message. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Sec-WebSocket-Accept value the server must answer for `key` (RFC 6455 §4.2.2). */
export function acceptFor(key) {
  return createHash("sha1")
    .update(key + GUID)
    .digest("base64");
}

/**
 * A pool of random handshake keys with their expected accept values, so the handshake benchmark
 * spends its generator CPU on sockets rather than on randomBytes + SHA-1 per connection.
 */
export function keyPool(n) {
  const pool = [];
  for (let i = 0; i < n; i++) {
    const key = randomBytes(16).toString("base64");
    pool.push({ key, accept: acceptFor(key) });
  }
  return pool;
}

/** The HTTP/1.1 upgrade request (RFC 6455 §4.1) as one Buffer, written with a single syscall. */
export function upgradeRequest(port, key, extensions) {
  let s =
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (extensions) s += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  return Buffer.from(`${s}\r\n`, "latin1");
}

/** The extension offer the generator makes when compression is on. */
// client_no_context_takeover: every message is compressed on its own, so one precomputed
// compressed frame stays valid no matter how many times it is re-sent (RFC 7692 §7.1.1.1).
export const DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover";

/**
 * Parses the server's handshake response head (everything before the blank line).
 * Returns { status, headers } with lower-cased header names.
 */
export function parseResponseHead(text) {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "");
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const c = line.indexOf(":");
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  return { status: m ? Number(m[1]) : 0, headers };
}

/**
 * Checks a handshake response: 101, the right accept value, and (when asked for) a negotiated
 * permessage-deflate. Returns null when good, else a short reason.
 */
export function checkUpgrade(head, accept, wantDeflate) {
  if (head.status !== 101) return `status ${head.status}`;
  if (head.headers["sec-websocket-accept"] !== accept) return "bad Sec-WebSocket-Accept";
  if (wantDeflate && !/permessage-deflate/i.test(head.headers["sec-websocket-extensions"] ?? "")) {
    return "permessage-deflate not negotiated";
  }
  return null;
}

/**
 * One masked client frame (RFC 6455 §5.2), FIN set, with a fresh random masking key.
 * `rsv1` marks a permessage-deflate compressed message (RFC 7692 §6).
 */
export function clientFrame(payload, opcode, rsv1 = false) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (ext === 0) out[1] = 0x80 | len;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const k = 2 + ext;
  randomBytes(4).copy(out, k);
  for (let i = 0; i < len; i++) out[k + 4 + i] = payload[i] ^ out[k + (i & 3)];
  return out;
}

/** A masked close frame carrying `code` (RFC 6455 §5.5.1). */
export function closeFrame(code = 1000) {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(code, 0);
  return clientFrame(p, 0x8);
}

/**
 * `count` frames concatenated. Each carries one of `payloads` (cycled) under its own masking key,
 * so a slice of k frames from the start is always k whole frames of equal length when the
 * payloads have equal length (callers ensure that for the echo benchmarks).
 */
export function frameBatch(payloads, count, opcode, rsv1 = false) {
  const frames = [];
  for (let i = 0; i < count; i++)
    frames.push(clientFrame(payloads[i % payloads.length], opcode, rsv1));
  return Buffer.concat(frames);
}

/** Deterministic pseudo-random generator so payloads are the same across runs and servers. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** `size` bytes of printable ASCII (valid UTF-8, so servers must validate but never reject it). */
export function textPayload(size, seed = 1) {
  const r = rng(seed);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = 0x20 + Math.floor(r() * 95);
  return out;
}

/** `size` random bytes (binary frames carry no UTF-8 check). */
export function binaryPayload(size, seed = 1) {
  const r = rng(seed);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/**
 * JSON-like text of exactly `size` bytes: an array of small records with repeated keys and
 * varying values, which compresses about as well as typical application JSON (roughly 3–5×).
 */
export function jsonPayload(size, seed = 1) {
  const r = rng(seed);
  const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
  let s = "[";
  let i = 0;
  while (s.length < size) {
    const rec = {
      id: 100000 + i,
      user: `${words[Math.floor(r() * words.length)]}_${Math.floor(r() * 10000)}`,
      score: Math.round(r() * 1e6) / 100,
      active: r() > 0.5,
      tags: [words[Math.floor(r() * words.length)], words[Math.floor(r() * words.length)]],
      ts: 1700000000000 + Math.floor(r() * 1e9),
    };
    s += `${i === 0 ? "" : ","}${JSON.stringify(rec)}`;
    i++;
  }
  // Cut to size and keep it printable ASCII; the tail need not be valid JSON, only valid UTF-8.
  return Buffer.from(`${s.slice(0, size - 1)}]`, "latin1");
}

/** Compresses one whole message the way RFC 7692 §7.2.1 says: sync flush, tail removed. */
export function deflateMessage(payload) {
  const out = deflateRawSync(payload, { finishFlush: zc.Z_SYNC_FLUSH });
  if (out.length >= 4 && out.subarray(out.length - 4).equals(DEFLATE_TAIL)) {
    return out.subarray(0, out.length - 4);
  }
  return out;
}

/** Inverse of deflateMessage (used only by the one-message correctness check). */
export function inflateMessage(payload) {
  return inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { finishFlush: zc.Z_SYNC_FLUSH });
}

/**
 * Counts complete messages in a byte stream of frames without copying payloads.
 *
 * Works for server frames (unmasked) and for the generator's own masked frames echoed back by
 * the bare TCP echo server, so both are counted the same way. A message is counted when a data
 * frame with FIN ends (continuations included); control frames are not counted. Headers split
 * across reads are stitched in a 14-byte scratch buffer (the largest possible header).
 */
export class FrameCounter {
  constructor() {
    /** Complete data messages seen. */
    this.messages = 0;
    /** Bytes seen on the wire. */
    this.bytes = 0;
    /** Set once a close frame (opcode 8) arrives. */
    this.closed = false;
    /** Payload bytes still to skip for the current frame. */
    this.skip = 0;
    /** Whether the frame being skipped ends a data message. */
    this.skipCounts = false;
    this.hdr = Buffer.alloc(14);
    this.hdrHave = 0;
  }

  /**
   * Feeds `buf[0, end)`; returns how many messages completed in it.
   */
  push(buf, end) {
    this.bytes += end;
    let off = 0;
    let msgs = 0;
    while (off < end) {
      if (this.skip > 0) {
        const avail = end - off;
        if (avail < this.skip) {
          this.skip -= avail;
          break;
        }
        off += this.skip;
        this.skip = 0;
        if (this.skipCounts) msgs++;
        continue;
      }
      if (this.hdrHave > 0) {
        // Slow path: finish a header that started in the previous read.
        if (this.hdrHave < 2) {
          this.hdr[1] = buf[off];
          this.hdrHave = 2;
          off++;
        }
        const full = headerLength(this.hdr[1]);
        const take = Math.min(full - this.hdrHave, end - off);
        buf.copy(this.hdr, this.hdrHave, off, off + take);
        this.hdrHave += take;
        off += take;
        if (this.hdrHave < full) break;
        this.hdrHave = 0;
        msgs += this.startFrame(this.hdr, 0);
        continue;
      }
      const avail = end - off;
      if (avail < 2 || avail < headerLength(buf[off + 1])) {
        buf.copy(this.hdr, 0, off, end);
        this.hdrHave = end - off;
        break;
      }
      const h = headerLength(buf[off + 1]);
      msgs += this.startFrame(buf, off);
      off += h;
    }
    this.messages += msgs;
    return msgs;
  }

  /** Reads a complete header at src[p]; sets up skipping its payload. Returns 1 if a zero-length message ended. */
  startFrame(src, p) {
    const b0 = src[p];
    const b1 = src[p + 1];
    let len = b1 & 0x7f;
    if (len === 126) len = src.readUInt16BE(p + 2);
    else if (len === 127) len = src.readUInt32BE(p + 2) * 2 ** 32 + src.readUInt32BE(p + 6);
    const opcode = b0 & 0x0f;
    if (opcode === 0x8) this.closed = true;
    const counts = (b0 & 0x80) !== 0 && opcode < 0x8;
    if (len === 0) return counts ? 1 : 0;
    this.skip = len;
    this.skipCounts = counts;
    return 0;
  }
}

/** Header length from the second header byte (length code and MASK bit). */
function headerLength(b1) {
  const l = b1 & 0x7f;
  return 2 + (l === 126 ? 2 : l === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/** Byte offset of the end of each frame in `batch`, so "the first k frames" is one subarray. */
export function frameEnds(batch) {
  const ends = [];
  let off = 0;
  while (off < batch.length) {
    const b1 = batch[off + 1];
    let len = b1 & 0x7f;
    if (len === 126) len = batch.readUInt16BE(off + 2);
    else if (len === 127) len = batch.readUInt32BE(off + 2) * 2 ** 32 + batch.readUInt32BE(off + 6);
    off += headerLength(b1) + len;
    ends.push(off);
  }
  return ends;
}

/**
 * Slow, complete parse of the frames in `buf` (payloads unmasked and copied). Only used to check
 * one echoed message before a run, never on the hot path. Returns { frames, rest }.
 */
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    const h = headerLength(b1);
    if (buf.length - off < h) break;
    let len = b1 & 0x7f;
    if (len === 126) len = buf.readUInt16BE(off + 2);
    else if (len === 127) len = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
    if (buf.length - off < h + len) break;
    const payload = Buffer.from(buf.subarray(off + h, off + h + len));
    if (b1 & 0x80) {
      const k = off + h - 4;
      for (let i = 0; i < len; i++) payload[i] ^= buf[k + (i & 3)];
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, payload });
    off += h + len;
  }
  return { frames, rest: buf.subarray(off) };
}
