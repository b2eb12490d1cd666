/**
 * A tiny FIFO concurrency limiter for zlib jobs.
 *
 * Why it exists: every zlib call runs on libuv's thread pool and allocates native memory; with
 * thousands of sockets compressing at once, glibc's allocator fragments badly and RSS balloons
 * (nodejs/node#8871, ws#1202). Capping how many zlib jobs run at the same time, process-wide,
 * keeps that in check. It is global on purpose: the thread pool it protects is global.
 *
 * Tasks are objects (not closures) linked into an intrusive doubly linked list, so queueing and
 * cancelling cost no allocation and a cancelled task leaves the queue in O(1). Cancelling is the
 * point: a connection that dies while it holds or waits for a slot must give it back (ws#1617,
 * where a socket closed mid-flush leaked its slot and, after `concurrency` leaks, every compressed
 * message in the process hung).
 */

/** Where a task is in its life with a {@link Limiter}. */
const IDLE = 0;
const QUEUED = 1;
const RUNNING = 2;

/**
 * One unit of work the {@link Limiter} schedules. Subclasses implement {@link LimiterTask.run};
 * a task can be added again after it was released or cancelled, so one long-lived object per
 * queue of work (e.g. one per zlib stream) is enough.
 */
export abstract class LimiterTask {
  /** @internal limiter bookkeeping: IDLE, QUEUED or RUNNING. */
  _limiterState: number = IDLE;
  /** @internal next task in the limiter's queue. */
  _limiterNext: LimiterTask | null = null;
  /** @internal previous task in the limiter's queue. */
  _limiterPrev: LimiterTask | null = null;

  /** True while the task is queued in or running under a limiter. */
  get limiterBusy(): boolean {
    return this._limiterState !== IDLE;
  }

  /**
   * Called once the task holds a slot. The task must later give the slot back with
   * {@link Limiter.release} (or {@link Limiter.cancel}) exactly once; calling either from inside
   * `run` is allowed.
   */
  abstract run(): void;
}

/** A snapshot of a {@link Limiter}'s counters. */
export interface LimiterStats {
  /** Tasks holding a slot right now. */
  running: number;
  /** Tasks waiting for a slot. */
  queued: number;
  /** The cap on `running` (`Infinity` when unlimited). */
  concurrency: number;
}

/** Runs at most `concurrency` {@link LimiterTask}s at a time, the rest in FIFO order. */
export class Limiter {
  /** The cap on tasks running at once (`Infinity` when unlimited). */
  readonly concurrency: number;
  private running = 0;
  private queued = 0;
  private head: LimiterTask | null = null;
  private tail: LimiterTask | null = null;
  // Set while `pump` is starting tasks, so a task that releases synchronously inside `run` does
  // not recurse into another `pump`: the running loop picks the freed slot up.
  private pumping = false;

  /**
   * @param concurrency - tasks allowed to run at once; `0`, `Infinity` or `undefined` mean no
   *   limit (ws's convention)
   * @throws RangeError for a negative or non-integer finite value
   */
  constructor(concurrency?: number) {
    if (concurrency === undefined || concurrency === 0 || concurrency === Infinity) {
      this.concurrency = Infinity;
    } else if (!Number.isInteger(concurrency) || concurrency < 0) {
      throw new RangeError(`Invalid concurrency limit: ${concurrency}`);
    } else {
      this.concurrency = concurrency;
    }
  }

  /**
   * Queues `task`; it runs now if a slot is free, else when one is.
   * @throws Error when the task is already queued or running (each task is one job at a time)
   */
  add(task: LimiterTask): void {
    if (task._limiterState !== IDLE) throw new Error("Limiter task is already queued or running");
    task._limiterState = QUEUED;
    task._limiterPrev = this.tail;
    task._limiterNext = null;
    if (this.tail === null) this.head = task;
    else this.tail._limiterNext = task;
    this.tail = task;
    this.queued++;
    this.pump();
  }

  /** Gives back the slot `task` holds. A no-op unless the task is running. */
  release(task: LimiterTask): void {
    if (task._limiterState !== RUNNING) return;
    task._limiterState = IDLE;
    this.running--;
    this.pump();
  }

  /** Removes `task` from the queue, or gives back its slot if it is running. Idempotent. */
  cancel(task: LimiterTask): void {
    if (task._limiterState === QUEUED) {
      this.unlink(task);
      task._limiterState = IDLE;
    } else {
      this.release(task);
    }
  }

  /** Current counters (for tests and metrics). */
  stats(): LimiterStats {
    return { running: this.running, queued: this.queued, concurrency: this.concurrency };
  }

  private unlink(task: LimiterTask): void {
    const prev = task._limiterPrev;
    const next = task._limiterNext;
    if (prev === null) this.head = next;
    else prev._limiterNext = next;
    if (next === null) this.tail = prev;
    else next._limiterPrev = prev;
    task._limiterPrev = null;
    task._limiterNext = null;
    this.queued--;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running < this.concurrency && this.head !== null) {
        const task = this.head;
        this.unlink(task);
        task._limiterState = RUNNING;
        this.running++;
        task.run();
      }
    } finally {
      this.pumping = false;
    }
  }
}

let zlibLimiter: Limiter | null = null;

/**
 * The process-wide limiter for zlib jobs, created on first use with `concurrency`. Later calls
 * ignore their argument (ws does the same: the first `PerMessageDeflate` fixes the limit), so
 * calling this before any `PerMessageDeflate` exists fixes the limit at the default.
 *
 * @param concurrency - see {@link Limiter}; default 10 (ws's default)
 */
export function getZlibLimiter(concurrency = 10): Limiter {
  if (zlibLimiter === null) zlibLimiter = new Limiter(concurrency);
  return zlibLimiter;
}
