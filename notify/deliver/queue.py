"""The engine's queue of messages, retries ordered by when they are due, and the
per-minute spacing of transactions.

:class:`JobQueue` hands out new messages from the source (pulled lazily: an async
iterator such as ``notify send``'s composer) and retries when they come due; a
message waiting for its retry never holds a connection. :class:`TokenBucket`
spaces transactions evenly for ``per_minute``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from notify.deliver.model import Outgoing


@dataclass(frozen=True)
class Job:
    """A message and the attempt about to be made."""

    message: Outgoing
    number: int  # the attempt about to be made, from 1


async def _aiter(source: AsyncIterator[Outgoing] | Iterable[Outgoing]) -> AsyncIterator[Outgoing]:
    if isinstance(source, AsyncIterator):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


class JobQueue:
    """New messages from the source, plus retries ordered by when they are due."""

    def __init__(self, source: AsyncIterator[Outgoing] | Iterable[Outgoing]) -> None:
        # An async iterator (notify send's composer) is pulled as it is: no extra layer.
        self._source = source if isinstance(source, AsyncIterator) else _aiter(source)
        self._pull_lock = asyncio.Lock()
        self._retries: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._exhausted = False
        self._busy = 0
        self._closed = False
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Hand out nothing more; wake every waiting worker."""
        self._closed = True
        self._notify()

    def pending_retries(self) -> int:
        """How many messages still wait for a retry."""
        return len(self._retries)

    async def next(self) -> Job | None:
        """The next job, waiting for a retry to be due if needed; None when all is done."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            if self._retries and self._retries[0][0] <= loop.time():
                self._busy += 1
                return heapq.heappop(self._retries)[2]
            if not self._exhausted:
                message = await self._pull()
                if message is not None and not self._closed:
                    self._busy += 1
                    return Job(message, 1)
                continue
            if not self._retries and self._busy == 0:
                self._notify()
                return None
            delay = self._retries[0][0] - loop.time() if self._retries else None
            changed = self._changed
            try:
                async with asyncio.timeout(delay):
                    await changed.wait()
            except TimeoutError:
                pass
        return None

    async def next_ready(self) -> Job | None:
        """A job that can start now (a due retry, else a new message), or None: no wait."""
        if self._closed:
            return None
        if self._retries and self._retries[0][0] <= asyncio.get_running_loop().time():
            self._busy += 1
            return heapq.heappop(self._retries)[2]
        message = await self._pull()
        if message is None or self._closed:
            return None
        self._busy += 1
        return Job(message, 1)

    async def _pull(self) -> Outgoing | None:
        async with self._pull_lock:
            if self._exhausted:
                return None
            try:
                return await anext(self._source)
            except StopAsyncIteration:
                self._exhausted = True
                self._notify()
                return None

    def settle(self, job: Job, retry_at: float | None, *, same_attempt: bool = False) -> None:
        """The job is done with for now; ``retry_at`` (loop time) schedules its retry.

        ``same_attempt``: the message never reached the server (the connection ended
        before its turn in a pipelined batch), so the retry keeps its attempt number.
        """
        self._busy -= 1
        if retry_at is not None:
            retry = Job(job.message, job.number if same_attempt else job.number + 1)
            heapq.heappush(self._retries, (retry_at, next(self._seq), retry))
        self._notify()


class TokenBucket:
    """``per_minute`` transactions a minute, evenly spaced (a bucket of one token)."""

    def __init__(self, per_minute: int | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until the next transaction may start."""
        if not self.interval:
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval
