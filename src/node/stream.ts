/**
 * `createWebSocketStream`: a Duplex over a socket, with backpressure both ways. Reading: when the
 * stream's buffer is full, the socket is paused (and so is the TCP read side). Writing: each chunk
 * is a message, and the write callback fires when the socket has taken it.
 */
import { Duplex, type DuplexOptions } from "node:stream";
import type { WebSocket } from "./websocket.js";

/**
 * Wraps `ws` in a Duplex stream, as ws's `createWebSocketStream` does.
 * @param ws - an open or connecting socket
 * @param options - Duplex options (`objectMode`, `highWaterMark`, encodings…)
 */
export function createWebSocketStream(ws: WebSocket, options: DuplexOptions = {}): Duplex {
  let terminateOnDestroy = true;

  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer | string, _encoding, callback) {
      if (ws.readyState === ws.CONNECTING) {
        ws.once("open", () => duplex._write(chunk, _encoding, callback));
        return;
      }
      ws.send(chunk, callback);
    },
    final(callback) {
      if (ws.readyState === ws.CONNECTING) {
        ws.once("open", () => duplex._final(callback));
        return;
      }
      const socket = ws._socket;
      if (socket === null) return;
      if (socket.writableFinished) {
        callback();
        if (duplex.readableEnded) duplex.destroy();
      } else {
        // Writing is over when TCP is: the socket's 'finish' after our FIN, or the connection's
        // 'close' (a server closes TCP at once after the closing handshake, with no 'finish').
        const done = (): void => {
          socket.removeListener("finish", done);
          ws.removeListener("close", done);
          callback();
        };
        socket.once("finish", done);
        ws.once("close", done);
        ws.close();
      }
    },
    destroy(error, callback) {
      if (ws.readyState === ws.CLOSED) {
        callback(error);
        process.nextTick(() => duplex.emit("close"));
        return;
      }
      let called = false;
      ws.once("error", (err: Error) => {
        called = true;
        callback(err);
      });
      ws.once("close", () => {
        if (!called) callback(error);
        process.nextTick(() => duplex.emit("close"));
      });
      if (terminateOnDestroy) ws.terminate();
    },
  });

  // Both directions done (we sent close and the peer's messages ended): release the stream.
  duplex.on("end", () => {
    if (!duplex.destroyed && duplex.writableFinished) duplex.destroy();
  });
  ws.on("message", (data: unknown, isBinary: boolean) => {
    const chunk = !isBinary && duplex.readableObjectMode ? String(data) : (data as Buffer);
    if (!duplex.push(chunk)) ws.pause();
  });
  ws.once("error", (error: Error) => {
    if (duplex.destroyed) return;
    // Already terminating because of this error: do not terminate again in _destroy.
    terminateOnDestroy = false;
    duplex.destroy(error);
  });
  ws.once("close", () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });
  return duplex;
}
