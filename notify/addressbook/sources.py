"""Which reader reads which file, and the whole import in one call."""

# ruff: noqa: PLC0415 - each reader is imported for the first source of its kind

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

from notify.addressbook.merge import ContactList, MergeOptions, merge
from notify.addressbook.model import Entry, Problem
from notify.errors import SourceError

_VCARD_SUFFIXES = {".vcf", ".vcard"}
_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_MBOX_SUFFIXES = {".mbox", ".mbx"}


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How to read sources: the options shared by contacts, preview and send."""

    encoding: str | None = None
    mapping: Mapping[str, str] | None = None
    owner: str = ""  # the compromised address: whose Sent folder it is
    since: datetime | None = None
    min_count: int = 1
    window: tuple[datetime, datetime] | None = None
    window_only: bool = False


@dataclass(slots=True)
class Import:
    """A merged contact list, and the sources that could not be read at all.

    The contact list is read from a temporary database: :meth:`close` it when done
    (or use the import as a context manager); it is also deleted at exit.
    """

    contacts: ContactList
    unreadable: list[SourceError] = field(default_factory=list)

    def close(self) -> None:
        """Delete the contact list's temporary database; safe to call twice."""
        self.contacts.close()

    def __enter__(self) -> Import:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def kind_of(path: Path) -> str:
    """``vcard``, ``csv`` or ``sent``: the reader for ``path``, by name then by content."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in _MBOX_SUFFIXES:
        return "sent"
    if suffix in _VCARD_SUFFIXES:
        return "vcard"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    if b"BEGIN:VCARD" in head.upper().replace(b"\x00", b""):
        return "vcard"
    from notify.addressbook.sentfolder import is_sent_folder

    if is_sent_folder(path):
        return "sent"
    return "csv"


def read_source(path: Path, options: SourceOptions) -> Iterator[Entry | Problem]:
    """Read one source with the right reader (imported for the first source of its kind)."""
    if not path.exists():
        raise SourceError("no such file or folder", path=path)
    kind = kind_of(path)
    if kind == "vcard":
        from notify.addressbook.vcards import read_vcards

        return read_vcards(path, encoding=options.encoding)
    if kind == "csv":
        from notify.addressbook.csvbooks import read_csv

        return read_csv(path, encoding=options.encoding, mapping=options.mapping)
    from notify.addressbook.sentfolder import read_sent_folder

    return read_sent_folder(
        path,
        owner=options.owner,
        since=options.since,
        min_count=options.min_count,
        window=options.window,
        window_only=options.window_only,
    )


def _read_all(
    paths: Sequence[Path], options: SourceOptions, unreadable: list[SourceError]
) -> Iterator[Entry | Problem]:
    for path in paths:
        try:
            yield from read_source(path, options)
        except SourceError as exc:
            unreadable.append(exc)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a contact list is built.

    The import creates many short-lived objects and no reference cycle: the
    collector's passes would cost time for nothing. It is switched back on after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_contacts(
    paths: Sequence[Path], options: SourceOptions, merge_options: MergeOptions
) -> Import:
    """Read every source, merge them; a source that cannot be read does not stop the rest."""
    unreadable: list[SourceError] = []
    with _collector_paused():
        contacts = merge(_read_all(paths, options, unreadable), merge_options)
    return Import(contacts, unreadable)
