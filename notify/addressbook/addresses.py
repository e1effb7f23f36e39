"""E-mail address clean-up, validation (no network) and identity.

``clean`` takes a value as an address book holds it (``"Name" <a@b>``,
``mailto:a@b``, stray spaces and quotes) and returns an :class:`Address`, or
raises :class:`InvalidAddress` with a reason a person can act on.

The validation is email-validator's. A million addresses go through ``clean``
on a large import, so the usual shape takes a shorter road that ends in the same
place: a plain ASCII local part (the dot-atom rule email-validator applies,
checked with a few string methods) and a domain that email-validator itself has
judged, once per domain (its IDNA work included). Anything else, and every error
message, takes the full road.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
# A local part email-validator takes as it is (RFC 5322 dot-atom, ASCII: its
# DOT_ATOM_TEXT rule), not opening with a quote that strip_wrappers() would remove.
_LOCAL = re.compile(rf"(?!')[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_ANGLE = re.compile(r"<([^<>]*)>\s*$")
# Local parts email-validator lower-cases (RFC 2142 role mailboxes).
_CASELESS = frozenset(
    {
        "info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster",
        "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp",
    }
)  # fmt: skip
_MAX_LENGTH = 254  # octets in an address (RFC 5321), in each of its forms
_DOMAINS_KEPT = 4096  # domains remembered; the memory is forgotten when full


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


_new = object.__new__
_set_email = Address.__dict__["email"].__set__  # the slots, set as __init__ would
_set_ascii_email = Address.__dict__["ascii_email"].__set__
_set_key = Address.__dict__["key"].__set__


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


Verdict = tuple[str, str, int] | tuple[()]
# domain as written -> (Unicode form, IDNA form, the longest of the three in octets),
# or () when email-validator refuses it (the full road then says why).
_domains: dict[str, Verdict] = {}


def _judge_domain(domain: str) -> Verdict:
    """email-validator's verdict on ``domain``, behind an address it accepts as is."""
    verdict: Verdict
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        verdict = ()
    else:
        ascii_domain = result.ascii_domain or result.domain
        longest = max(len(s.encode()) for s in (domain, result.domain, ascii_domain))
        verdict = (result.domain.lower(), ascii_domain.lower(), longest)
    if len(_domains) >= _DOMAINS_KEPT:
        _domains.clear()
    _domains[domain] = verdict
    return verdict


def clean(value: str) -> Address:
    """Validate ``value`` and return its normalised :class:`Address`."""
    text = value
    local, _, domain = text.partition("@")
    if not _is_plain(local, domain):
        text = strip_wrappers(value)
        if not text:
            raise InvalidAddress(value, "empty")
        local, _, domain = text.partition("@")
        if not _is_plain(local, domain):
            return _validate(value, text)
    known = _domains.get(domain)
    if known is None:
        known = _judge_domain(domain)
    if not known or len(local) + 1 + known[2] > _MAX_LENGTH:
        return _validate(value, text)
    unicode_domain, ascii_domain, _ = known
    key = local.casefold()  # ASCII: the same as lower()
    if key in _CASELESS:
        local = key
    email = f"{local}@{unicode_domain}"
    # The usual case (ASCII domain, lower-case local part) shares one string.
    ascii_email = email if ascii_domain == unicode_domain else f"{local}@{ascii_domain}"
    address = _new(Address)  # Address(...) without its frozen __init__: 3 times cheaper
    _set_email(address, email)
    _set_ascii_email(address, ascii_email)
    _set_key(address, ascii_email if key == local else f"{key}@{ascii_domain}")
    return address


def _is_plain(local: str, domain: str) -> bool:
    """True for ``local@domain`` that email-validator reads as that local part and that
    domain, and that strip_wrappers() leaves as it is.

    The local part is an ASCII dot-atom not opening with a quote (:data:`_LOCAL`,
    with a shortcut for letters, digits and dots); the domain ends with a letter or
    a digit (no space, quote, ``>``, ``;`` or ``,`` that strip_wrappers() would
    remove) and is judged as a whole by email-validator (an ``@`` in it makes it
    invalid).
    """
    if not domain or not domain[-1].isalnum():
        return False
    if local.isascii() and local.replace(".", "").isalnum():  # the usual: letters, digits, dots
        return local[0] != "." and local[-1] != "." and ".." not in local
    return _LOCAL.fullmatch(local) is not None


def _validate(value: str, text: str) -> Address:
    """The full road: email-validator on the unwrapped ``text`` of ``value``."""
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
