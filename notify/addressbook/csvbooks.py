"""CSV address-book reader: Outlook, Google, Thunderbird, LinkedIn, plain sheets.

:func:`read_csv` streams a CSV export into :class:`Entry` objects, one per data
row, and :class:`Problem` objects for rows that cannot be read. The steps:

1. the encoding comes from :mod:`notify.addressbook.textio`;
2. the delimiter (``,``, ``;`` or tab) is the one that occurs, outside quotes, the
   same number of times on most of the first lines;
3. the header row is found (a preamble such as LinkedIn's "Notes:" is skipped;
   a first row holding an address means there is no header at all) and turned
   into a :class:`~notify.addressbook.csvheaders.ColumnPlan` once;
4. the text is cut into lines a block at a time (:class:`~notify.addressbook.textio.Lines`)
   and fed to ``csv.reader``, whose ``line_num`` numbers the rows; a row on one
   line with the header's width then costs a few list look-ups and one Entry.
   A row with the wrong number of cells, NUL bytes, a cell over
   :data:`FIELD_LIMIT` characters or a quote that never closes becomes a
   ``malformed`` Problem, and the lines after it are read again so that one
   broken row never swallows the rest of the file;
5. no physical line is held beyond :data:`LINE_LIMIT` characters: the rest of a
   longer one is read on a block at a time and dropped, and the line is a
   ``malformed`` Problem (a 1 GB line costs a few megabytes, not gigabytes).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from notify.addressbook import csvheaders
from notify.addressbook.csvheaders import ColumnPlan, PostalColumns
from notify.addressbook.model import Entry, Origin, Problem, make_origin
from notify.addressbook.textio import Lines, open_text
from notify.errors import SourceError

if TYPE_CHECKING:
    from _csv import Reader

FIELD_LIMIT = 256 * 1024  # characters in one cell: larger is an unclosed quote or garbage
LINE_LIMIT = 4 * FIELD_LIMIT  # characters in one physical line: the rest of a longer one is skipped
DELIMITERS = (",", ";", "\t")
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_LINES = 200


_REPLAY_BUDGET = 1_000_000  # lines read again after broken rows, per file
_QUOTED = re.compile(r'"[^"]*"')
_MULTI = re.compile(r"\s*(?::::|;)\s*")  # Google's " ::: ", and ";"

Item = csvheaders.Item


def read_csv(
    path: Path, *, encoding: str | None = None, mapping: Mapping[str, str] | None = None
) -> Iterator[Entry | Problem]:
    """Yield one Entry per data row of ``path``, and a Problem for each broken row.

    ``encoding`` skips detection (``--encoding``); ``mapping`` (``--map``) maps
    Entry fields (email, name, given_name, family_name, civility, title,
    organization, language, groups, phone) to column names or 1-based numbers.
    Raises :class:`SourceError` when the file cannot be read at all, has no
    e-mail column, or a mapped column does not exist (:class:`UsageError` for
    an unknown mapping key). Errors are raised on iteration, not on the call.
    """
    csv.field_size_limit(FIELD_LIMIT)
    path = Path(path)
    with open_text(path, encoding) as (stream, detected):
        if detected.guessed:
            yield Problem(
                Origin(str(path), 1),
                "encoding",
                f"the encoding was guessed as {detected.encoding}; if accented names look "
                "wrong, pass --encoding (e.g. cp1252, utf-8, utf-16)",
            )
        try:
            yield from _read(path, stream, mapping)
        except OSError as exc:
            raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None


def _read(
    path: Path, stream: TextIO, mapping: Mapping[str, str] | None
) -> Iterator[Entry | Problem]:
    """Find the column plan on the first lines; return the iterator over every row."""
    lines = Lines(stream, LINE_LIMIT)
    blocks = lines.blocks()
    sample, complete = _read_sample(blocks)
    delimiter = sniff_delimiter(sample)
    # The plan is found on the sample alone, then the whole file is read from its
    # first line, so that every row (even the first ones) can be read again.
    first: list[Item] = list(
        _Rows(Lines.given(sample, LINE_LIMIT), delimiter, str(path)).items(_as_item)
    )
    if not complete and first:
        first.pop()  # the sample may end inside the last row
    plan, header_line = csvheaders.find_plan(path, first, mapping)
    rows = _Rows(lines, delimiter, str(path), blocks, header_line)
    builder = _Builder(plan, rows, str(path))
    return rows.items(_entry_builder(plan, str(path)), builder.width, builder.check)


def _read_sample(blocks: Iterator[list[str]]) -> tuple[list[str], bool]:
    """The first lines of the file, and whether they are the whole file."""
    sample: list[str] = []
    size = 0
    for line in itertools.chain.from_iterable(blocks):
        if len(sample) >= _SAMPLE_LINES or size >= _SAMPLE_CHARS:
            return sample, False
        sample.append(line)
        size += len(line)
    return sample, len(sample) < _SAMPLE_LINES and size < _SAMPLE_CHARS


def _as_item(row: list[str], start: int) -> Item:
    return start, row


def sniff_delimiter(lines: Sequence[str]) -> str:
    """The delimiter found the same number of times, outside quotes, on most lines.

    Ties go to the larger count, then to ``,`` before ``;`` before tab; a file
    with none of them (one column) is read with ``,``.
    """
    text = _QUOTED.sub("", "".join(lines))
    logical = [line for line in text.splitlines() if line.strip(" ")]  # tabs count
    best: tuple[int, int, int] = (0, 0, 0)
    chosen = ","
    for order, delimiter in enumerate(DELIMITERS):
        counts = Counter(n for n in (line.count(delimiter) for line in logical) if n)
        if not counts:
            continue
        value, lines_agreeing = counts.most_common(1)[0]
        score = (lines_agreeing, value, -order)
        if score > best:
            best, chosen = score, delimiter
    return chosen


_T = TypeVar("_T")
# check(row, first line, last line): a Problem for a row that does not fit, or None
Check = Callable[[list[str], int, int], Problem | None]


class _Rows:
    """csv rows of :class:`Lines`, each numbered by the physical line it starts on.

    The line numbers come from the reader's ``line_num``; a row on one line whose
    cells match the header goes straight to ``build``. After a broken row the
    lines following its first one are read again (:meth:`replay`). The rows up to
    ``header_line`` (a preamble and the header row) are skipped. An overlong line
    is read as ``""`` and reported after the row it falls in.
    """

    def __init__(
        self,
        lines: Lines,
        delimiter: str,
        path: str,
        blocks: Iterator[list[str]] | None = None,
        header_line: int = 0,
    ) -> None:
        self._lines = lines
        self._blocks = lines.blocks() if blocks is None else blocks
        self._delimiter = delimiter
        self._path = path
        self._header = header_line  # > 0 until the header row is passed
        self._budget = _REPLAY_BUDGET
        self._replay = 0  # the first line of a broken row to read again after, or 0

    def _reader(self, first: int, end: int) -> Reader:
        """A csv reader of the lines from ``first``; those up to ``end`` are read again."""
        again = self._lines.since(first)
        if end >= first:  # a skipped line read again is an empty one, reported once
            again[: end - first + 1] = [line or "\n" for line in again[: end - first + 1]]
        feed = itertools.chain(again, itertools.chain.from_iterable(self._blocks))
        return csv.reader(feed, delimiter=self._delimiter, strict=False)

    def items(
        self,
        build: Callable[[list[str], int], _T | None],
        width: int = -1,
        check: Check | None = None,
    ) -> Iterator[_T | Problem]:
        """What ``build`` makes of each row, and the Problems, in file order.

        ``check`` is asked about rows that span lines or do not have ``width``
        cells; without it, every row is built.
        """
        lines = self._lines
        skipped, nul = lines.skipped, lines.nul
        reader = self._reader(1, 0)
        offset = end = 0  # line numbers: before the reader's first line; of the last row read
        fast = -1 if self._header else width  # rows of this width on one line: no question
        while True:
            try:
                for row in reader:
                    start = end + 1
                    end = offset + reader.line_num
                    lines.keep_from = end + 1
                    if end == start and len(row) == fast and not nul:
                        item = build(row, start)
                        if item is not None:
                            yield item
                    else:
                        yield from self._slow(row, start, end, build, check)
                        fast = -1 if self._header else width
                    if skipped:
                        yield from self._too_long(end)
                    if self._replay:
                        break
                else:
                    return
            except csv.Error as exc:
                start = end + 1
                end = offset + reader.line_num
                lines.keep_from = end + 1
                if self._keep(start):
                    yield self._error(start, exc)
                self.replay(start, end)
                if skipped:
                    yield from self._too_long(end)
            if self._replay:
                offset, last = self._replay, end
                self._replay = 0
                end = offset
                lines.keep_from = offset + 1
                reader = self._reader(offset + 1, last)

    def _slow(
        self,
        row: list[str],
        start: int,
        end: int,
        build: Callable[[list[str], int], _T | None],
        check: Check | None,
    ) -> Iterator[_T | Problem]:
        """A row that is not plainly one line of the right width: checked first."""
        if not row or not self._keep(start):
            return
        if self._lines.nul and any("\x00" in cell for cell in row):
            yield Problem(
                Origin(self._path, start),
                "malformed",
                "the row contains NUL bytes (binary data); it was skipped",
            )
            return
        if check is not None:
            problem = check(row, start, end)
            if problem is not None:
                yield problem
                return
        item = build(row, start)
        if item is not None:
            yield item

    def _keep(self, line: int) -> bool:
        """False for what comes before the header row, and for the header row itself."""
        header = self._header
        if not header:
            return True
        if line < header:
            return False
        self._header = 0
        return line > header

    def replay(self, start: int, end: int) -> None:
        """Read again the lines after ``start``, the first line of a row ending on ``end``."""
        if start < end <= start + self._budget:
            self._budget -= end - start
            self._replay = start

    def _too_long(self, end: int) -> Iterator[Problem]:
        """A Problem for each overlong line up to line ``end``."""
        skipped = self._lines.skipped
        while skipped and skipped[0] <= end:
            number = skipped.pop(0)
            if self._keep(number):
                yield Problem(
                    Origin(self._path, number),
                    "malformed",
                    f"line {number} is too long (over {LINE_LIMIT} characters): skipped",
                )

    def _error(self, start: int, exc: csv.Error) -> Problem:
        if "field limit" in str(exc):
            message = (
                f"a cell is longer than {FIELD_LIMIT} characters (a quote that never "
                "closes?); the row was skipped and the lines after it read again"
            )
        else:
            message = f"the row cannot be read as CSV ({exc}); it was skipped"
        return Problem(Origin(self._path, start), "malformed", message)


class _Builder:
    """Checks rows against the column plan fixed once for the file."""

    def __init__(self, plan: ColumnPlan, rows: _Rows, path: str) -> None:
        self.plan = plan
        self.rows = rows
        self.path = path
        self.width = len(plan.headers)
        if plan.has_header:  # rows may lack cells under trailing unnamed columns
            named = [i for i, h in enumerate(plan.headers) if h.strip()]
            self.need = max([*named, *plan.used()], default=0) + 1
        else:
            self.need = self.width
        self.strict = tuple(sorted({*plan.emails, *plan.name, *plan.given, *plan.family}))

    def check(self, row: list[str], start: int, end: int) -> Problem | None:
        """A Problem when the row's cells do not line up with the header."""
        n = len(row)
        fits = n == self.width or (
            self.need <= n < self.width or (n > self.width and not any(row[self.width :]))
        )
        spans = end - start + 1
        if fits and not (spans > 1 and self._runaway(row)):
            return None
        if spans > 1:
            self.rows.replay(start, end)
            what = f"it spans {spans} lines (a quote that never closes?)"
            tail = "; the row was skipped and the lines after it read again"
        else:
            what, tail = "", "; the row was skipped"
        if not fits:
            expected = "the header" if self.plan.has_header else "the first row"
            what = f"it has {n} cells where {expected} has {self.width}" + (
                f" and {what}" if what else " (a missing or extra separator or quote?)"
            )
        return Problem(Origin(self.path, start), "malformed", what + tail)

    def _runaway(self, row: list[str]) -> bool:
        return any("\n" in row[i] or "\r" in row[i] for i in self.strict if i < len(row))


def _cells(indices: tuple[int, ...]) -> Callable[[list[str]], tuple[str, ...]]:
    """A function returning the cells at ``indices`` as a tuple (C-level when it can)."""
    if len(indices) == 1:
        index = indices[0]
        return lambda row: (row[index],)
    if not indices:
        return lambda row: ()
    getter: Callable[[list[str]], tuple[str, ...]] = itemgetter(*indices)
    return getter


_SCALARS = ("emails", "name", "given", "middle", "family", "civility", "title", "organization")
# The fields the reader fills, in the order Entry's constructor takes them.
_POSITIONAL = (
    "origin", "emails", "preferred", "name", "given_name", "family_name", "civility", "title",
    "organization", "language", "groups", "phones", "postal",
)  # fmt: skip


def _entry_maker() -> Callable[..., Entry]:
    """Entry's constructor taking the :data:`_POSITIONAL` fields in that order.

    Positional arguments cost less than 12 keywords (on a million rows); should
    Entry's fields ever be declared in another order, keywords are used.
    """
    if tuple(f.name for f in dataclasses.fields(Entry))[: len(_POSITIONAL)] == _POSITIONAL:
        return Entry

    def by_name(*values: Any) -> Entry:
        return Entry(**dict(zip(_POSITIONAL, values, strict=True)))

    return by_name


def _entry_builder(plan: ColumnPlan, path: str) -> Callable[[list[str], int], Entry | None]:
    """The per-row function: every index is fixed here, once per file, so a row
    costs a few C-level look-ups (a million rows must read fast).

    The first column of each single-valued field is fetched by one itemgetter
    (index -1, an empty cell appended to each row, for a field the file lacks);
    the other columns of a field are read only when the first is empty.
    """
    scalars: Callable[[list[str]], tuple[str, ...]] = itemgetter(
        *(getattr(plan, attr)[0] if getattr(plan, attr) else -1 for attr in _SCALARS),
        plan.language[0] if plan.language else -1,
    )
    more = {attr: getattr(plan, attr)[1:] for attr in (*_SCALARS, "language")}
    more_emails = _cells(more.pop("emails")) if more["emails"] else None
    m_more = more.pop("middle")
    fallback = {_FIELDS.get(attr, attr): indices for attr, indices in more.items() if indices}
    phones = _cells(plan.phones) if plan.phones else None
    groups = _cells(plan.groups) if plan.groups else None
    postal = [_postal_reader(columns) for columns in plan.postal]
    make = _entry_maker()

    def build(row: list[str], start: int) -> Entry | None:
        row.append("")
        email, name, given, middle, family, civility, title, organization, language = scalars(row)
        if not email:
            found = []
        elif ":" in email or ";" in email or "," in email:
            found = _split_addresses(email)
        else:
            found = [email.strip()]
        if more_emails is not None:
            found += _emails(more_emails(row))
        given = given.strip()
        family = family.strip()
        entry = make(
            make_origin(path, start),
            found,
            0,
            name.strip(),
            given,
            family,
            civility.strip(),
            title.strip(),
            organization.strip(),
            language.strip(),
            [] if groups is None else _groups(groups(row)),
            [] if phones is None else _emails(phones(row)),
            [line for read in postal if (line := read(row))] if postal else [],
        )
        if fallback:
            _fill(entry, row, fallback)
            given, family = entry.given_name, entry.family_name
        if not entry.name:
            middle = middle.strip() or (_first(row, m_more) if m_more else "")
            if middle:
                entry.name = " ".join(part for part in (given, middle, family) if part)
            else:
                entry.name = f"{given} {family}".strip()
        if found or entry.name or entry.phones or any(row):
            return entry
        return None

    return build


def _fill(entry: Entry, row: list[str], fallback: Mapping[str, tuple[int, ...]]) -> None:
    """Fields whose first column is empty: take the first non-empty other column."""
    for field, indices in fallback.items():
        if not getattr(entry, field):
            setattr(entry, field, _first(row, indices))


_FIELDS = {"given": "given_name", "family": "family_name"}


def _first(row: list[str], indices: tuple[int, ...]) -> str:
    for i in indices:
        value = row[i].strip()
        if value:
            return value
    return ""


def _emails(cells: tuple[str, ...]) -> list[str]:
    """Every non-empty value of ``cells``, trimmed, multi-value cells split."""
    out: list[str] = []
    for value in cells:
        if value:
            if ":" in value or ";" in value or "," in value:
                out.extend(_split_addresses(value))
            elif value := value.strip():
                out.append(value)
    return out


def _split_addresses(value: str) -> list[str]:
    """Split a cell holding several addresses (" ::: " from Google, ";" or ",")."""
    out: list[str] = []
    for part in _MULTI.split(value):
        if part.count("@") > 1 and "," in part:
            out.extend(p.strip() for p in part.split(","))
        else:
            out.append(part.strip())
    return [p for p in out if p]


def _groups(cells: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for value in cells:
        if value:
            for part in _MULTI.split(value) if ";" in value or ":::" in value else (value,):
                name = part.strip().removeprefix("* ").strip()
                if name and name not in out:
                    out.append(name)
    return out


def _postal_reader(columns: PostalColumns) -> Callable[[list[str]], str]:
    """A function reading one postal address on one line:
    "street, more, postcode city, region, country" (or Google's formatted text)."""
    cells = _cells(
        (
            columns.postcode,
            columns.city,
            columns.region,
            columns.country,
            columns.formatted,
            *columns.parts,
        )
    )

    def read(row: list[str]) -> str:
        values = cells(row)
        if not any(values):
            return ""
        postcode, city, region, country, formatted, *streets = values
        if formatted.strip():
            return " ".join(", ".join(formatted.splitlines()).split()).strip(", ")
        parts = [*streets, f"{postcode.strip()} {city.strip()}", region, country]
        line = ", ".join(part for part in map(str.strip, parts) if part)
        return " ".join(line.split()) if "\n" in line or "\r" in line else line

    return read
