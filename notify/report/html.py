"""The report as one self-contained, printable HTML page.

No script, no external resource (a Content-Security-Policy forbids both), styles
inline; every value is escaped with :func:`html.escape`, so a hostile name from an
address book shows as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from notify.report import wording as w
from notify.report.model import Report

_STYLE = """
body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 1.45;
       color: #1a1a1a; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 24px; margin-bottom: 0.2em; }
h2 { font-size: 19px; border-bottom: 2px solid #2b5f8a; padding-bottom: 3px; margin-top: 2em; }
h3 { font-size: 16px; }
.meta { color: #555; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; }
th, td { border: 1px solid #c8c8c8; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eef3f7; }
dl.register { display: grid; grid-template-columns: 19em 1fr; gap: 4px 12px; }
dl.register dt { font-weight: bold; }
dl.register dd { margin: 0; }
.warn { background: #fff4d6; border-left: 4px solid #d9a400; padding: 6px 10px; }
.bad { background: #fde2e1; border-left: 4px solid #c0392b; padding: 6px 10px; }
.ok { background: #e3f4e1; border-left: 4px solid #2e8b3a; padding: 6px 10px; }
code { font-family: Consolas, monospace; font-size: 12px; word-break: break-all; }
@media print { body { margin: 0; max-width: none; font-size: 11px; }
  h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _register(report: Report) -> str:
    pairs = w.register_fields(report.register, report.generated_at)
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in pairs)
    missing = w.missing_sentence(report.register)
    note = f'<p class="warn">{_e(missing)}</p>' if missing else ""
    if report.register.deadline_status == "overdue":
        due = w.deadline(report.register, report.generated_at)
        note += f'<p class="bad">CNIL notification: {_e(due)}</p>'
    return f'<h2>1. Register entry (GDPR art. 33(5))</h2><dl class="register">{items}</dl>{note}'


def _campaigns(report: Report) -> str:
    parts = ["<h2>2. Messages sent, per campaign</h2>"]
    if not report.campaigns:
        parts.append("<p>No campaign in this journal yet.</p>")
    for c in report.campaigns:
        rows = [(label, c.counts.get(s, 0)) for s, label in w.STATE_LABELS.items()]
        parts += [
            f"<h3>Template {_e(c.template)}</h3>",
            f"<p>Languages: {_e(', '.join(c.languages))}; revisions: {c.revisions}. "
            f"First message: {_e(w.when(c.first_message))}; last message: "
            f"{_e(w.when(c.last_message))}. Recipients: {c.recipients}; people without "
            f"e-mail: {_e(w.kept_apart(c))}.</p>",
            _table(("State", "People"), [r for r in rows if r[1]]),
        ]
    return "".join(parts)


def _follow_up(report: Report) -> str:
    people = report.follow_up
    title = f"<h2>{_e(w.follow_title(report))}</h2>"
    if not people:
        return title + '<p class="ok">Everyone was reached by e-mail or informed otherwise.</p>'
    todo = w.to_reach_sentence(report)
    title += f'<p class="warn">{_e(todo)}</p>' if todo else ""
    title += f"<p>{_e(w.follow_counts(people))}</p>"
    rows = [
        (
            p.id,
            p.name or "(no name)",
            p.address or "none",
            w.follow_reason(p),
            "; ".join(p.phones) or "none",
            "; ".join(p.postal) or "none",
            p.detail,
            w.follow_state(p),
            p.note,
            w.marked(p),
            p.campaign,
        )
        for p in people
    ]
    hint = (
        f"<p>Once a person is informed, record it: <code>{_e(w.MARK_COMMAND)}</code>. "
        f"{_e(w.MARK_HELP)}</p>"
    )
    return title + _table(w.FOLLOW_UP_HEADERS, rows) + hint


def _timeline(report: Report) -> str:
    rows = [(w.when(n.at), n.campaign, n.address, n.text) for n in report.notable]
    hours = [
        (w.when(h.start), h.begun, h.sent, h.deferred, h.failed, h.uncertain, h.paused,
         h.bounced, h.marked)
        for h in report.hours
    ]  # fmt: skip
    return (
        "<h2>4. Timeline</h2><h3>Notable events</h3>"
        + _table(("When", "Campaign", "E-mail", "What"), rows)
        + "<h3>Activity per hour</h3>"
        + _table(w.HOUR_HEADERS, hours)
    )


def _recipients(report: Report) -> str:
    rows = [
        (
            r.address,
            r.name,
            w.STATE_LABELS.get(r.state, r.state),
            w.when(r.last_attempt) if r.last_attempt else "",
            r.bounce_reason or r.smtp_reply,
            r.note,
            r.campaign,
        )
        for r in report.recipients
    ]
    headers = ("E-mail", "Name", "State", "Last attempt", "Last reply", "Note", "Campaign")
    return f"<h2>5. Recipients ({len(rows)})</h2>" + _table(headers, rows)


def _integrity(report: Report) -> str:
    i = report.integrity
    css = "ok" if i.intact else "bad"
    return (
        "<h2>6. Integrity of the record</h2>"
        f"<p>Journal digest (SHA-256 of the last event): <code>{_e(i.digest)}</code></p>"
        f'<p class="{css}">Verification: {_e(w.integrity_sentence(i))}</p>'
        "<p>To check later, <code>notify report --verify</code> recomputes the chain; the "
        "digest above must be the digest of the same event then.</p>"
    )


def render_html(report: Report) -> str:
    """The whole report as one HTML page."""
    sections = (_register, _campaigns, _follow_up, _timeline, _recipients, _integrity)
    body = "".join(section(report) for section in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Incident record</title><style>{_STYLE}</style></head><body>"
        f'<h1>Incident record</h1><p class="meta">{_e(w.heading(report))}</p>'
        f"{body}</body></html>\n"
    )
