"""vCard 2.1, 3.0 and 4.0 reader.

``read_vcards(path)`` streams a ``.vcf`` file: it yields one :class:`Entry` per
card, in file order, each with the line its card starts on, and a
:class:`Problem` for anything the user should check (a broken card, bytes in an
unexpected encoding, a value that had to be cut). It raises
:class:`~notify.errors.SourceError` only when the file cannot be read at all or
is not a vCard file.

The reader parses the properties it needs itself (FN, N, EMAIL, ORG, TITLE,
ROLE, LANG, CATEGORIES, TEL, ADR) rather than through vobject: vobject reads
about 1,600 cards a second, builds every component (photos included) and stops
at the first odd line of a card, which real exports are full of (2.1
QUOTED-PRINTABLE soft breaks, ``#`` lines, CR CR LF, per-property ``CHARSET``).
See :mod:`notify.addressbook._vcardlines` and :mod:`notify.addressbook._vcardvalues`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from notify.addressbook._vcardlines import (
    CardSplitter,
    NotVCard,
    RawCard,
    RawProperty,
    physical_lines,
)
from notify.addressbook._vcardvalues import (
    FileCodec,
    Params,
    decode,
    parse_params,
    split_unescaped,
    unescape,
)
from notify.addressbook.model import Entry, Origin, Problem
from notify.addressbook.textio import detect_encoding, is_ascii_compatible
from notify.errors import SourceError

_NO_PREF = 1000
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uff66-\uff9f]")
_ADDRESS_LIKE = re.compile(r"[^\s<>\"',;:]+@[^\s<>\"',;:]+")


def read_vcards(path: Path, *, encoding: str | None = None) -> Iterator[Entry | Problem]:
    """Yield one Entry per card of ``path``, and a Problem for each broken card.

    ``encoding`` (``--encoding``) overrides detection. Cards are read one at a
    time; memory does not grow with the file. A broken card is read as far as
    it goes (name, addresses) and reported with the line it starts on.
    """
    detected = detect_encoding(path, encoding)
    byte_transport = is_ascii_compatible(detected.encoding)
    codec = FileCodec(detected.encoding, byte_transport, detected.guessed)
    reader = _CardReader(str(path), codec)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    raw.seek(detected.bom_length)
    transport = "latin-1" if byte_transport else detected.encoding
    with io.TextIOWrapper(raw, encoding=transport, errors="replace", newline="") as text:
        try:
            yield from reader.read(text)
        except NotVCard as exc:
            raise SourceError(
                f"not a vCard file: {exc}",
                path=path,
                hint="Give a .vcf export of the address book (or a CSV or mailbox source).",
            ) from None
        except OSError as exc:
            raise SourceError(f"reading failed: {exc.strerror or exc}", path=path) from None


class _CardReader:
    """Turns the raw cards of one file into entries and problems."""

    def __init__(self, path: str, codec: FileCodec) -> None:
        self.path = path
        self.codec = codec
        self.encoding_reported = False

    def read(self, text: io.TextIOBase) -> Iterator[Entry | Problem]:
        splitter = CardSplitter()
        number = 0
        for number, line in physical_lines(text):
            for card in splitter.feed(number, line):
                yield from self.card(card)
        for card in splitter.finish(number):
            yield from self.card(card)

    def card(self, card: RawCard) -> Iterator[Entry | Problem]:
        """Yield the entry of one card, then what the user should know about it."""
        origin = Origin(self.path, card.line)
        problems: list[Problem] = []
        try:
            entry = _Builder(origin, card, self.codec, problems).build()
        except Exception as exc:  # a last line of defence: one card never stops the file
            entry = _salvage(origin, card)
            problems.append(_problem(origin, f"this card could not be read ({exc!r})"))
        if card.orphan and not (entry.emails or entry.name):
            yield _problem(origin, _orphan_message(card, salvaged=False))
            return
        yield entry
        yield from self._structure_problems(origin, card)
        for problem in problems:
            if problem.kind == "encoding" and problem.message.startswith("no encoding"):
                if self.encoding_reported:
                    continue
                self.encoding_reported = True
            yield problem

    def _structure_problems(self, origin: Origin, card: RawCard) -> Iterator[Problem]:
        if card.orphan:
            yield _problem(origin, _orphan_message(card, salvaged=True))
        elif card.broken:
            yield _problem(
                origin,
                f"broken card: {card.broken}; its name and addresses were salvaged, "
                "check this contact",
            )
        if card.bad_lines:
            lines = ", ".join(str(n) for n in card.bad_lines[:5])
            more = f" and {len(card.bad_lines) - 5} more" if len(card.bad_lines) > 5 else ""
            yield _problem(origin, f"line(s) {lines}{more} of this card are not vCard, skipped")
        if card.dropped:
            yield _problem(origin, f"{card.dropped} properties beyond the first 5000 ignored")


def _orphan_message(card: RawCard, *, salvaged: bool) -> str:
    where = f"lines {card.line}-{card.last_line}" if card.last_line > card.line else "this line"
    if salvaged:
        return (
            f"{where} are outside any BEGIN:VCARD ... END:VCARD; "
            "read as a contact (salvaged), check it"
        )
    return f"{where} are outside any BEGIN:VCARD ... END:VCARD and were skipped"


def _problem(origin: Origin, message: str, kind: str = "malformed") -> Problem:
    return Problem(origin, "encoding" if kind == "encoding" else "malformed", message)


def _salvage(origin: Origin, card: RawCard) -> Entry:
    """The addresses of a card read as plain text, when nothing else worked."""
    entry = Entry(origin=origin)
    for prop in card.properties:
        if prop.name == "EMAIL":
            entry.emails.extend(_ADDRESS_LIKE.findall(prop.value("3.0")))
    return entry


class _Builder:
    """Builds the Entry of one card from its kept properties."""

    def __init__(
        self, origin: Origin, card: RawCard, codec: FileCodec, problems: list[Problem]
    ) -> None:
        self.origin = origin
        self.card = card
        self.codec = codec
        self.problems = problems
        self.entry = Entry(origin=origin)
        self.email_ranks: list[int] = []
        self.n_parts: list[str] = []
        self.role = ""
        self.lang_rank = _NO_PREF + 1

    def build(self) -> Entry:
        """Read every kept property, then fill what depends on several of them."""
        for prop in self.card.properties:
            params = parse_params(prop.head)
            text = self._text(prop, params)
            self._apply(prop.name, text, params)
        entry = self.entry
        entry.name = _clean(entry.name) or _name_from_n(self.n_parts)
        entry.title = entry.title or self.role
        if self.email_ranks:
            best = min(self.email_ranks)
            entry.preferred = self.email_ranks.index(best) if best < _NO_PREF else 0
        return entry

    def _text(self, prop: RawProperty, params: Params) -> str:
        decoded = decode(prop, params, self.card.version, self.codec)
        where = Origin(self.origin.path, prop.line)
        if params.bad_charset:
            message = f"unknown CHARSET {params.bad_charset!r} on {prop.name}"
            self.problems.append(_problem(where, message, "encoding"))
        if decoded.note:
            self.problems.append(_problem(where, f"{prop.name}: {decoded.note}", "encoding"))
        elif decoded.used_file_encoding and self.codec.guessed:
            message = (
                f"no encoding declared: read as {self.codec.encoding} (detected); "
                "if names look wrong, give the encoding explicitly"
            )
            self.problems.append(_problem(where, message, "encoding"))
        if prop.cut:
            self.problems.append(_problem(where, f"{prop.name} is too long and was cut"))
        return decoded.text

    def _apply(self, name: str, text: str, params: Params) -> None:
        entry = self.entry
        if name == "EMAIL":
            self._email(text, params)
        elif name == "FN" and not entry.name.strip():
            entry.name = unescape(text)
        elif name == "N" and not self.n_parts:
            self._n(text)
        elif name == "ORG" and not entry.organization:
            entry.organization = _clean(split_unescaped(text, ";")[0])
        elif name == "TITLE" and not entry.title:
            entry.title = _clean(unescape(text))
        elif name == "ROLE" and not self.role:
            self.role = _clean(unescape(text))
        elif name == "LANG":
            self._lang(text, params)
        elif name == "CATEGORIES":
            _add_unique(entry.groups, (_clean(c) for c in split_unescaped(text, ",")))
        elif name == "TEL":
            _add_unique(entry.phones, [_phone(unescape(text))])
        elif name == "ADR":
            _add_unique(entry.postal, [_format_adr(split_unescaped(text, ";"))])

    def _email(self, text: str, params: Params) -> None:
        value = unescape(text).strip()
        if not value:
            return
        self.entry.emails.append(value)
        if params.pref is not None:
            rank = params.pref
        elif "pref" in params.types:
            rank = 1
        else:
            rank = _NO_PREF
        self.email_ranks.append(rank)

    def _n(self, text: str) -> None:
        parts = [_clean(part) for part in split_unescaped(text, ";")]
        if not any(parts):
            return
        self.n_parts = parts
        parts = [*parts, "", "", "", ""]
        self.entry.family_name, self.entry.given_name = parts[0], parts[1]
        self.entry.civility = parts[3]

    def _lang(self, text: str, params: Params) -> None:
        primary = re.split(r"[-_]", text.strip(), maxsplit=1)[0].lower()
        if not (primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 8):
            return
        rank = params.pref if params.pref is not None else _NO_PREF
        if rank < self.lang_rank:
            self.entry.language = primary
            self.lang_rank = rank


def _clean(text: str) -> str:
    """Collapse runs of blanks and line breaks into one space, trim the ends."""
    return " ".join(text.split())


def _phone(text: str) -> str:
    """A telephone number as written, without a ``tel:`` URI prefix (vCard 4.0)."""
    text = _clean(text)
    return text[4:] if text[:4].lower() == "tel:" else text


def _add_unique(target: list[str], values: Iterable[str]) -> None:
    for value in values:
        if value and value not in target:
            target.append(value)


def _name_from_n(parts: list[str]) -> str:
    """A display name built from N when FN is missing or empty.

    Western order (given, additional, family: ``Franz M. Branntwein``); names in
    Chinese, Japanese or Korean script keep family first, without spaces.
    """
    family, given, additional = [*parts, "", "", ""][:3]
    additional = " ".join(a.strip() for a in additional.split(",") if a.strip())
    if _CJK.search(family + given):
        return "".join((family, given, additional))
    return " ".join(part for part in (given, additional, family) if part)


def _format_adr(parts: list[str]) -> str:
    """One line from ADR components: street parts, postcode and town, region, country."""
    lines = [
        ", ".join(c for c in (_clean(line).strip(" ,") for line in part.splitlines()) if c)
        for part in parts
    ]
    pobox, extended, street, town, region, code, country = [*lines, "", "", "", "", "", "", ""][:7]
    pieces = [pobox, extended, street, " ".join(p for p in (code, town) if p), region, country]
    return ", ".join(piece for piece in pieces if piece)
