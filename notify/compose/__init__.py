"""Message templates, rendering and fast MIME composition.

Public API::

    load_template(name_or_path, *, search_dirs=None) -> TemplateSet
    Composer(template_set, incident, sender, default_language="fr")
        .compose(recipient, *, message_id, date) -> Composed     # one message, bytes
        .compose_all(recipients, *, campaign_token, date) -> Iterator[Composed]
        .render(recipient) -> Rendered                          # texts only, no MIME
        .message_id_for(recipient, campaign_token) -> str
    make_message_id(campaign_token, recipient_key, domain) -> str
    list_templates(search_dirs=None) -> list[TemplateInfo]
    lint_template(path, *, kind=None) -> list[Finding]
    builtin_templates_dir() -> Path

A template is a file ``NAME.LANG.j2`` with Jinja blocks ``subject``, ``text`` and
optionally ``html``; a user's file in ``./templates`` replaces the built-in of the same
name. The variables templates see are described in :mod:`notify.compose.variables`.

``Composed.data`` is the whole message with CRLF line endings; the same template,
variables, Message-ID and Date give the same bytes (the MIME boundary is derived from
the Message-ID), so the journal can reproduce any message it sent. A preview writer
streams ``compose_all`` and writes ``data`` to ``.eml`` files: nothing is kept between
recipients.
"""

from __future__ import annotations

from notify.compose.lint import Finding, lint_template
from notify.compose.mime import make_message_id
from notify.compose.render import Composed, Composer, Rendered
from notify.compose.templates import (
    LanguageTemplate,
    TemplateInfo,
    TemplateSet,
    builtin_templates_dir,
    list_templates,
    load_template,
)

__all__ = [
    "Composed",
    "Composer",
    "Finding",
    "LanguageTemplate",
    "Rendered",
    "TemplateInfo",
    "TemplateSet",
    "builtin_templates_dir",
    "lint_template",
    "list_templates",
    "load_template",
    "make_message_id",
]
