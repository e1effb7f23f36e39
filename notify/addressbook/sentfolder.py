"""Sent-folder reader: who the hijacked mailbox wrote to, how often, and when.

The source is the Sent folder of the compromised mailbox, as an mbox file (one
file, messages separated by lines starting with ``From ``) or a Maildir folder
(``cur/`` and ``new/``; ``tmp/`` holds unfinished deliveries and is skipped).

Only headers are read (``_sentscan``: the streaming mbox splitter and Maildir
listing; ``_sentheaders``: decoding and parsing one header block). Bodies and
attachments are skipped unread, so a 2 GB mbox streams in constant memory; what
is kept is one small tally per distinct recipient.

For each message sent from ``owner`` (case-insensitive on the From address;
every message when ``owner`` is empty) the recipients in To, Cc and Bcc are
counted, one :class:`Entry` per distinct address (case-insensitive), yielded in
the order of the first message that named them, after every :class:`Problem`
found on the way.

Filters, applied in this order:

- ``since``: messages dated before it are ignored. Undated messages are kept.
- ``window``: the compromise window (inclusive). Messages dated inside it are
  quoted in ``Entry.window_messages`` (date and subject, the 20 earliest).
- ``window_only``: only recipients of messages sent during the window.
- ``min_count``: only recipients written to at least that many times, **except**
  the recipients of messages sent during the window, who are always kept: they
  are the people phished in the owner's name, the most exposed of all.

Times: a Date header without a time zone is read as UTC (RFC 5322 ``-0000``);
``since`` and ``window`` given without a time zone are read as the machine's
local time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from notify.addressbook._sentheaders import Headers, parse_headers
from notify.addressbook._sentscan import (
    MAX_HEADER,
    RawHeader,
    maildir_files,
    maildir_headers,
    mbox_headers,
)
from notify.addressbook.addresses import strip_wrappers
from notify.addressbook.model import Entry, Origin, Problem, ProblemKind, SentMessage
from notify.errors import SourceError, UsageError

_MAX_WINDOW_MESSAGES = 20  # messages quoted per recipient
_EXPECTED = (
    "expected an mbox file (its first line starts with 'From ') "
    "or a Maildir folder (with cur/ and new/ inside)"
)
_EXPORT_HINT = (
    "Give the Sent folder itself: an mbox file exported by the mail program "
    "(Thunderbird: ImportExportTools NG; Gmail: Google Takeout), or the Maildir "
    "folder that holds cur/ and new/."
)

SourceKind = Literal["mbox", "maildir"]


@dataclass(frozen=True, slots=True)
class _Filters:
    owner: str  # case-folded; "" for every message
    since: datetime | None
    window: tuple[datetime, datetime] | None
    min_count: int
    window_only: bool

    def in_window(self, date: datetime | None) -> bool:
        return (
            self.window is not None
            and date is not None
            and (self.window[0] <= date <= self.window[1])
        )


@dataclass(slots=True)
class _Tally:
    """Everything known about one recipient so far."""

    email: str
    origin: Origin
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    names: Counter[str] = field(default_factory=Counter)
    window: set[SentMessage] = field(default_factory=set)

    def add(self, date: datetime | None, quoted: SentMessage | None) -> None:
        self.count += 1
        if date is not None:
            self.first = date if self.first is None else min(self.first, date)
            self.last = date if self.last is None else max(self.last, date)
        if quoted is not None:
            self.window.add(quoted)
            if len(self.window) > 2 * _MAX_WINDOW_MESSAGES:
                self.window = set(_earliest(self.window))


@dataclass(slots=True)
class _OtherSenders:
    """Messages ignored because another address sent them."""

    first: Origin | None = None
    count: int = 0
    addresses: Counter[str] = field(default_factory=Counter)


# --- public API -------------------------------------------------------------------


def is_sent_folder(path: Path) -> bool:
    """True when ``path`` is an mbox file or a Maildir folder (for source dispatch).

    An mbox file is one whose first non-empty line starts with ``From ``; a Maildir
    folder has ``cur/`` and ``new/`` inside. Never raises.
    """
    try:
        return _kind_of(path) is not None
    except OSError:
        return False


def read_sent_folder(
    path: Path,
    *,
    owner: str = "",
    since: datetime | None = None,
    min_count: int = 1,
    window: tuple[datetime, datetime] | None = None,
    window_only: bool = False,
) -> Iterator[Entry | Problem]:
    """Yield one Entry per recipient of the mail sent from ``owner``.

    Problems (messages that had to be skipped, with file and line) come first, then
    the entries in the order of the first message that named each recipient. The
    options are described in the module docstring. Raises :class:`UsageError` for
    options that cannot work together and :class:`SourceError` when ``path`` is not
    an mbox file or a Maildir folder, or cannot be read; bad messages never raise.
    """
    filters = _filters(owner, since, min_count, window, window_only)
    kind = _source_kind(path)
    blocks = mbox_headers(path) if kind == "mbox" else maildir_headers(maildir_files(path))
    return _read(blocks, filters)


# --- options and source detection ------------------------------------------------


def _aware(moment: datetime) -> datetime:
    """Give a naive datetime the machine's local time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.astimezone()
    return moment


def _filters(
    owner: str,
    since: datetime | None,
    min_count: int,
    window: tuple[datetime, datetime] | None,
    window_only: bool,
) -> _Filters:
    if min_count < 0:
        raise UsageError(
            f"the minimum number of messages cannot be negative ({min_count})",
            hint="Give --min-count 1 or more, or leave it out to keep every recipient.",
        )
    if window is not None:
        window = (_aware(window[0]), _aware(window[1]))
        if window[0] > window[1]:
            raise UsageError(
                f"the compromise window ends ({window[1].isoformat()}) "
                f"before it starts ({window[0].isoformat()})",
                hint="Check window_start and window_end under [incident] in notify.toml.",
            )
    elif window_only:
        raise UsageError(
            "only the recipients of mail sent during the compromise window were asked "
            "for, but no window was given",
            hint="Set window_start and window_end under [incident] in notify.toml, "
            "or leave out --window.",
        )
    return _Filters(
        owner=strip_wrappers(owner).casefold(),
        since=None if since is None else _aware(since),
        window=window,
        min_count=min_count,
        window_only=window_only,
    )


def _first_line(path: Path) -> bytes:
    """The first non-blank line of a file (up to 64 KiB of it), or b""."""
    with path.open("rb") as stream:
        sample = stream.read(64 * 1024)
    for line in sample.splitlines():
        if line.strip():
            return line
    return b""


def _kind_of(path: Path) -> SourceKind | None:
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return "maildir"
        return None
    return "mbox" if _first_line(path).startswith(b"From ") else None


def _source_kind(path: Path) -> SourceKind:
    if not path.exists():
        raise SourceError("does not exist", path=path, hint=_EXPORT_HINT)
    try:
        kind = _kind_of(path)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    if kind is None:
        what = "is a folder without cur/ and new/" if path.is_dir() else "is not an mbox file"
        raise SourceError(f"{what}: {_EXPECTED}", path=path, hint=_EXPORT_HINT)
    return kind


# --- aggregation --------------------------------------------------------------------


def _problem(origin: Origin, message: str, kind: ProblemKind = "malformed") -> Problem:
    return Problem(origin=origin, kind=kind, message=message)


def _earliest(messages: set[SentMessage]) -> list[SentMessage]:
    ordered = sorted(
        messages, key=lambda sent: (sent.date or datetime.min.replace(tzinfo=UTC), sent.subject)
    )
    return ordered[:_MAX_WINDOW_MESSAGES]


def _read(blocks: Iterator[RawHeader], filters: _Filters) -> Iterator[Entry | Problem]:
    tallies: dict[str, _Tally] = {}
    others = _OtherSenders()
    for raw in blocks:
        yield from _take(raw, filters, tallies, others)
    if others.first is not None:
        yield _others_problem(others.first, others, filters.owner)
    yield from _entries(tallies, filters)


def _take(
    raw: RawHeader, filters: _Filters, tallies: dict[str, _Tally], others: _OtherSenders
) -> Iterator[Problem]:
    """Count one message, or say why it was skipped."""
    if raw.error:
        yield _problem(raw.origin, f"the message could not be read ({raw.error}); skipped")
        return
    if raw.truncated:
        limit = f"{MAX_HEADER >> 20} MiB"
        yield _problem(raw.origin, f"headers longer than {limit}: not a mail message; skipped")
        return
    try:
        parsed = parse_headers(raw.data)
    except Exception:  # the stdlib parser on hostile input: skip this message only
        yield _problem(raw.origin, "the headers could not be read; message skipped")
        return
    if filters.owner and filters.owner not in parsed.senders:
        if not parsed.senders:
            yield _problem(raw.origin, "no readable From address; message skipped")
        else:
            others.first = others.first or raw.origin
            others.count += 1
            others.addresses.update(parsed.senders)
        return
    if filters.since is not None and parsed.date is not None and parsed.date < filters.since:
        return
    for name in parsed.unreadable:
        yield _problem(raw.origin, f"part of the {name} header could not be read and was left out")
    yield from _check_window(raw.origin, parsed, filters)
    _count(parsed, raw.origin, filters, tallies)


def _check_window(origin: Origin, parsed: Headers, filters: _Filters) -> Iterator[Problem]:
    """Warn about what the window cannot be told for: undated or recipient-less mail."""
    if filters.window is None:
        return
    if parsed.date is None and parsed.recipients:
        why = "has an unreadable Date" if parsed.date_given else "has no Date"
        yield _problem(
            origin,
            f"message {why}: it cannot be told whether it was sent during the "
            "compromise window; its recipients are counted but not flagged",
        )
    elif filters.in_window(parsed.date) and not parsed.recipients:
        yield _problem(
            origin,
            "message sent during the compromise window lists no recipients (Bcc not kept "
            "in the Sent copy): ask the mail provider for its sending logs",
            kind="no-address",
        )


def _count(parsed: Headers, origin: Origin, filters: _Filters, tallies: dict[str, _Tally]) -> None:
    quoted = None
    if filters.in_window(parsed.date):
        quoted = SentMessage(date=parsed.date, subject=parsed.subject)
    counted: set[str] = set()
    for spec, name in parsed.recipients:
        key = spec.casefold()
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally(spec, origin)
        if name:
            tally.names[name] += 1
        if key not in counted:
            counted.add(key)
            tally.add(parsed.date, quoted)


def _best_name(names: Counter[str]) -> str:
    """The display name seen most often; a cleanly decoded one beats a garbled one."""
    if not names:
        return ""
    return max(names, key=lambda name: ("\ufffd" not in name, names[name], len(name)))


def _entries(tallies: dict[str, _Tally], filters: _Filters) -> Iterator[Entry]:
    for tally in tallies.values():
        exposed = bool(tally.window)
        if filters.window_only and not exposed:
            continue
        if tally.count < filters.min_count and not exposed:
            continue
        yield Entry(
            origin=tally.origin,
            emails=[tally.email],
            name=_best_name(tally.names),
            sent_count=tally.count,
            first_sent=tally.first,
            last_sent=tally.last,
            window_messages=_earliest(tally.window),
            from_sent_folder=True,
        )


def _others_problem(origin: Origin, others: _OtherSenders, owner: str) -> Problem:
    seen = ", ".join(address for address, _ in others.addresses.most_common(3))
    return _problem(
        origin,
        f"{others.count} message(s) not sent from {owner} were ignored (From: {seen}); "
        "if one of these is the compromised address, correct compromised_address "
        "under [incident] in notify.toml",
        kind="excluded",
    )
