"""Reproduce the exact message sent to one recipient, from the journal alone.

The recipient's record names the revision it was rendered with (template sources,
settings snapshot without secrets, campaign variables), its Message-ID and its
``Date:`` header; compose it again with :class:`~notify.compose.Composer` and
compare the SHA-256 of the bytes with the one recorded before sending. The same
inputs give the same bytes, so a difference means that the revision, the recipient's
data or the recorded hash was changed after the fact (or a bug).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from notify.compose import Composer, LanguageTemplate, TemplateSet
from notify.compose.templates import compile_source, parse_file_name, reads_of
from notify.errors import NotifyError, UsageError
from notify.journal import Journal, RecipientRecord, Revision
from notify.settings import IncidentSettings, SenderSettings


@dataclass(frozen=True, slots=True)
class Reproduction:
    """A message composed again. ``data`` is ``None`` when it could not be (``problem``)."""

    record: RecipientRecord
    campaign: str
    data: bytes | None
    sha256: str
    recorded_sha256: str
    problem: str

    @property
    def matches(self) -> bool:
        """True when the bytes are exactly those recorded before sending."""
        return self.data is not None and self.sha256 == self.recorded_sha256


def template_set_from_sources(name: str, sources: Mapping[str, str]) -> TemplateSet:
    """A :class:`TemplateSet` compiled from ``{file name: source}`` (sandboxed, strict)."""
    folder = Path(f"journal:{name}")
    templates: dict[str, LanguageTemplate] = {}
    for file_name, source in sorted(sources.items()):
        path = folder / file_name
        base, language = parse_file_name(path)
        plain, html = compile_source(source, path)
        templates[language] = LanguageTemplate(
            base, language, path, source, plain, html, reads_of(source)
        )
    return TemplateSet(name, folder, templates)


def composer_for(revision: Revision, template: str) -> Composer:
    """The composer a revision describes; ``NotifyError`` when it is unusable."""
    settings = revision.settings
    try:
        incident = IncidentSettings.model_validate(settings.get("incident", {}))
        sender = SenderSettings.model_validate(settings.get("sender", {}))
    except ValidationError as exc:
        raise UsageError(
            f"the settings recorded in revision #{revision.id} are invalid: {exc}"
        ) from None
    language = str(revision.variables.get("default_language", "fr"))
    templates = template_set_from_sources(template, revision.templates)
    return Composer(templates, incident, sender, default_language=language)


def last_start(journal: Journal, record: RecipientRecord) -> dict[str, Any]:
    """What the last hash-chained ``attempt-start`` event of ``record`` says was sent.

    The event, not the (mutable) recipients row, is the reference: it holds the
    Message-ID, the ``Date:`` header, the SHA-256 and the revision id.
    """
    found: dict[str, Any] | None = None
    for event in journal.events(record.id):
        if event.kind == "attempt-start":
            found = event.data
    if found is None:
        raise UsageError(
            f"no message was sent to {record.email} (state {record.state}): nothing to show",
            hint="Run 'notify report' to see who was sent what.",
        )
    return found


def reproduce(journal: Journal, record: RecipientRecord) -> Reproduction:
    """Compose ``record``'s last message again and compare it with the recorded hash."""
    sent = last_start(journal, record)
    recorded = str(sent.get("sha256", ""))
    campaign = journal.campaign(record.campaign_id).template
    try:
        composer = composer_for(journal.revision(int(sent["revision_id"])), campaign)
        date = parsedate_to_datetime(str(sent["date"]))
        composed = composer.compose(record.recipient, message_id=str(sent["message_id"]), date=date)
    except (NotifyError, KeyError, TypeError, ValueError) as exc:
        return Reproduction(record, campaign, None, "", recorded, f"cannot be re-rendered: {exc}")
    digest = hashlib.sha256(composed.data).hexdigest()
    return Reproduction(record, campaign, composed.data, digest, recorded, "")


def find_sent(journal: Journal, address: str, campaign: str | None = None) -> RecipientRecord:
    """The record of ``address`` (in ``campaign``, a template name, when given).

    Raises :class:`UsageError` naming the address, or listing the campaigns to choose
    from when the address is in several.
    """
    campaign_id = None
    if campaign is not None:
        found = journal.find_campaign(campaign)
        if found is None:
            names = ", ".join(c.template for c in journal.campaigns()) or "none"
            raise UsageError(f"no campaign {campaign!r} in this journal (campaigns: {names})")
        campaign_id = found.id
    records = journal.find_recipient(address, campaign_id=campaign_id)
    if not records:
        raise UsageError(
            f"{address} is not a recipient in this journal",
            hint="Check the address; 'notify report --format csv' lists every recipient.",
        )
    if len(records) > 1:
        names = ", ".join(journal.campaign(r.campaign_id).template for r in records)
        raise UsageError(
            f"{address} is a recipient of several campaigns ({names})",
            hint="Pass --campaign TEMPLATE to choose one.",
        )
    return records[0]
