"""Non-standard bounces: free-text notices recognised by their shapes.

qmail ("Hi. This is the qmail-send program"), Exim ("This message was created
automatically by mail delivery software"), Sendmail transcripts, Postfix without
a DSN part, older Exchange ("did not reach the following recipient(s)"), Gmail
("Delivery to the following recipient failed permanently"), Yahoo, Outlook.com,
and French notices ("Votre message n'a pas pu être remis", "adresse inconnue",
"boîte pleine"...).

The method is the same for all: cut the notice where the copy of the original
message starts, take the addresses the notice names (minus the sender's own and
the mailer daemon's), cut the notice into one block per address, and read each
block's SMTP reply code, enhanced status code and wording.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Final

from notify.bounces import classify
from notify.bounces.model import DELAYED, FAILED, BounceRecord
from notify.bounces.text import ADDRESS_RE, first_address, header, original_headers

_ORIGINAL_MARKER_RE: Final = re.compile(
    r"^[ \t>]*[-=*_ \t]*("
    r"below this line is a copy|this is a copy of (the|your) message|original message"
    r"|unsent message|the header of the original message|returned message"
    r"|message headers follow|enclosed is a copy|below is a copy of the original"
    r"|original mail|copy of the original message"
    r"|undelivered message|message d'origine|message original|copie du message"
    r"|en-t[êe]tes du message|voici (une copie|le message)|texte du message"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_BLOCK_RE: Final = re.compile(
    r"^(Received|Return-Path|DKIM-Signature|ARC-Seal):", re.IGNORECASE | re.MULTILINE
)
_SENDER_CONTEXT_RE: Final = re.compile(
    r"(mail from|envelope-from|from|sender|return-path|reply-to|F=\[?)\s*[:=]?\s*<?\s*$",
    re.IGNORECASE,
)
_ALIAS_CONTEXT_RE: Final = re.compile(r"generated (from|by)\s*:?\s*<?$", re.IGNORECASE)
_DAEMON_LOCAL_RE: Final = re.compile(
    r"^(mailer-?daemon|mail-?daemon|post_?master|no-?reply|noreply|bounces?)$", re.IGNORECASE
)
_DELAYED_RE: Final = re.compile(
    r"has been delayed|will be retried|will retry|warning message only|delivery is delayed"
    r"|still trying|message retard[ée]|nouvelle tentative|remise diff[ée]r[ée]e",
    re.IGNORECASE,
)
_TO_LINE_RE: Final = re.compile(r"^[ \t>]*To:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)
_SENDER_LINE_RE: Final = re.compile(
    r"^[ \t>]*(From|Return-Path|Sender|Reply-To):[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE
)
_ID_LINE_RE: Final = re.compile(
    r"^[ \t>]*(Message-ID|In-Reply-To|References|Content-ID):", re.IGNORECASE
)
_CODE_LINE_RE: Final = re.compile(
    r"[245]\.\d{1,3}\.\d{1,3}|(?:^|[\s:(<>])[245][0-5]\d(?:[\s\-]|$)", re.MULTILINE
)


def split_notice(text: str) -> tuple[str, str]:
    """Return (notice, returned copy): the text before and after the original starts.

    The first marker ("--- Below this line is a copy of the message.", a
    ``Received:`` header...) that has an address before it is the cut.
    """
    first_at = text.find("@")
    if first_at < 0:
        return text, ""
    cuts = [
        match.start()
        for pattern in (_ORIGINAL_MARKER_RE, _HEADER_BLOCK_RE)
        if (match := pattern.search(text, first_at)) is not None
    ]
    if cuts:
        cut = min(cuts)
        return text[:cut], text[cut:]
    return text, ""


def sender_addresses(message: Message, tail: str) -> set[str]:
    """Addresses of the sender side: never a failed recipient of this notice."""
    found: set[str] = set()
    values = [header(message, "From"), header(message, "To")]
    original = original_headers(message)
    if original is not None:
        for name in ("From", "Return-Path", "Sender", "Reply-To"):
            values.append(header(original, name))
    values.extend(match.group(2) for match in _SENDER_LINE_RE.finditer(tail))
    for value in values:
        for match in ADDRESS_RE.finditer(value or ""):
            found.add(match.group(0).lower())
    return found


def candidates(head: str, excluded: set[str]) -> tuple[list[str], list[str]]:
    """Return the failed addresses a notice names, in order, and the aliases they came from.

    Exim writes "(ultimately generated from a@b)" under an address reached through
    an alias: a@b is the address the message was sent to.
    """
    found: list[str] = []
    aliases: list[str] = []
    seen: set[str] = set()
    for line in head.splitlines():
        if _ID_LINE_RE.match(line):
            continue
        for match in ADDRESS_RE.finditer(line):
            address = match.group(0)
            key = address.lower()
            before = line[: match.start()]
            after = line[match.end() :]
            if _ALIAS_CONTEXT_RE.search(before.rstrip()):
                aliases.append(address)
                continue
            if (
                key in seen
                or key in excluded
                or _DAEMON_LOCAL_RE.match(address.split("@")[0])
                or _SENDER_CONTEXT_RE.search(before)
            ):
                continue
            if re.match(r"\s+<[^<>@\s]+@[^<>\s]+>", after):  # a display name: "a@b <c@d>"
                seen.add(key)
                continue
            seen.add(key)
            found.append(address)
    return found, aliases


def _blocks(head: str, addresses: list[str]) -> dict[str, str]:
    """Cut the notice into one block of text per address (from its first mention on)."""
    lower = head.lower()
    starts = sorted((lower.find(address.lower()), address) for address in addresses)
    result: dict[str, str] = {}
    for index, (start, address) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(head)
        result[address] = head[start:end]
    return result


def recipient_block(head: str, address: str) -> str:
    """The part of a notice about one address: its line and the indented lines after it."""
    lower = head.lower()
    start = lower.find(address.lower())
    if start < 0:
        return ""
    start = head.rfind("\n", 0, start) + 1
    lines = head[start:].splitlines()
    block = lines[:1]
    for line in lines[1:]:
        if not line.strip() or not line[:1].isspace():
            break
        block.append(line)
    return "\n".join(block)


def parse_notice(message: Message, text: str, subject: str) -> list[BounceRecord]:
    """Return one failure record per recipient a free-text notice names (maybe none)."""
    head, tail = split_notice(text)
    excluded = sender_addresses(message, tail)
    failed = _failed_header(message)
    addresses, aliases = candidates(head, excluded)
    if failed:
        addresses = failed
    elif not addresses and aliases:
        addresses, aliases = aliases[:1], []
    if not addresses:
        fallback = _original_to(message, tail)
        addresses = [fallback] if fallback and fallback.lower() not in excluded else []
    if not addresses:
        return []
    first = min((p for a in addresses if (p := head.lower().find(a.lower())) >= 0), default=0)
    preamble = head[:first]
    blocks = _blocks(head, addresses)
    alias = aliases[0] if len(addresses) == 1 and aliases else None
    scope_all = len(addresses) == 1
    return [
        _record(
            address, blocks.get(address, ""), head if scope_all else "", preamble, subject, alias
        )
        for address in addresses
    ]


def _failed_header(message: Message) -> list[str]:
    value = header(message, "X-Failed-Recipients") or ""
    return [match.group(0) for match in ADDRESS_RE.finditer(value)]


def _original_to(message: Message, tail: str) -> str | None:
    original = original_headers(message)
    if original is not None:
        address = first_address(header(original, "To"))
        if address:
            return address
    match = _TO_LINE_RE.search(tail)
    return first_address(match.group(1)) if match else None


def _record(
    address: str, block: str, head: str, preamble: str, subject: str, alias: str | None
) -> BounceRecord:
    """Build the record of one address; ``head`` is empty when several share the notice."""
    status, reply = classify.find_status_and_reply(head or block)
    reason = (
        classify.reason_from_code(status)
        or classify.reason_from_text(block)
        or classify.reason_from_text(preamble)
        or classify.reason_from_text(subject)
    )
    context = "\n".join((preamble, block, subject))
    action = DELAYED if _DELAYED_RE.search(context) else FAILED
    permanent, fallback = classify.classify(status, context, action=action, reply_code=reply)
    record = BounceRecord(
        recipient=address,
        action=action,
        original_recipient=alias if alias and alias.lower() != address.lower() else None,
        status=status,
        reply_code=reply,
        permanent=permanent,
        reason=reason or fallback,
        diagnostic=_diagnostic(address, block or head),
    )
    if status is None:
        record.status = classify.infer_status(reason or fallback, permanent, reply)
        record.status_inferred = record.status is not None
    return record


def _diagnostic(address: str, block: str) -> str | None:
    """The lines of a block that explain the failure, on one line."""
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    useful = [line for line in lines if _CODE_LINE_RE.search(line)]
    if not useful:
        useful = [line for line in lines if line.strip("<>:") != address] or lines
    text = " ".join(useful[:4])
    return text[:497] + "…" if len(text) > 500 else (text or None)
