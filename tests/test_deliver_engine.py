"""The delivery engine against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from smtpfaults import (
    FAST,
    PASSWORD,
    TOKEN,
    USER,
    RecordingRecorder,
    ServerFactory,
    account_for,
    faults,
    message,
    server_context,
)

from notify.deliver import Account, Outgoing, Policy, deliver
from notify.errors import AccountError, JournalError, QuotaPaused
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration


def _printer(secret: str) -> str:
    """A command (no shell) that prints ``secret`` and a newline."""
    return shlex.join([sys.executable, "-c", f"print({secret!r})"])


async def test_many_messages_over_four_connections_arrive_once(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """200 messages over 4 connections: each arrives once, with exactly one RCPT."""
    server = await smtp_factory()
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, connections=4)
    summary = await deliver(
        [message(i) for i in range(200)], account_for(server, ca_file), policy, recorder
    )
    assert summary.sent == 200
    assert all(len(r.rcpt_tos) == 1 for r in server.received)
    counts = Counter(r.rcpt_tos[0] for r in server.received)
    assert counts == Counter(f"patient{i}@exemple.net" for i in range(200))
    assert faults(server).connections == 4
    assert sorted(a.ref for a in recorder.attempts) == list(range(200))


async def test_one_connection_is_reused_for_every_message(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """With connections=1, ten messages go through a single SMTP session."""
    server = await smtp_factory()
    await deliver(
        [message(i) for i in range(10)], account_for(server, ca_file), FAST, RecordingRecorder()
    )
    assert faults(server).connections == 1
    assert len(server.received) == 10
    assert faults(server).quits == 1


async def test_recorder_brackets_each_transaction(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """starting() comes right before and finished() right after each message."""
    server = await smtp_factory()
    recorder = RecordingRecorder()
    await deliver([message(1), message(2)], account_for(server, ca_file), FAST, recorder)
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["starting", "finished", "starting", "finished"]
    assert recorder.calls[0][1] == (1,)
    first = recorder.attempts[0]
    assert (first.outcome, first.number, first.final, first.code) == ("sent", 1, True, 250)
    assert first.queue_id is not None
    assert first.queue_id in server.received[0].path.name


async def test_dsn_parameters_are_sent_when_offered(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A DSN server gets RET=HDRS ENVID=... on MAIL and NOTIFY=FAILURE,DELAY on RCPT."""
    server = await smtp_factory(dsn=True)
    msg = message(1, envid="notify-7+x")
    await deliver([msg], account_for(server, ca_file), FAST, RecordingRecorder())
    received = server.received[0]
    assert "RET=HDRS" in received.mail_options
    assert "ENVID=NOTIFY-7+2BX" in received.mail_options  # xtext, upper-cased by aiosmtpd
    assert "NOTIFY=FAILURE,DELAY" in received.rcpt_options


async def test_no_dsn_parameters_when_not_offered(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A server without DSN gets no DSN parameter (it would refuse them with 555)."""
    server = await smtp_factory(dsn=False)
    msg = message(1, envid="notify-7")
    await deliver([msg], account_for(server, ca_file), FAST, RecordingRecorder())
    received = server.received[0]
    options = received.mail_options + received.rcpt_options
    assert not [o for o in options if o.split("=")[0] in {"RET", "ENVID", "NOTIFY", "ORCPT"}]


async def test_smtputf8_is_used_for_an_international_address(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A non-ASCII recipient is sent with SMTPUTF8 when the server offers it."""
    server = await smtp_factory(smtputf8=True)
    recorder = RecordingRecorder()
    await deliver([message(1, "médecin@exemple.fr")], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(1) == ["sent"]
    assert server.received[0].rcpt_tos == ("médecin@exemple.fr",)
    assert "SMTPUTF8" in server.received[0].mail_options


async def test_smtputf8_needed_but_not_offered_is_a_permanent_failure(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """Without SMTPUTF8 on the server, such a message fails once, clearly, unsent."""
    server = await smtp_factory(smtputf8=False)
    recorder = RecordingRecorder()
    await deliver([message(1, "médecin@exemple.fr")], account_for(server, ca_file), FAST, recorder)
    [attempt] = recorder.for_ref(1)
    assert (attempt.outcome, attempt.final) == ("permanent", True)
    assert "SMTPUTF8" in attempt.text
    assert server.received == []


async def test_implicit_tls_delivers(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """security='tls' (implicit TLS, like port 465) works with a verified certificate."""
    server = await smtp_factory(security="tls")
    recorder = RecordingRecorder()
    await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(1) == ["sent"]
    assert server.received[0].auth_user == USER


async def test_greeting_421_reconnects_without_touching_recipients(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """421 at connection twice: the engine reconnects; no recipient gets an attempt for it."""
    server = await smtp_factory()
    faults(server).refuse_connections = 2
    recorder = RecordingRecorder()
    summary = await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert faults(server).refused == 2
    assert summary.sent == 1
    assert recorder.outcomes(1) == ["sent"]


async def test_greeting_421_every_time_is_an_account_error(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A server that always refuses stops the run with AccountError, recorder untouched."""
    server = await smtp_factory()
    faults(server).refuse_connections = 100
    recorder = RecordingRecorder()
    with pytest.raises(AccountError) as caught:
        await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert caught.value.code == 421
    assert faults(server).refused == FAST.max_attempts
    assert recorder.calls == []


async def test_rcpt_451_is_retried_until_accepted(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """451 twice on RCPT: two transient attempts, then sent; the message arrives once."""
    server = await smtp_factory()
    rcpt = "patient1@exemple.net"
    faults(server).rcpt_replies[rcpt] = ["451 4.3.0 Try again later"] * 2
    recorder = RecordingRecorder()
    await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    attempts = recorder.for_ref(1)
    assert [(a.outcome, a.number, a.final) for a in attempts] == [
        ("transient", 1, False),
        ("transient", 2, False),
        ("sent", 3, True),
    ]
    assert attempts[0].code == 451
    assert faults(server).rcpt_seen[rcpt] == 3
    assert len(server.received) == 1


async def test_rcpt_452_gives_up_after_max_attempts(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """452 every time: max_attempts transient attempts, the last one final."""
    server = await smtp_factory()
    faults(server).rcpt_replies["patient1@exemple.net"] = ["452 4.2.2 Try later"] * 9
    recorder = RecordingRecorder()
    summary = await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    attempts = recorder.for_ref(1)
    assert [a.outcome for a in attempts] == ["transient"] * FAST.max_attempts
    assert [a.final for a in attempts] == [False, False, True]
    assert summary.gave_up == 1
    assert server.received == []


async def test_a_recipient_waiting_for_retry_does_not_block_others(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """While message 1 waits for its retry, the other messages go out on the connection."""
    server = await smtp_factory()
    faults(server).rcpt_replies["patient1@exemple.net"] = ["451 4.3.0 Later"]
    policy = dataclasses.replace(FAST, retry_min=0.3, retry_max=0.3)
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(1, 6)], account_for(server, ca_file), policy, recorder)
    order = [a.ref for a in recorder.attempts if a.outcome == "sent"]
    assert order == [2, 3, 4, 5, 1]
    assert faults(server).connections == 1


async def test_rcpt_550_is_permanent_and_not_retried(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """550 on RCPT: one permanent attempt, the connection goes on with the others."""
    server = await smtp_factory()
    rcpt = "patient1@exemple.net"
    faults(server).rcpt_replies[rcpt] = ["550 5.1.1 No such user"] * 5
    recorder = RecordingRecorder()
    summary = await deliver([message(1), message(2)], account_for(server, ca_file), FAST, recorder)
    [attempt] = recorder.for_ref(1)
    assert (attempt.outcome, attempt.code, attempt.final) == ("permanent", 550, True)
    assert faults(server).rcpt_seen[rcpt] == 1
    assert recorder.outcomes(2) == ["sent"]
    assert (summary.permanent, summary.sent) == (1, 1)


async def test_554_after_data_is_permanent_and_not_retried(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """554 in reply to the content: one permanent attempt."""
    server = await smtp_factory()
    rcpt = "patient1@exemple.net"
    faults(server).data_replies[rcpt] = ["554 5.7.1 Message rejected"] * 5
    recorder = RecordingRecorder()
    await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert [(a.outcome, a.code) for a in recorder.for_ref(1)] == [("permanent", 554)]
    assert faults(server).data_seen[rcpt] == 1


async def test_connection_dropped_after_data_is_uncertain_and_not_resent(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """Dropped after the content, before the reply: uncertain, final, never resent."""
    server = await smtp_factory()
    rcpt = "patient1@exemple.net"
    faults(server).drop_after_data[rcpt] = 1
    recorder = RecordingRecorder()
    summary = await deliver([message(1), message(2)], account_for(server, ca_file), FAST, recorder)
    assert [(a.outcome, a.final) for a in recorder.for_ref(1)] == [("uncertain", True)]
    assert faults(server).data_seen[rcpt] == 1
    assert recorder.outcomes(2) == ["sent"]
    assert summary.uncertain == 1


async def test_uncertain_is_resent_when_the_policy_says_so(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """With retry_uncertain, the same bytes are sent again and the resend is recorded."""
    server = await smtp_factory()
    rcpt = "patient1@exemple.net"
    faults(server).drop_after_data[rcpt] = 1
    faults(server).store_before_drop = False
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, retry_uncertain=True)
    await deliver([message(1)], account_for(server, ca_file), policy, recorder)
    assert recorder.outcomes(1) == ["uncertain", "sent"]
    assert server.received[0].data == message(1).data


async def test_reply_slower_than_timeout_after_data_is_uncertain(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """No reply to the final dot within the timeout: uncertain."""
    server = await smtp_factory()
    faults(server).data_delay["patient1@exemple.net"] = 1.0
    recorder = RecordingRecorder()
    account = account_for(server, ca_file, timeout=0.3)
    await deliver([message(1)], account, FAST, recorder)
    assert recorder.outcomes(1) == ["uncertain"]


async def test_reply_slower_than_timeout_before_data_is_retried(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A RCPT reply slower than the timeout: transient, reconnect, then sent."""
    server = await smtp_factory()
    rcpt = "patient1@exemple.net"
    faults(server).rcpt_delay[rcpt] = 1.0
    recorder = RecordingRecorder()
    account = account_for(server, ca_file, timeout=0.3)
    await deliver([message(1)], account, FAST, recorder)
    assert recorder.outcomes(1) == ["transient", "sent"]
    assert faults(server).connections == 2
    assert len(server.received) == 1


async def test_421_during_a_transaction_reconnects_and_retries(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """421 on RCPT: the message is retried on a new connection."""
    server = await smtp_factory()
    faults(server).rcpt_replies["patient1@exemple.net"] = ["421 4.3.2 Shutting down"]
    recorder = RecordingRecorder()
    await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(1) == ["transient", "sent"]
    assert faults(server).connections == 2


async def test_bad_password_is_an_account_error_and_touches_no_recipient(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """535 at AUTH: AccountError (code 535); the recorder is never called."""
    server = await smtp_factory(credentials={USER: "another password"})
    recorder = RecordingRecorder()
    with pytest.raises(AccountError) as caught:
        await deliver([message(1), message(2)], account_for(server, ca_file), FAST, recorder)
    assert caught.value.code == 535
    assert caught.value.exit_code == 3
    assert recorder.calls == []
    assert server.received == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_untrusted_certificate_is_an_account_error(
    smtp_factory: ServerFactory, ca_file: Path, security: str
) -> None:
    """A certificate from an unknown authority fails TLS: AccountError, nothing sent."""
    rogue = server_context(trustme.CA())
    server = await smtp_factory(security=security, ssl_context=rogue)
    recorder = RecordingRecorder()
    with pytest.raises(AccountError, match=r"^TLS failed with"):
        await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert recorder.calls == []
    assert server.received == []


async def test_unreachable_server_at_first_connection_is_an_account_error(
    ca_file: Path,
) -> None:
    """Nothing listens on the port: AccountError at once, recorder untouched."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = Account(host="127.0.0.1", port=port, security="tls", ca_file=ca_file, timeout=1)
    recorder = RecordingRecorder()
    with pytest.raises(AccountError, match="cannot reach"):
        await deliver([message(1)], account, FAST, recorder)
    assert recorder.calls == []


async def test_missing_starttls_is_refused(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """security='starttls' against a server without STARTTLS: refused, no downgrade."""
    server = await smtp_factory(security="none", credentials={})
    recorder = RecordingRecorder()
    account = account_for(server, ca_file, security="starttls", username="", password=None)
    with pytest.raises(AccountError, match="STARTTLS"):
        await deliver([message(1)], account, FAST, recorder)
    assert recorder.calls == []
    assert server.received == []


async def test_daily_limit_reply_pauses_the_run(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """Gmail's 550 5.4.5 daily limit: QuotaPaused, recipient paused (not failed), run stops."""
    server = await smtp_factory()
    limit = "550 5.4.5 Daily user sending limit exceeded"
    faults(server).rcpt_replies["patient2@exemple.net"] = [limit]
    recorder = RecordingRecorder()
    messages = [message(i) for i in range(1, 6)]
    with pytest.raises(QuotaPaused) as caught:
        await deliver(messages, account_for(server, ca_file), FAST, recorder)
    resume = caught.value.resume_at
    assert resume is not None
    assert abs(resume - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    assert recorder.outcomes(2) == ["paused"]
    assert recorder.for_ref(2)[0].final is False
    assert {a.ref for a in recorder.attempts} == {1, 2}
    assert [r.rcpt_tos[0] for r in server.received] == ["patient1@exemple.net"]


async def test_microsoft_quota_after_data_pauses_the_run(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """Microsoft's SubmissionQuotaExceeded after the content pauses the run too."""
    server = await smtp_factory()
    faults(server).data_replies["patient1@exemple.net"] = [
        "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"
    ]
    recorder = RecordingRecorder()
    with pytest.raises(QuotaPaused):
        await deliver([message(1)], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(1) == ["paused"]


async def test_sender_refused_is_an_account_error(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """553 on MAIL FROM (sender not owned): AccountError; the recipient is paused."""
    server = await smtp_factory()
    faults(server).mail_replies = ["553 5.7.1 Sender address rejected: not owned by user"]
    recorder = RecordingRecorder()
    with pytest.raises(AccountError, match="sender"):
        await deliver([message(1), message(2)], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(1) == ["paused"]
    assert recorder.for_ref(2) == []


async def test_cap_stops_the_run_cleanly(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """cap=3: three messages go out, no fourth transaction starts, cap_reached is set."""
    server = await smtp_factory()
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, cap=3)
    summary = await deliver(
        [message(i) for i in range(10)], account_for(server, ca_file), policy, recorder
    )
    assert summary.cap_reached
    assert summary.sent == 3
    assert [kind for kind, _ in recorder.calls].count("starting") == 3
    assert len(server.received) == 3


async def test_cap_unit_comes_back_when_refused_before_data(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A message refused at RCPT does not spend the cap: cap=2 still sends two."""
    server = await smtp_factory()
    faults(server).rcpt_replies["patient0@exemple.net"] = ["550 5.1.1 No such user"]
    policy = dataclasses.replace(FAST, cap=2)
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(4)], account_for(server, ca_file), policy, recorder
    )
    assert (summary.permanent, summary.sent, summary.cap_reached) == (1, 2, True)


async def test_per_minute_spaces_transactions(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """per_minute=1200 (one every 50 ms): five messages take at least 200 ms."""
    server = await smtp_factory()
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, per_minute=1200, connections=2)
    await deliver([message(i) for i in range(5)], account_for(server, ca_file), policy, recorder)
    starts = sorted(a.started_at for a in recorder.attempts)
    assert starts[-1] - starts[0] >= timedelta(milliseconds=195)


async def test_xoauth2_login_with_a_token_command(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """OAuth2: the token printed by oauth2_token_command logs in with XOAUTH2."""
    server = await smtp_factory(credentials={}, oauth2_tokens={USER: TOKEN})
    account = account_for(server, ca_file, password=None, oauth2_token_command=_printer(TOKEN))
    recorder = RecordingRecorder()
    await deliver([message(1)], account, FAST, recorder)
    assert recorder.outcomes(1) == ["sent"]
    assert server.received[0].auth_user == USER


async def test_xoauth2_with_a_wrong_token_is_an_account_error(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A refused OAuth2 token stops the run (535), recorder untouched."""
    server = await smtp_factory(credentials={}, oauth2_tokens={USER: TOKEN})
    account = account_for(server, ca_file, password=None, oauth2_token_command=_printer("bad"))
    recorder = RecordingRecorder()
    with pytest.raises(AccountError) as caught:
        await deliver([message(1)], account, FAST, recorder)
    assert caught.value.code == 535
    assert recorder.calls == []


async def test_password_command_is_used_to_log_in(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """password_command's output (without its newline) is the password."""
    server = await smtp_factory()
    account = account_for(server, ca_file, password=None, password_command=_printer(PASSWORD))
    recorder = RecordingRecorder()
    await deliver([message(1)], account, FAST, recorder)
    assert recorder.outcomes(1) == ["sent"]


async def test_an_async_iterator_is_accepted(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """Messages may come from an async iterator (e.g. read from the journal)."""
    server = await smtp_factory()

    async def source() -> AsyncIterator[Outgoing]:
        for i in range(3):
            yield message(i)

    summary = await deliver(source(), account_for(server, ca_file), FAST, RecordingRecorder())
    assert summary.sent == 3


async def test_a_recorder_error_stops_the_run(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """When the journal cannot record 'sending', that message is not sent; the error rises."""
    server = await smtp_factory()

    class Failing(RecordingRecorder):
        def starting(self, batch: object) -> None:
            if len(self.calls) >= 2:
                raise JournalError("disk full")
            super().starting(batch)  # type: ignore[arg-type]

    with pytest.raises(JournalError):
        await deliver([message(1), message(2)], account_for(server, ca_file), FAST, Failing())
    assert [r.rcpt_tos[0] for r in server.received] == ["patient1@exemple.net"]


async def _started(recorder: RecordingRecorder) -> None:
    while not recorder.calls:
        await asyncio.sleep(0.01)


async def test_cancel_lets_the_transaction_in_flight_finish_and_quits(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """Ctrl-C: the message in flight finishes (sent), nothing new starts, QUIT is said."""
    server = await smtp_factory()
    faults(server).data_delay["patient1@exemple.net"] = 0.3
    recorder = RecordingRecorder()
    task = asyncio.create_task(
        deliver([message(1), message(2)], account_for(server, ca_file), FAST, recorder)
    )
    await _started(recorder)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.outcomes(1) == ["sent"]
    assert recorder.for_ref(2) == []
    assert faults(server).quits == 1


async def test_cancel_past_the_grace_records_uncertain_not_failed(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """A transaction still running after the grace period is cut and recorded uncertain."""
    server = await smtp_factory()
    faults(server).data_delay["patient1@exemple.net"] = 1.5
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, cancel_grace=0.1)
    task = asyncio.create_task(
        deliver([message(1)], account_for(server, ca_file), policy, recorder)
    )
    while faults(server).data_seen["patient1@exemple.net"] == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(a.outcome, a.final) for a in recorder.for_ref(1)] == [("uncertain", True)]


def test_the_threaded_server_works_from_synchronous_code(tmp_path: Path) -> None:
    """LocalServer as a plain context manager (own thread) serves asyncio.run callers."""
    with LocalServer(tmp_path / "mail") as server:
        account = Account(host="127.0.0.1", port=server.port, security="none")
        summary = asyncio.run(deliver([message(1)], account, Policy(), RecordingRecorder()))
        assert summary.sent == 1
        assert len(server.received) == 1
