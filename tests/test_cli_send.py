"""`notify send` end to end: a real process, a real SMTP server on 127.0.0.1, a Maildir."""

from __future__ import annotations

import socket
import time
from collections import Counter
from email.utils import getaddresses
from pathlib import Path

import pytest
from sendhelpers import (
    SENDER,
    TEMPLATE,
    InProcess,
    address,
    assert_alone,
    delivered,
    fault_server,
    journal_states,
    notify,
    send_args,
    write_config,
    write_csv,
)
from smtpfaults import faults

from notify.journal import Journal
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_two_thousand_messages_one_recipient_each_then_reruns(tmp_path: Path) -> None:
    """2,000 recipients: 2,000 sent records, 2,000 messages each to one recipient alone;
    a rerun sends nothing; 5 contacts added to the book are the only ones sent next."""
    book = write_csv(tmp_path / "contacts.csv", range(2000))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        began = time.monotonic()
        first = notify(tmp_path, *send_args(book), timeout=300)
        took = time.monotonic() - began
        assert first.code == 0, first.text
        assert "2000 messages to send, one per recipient" in first.out
        items = delivered(server.maildir)
        assert len(items) == 2000
        assert Counter(assert_alone(i) for i in items) == Counter(address(n) for n in range(2000))
        assert all(len(r.rcpt_tos) == 1 for r in server.received)
        with Journal.open(tmp_path / "incident.db", create=False) as journal:
            (campaign,) = journal.campaigns()
            counts = journal.counts(campaign.id)
            assert counts["sent"] == 2000
            assert sum(counts.values()) == 2000
            assert journal.verify() is None

        again = notify(tmp_path, *send_args(book))
        assert again.code == 0, again.text
        assert again.out.startswith("0 messages to send")
        assert len(server.received) == 2000

        write_csv(book, range(2005))
        more = notify(tmp_path, *send_args(book))
        assert more.code == 0, more.text
        assert more.out.startswith("5 messages to send")
        news = [r.rcpt_tos[0] for r in server.received[2000:]]
        assert sorted(news) == [address(n) for n in range(2000, 2005)]
        assert len(list((server.maildir / "new").iterdir())) == 2005
    print(f"2,000 messages through the CLI in {took:.1f} s")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """notify's CLI run in this process (fast); the 2,000-message test uses a process."""
    return InProcess(monkeypatch, capsys)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_recipient_makes_the_run_exit_1(tmp_path: Path, cli: InProcess) -> None:
    """550 for one recipient: the others are sent, that one failed, exit 1."""
    book = write_csv(tmp_path / "contacts.csv", range(3))
    with fault_server(tmp_path) as server:
        faults(server).rcpt_replies[address(1)] = ["550 5.1.1 No such user"] * 5
        write_config(tmp_path, server.port)
        run = cli(tmp_path, *send_args(book))
    assert run.code == 1, run.text
    assert "│ failed │          1 │" in run.out
    assert run.err == (
        "1 recipients could not be reached (1 failed): reach them by other means and "
        "record it with 'notify mark'.\n"
    )
    states = journal_states(tmp_path / "incident.db")
    assert states == {address(0): "sent", address(1): "failed", address(2): "sent"}


def test_bad_password_exits_3_everyone_pending_and_the_password_is_nowhere(
    tmp_path: Path, cli: InProcess
) -> None:
    """535 at AUTH: exit 3 with the account named; nobody failed; the password appears
    in no output and not in the journal."""
    secret = "Wr0ng-s3cret-for-this-test"
    book = write_csv(tmp_path / "contacts.csv", range(3))
    with fault_server(tmp_path, credentials={SENDER: "the right one"}) as server:
        write_config(tmp_path, server.port, username=SENDER)
        run = cli(tmp_path, *send_args(book), env={"NOTIFY_SMTP__PASSWORD": secret})
        assert server.received == []
    assert run.code == 3, run.text
    assert "error: login refused by 127.0.0.1" in run.err
    assert "No recipient was marked as failed." in run.err
    assert secret not in run.text
    for path in tmp_path.glob("incident.db*"):
        assert secret.encode() not in path.read_bytes()
    assert set(journal_states(tmp_path / "incident.db").values()) == {"pending"}


def test_server_down_at_the_first_connection_exits_3_and_fails_nobody(
    tmp_path: Path, cli: InProcess
) -> None:
    """Nothing listens on the port: exit 3, 'cannot reach', every recipient pending."""
    book = write_csv(tmp_path / "contacts.csv", range(3))
    write_config(tmp_path, _closed_port())
    run = cli(tmp_path, *send_args(book))
    assert run.code == 3, run.text
    assert "error: cannot reach 127.0.0.1" in run.err
    assert set(journal_states(tmp_path / "incident.db").values()) == {"pending"}


def test_daily_limit_reply_exits_4_and_says_when_to_resume(tmp_path: Path, cli: InProcess) -> None:
    """550 5.4.5 daily limit from the server: exit 4, the time to resume is shown, the
    recipient is back to pending and nothing failed."""
    book = write_csv(tmp_path / "contacts.csv", range(4))
    with fault_server(tmp_path) as server:
        faults(server).rcpt_replies[address(2)] = ["550 5.4.5 Daily user sending limit exceeded"]
        write_config(tmp_path, server.port)
        run = cli(tmp_path, *send_args(book))
    assert run.code == 4, run.text
    assert run.err.startswith("paused: the sending account reached a sending limit")
    assert "Sending can resume after " in run.err
    states = journal_states(tmp_path / "incident.db")
    assert [states[address(n)] for n in range(4)] == ["sent", "sent", "pending", "pending"]


def test_per_day_limit_sends_10_of_25_exits_4_and_status_says_when(
    tmp_path: Path, cli: InProcess
) -> None:
    """per_day = 10 and 25 recipients: 10 sent, exit 4 with the resume time; `notify
    status` then prints the counts, the quota and when sending can resume."""
    book = write_csv(tmp_path / "contacts.csv", range(25))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port, per_day=10)
        run = cli(tmp_path, *send_args(book))
        assert len(server.received) == 10
    assert run.code == 4, run.text
    assert "this run sends 10 (the daily limit of 10 leaves 10 for now)" in run.out
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        (campaign,) = journal.campaigns()
        frees = journal.quota_usage().frees_at
    assert frees is not None
    resume = f"{frees.astimezone():%Y-%m-%d %H:%M}"
    assert f"Sending can resume after {resume}." in run.err
    status = cli(tmp_path, "status")
    assert status.code == 0, status.text
    assert status.out.splitlines() == [
        f"Campaign colleague-warning (started {campaign.created_at:%Y-%m-%d %H:%M})",
        "┏━━━━━━━━━┳━━━━━━━━━━━━┓",
        "┃ State   ┃ Recipients ┃",
        "┡━━━━━━━━━╇━━━━━━━━━━━━┩",
        "│ pending │         15 │",
        "│ sent    │         10 │",
        "│ total   │         25 │",
        "└─────────┴────────────┘",
        "Quota: 10 of 10 used in the last 24 hours, 0 left.",
        f"15 messages still to send: sending can resume after {resume}.",
    ]


def test_limit_sends_that_many_and_exits_0(tmp_path: Path, cli: InProcess) -> None:
    """--limit 5 on 12 recipients: 5 sent, exit 0, and the rest is announced."""
    book = write_csv(tmp_path / "contacts.csv", range(12))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        run = cli(tmp_path, *send_args(book, more=["--limit", "5"]))
        assert len(server.received) == 5
    assert run.code == 0, run.text
    assert "this run sends 5 (--limit); run the same command again for the other 7" in run.out
    assert "--limit 5 reached: 7 messages still to send." in run.out
    assert (
        sorted(journal_states(tmp_path / "incident.db").values()) == ["pending"] * 7 + ["sent"] * 5
    )


def test_without_a_terminal_and_without_yes_it_refuses_and_sends_nothing(
    tmp_path: Path, cli: InProcess
) -> None:
    """No TTY, no --yes: the plan is shown, exit 2, nothing sent; the DMARC warning
    (From on another domain than the account) is printed."""
    book = write_csv(tmp_path / "contacts.csv", range(3))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port, username="secours@autre-domaine.fr")
        run = notify(
            tmp_path,
            "send",
            "--template",
            TEMPLATE,
            str(book),
            env={"NOTIFY_SMTP__PASSWORD": "x"},
        )
        assert server.received == []
        assert server.handler.connections == 0
    assert run.code == 2, run.text
    assert run.out.splitlines()[0] == (
        "3 messages to send, one per recipient, through secours@autre-domaine.fr at "
        f"127.0.0.1:{server.port} (none)"
    )
    assert "error: nothing was sent: there is no terminal to confirm on" in run.err
    assert "warning: the From address secours.martin@exemple.org is not on the sending" in (run.err)
    assert set(journal_states(tmp_path / "incident.db").values()) == {"pending"}


def test_preview_prints_the_dmarc_warning(tmp_path: Path, cli: InProcess) -> None:
    """`notify preview` warns when the From address is not on the account's domain."""
    book = write_csv(tmp_path / "contacts.csv", range(2))
    write_config(tmp_path, _closed_port(), username="secours@autre-domaine.fr")
    run = cli(tmp_path, "preview", "--template", TEMPLATE, str(book))
    assert run.code == 0, run.text
    assert "warning: the From address secours.martin@exemple.org is not on the sending" in (run.out)


def test_send_test_sends_one_sample_to_the_sender_only(tmp_path: Path, cli: InProcess) -> None:
    """--test: the server gets exactly one message, to the sender, and no journal is
    written."""
    book = write_csv(tmp_path / "contacts.csv", range(5))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        run = cli(tmp_path, *send_args(book, more=["--test"]))
        received = server.received
    assert run.code == 0, run.text
    assert run.out.startswith(f"Sample sent to {SENDER} only")
    assert [r.rcpt_tos for r in received] == [(SENDER,)]
    (item,) = delivered(tmp_path / "received")
    assert item.envelope_to == SENDER
    assert [a for _, a in getaddresses(item.headers.get_all("To", []))] == [SENDER]
    assert not (tmp_path / "incident.db").exists()


def test_status_without_a_journal_exits_2(tmp_path: Path, cli: InProcess) -> None:
    """`notify status` before any send: a clear message, exit 2."""
    run = cli(tmp_path, "status")
    assert run.code == 2, run.text
    assert run.err.splitlines() == [
        "error: incident.db: no journal yet",
        "Run 'notify send' first, or pass --journal.",
    ]


def test_recipient_removed_from_the_sources_is_not_sent_by_a_later_run(
    tmp_path: Path, cli: InProcess
) -> None:
    """A contact added by an earlier run, then excluded, stays pending and gets nothing."""
    book = write_csv(tmp_path / "contacts.csv", range(4))
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        first = cli(tmp_path, *send_args(book, more=["--limit", "1"]))
        assert first.code == 0, first.text
        second = cli(tmp_path, *send_args(book, more=["--exclude", address(3)]))
        sent_to = sorted(a for r in server.received for a in r.rcpt_tos)
    assert second.code == 0, second.text
    assert "1 recipient of earlier runs not in these sources" in second.out
    assert sent_to == [address(0), address(1), address(2)]
    states = journal_states(tmp_path / "incident.db")
    assert states[address(3)] == "pending"
