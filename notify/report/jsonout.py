"""The report as JSON: everything, in the shape ``docs/report.schema.json`` documents.

Datetimes are ISO 8601 with their offset (the report's zone); missing values are
``null``. ``schema`` names the version of the shape (:data:`SCHEMA_ID`): version 2
added ``campaigns[].without_email_counts`` and, on each ``follow_up`` person, ``id``
(``U3``), ``state``, ``note``, ``marked_by`` and ``marked_at``.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from notify.report.model import Report

#: Changes whenever the shape changes in a way a reader would notice.
SCHEMA_ID = "notify-report/2"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data."""
    data: dict[str, Any] = {"schema": SCHEMA_ID}
    for item in dataclasses.fields(report):
        value = getattr(report, item.name)
        if isinstance(value, list):
            data[item.name] = [_plain(dataclasses.asdict(v)) for v in value]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            data[item.name] = _plain(dataclasses.asdict(value))
        else:
            data[item.name] = _plain(value)
    for row, source in zip(data["recipients"], report.recipients, strict=True):
        row["smtp_reply"] = source.smtp_reply
    return data


def render_json(report: Report) -> str:
    """The report as indented JSON text (UTF-8, non-ASCII kept)."""
    return json.dumps(report_dict(report), ensure_ascii=False, indent=2) + "\n"
