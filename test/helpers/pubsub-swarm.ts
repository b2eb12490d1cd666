/**
 * Child process for the 10,000-subscriber test: opens many raw WebSocket connections to the
 * parent's server and checks what each receives. It runs apart from the test process because
 * each loopback connection costs one fd per side and `ulimit -n` is per process.
 *
 * Raw `net` sockets with a hand-written handshake, not socketeer clients: they are cheap (no
 * parser, no sender per connection) and they judge the server's bytes independently.
 *
 * Protocol over IPC: the child says `ready`; the parent sends `connect`, then `report` (the child
 * answers once every socket has `expect` messages, or after a deadline, with what it saw), then
 * `vanish` (every socket is reset without a close frame, as if the peer machine disappeared).
 */
import { createHash, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

/** Commands from the test process. */
export type SwarmCommand =
  | { cmd: "connect"; port: number; count: number; path: string }
  | { cmd: "report"; expect: number }
  | { cmd: "vanish" };

/** Replies to the test process. */
export type SwarmReply =
  | { type: "ready" }
  | { type: "connected"; opened: number; failed: number; error?: string }
  | {
      type: "report";
      complete: number;
      outOfOrder: number;
      badFrames: number;
      firstProblem?: string;
    }
  | { type: "vanished" };

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Connections opened at once: keeps the server's listen backlog (511) from overflowing. */
const PARALLEL = 200;

/** One raw connection and the messages it has parsed. */
class Member {
  received = 0;
  outOfOrder = 0;
  badFrames = 0;
  problem: string | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private handshaken = false;

  constructor(
    readonly socket: Socket,
    private readonly accept: string,
    private readonly onOpen: (error?: Error) => void,
  ) {
    socket.on("data", (chunk: Buffer) => this.data(chunk));
    socket.on("error", (error) => {
      if (!this.handshaken) this.onOpen(error);
    });
    socket.on("close", () => {
      if (!this.handshaken) this.onOpen(new Error("closed before the 101"));
    });
  }

  private data(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.handshaken) {
      const end = this.pending.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = this.pending.subarray(0, end).toString("latin1");
      this.pending = this.pending.subarray(end + 4);
      if (
        !head.startsWith("HTTP/1.1 101") ||
        !head.includes(`Sec-WebSocket-Accept: ${this.accept}`)
      ) {
        this.onOpen(new Error(`bad handshake response: ${head.split("\r\n")[0]}`));
        return;
      }
      this.handshaken = true;
      this.onOpen();
    }
    this.parse();
  }

  /** Server frames are unmasked (RFC 6455 §5.1); every test message is one small text frame. */
  private parse(): void {
    let buf = this.pending;
    while (buf.length >= 2) {
      const b0 = buf[0]!;
      const b1 = buf[1]!;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buf.length < 4) break;
        length = buf.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buf.length < 10) break;
        length = Number(buf.readBigUInt64BE(2));
        offset = 10;
      }
      if (buf.length < offset + length) break;
      const payload = buf.subarray(offset, offset + length).toString("utf8");
      buf = buf.subarray(offset + length);
      if (b0 !== 0x81 || (b1 & 0x80) !== 0) {
        this.badFrames++;
        this.problem ??= `unexpected frame 0x${b0.toString(16)} 0x${b1.toString(16)}`;
        continue;
      }
      if (payload !== `m${this.received}`) {
        this.outOfOrder++;
        this.problem ??= `expected m${this.received}, got ${payload.slice(0, 40)}`;
      }
      this.received++;
    }
    this.pending = buf;
  }
}

const members: Member[] = [];

function open(port: number, path: string): Promise<Member> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString("base64");
    const accept = createHash("sha1")
      .update(key + GUID)
      .digest("base64");
    const socket = connect({ port, host: "127.0.0.1" });
    let settled = false;
    const member = new Member(socket, accept, (error) => {
      if (settled) return;
      settled = true;
      if (error === undefined) resolve(member);
      else {
        socket.destroy();
        reject(error);
      }
    });
    socket.on("connect", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

async function connectAll(port: number, count: number, path: string): Promise<SwarmReply> {
  let failed = 0;
  let error: string | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        members.push(await open(port, path));
      } catch (e) {
        failed++;
        error ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
  return error === undefined
    ? { type: "connected", opened: members.length, failed }
    : { type: "connected", opened: members.length, failed, error };
}

async function report(expect: number): Promise<SwarmReply> {
  const deadline = Date.now() + 25_000;
  while (Date.now() < deadline && members.some((m) => m.received < expect)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  let complete = 0;
  let outOfOrder = 0;
  let badFrames = 0;
  let firstProblem: string | undefined;
  for (const m of members) {
    if (m.received === expect) complete++;
    outOfOrder += m.outOfOrder;
    badFrames += m.badFrames;
    firstProblem ??= m.problem;
  }
  const base = { type: "report" as const, complete, outOfOrder, badFrames };
  return firstProblem === undefined ? base : { ...base, firstProblem };
}

function reply(message: SwarmReply): void {
  process.send?.(message);
}

process.on("message", (command: SwarmCommand) => {
  if (command.cmd === "connect") {
    void connectAll(command.port, command.count, command.path).then(reply);
  } else if (command.cmd === "report") {
    void report(command.expect).then(reply);
  } else {
    // RST, no close frame and no FIN handshake: the server sees the peer vanish, and no socket
    // lingers in TIME_WAIT holding a loopback port.
    for (const m of members) m.socket.resetAndDestroy();
    members.length = 0;
    reply({ type: "vanished" });
    // Let the IPC reply leave, then exit (the parent also kills us on failure).
    setTimeout(() => process.disconnect(), 100);
  }
});
// Exit on our own when the parent goes away (it closes the channel).
process.on("disconnect", () => process.exit(0));
reply({ type: "ready" });
