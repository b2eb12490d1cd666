/**
 * Per-connection deadlines that nearly always are met: a request head due within
 * `headersTimeout`, a closing handshake due within `closeTimeout`.
 *
 * Why not a `setTimeout` per connection (as ws and Node's http do for these): every connection of
 * a busy server goes through both phases, and a Node timer is an object with a dozen fields, an
 * insertion into Node's timer lists and a `clearTimeout` when the peer is on time, as it nearly
 * always is. Here all entries with the same timeout share one queue and one timer. They join the
 * queue in the order of their deadlines (same timeout, monotonic clock), so the earliest is always
 * at the head. An entry leaves its queue in O(1), as it is linked both ways and lives on the
 * connection's own state, and nothing stays queued once its connection is done.
 */
import { performance } from "node:perf_hooks";

/** A queue entry, owned by the connection it times. */
export abstract class Deadline {
  /** When {@link expire} is due, in `performance.now()` ms. */
  deadline = 0;
  /** The queue this entry is in, or null. */
  queue: DeadlineQueue | null = null;
  prev: Deadline | null = null;
  next: Deadline | null = null;
  /** Called once when the deadline passes while the entry is still queued. */
  abstract expire(): void;
}

/** The entries with one timeout value, earliest deadline first. */
class DeadlineQueue {
  private head: Deadline | null = null;
  private tail: Deadline | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly timeout: number;

  constructor(timeout: number) {
    this.timeout = timeout;
  }

  add(entry: Deadline): void {
    entry.deadline = performance.now() + this.timeout;
    entry.queue = this;
    entry.prev = this.tail;
    entry.next = null;
    if (this.tail === null) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    if (this.timer === null) this.arm(this.timeout);
  }

  remove(entry: Deadline): void {
    const { prev, next } = entry;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    entry.prev = null;
    entry.next = null;
    entry.queue = null;
  }

  private arm(delay: number): void {
    // One timer per queue, also when an expire() in fire() added an entry (and armed one).
    if (this.timer !== null) clearTimeout(this.timer);
    // +1: a timer may fire a fraction of a millisecond early against performance.now().
    this.timer = setTimeout(() => this.fire(), Math.max(1, Math.ceil(delay) + 1));
    // A pending deadline is no reason to keep the process alive (ws unrefs its timers too).
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = performance.now();
    let entry = this.head;
    while (entry !== null && entry.deadline <= now) {
      this.remove(entry);
      entry.expire(); // may close other connections: re-read the head each turn
      entry = this.head;
    }
    if (entry !== null) this.arm(entry.deadline - now);
    // An app that used many timeout values over time leaves no empty queues behind.
    else if (queues.get(this.timeout) === this) queues.delete(this.timeout);
  }
}

const queues = new Map<number, DeadlineQueue>();

/** Starts `entry`'s countdown of `timeout` ms (> 0; no-op when it is already counting). */
export function startDeadline(entry: Deadline, timeout: number): void {
  if (entry.queue !== null) return;
  let queue = queues.get(timeout);
  if (queue === undefined) {
    queue = new DeadlineQueue(timeout);
    queues.set(timeout, queue);
  }
  queue.add(entry);
}

/** Stops `entry`'s countdown, if it is counting. */
export function cancelDeadline(entry: Deadline): void {
  entry.queue?.remove(entry);
}
