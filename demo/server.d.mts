// Types for demo/server.mjs, so the TypeScript tests can import it checked.
import type { EventEmitter } from "node:events";
import type { Server } from "node:http";

/** Input limits enforced by the server and sent to the page. */
export declare const LIMITS: Readonly<{ name: number; room: number; text: number; frame: number }>;

/** A validated client message. */
export type ClientMessage =
  | { type: "join"; room: string; name: string }
  | { type: "say"; text: string }
  | { type: "leave" };

/** Validates one JSON text message from a client. */
export declare function parseClientMessage(
  text: string,
): { ok: true; value: ClientMessage } | { ok: false; error: string; message: string };

/** Options for {@link startDemo}. */
export interface DemoOptions {
  port?: number;
  host?: string;
  log?: (line: string) => void;
  heartbeat?: { interval: number; timeout: number } | false;
}

/** A running demo server. */
export interface Demo {
  /** `http://host:port/`, the page's address (WebSocket on the same host and port). */
  url: string;
  port: number;
  host: string;
  server: Server;
  /** The WebSocketServer (typed loosely so this file does not need the built package). */
  wss: EventEmitter & { clients: Set<unknown> };
  /** Closes every client with 1001, then stops listening. */
  close(): Promise<void>;
}

/** Starts the chat demo; resolves once it is listening. */
export declare function startDemo(options?: DemoOptions): Promise<Demo>;
