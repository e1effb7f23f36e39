"""Messages that are reports but not failures: auto-replies, complaints, read receipts.

- An auto-reply (RFC 3834 ``Auto-Submitted: auto-replied``, ``X-Autoreply``,
  "Out of office", "Réponse automatique", "absent du cabinet"...) proves that the
  message reached the mailbox that answered.
- An ARF feedback report (RFC 5965) is an abuse complaint, not a failure.
- A read receipt (RFC 8098 ``disposition-notification``) proves delivery too.
- An Amazon SES notification (JSON sent by e-mail) is read for what it says.
"""

from __future__ import annotations

import json
import re
from email.message import Message
from typing import Any, Final

from notify.bounces import classify
from notify.bounces.dsn import blocks, parse_blocks
from notify.bounces.model import (
    AUTO_REPLIED,
    COMPLAINED,
    DELAYED,
    DELIVERED,
    DISPLAYED,
    FAILED,
    BounceRecord,
)
from notify.bounces.text import (
    content_type,
    decoded_text,
    first_address,
    header,
    original_headers,
    walk,
)

_VACATION_SUBJECT_RE: Final = re.compile(
    r"out of (the )?office|\bauto(matic)?[ -]?(reply|response|antwort)|autoreply|\bvacation\b"
    r"|\babsen(t|te|ce)\b|r[ée]ponse automatique|message automatique|\bcong[ée]s?\b"
    r"|je suis absente?|absente? du cabinet|hors du bureau|\bon leave\b|\baway\b"
    r"|abwesenheit|automatische antwort|fuera de la oficina|respuesta autom[áa]tica",
    re.IGNORECASE,
)
_AUTOREPLY_HEADERS: Final = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation")
_PRECEDENCE_RE: Final = re.compile(r"auto[_-]?reply", re.IGNORECASE)


def is_auto_reply(message: Message, subject: str) -> bool:
    """True for a vacation or out-of-office reply (which proves delivery)."""
    submitted = (header(message, "Auto-Submitted") or "").lower()
    if submitted.startswith("auto-replied"):
        return True
    if any(header(message, name) for name in _AUTOREPLY_HEADERS):
        return True
    if _PRECEDENCE_RE.search(header(message, "Precedence") or ""):
        return True
    return bool(_VACATION_SUBJECT_RE.search(subject))


def auto_reply_records(message: Message) -> list[BounceRecord]:
    """The one mailbox that answered: whoever the auto-reply comes from."""
    address = first_address(header(message, "From")) or first_address(header(message, "Reply-To"))
    refs = header(message, "In-Reply-To") or header(message, "References") or ""
    message_id = re.search(r"<[^<>\s]+>", refs)
    return [
        BounceRecord(
            recipient=address,
            action=AUTO_REPLIED,
            original_message_id=message_id.group(0) if message_id else None,
        )
    ]


def _report_part(message: Message, kind: str) -> Message | None:
    for part, inside in walk(message):
        if not inside and content_type(part) == kind:
            return part
    return None


def is_feedback_report(message: Message) -> bool:
    """True for an ARF abuse or opt-out report."""
    return _report_part(message, "message/feedback-report") is not None


def feedback_records(message: Message) -> list[BounceRecord]:
    """The address that complained: Original-Rcpt-To, else the returned message's To."""
    part = _report_part(message, "message/feedback-report")
    fields: dict[str, str] = {}
    for block in blocks(part) if part is not None else []:
        fields.update(block)
    if not fields and part is not None:
        for block in parse_blocks(decoded_text(part)):
            fields.update(block)
    original = original_headers(message)
    address = first_address(fields.get("original-rcpt-to"))
    if address is None and original is not None:
        address = first_address(header(original, "To"))
    address = address or first_address(fields.get("removal-recipient"))
    message_id = header(original, "Message-ID") if original is not None else None
    return [
        BounceRecord(
            recipient=address,
            action=COMPLAINED,
            diagnostic=fields.get("feedback-type"),
            original_message_id=message_id,
        )
    ]


def is_receipt(message: Message) -> bool:
    """True for a read receipt (message disposition notification)."""
    return _report_part(message, "message/disposition-notification") is not None


def receipt_records(message: Message) -> list[BounceRecord]:
    """The address that sent the receipt, and what happened to the message there."""
    part = _report_part(message, "message/disposition-notification")
    fields: dict[str, str] = {}
    for block in blocks(part) if part is not None else []:
        fields.update(block)
    final = fields.get("final-recipient", "").partition(";")[2] or fields.get("final-recipient")
    address = first_address(final) or first_address(header(message, "From"))
    disposition = fields.get("disposition", "").rpartition(";")[2].strip().lower()
    return [
        BounceRecord(
            recipient=address,
            original_recipient=first_address(fields.get("original-recipient")),
            action=disposition.split("/")[0] or DISPLAYED,
            original_message_id=fields.get("original-message-id"),
        )
    ]


def ses_notification(text: str) -> dict[str, Any] | None:
    """Return an Amazon SES notification's JSON if the text is one, else None."""
    start = text.find('{"notificationType"')
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder(strict=False).raw_decode(text[start:])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def ses_records(data: dict[str, Any]) -> tuple[str, list[BounceRecord]]:
    """Return (notification type, records) for an Amazon SES notification."""
    kind = str(data.get("notificationType", "")).lower()
    mail = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    message_id = str(mail.get("messageId")) if mail and mail.get("messageId") else None
    if kind == "complaint":
        section = data.get("complaint") or {}
        people = section.get("complainedRecipients") or []
        return kind, [_ses(p, COMPLAINED, None, message_id) for p in people]
    if kind == "delivery":
        section = data.get("delivery") or {}
        response = str(section.get("smtpResponse") or "")
        people = [{"emailAddress": r} for r in section.get("recipients") or []]
        return kind, [_ses(p, DELIVERED, response, message_id) for p in people]
    if kind == "bounce":
        section = data.get("bounce") or {}
        people = section.get("bouncedRecipients") or []
        transient = str(section.get("bounceType", "")).lower() == "transient"
        action = DELAYED if transient else FAILED
        return kind, [_ses(p, action, None, message_id) for p in people]
    return kind, []


def _ses(person: Any, action: str, response: str | None, message_id: str | None) -> BounceRecord:
    if not isinstance(person, dict):
        person = {}
    diagnostic = str(person.get("diagnosticCode") or response or "") or None
    status_field = str(person.get("status") or "")
    status = classify.find_status(status_field) or classify.find_status(diagnostic or "")
    record = BounceRecord(
        recipient=first_address(str(person.get("emailAddress") or "")),
        action=action,
        status=status,
        reply_code=classify.find_reply_code(diagnostic or ""),
        diagnostic=diagnostic,
        original_message_id=message_id,
    )
    if action in (FAILED, DELAYED):
        record.permanent, record.reason = classify.classify(status, diagnostic, action=action)
    return record
