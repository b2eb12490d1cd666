// Types for the ESM entry: the same declarations as the CommonJS build, with the class as default.
import { WebSocket } from "../cjs/index.js";

export * from "../cjs/index.js";
export default WebSocket;
