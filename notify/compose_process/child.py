"""The child of :mod:`notify.compose_process`: ``python -m notify.compose_process.child``.

It reads its job on stdin, composes the pass, and writes frames on stdout; see the
package's docstring for the protocol.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, NoReturn

import notify
from notify.compose import Composed, Composer
from notify.compose_process.protocol import (
    DONE,
    ERROR,
    FAILED,
    FRAME,
    LENGTH,
    MAX_HEAD,
    MESSAGE,
    READY,
    SEP,
    Job,
    compose_record,
    composer_of,
    error_to_json,
    real_clock,
)
from notify.errors import NotifyError
from notify.journal import Journal

WRITE_BUFFER = 1 << 16  # the frames are written in chunks of this size


class _Frames:
    """The child's frames, written in chunks on the pipe (a duplicate of its stdout)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.sent = 0

    def _write(self, kind: int, head: bytes, data: bytes = b"") -> None:
        self.stream.write(FRAME.pack(kind, len(head), len(data)))
        self.stream.write(head)
        if data:
            self.stream.write(data)

    def ready(self) -> None:
        self._write(READY, b"")
        self.stream.flush()

    def message(self, ref: int, composed: Composed, date: str) -> None:
        fields = (str(ref), composed.to, composed.message_id, date, composed.sha256)
        head = SEP.join((*fields, "1" if composed.needs_smtputf8 else "0")).encode()
        self._write(MESSAGE, head, composed.data)
        self.sent += 1
        if self.sent == 1:  # the parent waits for the first one: no buffering
            self.stream.flush()

    def error(self, exc: NotifyError) -> None:
        self._write(ERROR, error_to_json(exc))
        self.stream.flush()

    def failed(self, text: str) -> None:
        self._write(FAILED, text.encode("utf-8", "replace")[:MAX_HEAD])
        self.stream.flush()

    def done(self) -> None:
        self._write(DONE, b"")
        self.stream.flush()


def _compose_pass(
    job: Job, composer: Composer, journal: Journal, after: int | None, frames: _Frames
) -> None:
    """Page through the journal from ``after`` on and write every message due."""
    fixed = job.fixed_now_for_tests
    now: Callable[[], datetime] = real_clock if fixed is None else lambda: fixed
    while page := journal.to_send(job.campaign_id, limit=job.page, after=after, roster=job.roster):
        after = page[-1].rank
        for record in page:
            composed, date = compose_record(composer, record, job.token, now())
            frames.message(record.id, composed, date)
        frames.stream.flush()
    frames.done()


def _serve(stdin: IO[bytes], frames: _Frames) -> None:
    """Read the job, get ready, and compose the pass from where the parent says."""
    (size,) = LENGTH.unpack(_read_exactly(stdin, LENGTH.size))
    job = pickle.loads(_read_exactly(stdin, size))  # noqa: S301 - from our parent, a pipe
    if not isinstance(job, Job):
        frames.failed(f"its job is a {type(job).__name__}")
        return
    if Path(job.notify_file).resolve() != Path(notify.__file__ or "").resolve():
        frames.failed(f"it runs the notify of {notify.__file__}, not {job.notify_file}")
        return
    composer = composer_of(job)
    with Journal.open(job.journal, read_only=True) as journal:
        frames.ready()
        line = stdin.readline()
        if not line:
            return  # the parent composed the whole pass itself
        after = json.loads(line)
        if after is not None and not isinstance(after, int):
            frames.failed(f"it was told to start after {after!r}")
            return
        _compose_pass(job, composer, journal, after, frames)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """``size`` bytes of ``stream``; EOFError when it ends before."""
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the parent closed the pipe before the job was complete")
    return data


def main() -> NoReturn:
    """The child: compose the pass the job on stdin describes; frames on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    out = os.fdopen(os.dup(1), "wb", buffering=WRITE_BUFFER)
    os.dup2(2, 1)  # a stray print() goes to stderr, never into the frames
    frames = _Frames(out)
    try:
        try:
            _serve(sys.stdin.buffer, frames)
        except NotifyError as exc:
            frames.error(exc)
        except Exception as exc:  # a bug: said in one line, the parent raises it
            frames.failed(f"{type(exc).__name__}: {exc}")
        out.flush()
    except BrokenPipeError:
        os._exit(0)  # the parent is gone: nobody to tell
    out.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
