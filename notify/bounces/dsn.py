"""RFC 3464 delivery status notifications: the ``message/delivery-status`` part.

The part holds one block of per-message fields (Reporting-MTA,
Original-Envelope-Id...) then one block per recipient (Final-Recipient, Action,
Status, Diagnostic-Code, Remote-MTA...), blocks separated by blank lines.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Final

from notify.bounces import classify
from notify.bounces.model import DELAYED, DELIVERED, FAILED, FAILURE_ACTIONS, BounceRecord
from notify.bounces.text import clean_diagnostic, content_type, decoded_text, first_address, walk

STATUS_TYPES: Final = (
    "message/delivery-status",
    "message/global-delivery-status",
    "text/delivery-status",
)
_FIELD_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_BLANK_RE: Final = re.compile(r"\n[ \t]*\n")
_ACTIONS: Final = ("failed", "delayed", "delivered", "relayed", "expanded")

Fields = dict[str, str]


def status_part(message: Message) -> Message | None:
    """Return the delivery-status part of a report, or None."""
    for part, inside in walk(message):
        if not inside and content_type(part) in STATUS_TYPES:
            return part
    return None


def blocks(part: Message) -> list[Fields]:
    """Return the field blocks of a delivery-status part (names lower-cased)."""
    payload = part.get_payload()
    found: list[Fields] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                fields = {str(k).lower(): _unfold(str(v)) for k, v in block.items()}
                if fields:
                    found.append(fields)
    return found or parse_blocks(decoded_text(part))


def parse_blocks(text: str) -> list[Fields]:
    """Parse delivery-status text: ``Name: value`` lines, continuations, blank separators."""
    result: list[Fields] = []
    for chunk in _BLANK_RE.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        fields: Fields = {}
        name = ""
        for line in chunk.split("\n"):
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
                continue
            match = _FIELD_RE.match(line)
            if match:
                name = match.group(1).lower()
                fields.setdefault(name, match.group(2).strip())
        if fields:
            result.append(fields)
    return result


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _typed(value: str | None) -> str | None:
    """Strip the type of a typed field: ``rfc822; a@b`` gives ``a@b``."""
    if not value:
        return None
    kind, sep, rest = value.partition(";")
    if sep and re.fullmatch(r"[A-Za-z0-9.+-]+", kind.strip()):
        return rest.strip() or None
    return value.strip() or None


def records(part: Message, *, notice: str, original_message_id: str | None) -> list[BounceRecord]:
    """Return one record per recipient block of a delivery-status part."""
    all_blocks = blocks(part)
    per_message = all_blocks[0] if all_blocks and not _is_recipient(all_blocks[0]) else {}
    envid = _typed(per_message.get("original-envelope-id")) or per_message.get(
        "original-envelope-id"
    )
    found = []
    for fields in all_blocks:
        if not _is_recipient(fields):
            continue
        record = _record(fields, notice)
        record.envid = envid
        record.original_message_id = original_message_id
        found.append(record)
    return found


def _is_recipient(fields: Fields) -> bool:
    return any(
        name in fields
        for name in ("final-recipient", "original-recipient", "action", "x-actual-recipient")
    )


def _record(fields: Fields, notice: str) -> BounceRecord:
    final = first_address(_typed(fields.get("final-recipient")))
    original = first_address(_typed(fields.get("original-recipient")))
    actual = first_address(_typed(fields.get("x-actual-recipient")))
    diagnostic = _typed(fields.get("diagnostic-code"))
    diag_status, reply = classify.find_status_and_reply(diagnostic or "")
    status = choose_status(classify.find_status(fields.get("status", "")), diag_status)
    action = _action(fields.get("action", ""), status)
    record = BounceRecord(
        recipient=final or original or actual,
        original_recipient=original,
        action=action,
        status=status,
        reply_code=reply,
        diagnostic=clean_diagnostic(diagnostic),
        remote_mta=_typed(fields.get("remote-mta")),
    )
    if action in FAILURE_ACTIONS:
        _classify(record, diagnostic, diag_status, notice)
    return record


def choose_status(field: str | None, remote: str | None) -> str | None:
    """Pick between the Status field and the code the remote server gave.

    The remote server's own code (in Diagnostic-Code, or in the notice text)
    says more than the reporting MTA's summary (Sendmail writes ``Status: 5.0.0``
    or ``5.1.1`` over a remote ``550 5.7.1 blacklisted``), so it wins, unless its
    class differs: a final ``5.4.7`` after a last ``4.4.1`` stays ``5.4.7``.
    """
    if remote and (not field or field[0] == remote[0]):
        return remote
    return field


def is_generic(status: str | None) -> bool:
    """True for no code, or one that says only its class (x.0.0)."""
    return status is None or status.endswith(".0.0")


def _action(value: str, status: str | None) -> str:
    word = value.strip().lower().split(" ")[0].rstrip(";.,")
    if word in _ACTIONS:
        return word
    if status and status[0] == "2":
        return DELIVERED
    if status and status[0] == "4":
        return DELAYED
    return FAILED


def _classify(
    record: BounceRecord, diagnostic: str | None, diag_status: str | None, notice: str
) -> None:
    """Set permanent and reason (and an inferred status when the DSN gives none)."""
    text = diagnostic or ""
    reason = (
        classify.reason_from_code(record.status)
        or classify.reason_from_code(diag_status)
        or classify.reason_from_text(text)
        or classify.reason_from_text(notice)
    )
    permanent, fallback = classify.classify(
        record.status, text or notice, action=record.action, reply_code=record.reply_code
    )
    record.permanent = permanent
    record.reason = reason or fallback
    if record.status is None:
        record.status = classify.infer_status(record.reason, permanent, record.reply_code)
        record.status_inferred = record.status is not None
