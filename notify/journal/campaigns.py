"""The incident and the campaigns: what was sent, with what, reproducibly.

A campaign is found by its template name (get-or-create). Each distinct set of
(languages, settings snapshot, template sources, variables) is a *revision*; every
attempt records the revision it was rendered with, so that a message can be
rendered again byte for byte even when the template was corrected mid-incident.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from notify import __version__
from notify.errors import JournalError
from notify.journal.chain import NewEvent, append_events
from notify.journal.codec import (
    canonical_json,
    decode_variables,
    encode_variables,
    parse_ts,
    strip_secrets,
)
from notify.journal.model import Campaign, EventKind, Revision
from notify.settings import IncidentSettings


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_incident(conn: sqlite3.Connection, incident: IncidentSettings, now: str) -> bool:
    """Store ``incident`` when it differs from the last version; True when stored."""
    data, removed = strip_secrets(incident.model_dump(mode="json"))
    text = canonical_json(data)
    last = conn.execute("SELECT data FROM incident_versions ORDER BY id DESC LIMIT 1").fetchone()
    if last is not None and last[0] == text:
        return False
    cursor = conn.execute(
        "INSERT INTO incident_versions (recorded_at, data) VALUES (?, ?)", (now, text)
    )
    event = {"version": cursor.lastrowid, "incident": data, "stripped_keys": removed}
    append_events(conn, now, [NewEvent("incident-recorded", None, None, None, None, event)])
    return True


def load_incident(conn: sqlite3.Connection) -> IncidentSettings | None:
    """The last incident recorded, or None."""
    row = conn.execute("SELECT data FROM incident_versions ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else IncidentSettings.model_validate_json(row[0])


def _snapshot_json(settings: Mapping[str, Any]) -> tuple[str, list[str]]:
    cleaned, removed = strip_secrets(dict(settings))
    # A snapshot is a record, not an input: values without a JSON form become text.
    plain = json.loads(json.dumps(cleaned, default=str))
    return canonical_json(plain), removed


def _templates_json(templates: Mapping[str, str]) -> str:
    for name, text in templates.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise JournalError(
                f"template {name!r}: the journal stores template sources as text",
                hint="Pass {file name: source text} (a bug in notify).",
            )
    return canonical_json(dict(templates))


def open_campaign(
    conn: sqlite3.Connection,
    template: str,
    *,
    languages: Sequence[str],
    settings: Mapping[str, Any],
    templates: Mapping[str, str],
    variables: Mapping[str, Any],
    now: str,
) -> int:
    """Get or create the campaign of ``template`` and make this content its revision.

    Call inside a write transaction; returns the campaign id.
    """
    if not template:
        raise JournalError("a campaign needs a template name", hint="Pass --template NAME.")
    settings_json, removed = _snapshot_json(settings)
    parts = {
        "languages": canonical_json(list(languages)),
        "settings": settings_json,
        "templates": _templates_json(templates),
        "variables": canonical_json(encode_variables(dict(variables))),
    }
    fingerprint = _sha(canonical_json(parts))
    row = conn.execute(
        "SELECT id, revision_id FROM campaigns WHERE template = ?", (template,)
    ).fetchone()
    created = row is None
    if row is None:
        cursor = conn.execute(
            "INSERT INTO campaigns (template, created_at) VALUES (?, ?)", (template, now)
        )
        row = (cursor.lastrowid, None)
    campaign_id, current = int(row[0]), row[1]
    revision_id = _get_or_add_revision(conn, campaign_id, fingerprint, parts, now)
    if revision_id != current:
        conn.execute(
            "UPDATE campaigns SET revision_id = ? WHERE id = ?", (revision_id, campaign_id)
        )
        event = {
            "template": template,
            "revision_id": revision_id,
            "fingerprint": fingerprint,
            "languages": list(languages),
            "sha256": {name: _sha(text) for name, text in parts.items()},
            "templates_sha256": {name: _sha(text) for name, text in templates.items()},
            "stripped_keys": removed,
        }
        kind: EventKind = "campaign-created" if created else "campaign-revised"
        append_events(conn, now, [NewEvent(kind, campaign_id, None, None, None, event)])
    return campaign_id


def _get_or_add_revision(
    conn: sqlite3.Connection, campaign_id: int, fingerprint: str, parts: dict[str, str], now: str
) -> int:
    found = conn.execute(
        "SELECT id FROM revisions WHERE campaign_id = ? AND fingerprint = ?",
        (campaign_id, fingerprint),
    ).fetchone()
    if found is not None:
        return int(found[0])
    cursor = conn.execute(
        "INSERT INTO revisions (campaign_id, created_at, fingerprint, languages, settings, "
        "templates, variables, notify_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            campaign_id,
            now,
            fingerprint,
            parts["languages"],
            parts["settings"],
            parts["templates"],
            parts["variables"],
            __version__,
        ),
    )
    return int(cursor.lastrowid or 0)


def load_revision(conn: sqlite3.Connection, revision_id: int) -> Revision:
    """The revision ``revision_id``; :class:`JournalError` when there is none."""
    row = conn.execute(
        "SELECT id, campaign_id, created_at, fingerprint, languages, settings, templates, "
        "variables, notify_version FROM revisions WHERE id = ?",
        (revision_id,),
    ).fetchone()
    if row is None:
        raise JournalError(f"no campaign revision #{revision_id} in this journal")
    return Revision(
        id=row[0],
        campaign_id=row[1],
        created_at=parse_ts(row[2]),
        fingerprint=row[3],
        languages=json.loads(row[4]),
        settings=json.loads(row[5]),
        templates=json.loads(row[6]),
        variables=decode_variables(json.loads(row[7])),
        notify_version=row[8],
    )


def load_campaign(conn: sqlite3.Connection, campaign_id: int) -> Campaign:
    """The campaign ``campaign_id`` with its current revision."""
    row = conn.execute(
        "SELECT id, template, created_at, revision_id FROM campaigns WHERE id = ?",
        (campaign_id,),
    ).fetchone()
    if row is None:
        raise JournalError(
            f"no campaign #{campaign_id} in this journal",
            hint="Run 'notify status' to list the campaigns of this journal.",
        )
    return Campaign(row[0], row[1], parse_ts(row[2]), load_revision(conn, row[3]))


def campaign_ids(conn: sqlite3.Connection) -> list[int]:
    """Every campaign id, oldest first."""
    return [row[0] for row in conn.execute("SELECT id FROM campaigns ORDER BY id")]


def find_campaign_id(conn: sqlite3.Connection, template: str) -> int | None:
    """The id of the campaign of ``template``, or None."""
    row = conn.execute("SELECT id FROM campaigns WHERE template = ?", (template,)).fetchone()
    return None if row is None else int(row[0])
