"""The parent's side of :mod:`notify.compose_process`: start, read, kill and reap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from notify.compose_process.protocol import (
    CHILD,
    DONE,
    ERROR,
    FAILED,
    FRAME,
    LENGTH,
    MAX_DATA,
    MAX_HEAD,
    MESSAGE,
    READY,
    SEP,
    Job,
    error_from,
)
from notify.errors import JournalError, NotifyError

READ_LIMIT = 1 << 18  # the parent's read buffer: reading pauses at twice this
TAIL = 4096  # bytes of the child's stderr kept for the error message
_HINT = (
    "Nothing was marked failed: run the same command again to resume. If this happens "
    'again, set compose_process = "off" in the [sending] section of notify.toml.'
)


@dataclass(frozen=True, slots=True)
class Framed:
    """One message composed by the child: what the recorder remembers, and the bytes."""

    ref: int
    rcpt: str
    message_id: str
    date: str
    sha256: str
    needs_smtputf8: bool
    data: bytes


class ComposeProcess:
    """The child process composing one pass, seen from the parent.

    :meth:`start` it, then either wait for it (:meth:`wait_ready`) or poll
    :meth:`ready` while composing in-process; :meth:`begin` hands it the pass from
    a rank on, :meth:`next_message` reads its messages. :meth:`close` always: it kills
    and reaps the child (no zombie, no pipe left open), whatever happened.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.received = 0  # messages read from the child
        self._child: _Child | None = None
        self._setup: asyncio.Task[None] | None = None
        self._failed: NotifyError | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return None if self._child is None else self._child.proc.pid

    async def start(self) -> None:
        """Start the child and send it the job; JournalError when it cannot start."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=READ_LIMIT,
                process_group=0,  # a terminal's Ctrl-C reaches the parent only
            )
        except OSError as exc:
            raise JournalError(f"cannot start the composing process: {exc}", hint=_HINT) from None
        if proc.stdin is None or proc.stdout is None or proc.stderr is None:  # never: PIPE
            raise JournalError("the composing process has no pipes", hint=_HINT)
        tail = asyncio.create_task(_tail(proc.stderr))
        self._child = _Child(proc, proc.stdin, proc.stdout, tail)
        self._setup = asyncio.create_task(self._set_up())

    def command(self) -> tuple[str, ...]:
        """The child's command line: this Python, this module (nothing else on it)."""
        # -P: the current folder is not put first on sys.path, so it is our notify.
        return (sys.executable, "-P", "-m", CHILD)

    async def _set_up(self) -> None:
        stdin = self._running().stdin
        job = pickle.dumps(self.job, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            stdin.write(LENGTH.pack(len(job)) + job)
            await stdin.drain()
        except OSError:
            pass  # it died: its end of stdout says so below
        kind, _ = await self._frame()
        if kind != READY:
            raise await self._garbage(f"a {_name(kind)} frame before 'ready'")

    def ready(self) -> bool:
        """True once the child is set up; False while it starts, or for good if it failed."""
        task = self._setup
        if task is None or not task.done() or task.cancelled():
            return False
        return task.exception() is None

    async def wait_ready(self) -> None:
        """Wait until the child is set up; raise what prevented it."""
        if self._setup is None:
            raise RuntimeError("start() first")
        await self._setup

    async def begin(self, after: int | None) -> None:
        """Make the ready child compose the pass from rank ``after`` on (None: the start)."""
        await self.wait_ready()
        stdin = self._running().stdin
        try:
            stdin.write(json.dumps(after).encode() + b"\n")
            await stdin.drain()
            stdin.close()
            await stdin.wait_closed()
        except OSError:
            pass  # it died: the next frame says so

    async def next_message(self) -> Framed | None:
        """The child's next message, or None at the end of the pass.

        Raises the NotifyError the child's composition raised (same class and text),
        or JournalError when the child died or wrote something unreadable.
        """
        kind, body = await self._frame()
        if kind == MESSAGE:
            self.received += 1
            return body
        if kind == DONE:
            return None
        raise await self._garbage(f"a {_name(kind)} frame after 'ready'")

    async def _frame(self) -> tuple[int, Framed | None]:
        """Read one frame: (MESSAGE, Framed), (READY, None) or (DONE, None); raise the
        error an ERROR or FAILED frame carries, or what a dead child or garbage means."""
        if self._failed is not None:
            raise self._failed
        reader = self._running().stdout
        try:
            kind, size, extra = FRAME.unpack(await reader.readexactly(FRAME.size))
            if size > MAX_HEAD or extra > MAX_DATA:
                raise await self._garbage(f"a frame of {size} + {extra} bytes")
            body = await reader.readexactly(size + extra) if size or extra else b""
        except (asyncio.IncompleteReadError, OSError):
            raise await self._died() from None
        if kind == MESSAGE:
            try:
                ref, rcpt, message_id, date, sha256, utf8 = body[:size].decode().split(SEP)
                return kind, Framed(
                    int(ref), rcpt, message_id, date, sha256, utf8 == "1", body[size:]
                )
            except ValueError:
                raise await self._garbage("an unreadable message header") from None
        if kind in (READY, DONE) and not body:
            return kind, None
        if kind == ERROR:
            raise self._fail(error_from(body) or await self._garbage("an unreadable error"))
        if kind == FAILED:
            text = body.decode("utf-8", "replace")
            raise self._fail(JournalError(f"the composing process failed: {text}", hint=_HINT))
        raise await self._garbage(f"a {_name(kind)} frame")

    def _running(self) -> _Child:
        if self._child is None:
            raise RuntimeError("start() first")
        return self._child

    def _fail(self, exc: NotifyError) -> NotifyError:
        """Remember the child's failure: every later read raises it again."""
        self._failed = exc
        return exc

    async def _garbage(self, what: str) -> NotifyError:
        await self._reap()
        return self._fail(
            JournalError(f"the composing process sent something unreadable: {what}", hint=_HINT)
        )

    async def _died(self) -> NotifyError:
        """The child closed its stdout before the end: why, once it is reaped."""
        child = self._running()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(child.proc.wait()), 2.0)
        await self._reap()
        code = child.proc.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        said = ""
        if child.tail.done() and not child.tail.cancelled():
            lines = child.tail.result().decode("utf-8", "replace").strip().splitlines()
            said = f": {lines[-1].strip()}" if lines else ""
        return self._fail(
            JournalError(f"the composing process stopped unexpectedly ({how}){said}", hint=_HINT)
        )

    async def close(self) -> None:
        """Kill the child if it runs and reap it; a stop meanwhile waits for this."""
        if self._child is not None:
            await _to_the_end(self._reap())

    async def _reap(self) -> None:
        """Kill, drain both pipes to their end, wait: nothing left, even cancelled."""
        child = self._running()
        setup = self._setup
        if setup is not None and setup is not asyncio.current_task():
            setup.cancel()
            await asyncio.gather(setup, return_exceptions=True)  # its outcome is retrieved
        if child.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
        child.stdin.close()
        with contextlib.suppress(OSError):
            await child.stdin.wait_closed()
        with contextlib.suppress(OSError):
            while await child.stdout.read(1 << 16):
                pass
        await asyncio.gather(child.tail, return_exceptions=True)
        await child.proc.wait()


@dataclass(frozen=True, slots=True)
class _Child:
    """A started child process: its pipes, and the task reading its stderr."""

    proc: asyncio.subprocess.Process
    stdin: asyncio.StreamWriter
    stdout: asyncio.StreamReader
    tail: asyncio.Task[bytes]


def _name(kind: int) -> str:
    """A frame kind, for an error message."""
    return repr(chr(kind)) if 32 < kind < 127 else f"0x{kind:02x}"


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """Read ``stream`` to its end (the child never blocks on it); keep its last bytes."""
    kept = b""
    with contextlib.suppress(OSError):
        while chunk := await stream.read(1 << 16):
            kept = (kept + chunk)[-TAIL:]
    return kept


async def _to_the_end(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to its end even if cancelled meanwhile; then raise the cancellation."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()
