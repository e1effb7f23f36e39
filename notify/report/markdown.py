"""The report as Markdown: readable as plain text, and rendered by any Markdown viewer.

Every value from the journal or the settings is escaped (:func:`md`): a name such as
``<script>`` or ``a|b`` shows as written and never becomes HTML, a link or a column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from notify.report import wording as w
from notify.report.model import Report

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")


def md(value: object) -> str:
    """``value`` as inert Markdown text on one line."""
    one_line = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", one_line)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(md(c) for c in row) + " |" for row in rows)
    return [*lines, ""]


def _register(report: Report) -> list[str]:
    lines = ["## 1. Register entry (GDPR art. 33(5))", ""]
    for label, value in w.register_fields(report.register, report.generated_at):
        lines.append(f"- **{label}:** {md(value)}")
    missing = w.missing_sentence(report.register)
    return [*lines, "", *([f"> {md(missing)}", ""] if missing else [])]


def _campaigns(report: Report) -> list[str]:
    lines = ["## 2. Messages sent, per campaign", ""]
    if not report.campaigns:
        return [*lines, "No campaign in this journal yet.", ""]
    for c in report.campaigns:
        lines += [
            f"### Template {md(c.template)}",
            "",
            f"- Languages: {md(', '.join(c.languages))}; revisions: {c.revisions}",
            f"- First message: {w.when(c.first_message)}; last message: {w.when(c.last_message)}",
            f"- Recipients: {c.recipients}; people without e-mail: {md(w.kept_apart(c))}",
            "",
        ]
        rows = [(s, label, c.counts.get(s, 0)) for s, label in w.STATE_LABELS.items()]
        lines += _table(("State", "Meaning", "People"), [r for r in rows if r[2]])
    return lines


def _follow_up(report: Report) -> list[str]:
    people = report.follow_up
    lines = [f"## {md(w.follow_title(report))}", ""]
    if not people:
        return [*lines, "Everyone was reached by e-mail or informed otherwise.", ""]
    todo = w.to_reach_sentence(report)
    lines += [f"> {md(todo)}", ""] if todo else []
    lines += [md(w.follow_counts(people)), ""]
    rows = [
        (
            p.id,
            p.name or "(no name)",
            p.address or "none",
            w.follow_reason(p),
            "; ".join(p.phones) or "none",
            "; ".join(p.postal) or "none",
            p.detail,
            p.state,
            p.note,
            w.marked(p),
            p.campaign,
        )
        for p in people
    ]
    hint = f"Once a person is informed, record it: `{w.MARK_COMMAND}`. {md(w.MARK_HELP)}"
    return [*lines, *_table(w.FOLLOW_UP_HEADERS, rows), hint, ""]


def _timeline(report: Report) -> list[str]:
    lines = ["## 4. Timeline", "", "### Notable events", ""]
    for n in report.notable:
        who = f" {md(n.address)}:" if n.address else ""
        where = f" \\[{md(n.campaign)}\\]" if n.campaign else ""
        lines.append(f"- {w.when(n.at)}{where}{who} {md(n.text)}")
    lines += ["", "### Activity per hour", ""]
    rows = [
        (w.when(h.start), h.begun, h.sent, h.deferred, h.failed, h.uncertain, h.paused,
         h.bounced, h.marked)
        for h in report.hours
    ]  # fmt: skip
    return lines + _table(w.HOUR_HEADERS, rows)


def _recipients(report: Report) -> list[str]:
    lines = [f"## 5. Recipients ({len(report.recipients)})", ""]
    rows = [
        (
            r.address,
            r.name,
            r.state,
            w.when(r.last_attempt) if r.last_attempt else "",
            r.bounce_reason or r.smtp_reply,
            r.note,
            r.campaign,
        )
        for r in report.recipients
    ]
    headers = ("E-mail", "Name", "State", "Last attempt", "Last reply", "Note", "Campaign")
    return [*lines, *_table(headers, rows)]


def _integrity(report: Report) -> list[str]:
    i = report.integrity
    return [
        "## 6. Integrity of the record",
        "",
        f"- Journal digest (SHA-256 of the last event): `{md(i.digest)}`",
        f"- Verification: {md(w.integrity_sentence(i))}",
        "- To check later: `notify report --verify` recomputes the chain; the digest "
        "above must be the digest of the same event then.",
        "",
    ]


def render_markdown(report: Report) -> str:
    """The whole report as Markdown text."""
    lines = ["# Incident record", "", md(w.heading(report)), ""]
    for section in (_register, _campaigns, _follow_up, _timeline, _recipients, _integrity):
        lines += section(report)
    return "\n".join(lines)
