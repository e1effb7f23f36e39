"""The HTML pages of the dry-run outbox: head and style, summary cards, checks, and
the people who get no message (streamed: there may be very many).

Every value is escaped here; the cells handed to :func:`table` are HTML already.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from notify.addressbook.merge import ContactList
from notify.addressbook.model import Recipient

if TYPE_CHECKING:
    from notify.preview import PreviewSummary

_LANGUAGES = {"fr": "French", "en": "English"}
_esc = html.escape

_CSP = (
    "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
    "style-src 'self' 'unsafe-inline'; img-src data:; frame-src 'self'\">"
)


def head(title: str, css: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{_CSP}"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><link rel='stylesheet' href='{css}'></head><body>"
    )


def spoken(code: str) -> str:
    return _esc(_LANGUAGES.get(code, code))


def person(recipient: Recipient) -> str:
    name = _esc(recipient.name) if recipient.name else "<span class='muted'>(no name)</span>"
    return f"{name}<br><span class='addr'>{_esc(recipient.email)}</span>"


STYLE = """\
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:72rem;margin:1.5rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.45;font-size:16px}h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #2a6ebb;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th{background:#f3f3f3}
th,td{border-bottom:1px solid #ddd;padding:.4rem .5rem;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:1rem;font-size:.95rem}
iframe{width:100%;height:36rem;border:1px solid #ddd;background:#fff}.facts th{width:9rem}
.banner{background:#e8f5e9;border-left:6px solid #2e7d32;padding:.6rem 1rem;font-size:1.05rem}
.warn{background:#fff4d6;border-left:6px solid #e0a000;padding:.5rem 1rem;margin:.5rem 0}
.bad{background:#fdecea;border-left:6px solid #c62828;padding:.5rem 1rem;margin:.5rem 0}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}.muted{color:#777}
.card{flex:1 1 13rem;border:1px solid #ccd;border-radius:6px;padding:.6rem .8rem;background:#f7f9fc}
.card b{display:block;font-size:1.9rem;line-height:1.1}.card.alert{background:#fff4d6}
.addr{font-family:ui-monospace,monospace;font-size:.9rem;color:#333}nav{margin:.5rem 0}
.tag{display:inline-block;font-size:.85rem;background:#fff4d6;border-radius:3px;padding:0 .35rem}
"""


def table(out: IO[str], head: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """Write a table, a row at a time; the cells are HTML already escaped."""
    out.write("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for row in rows:
        out.write("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.write("</table>")


def summary_html(summary: PreviewSummary, contacts: ContactList, lines: list[str]) -> str:
    cards = [  # (count, what, needs action when not zero)
        (summary.messages, "messages to send, one per person", False),
        (len(contacts.secure), "on secure health messaging: write from your secure client", True),
        (len(contacts.unreachable), "without an e-mail address: call or write to them", True),
        (
            contacts.count("invalid-address") + contacts.excluded,
            "skipped: invalid or excluded",
            False,
        ),
        (contacts.duplicates, "duplicates merged", False),
        (summary.with_warnings, "messages to check", True),
    ]
    html_cards = "".join(
        f"<div class='card{' alert' if count and act else ''}'><b>{count}</b>{text}</div>"
        for count, text, act in cards
    )
    items = [
        f"<li class='warn'><strong>Warning:</strong> {_esc(line[9:])}</li>"
        if line.startswith("warning: ")
        else f"<li>{_esc(line)}</li>"
        for line in lines
    ]
    if summary.languages:
        languages = (f"{n} in {spoken(c)}" for c, n in sorted(summary.languages.items()))
        items.append(f"<li>Languages: {', '.join(languages)}</li>")
    return f"<div class='cards'>{html_cards}</div><ul class='facts'>{''.join(items)}</ul>"


def checks_html(summary: PreviewSummary) -> str:
    parts = ["<h2>Things to check</h2>"]
    if not summary.warnings and not summary.template_findings:
        parts.append("<p>Nothing special: no message and no template needs attention.</p>")
    if summary.template_findings:
        items = "".join(f"<li>{_esc(f)}</li>" for f in summary.template_findings)
        parts.append(f"<div class='bad'><strong>The template:</strong><ul>{items}</ul></div>")
    if summary.warnings:
        items = "".join(
            f"<li>{_esc(text)}: <strong>{count}</strong> message{'s' if count > 1 else ''}</li>"
            for text, count in sorted(summary.warnings.items())
        )
        parts.append(f"<div class='warn'>Some messages need a look:<ul>{items}</ul></div>")
    return "".join(parts)


_PROBLEM_TITLES = {
    "invalid-address": "Not valid e-mail addresses (skipped)",
    "excluded": "Excluded on purpose",
    "duplicate": "Duplicates merged (the same person found more than once)",
}


def write_others(out: IO[str], contacts: ContactList) -> None:
    """The people who get no message, streamed: there may be very many."""
    out.write("<h2>People who will not get this e-mail</h2>")
    kinds = [k for k in _PROBLEM_TITLES if contacts.count(k)]
    sections = bool(contacts.secure) + bool(contacts.unreachable) + len(kinds)
    if sections == 0 or (sections == 1 and contacts.duplicates):
        out.write("<p>None: everyone found in the address books gets a message.</p>")
    if contacts.secure:
        out.write(
            f"<h3>On secure health messaging (MSSanté, Apicrypt): {len(contacts.secure)}</h3>"
            "<p>An ordinary mail account usually cannot reach these addresses: write to them "
            "from your secure messaging software.</p>"
        )
        rows = ((person(r), _esc(", ".join(map(str, r.sources)))) for r in contacts.secure)
        table(out, ("Person", "Found in"), rows)
    if contacts.unreachable:
        out.write(
            f"<h3>No e-mail address: {len(contacts.unreachable)}</h3><p>Reach these people "
            "by phone or by post.</p>"
        )
        people = (
            (
                _esc(e.name),
                _esc("; ".join(e.phones)),
                _esc("; ".join(e.postal)),
                _esc(str(e.origin)),
            )
            for e in contacts.unreachable
        )
        table(out, ("Person", "Phone", "Postal address", "Found in"), people)
    for kind in kinds:
        title, count = _PROBLEM_TITLES[kind], contacts.count(kind)
        found = ((_esc(str(p.origin)), _esc(p.message)) for p in contacts.problems_of(kind))
        if kind == "duplicate":  # information only: folded away
            out.write(f"<details><summary>{title}: {count}</summary>")
            table(out, ("Found in", "What"), found)
            out.write("</details>")
        else:
            out.write(f"<h3>{title}: {count}</h3>")
            table(out, ("Found in", "What"), found)
