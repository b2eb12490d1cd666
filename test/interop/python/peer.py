"""A python3-websockets peer that socketeer's interop tests drive over stdin/stdout.

Usage:
  peer.py client <url> [--compression none|deflate] [--subprotocols a,b]
  peer.py server [--compression none|deflate] [--subprotocols a,b]

The test writes one JSON command per line on stdin and reads one JSON event per line on stdout.
Events: listening (server: the port), open, message, done (a command finished), close, error.
Commands ({"id": n, "op": ...}): send (text or b64), send_fragments (a list of texts or b64s,
one frame each), send_large (size bytes, made here and reported by SHA-256), echo (send every
message back), ping, pong, close (code, reason).

Written for websockets 10.x (Debian bookworm's python3-websockets), whose asyncio API is
`websockets.connect` / `websockets.serve`; the same calls still exist in later releases.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys

import websockets

# Messages this size or smaller are reported with their bytes; larger ones by hash only, so a
# 16 MiB echo does not have to cross the pipe as base64.
INLINE_LIMIT = 64 * 1024


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def describe(data):
    """A message as the test sees it: its type, size, hash and (when small) its bytes."""
    binary = isinstance(data, (bytes, bytearray, memoryview))
    raw = bytes(data) if binary else data.encode("utf-8")
    out = {
        "binary": binary,
        "length": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    if len(raw) <= INLINE_LIMIT:
        out["b64"] = base64.b64encode(raw).decode("ascii")
    return out


def payload(command):
    """The data of a send-like command: text stays str (a text frame), b64 becomes bytes."""
    if "text" in command:
        return command["text"]
    return base64.b64decode(command.get("b64", ""))


def large(size, binary):
    """Half incompressible, half repetitive, so deflate has work of both kinds to do."""
    half = size // 2
    if binary:
        return os.urandom(half) + b"socketeer" * ((size - half) // 9) + b"!" * ((size - half) % 9)
    # Text must be valid UTF-8: hex digits for the random half.
    return os.urandom(half // 2).hex() + "x" * (size - (half // 2) * 2)


class Session:
    def __init__(self, commands):
        self.commands = commands
        self.echo = False

    async def run(self, ws, role):
        request = ws.request_headers
        response = ws.response_headers
        emit(
            "open",
            role=role,
            subprotocol=ws.subprotocol,
            extensions=[ext.name for ext in ws.extensions],
            offered_extensions=request.get("Sec-WebSocket-Extensions"),
            accepted_extensions=response.get("Sec-WebSocket-Extensions"),
            path=getattr(ws, "path", None),
            version=websockets.__version__,
        )
        receiver = asyncio.ensure_future(self.receive(ws))
        commander = asyncio.ensure_future(self.obey(ws))
        await receiver
        await ws.wait_closed()
        emit("close", code=ws.close_code, reason=ws.close_reason)
        commander.cancel()
        try:
            await commander
        except asyncio.CancelledError:
            pass

    async def receive(self, ws):
        try:
            async for message in ws:
                emit("message", **describe(message))
                if self.echo:
                    await ws.send(message)
        except websockets.ConnectionClosed:
            pass

    async def obey(self, ws):
        while True:
            command = await self.commands.get()
            result = {}
            try:
                result = await self.execute(ws, command) or {}
            except Exception as error:  # reported to the test, which decides
                result = {"error": f"{type(error).__name__}: {error}"}
            emit("done", id=command.get("id"), op=command.get("op"), **result)

    async def execute(self, ws, command):
        op = command["op"]
        if op == "send":
            await ws.send(payload(command))
        elif op == "send_fragments":
            if "texts" in command:
                fragments = list(command["texts"])
            else:
                fragments = [base64.b64decode(part) for part in command["b64s"]]
            await ws.send(fragments)
        elif op == "send_large":
            data = large(command["size"], command.get("binary", True))
            await ws.send(data)
            info = describe(data)
            info.pop("b64", None)
            return info
        elif op == "echo":
            self.echo = True
        elif op == "ping":
            data = base64.b64decode(command.get("b64", ""))
            waiter = await ws.ping(data)
            # websockets resolves the waiter only for a pong carrying this ping's payload.
            await asyncio.wait_for(waiter, 10)
            return {"pong": base64.b64encode(data).decode("ascii")}
        elif op == "pong":
            await ws.pong(base64.b64decode(command.get("b64", "")))
        elif op == "close":
            await ws.close(command.get("code", 1000), command.get("reason", ""))
        else:
            raise ValueError(f"unknown op {op!r}")
        return None


async def read_commands(queue):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.strip():
            await queue.put(json.loads(line))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["client", "server"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--compression", choices=["none", "deflate"], default="deflate")
    parser.add_argument("--subprotocols", default="")
    args = parser.parse_args()

    common = {
        "compression": None if args.compression == "none" else "deflate",
        "max_size": None,  # the default (1 MiB) would refuse the 16 MiB messages
        "ping_interval": None,  # no pings of its own: the tests count pings and pongs
        "close_timeout": 10,
    }
    subprotocols = [p for p in args.subprotocols.split(",") if p]
    if subprotocols:
        common["subprotocols"] = subprotocols

    queue = asyncio.Queue()
    stdin_task = asyncio.ensure_future(read_commands(queue))
    session = Session(queue)
    try:
        if args.role == "client":
            try:
                ws = await websockets.connect(args.url, **common)
            except Exception as error:
                emit("error", message=f"{type(error).__name__}: {error}")
                return 1
            await session.run(ws, "client")
        else:
            finished = asyncio.get_running_loop().create_future()

            async def handler(ws):
                try:
                    await session.run(ws, "server")
                finally:
                    if not finished.done():
                        finished.set_result(None)

            async with websockets.serve(handler, "127.0.0.1", 0, **common) as server:
                port = server.sockets[0].getsockname()[1]
                emit("listening", port=port, version=websockets.__version__)
                await finished
    finally:
        stdin_task.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
