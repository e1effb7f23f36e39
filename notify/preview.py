"""The dry-run outbox: one ``.eml`` per recipient, ``manifest.json`` and ``index.html``.

Nothing is sent and no connection is opened. Messages are composed and written one at
a time, so memory stays flat however many recipients there are. Everything written is
owner-only (0600 files, 0700 folders): the outbox holds personal and possibly
health-related data.

The outbox is built in a hidden folder beside ``out_dir`` and moved into place only
once complete: a preview that stops half-way (a template error at the 500th recipient)
leaves the previous outbox as it was. A folder is replaced only when it is empty or
holds nothing but what an earlier preview wrote (``.notify-outbox`` marks it)::

    DIR/index.html, style.css, manifest.json     the page to read; the same for programs
    DIR/000001-name_at_domain.eml, view/000001.html   each message, as file and as page
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from notify import previewpages as pages
from notify.addressbook.merge import ContactList
from notify.addressbook.model import Recipient
from notify.compose import Composed, Composer, lint_template
from notify.errors import InputError, TemplateError, UsageError
from notify.journal.db import make_private_folders

MARKER = ".notify-outbox"
_FIXED = frozenset({MARKER, "manifest.json", "index.html", "style.css"})
_EML_NAME = re.compile(r"\d{6,}-[A-Za-z0-9._-]*\.eml")
_VIEW_NAME = re.compile(r"\d{6,}\.html")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_esc = html.escape


@dataclass(slots=True)
class PreviewSummary:
    """What the preview wrote, for the summary the CLI prints."""

    out_dir: Path
    messages: int = 0
    with_warnings: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    template_findings: list[str] = field(default_factory=list)


# -- the target folder ---------------------------------------------------------------


def _target(out_dir: Path) -> Path:
    """``out_dir`` made absolute, its parent resolved; refuse what cannot be an outbox."""
    problem = None
    if out_dir.name in ("", ".", ".."):
        problem = "is not a folder name"
    elif out_dir.is_symlink():
        problem = "is a symbolic link"
    elif out_dir.exists() and not out_dir.is_dir():
        problem = "is a file"
    if problem:
        raise UsageError(f"--out {out_dir} {problem}", hint="Pass --out with a new folder name.")
    return out_dir.absolute().parent.resolve() / out_dir.name


def _stray(folder: Path) -> str | None:
    """The first entry of ``folder`` an earlier preview did not write, or None."""
    for child in folder.iterdir():
        name = child.name
        if child.is_symlink():
            return name
        if child.is_dir() and name == "view":
            odd = next((v.name for v in child.iterdir() if not _VIEW_NAME.fullmatch(v.name)), None)
            if odd is not None:
                return f"view/{odd}"
        elif not (name in _FIXED or _EML_NAME.fullmatch(name)) or not child.is_file():
            return name
    return None


def check_outbox_target(out_dir: Path) -> Path:
    """Return the absolute outbox path, or raise UsageError when it must not be replaced.

    Allowed: a new folder, an empty one, or an outbox written by notify that holds
    nothing else. The preview never deletes a file it did not write.
    """
    target = _target(out_dir)
    if not target.is_dir() or not any(target.iterdir()):
        return target
    if not ((target / MARKER).is_file() or (target / "manifest.json").is_file()):
        raise UsageError(
            f"{out_dir} is not empty and is not an outbox written by notify",
            hint="Pass --out with a new or empty folder.",
        )
    stray = _stray(target)
    if stray is not None:
        raise UsageError(
            f"{out_dir} holds {stray!r}, which notify did not write: the outbox was not replaced",
            hint="Move that file elsewhere, or pass --out with a new folder.",
        )
    return target


def eml_name(index: int, recipient: Recipient) -> str:
    """A safe, sortable file name for one recipient's message (never a path)."""
    readable = _UNSAFE.sub("_", recipient.ascii_email.replace("@", "_at_"))[:80]
    return f"{index:06d}-{readable}.eml"


def _new_file(path: Path) -> int:
    """Create ``path`` owner-only; never follow a link, never reuse a file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.open(path, flags, 0o600)


def _text_file(path: Path) -> IO[str]:
    return os.fdopen(_new_file(path), "w", encoding="utf-8", newline="\n")


def _write_bytes(path: Path, data: bytes) -> None:
    with os.fdopen(_new_file(path), "wb") as stream:
        stream.write(data)


def _install(staging: Path, target: Path, out_dir: Path) -> None:
    """Move the finished outbox into place, replacing an earlier one."""
    check_outbox_target(out_dir)  # again: minutes may have passed
    if not target.exists():
        staging.rename(target)
        return
    old = target.parent / f".{target.name}.notify-old-{secrets.token_hex(4)}"
    target.rename(old)
    staging.rename(target)
    shutil.rmtree(old)


class _Writer:
    """Streams the outbox: .eml and view files, manifest entries, index rows, counts."""

    def __init__(self, folder: Path, composer: Composer, summary: PreviewSummary) -> None:
        self.folder = folder
        self.summary = summary
        self.total: int | None = None
        self.sender = f"{composer.sender.name} <{composer.sender.address}>".strip()
        _write_bytes(folder / MARKER, b"Written by notify preview; safe to delete.\n")
        (folder / "view").mkdir(mode=0o700)
        self.manifest = _text_file(folder / ".manifest.part")
        self.rows = _text_file(folder / ".rows.part")

    def add(self, index: int, recipient: Recipient, composed: Composed) -> None:
        """Write one recipient's message, page, manifest entry and index row."""
        eml = eml_name(index, recipient)
        _write_bytes(self.folder / eml, composed.data)
        view = f"view/{index:06d}.html"
        with _text_file(self.folder / view) as page:
            page.write(self.page(index, recipient, composed, eml))
        record = {
            "recipient": recipient.email,
            "name": recipient.name,
            "file": eml,
            "view": view,
            "subject": composed.subject,
            "language": composed.language,
            "message_id": composed.message_id,
            "sha256": composed.sha256,
            "exposed": recipient.in_window,
            "warnings": composed.warnings,
        }
        self.manifest.write(("" if index == 1 else ",\n") + json.dumps(record, ensure_ascii=False))
        warn = "".join(f"<span class='tag'>{_esc(w)}</span> " for w in composed.warnings)
        self.rows.write(
            f"<tr><td>{index}</td><td>{pages.person(recipient)}</td>"
            f"<td>{pages.spoken(composed.language)}</td>"
            f"<td>{'yes' if recipient.in_window else ''}</td>"
            f"<td><a href='{view}'>{_esc(composed.subject)}</a></td><td>{warn}</td></tr>\n"
        )
        self.count(composed)

    def count(self, composed: Composed) -> None:
        """Add one message to the summary."""
        summary = self.summary
        summary.messages += 1
        summary.languages[composed.language] = summary.languages.get(composed.language, 0) + 1
        if composed.warnings:
            summary.with_warnings += 1
            for warning in composed.warnings:
                summary.warnings[warning] = summary.warnings.get(warning, 0) + 1

    def page(self, index: int, recipient: Recipient, composed: Composed, eml: str) -> str:
        """One message's page: who, what, and the text and HTML versions."""
        links = ["<a href='../index.html'>&larr; Back to the list</a>"]
        if index > 1:
            links.append(f"<a href='{index - 1:06d}.html'>&larr; Previous message</a>")
        if self.total is None or index < self.total:
            links.append(f"<a href='{index + 1:06d}.html'>Next message &rarr;</a>")
        parts = [
            pages.head(composed.subject, "../style.css"),
            f"<nav>{' · '.join(links)}</nav>",
            f"<p class='banner'>Preview of message {index}: it has <strong>not</strong> "
            "been sent.</p>",
            f"<h1>{_esc(composed.subject)}</h1><table class='facts'>",
            f"<tr><th>From</th><td>{_esc(self.sender)}</td></tr>",
            f"<tr><th>To</th><td>{pages.person(recipient)}</td></tr>",
            f"<tr><th>Language</th><td>{pages.spoken(composed.language)}</td></tr>",
            f"<tr><th>Message-ID</th><td><code>{_esc(composed.message_id)}</code></td></tr>",
            f"<tr><th>File</th><td><a href='../{eml}'>{eml}</a></td></tr></table>",
        ]
        if composed.warnings:
            items = "".join(f"<li>{_esc(w)}</li>" for w in composed.warnings)
            parts.append(f"<div class='warn'><strong>Please check:</strong><ul>{items}</ul></div>")
        parts.append(f"<h2>The message as plain text</h2><pre>{_esc(composed.text)}</pre>")
        if composed.html is not None:
            # Shown in a sandboxed frame: no script, no form, no navigation, no remote content.
            parts.append(
                "<h2>The message as formatted e-mail (HTML)</h2><iframe sandbox "
                f"title='HTML version' srcdoc=\"{_esc(composed.html, quote=True)}\"></iframe>"
            )
        parts.append("</body></html>\n")
        return "".join(parts)

    def close(self) -> None:
        """Close the part files."""
        self.manifest.close()
        self.rows.close()


def _copy(path: Path, target: IO[str]) -> None:
    with path.open(encoding="utf-8") as source:
        shutil.copyfileobj(source, target)
    path.unlink()


def _lint(composer: Composer) -> list[str]:
    """Template findings, one line each (a template that cannot be linted says so)."""
    found: list[str] = []
    for template in composer.template_set.templates.values():
        try:
            findings = lint_template(template.path)
        except TemplateError as exc:
            found.append(f"{template.label}: {exc.message}")
            continue
        found += [f"{template.label}: {f}" for f in findings]
    return found


# -- the outbox ----------------------------------------------------------------------


def _manifest_header(
    template: str, date: datetime, summary: PreviewSummary, contacts: ContactList, lines: list[str]
) -> dict[str, Any]:
    """The manifest's fields before the messages; the lists of people are generators."""
    skipped = (p for p in contacts.problems if p.kind in ("invalid-address", "excluded"))
    return {
        "format": 1,
        "nothing_sent": True,
        "template": template,
        "generated_at": date.isoformat(),
        "messages_count": summary.messages,
        "summary": lines,
        "languages": summary.languages,
        "template_findings": summary.template_findings,
        "secure_network": (
            {"recipient": r.email, "name": r.name, "sources": list(map(str, r.sources))}
            for r in contacts.secure
        ),
        "unreachable": (
            {"name": e.name, "phones": e.phones, "postal": e.postal, "source": str(e.origin)}
            for e in contacts.unreachable
        ),
        "skipped": ({"kind": p.kind, "source": str(p.origin), "why": p.message} for p in skipped),
    }


def _json(out: IO[str], value: Any) -> None:
    """``value`` as JSON; a generator is written item by item, as the list it yields."""
    if not isinstance(value, Iterator):
        out.write(json.dumps(value, ensure_ascii=False))
        return
    out.write("[")
    for number, item in enumerate(value):
        out.write((", " if number else "") + json.dumps(item, ensure_ascii=False))
    out.write("]")


def _finish(folder: Path, header: dict[str, Any], top_html: str, contacts: ContactList) -> None:
    with _text_file(folder / "manifest.json") as manifest:
        manifest.write("{\n")
        for key, value in header.items():
            manifest.write(f" {json.dumps(key)}: ")
            _json(manifest, value)
            manifest.write(",\n")
        manifest.write(' "messages": [\n')
        _copy(folder / ".manifest.part", manifest)
        manifest.write("\n ]\n}\n")
    with _text_file(folder / "style.css") as style:
        style.write(pages.STYLE)
    title = f"Preview of the messages (template {header['template']})"
    with _text_file(folder / "index.html") as index:
        index.write(
            f"{pages.head(title, 'style.css')}<h1>{_esc(title)}</h1><p class='banner'>This is a "
            "preview: <strong>nothing has been sent</strong>. Check the summary, the people "
            "who will not get this e-mail, and open a few messages before sending.</p>"
            f"<h2>In short</h2>{top_html}"
        )
        pages.write_others(index, contacts)
        index.write(
            "<h2>The messages, one per person</h2><p>Click a subject to read the message. "
            "The people most exposed come first.</p><table><thead><tr><th>#</th>"
            "<th>Person</th><th>Language</th><th>Received mail from the hacked address "
            "during the attack</th><th>Subject</th><th>To check</th></tr></thead><tbody>\n"
        )
        _copy(folder / ".rows.part", index)
        index.write("</tbody></table></body></html>\n")


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
    """Compose every message and write the outbox; returns the counts.

    Raises UsageError when ``out_dir`` may not be replaced, TemplateError when a
    message cannot be rendered (the previous outbox is then left untouched), and
    InputError when the outbox cannot be written (disk full, no permission).
    """
    target = check_outbox_target(out_dir)
    summary = PreviewSummary(out_dir, template_findings=_lint(composer))
    try:
        make_private_folders(target.parent)  # missing parents: owner-only too
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.notify-", dir=target.parent))
    except OSError as exc:
        raise _unwritable(out_dir, exc) from exc
    try:
        writer = _Writer(staging, composer, summary)
        _write_all(writer, composer, recipients, campaign_token, date, progress)
        header = _manifest_header(template, date, summary, contacts, summary_lines)
        top = pages.summary_html(summary, contacts, summary_lines) + pages.checks_html(summary)
        _finish(staging, header, top, contacts)
        _install(staging, target, out_dir)
    except OSError as exc:
        raise _unwritable(out_dir, exc) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _write_all(
    writer: _Writer,
    composer: Composer,
    recipients: Iterable[Recipient],
    campaign_token: str,
    date: datetime,
    progress: Callable[[int], None] | None,
) -> None:
    """Compose and write one message at a time (nothing kept between recipients)."""
    writer.total = len(recipients) if isinstance(recipients, Sized) else None
    try:
        for index, recipient in enumerate(recipients, start=1):
            message_id = composer.message_id_for(recipient, campaign_token)
            writer.add(
                index, recipient, composer.compose(recipient, message_id=message_id, date=date)
            )
            if progress is not None:
                progress(index)
    finally:
        writer.close()


def _unwritable(out_dir: Path, exc: OSError) -> InputError:
    return InputError(
        f"the outbox cannot be written: {exc.strerror or exc}",
        path=out_dir,
        hint="Check the free disk space and that you may write there, or pass another --out.",
    )
