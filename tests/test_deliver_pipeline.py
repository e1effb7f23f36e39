"""SMTP PIPELINING (RFC 2920) against a real local server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiosmtplib import SMTPResponseException
from pipelinefaults import (  # noqa: F401 - the fixture is found by its name
    OrderRecorder,
    delay_proxy,
    pipe,
    pipe_factory_fixture,
)
from sendhelpers import address
from smtpfaults import FAST as FAST_DEFAULT
from smtpfaults import RecordingRecorder, ServerFactory, account_for, message
from test_send_faults import people, records, send_once

from notify.deliver import Attempt, Policy, deliver
from notify.deliver.replies import parse_replies
from notify.errors import AccountError, QuotaPaused
from notify.journal import Journal
from notify.localserver import LocalServer, ServerSecurity

pytestmark = pytest.mark.integration

# These tests are written for batches of 10 (the default is smaller: see SendingSettings).
FAST = dataclasses.replace(FAST_DEFAULT, pipeline_batch=10)


def _arrived(server: LocalServer) -> Counter[str]:
    return Counter(r.rcpt_tos[0] for r in server.received)


def _batches(recorder: RecordingRecorder) -> list[tuple[int, ...]]:
    return [refs for kind, refs in recorder.calls if kind == "starting"]


async def test_messages_arrive_intact_once_each_pipelined(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """25 messages on one connection: each arrives once, intact, one RCPT; all pipelined."""
    server = await pipe_factory()
    recorder = RecordingRecorder()
    messages = [message(i) for i in range(25)]
    summary = await deliver(messages, account_for(server, ca_file), FAST, recorder)
    assert summary.sent == 25
    assert _arrived(server) == Counter(m.rcpt for m in messages)
    assert all(len(r.rcpt_tos) == 1 for r in server.received)
    assert {r.rcpt_tos[0]: r.data for r in server.received} == {m.rcpt: m.data for m in messages}
    handler = pipe(server)
    assert (handler.connections, handler.pipelined_mail, handler.rsets) == (1, 25, 0)
    # Batches of 10 follow one another without a pause: only the very last content
    # goes alone (it used to be the last of each batch: 25 - 3).
    assert handler.pipelined_next == 25 - 1
    assert [len(b) for b in _batches(recorder)] == [10, 10, 5]
    assert recorder.open_batches == 0


@pytest.mark.parametrize("security", ["tls", "none"])
async def test_pipelining_over_implicit_tls_and_plain_loopback(
    pipe_factory: ServerFactory, ca_file: Path, security: ServerSecurity
) -> None:
    """The reader that takes the replies works on a TLS transport and a plain one."""
    server = await pipe_factory(security=security)
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(4)], account_for(server, ca_file), FAST, recorder)
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(4))
    assert pipe(server).pipelined_mail == 4
    assert pipe(server).quits == 1


async def test_starting_is_recorded_before_the_server_sees_the_message(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """Every MAIL and RCPT reaches the server after the starting() of its batch."""
    server = await pipe_factory()
    recorder = OrderRecorder(pipe(server).events)
    policy = dataclasses.replace(FAST, pipeline_batch=4)
    await deliver([message(i) for i in range(10)], account_for(server, ca_file), policy, recorder)
    started: set[str] = set()
    mails = 0
    for event in pipe(server).events:
        if event[0] == "starting":
            started |= {message(ref).rcpt for ref in event[1]}
        elif event[0] == "MAIL":
            mails += 1
            assert mails <= len(started)
        else:
            assert event[1] in started
    assert mails == 10
    # The next batch is begun before the last content of the one before goes out (it
    # rides with the next batch's first commands), and that one is recorded finished
    # as soon as its reply is read: never more than two batches open at once.
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["starting", "starting", "finished", "starting", "finished", "finished"]
    assert [len(refs) for kind, refs in recorder.calls if kind == "starting"] == [4, 4, 2]


async def test_many_messages_over_four_connections_arrive_once(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """200 messages over 4 pipelining connections: each arrives once, one RCPT each."""
    server = await pipe_factory()
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, connections=4)
    messages = [message(i) for i in range(200)]
    summary = await deliver(messages, account_for(server, ca_file), policy, recorder)
    assert summary.sent == 200
    assert _arrived(server) == Counter(m.rcpt for m in messages)
    assert pipe(server).connections == 4
    assert sorted(a.ref for a in recorder.attempts) == list(range(200))


async def test_policy_can_turn_pipelining_off(pipe_factory: ServerFactory, ca_file: Path) -> None:
    """pipelining=False: one command per round trip, one message per recorder call."""
    server = await pipe_factory()
    recorder = RecordingRecorder()
    policy = dataclasses.replace(FAST, pipelining=False)
    await deliver([message(i) for i in range(5)], account_for(server, ca_file), policy, recorder)
    assert len(server.received) == 5
    assert pipe(server).pipelined_mail == 0
    assert [len(b) for b in _batches(recorder)] == [1] * 5


async def test_server_without_pipelining_gets_one_command_at_a_time(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """A server that does not advertise PIPELINING is never sent pipelined commands."""
    server = await pipe_factory(pipelining=False)
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(5)], account_for(server, ca_file), FAST, recorder)
    assert len(server.received) == 5
    assert pipe(server).pipelined_mail == 0
    assert [len(b) for b in _batches(recorder)] == [1] * 5


async def test_rcpt_550_in_a_group_fails_only_that_message(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """550 on one RCPT of a batch: that message permanent (once), the others sent; one RSET."""
    server = await pipe_factory()
    pipe(server).rcpt_replies["patient2@exemple.net"] = ["550 5.1.1 No such user"] * 5
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(5)], account_for(server, ca_file), FAST, recorder
    )
    [attempt] = recorder.for_ref(2)
    assert (attempt.outcome, attempt.code, attempt.final) == ("permanent", 550, True)
    assert (summary.sent, summary.permanent) == (4, 1)
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in (0, 1, 3, 4))
    assert (pipe(server).rsets, pipe(server).rcpt_seen["patient2@exemple.net"]) == (1, 1)
    assert len(_batches(recorder)) == 1


async def test_rcpt_451_in_a_group_is_retried_alone(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """451 on one RCPT of a batch: that message transient then sent; the others sent once."""
    server = await pipe_factory()
    pipe(server).rcpt_replies["patient2@exemple.net"] = ["451 4.3.0 Try again later"]
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(5)], account_for(server, ca_file), FAST, recorder)
    assert [(a.outcome, a.code) for a in recorder.for_ref(2)] == [("transient", 451), ("sent", 250)]
    assert all(recorder.outcomes(i) == ["sent"] for i in (0, 1, 3, 4))
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(5))
    assert pipe(server).connections == 1


async def test_data_accepted_after_a_refused_rcpt_gets_a_lone_dot(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """A server answering 354 although the RCPT was refused gets a single dot, not the
    message (RFC 2920 section 3.1); the message is permanent, the others are sent."""
    server = await pipe_factory()
    pipe(server).sloppy_rcpt["patient1@exemple.net"] = "550 5.1.1 No such user"
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(3)], account_for(server, ca_file), FAST, recorder)
    assert [(a.outcome, a.code) for a in recorder.for_ref(1)] == [("permanent", 550)]
    assert (pipe(server).lone_dots, pipe(server).rsets) == (1, 0)
    assert _arrived(server) == Counter(["patient0@exemple.net", "patient2@exemple.net"])


async def test_mail_451_is_transient_and_needs_no_rset(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """451 on MAIL: that message is retried; no transaction was open, so no RSET."""
    server = await pipe_factory()
    pipe(server).mail_replies = ["451 4.3.0 Local error"]
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(3)], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(0) == ["transient", "sent"]
    assert recorder.outcomes(1) == recorder.outcomes(2) == ["sent"]
    assert pipe(server).rsets == 0
    assert len(server.received) == 3


async def test_sender_refused_stops_the_run_and_pauses_the_batch(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """553 on MAIL: AccountError; nothing else of the batch is written, all paused."""
    server = await pipe_factory()
    pipe(server).mail_replies = ["553 5.7.1 Sender address rejected: not owned by user"]
    recorder = RecordingRecorder()
    with pytest.raises(AccountError, match="sender"):
        await deliver([message(i) for i in range(4)], account_for(server, ca_file), FAST, recorder)
    assert [recorder.outcomes(i) for i in range(4)] == [["paused"]] * 4
    assert [e for e in pipe(server).events if e[0] == "MAIL"] == [("MAIL",)]
    assert server.received == []


async def test_quota_reply_mid_batch_pauses_what_was_not_sent(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """A daily-limit reply to one RCPT: QuotaPaused; messages before it are sent, the
    rest of the batch paused and never written."""
    server = await pipe_factory()
    limit = "550 5.4.5 Daily user sending limit exceeded"
    pipe(server).rcpt_replies["patient2@exemple.net"] = [limit]
    recorder = RecordingRecorder()
    with pytest.raises(QuotaPaused):
        await deliver([message(i) for i in range(6)], account_for(server, ca_file), FAST, recorder)
    assert [recorder.outcomes(i) for i in range(6)] == [["sent"]] * 2 + [["paused"]] * 4
    assert _arrived(server) == Counter(["patient0@exemple.net", "patient1@exemple.net"])
    assert pipe(server).rcpt_seen["patient3@exemple.net"] == 0


async def test_421_mid_group_reconnects_and_retries_without_duplicates(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """421 on one RCPT (the server closes): what was accepted stays sent, that message
    and the unwritten rest are retried on a new connection; each arrives once."""
    server = await pipe_factory()
    pipe(server).rcpt_replies["patient2@exemple.net"] = ["421 4.3.2 Shutting down"]
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(6)], account_for(server, ca_file), FAST, recorder
    )
    assert [(a.outcome, a.code) for a in recorder.for_ref(2)] == [("transient", 421), ("sent", 250)]
    assert recorder.outcomes(0) == recorder.outcomes(1) == ["sent"]
    # Never written before the 421: given back (paused), then sent, same attempt number.
    assert all(recorder.outcomes(i) == ["paused", "sent"] for i in (3, 4, 5))
    assert all([a.number for a in recorder.for_ref(i)] == [1, 1] for i in (3, 4, 5))
    assert "not sent" in recorder.for_ref(3)[0].text
    assert summary.sent == 6
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(6))
    assert pipe(server).connections == 2


async def test_421_after_the_dot_is_retried(pipe_factory: ServerFactory, ca_file: Path) -> None:
    """421 in reply to a content: not accepted, so retried; the next message too."""
    server = await pipe_factory()
    pipe(server).data_replies["patient1@exemple.net"] = ["421 4.3.2 Shutting down"]
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(3)], account_for(server, ca_file), FAST, recorder)
    assert recorder.outcomes(1) == ["transient", "sent"]
    # Its commands rode behind the refused content, unanswered: given back, then sent.
    assert recorder.outcomes(2) == ["paused", "sent"]
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(3))


async def test_dropped_after_the_dot_is_uncertain_and_never_resent(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """Dropped after a content, before its reply: that message uncertain (final, not
    resent); the next one, whose commands shared the group, is retried and sent once."""
    server = await pipe_factory()
    pipe(server).drop_after_data["patient1@exemple.net"] = 1
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(4)], account_for(server, ca_file), FAST, recorder
    )
    assert [(a.outcome, a.final) for a in recorder.for_ref(1)] == [("uncertain", True)]
    assert recorder.outcomes(2) == ["paused", "sent"]  # unanswered: given back
    assert (summary.uncertain, summary.sent) == (1, 3)
    assert pipe(server).data_seen["patient1@exemple.net"] == 1
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(4))


async def test_reply_slower_than_timeout_after_the_dot_is_uncertain(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """No reply to a final dot within the timeout: uncertain; nothing sent twice."""
    server = await pipe_factory()
    pipe(server).data_delay["patient0@exemple.net"] = 1.0
    recorder = RecordingRecorder()
    account = account_for(server, ca_file, timeout=0.3)
    await deliver([message(0), message(1)], account, FAST, recorder)
    assert recorder.outcomes(0) == ["uncertain"]
    assert recorder.outcomes(1) == ["paused", "sent"]  # unanswered: given back
    assert pipe(server).data_seen["patient0@exemple.net"] == 1


async def test_rcpt_reply_slower_than_timeout_is_retried(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """A RCPT reply slower than the timeout: transient, reconnect, then sent once."""
    server = await pipe_factory()
    pipe(server).rcpt_delay["patient0@exemple.net"] = 1.0
    recorder = RecordingRecorder()
    account = account_for(server, ca_file, timeout=0.3)
    await deliver([message(0), message(1)], account, FAST, recorder)
    assert recorder.outcomes(0) == ["transient", "sent"]
    assert _arrived(server) == Counter(["patient0@exemple.net", "patient1@exemple.net"])
    assert pipe(server).connections == 2


async def test_dsn_and_smtputf8_parameters_are_pipelined(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """DSN (RET, ENVID, NOTIFY, ORCPT) and SMTPUTF8 are on the pipelined commands."""
    server = await pipe_factory()
    messages = [message(1, envid="notify-7+x"), message(2, "médecin@exemple.fr", envid="e2")]
    recorder = RecordingRecorder()
    await deliver(messages, account_for(server, ca_file), FAST, recorder)
    assert _batches(recorder) == [(1, 2)]
    by_rcpt = {r.rcpt_tos[0]: r for r in server.received}
    first, second = by_rcpt["patient1@exemple.net"], by_rcpt["médecin@exemple.fr"]
    assert {"RET=HDRS", "ENVID=NOTIFY-7+2BX"} <= set(first.mail_options)
    assert "NOTIFY=FAILURE,DELAY" in first.rcpt_options
    assert "SMTPUTF8" in second.mail_options
    assert "SMTPUTF8" not in first.mail_options
    assert pipe(server).pipelined_mail == 2


async def test_smtputf8_needed_but_not_offered_fails_only_that_message(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """Without SMTPUTF8 on the server, that message fails at once, the batch goes on."""
    server = await pipe_factory(smtputf8=False)
    messages = [message(0), message(1, "médecin@exemple.fr"), message(2)]
    recorder = RecordingRecorder()
    await deliver(messages, account_for(server, ca_file), FAST, recorder)
    assert [(a.outcome, a.final) for a in recorder.for_ref(1)] == [("permanent", True)]
    assert "SMTPUTF8" in recorder.for_ref(1)[0].text
    assert _arrived(server) == Counter(["patient0@exemple.net", "patient2@exemple.net"])


async def test_cap_counts_every_message_of_a_batch(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """cap=3 with batches of 10: three messages go out, cap_reached is set."""
    server = await pipe_factory()
    policy = dataclasses.replace(FAST, cap=3)
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(10)], account_for(server, ca_file), policy, recorder
    )
    assert (summary.sent, summary.cap_reached, len(server.received)) == (3, True, 3)
    assert _batches(recorder) == [(0, 1, 2)]


async def test_per_minute_spacing_keeps_batches_of_one(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """With per_minute set, each message is its own batch (still one pipelined group)."""
    server = await pipe_factory()
    policy = dataclasses.replace(FAST, per_minute=6000)
    recorder = RecordingRecorder()
    await deliver([message(i) for i in range(4)], account_for(server, ca_file), policy, recorder)
    assert [len(b) for b in _batches(recorder)] == [1] * 4
    assert pipe(server).pipelined_mail == 4


async def test_cancel_mid_batch_keeps_what_was_accepted(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """Ctrl-C during a batch: no new message is written; those accepted are sent, the
    one in flight finishes, the rest are paused (never failed)."""
    server = await pipe_factory()
    pipe(server).data_delay["patient1@exemple.net"] = 0.3
    recorder = RecordingRecorder()
    task = asyncio.create_task(
        deliver([message(i) for i in range(6)], account_for(server, ca_file), FAST, recorder)
    )
    while pipe(server).data_seen["patient1@exemple.net"] == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    outcomes = [recorder.outcomes(i) for i in range(6)]
    assert outcomes[:2] == [["sent"], ["sent"]]
    assert all(o in (["sent"], ["paused"]) for o in outcomes[2:])
    assert len(server.received) == sum(o == ["sent"] for o in outcomes)
    assert pipe(server).quits == 1


async def test_the_journal_records_a_pipelined_run(
    pipe_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """`notify send`'s path (JournalRecorder) over pipelining: every recipient sent,
    once, with its queue id; batches of 10 mean one begin and one end commit each."""
    server = await pipe_factory()
    db = tmp_path / "incident.db"
    summary = await send_once(db, account_for(server, ca_file), people(12))
    found = records(db)
    assert summary.sent == 12
    assert {r.state for r in found.values()} == {"sent"}
    assert all(r.attempts == 1 for r in found.values())
    assert len(server.received) == 12
    assert pipe(server).pipelined_mail == 12


async def test_a_recipient_marked_by_hand_mid_run_leaves_the_rest_of_its_batch_sendable(
    pipe_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """`notify mark` on a queued recipient: with batches of 2, its batch-mate is still sent."""
    server = await pipe_factory()
    db = tmp_path / "incident.db"

    def mark_once(attempt: Attempt) -> None:
        if attempt.ref == 1:
            with Journal.open(db, create=False) as other:
                other.mark(address(5), "notified-other", "phoned on 27/11")

    policy = dataclasses.replace(FAST, pipeline_batch=2)
    await send_once(
        db, account_for(server, ca_file), people(8), policy=policy, on_attempt=mark_once
    )
    found = records(db)
    assert found[address(5)].state == "notified-other"
    assert {found[address(n)].state for n in range(8) if n != 5} == {"sent"}


def test_parse_replies_keeps_order_and_partial_replies() -> None:
    """Several replies in one read, a multi-line one, and a partial one left for later."""
    buffer = bytearray(b"250 2.1.0 OK\r\n250-first\r\n250 second\r\n354 go on\r\n550 5.1")
    replies = parse_replies(buffer)
    assert [(r.code, r.message) for r in replies] == [
        (250, "2.1.0 OK"),
        (250, "first\nsecond"),
        (354, "go on"),
    ]
    assert buffer == bytearray(b"550 5.1")
    buffer.extend(b".1 No such user\r\n")
    assert [(r.code, r.message) for r in parse_replies(buffer)] == [(550, "5.1.1 No such user")]
    assert buffer == bytearray()


def test_parse_replies_byte_by_byte_gives_the_same_replies() -> None:
    """Replies split anywhere (here one byte at a time) come out whole, in order."""
    wire = b"250 OK\r\n250-a\r\n250 b\r\n354 go\r\n250 2.0.0 queued as X\r\n"
    buffer, replies = bytearray(), []
    for byte in wire:
        buffer.append(byte)
        replies.extend(parse_replies(buffer))
    assert [r.code for r in replies] == [250, 250, 354, 250]
    assert replies[1].message == "a\nb"
    assert buffer == bytearray()


def test_parse_replies_refuses_a_malformed_line() -> None:
    """A line without a code is a protocol error, as in aiosmtplib."""
    with pytest.raises(SMTPResponseException, match="Malformed"):
        parse_replies(bytearray(b"hello\r\n"))


async def _timed(server: LocalServer, ca_file: Path, policy: Policy, n: int, port: int) -> float:
    account = account_for(server, ca_file, port=port)
    started = time.perf_counter()
    summary = await deliver([message(i) for i in range(n)], account, policy, RecordingRecorder())
    assert summary.sent == n
    return time.perf_counter() - started


@pytest.mark.slow
async def test_pipelining_saves_round_trips_through_a_delay_proxy(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """10 ms each way: about 4 round trips a message without pipelining, about 1 with
    pipelining, whatever the size of the journal's batches, since the last content of
    a batch rides with the first commands of the next (generous margins: the set-up
    of the connection, STARTTLS and AUTH, about 6 round trips, is in every figure)."""
    server = await pipe_factory()
    n = 20
    async with delay_proxy(server.port, 10) as port:
        plain = await _timed(server, ca_file, dataclasses.replace(FAST, pipelining=False), n, port)
        single = await _timed(server, ca_file, dataclasses.replace(FAST, pipeline_batch=1), n, port)
        batched = await _timed(server, ca_file, FAST, n, port)
    assert single < 0.5 * plain, (plain, single)
    assert batched < 0.5 * plain, (plain, batched)
    # n messages, one round trip each plus the set-up: well under 2 round trips each.
    assert single < (n * 2 + 6) * 0.020, single


@pytest.mark.parametrize("cap", [10, 37])
async def test_cap_is_sent_in_full_over_several_connections(
    pipe_factory: ServerFactory, ca_file: Path, cap: int
) -> None:
    """4 connections, batches of 5: exactly ``cap`` messages go out. A worker that
    spends the last of the cap closes the queue; it does not cancel the workers that
    hold a batch not yet sent (they used to drop it: 2 or 3 sent for a cap of 10)."""
    server = await pipe_factory()
    policy = dataclasses.replace(FAST, cap=cap, connections=4, pipeline_batch=5)
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(200)], account_for(server, ca_file), policy, recorder
    )
    assert (summary.sent, summary.cap_reached, len(server.received)) == (cap, True, cap)
    assert len(set(_arrived(server))) == cap


# --- batches that follow one another on one connection (Stream) ---------------------

STREAM = dataclasses.replace(FAST_DEFAULT, pipeline_batch=2)


async def test_dropped_after_the_last_content_of_a_batch(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """Batches of 2: the content of message 1 (last of the first batch) goes out with
    the commands of message 2 (first of the second batch), then the server drops the
    connection. Message 1 is uncertain (final), message 2 was begun but never had its
    content sent: given back and sent once on a new connection; both batches are
    recorded finished, and nothing stays open."""
    server = await pipe_factory()
    pipe(server).drop_after_data["patient1@exemple.net"] = 1
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(6)], account_for(server, ca_file), STREAM, recorder
    )
    assert [(a.outcome, a.final) for a in recorder.for_ref(1)] == [("uncertain", True)]
    # Its batch-mate 3 was never written: given back too, same attempt number.
    assert recorder.outcomes(2) == recorder.outcomes(3) == ["paused", "sent"]
    assert [a.number for a in recorder.for_ref(2)] == [1, 1]
    assert all(recorder.outcomes(i) == ["sent"] for i in (0, 4, 5))
    assert (summary.uncertain, summary.sent) == (1, 5)
    assert recorder.open_batches == 0
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(6))
    assert pipe(server).connections == 2


async def test_refused_content_at_a_batch_boundary_is_retried(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """A 451 to the content that rode with the next batch's commands decides only that
    message (retried); the next batch goes on on the same connection."""
    server = await pipe_factory()
    pipe(server).data_replies["patient1@exemple.net"] = ["451 4.3.0 Try again later"]
    recorder = RecordingRecorder()
    summary = await deliver(
        [message(i) for i in range(6)], account_for(server, ca_file), STREAM, recorder
    )
    assert recorder.outcomes(1) == ["transient", "sent"]
    assert all(recorder.outcomes(i) == ["sent"] for i in (0, 2, 3, 4, 5))
    assert summary.sent == 6
    assert recorder.open_batches == 0
    assert pipe(server).connections == 1
    assert _arrived(server) == Counter(f"patient{i}@exemple.net" for i in range(6))


async def test_a_batch_is_recorded_as_soon_as_its_last_reply_is_read(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """The end of batch k is recorded before the server sees the second message of
    batch k+1: the reply to batch k's last content comes in the first group of k+1."""
    server = await pipe_factory()
    events = pipe(server).events

    class Logged(OrderRecorder):
        def finished(self, attempts: Sequence[Attempt]) -> None:
            super().finished(attempts)
            events.append(("finished", tuple(a.ref for a in attempts)))

    recorder = Logged(events)
    await deliver([message(i) for i in range(6)], account_for(server, ca_file), STREAM, recorder)
    rcpts = [e[1] for e in events if e[0] == "RCPT"]
    assert rcpts == [f"patient{i}@exemple.net" for i in range(6)]

    def position(event: tuple[object, ...]) -> int:
        return events.index(event)

    def rcpt_of(ref: int) -> int:
        return position(("RCPT", f"patient{ref}@exemple.net"))

    assert position(("finished", (0, 1))) < rcpt_of(3)
    assert position(("finished", (2, 3))) < rcpt_of(5)
    assert position(("starting", (2, 3))) < rcpt_of(2)


async def test_a_recorder_failure_mid_stream_stops_the_run_and_records_the_rest(
    pipe_factory: ServerFactory, ca_file: Path
) -> None:
    """The recorder fails to record a finished batch (a disk error, say) while the
    next batch is on the wire: the run stops with that error, the transaction in
    flight is finished and recorded, nothing new is written, the connection says QUIT."""
    server = await pipe_factory()

    class Failing(RecordingRecorder):
        def finished(self, attempts: Sequence[Attempt]) -> None:
            super().finished(attempts)
            if attempts[0].ref == 0:
                raise OSError("disk full")

    recorder = Failing()
    with pytest.raises(OSError, match="disk full"):
        await deliver(
            [message(i) for i in range(10)], account_for(server, ca_file), STREAM, recorder
        )
    assert [refs for kind, refs in recorder.calls if kind == "starting"] == [(0, 1), (2, 3)]
    assert recorder.open_batches == 0
    # Message 2's commands rode with message 1's content: its DATA was accepted, so
    # its content is sent; message 3 is never written.
    assert [recorder.outcomes(i) for i in range(4)] == [["sent"]] * 3 + [["paused"]]
    assert len(server.received) == 3
    assert pipe(server).quits == 1


async def test_cancel_with_two_batches_open(pipe_factory: ServerFactory, ca_file: Path) -> None:
    """Cancelled past the grace while batch 1's last content and batch 2's first
    commands are in flight: both batches are recorded (uncertain for the content that
    went out without its reply, paused for the rest), none left open."""
    server = await pipe_factory()
    pipe(server).data_delay["patient1@exemple.net"] = 5.0
    recorder = RecordingRecorder()
    policy = dataclasses.replace(STREAM, cancel_grace=0.1)
    task = asyncio.create_task(
        deliver([message(i) for i in range(6)], account_for(server, ca_file), policy, recorder)
    )
    while pipe(server).data_seen["patient1@exemple.net"] == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.open_batches == 0
    assert recorder.outcomes(0) == ["sent"]
    assert recorder.outcomes(1) == ["uncertain"]
    assert recorder.outcomes(2) == recorder.outcomes(3) == ["paused"]
    assert [refs for kind, refs in recorder.calls if kind == "starting"] == [(0, 1), (2, 3)]
