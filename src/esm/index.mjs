// ESM entry: a thin wrapper over the CommonJS build, so `import` and `require` share one copy
// of every class and of module state (see scripts/build.mjs).
import WebSocket from "../cjs/index.js";

export const {
  WebSocketServer,
  Server,
  createWebSocketStream,
  CloseEvent,
  ErrorEvent,
  MessageEvent,
  WebSocketEvent,
  CloseCodes,
  ErrorCodes,
  ProtocolError,
} = WebSocket;
export { WebSocket };
export default WebSocket;
