"""`notify send --template NAME` without address books: resume the campaign recorded.

The CLI runs in this process against a real SMTP server on 127.0.0.1
(:class:`notify.localserver.LocalServer`), as in test_cli_send.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sendhelpers import (
    TEMPLATE,
    InProcess,
    address,
    assert_alone,
    delivered,
    journal_states,
    send_args,
    write_config,
    write_csv,
)

from notify.journal import Journal
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration
RESUME = ("send", "--template", TEMPLATE, "--yes")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """notify's CLI run in this process."""
    return InProcess(monkeypatch, capsys)


def test_resume_without_sources_sends_what_is_left(tmp_path: Path, cli: InProcess) -> None:
    """Run 1 sends 2 of 5 (--limit); `send --template T` alone sends the other 3,
    each to one recipient alone, says it resumes, and a third run sends nothing."""
    book = write_csv(tmp_path / "contacts.csv", range(5))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        first = cli(tmp_path, *send_args(book, more=["--limit", "2"]))
        assert first.code == 0, first.text
        book.unlink()  # not read again
        second = cli(tmp_path, *RESUME)
        third = cli(tmp_path, *RESUME)
        items = delivered(server.maildir)
    assert second.code == 0, second.text
    assert second.out.startswith(
        f"Resuming campaign '{TEMPLATE}' as recorded in the journal: every recipient still "
        "due from the last address books given is sent (they are not read again).\n"
        "3 messages to send, one per recipient"
    )
    assert third.code == 0, third.text
    assert "0 messages to send: every recipient was already handled." in third.out
    assert Counter(assert_alone(i) for i in items) == Counter(address(n) for n in range(5))
    assert set(journal_states(tmp_path / "incident.db").values()) == {"sent"}
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        assert journal.verify() is None


def test_resume_without_sources_keeps_to_the_last_address_books(
    tmp_path: Path, cli: InProcess
) -> None:
    """A contact the last address books excluded stays pending on a resume without
    them too: a resume sends the people the last run given address books would have."""
    book = write_csv(tmp_path / "contacts.csv", range(4))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        first = cli(tmp_path, *send_args(book, more=["--limit", "1"]))
        second = cli(tmp_path, *send_args(book, more=["--exclude", address(3), "--limit", "1"]))
        after_second = sorted(a for r in server.received for a in r.rcpt_tos)
        third = cli(tmp_path, *RESUME)
        after_third = sorted(a for r in server.received for a in r.rcpt_tos)
    assert (first.code, second.code, third.code) == (0, 0, 0), third.text
    assert "1 recipient of earlier runs not in these sources" in second.out
    assert after_second == [address(0), address(1)]
    assert "1 recipient of earlier runs not in the last address books given" in third.out
    assert "1 messages to send" in third.out
    assert after_third == [address(0), address(1), address(2)]
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        assert journal.find_recipient(address(3))[0].state == "pending"


def test_resume_with_the_sources_again_is_unchanged(tmp_path: Path, cli: InProcess) -> None:
    """Giving the same address books again still resumes (no "Resuming" line)."""
    book = write_csv(tmp_path / "contacts.csv", range(4))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        assert cli(tmp_path, *send_args(book, more=["--limit", "3"])).code == 0
        again = cli(tmp_path, *send_args(book))
        sent_to = [a for r in server.received for a in r.rcpt_tos]
    assert again.code == 0, again.text
    assert again.out.startswith("1 messages to send, one per recipient")
    assert sorted(sent_to) == [address(n) for n in range(4)]


def test_resume_without_a_journal_is_a_usage_error(tmp_path: Path, cli: InProcess) -> None:
    """No journal yet: exit 2, saying to give the address books; no journal created."""
    write_config(tmp_path, 9)
    run = cli(tmp_path, *RESUME)
    assert run.code == 2, run.text
    assert run.err.splitlines() == [
        f"error: no campaign of template '{TEMPLATE}' in journal incident.db to resume",
        "Give the address books (notify send --template NAME SOURCE...) to start it.",
    ]
    assert list(tmp_path.glob("incident.db*")) == []


def test_resume_of_a_campaign_never_started_is_a_usage_error(
    tmp_path: Path, cli: InProcess
) -> None:
    """The journal holds another template's campaign only: exit 2, nothing sent."""
    book = write_csv(tmp_path / "contacts.csv", range(2))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        assert cli(tmp_path, *send_args(book)).code == 0
        run = cli(tmp_path, "send", "--template", "patient-breach", "--yes")
        assert len(server.received) == 2
    assert run.code == 2, run.text
    assert run.err.startswith(
        "error: no campaign of template 'patient-breach' in journal incident.db to resume\n"
    )
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        assert [c.template for c in journal.campaigns()] == [TEMPLATE]


@pytest.mark.parametrize(
    ("more", "named"),
    [
        (["--exclude", "x@exemple.net"], "--exclude needs"),
        (["--min-count", "2", "--window"], "--min-count, --window need"),
        (["--test"], "--test needs"),
    ],
    ids=["exclude", "sent-folder", "test"],
)
def test_import_options_without_sources_are_a_usage_error(
    tmp_path: Path, cli: InProcess, more: list[str], named: str
) -> None:
    """Options that shape an import (or a sample) are refused without address books,
    never silently ignored: exit 2 before anything is opened."""
    write_config(tmp_path, 9)
    run = cli(tmp_path, *RESUME, *more)
    assert run.code == 2, run.text
    assert run.err.startswith(f"error: {named} the address books (SOURCE...), and none is given")
    assert list(tmp_path.glob("incident.db*")) == []
