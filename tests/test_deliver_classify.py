"""Turning SMTP replies and errors into decisions; queue ids; xtext."""

from __future__ import annotations

import ssl

import pytest
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPReadTimeoutError,
    SMTPRecipientRefused,
    SMTPServerDisconnected,
)
from hypothesis import given
from hypothesis import strategies as st

from notify.deliver import classify_error, classify_reply, parse_queue_id, xtext, xtext_decode
from notify.deliver.classify import is_unreachable, match_quota


@pytest.mark.parametrize(
    ("code", "text", "stage", "kind"),
    [
        (250, "2.0.0 OK queued as ABC", "data-end", "sent"),
        (451, "4.3.0 Try again later", "rcpt", "transient"),
        (452, "4.5.3 Too many recipients this session", "rcpt", "quota"),
        (450, "4.2.1 Mailbox busy", "rcpt", "transient"),
        (550, "5.1.1 User unknown", "rcpt", "permanent"),
        (554, "5.7.1 Message rejected as spam", "data-end", "permanent"),
        (451, "4.3.0 Local error", "data-end", "transient"),
        (421, "4.3.2 Service shutting down", "rcpt", "connection"),
        (421, "4.3.2 Try later", "connect", "connection"),
        (554, "5.7.1 No SMTP service here", "connect", "account"),
        (535, "5.7.8 Username and Password not accepted", "auth", "account"),
        (454, "4.7.0 Temporary authentication failure", "auth", "account"),
        (553, "5.7.1 Sender address rejected: not owned by user", "mail", "account"),
        (552, "5.3.4 Message size exceeds fixed limit", "mail", "permanent"),
        (451, "4.3.0 Temporary failure", "mail", "transient"),
        (554, "5.7.1 <x@y>: Relay access denied", "rcpt", "account"),
        (530, "5.7.0 Authentication required", "rcpt", "account"),
        (452, "4.2.2 The email account that you tried to reach is over quota", "rcpt", "transient"),
        (552, "5.2.2 Mailbox full", "rcpt", "permanent"),
    ],
)
def test_reply_classification(code: int, text: str, stage: str, kind: str) -> None:
    """Each reply gets the decision the retry policy needs."""
    assert classify_reply(code, text, stage).kind == kind  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "550 5.4.5 Daily user sending limit exceeded.",
        "421 4.7.0 [1.2.3.4] Our system has detected an unusual rate of unsolicited mail",
        "421-4.7.28 Gmail has detected an unusual rate of mail",
        "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
        "550 5.2.2 Submission quota exceeded",
        "554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException",
        "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP",
        "451 4.7.650 The mail server has been temporarily rate limited",
        "421 4.7.0 [TSS04] Messages temporarily deferred due to unexpected volume",
        "421 mwinf5c20 ME Trop de connexions, veuillez verifier votre configuration OFR004_104",
        "421 Service refuse. Veuillez essayer plus tard. OFR_999",
        "450 4.7.1 Deferring: Too many messages from sender in last 60",
        "550 5.4.5 Domain Sending Quota Exceeded",
        "451 Rate limit exceeded, try again later",
        "554 Sending limit reached for this account",
    ],
)
def test_sending_limit_replies_are_quota(text: str) -> None:
    """Known sending-limit replies pause the run instead of failing the recipient."""
    code = int(text[:3])
    assert classify_reply(code, text[4:], "rcpt").kind == "quota"


def test_a_daily_limit_says_when_to_resume() -> None:
    """Gmail's daily limit comes with a 24-hour resume delay."""
    rule = match_quota(550, "5.4.5 Daily user sending limit exceeded")
    assert rule is not None
    assert rule.retry_after is not None
    assert rule.retry_after.total_seconds() == 24 * 3600


def test_a_full_mailbox_is_not_a_sending_limit() -> None:
    """'over quota' of the recipient's mailbox is the recipient's problem, not a pause."""
    assert match_quota(552, "5.2.2 Mailbox full: quota exceeded") is None


@pytest.mark.parametrize(
    ("exc", "stage", "data_sent", "kind"),
    [
        (SMTPServerDisconnected("Connection lost"), "rcpt", False, "connection"),
        (SMTPServerDisconnected("Connection lost"), "data-end", True, "uncertain"),
        (SMTPReadTimeoutError("Timed out"), "data-end", True, "uncertain"),
        (SMTPReadTimeoutError("Timed out"), "mail", False, "connection"),
        (SMTPRecipientRefused(550, "5.1.1 unknown", "a@b"), "rcpt", False, "permanent"),
        (SMTPAuthenticationError(535, "5.7.8 bad"), "auth", False, "account"),
        (SMTPConnectError("Error connecting: refused"), "connect", False, "connection"),
        (ValueError("Address contains characters"), "rcpt", False, "permanent"),
        (ValueError("Address contains characters"), "mail", False, "account"),
    ],
)
def test_error_classification(exc: Exception, stage: str, data_sent: bool, kind: str) -> None:
    """aiosmtplib errors map to decisions; after the content a lost reply is uncertain."""
    assert classify_error(exc, stage, data_sent=data_sent).kind == kind  # type: ignore[arg-type]


def test_a_tls_failure_is_an_account_error() -> None:
    """A certificate error, even wrapped by aiosmtplib, stops the run."""
    wrapped = SMTPConnectError("Error connecting")
    wrapped.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    assert classify_error(wrapped, "connect").kind == "account"


def test_unreachable_is_told_apart_from_a_refusing_greeting() -> None:
    """Connection refused is 'unreachable'; a 421 greeting is not."""
    assert is_unreachable(SMTPConnectError("refused"))
    assert not is_unreachable(SMTPConnectResponseError(421, "busy"))


@pytest.mark.parametrize(
    ("reply", "queue_id"),
    [
        ("2.0.0 Ok: queued as 4Bx7Yz1QkZz9abc", "4Bx7Yz1QkZz9abc"),
        ("OK id=1qXyZa-0004Ab-Cd", "1qXyZa-0004Ab-Cd"),
        ("2.0.0 OK  1700000000 a1-20020a17090a123bc.12 - gsmtp", "a1-20020a17090a123bc.12"),
        (
            "2.0.0 OK <AM0PR01MB1234.eurprd01.prod.outlook.com> [Hostname=AM0PR]",
            "AM0PR01MB1234.eurprd01.prod.outlook.com",
        ),
        ("2.0.0 x7ABC123 Message accepted for delivery", "x7ABC123"),
        ("OK", None),
    ],
)
def test_queue_id_is_parsed_from_the_data_reply(reply: str, queue_id: str | None) -> None:
    """The server's queue id is kept when the 250 reply gives one."""
    assert parse_queue_id(reply) == queue_id


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_xtext_round_trips(value: str) -> None:
    """xtext encoding is reversible and yields only printable ASCII without '+'/'=' raw."""
    encoded = xtext(value)
    assert xtext_decode(encoded) == value
    assert all(33 <= ord(c) <= 126 for c in encoded)
    assert "=" not in encoded
