"""E-mail address clean-up, validation (no network) and identity.

``clean`` takes a value as an address book holds it (``"Name" <a@b>``,
``mailto:a@b``, stray spaces and quotes) and returns an :class:`Address`, or
raises :class:`InvalidAddress` with a reason a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

# A plain ASCII address of the usual shape: validated without email-validator's
# full machinery (which is kept for everything else).
_SIMPLE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_ANGLE = re.compile(r"<([^<>]*)>\s*$")


class InvalidAddress(ValueError):
    """A value that is not a usable e-mail address."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value!r} is not a valid e-mail address: {reason}")
        self.value = value
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Address:
    """A valid address: as written (domain lower-cased), ASCII form and identity key."""

    email: str  # local part as the source wrote it, domain lower-cased (Unicode form)
    ascii_email: str  # the domain in IDNA (xn--) form, for SMTP
    key: str  # identity: two addresses with the same key are one mailbox

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


def strip_wrappers(value: str) -> str:
    """Remove what surrounds an address: display names, ``<>``, ``mailto:``, quotes."""
    text = value.strip().strip("\u200b\ufeff")
    match = _ANGLE.search(text)
    if match:
        text = match.group(1)
    text = text.strip().strip("'\"").strip()
    if text[:7].lower() == "mailto:":
        text = text[7:].split("?", 1)[0]
    return text.strip().rstrip(";,").strip()


def clean(value: str) -> Address:
    """Validate ``value`` and return its normalised :class:`Address`."""
    text = strip_wrappers(value)
    if not text:
        raise InvalidAddress(value, "empty")
    if _SIMPLE.fullmatch(text) and len(text) <= 254:
        local, _, domain = text.rpartition("@")
        domain = domain.lower()
        return Address(f"{local}@{domain}", f"{local}@{domain}", f"{local.casefold()}@{domain}")
    if "@" not in text:
        raise InvalidAddress(value, "there is no @")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(value, str(exc).rstrip(".")) from None
    local = result.local_part
    domain = result.domain.lower()
    ascii_domain = (result.ascii_domain or result.domain).lower()
    return Address(
        f"{local}@{domain}", f"{local}@{ascii_domain}", f"{local.casefold()}@{ascii_domain}"
    )


def matches_domain(domain: str, domains: list[str] | tuple[str, ...]) -> bool:
    """True when ``domain`` is one of ``domains`` or a sub-domain of one."""
    domain = domain.lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)
