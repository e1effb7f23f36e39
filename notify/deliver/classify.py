"""Turn every SMTP reply and every aiosmtplib error into one decision.

This is the one place where the retry decision is made (STYLE.md, habit 6). The
engine asks :func:`classify_reply` or :func:`classify_error` and acts on the
:class:`Decision` kind:

- ``sent``: the server accepted the message (250 after the final dot).
- ``transient``: this recipient failed for now (4xx on MAIL/RCPT/DATA): retry later.
- ``permanent``: this recipient failed for good (5xx on RCPT or DATA): record once.
- ``uncertain``: the message content was sent but no reply came (dropped connection,
  timeout after the final dot): the server may have accepted it.
- ``connection``: the connection is unusable (421, reset, timeout before the content
  was sent): reconnect and retry what was in flight.
- ``account``: the account cannot send at all (authentication, TLS, sender refused,
  server unreachable): stop the run, touch no recipient.
- ``quota``: the account reached a sending limit: pause the run, the recipient goes
  back to pending.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

Stage = Literal["connect", "tls", "ehlo", "auth", "mail", "rcpt", "data", "data-end"]
Kind = Literal["sent", "transient", "permanent", "uncertain", "connection", "account", "quota"]


@dataclass(frozen=True)
class Decision:
    """What one reply or error means for the run and for the recipient."""

    kind: Kind
    code: int | None
    text: str
    retry_after: timedelta | None = None  # quota: when sending may resume, if known
    hint: str | None = None


@dataclass(frozen=True)
class QuotaRule:
    """A reply text that means the account (not the recipient) hit a sending limit."""

    pattern: re.Pattern[str]
    source: str
    retry_after: timedelta | None


def _rule(regex: str, source: str, hours: float | None) -> QuotaRule:
    after = None if hours is None else timedelta(hours=hours)
    return QuotaRule(re.compile(regex, re.IGNORECASE), source, after)


#: Provider-specific texts, checked before anything else.
PROVIDER_QUOTA_RULES: tuple[QuotaRule, ...] = (
    # Google Workspace Admin Help, "Gmail SMTP errors and codes":
    # "550 5.4.5 Daily user sending limit exceeded" (limits reset within 24 hours).
    _rule(r"daily user sending (quota|limit) exceeded", "Gmail SMTP error list", 24),
    # Same list: "421 4.7.0 ... unusual rate of unsolicited mail" / 4.7.28 (rate of mail
    # from the IP or account). Resume time not published: one hour is a guess.
    _rule(r"unusual rate", "Gmail SMTP error list (4.7.0 / 4.7.28)", 1),
    _rule(r"\b4\.7\.28\b", "Gmail SMTP error list (4.7.28)", 1),
    # Microsoft Learn, Exchange Online NDRs: "554 5.2.0 STOREDRV.Submission.Exception:
    # SubmissionQuotaExceededException" and "5.2.2 Submission quota exceeded"
    # (recipient rate limit, 24 hours).
    _rule(r"submission\s*quota\s*exceeded", "Exchange Online NDR 5.2.0 / 5.2.2", 24),
    # Same source: "OutboundSpamException" / 5.7.708 / 5.7.750: the account or tenant
    # is restricted from sending; an administrator must act, no resume time.
    _rule(r"outboundspamexception", "Exchange Online NDR 5.2.0 (restricted sender)", None),
    _rule(r"\b5\.7\.(708|750)\b", "Exchange Online NDR 5.7.708 / 5.7.750", None),
    # Same source: 4.7.650 (IP reputation throttling), and the submission rate limit
    # "4.4.2 Message submission rate for this client has exceeded the configured limit".
    _rule(r"\b4\.7\.650\b", "Exchange Online NDR 4.7.650", 1),
    _rule(r"submission rate .*exceeded", "Exchange Online (message rate limit)", 0.1),
    # Yahoo Sender Hub, SMTP error codes: [TSS04] "temporarily deferred due to
    # unexpected volume or user complaints". Uncertain for submission.
    _rule(r"\bTSS0\d\b", "Yahoo Sender Hub error codes (uncertain)", 1),
    _rule(r"reached a limit for sending", "Yahoo help (uncertain)", 24),
    # Orange postmaster codes (as summarised by third-party deliverability sites):
    # OFR004_104 too many connections, OFR004_105 service refused, OFR_999 two-hour
    # suspension; French texts "Trop de connexions" / "Trop de messages".
    _rule(r"\bOFR_?999\b", "Orange postmaster codes (OFR_999, 2 h)", 2),
    _rule(r"\bOFR\d*_10[45]\b", "Orange postmaster codes (OFR004_104/105)", 0.25),
    _rule(r"trop de (connexions|messages|mails|courriels)", "Orange/French ISPs", 0.25),
)

#: Generic texts (OVH, IONOS, SFR, Free, Postfix policy daemons...), checked after the
#: recipient-mailbox exclusion below. Sources: widely seen rate-limit replies, e.g.
#: policyd "450 4.7.1 Deferring: Too many messages from sender", Postfix/mailhostbox
#: "550 5.4.5 Domain Sending Quota Exceeded". Resume times unknown.
GENERIC_QUOTA_RULES: tuple[QuotaRule, ...] = (
    _rule(r"too many (messages|mails|e-?mails|recipients)", "generic rate limit", None),
    _rule(r"rate[ -]?limit", "generic rate limit", None),
    _rule(r"sending (limit|quota|rate)", "generic sending limit", None),
    _rule(r"quota exceeded|exceeded (the |your )?(daily |hourly )?quota", "generic", None),
    _rule(r"(daily|hourly) (message |sending )?(limit|quota)", "generic", None),
    _rule(r"\b5\.4\.5\b", "RFC 3463-style 5.4.5 used for sender quotas", 24),
)

#: A full mailbox belongs to the recipient, not the account: never a pause.
_MAILBOX_FULL = re.compile(
    r"\b[45]\.2\.2\b|mailbox (is )?full|over ?quota|insufficient (system )?storage"
    r"|bo[iî]te (aux lettres )?pleine",
    re.IGNORECASE,
)
_NEEDS_AUTH = re.compile(
    r"relay(ing)? (access )?(denied|not permitted|prohibited)|authentication required"
    r"|must (first )?authenticate|\b5\.7\.0\b.*auth",
    re.IGNORECASE,
)
_TOO_BIG = re.compile(r"\b5\.3\.4\b|size|too (big|large)", re.IGNORECASE)
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_status(text: str) -> str | None:
    """Return the RFC 3463 enhanced status code in a reply text (``"5.7.1"``), if any."""
    match = _ENHANCED.search(text)
    return match.group(0) if match else None


def match_quota(code: int | None, text: str) -> QuotaRule | None:
    """Return the rule when a reply means the account hit a sending limit, else None."""
    if code is not None and code < 400:
        return None
    for rule in PROVIDER_QUOTA_RULES:
        if rule.pattern.search(text):
            return rule
    if _MAILBOX_FULL.search(text):
        return None
    for rule in GENERIC_QUOTA_RULES:
        if rule.pattern.search(text):
            return rule
    return None


def classify_reply(code: int, text: str, stage: Stage) -> Decision:
    """Decide what an SMTP reply ``code``/``text`` received at ``stage`` means."""
    if 200 <= code < 400:
        return Decision("sent", code, text)
    rule = match_quota(code, text)
    if rule is not None:
        return Decision("quota", code, text, retry_after=rule.retry_after, hint=rule.source)
    if code == 421:
        return Decision("connection", code, text)
    if stage == "auth":
        return Decision("account", code, text, hint=_AUTH_HINT)
    if stage in ("connect", "tls", "ehlo"):
        kind: Kind = "connection" if code < 500 else "account"
        return Decision(kind, code, text)
    transient = code < 500
    if stage == "mail":
        if transient:
            return Decision("transient", code, text)
        if _TOO_BIG.search(text):
            return Decision("permanent", code, text)
        return Decision("account", code, text, hint=_SENDER_HINT)
    if stage == "rcpt" and not transient and (code == 530 or _NEEDS_AUTH.search(text)):
        return Decision("account", code, text, hint=_AUTH_HINT)
    return Decision("transient" if transient else "permanent", code, text)


_AUTH_HINT = (
    "Check smtp.username and the password (NOTIFY_SMTP__PASSWORD or "
    "smtp.password_command); many providers need an app password or OAuth2."
)
_SENDER_HINT = (
    "The server refused the sender address: sender.address must belong to the "
    "sending account (smtp.username)."
)
_TLS_HINT = (
    "The server's certificate could not be verified or TLS failed: check smtp.host, "
    "smtp.port and smtp.security; for a private CA set smtp.ca_file."
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_tls_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a TLS handshake or certificate error."""
    return any(isinstance(e, ssl.SSLError) for e in _chain(exc))


def is_unreachable(exc: BaseException) -> bool:
    """True when the server could not be reached at all (refused, DNS, timeout)."""
    if isinstance(exc, SMTPConnectResponseError):
        return False
    return isinstance(exc, SMTPConnectError | OSError) and not is_tls_failure(exc)


def classify_error(exc: BaseException, stage: Stage, *, data_sent: bool = False) -> Decision:
    """Decide what an exception raised at ``stage`` means.

    ``data_sent`` says whether the message content (with its final dot) was written:
    a lost connection after that is ``uncertain``, before it a ``connection`` fault.
    """
    text = _describe(exc)
    if is_tls_failure(exc):
        return Decision("account", None, text, hint=_TLS_HINT)
    if isinstance(exc, SMTPAuthenticationError):
        return classify_reply(exc.code, exc.message, "auth")
    if isinstance(exc, SMTPResponseException) and exc.code >= 200:
        return classify_reply(exc.code, exc.message, stage)
    if isinstance(exc, SMTPServerDisconnected | SMTPTimeoutError | TimeoutError | OSError):
        if data_sent:
            return Decision("uncertain", None, text)
        return Decision("connection", None, text)
    if isinstance(exc, ValueError | UnicodeError):
        # aiosmtplib refuses addresses that cannot go on a command line.
        if stage == "rcpt":
            return Decision("permanent", None, f"invalid recipient address: {text}")
        return Decision("account", None, f"invalid sender address: {text}", hint=_SENDER_HINT)
    if isinstance(exc, SMTPException) and stage in ("connect", "tls", "ehlo", "auth"):
        return Decision("account", None, text, hint=_AUTH_HINT if stage == "auth" else None)
    if isinstance(exc, SMTPException):
        return Decision("uncertain" if data_sent else "connection", None, text)
    raise exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


_QUEUE_ID = (
    re.compile(r"queued as ([A-Za-z0-9][\w.\-]*)", re.IGNORECASE),  # Postfix
    re.compile(r"\bid=([A-Za-z0-9][\w\-.]*)"),  # Exim
    re.compile(r"\bOK\s+\d{9,}\s+(\S+?)\s*-\s*gsmtp", re.IGNORECASE),  # Gmail
    re.compile(r"\bOK\s+<([^>\s]+)>"),  # Exchange Online: OK <message-id>
    re.compile(r"^2\.0\.0 (\S+) Message accepted", re.IGNORECASE),  # Sendmail
)


def parse_queue_id(text: str) -> str | None:
    """Return the server's queue id from the 250 reply to DATA, when it gives one."""
    for pattern in _QUEUE_ID:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None
