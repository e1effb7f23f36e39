"""The report as CSV: one row per recipient of each campaign, safe to open in a spreadsheet.

Only e-mail recipients: the people kept apart (no address, secure network only) are
not rows here. Their columns would be empty or mean something else (no attempt, no
Message-ID, no SMTP reply, an empty or secure address where scripts expect the
address written to, and states of their own: to-reach, notified-other, skipped), so
mixing them in would break the one-row-per-recipient contract that spreadsheets and
scripts rely on. They, and what was done about each, are in the Markdown, HTML and
JSON reports (``follow_up``).

Every cell goes through :func:`~notify.tabular.safe_cell`, so a name such as
``=HYPERLINK(...)`` is shown as text, never run as a formula. ``excel=True`` writes
what French Excel opens directly: UTF-8 with a byte-order mark and ``;`` separators.
"""

from __future__ import annotations

import csv
import io

from notify.report.model import RecipientRow, Report
from notify.tabular import safe_cell

#: The columns, in order (the first row of the file).
COLUMNS = (
    "address",
    "name",
    "state",
    "first_attempt",
    "last_attempt",
    "last_smtp_reply",
    "message_id",
    "bounce_reason",
    "campaign",
    "attempts",
    "note",
)

BOM = "\ufeff"


def _cells(row: RecipientRow) -> list[str]:
    values: list[object] = [
        row.address,
        row.name,
        row.state,
        "" if row.first_attempt is None else row.first_attempt.isoformat(" ", "seconds"),
        "" if row.last_attempt is None else row.last_attempt.isoformat(" ", "seconds"),
        row.smtp_reply,
        row.message_id,
        row.bounce_reason,
        row.campaign,
        row.attempts,
        row.note,
    ]
    return [safe_cell(" ".join(str(v).split()) if isinstance(v, str) else v) for v in values]


def render_csv(report: Report, *, excel: bool = False) -> str:
    """The recipients as CSV text (CRLF line ends; with a BOM and ``;`` when ``excel``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(row) for row in report.recipients)
    return (BOM if excel else "") + buffer.getvalue()
