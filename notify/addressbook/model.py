"""Plain data passed from the address-book readers to the merge step and beyond."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ProblemKind = Literal[
    "invalid-address",  # a value in an e-mail field that is not an address
    "no-address",  # a contact with no usable address: reach by other means
    "duplicate",  # merged with an earlier contact (information, not an error)
    "malformed",  # a card or row that could not be read; the rest of the file was
    "encoding",  # the file's encoding was guessed, or bytes could not be decoded
    "excluded",  # removed by --exclude, or the compromised or sender address
    "secure-network",  # on a closed secure health-messaging network (MSSanté, Apicrypt)
]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a contact was read: a file and the line its card or row starts on."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


_new = object.__new__
_set_path = Origin.__dict__["path"].__set__  # the slots, set as __init__ would
_set_line = Origin.__dict__["line"].__set__


def make_origin(path: str, line: int) -> Origin:
    """``Origin(path, line)`` without the frozen ``__init__`` (its ``object.__setattr__``
    calls): for the readers and the merge, which make one a contact."""
    made = _new(Origin)
    _set_path(made, path)
    _set_line(made, line)
    return made


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the compromised mailbox sent: quoted so recipients recognise it."""

    date: datetime | None
    subject: str


@dataclass(slots=True)
class Entry:
    """One contact as read from one source, before validation and merging.

    ``emails`` holds the raw values in file order, trimmed but not validated;
    ``preferred`` is the index of the preferred one (vCard PREF, TYPE=pref).
    """

    origin: Origin
    emails: list[str] = field(default_factory=list)
    preferred: int = 0
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    civility: str = ""
    title: str = ""
    organization: str = ""
    language: str = ""
    groups: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    postal: list[str] = field(default_factory=list)
    # Facts from a Sent folder (zero or empty for address books).
    sent_count: int = 0
    first_sent: datetime | None = None
    last_sent: datetime | None = None
    window_messages: list[SentMessage] = field(default_factory=list)
    from_sent_folder: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the user should know about one contact or one line of input."""

    origin: Origin
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass(slots=True)
class Recipient:
    """One person to write to, after validation and merging of every source.

    ``email`` is the address the message goes to, as the source wrote it (domain
    lower-cased); ``ascii_email`` is the same with an IDNA domain, for SMTP;
    ``key`` identifies the mailbox (two addresses differing only in case are one).
    """

    email: str
    ascii_email: str
    key: str
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    civility: str = ""
    title: str = ""
    organization: str = ""
    language: str = ""
    groups: list[str] = field(default_factory=list)
    other_emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    postal: list[str] = field(default_factory=list)
    sources: list[Origin] = field(default_factory=list)
    secure_network: bool = False
    sent_count: int = 0
    first_sent: datetime | None = None
    last_sent: datetime | None = None
    window_messages: list[SentMessage] = field(default_factory=list)

    @property
    def in_window(self) -> bool:
        """True when the compromised mailbox wrote to this person during the window."""
        return bool(self.window_messages)
