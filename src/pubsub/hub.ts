/**
 * Topic pub/sub for one server: who is subscribed to what, and publishing a message to every
 * subscriber with the frame encoded once.
 *
 * Why it is faster than the `for (const client of wss.clients) client.send(data)` loop every ws
 * app writes: the frame header and payload are built once per publish and the same buffer is
 * queued to each subscriber (no per-subscriber framing, copying or masking), and the writes
 * still leave batched per tick by each socket's sender.
 *
 * Compression (RFC 7692): with context takeover, each connection's deflate stream depends on what
 * it sent before, so a message must be compressed per subscriber. Subscribers that negotiated
 * `server_no_context_takeover` all compress a message to the same bytes for the same window size,
 * so they share one compression per window size per publish.
 */
import { deflateRawSync, type ZlibOptions, constants as zlibConstants } from "node:zlib";
import { encodeFrame } from "../protocol/frame-writer.js";
import { Opcode } from "../protocol/opcodes.js";

/** What a publish does with a subscriber whose unsent backlog is over `maxBackpressure`. */
export type BackpressurePolicy = "drop" | "close";

/** Options of one publish. */
export interface PublishOptions {
  /** Send as binary (default: true unless the data is a string). */
  binary?: boolean;
  /** Compress for subscribers that negotiated permessage-deflate (default true). */
  compress?: boolean;
}

/** Counts from one publish. */
export interface PublishResult {
  /** Subscribers the message was queued to. */
  sent: number;
  /** Subscribers skipped (or closed, under the "close" policy) for backpressure. */
  dropped: number;
}

/** What the hub needs from a socket (implemented by the WebSocket class). */
export interface TopicMember {
  /** True while the connection is open. */
  readonly isOpenForPublish: boolean;
  /** Bytes not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Queues a frame encoded by the hub (shared, not copied). */
  _sendSharedFrame(frame: Buffer): void;
  /** Sends through the socket's own path (per-connection compression). */
  _sendForPublish(payload: Buffer, binary: boolean): void;
  /** Compression parameters when this subscriber can share a compressed frame, else null. */
  _sharedCompression(payloadLength: number): SharedCompression | null | "per-connection";
  /** Closes a subscriber that is too slow, under the "close" policy. */
  close(code?: number, reason?: string): void;
}

/** How a subscriber wants shared compressed frames made. */
export interface SharedCompression {
  /** Negotiated window bits for server-to-client messages. */
  windowBits: number;
  /** The server's zlib options (level, memLevel, strategy). */
  zlibOptions: ZlibOptions | undefined;
}

/** Hub settings from the server options. */
export interface TopicHubOptions {
  /** Backlog in bytes above which a subscriber counts as slow (default 1 MiB). */
  maxBackpressure: number;
  /** What to do with a slow subscriber during a publish (default "drop"). */
  backpressurePolicy: BackpressurePolicy;
}

const SYNC_FLUSH_TAIL = 4; // 00 00 ff ff, removed per RFC 7692 §7.2.1

/** See the module comment. */
export class TopicHub<Member extends TopicMember = TopicMember> {
  private readonly topics = new Map<string, Set<Member>>();
  private readonly options: TopicHubOptions;

  /** @param options - backpressure settings */
  constructor(options: TopicHubOptions) {
    this.options = options;
  }

  /** Adds `member` to `topic`; false if it was already there. */
  subscribe(member: Member, topic: string): boolean {
    let set = this.topics.get(topic);
    if (set === undefined) {
      set = new Set();
      this.topics.set(topic, set);
    }
    if (set.has(member)) return false;
    set.add(member);
    return true;
  }

  /** Removes `member` from `topic`; false if it was not there. */
  unsubscribe(member: Member, topic: string): boolean {
    const set = this.topics.get(topic);
    if (set === undefined || !set.delete(member)) return false;
    if (set.size === 0) this.topics.delete(topic);
    return true;
  }

  /** Number of subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  /**
   * Sends `payload` to every subscriber of `topic` except `except`. Each subscriber receives
   * messages in publish order (they share its sender's queue with its other sends).
   */
  publish(
    topic: string,
    payload: Buffer,
    binary: boolean,
    compress: boolean,
    except: Member | null,
  ): PublishResult {
    const set = this.topics.get(topic);
    if (set === undefined) return { sent: 0, dropped: 0 };
    return this.deliver(set, payload, binary, compress, except);
  }

  /** Sends `payload` to every member of `members` (the server's `broadcast`). */
  deliver(
    members: Iterable<Member>,
    payload: Buffer,
    binary: boolean,
    compress: boolean,
    except: Member | null,
  ): PublishResult {
    const { maxBackpressure, backpressurePolicy } = this.options;
    const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
    let plain: Buffer | null = null;
    let compressed: Map<number, Buffer> | null = null;
    let sent = 0;
    let dropped = 0;
    // A close under the "close" policy can unsubscribe while we iterate: iterate a snapshot then.
    const list = backpressurePolicy === "close" ? [...members] : members;
    for (const member of list) {
      if (member === except || !member.isOpenForPublish) continue;
      if (maxBackpressure > 0 && member.bufferedAmount > maxBackpressure) {
        dropped++;
        if (backpressurePolicy === "close") member.close(1008, "Backpressure limit exceeded");
        continue;
      }
      const sharing = compress ? member._sharedCompression(payload.length) : null;
      if (sharing === null) {
        plain ??= encodeFrame(opcode, payload);
        member._sendSharedFrame(plain);
      } else if (sharing === "per-connection") {
        member._sendForPublish(payload, binary);
      } else {
        compressed ??= new Map();
        let frame = compressed.get(sharing.windowBits);
        if (frame === undefined) {
          frame = encodeFrame(opcode, deflateOnce(payload, sharing), { rsv1: true });
          compressed.set(sharing.windowBits, frame);
        }
        member._sendSharedFrame(frame);
      }
      sent++;
    }
    return { sent, dropped };
  }

  /** Forgets `member` in every topic it joined (called when its connection closes). */
  leaveAll(member: Member, topics: Iterable<string>): void {
    for (const topic of topics) this.unsubscribe(member, topic);
  }
}

/**
 * One raw-deflate compression with a fresh context, as a no-context-takeover subscriber expects.
 * Synchronous on purpose: it runs once per publish, however many subscribers share it, and it
 * keeps the frame in order with the publishes before and after it.
 */
function deflateOnce(payload: Buffer, sharing: SharedCompression): Buffer {
  if (payload.length === 0) return Buffer.from([0x00]); // RFC 7692 §7.2.3.6
  const out = deflateRawSync(payload, {
    ...sharing.zlibOptions,
    windowBits: sharing.windowBits,
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
  return out.subarray(0, out.length - SYNC_FLUSH_TAIL);
}
