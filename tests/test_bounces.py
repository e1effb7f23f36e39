"""Bounce parsing: classification rules, report shapes, and robustness against garbage."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify.bounces import UNPARSEABLE, parse_message, to_json
from notify.bounces.classify import classify, find_reply_code, find_status, infer_status

CORPUS = Path(__file__).parent / "data" / "bounces"
CORPUS_FILES = sorted(CORPUS.glob("*.eml"))

DSN_TEMPLATE = """\
From: MAILER-DAEMON@mx.example.net
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

The mail system could not deliver your message.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b--
"""


def dsn(recipient: str, action: str, status: str, diagnostic: str) -> bytes:
    text = DSN_TEMPLATE.format(
        recipient=recipient, action=action, status=status, diagnostic=diagnostic
    )
    return text.encode()


def test_mailbox_full_522_is_permanent_with_reason_mailbox_full() -> None:
    """5.2.2 mailbox full stays permanent (the status class decides), reason mailbox-full."""
    record = parse_message(dsn("a@example.com", "failed", "5.2.2", "552 5.2.2 full")).records[0]
    assert (record.permanent, record.reason) == (True, "mailbox-full")


def test_mailbox_full_422_is_transient() -> None:
    """4.2.2 mailbox full is transient."""
    record = parse_message(dsn("a@example.com", "delayed", "4.2.2", "452 4.2.2 full")).records[0]
    assert (record.action, record.permanent, record.reason) == ("delayed", False, "mailbox-full")


def test_failed_action_with_transient_status_is_not_permanent() -> None:
    """Action failed with Status 4.4.7 is a final failure of a transient condition: expired."""
    record = parse_message(dsn("a@example.com", "failed", "4.4.7", "timeout")).records[0]
    assert (record.action, record.permanent, record.reason) == ("failed", False, "expired")


def test_remote_code_in_diagnostic_beats_generic_status() -> None:
    """Status 5.0.0 with a remote 550 5.7.1 in Diagnostic-Code gives 5.7.1, rejected."""
    data = dsn("a@example.com", "failed", "5.0.0", "550 5.7.1 Relay access denied")
    record = parse_message(data).records[0]
    assert (record.status, record.reply_code, record.reason) == ("5.7.1", "550", "rejected")


def test_host_unknown_codes() -> None:
    """5.1.2 and 5.4.4 are host-unknown."""
    assert classify("5.1.2", None)[1] == "host-unknown"
    assert classify("5.4.4", None)[1] == "host-unknown"


def test_user_unknown_code() -> None:
    """5.1.1 is a permanent user-unknown."""
    assert classify("5.1.1", "whatever") == (True, "user-unknown")


def test_text_decides_when_code_is_generic() -> None:
    """A generic 5.0.0 with 'User unknown' in the text gives user-unknown."""
    assert classify("5.0.0", "550 User unknown") == (True, "user-unknown")


def test_reply_code_class_beats_wording() -> None:
    """Without an enhanced code, a 421 reply is transient even if the text says permanent."""
    assert classify(None, "This is a permanent error", reply_code="421")[0] is False


def test_french_wording_is_understood() -> None:
    """French reasons: boîte pleine, adresse inconnue, domaine inconnu."""
    assert classify(None, "boîte aux lettres pleine")[1] == "mailbox-full"
    assert classify(None, "adresse inconnue")[1] == "user-unknown"
    assert classify(None, "domaine inconnu")[1] == "host-unknown"


def test_status_not_read_inside_ip_addresses() -> None:
    """An IP address such as 10.2.4.5 is not taken for a status code."""
    assert find_status("host 10.2.4.5 said: 550 5.1.1 unknown") == "5.1.1"
    assert find_status("connect to 10.2.4.5 failed") is None


def test_reply_code_read_before_enhanced_code() -> None:
    """'550-5.7.1' gives reply code 550."""
    assert find_reply_code("said: 550-5.7.1 blocked") == "550"


def test_inferred_status_takes_class_from_reply_code() -> None:
    """A 421 reply with no enhanced code and reason other gives 4.0.0."""
    assert infer_status("other", True, "421") == "4.0.0"


def test_dsn_records_are_json_ready() -> None:
    """to_json gives data that json.dumps accepts and that names every record field."""
    report = parse_message(dsn("a@example.com", "failed", "5.1.1", "550 5.1.1 unknown"), source="x")
    data = to_json(report)
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == "dsn"
    assert data["records"][0]["recipient"] == "a@example.com"
    assert data["records"][0]["source"] == "x"


def test_delivered_dsn_is_not_a_failure() -> None:
    """A success DSN has action delivered and no permanence or reason."""
    report = parse_message(dsn("a@example.com", "delivered", "2.0.0", "250 ok"))
    record = report.records[0]
    assert (record.action, record.permanent, record.reason) == ("delivered", None, None)
    assert report.failures == []


def test_empty_input_is_unparseable() -> None:
    """Empty bytes give an unparseable report, with a note."""
    report = parse_message(b"")
    assert report.kind == UNPARSEABLE
    assert report.note


def test_text_without_headers_is_unparseable() -> None:
    """A text with no mail header is not an e-mail message."""
    report = parse_message(b"\n\nhello, this is not a message\n")
    assert report.kind == UNPARSEABLE


def test_message_id_from_embedded_line() -> None:
    """A bounce with no attached message finds the original Message-ID in the text copy."""
    data = (
        b"From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\n"
        b"Hi. This is the qmail-send program at mx.example.net.\n\n"
        b"<who@example.com>:\n550 5.1.1 no such user\n\n"
        b"--- Below this line is a copy of the message.\n\n"
        b"Message-ID: <orig-1@example.org>\nTo: who@example.com\n\nHello\n"
    )
    record = parse_message(data).records[0]
    assert (record.recipient, record.original_message_id) == (
        "who@example.com",
        "<orig-1@example.org>",
    )


def test_feedback_report_is_not_a_failure() -> None:
    """An ARF abuse report has kind feedback-report and no failure."""
    report = parse_message((CORPUS / "sisimai__arf-01.eml").read_bytes())
    assert report.kind == "feedback-report"
    assert report.failures == []


def test_read_receipt_names_the_reader() -> None:
    """A disposition notification is a receipt naming the final recipient."""
    report = parse_message((CORPUS / "flanker__disposition-notification.eml").read_bytes())
    assert report.kind == "receipt"
    assert report.records[0].recipient == "Joe_Recipient@example.com"
    assert report.records[0].action == "displayed"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(data: bytes) -> None:
    """Any bytes give a report of a known kind, never an exception."""
    report = parse_message(data, source="random")
    assert report.kind in {
        "dsn",
        "bounce",
        "auto-reply",
        "feedback-report",
        "receipt",
        "not-bounce",
        "unparseable",
    }
    json.dumps(to_json(report))


def _mutate(data: bytes, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    buffer = bytearray(data)
    for _ in range(count):
        if not buffer:
            break
        position = rng.randrange(len(buffer))
        operation = rng.randrange(4)
        if operation == 0:
            buffer[position] = rng.randrange(256)
        elif operation == 1:
            del buffer[position : position + rng.randrange(1, 200)]
        elif operation == 2:
            buffer[position:position] = bytes(
                rng.randrange(256) for _ in range(rng.randrange(1, 9))
            )
        else:
            del buffer[position:]
    return bytes(buffer)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(CORPUS_FILES),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=30),
)
def test_mutated_corpus_files_never_raise(path: Path, seed: int, count: int) -> None:
    """Corpus files with bytes flipped, inserted, deleted or cut off never raise."""
    report = parse_message(_mutate(path.read_bytes(), seed, count), source=path.name)
    json.dumps(to_json(report))
    assert report.source == path.name
