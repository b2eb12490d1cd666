/**
 * In-house adversarial test helpers (reliability.md §0): raw handshake writer, frame forger,
 * close-frame reader, raw server, and the implementation switch with its event recorder.
 */
export * from "./frame-forger.js";
export * from "./frame-reader.js";
export * from "./impl.js";
export * from "./raw-client.js";
export * from "./raw-server.js";
