"""A TCP proxy on 127.0.0.1 that delays every chunk by --delay-ms in each direction.

    .venv/bin/python bench/delayproxy.py --target-port 2525 [--delay-ms 10]
        [--port 0] [--max-seconds 3600]

Each chunk read from one side is written to the other ``--delay-ms`` later, in order;
reading goes on meanwhile, so the link has latency, not a lower bandwidth (10 ms each
way makes a 20 ms round trip, a mail provider a few hundred kilometres away). Prints
``port N`` once listening; stops on SIGTERM, SIGINT or after ``--max-seconds``, and
then prints ``connections N``. Both ends are 127.0.0.1, nothing else is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

LOOPBACK = "127.0.0.1"
CHUNK = 65536


async def _read_side(
    reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]], delay: float
) -> None:
    loop = asyncio.get_running_loop()
    while chunk := await reader.read(CHUNK):
        queue.put_nowait((loop.time() + delay, chunk))
    queue.put_nowait((loop.time() + delay, b""))


async def _write_side(
    writer: asyncio.StreamWriter, queue: asyncio.Queue[tuple[float, bytes]]
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due, chunk = await queue.get()
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not chunk:
            with contextlib.suppress(OSError):
                writer.write_eof()
            return
        writer.write(chunk)
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    await asyncio.gather(_read_side(reader, queue, delay), _write_side(writer, queue))


class Proxy:
    """Accepts on 127.0.0.1, connects each client to 127.0.0.1:target_port."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.connections = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        """Relay one client both ways, each direction delayed."""
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            s_reader, s_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        except OSError:
            c_writer.close()
            return
        try:
            await asyncio.gather(
                _pipe(c_reader, s_writer, self.delay), _pipe(s_reader, c_writer, self.delay)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # shutting down: end quietly (the only canceller)
            pass
        finally:
            for writer in (c_writer, s_writer):
                writer.close()
            if task is not None:
                self.tasks.discard(task)


async def run(port: int, target_port: int, delay_ms: float, max_seconds: float) -> int:
    """Serve until a signal or the time limit; return the number of connections."""
    proxy = Proxy(target_port, delay_ms / 1000)
    server = await asyncio.start_server(proxy.handle, LOOPBACK, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max_seconds)
        server.close()
        for task in list(proxy.tasks):
            task.cancel()
        await asyncio.gather(*proxy.tasks, return_exceptions=True)
    return proxy.connections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="each way (default 10)")
    parser.add_argument("--port", type=int, default=0, help="listening port (default: free)")
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    count = asyncio.run(run(args.port, args.target_port, args.delay_ms, args.max_seconds))
    print(f"connections {count}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
