"""What the parent and the child of :mod:`notify.compose_process` share: the job,
the frames, and the one function that composes a journal record."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import notify
from notify import errors
from notify.compose import Composed, Composer, LanguageTemplate, TemplateSet
from notify.compose.mime import format_date
from notify.compose.templates import compile_source, reads_of
from notify.errors import NotifyError
from notify.journal import RecipientRecord
from notify.settings import IncidentSettings, SenderSettings

CHILD = "notify.compose_process.child"  # the child's module: python -m CHILD
MAX_HEAD = 1 << 16  # bytes of a frame's header (or error text): more is garbage
MAX_DATA = 1 << 26  # bytes of one message (64 MiB): more is garbage

# A frame: kind (one byte), then the sizes of its two parts (header, data).
FRAME = struct.Struct(">BII")
LENGTH = struct.Struct(">I")  # before the pickled job on the child's stdin
READY, MESSAGE, ERROR, FAILED, DONE = b"RMEFD"
SEP = "\x00"  # between a message header's fields (none of them can hold a NUL)


def real_clock() -> datetime:
    """The current local time, aware: the ``Date:`` of the messages of ``notify send``.

    The child process uses it too; :func:`notify.sending.send_campaign` uses a child
    on its own ("auto") only with this clock, not with a test's fake one.
    """
    return datetime.now().astimezone()


def date_of(record: RecipientRecord, now: datetime) -> datetime:
    """An uncertain message is resent exactly as it was: same Date as recorded."""
    if record.state == "uncertain" and record.date_header:
        try:
            return parsedate_to_datetime(record.date_header)
        except (TypeError, ValueError):
            return now
    return now


def compose_record(
    composer: Composer, record: RecipientRecord, token: str, now: datetime
) -> tuple[Composed, str]:
    """The message of one journal record and its ``Date:`` text (both paths call this).

    An uncertain record keeps its recorded Message-ID and Date: the same bytes again.
    """
    recipient = record.recipient
    message_id = record.message_id or composer.message_id_for(recipient, token)
    date = date_of(record, now)
    composed = composer.compose(recipient, message_id=message_id, date=date)
    return composed, format_date(date)


@dataclass(frozen=True, slots=True)
class Job:
    """What the child needs to compose the pass the parent would (nothing secret).

    ``templates`` holds, per language, the template's name, language, path and source:
    compiled again, they are the parent's templates. ``notify_file`` is the parent's
    ``notify/__init__.py``: the child refuses to run another copy of notify.
    ``fixed_now_for_tests`` (None in ``notify send``): the Date of every new message,
    for tests that ask for the child with a fake clock; the journal's own clock (which
    deferred retries are due) stays the real one.
    """

    journal: str
    campaign_id: int
    roster: bool
    token: str
    page: int
    template_name: str
    template_folder: str
    templates: tuple[tuple[str, str, str, str], ...]
    incident: IncidentSettings
    sender: SenderSettings
    default_language: str
    notify_file: str
    fixed_now_for_tests: datetime | None = None


def job_for(
    journal: Path,
    campaign_id: int,
    composer: Composer,
    *,
    token: str,
    roster: bool,
    page: int,
    fixed_now_for_tests: datetime | None = None,
) -> Job:
    """The job that makes the child compose exactly what ``composer`` would."""
    template_set = composer.template_set
    return Job(
        journal=str(journal.absolute()),
        campaign_id=campaign_id,
        roster=roster,
        token=token,
        page=page,
        template_name=template_set.name,
        template_folder=str(template_set.folder),
        templates=tuple(
            (t.name, t.language, str(t.path), t.source) for t in template_set.templates.values()
        ),
        incident=composer.incident,
        sender=composer.sender,
        default_language=composer.default_language,
        notify_file=notify.__file__ or "",
        fixed_now_for_tests=fixed_now_for_tests,
    )


def composer_of(job: Job) -> Composer:
    """The composer a job describes: the parent's, compiled again."""
    templates: dict[str, LanguageTemplate] = {}
    for name, language, path_text, source in job.templates:
        path = Path(path_text)
        plain, html = compile_source(source, path)
        templates[language] = LanguageTemplate(
            name, language, path, source, plain, html, reads_of(source)
        )
    template_set = TemplateSet(job.template_name, Path(job.template_folder), templates)
    return Composer(template_set, job.incident, job.sender, job.default_language)


def error_to_json(exc: NotifyError) -> bytes:
    """An ERROR frame's body: the class name, ``args`` and attributes of ``exc``."""
    attrs: dict[str, Any] = {}
    for name, value in vars(exc).items():
        if isinstance(value, datetime):
            attrs[name] = {"datetime": value.isoformat()}
        elif value is None or isinstance(value, str | int | float | bool):
            attrs[name] = value
    body = {"type": type(exc).__name__, "args": [str(a) for a in exc.args], "attrs": attrs}
    return json.dumps(body).encode()


def error_from(body: bytes) -> NotifyError | None:
    """The NotifyError an ERROR frame describes (the same class and text), or None."""
    try:
        data = json.loads(body)
        cls = getattr(errors, data["type"], None)
        if not (isinstance(cls, type) and issubclass(cls, NotifyError)):
            return None
        exc = cls.__new__(cls)
        Exception.__init__(exc, *[str(a) for a in data["args"]])
        for name, value in dict(data["attrs"]).items():
            plain = datetime.fromisoformat(value["datetime"]) if isinstance(value, dict) else value
            setattr(exc, str(name), plain)
        if not isinstance(getattr(exc, "message", None), str):
            return None
        return exc
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
