"""Streaming layer of the vCard reader: physical lines in, raw cards out.

Nothing here decodes values. Lines arrive as "transport" text: for files in an
ASCII-compatible encoding (UTF-8, Windows code pages, Shift_JIS) each character
is one byte (Latin-1), so a property's ``CHARSET`` can still decide how its bytes
are read; UTF-16 and UTF-32 files arrive already decoded.

Cards are cut on ``BEGIN:VCARD`` / ``END:VCARD`` lines while physical lines are
counted, so each card knows the line it starts on. Only the properties the
reader uses are kept; a 50 MB photo is skipped line by line and never joined.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

WANTED = frozenset(
    {"FN", "N", "EMAIL", "ORG", "TITLE", "ROLE", "LANG", "CATEGORIES", "TEL", "ADR", "VERSION"}
)
MAX_LINE = 64 * 1024  # a longer physical line is cut: no name or address is that long
MAX_VALUE = 64 * 1024  # a longer kept value is cut (and reported)
MAX_PROPERTIES = 5000  # kept properties per card (and reported beyond)
NO_CARD_LIMIT = 10_000  # physical lines without any BEGIN:VCARD: not a vCard file


@dataclass(slots=True)
class RawProperty:
    """One kept property: its name, the text before the value, and the value pieces.

    ``pieces`` holds the first value line, then each continuation as
    ``(folded, text)``: folded lines keep their leading blank (removed or kept
    according to the vCard version when joined); QP soft-break lines do not fold.
    """

    name: str
    head: str
    line: int
    pieces: list[tuple[bool, str]]
    size: int = 0
    cut: bool = False

    def value(self, version: str) -> str:
        """The unfolded value: 3.0 and 4.0 drop one blank per fold, 2.1 keeps it."""
        if len(self.pieces) == 1:
            return self.pieces[0][1]
        drop = 0 if version.startswith("2") else 1
        return "".join(text[drop:] if folded else text for folded, text in self.pieces)


@dataclass(slots=True)
class RawCard:
    """The kept properties of one card and what went wrong with its structure."""

    line: int
    properties: list[RawProperty] = field(default_factory=list)
    version: str = ""
    closed: bool = False  # an END:VCARD line was seen
    orphan: bool = False  # lines outside any BEGIN:VCARD ... END:VCARD
    last_line: int = 0
    bad_lines: list[int] = field(default_factory=list)
    broken: str = ""  # why the card is incomplete, for the user
    dropped: int = 0  # kept properties beyond MAX_PROPERTIES
    content_lines: int = 0  # non-blank lines that start a property or could not be read


class NotVCard(Exception):
    """The text holds no BEGIN:VCARD line where one was due."""


def physical_lines(stream: io.TextIOBase) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` without line ends; CR CR LF counts as one end.

    Lines longer than MAX_LINE are cut, and the rest of the line is skipped
    without being held in memory.
    """
    number = 0
    bare_cr = False
    while chunk := stream.readline(MAX_LINE):
        if bare_cr and chunk == "\r\n":
            bare_cr = False
            continue
        complete = chunk.endswith(("\n", "\r"))
        if not complete:
            while (rest := stream.readline(MAX_LINE)) and not rest.endswith(("\n", "\r")):
                pass
        bare_cr = chunk.endswith("\r")
        number += 1
        text = chunk.rstrip("\r\n")
        if number == 1:
            text = text.lstrip("\ufeff")
        yield number, text


def _marker(text: str) -> str:
    """``BEGIN`` or ``END`` for a vCard boundary line, else an empty string."""
    if text[:1] not in "bBeE" or len(text) > 40:
        return ""
    word = text.strip().upper().replace(" ", "")
    if word == "BEGIN:VCARD":
        return "BEGIN"
    if word == "END:VCARD":
        return "END"
    return ""


def _split_head(text: str) -> tuple[str, str] | None:
    """Split a property line at the colon that ends its name and parameters."""
    colon = text.find(":")
    if colon < 0:
        return None
    quote = text.find('"', 0, colon)
    if quote >= 0:
        inside = False
        for index, char in enumerate(text):
            if char == '"':
                inside = not inside
            elif char == ":" and not inside:
                return text[:index], text[index + 1 :]
    return text[:colon], text[colon + 1 :]


def property_name(head: str) -> str:
    """The property name of a head, upper-cased, without its group (``item1.``)."""
    name = head.partition(";")[0]
    if "." in name:
        name = name.rpartition(".")[2]
    return name.strip().upper()


class CardSplitter:
    """Turns physical lines into RawCard objects, one card in memory at a time."""

    def __init__(self) -> None:
        self.card: RawCard | None = None
        self.seen_card = False
        self.prop: RawProperty | None = None
        self.prop_qp = False
        self.prop_b64 = False
        self.prop_name = ""
        self.nested = 0
        self._last_raw = ""  # last value line of the property in progress, kept or not

    def feed(self, number: int, text: str) -> Iterator[RawCard]:
        """Take one physical line; yield any card it completes."""
        if self.nested:
            self._nested_line(text)
            return
        if self._continues(number, text):
            return
        marker = _marker(text)
        if marker == "BEGIN":
            yield from self._begin(number)
        elif marker == "END":
            yield from self._end(number)
        else:
            self._content(number, text)
            if not self.seen_card and number >= NO_CARD_LIMIT:
                raise NotVCard(f"no BEGIN:VCARD line in the first {NO_CARD_LIMIT} lines")

    def finish(self, last_number: int) -> Iterator[RawCard]:
        """End of input: yield the card still open, if any."""
        card = self.card
        self.card = None
        if card is None:
            return
        if not card.orphan and not card.broken:
            card.broken = f"the file ends on line {last_number} before its END:VCARD"
        if not self.seen_card and card.content_lines:
            raise NotVCard("no BEGIN:VCARD line")
        if card.content_lines or not card.orphan:
            yield card

    def _nested_line(self, text: str) -> None:
        marker = _marker(text)
        if marker == "BEGIN":
            self.nested += 1
        elif marker == "END":
            self.nested -= 1

    def _continues(self, number: int, text: str) -> bool:
        """Append ``text`` to the property in progress when it continues it."""
        soft_break = self.prop_qp and self._last_piece_is_soft_break()
        if self.prop_name and soft_break and not _marker(text):
            self._append(False, text)
            return True
        if text[:1] in (" ", "\t"):
            if text.strip() == "":
                self._close_property()
                return True
            if self.prop_name:
                self._append(True, text)
                return True
        return False

    def _last_piece_is_soft_break(self) -> bool:
        if self.prop is None:
            return self._last_raw.endswith("=")
        return self.prop.pieces[-1][1].rstrip(" \t").endswith("=")

    def _append(self, folded: bool, text: str) -> None:
        self._last_raw = text.rstrip(" \t")
        prop = self.prop
        if prop is None or prop.cut:
            return
        if prop.size + len(text) > MAX_VALUE:
            prop.cut = True
            return
        if not folded and prop.pieces:
            last_folded, last = prop.pieces[-1]
            prop.pieces[-1] = (last_folded, last.rstrip(" \t")[:-1])
        prop.pieces.append((folded, text))
        prop.size += len(text)

    def _close_property(self) -> None:
        self.prop = None
        self.prop_name = ""
        self.prop_qp = self.prop_b64 = False
        self._last_raw = ""

    def _begin(self, number: int) -> Iterator[RawCard]:
        card = self.card
        if card is not None and not card.orphan and self.prop_name == "AGENT":
            self.nested = 1  # a vCard 2.1 AGENT holds a whole card: skip it
            return
        self._close_property()
        if card is not None and (card.content_lines or not card.orphan):
            if not card.orphan:
                card.broken = f"a new BEGIN:VCARD on line {number} comes before its END:VCARD"
            yield card
        self.card = RawCard(line=number)
        self.seen_card = True

    def _end(self, number: int) -> Iterator[RawCard]:
        self._close_property()
        card = self.card
        if card is None or card.orphan:
            return  # a stray END:VCARD: nothing to close
        card.closed = True
        card.last_line = number
        self.card = None
        yield card

    def _content(self, number: int, text: str) -> None:
        stripped = text.strip()
        if not stripped:
            self._close_property()
            return
        if stripped.startswith("#"):
            self._close_property()
            return
        card = self.card
        if card is None:
            card = self.card = RawCard(line=number, orphan=True)
        card.last_line = number
        card.content_lines += 1
        split = _split_head(text)
        if split is None:
            if not self.prop_b64:  # unindented base64 (2.1) runs until a blank line
                self._close_property()
                card.bad_lines.append(number)
            return
        self._start_property(card, number, *split)

    def _start_property(self, card: RawCard, number: int, head: str, value: str) -> None:
        name = property_name(head)
        self.prop_name = name or "?"
        if ";" in head:
            upper_head = head.upper()
            self.prop_qp = "QUOTED-PRINTABLE" in upper_head
            self.prop_b64 = "BASE64" in upper_head or "ENCODING=B" in upper_head
        else:
            self.prop_qp = self.prop_b64 = False
        self._last_raw = value.rstrip(" \t")
        self.prop = None
        if name == "VERSION":
            card.version = value.strip()
            return
        if name not in WANTED:
            return
        if len(card.properties) >= MAX_PROPERTIES:
            card.dropped += 1
            return
        self.prop = RawProperty(name, head, number, [(False, value)], len(value))
        card.properties.append(self.prop)
