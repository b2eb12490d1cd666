/**
 * socketeer: a fast, conformant WebSocket server and client for Node.js, shaped like ws 8.
 *
 * `require("socketeer")` returns the {@link WebSocket} class with `WebSocket`, `WebSocketServer`,
 * `Server` and `createWebSocketStream` attached, exactly as `require("ws")` does; ESM gets the
 * same class as the default export plus named exports.
 */
import { createWebSocketStream } from "./node/stream.js";
import { WebSocket } from "./node/websocket.js";
import { WebSocketServer } from "./pubsub/server.js";

export type { ClientOptions } from "./node/client.js";
export type { PerMessageDeflateOptions } from "./node/deflate.js";
export {
  CloseEvent,
  ErrorEvent,
  MessageEvent,
  WebSocketEvent,
} from "./node/event-target.js";
export type { HeartbeatOptions } from "./node/heartbeat.js";
export type { SendCallback } from "./node/sender.js";
export type {
  HandleProtocols,
  ServerOptions,
  VerifyClientAsync,
  VerifyClientDone,
  VerifyClientInfo,
  VerifyClientSync,
  WebSocketServerEventMap,
} from "./node/server.js";
export type {
  BinaryType,
  Data,
  SendOptions,
  SendResult,
  SocketPublishOptions,
  WebSocketEventMap,
} from "./node/websocket.js";
export { CloseCodes } from "./protocol/close.js";
export { ErrorCodes, ProtocolError } from "./protocol/errors.js";
export type {
  BackpressurePolicy,
  PublishOptions,
  PublishResult,
  TopicMap,
  TopicPublisher,
} from "./pubsub/server.js";

/** ws's alias for {@link WebSocketServer}. */
const Server = WebSocketServer;

// ws attaches its whole API to the class, so `require("ws").WebSocketServer` and
// `new (require("ws"))(url)` both work; the CommonJS entry below returns this class.
Object.assign(WebSocket, { WebSocket, WebSocketServer, Server, createWebSocketStream });

export { createWebSocketStream, Server, WebSocket, WebSocketServer };
export default WebSocket;

// When loaded by require(), return the class itself, as ws does; the named exports compiled
// above become its properties. (The ESM entry, dist/esm/index.mjs, re-exports from this.)
module.exports = Object.assign(WebSocket, module.exports as object);
