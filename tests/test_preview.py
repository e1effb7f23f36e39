"""The dry-run outbox writer (notify.preview), on the example books and hostile input."""

from __future__ import annotations

import email.policy
import json
import socket
import stat
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from notify.addressbook.merge import ContactList, MergeOptions
from notify.addressbook.model import Recipient
from notify.addressbook.sources import Import, SourceOptions, load_contacts
from notify.compose import Composer, load_template
from notify.compose.samples import PARIS, sample_incident, sample_sender
from notify.errors import TemplateError, UsageError
from notify.preview import MARKER, PreviewSummary, eml_name, write_preview
from notify.settings import DEFAULT_SECURE_DOMAINS

EXAMPLES = Path(__file__).resolve().parent.parent / "contacts"
OWNER = "dr.martin@cabinet-martin.example.org"
WINDOW = (
    datetime.fromisoformat("2026-11-26T08:00:00+01:00"),
    datetime.fromisoformat("2026-11-27T18:00:00+01:00"),
)
DATE = datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: a preview sends nothing."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        pytest.fail(f"the preview opened a connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def example_import() -> Import:
    """The three example books, read as `notify preview` reads them."""
    sources = [EXAMPLES / n for n in ("correspondants.vcf", "outlook-fr.csv", "envoyes.mbox")]
    options = SourceOptions(owner=OWNER, window=WINDOW)
    merging = MergeOptions(owner_addresses=(OWNER,), secure_domains=DEFAULT_SECURE_DOMAINS)
    return load_contacts(sources, options, merging)


def preview(out: Path, recipients: list[Recipient], contacts: ContactList) -> PreviewSummary:
    """Write the outbox of ``recipients`` with the built-in colleague warning."""
    composer = Composer(load_template("colleague-warning"), sample_incident(), sample_sender())
    return write_preview(
        out,
        composer,
        recipients,
        contacts,
        template="colleague-warning",
        campaign_token="test",
        date=DATE,
        summary_lines=["9 messages at 30 a minute: about 1 minute"],
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    """The outbox of the example books."""
    result = example_import()
    preview(tmp_path / "outbox", result.contacts.recipients, result.contacts)
    return tmp_path / "outbox"


def manifest(out: Path) -> dict[str, Any]:
    """The parsed manifest.json of an outbox."""
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return data


def messages(out: Path) -> Iterator[tuple[Path, EmailMessage]]:
    """Every .eml of the outbox, parsed with the modern email policy."""
    parser = BytesParser(policy=email.policy.default)
    for path in sorted(out.glob("*.eml")):
        with path.open("rb") as stream:
            message = parser.parse(stream)
        assert isinstance(message, EmailMessage)
        yield path, message


def test_every_eml_has_one_recipient_alone_in_to(outbox: Path) -> None:
    """Each .eml is addressed to exactly one person, with no Cc and no Bcc header."""
    parsed = list(messages(outbox))
    assert len(parsed) == 9
    for path, message in parsed:
        assert len(message["To"].addresses) == 1, path.name
        assert message["Cc"] is None
        assert message["Bcc"] is None


def test_manifest_matches_every_eml(outbox: Path) -> None:
    """The manifest's Message-ID, subject and recipient equal the .eml's, file by file."""
    entries = {m["file"]: m for m in manifest(outbox)["messages"]}
    for path, message in messages(outbox):
        entry = entries.pop(path.name)
        assert entry["message_id"] == message["Message-ID"]
        assert entry["subject"] == message["Subject"]
        assert entry["recipient"] == message["To"].addresses[0].addr_spec
    assert entries == {}


def test_manifest_lists_every_recipient_exactly_once(outbox: Path) -> None:
    """Each recipient of the import appears once in the manifest, in a known language."""
    listed = [m["recipient"] for m in manifest(outbox)["messages"]]
    expected = [r.email for r in example_import().contacts.recipients]
    assert sorted(listed) == sorted(expected)
    assert len(set(listed)) == len(listed)
    languages = {m["recipient"]: m["language"] for m in manifest(outbox)["messages"]}
    assert languages["helen.smith@riverside-physio.example.com"] == "en"
    assert languages["sophie.durand@cardio-durand.example.org"] == "fr"


def test_manifest_lists_the_people_not_written_to(outbox: Path) -> None:
    """The secure-network person, the two without address and the skipped are recorded."""
    data = manifest(outbox)
    assert [p["recipient"] for p in data["secure_network"]] == ["jean.leroy@medecin.mssante.fr"]
    assert sorted(p["name"] for p in data["unreachable"]) == ["Bernard Petit", "Louis Bonnet"]
    assert {p["kind"] for p in data["skipped"]} == {"invalid-address", "excluded"}
    assert data["nothing_sent"] is True


def test_files_are_owner_only(outbox: Path) -> None:
    """Every file is 0600 and every folder 0700: the outbox holds personal data."""
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    for path in outbox.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_index_lists_people_and_warnings_in_plain_words(outbox: Path) -> None:
    """index.html says nothing was sent, counts, and names the people reached otherwise."""
    page = (outbox / "index.html").read_text(encoding="utf-8")
    assert "nothing has been sent" in page
    assert "On secure health messaging (MSSanté, Apicrypt): 1" in page
    assert "No e-mail address: 2" in page
    assert "Bernard Petit" in page
    assert "9 messages at 30 a minute: about 1 minute" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page


def test_each_message_has_a_page_with_text_and_html(outbox: Path) -> None:
    """view/000001.html shows the text and, sandboxed, the HTML of the first message."""
    page = (outbox / "view" / "000001.html").read_text(encoding="utf-8")
    assert "The message as plain text" in page
    assert "<iframe sandbox" in page
    assert "default-src 'none'" in page


def test_rerun_replaces_the_outbox(outbox: Path) -> None:
    """A second preview over an outbox replaces it: old messages do not linger."""
    result = example_import()
    first = result.contacts.recipients[:2]
    preview(outbox, first, result.contacts)
    assert len(list(outbox.glob("*.eml"))) == 2
    assert len(list((outbox / "view").iterdir())) == 2
    assert len(manifest(outbox)["messages"]) == 2
    assert not list(outbox.parent.glob(".outbox.notify-*"))


def test_a_folder_that_is_not_an_outbox_is_refused(tmp_path: Path) -> None:
    """A non-empty folder without the outbox mark is left alone."""
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    result = example_import()
    with pytest.raises(UsageError, match="not an outbox"):
        preview(tmp_path, result.contacts.recipients, result.contacts)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_an_outbox_holding_a_foreign_file_is_not_replaced(outbox: Path) -> None:
    """A file the user put in an old outbox stops the replacement; nothing is deleted."""
    (outbox / "my-notes.txt").write_text("mine", encoding="utf-8")
    result = example_import()
    with pytest.raises(UsageError, match=r"my-notes\.txt"):
        preview(outbox, result.contacts.recipients, result.contacts)
    assert (outbox / "my-notes.txt").exists()
    assert len(list(outbox.glob("*.eml"))) == 9


@pytest.mark.parametrize("name", [".", "..", "x/.."], ids=["dot", "dotdot", "up"])
def test_out_must_name_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """--out ".", ".." or "x/.." is refused: the preview never writes to such a place."""
    monkeypatch.chdir(tmp_path)
    result = example_import()
    with pytest.raises(UsageError, match="not a folder name"):
        preview(Path(name), result.contacts.recipients, result.contacts)


def test_out_may_not_be_a_symbolic_link(tmp_path: Path) -> None:
    """A symbolic link as --out is refused, even to an empty folder."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = example_import()
    with pytest.raises(UsageError, match="symbolic link"):
        preview(tmp_path / "link", result.contacts.recipients, result.contacts)
    assert list((tmp_path / "real").iterdir()) == []


HOSTILE = [
    "../../etc/passwd@evil.example",
    "..\\..\\windows@evil.example",
    "/abs/path@evil.example",
    "a\x00b/../c@evil.example",
    "x" * 300 + "@evil.example",
    "élodie.🙂@exemple.fr",
]


def hostile(email_address: str) -> Recipient:
    """A recipient whose address and name were crafted to escape the folder."""
    return Recipient(
        email=email_address,
        ascii_email=email_address,
        key=email_address,
        name="<script>alert(1)</script> ../../",
    )


@pytest.mark.parametrize("address", HOSTILE, ids=range(len(HOSTILE)))
def test_file_names_never_escape_the_outbox(address: str) -> None:
    """A hostile address gives a plain file name: no separator, no "..", bounded."""
    name = eml_name(1, hostile(address))
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert name.startswith("000001-")
    assert name.endswith(".eml")
    assert len(name) <= 100


def test_hostile_names_are_escaped_in_the_pages(tmp_path: Path) -> None:
    """A name holding HTML is shown as text in index.html and the message page."""
    recipient = Recipient(
        email="victim@example.org",
        ascii_email="victim@example.org",
        key="victim@example.org",
        name="<script>alert(1)</script>",
    )
    preview(tmp_path / "out", [recipient], ContactList(recipients=[recipient]))
    for page in (tmp_path / "out" / "index.html", tmp_path / "out" / "view" / "000001.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script>" not in text
        assert "&lt;script&gt;" in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        MARKER,
        "000001-victim_at_example.org.eml",
        "index.html",
        "manifest.json",
        "style.css",
        "view",
    ]


def test_a_template_error_leaves_the_previous_outbox(outbox: Path, tmp_path: Path) -> None:
    """A render failure mid-way raises TemplateError; the old outbox is kept intact."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "bad.fr.j2").write_text(
        "{% block subject %}Hello{% endblock %}{% block text %}{{ sender.nonexistent }}"
        "{% endblock %}",
        encoding="utf-8",
    )
    composer = Composer(
        load_template("bad", search_dirs=[folder]), sample_incident(), sample_sender()
    )
    result = example_import()
    with pytest.raises(TemplateError, match=r"bad\.fr\.j2, line 1; recipient "):
        write_preview(
            outbox,
            composer,
            result.contacts.recipients,
            result.contacts,
            template="bad",
            campaign_token="test",
            date=DATE,
            summary_lines=[],
        )
    assert len(list(outbox.glob("*.eml"))) == 9
    assert not list(tmp_path.glob(".outbox.notify-*"))
