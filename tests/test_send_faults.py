"""The send path under faults: the journal's final states and attempt counts.

notify.sending.send_campaign wires the journal, the composer and the engine; each
test runs it against the fault-injecting server of smtpfaults.py (127.0.0.1,
STARTTLS, AUTH) and reads the outcome back from the journal.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sendhelpers import address
from smtpfaults import FAST, USER, ServerFactory, account_for, faults

from notify import sending
from notify.addressbook.addresses import clean
from notify.addressbook.model import Recipient
from notify.campaign import campaign_token
from notify.compose import Composer, load_template
from notify.deliver import Account, Attempt, DeliverySummary, Policy
from notify.demo import demo_settings
from notify.errors import AccountError, QuotaPaused
from notify.journal import Journal, RecipientRecord

pytestmark = pytest.mark.integration
TEMPLATE = "colleague-warning"


def people(count: int) -> list[Recipient]:
    """``count`` fictional recipients, addresses from sendhelpers.address."""
    found = []
    for n in range(count):
        cleaned = clean(address(n))
        found.append(
            Recipient(cleaned.email, cleaned.ascii_email, cleaned.key, name=f"Jeanne Dupont {n}")
        )
    return found


async def send_once(
    journal_path: Path,
    account: Account,
    recipients: Sequence[Recipient],
    *,
    policy: Policy = FAST,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> DeliverySummary:
    """One sending run, as `notify send` does it: lock, recover, add, send."""
    settings = demo_settings(account.port)
    composer = Composer(load_template(TEMPLATE), settings.incident, settings.sender)
    token = campaign_token(settings, TEMPLATE)
    with Journal.open(journal_path) as journal, journal.sending_lock():
        journal.recover()
        campaign = sending.open_campaign(
            journal, settings, composer.template_set, template=TEMPLATE, token=token
        )
        journal.add_recipients(campaign.id, recipients)
        return await sending.send_campaign(
            journal,
            campaign,
            composer,
            account,
            policy,
            token=token,
            mail_from=USER,
            clock=lambda: datetime.now(UTC),
            on_attempt=on_attempt,
        )


def records(journal_path: Path) -> dict[str, RecipientRecord]:
    """Every recipient of the (only) campaign, by address."""
    with Journal.open(journal_path, create=False) as journal:
        (campaign,) = journal.campaigns()
        return {r.email: r for r in journal.iter_recipients(campaign.id)}


def outcomes(journal_path: Path, recipient_id: int) -> list[str]:
    """The recipient's attempt-end outcomes, in order."""
    with Journal.open(journal_path, create=False) as journal:
        return [e.data["outcome"] for e in journal.events(recipient_id) if e.kind == "attempt-end"]


async def test_451_on_rcpt_twice_then_accepted_is_sent_after_three_attempts(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """451 on RCPT the first k=2 times: sent, 3 attempts, the first two deferred."""
    server = await smtp_factory()
    faults(server).rcpt_replies[address(1)] = ["451 4.3.0 Try again later"] * 2
    db = tmp_path / "incident.db"
    summary = await send_once(db, account_for(server, ca_file), people(3))
    found = records(db)
    assert (found[address(1)].state, found[address(1)].attempts) == ("sent", 3)
    assert outcomes(db, found[address(1)].id) == ["deferred", "deferred", "sent"]
    assert [found[address(n)].attempts for n in (0, 2)] == [1, 1]
    assert summary.sent == 3
    assert [r.rcpt_tos for r in server.received].count((address(1),)) == 1


async def test_550_on_rcpt_is_failed_after_one_attempt(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """550 on RCPT: failed after 1 attempt, the code and text recorded; others sent."""
    server = await smtp_factory()
    faults(server).rcpt_replies[address(1)] = ["550 5.1.1 No such user"] * 5
    db = tmp_path / "incident.db"
    await send_once(db, account_for(server, ca_file), people(3))
    found = records(db)
    failed = found[address(1)]
    assert (failed.state, failed.attempts, failed.last_code) == ("failed", 1, 550)
    assert "No such user" in (failed.last_text or "")
    assert faults(server).rcpt_seen[address(1)] == 1
    assert [found[address(n)].state for n in (0, 2)] == ["sent", "sent"]


async def test_554_after_data_is_failed_after_one_attempt(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """554 in reply to the content: failed, 1 attempt, never sent again."""
    server = await smtp_factory()
    faults(server).data_replies[address(0)] = ["554 5.7.1 Message rejected"] * 5
    db = tmp_path / "incident.db"
    await send_once(db, account_for(server, ca_file), people(2))
    await send_once(db, account_for(server, ca_file), people(2))
    found = records(db)
    assert (found[address(0)].state, found[address(0)].attempts) == ("failed", 1)
    assert found[address(0)].last_code == 554
    assert faults(server).data_seen[address(0)] == 1


async def test_dropped_after_data_is_uncertain_then_resent_identically(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """Connection dropped after the content: uncertain; the rerun resends it with the
    same Message-ID and Date (the same bytes), and the journal records both attempts."""
    server = await smtp_factory()
    faults(server).drop_after_data[address(0)] = 1
    db = tmp_path / "incident.db"
    first = await send_once(db, account_for(server, ca_file), people(2))
    assert first.uncertain == 1
    assert records(db)[address(0)].state == "uncertain"
    await send_once(db, account_for(server, ca_file), people(2))
    record = records(db)[address(0)]
    assert (record.state, record.attempts) == ("sent", 2)
    with Journal.open(db, create=False) as journal:
        starts = [e.data for e in journal.events(record.id) if e.kind == "attempt-start"]
        ends = [e.data["outcome"] for e in journal.events(record.id) if e.kind == "attempt-end"]
    assert ends == ["uncertain", "sent"]
    assert [s["attempt"] for s in starts] == [1, 2]
    assert starts[0]["message_id"] == starts[1]["message_id"] == record.message_id
    assert starts[0]["date"] == starts[1]["date"]
    assert starts[0]["sha256"] == starts[1]["sha256"]
    assert "same Message-ID" in starts[1]["note"]
    copies = [r.data for r in server.received if r.rcpt_tos == (address(0),)]
    assert len(copies) == 2
    assert copies[0] == copies[1]
    assert len([r for r in server.received if r.rcpt_tos == (address(1),)]) == 1


async def test_bad_password_stops_the_run_and_leaves_everyone_pending(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """535 at AUTH: AccountError (exit 3); every recipient pending, none failed."""
    server = await smtp_factory()
    account = account_for(server, ca_file, password=SecretStr("not the password"))
    db = tmp_path / "incident.db"
    with pytest.raises(AccountError) as caught:
        await send_once(db, account, people(4))
    assert (caught.value.code, caught.value.exit_code) == (535, 3)
    assert "not the password" not in str(caught.value)
    assert {(r.state, r.attempts) for r in records(db).values()} == {("pending", 0)}
    assert server.received == []


async def test_server_down_at_first_connection_leaves_everyone_pending(
    ca_file: Path, tmp_path: Path
) -> None:
    """Nothing listens: AccountError (exit 3) at once; nothing failed, nothing begun."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = Account(host="127.0.0.1", port=port, security="none", timeout=1)
    db = tmp_path / "incident.db"
    with pytest.raises(AccountError, match="cannot reach") as caught:
        await send_once(db, account, people(3))
    assert caught.value.exit_code == 3
    assert {(r.state, r.attempts) for r in records(db).values()} == {("pending", 0)}


async def test_daily_limit_reply_puts_the_recipient_back_to_pending(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """550 5.4.5 daily limit on the 3rd recipient: QuotaPaused (exit 4) resuming in 24 h;
    that recipient back to pending, the ones before sent, the ones after untouched."""
    server = await smtp_factory()
    faults(server).rcpt_replies[address(2)] = ["550 5.4.5 Daily user sending limit exceeded"]
    db = tmp_path / "incident.db"
    with pytest.raises(QuotaPaused) as caught:
        await send_once(db, account_for(server, ca_file), people(5))
    assert caught.value.exit_code == 4
    resume = caught.value.resume_at
    assert resume is not None
    assert abs(resume - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    found = records(db)
    assert [found[address(n)].state for n in range(5)] == ["sent"] * 2 + ["pending"] * 3
    assert found[address(2)].attempts == 0  # paused by the account's limit: given back
    assert outcomes(db, found[address(2)].id) == ["pending"]
    assert "failed" not in {r.state for r in found.values()}


async def test_a_recipient_marked_by_hand_while_queued_is_never_sent(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """`notify mark` on a queued recipient during a run: it is not sent, the run goes on
    with everyone else (no error), and the mark stays."""
    server = await smtp_factory()
    db = tmp_path / "incident.db"
    marked: list[str] = []

    def mark_later_one(attempt: Attempt) -> None:
        if not marked:
            with Journal.open(db, create=False) as other:
                other.mark(address(5), "notified-other", "phoned on 27/11")
            marked.append(address(5))

    summary = await send_once(
        db, account_for(server, ca_file), people(8), on_attempt=mark_later_one
    )
    assert marked == [address(5)]
    found = records(db)
    assert found[address(5)].state == "notified-other"
    assert found[address(5)].attempts == 0
    assert {found[address(n)].state for n in range(8) if n != 5} == {"sent"}
    assert summary.sent == 7
    assert sorted(r.rcpt_tos[0] for r in server.received) == [
        address(n) for n in range(8) if n != 5
    ]


async def test_a_cap_is_kept_across_a_pass_stopped_by_a_manual_mark(
    smtp_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """With a cap of 4 and a recipient withdrawn mid-run, no more than 4 messages go out."""
    server = await smtp_factory()
    db = tmp_path / "incident.db"
    done: list[int] = []

    def mark_once(attempt: Attempt) -> None:
        done.append(attempt.ref)
        if len(done) == 1:
            with Journal.open(db, create=False) as other:
                other.mark(address(2), "skipped", "asked not to be written to")

    policy = dataclasses.replace(FAST, cap=4)
    summary = await send_once(
        db, account_for(server, ca_file), people(8), policy=policy, on_attempt=mark_once
    )
    assert len(server.received) <= 4
    assert summary.cap_reached
    assert address(2) not in {r.rcpt_tos[0] for r in server.received}
