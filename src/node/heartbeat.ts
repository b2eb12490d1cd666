/**
 * Opt-in keepalive: ping peers that have been quiet for `interval`, terminate those that do not
 * answer within `timeout` (half-open TCP connections otherwise linger for hours).
 *
 * One timer per wheel, not one per socket: every tick sweeps the registered sockets once. Activity
 * is recorded as the wheel's tick number (an integer store per received chunk, no clock read), so
 * the hot path pays nothing measurable. A server owns one wheel; clients with the same settings
 * share one per process.
 */

/** Heartbeat settings, in milliseconds. */
export interface HeartbeatOptions {
  /** Ping a peer after this long without receiving anything from it. */
  interval: number;
  /** Terminate the connection when no pong (or any data) arrives this long after the ping. */
  timeout: number;
}

/** What the wheel needs from a socket. */
export interface HeartbeatMember {
  /**
   * The socket stores the wheel's current tick (≥ 0) here when data arrives. When the wheel pings
   * it stores `-1 - tick`: negative means "pinged at that tick, nothing received since". One
   * field for both states, because every socket carries it, heartbeat or not.
   */
  heartbeatSeen: number;
  /** Sends a heartbeat ping. */
  heartbeatPing(): void;
  /** Ends a connection that missed its pong. */
  heartbeatExpire(): void;
}

/** See the module comment. */
export class HeartbeatWheel {
  /** Current tick number; sockets copy it into `heartbeatSeen` when data arrives. */
  tick = 0;
  private readonly members = new Set<HeartbeatMember>();
  private readonly idleTicks: number;
  private readonly timeoutTicks: number;
  private readonly period: number;
  private timer: NodeJS.Timeout | null = null;

  /** @param options - interval and timeout in ms (both at least 1) */
  constructor(options: HeartbeatOptions) {
    const interval = Math.max(1, options.interval);
    const timeout = Math.max(1, options.timeout);
    // Four ticks in the shorter of the two periods keeps detection within 25% of the settings.
    this.period = Math.max(1, Math.floor(Math.min(interval, timeout) / 4));
    this.idleTicks = Math.ceil(interval / this.period);
    this.timeoutTicks = Math.ceil(timeout / this.period);
  }

  /** Number of sockets watched. */
  get size(): number {
    return this.members.size;
  }

  /** Starts watching a socket (the timer starts with the first one). */
  add(member: HeartbeatMember): void {
    member.heartbeatSeen = this.tick;
    this.members.add(member);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), this.period);
      // The wheel must never keep a process alive on its own.
      this.timer.unref();
    }
  }

  /** Stops watching a socket (the timer stops with the last one). */
  delete(member: HeartbeatMember): void {
    this.members.delete(member);
    if (this.members.size === 0) this.stopTimer();
  }

  /** Stops the wheel; sockets are left as they are. */
  stop(): void {
    this.members.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private sweep(): void {
    const now = ++this.tick;
    for (const member of this.members) {
      const seen = member.heartbeatSeen;
      if (seen < 0) {
        // Pinged during tick `-1 - seen` and nothing received since: anything arriving after the
        // ping (even within that tick) would have replaced the mark with a tick ≥ 0.
        if (now - (-1 - seen) >= this.timeoutTicks) {
          this.members.delete(member);
          member.heartbeatExpire();
        }
        continue;
      }
      if (now - seen >= this.idleTicks) {
        member.heartbeatSeen = -1 - now;
        member.heartbeatPing();
      }
    }
    if (this.members.size === 0) this.stopTimer();
  }
}

const sharedWheels = new Map<string, HeartbeatWheel>();

/** The process-wide wheel for clients with these settings. */
export function sharedHeartbeatWheel(options: HeartbeatOptions): HeartbeatWheel {
  const id = `${options.interval}/${options.timeout}`;
  let wheel = sharedWheels.get(id);
  if (wheel === undefined) {
    wheel = new HeartbeatWheel(options);
    sharedWheels.set(id, wheel);
  }
  return wheel;
}
