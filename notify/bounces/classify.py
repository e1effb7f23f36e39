"""Hard or soft, and why: status codes and diagnostic text turned into a decision.

Rules, in order (see docs in ``notify/bounces/__init__.py``):

1. **Permanence follows the class digit of the status code** (RFC 3463): 5.x.x is
   permanent, 4.x.x transient. This holds even when the text or the Action field
   disagrees: a DSN with ``Action: failed`` and ``Status: 4.4.7`` means the remote
   server gave up on a transient condition, so a later resend may still work
   (permanent = False, reason expired); a ``5.2.2 mailbox full`` stays permanent
   (reason mailbox-full), as the server said, and the caller may still decide to
   try such a recipient once more days later.
2. Without a code, the text decides: "permanent error", "failed permanently" (and
   French equivalents) give permanent; "temporary", "delayed", "will retry" give
   transient; otherwise the reason does (user or host unknown, rejected, expired:
   permanent); otherwise unknown (None).
3. **The reason** comes from the enhanced code when it is specific (5.1.1 user
   unknown, x.2.2 mailbox full, 5.1.2 / x.4.4 host unknown, x.7.x rejected, x.4.7
   expired...) and from the diagnostic text when the code is generic (x.0.0,
   x.1.0, x.5.0...) or absent.
"""

from __future__ import annotations

import re
from typing import Final

from notify.bounces.model import (
    EXPIRED,
    HOST_UNKNOWN,
    MAILBOX_FULL,
    OTHER,
    REJECTED,
    USER_UNKNOWN,
)

# An enhanced status code, not inside an IP address or a version number.
STATUS_RE: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# A basic SMTP reply code where servers put one: line start, after ':', '<<<', '(' ...
REPLY_RE: Final = re.compile(r"(?:^|(?<=[\s:(\[<>#=]))([245][0-5]\d)(?=[\s\-,;)]|$)", re.MULTILINE)
# A reply code right before an enhanced code: "550 5.1.1", "550-5.1.1", "550 550 5.7.1".
REPLY_THEN_STATUS_RE: Final = re.compile(
    r"(?<![\d.])([245][0-5]\d)[ \-]+(?:[245][0-5]\d[ \-]+)?([245]\.\d{1,3}\.\d{1,3})(?!\d|\.\d)"
)
# Qmail's "(#5.1.1)" and Exchange's "#5.1.1" stay plain status codes, found by STATUS_RE.

_GENERIC_SUBJECTS: Final = {"0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0"}

_CODE_REASONS: Final = {
    "1.1": USER_UNKNOWN,
    "1.3": USER_UNKNOWN,  # bad destination mailbox address syntax
    "1.6": USER_UNKNOWN,  # mailbox has moved, no forwarding address
    "1.10": USER_UNKNOWN,  # Microsoft RESOLVER.ADR.RecipientNotFound
    "2.1": USER_UNKNOWN,  # mailbox disabled
    "2.2": MAILBOX_FULL,
    "1.2": HOST_UNKNOWN,
    "4.4": HOST_UNKNOWN,  # unable to route
    "4.7": EXPIRED,
    "1.8": REJECTED,  # bad sender's system address
    "7.0": REJECTED,
}

# (reason, pattern) in priority order: the first that matches wins.
_TEXT_REASONS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        (
            MAILBOX_FULL,
            r"mail ?(box|folder)[^.\n]{0,30}\bfull|\bquota\b|storage (space )?exceeded"
            r"|insufficient (disk|storage)|\bis full\b|over ?quota|mailbox size limit"
            r"|bo[iî]te[^.\n]{0,30}pleine|espace (disque )?insuffisant|quota d[ée]pass[ée]"
            r"|capacit[ée] (de la bo[iî]te )?(est )?d[ée]pass[ée]e",
        ),
        (
            HOST_UNKNOWN,
            r"domain (name )?(not found|does not exist|unknown|inexistant)|host (or domain name )?"
            r"(not found|unknown)|unrouteable|no such domain|dns error|name or service not known"
            r"|\bno mx\b|domaine (inconnu|introuvable|inexistant)|nom de domaine (inconnu|invalide)"
            r"|h[ôo]te (inconnu|introuvable)|unknown host|hostunknown",
        ),
        (
            USER_UNKNOWN,
            r"user unknown|unknown user|no such (user|mailbox|recipient|address|account)"
            r"|(recipient|user|mailbox|address|account)[^.\n]{0,20}(does not exist|not found"
            r"|doesn't exist|unknown|not recogni[sz]ed|unavailable|invalid|disabled|inactive)"
            r"|invalid (recipient|mailbox|address|user)|unknown (recipient|mailbox|address)"
            r"|recipient rejected|recipientnotfound|doesn't have an? [^\n]{0,40}?account"
            r"|malformed address|no valid recipients?|bad (destination )?(mailbox )?address"
            r"|account (has been )?(disabled"
            r"|suspended|discontinued)|not our customer|adresse (e-?mail |de destination )?"
            r"(inconnue|invalide|inexistante|introuvable)|destinataire (inconnu|introuvable"
            r"|inexistant|invalide)|utilisateur (inconnu|introuvable)|n'existe (pas|plus)"
            r"|compte (d[ée]sactiv[ée]|supprim[ée]|inexistant)",
        ),
        (
            EXPIRED,
            r"expired|retry timeout|timeout exceeded|time limit|too long|delivery time"
            r"|could not be delivered within|d[ée]lai (de remise |d'acheminement )?"
            r"(d[ée]pass[ée]|expir[ée])|expir[ée]",
        ),
        (
            REJECTED,
            r"spam|blocked|block ?list|black ?list|\bpolicy\b|denied|refused|not permitted"
            r"|relay(ing)? (not permitted|denied|access denied)|insecure mail relay|virus"
            r"|reputation|\brbl\b|dnsbl|spamhaus|unwanted|junk|authentication|\bspf\b|\bdkim\b"
            r"|\bdmarc\b|rejected for policy|blacklisted|ind[ée]sirable|refus[ée]|bloqu[ée]"
            r"|rejet[ée]|politique|rejected",
        ),
    )
)

_PERMANENT_TEXT: Final = re.compile(
    r"permanent (error|failure)|failed permanently|fatal error|given up|gave up"
    r"|no further (delivery )?attempts|erreur (permanente|fatale|d[ée]finitive)"
    r"|[ée]chec (permanent|d[ée]finitif)",
    re.IGNORECASE,
)
_TRANSIENT_TEXT: Final = re.compile(
    r"temporar(y|ily)|has been delayed|will (be )?retr(y|ied)|still trying|warning message only"
    r"|not yet been delivered|erreur temporaire|temporairement|nouvel essai|sera retent[ée]",
    re.IGNORECASE,
)

_INFERRED_STATUS: Final = {
    USER_UNKNOWN: "1.1",
    MAILBOX_FULL: "2.2",
    HOST_UNKNOWN: "1.2",
    REJECTED: "7.1",
    EXPIRED: "4.7",
    OTHER: "0.0",
}


def find_status(text: str) -> str | None:
    """Return the first enhanced status code (``"5.1.1"``) in ``text``, or None."""
    match = STATUS_RE.search(text)
    return ".".join(match.groups()) if match else None


def find_reply_code(text: str) -> str | None:
    """Return the SMTP reply code (``"550"``) that ``text`` reports, or None.

    A code written just before an enhanced status code wins over any other.
    """
    match = REPLY_THEN_STATUS_RE.search(text)
    if match:
        return match.group(1)
    match = REPLY_RE.search(text)
    return match.group(1) if match else None


def find_status_and_reply(text: str) -> tuple[str | None, str | None]:
    """Return (enhanced status code, reply code) as the text gives them."""
    match = REPLY_THEN_STATUS_RE.search(text)
    if match:
        return match.group(2), match.group(1)
    return find_status(text), find_reply_code(text)


def reason_from_code(status: str | None) -> str | None:
    """Return the reason a specific enhanced code means, None if it is generic or absent."""
    if not status:
        return None
    klass, _, subject = status.partition(".")
    if subject in _GENERIC_SUBJECTS:
        return None
    if subject.startswith("7."):
        return REJECTED
    reason = _CODE_REASONS.get(subject)
    if reason == EXPIRED and klass not in ("4", "5"):
        return None
    return reason


def reason_from_text(text: str | None) -> str | None:
    """Return the reason the diagnostic text states (English or French), or None."""
    if not text:
        return None
    for reason, pattern in _TEXT_REASONS:
        if pattern.search(text):
            return reason
    return None


def permanence_from_text(text: str | None) -> bool | None:
    """True if the text says the failure is permanent, False if temporary, else None."""
    if not text:
        return None
    if _PERMANENT_TEXT.search(text):
        return True
    if _TRANSIENT_TEXT.search(text):
        return False
    return None


def classify(
    status: str | None,
    text: str | None,
    *,
    action: str | None = None,
    reply_code: str | None = None,
) -> tuple[bool, str]:
    """Return (permanent, reason) for a failure with this status code and diagnostic text.

    The class of the status code decides; then the class of the SMTP reply code;
    then the wording; then the action: a delay is transient, and a notice that
    the message failed, saying nothing more, is final (permanent).
    """
    reason = reason_from_code(status) or reason_from_text(text) or OTHER
    for code in (status, reply_code):
        if code and code[0] in "45":
            return code[0] == "5", reason
    permanent = permanence_from_text(text)
    if permanent is None:
        permanent = action != "delayed"
    return permanent, reason


def infer_status(reason: str, permanent: bool | None, reply_code: str | None) -> str | None:
    """Build an enhanced status code for a failure whose message gave none.

    The class comes from the reply code when there is one (``421`` gives 4.x.x),
    else from ``permanent``; the rest from the reason. None when nothing tells.
    """
    if reply_code and reply_code[0] in "45":
        klass = reply_code[0]
    elif permanent is not None:
        klass = "5" if permanent else "4"
    else:
        return None
    if reply_code and reason == OTHER:
        return f"{klass}.0.0"
    return f"{klass}.{_INFERRED_STATUS[reason]}"
