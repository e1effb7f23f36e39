"""Rendering one template for one recipient, and composing the message bytes."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2

from notify.addressbook.addresses import InvalidAddress, clean
from notify.addressbook.model import Recipient
from notify.compose import mime
from notify.compose.templates import (
    MAX_TEXT,
    LanguageTemplate,
    RenderBudget,
    RenderLimit,
    TemplateSet,
    error_line,
)
from notify.compose.variables import one_line_settings, recipient_variables, shared_variables
from notify.errors import ConfigError, InputError, NotifyError, TemplateError
from notify.settings import IncidentSettings, SenderSettings


@dataclass(frozen=True, slots=True)
class Rendered:
    """The texts of one message, before MIME: subject (one line), text, optional HTML."""

    language: str
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True, slots=True)
class Composed:
    """One message ready to send: ``data`` is the whole message (CRLF line endings).

    ``to`` is the envelope recipient (IDNA domain); ``needs_smtputf8`` is true when an
    address has a non-ASCII local part; ``sha256`` is the hex digest of ``data``.
    """

    data: bytes
    to: str
    subject: str
    language: str
    message_id: str
    sha256: str
    text: str
    html: str | None
    needs_smtputf8: bool
    warnings: list[str] = field(default_factory=list)


TEXT_WIDTH = 72
_BULLETS = ("- ", "* ", "• ", "– ")


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap lines longer than ``width`` at spaces; list items keep a hanging indent.

    Templates may hold one paragraph per line. A word longer than ``width`` (an
    address) stays whole; quoted-printable still keeps the encoded lines short.
    """
    lines = text.split("\n")
    if all(len(line) <= width for line in lines):
        return text
    return "\n".join(_wrap_line(line, width) if len(line) > width else line for line in lines)


def _wrap_line(line: str, width: int) -> str:
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    hang = indent
    for bullet in _BULLETS:
        if body.startswith(bullet):
            hang = indent + " " * len(bullet)
            break
    out: list[str] = []
    prefix = indent
    while len(prefix) + len(body) > width:
        room = width - len(prefix)
        cut = body.rfind(" ", 1, room + 1)
        if cut <= 0:  # one word longer than the line: keep it whole
            cut = body.find(" ", room)
            if cut < 0:
                break
        out.append(prefix + body[:cut].rstrip(" "))
        body = body[cut:].lstrip(" ")
        prefix = hang
    out.append(prefix + body)
    return "\n".join(out)


def _render_blocks(
    template: jinja2.Template, blocks: tuple[str, ...], variables: dict[str, Any]
) -> list[str]:
    """Render ``blocks``; one over MAX_TEXT characters stops as soon as it goes over."""
    context = template.new_context(variables)
    rendered = []
    for block in blocks:
        parts: list[str] = []
        size = 0
        for chunk in template.blocks[block](context):
            size += len(chunk)
            if size > MAX_TEXT:
                raise RenderLimit(
                    f"produces too much: the {block!r} block is over {MAX_TEXT:,} characters"
                )
            parts.append(chunk)
        rendered.append("".join(parts))
    return rendered


def render_template(
    template: LanguageTemplate, variables: dict[str, Any], recipient_label: str = ""
) -> Rendered:
    """Render the blocks of ``template``; any failure is a TemplateError naming the line.

    All the blocks of one message share one time budget (RENDER_SECONDS); a template
    too slow, or making too much text, is a TemplateError as well.
    """
    current = template.plain
    try:
        with RenderBudget():
            subject, text = _render_blocks(current, ("subject", "text"), variables)
            html = None
            if template.html is not None:
                current = template.html
                html = _lines(_render_blocks(current, ("html",), variables)[0])
        subject = mime.clean_header_text(subject)
        text = wrap_text(_lines(text))
    except NotifyError:
        raise
    except RenderLimit as exc:
        raise TemplateError(
            str(exc),
            template=template.label,
            line=error_line(exc, current),
            recipient=recipient_label or None,
            hint="Simplify the template: fewer or shorter loops, smaller repeated texts."
            if exc.slow
            else "Simplify the template: it must make a message, not megabytes of text.",
        ) from None
    except Exception as exc:
        raise TemplateError(
            _describe(exc),
            template=template.label,
            line=error_line(exc, current),
            recipient=recipient_label or None,
            hint="Use only the variables listed by 'notify templates', and set every "
            "value the template needs in notify.toml.",
        ) from exc
    return Rendered(template.language, subject, text, html)


def _lines(text: str) -> str:
    """Line endings as "\\n", no NUL, no blank lines around, one final newline."""
    if "\r" in text or "\x00" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.strip("\n") + "\n"


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in a template: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


CACHE_SIZE = 512  # rendered texts kept for recipients who read the same values


@dataclass(frozen=True, slots=True)
class _Entry:
    rendered: Rendered
    text: mime.Body
    html: mime.Body | None


def _freeze(value: Any) -> Any:
    """A hashable, type-exact stand-in for ``value`` (raises TypeError when impossible)."""
    if isinstance(value, list):
        value = tuple(value)
    hash(value)
    return (type(value), value)


def _cache_key(template: LanguageTemplate, variables: dict[str, Any]) -> tuple[Any, ...] | None:
    """The render-cache key: every per-recipient value the template reads, or None."""
    reads = template.reads
    if not reads.cacheable:
        return None
    recipient = variables["recipient"]
    try:
        return (
            template.language,
            tuple(_freeze(variables[name]) for name in reads.names),
            tuple(_freeze(getattr(recipient, name, None)) for name in reads.recipient_fields),
        )
    except TypeError:
        return None


class Composer:
    """Composes the messages of one campaign: one template set, one incident, one sender.

    What all recipients share (settings, formatted dates, From and Reply-To headers) is
    prepared once; :meth:`compose` then renders and builds one message in a few
    tens of microseconds, and keeps no state between recipients (stream freely).
    """

    def __init__(
        self,
        template_set: TemplateSet,
        incident: IncidentSettings,
        sender: SenderSettings,
        default_language: str = "fr",
    ) -> None:
        self.template_set = template_set
        self.incident = incident
        sender = one_line_settings(sender)
        self.sender = sender
        self.default_language = default_language
        sender_address = _sender_address(sender.address, "address")
        self.domain = sender_address.rpartition("@")[2]
        self._sender_utf8 = not sender_address.isascii()
        headers = mime.address_header("From", sender.name, sender_address)
        if sender.reply_to.strip():
            headers += mime.address_header(
                "Reply-To", sender.name, _sender_address(sender.reply_to, "reply_to")
            )
        self._from_headers = headers
        self._cache: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._shared = {
            lang: shared_variables(incident, sender, lang) for lang in template_set.languages
        }

    def language_for(self, recipient: Recipient) -> LanguageTemplate:
        """The recipient's language if a template exists, else the default, else French."""
        wanted = recipient.language.strip().lower()[:2]
        return self.template_set.pick(wanted, self.default_language)

    def render(self, recipient: Recipient) -> Rendered:
        """Render the subject, text and HTML for one recipient."""
        return self._render(recipient).rendered

    def _render(self, recipient: Recipient) -> _Entry:
        """Render and encode, or reuse what was done for a recipient who reads the same.

        The key holds every per-recipient value the template reads (see
        :func:`~notify.compose.templates.reads_of`), so a hit gives the same bytes a
        fresh render would; templates that use ``recipient`` freely are never cached.
        """
        template = self.language_for(recipient)
        per_recipient = recipient_variables(recipient, self.sender, template.language)
        key = _cache_key(template, per_recipient)
        entry = self._cache.get(key) if key is not None else None
        if entry is not None:
            return entry
        variables = dict(self._shared[template.language])
        variables.update(per_recipient)
        rendered = render_template(template, variables, recipient.email)
        html = None if rendered.html is None else mime.encode_body(rendered.html)
        entry = _Entry(rendered, mime.encode_body(rendered.text), html)
        if key is not None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.popitem(last=False)
            self._cache[key] = entry
        return entry

    def message_id_for(self, recipient: Recipient, campaign_token: str) -> str:
        """The deterministic Message-ID of this recipient in this campaign."""
        return mime.make_message_id(campaign_token, recipient.key, self.domain)

    def compose(self, recipient: Recipient, *, message_id: str, date: datetime) -> Composed:
        """Build one message (bytes) for ``recipient``; same inputs, same bytes."""
        to = _recipient_address(recipient)
        message_id = mime.check_message_id(message_id)
        entry = self._render(recipient)
        rendered = entry.rendered
        headers = "".join(
            (
                f"Date: {mime.format_date(date)}\r\n",
                self._from_headers,
                mime.address_header("To", recipient.name, to),
                mime.unstructured_header("Subject", rendered.subject),
                f"Message-ID: {message_id}\r\n",
                "MIME-Version: 1.0\r\n",
                f"Content-Language: {rendered.language}\r\n",
            )
        )
        data = mime.assemble(headers, entry.text, entry.html, message_id)
        utf8 = self._sender_utf8 or not to.isascii()
        return Composed(
            data=data,
            to=to,
            subject=rendered.subject,
            language=rendered.language,
            message_id=message_id,
            sha256=hashlib.sha256(data).hexdigest(),
            text=rendered.text,
            html=rendered.html,
            needs_smtputf8=utf8,
            warnings=_warnings(recipient, rendered, utf8),
        )

    def compose_all(
        self, recipients: Iterable[Recipient], *, campaign_token: str, date: datetime
    ) -> Iterator[Composed]:
        """Compose one message per recipient, lazily (for previews of any size)."""
        for recipient in recipients:
            yield self.compose(
                recipient, message_id=self.message_id_for(recipient, campaign_token), date=date
            )


def _sender_address(value: str, key: str) -> str:
    if not value.strip():
        raise ConfigError(
            f"sender.{key} is not set",
            hint=f"Set {key} in the [sender] section of notify.toml.",
        )
    try:
        return clean(value).ascii_email
    except InvalidAddress as exc:
        raise ConfigError(
            f"sender.{key}: {exc}", hint=f"Fix {key} in the [sender] section of notify.toml."
        ) from None


def _recipient_address(recipient: Recipient) -> str:
    value = recipient.ascii_email or recipient.email
    try:
        return clean(value).ascii_email
    except InvalidAddress as exc:
        raise InputError(
            str(exc), hint="Fix or remove this address in the address book, then run again."
        ) from None


def _warnings(recipient: Recipient, rendered: Rendered, utf8: bool) -> list[str]:
    found: list[str] = []
    wanted = recipient.language.strip().lower()[:2]
    if wanted and wanted != rendered.language:
        found.append(f"no {wanted!r} template: written in {rendered.language!r}")
    if len(rendered.subject) > mime.LINE_LIMIT - len("Subject: "):
        found.append("the subject is long: some mail programs will cut it")
    if utf8:
        found.append("a non-ASCII address: the sending server must support SMTPUTF8")
    if recipient.secure_network:
        found.append("on a secure health-messaging network: an ordinary account may not reach it")
    return found
