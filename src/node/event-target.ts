/**
 * The WHATWG-style surface of a socket (`addEventListener`, `onmessage`, event objects), layered
 * on its EventEmitter events the way ws does it, with attributes as the HTML standard names them.
 */
import type { EventEmitter } from "node:events";

/** A plain event: `type` and `target`. */
export class WebSocketEvent {
  /** The event name: "open", "message", "close" or "error". */
  readonly type: string;
  /** The socket that fired the event (set when dispatched). */
  target: unknown = null;

  /** @param type - the event name */
  constructor(type: string) {
    this.type = type;
  }
}

/** A received message: text arrives as a string, binary per the socket's `binaryType`. */
export class MessageEvent extends WebSocketEvent {
  /** The message data. */
  readonly data: unknown;

  /** @param type - "message"; @param init - `{ data }` */
  constructor(type: string, init: { data?: unknown } = {}) {
    super(type);
    this.data = init.data ?? null;
  }
}

/** The connection closed. */
export class CloseEvent extends WebSocketEvent {
  /** The close code (1005 when the peer sent none, 1006 when no close frame arrived). */
  readonly code: number;
  /** The close reason, decoded as UTF-8. */
  readonly reason: string;
  /** True when the closing handshake completed. */
  readonly wasClean: boolean;

  /** @param type - "close"; @param init - `{ code, reason, wasClean }` */
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

/** An error occurred. */
export class ErrorEvent extends WebSocketEvent {
  /** The error. */
  readonly error: unknown;
  /** The error's message. */
  readonly message: string;

  /** @param type - "error"; @param init - `{ error, message }` */
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.message ?? "";
  }
}

/** A listener: a function, or an object with `handleEvent` (DOM style). */
export type WebSocketEventListener<E> = ((event: E) => void) | { handleEvent(event: E): void };

/** Options for {@link addEventListener}. */
export interface AddEventListenerOptions {
  /** Remove the listener after its first call. */
  once?: boolean;
}

/** Marks EventEmitter listeners created by `addEventListener` / `onX` and the handler they wrap. */
export const kListener = Symbol("socketeer:listener");
/** Marks the wrapper installed by an `onX` attribute. */
export const kForOnAttribute = Symbol("socketeer:on-attribute");

interface WrappedListener {
  (...args: unknown[]): void;
  [kListener]: unknown;
  [kForOnAttribute]: boolean;
}

/** What the socket passes so this module can build event objects without importing it. */
export interface EventSource extends EventEmitter {
  /** How binary messages are presented ("nodebuffer", "arraybuffer", "fragments", "blob"). */
  binaryType: string;
  /** Whether the close handshake completed (for `wasClean`). */
  readonly closedCleanly: boolean;
}

function makeWrapper(
  target: EventSource,
  type: string,
  handler: unknown,
  onAttribute: boolean,
): WrappedListener {
  const call = (event: WebSocketEvent): void => {
    event.target = target;
    if (typeof handler === "function") handler.call(target, event);
    else (handler as { handleEvent(e: WebSocketEvent): void }).handleEvent(event);
  };
  let wrapper: (...args: unknown[]) => void;
  switch (type) {
    case "message":
      wrapper = (data: unknown, isBinary: unknown) => {
        const value = isBinary ? data : String(data);
        call(new MessageEvent("message", { data: value }));
      };
      break;
    case "close":
      wrapper = (code: unknown, reason: unknown) => {
        call(
          new CloseEvent("close", {
            code: code as number,
            reason: String(reason),
            wasClean: target.closedCleanly,
          }),
        );
      };
      break;
    case "error":
      wrapper = (error: unknown) => {
        call(
          new ErrorEvent("error", { error, message: (error as Error | undefined)?.message ?? "" }),
        );
      };
      break;
    default:
      wrapper = () => call(new WebSocketEvent(type));
  }
  const wrapped = wrapper as WrappedListener;
  wrapped[kListener] = handler;
  wrapped[kForOnAttribute] = onAttribute;
  return wrapped;
}

const EVENT_TYPES = new Set(["open", "message", "close", "error"]);

/** `addEventListener` for a socket: ignores unknown types and duplicate registrations (DOM rule). */
export function addEventListener(
  target: EventSource,
  type: string,
  handler: unknown,
  options: AddEventListenerOptions = {},
): void {
  if (!EVENT_TYPES.has(type)) return;
  if (typeof handler !== "function" && (typeof handler !== "object" || handler === null)) return;
  for (const listener of target.listeners(type) as WrappedListener[]) {
    if (listener[kListener] === handler && !listener[kForOnAttribute]) return;
  }
  const wrapped = makeWrapper(target, type, handler, false);
  if (options.once) target.once(type, wrapped);
  else target.on(type, wrapped);
}

/** `removeEventListener` for a socket. */
export function removeEventListener(target: EventSource, type: string, handler: unknown): void {
  for (const listener of target.rawListeners(type) as WrappedListener[]) {
    const inner = (listener as { listener?: WrappedListener }).listener ?? listener;
    if (inner[kListener] === handler && !inner[kForOnAttribute]) {
      target.removeListener(type, listener);
      return;
    }
  }
}

/** Reads an `onX` attribute. */
export function getOnAttribute(target: EventSource, type: string): unknown {
  for (const listener of target.listeners(type) as WrappedListener[]) {
    if (listener[kForOnAttribute]) return listener[kListener];
  }
  return null;
}

/** Sets an `onX` attribute (replacing the previous one; null removes it). */
export function setOnAttribute(target: EventSource, type: string, handler: unknown): void {
  for (const listener of target.listeners(type) as WrappedListener[]) {
    if (listener[kForOnAttribute]) {
      target.removeListener(type, listener);
      break;
    }
  }
  if (typeof handler !== "function") return;
  target.on(type, makeWrapper(target, type, handler, true));
}
