"""Read one message and say what it is: :func:`parse_message`.

Order of the checks, first match wins:

1. a ``multipart/report`` part: delivery-status (RFC 3464) gives ``dsn``;
   feedback-report gives ``feedback-report``; disposition-notification gives
   ``receipt``;
2. an Amazon SES notification (JSON by e-mail);
3. a notice that looks like a bounce (mailer-daemon sender, "Undeliverable"
   subject, bounce wording) and names a recipient gives ``bounce``;
4. an auto-reply gives ``auto-reply``;
5. a bounce-looking notice that names no readable recipient gives ``unparseable``
   (someone should read it); anything else gives ``not-bounce``.

Nothing a message contains makes :func:`parse_message` raise.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Final

from notify.bounces import autoreply, classify, dsn, heuristics
from notify.bounces.model import (
    AUTO_REPLY,
    BOUNCE,
    DSN,
    FEEDBACK_REPORT,
    NOT_BOUNCE,
    RECEIPT,
    UNPARSEABLE,
    BounceRecord,
    BounceReport,
)
from notify.bounces.text import (
    content_type,
    first_address,
    header,
    notice_text,
    original_message_id,
    walk,
)

MAX_BYTES: Final = 20 * 1024 * 1024  # a bounce bigger than this is cut before parsing

_DAEMON_FROM_RE: Final = re.compile(
    r"mailer-?daemon|mail-?daemon|post_?master|mail delivery (subsystem|system)"
    r"|mail ?deliver(y)? system|ndr administrator|\bmdaemon\b|courrier-mta|\bsmtp gateway",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE: Final = re.compile(
    r"undeliver|undelivered|non ?-?deliver|delivery (status notification|fail|problem|report"
    r"|notification|error)|failure notice|failure notification|returned mail|returning message"
    r"|mail delivery fail|could not be delivered|delivery has failed|mail system error"
    r"|mail failure|returned to sender|message not delivered|loop alert|rejected:"
    r"|non remis|non distribu|non d[ée]livr|[ée]chec (de|lors de) (la )?(remise|distribution"
    r"|livraison|l'envoi)|impossible de (remettre|distribuer)|retour de (courrier|message)"
    r"|erreur de (distribution|remise)|unzustellbar|zustellung|メールエラー",
    re.IGNORECASE,
)
_BOUNCE_BODY_RE: Final = re.compile(
    r"qmail-send program|created automatically by mail delivery software"
    r"|could not be delivered|couldn't be delivered|was not delivered|delivery (has )?failed"
    r"|delivery to the following recipient|did not reach the following recipient"
    r"|unable to deliver|undeliverable|permanent error|following address(es)? failed"
    r"|returned mail|delivery status notification|this is the mail system at"
    r"|n'a pas pu [êe]tre (remis|distribu[ée]|d[ée]livr[ée])|impossible de (remettre|distribuer)"
    r"|non remis|adresse inconnue|destinataire inconnu|bo[iî]te (aux lettres )?pleine",
    re.IGNORECASE,
)


def parse_message(data: bytes, *, source: str = "") -> BounceReport:
    """Parse one raw message (bytes as read from a mailbox) into a :class:`BounceReport`.

    ``source`` names where the message came from (``"path"`` or ``"path:line"``)
    and is copied into the report and each record. Never raises for the content
    of a message: garbage gives ``kind="unparseable"`` with a ``note`` saying why.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        return BounceReport(kind=UNPARSEABLE, source=source, note="not bytes: nothing to read")
    raw = bytes(data[:MAX_BYTES])
    if not raw.strip():
        return BounceReport(kind=UNPARSEABLE, source=source, note="empty message")
    try:
        message = BytesParser(policy=compat32).parsebytes(raw)
        report = _parse(message, source)
    except Exception as exc:
        return BounceReport(
            kind=UNPARSEABLE,
            source=source,
            note=f"could not read this message ({type(exc).__name__}: {exc}); "
            "open it in a mail client and record the outcome by hand",
        )
    for record in report.records:
        record.source = source
    return report


def _parse(message: Message, source: str) -> BounceReport:
    subject = header(message, "Subject") or ""
    report = BounceReport(
        kind=NOT_BOUNCE,
        subject=subject or None,
        date=header(message, "Date"),
        message_id=header(message, "Message-ID"),
        sender=first_address(header(message, "From")),
        source=source,
    )
    if not message.keys():
        report.kind = UNPARSEABLE
        report.note = "no mail headers found: this is not an e-mail message"
        return report
    kind, records, note = _classify(message, subject)
    report.kind, report.records, report.note = kind, records, note
    return report


def _classify(
    message: Message, subject: str, *, depth: int = 0
) -> tuple[str, list[BounceRecord], str | None]:
    notice = notice_text(message)
    part = dsn.status_part(message)
    if part is not None:
        message_id = original_message_id(message, heuristics.split_notice(notice)[1])
        records = dsn.records(part, notice=notice, original_message_id=message_id)
        if records:
            _complete_from_notice(message, records, notice)
            return DSN, records, None
    forwarded = _forwarded_report(message) if depth == 0 else None
    if forwarded is not None:
        kind, records, note = _classify(forwarded, header(forwarded, "Subject") or "", depth=1)
        if kind in (DSN, FEEDBACK_REPORT, RECEIPT):
            return kind, records, f"forwarded {kind}" + (f"; {note}" if note else "")
    if autoreply.is_feedback_report(message):
        return FEEDBACK_REPORT, autoreply.feedback_records(message), None
    if autoreply.is_receipt(message):
        return RECEIPT, autoreply.receipt_records(message), None
    ses = autoreply.ses_notification(notice)
    if ses is not None:
        return _ses(ses)
    return _free_text(message, subject, notice, dsn_found=part is not None)


def _forwarded_report(message: Message) -> Message | None:
    """A report attached to a message (a bounce forwarded by a person or a system)."""
    for part, _ in walk(message):
        if content_type(part) != "message/rfc822":
            continue
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message) and content_type(inner) == "multipart/report":
            return inner
    return None


def _complete_from_notice(message: Message, records: list[BounceRecord], notice: str) -> None:
    """Fill what the delivery-status part left out from the human-readable notice.

    A recipient field without an address gets the address the notice names; a
    generic status (x.0.0) gets the more specific code the notice gives for that
    recipient, if of the same class.
    """
    head, tail = heuristics.split_notice(notice)
    known = {(r.recipient or "").lower() for r in records}
    excluded = heuristics.sender_addresses(message, tail) | known
    spare = heuristics.candidates(head, excluded)[0]
    for record in records:
        if record.recipient is None and spare:
            record.recipient = spare.pop(0)
        if record.recipient and dsn.is_generic(record.status) and record.is_failure:
            block = heuristics.recipient_block(head, record.recipient)
            status, reply = classify.find_status_and_reply(block)
            if (
                status
                and not dsn.is_generic(status)
                and (record.status is None or status[0] == record.status[0])
            ):
                record.status, record.status_inferred = status, False
                record.reply_code = record.reply_code or reply
                record.reason = classify.reason_from_code(status) or record.reason


def _ses(data: dict[str, object]) -> tuple[str, list[BounceRecord], str | None]:
    kind, records = autoreply.ses_records(data)
    if kind == "complaint":
        return FEEDBACK_REPORT, records, "Amazon SES complaint notification"
    if records:
        return DSN, records, f"Amazon SES {kind} notification"
    return NOT_BOUNCE, [], f"Amazon SES {kind or 'unknown'} notification without recipients"


def _free_text(
    message: Message, subject: str, notice: str, *, dsn_found: bool
) -> tuple[str, list[BounceRecord], str | None]:
    bounce_like = dsn_found or looks_like_bounce(message, subject, notice)
    auto = autoreply.is_auto_reply(message, subject)
    if auto and not bounce_like:
        return AUTO_REPLY, autoreply.auto_reply_records(message), None
    if bounce_like:
        records = heuristics.parse_notice(message, notice, subject)
        if records:
            message_id = original_message_id(message, heuristics.split_notice(notice)[1])
            for record in records:
                record.original_message_id = message_id
            return BOUNCE, records, None
        if auto:
            return AUTO_REPLY, autoreply.auto_reply_records(message), None
        return (
            UNPARSEABLE,
            [],
            "looks like a delivery failure notice but names no recipient that could be read; "
            "open it and record the outcome by hand",
        )
    return NOT_BOUNCE, [], "not a bounce, an auto-reply or a report"


def looks_like_bounce(message: Message, subject: str, notice: str) -> bool:
    """True when the sender, subject or wording is that of a delivery failure notice."""
    sender = header(message, "From") or ""
    if _DAEMON_FROM_RE.search(sender) or _BOUNCE_SUBJECT_RE.search(subject):
        return True
    if header(message, "X-Failed-Recipients"):
        return True
    return bool(_BOUNCE_BODY_RE.search(notice[:5000]))
