"""The dry-run outbox: one ``.eml`` per recipient, ``manifest.json`` and ``index.html``.

Nothing is sent and no connection is opened. Messages are composed and written one at
a time, so memory stays flat however many recipients there are. Everything written is
owner-only: the outbox holds personal and possibly health-related data.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from notify.addressbook.merge import ContactList
from notify.addressbook.model import Recipient
from notify.compose import Composed, Composer
from notify.errors import UsageError

_OUTBOX_MARK = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class PreviewSummary:
    """What the preview wrote, for the summary the CLI prints."""

    out_dir: Path
    messages: int = 0
    with_warnings: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _private_file(path: Path) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n")


def _write_bytes(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def prepare_outbox(out_dir: Path) -> None:
    """Create ``out_dir`` (0700), or empty it if it is an outbox from an earlier preview.

    A folder that holds anything else is refused: the preview never deletes files it
    did not write.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file", hint="Pass --out with a folder name.")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / _OUTBOX_MARK).is_file():
            raise UsageError(
                f"{out_dir} is not empty and is not an outbox written by notify",
                hint="Pass --out with a new or empty folder.",
            )
        for child in out_dir.iterdir():
            if child.is_dir() and child.name == "view":
                shutil.rmtree(child)
            elif child.suffix in {".eml", ".json", ".html"}:
                child.unlink()
    _private_dir(out_dir)
    _private_dir(out_dir / "view")


def eml_name(index: int, recipient: Recipient) -> str:
    """A safe, sortable file name for one recipient's message."""
    readable = _UNSAFE.sub("_", recipient.ascii_email.replace("@", "_at_"))[:80]
    return f"{index:06d}-{readable}.eml"


def _view_page(recipient: Recipient, composed: Composed, eml: str) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(composed.subject)}</title><link rel='stylesheet' href='../style.css'>",
        "</head><body><p><a href='../index.html'>&larr; all messages</a></p>",
        f"<h1>{esc(composed.subject)}</h1><dl>",
        f"<dt>To</dt><dd>{esc(recipient.name)} &lt;{esc(recipient.email)}&gt;</dd>",
        f"<dt>Language</dt><dd>{esc(composed.language)}</dd>",
        f"<dt>Message-ID</dt><dd><code>{esc(composed.message_id)}</code></dd>",
        f"<dt>File</dt><dd><a href='../{esc(eml)}'>{esc(eml)}</a></dd></dl>",
    ]
    if composed.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in composed.warnings)
        parts.append(f"<div class='warn'><strong>Check:</strong><ul>{items}</ul></div>")
    parts.append(f"<h2>Text</h2><pre>{esc(composed.text)}</pre>")
    if composed.html is not None:
        # The HTML part is shown in a sandboxed frame: no script, no navigation.
        parts.append(
            "<h2>HTML</h2><iframe sandbox title='HTML version' "
            f'srcdoc="{esc(composed.html, quote=True)}"></iframe>'
        )
    parts.append("</body></html>\n")
    return "".join(parts)


_STYLE = """\
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;
padding:.35rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:1rem}
iframe{width:100%;height:32rem;border:1px solid #ddd}
.warn{background:#fff4d6;border-left:4px solid #e0a000;padding:.5rem 1rem}
.summary{background:#eef6ff;border-left:4px solid #2a6ebb;padding:.5rem 1rem}
.tag{font-size:.8rem;background:#eee;border-radius:3px;padding:0 .3rem}
"""


class _Writer:
    """Streams the outbox: .eml and view files, manifest entries, index rows."""

    def __init__(self, out_dir: Path, work: Path) -> None:
        self.out_dir = out_dir
        self.manifest = _private_file(work / "manifest.part")
        self.rows = _private_file(work / "rows.part")
        self.first = True

    def add(self, index: int, recipient: Recipient, composed: Composed) -> None:
        eml = eml_name(index, recipient)
        _write_bytes(self.out_dir / eml, composed.data)
        view = f"view/{index:06d}.html"
        with _private_file(self.out_dir / view) as page:
            page.write(_view_page(recipient, composed, eml))
        record = {
            "recipient": recipient.email,
            "name": recipient.name,
            "file": eml,
            "subject": composed.subject,
            "language": composed.language,
            "message_id": composed.message_id,
            "sha256": composed.sha256,
            "exposed": recipient.in_window,
            "warnings": composed.warnings,
        }
        self.manifest.write(("" if self.first else ",\n") + json.dumps(record, ensure_ascii=False))
        self.first = False
        esc = html.escape
        warn = "".join(f"<div class='tag'>{esc(w)}</div>" for w in composed.warnings)
        self.rows.write(
            f"<tr><td>{index}</td><td>{esc(recipient.name)}</td><td>{esc(recipient.email)}</td>"
            f"<td>{esc(composed.language)}</td><td>{'yes' if recipient.in_window else ''}</td>"
            f"<td><a href='{esc(view)}'>{esc(composed.subject)}</a></td><td>{warn}</td></tr>\n"
        )

    def close(self) -> None:
        self.manifest.close()
        self.rows.close()


def _copy(path: Path, target: IO[str]) -> None:
    with path.open(encoding="utf-8") as source:
        shutil.copyfileobj(source, target)


def _finish(
    out_dir: Path, work: Path, header: dict[str, Any], summary_html: str, other_html: str
) -> None:
    with _private_file(out_dir / "manifest.json") as manifest:
        manifest.write(
            json.dumps(header, ensure_ascii=False, indent=1)[:-2] + ',\n "messages": [\n'
        )
        _copy(work / "manifest.part", manifest)
        manifest.write("\n ]\n}\n")
    with _private_file(out_dir / "style.css") as style:
        style.write(_STYLE)
    title = html.escape(f"Preview: {header['template']}")
    with _private_file(out_dir / "index.html") as index:
        index.write(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title><link rel='stylesheet' href='style.css'></head><body>"
            f"<h1>{title}</h1>{summary_html}"
            "<h2>Messages</h2><table><thead><tr><th>#</th><th>Name</th><th>Address</th>"
            "<th>Language</th><th>Written to during the attack</th><th>Subject</th>"
            "<th>Check</th></tr></thead><tbody>\n"
        )
        _copy(work / "rows.part", index)
        index.write(f"</tbody></table>{other_html}</body></html>\n")


def _others_html(contacts: ContactList) -> str:
    esc = html.escape
    parts: list[str] = []
    if contacts.secure:
        rows = "".join(
            f"<tr><td>{esc(r.name)}</td><td>{esc(r.email)}</td></tr>" for r in contacts.secure
        )
        parts.append(
            "<h2>Not sent: secure health messaging</h2><p>Send these from your secure "
            f"messaging client.</p><table><tr><th>Name</th><th>Address</th></tr>{rows}</table>"
        )
    if contacts.unreachable:
        rows = "".join(
            f"<tr><td>{esc(e.name)}</td><td>{esc('; '.join(e.phones))}</td>"
            f"<td>{esc('; '.join(e.postal))}</td><td>{esc(str(e.origin))}</td></tr>"
            for e in contacts.unreachable
        )
        parts.append(
            "<h2>No e-mail address: reach by other means</h2><table><tr><th>Name</th>"
            f"<th>Phone</th><th>Postal address</th><th>Source</th></tr>{rows}</table>"
        )
    return "".join(parts)


def write_preview(
    out_dir: Path,
    composer: Composer,
    recipients: Iterable[Recipient],
    contacts: ContactList,
    *,
    template: str,
    campaign_token: str,
    date: datetime,
    summary_lines: list[str],
    progress: Callable[[int], None] | None = None,
) -> PreviewSummary:
    """Compose every message and write the outbox; returns the counts."""
    prepare_outbox(out_dir)
    summary = PreviewSummary(out_dir)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".work-") as tmp:
        work = Path(tmp)
        writer = _Writer(out_dir, work)
        try:
            for index, recipient in enumerate(recipients, start=1):
                message_id = composer.message_id_for(recipient, campaign_token)
                composed = composer.compose(recipient, message_id=message_id, date=date)
                writer.add(index, recipient, composed)
                _count(summary, composed)
                if progress is not None:
                    progress(index)
        finally:
            writer.close()
        header = {
            "template": template,
            "generated_at": date.isoformat(),
            "messages_count": summary.messages,
            "secure_network": [r.email for r in contacts.secure],
            "unreachable": [str(e.origin) for e in contacts.unreachable],
        }
        items = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines)
        summary_html = f"<div class='summary'><ul>{items}</ul></div>"
        _finish(out_dir, work, header, summary_html, _others_html(contacts))
    return summary


def _count(summary: PreviewSummary, composed: Composed) -> None:
    summary.messages += 1
    summary.languages[composed.language] = summary.languages.get(composed.language, 0) + 1
    if composed.warnings:
        summary.with_warnings += 1
        for warning in composed.warnings:
            summary.warnings[warning] = summary.warnings.get(warning, 0) + 1
