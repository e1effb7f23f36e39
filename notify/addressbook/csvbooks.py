"""CSV address-book reader: Outlook, Google, Thunderbird, LinkedIn, plain sheets.

:func:`read_csv` streams a CSV export into :class:`Entry` objects, one per data
row, and :class:`Problem` objects for rows that cannot be read. The steps:

1. the encoding comes from :mod:`notify.addressbook.textio`;
2. the delimiter (``,``, ``;`` or tab) is the one that occurs, outside quotes, the
   same number of times on most of the first lines;
3. the header row is found (a preamble such as LinkedIn's "Notes:" is skipped;
   a first row holding an address means there is no header at all) and turned
   into a :class:`~notify.addressbook.csvheaders.ColumnPlan` once;
4. each row then costs a few list look-ups. A row with the wrong number of cells,
   NUL bytes, a cell over :data:`FIELD_LIMIT` characters or a quote that never
   closes becomes a ``malformed`` Problem, and the lines after it are read again
   so that one broken row never swallows the rest of the file;
5. no physical line is held beyond :data:`LINE_LIMIT` characters: the rest of a
   longer one is read on in chunks and dropped, and the line is a ``malformed``
   Problem (a 1 GB line costs a few megabytes, not gigabytes).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from notify.addressbook import csvheaders
from notify.addressbook.csvheaders import ColumnPlan, PostalColumns
from notify.addressbook.model import Entry, Origin, Problem
from notify.addressbook.textio import open_text
from notify.errors import SourceError

FIELD_LIMIT = 256 * 1024  # characters in one cell: larger is an unclosed quote or garbage
LINE_LIMIT = 4 * FIELD_LIMIT  # characters in one physical line: the rest of a longer one is skipped
DELIMITERS = (",", ";", "\t")
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_LINES = 200


_REPLAY_BUDGET = 1_000_000  # lines read again after broken rows, per file
_QUOTED = re.compile(r'"[^"]*"')
_MULTI = re.compile(r"\s*(?::::|;)\s*")  # Google's " ::: ", and ";"
# Stands for a skipped overlong line: readline() never returns "" before the end of
# the file, and csv reads it as nothing (an empty row, or nothing added to a cell).
_SKIPPED = ""

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
    lines = _Lines(stream)
    sample, complete = _read_sample(lines)
    delimiter = sniff_delimiter(sample)
    # The plan is found on the sample alone, then the whole file is read from its
    # first line, so that every row (even the first ones) can be read again.
    first = list(_Rows(_Lines(io.StringIO()), sample, delimiter, str(path)))
    if not complete and first:
        first.pop()  # the sample may end inside the last row
    plan, header_line = csvheaders.find_plan(path, first, mapping)
    rows = _Rows(lines, sample, delimiter, str(path))
    yield from _Builder(plan, rows, str(path)).run(header_line)


def _read_sample(lines: _Lines) -> tuple[list[str], bool]:
    """The first lines of the file, and whether they are the whole file."""
    sample: list[str] = []
    size = 0
    while len(sample) < _SAMPLE_LINES and size < _SAMPLE_CHARS:
        line = lines.read()
        if not line:
            return sample, True
        if len(line) >= LINE_LIMIT:
            kept = list(lines.finish(line))  # a skipped line holds nothing
            sample.extend(kept)
            size += sum(map(len, kept))
        else:
            sample.append(line)
            size += len(line)
    return sample, False


class _Lines:
    """The physical lines of a text stream, none held beyond :data:`LINE_LIMIT`.

    Iterating reads lines of up to LINE_LIMIT characters at C speed; the reader
    hands a line that fills the limit to :meth:`finish`.
    """

    def __init__(self, stream: TextIO) -> None:
        self.read: Callable[[], str] = functools.partial(stream.readline, LINE_LIMIT)

    def __iter__(self) -> Iterator[str]:
        return iter(self.read, "")

    def finish(self, line: str) -> Iterator[str]:
        """The lines standing for ``line``, read up to LINE_LIMIT characters.

        A line that ends there is itself (with the ``\\n`` of a ``\\r\\n`` cut at
        the limit); a longer one is read on in chunks, dropped and replaced by
        :data:`_SKIPPED`. A line read to tell which comes after it.
        """
        read = self.read
        skipping = False
        while True:
            if len(line) < LINE_LIMIT or line[-1] == "\n":  # the line (or the file) ends
                yield _SKIPPED if skipping else line
                return
            if line[-1] == "\r":  # it ends, but "\r\n" may have been cut in two
                after = read()
                if after == "\n":
                    yield _SKIPPED if skipping else line + after
                    return
                yield _SKIPPED if skipping else line
                if not after:
                    return
                line, skipping = after, False
                continue
            skipping = True  # no end in sight: skip the rest, a chunk at a time
            line = read()


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


class _Rows:
    """Physical lines to csv rows, numbered by the line each row starts on.

    Keeps the lines of the current record so that, after a broken row, the
    lines following its first one can be read again (:meth:`replay`). An overlong
    line is read as :data:`_SKIPPED` and reported after the row it falls in.
    """

    def __init__(self, lines: _Lines, first: list[str], delimiter: str, path: str) -> None:
        self._lines = lines
        self._base = iter(lines)
        self._pending: deque[str] = deque(first)
        self._delimiter = delimiter
        self._path = path
        self.record: list[str] = []
        self._skipped: list[int] = []  # positions (from 1) in the record of skipped lines
        self._restart_at: int | None = None
        self._budget = _REPLAY_BUDGET

    def _feed(self) -> Iterator[str]:
        pending, record, skipped = self._pending, self.record, self._skipped
        base, finish, limit = self._base, self._lines.finish, LINE_LIMIT
        while True:
            while pending:
                line = pending.popleft()
                record.append(line)
                if not line:  # _SKIPPED
                    skipped.append(len(record))
                yield line
            for line in base:
                if len(line) >= limit:  # rare: the line may go on beyond the limit
                    pending.extend(finish(line))
                    break
                record.append(line)
                yield line
            else:
                return

    def _reader(self) -> Iterator[list[str]]:
        return csv.reader(self._feed(), delimiter=self._delimiter, strict=False)

    def replay(self, start: int) -> None:
        """Read again the lines of the current record after its first one (line ``start``)."""
        extra = [line or "\n" for line in self.record[1:]]  # a skipped line is reported once
        if extra and len(extra) <= self._budget:
            self._budget -= len(extra)
            self._pending.extendleft(reversed(extra))
            self._restart_at = start

    def __iter__(self) -> Iterator[Item]:
        record, skipped = self.record, self._skipped
        reader = self._reader()
        line = 0
        while True:
            if self._restart_at is not None:
                line, self._restart_at = self._restart_at, None
                reader = self._reader()
            record.clear()
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                start = line + 1
                line += len(record)
                yield self._error(start, exc)
                self.replay(start)
            else:
                start = line + 1
                line += len(record)
                if not row:
                    pass
                elif "\x00" in record[0] or (len(record) > 1 and any("\x00" in r for r in record)):
                    yield Problem(
                        Origin(self._path, start),
                        "malformed",
                        "the row contains NUL bytes (binary data); it was skipped",
                    )
                else:
                    yield start, row
            if skipped:
                yield from self._too_long(start)

    def _too_long(self, start: int) -> Iterator[Problem]:
        """A Problem for each overlong line of the record that began on line ``start``."""
        for position in self._skipped:
            number = start + position - 1
            yield Problem(
                Origin(self._path, number),
                "malformed",
                f"line {number} is too long (over {LINE_LIMIT} characters): skipped",
            )
        self._skipped.clear()

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
    """Turns rows into Entries with the column plan fixed once for the file."""

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

    def run(self, header_line: int) -> Iterator[Entry | Problem]:
        """Yield entries and problems for the rows after line ``header_line``."""
        items = iter(self.rows)
        for item in items:
            if header_line == 0 or _line(item) >= header_line:
                break  # the preamble and the header row itself are not contacts
        else:
            return
        if header_line == 0 or _line(item) > header_line:
            items = itertools.chain((item,), items)
        build = _entry_builder(self.plan, self.path)
        width, record = self.width, self.rows.record
        for item in items:
            if isinstance(item, Problem):
                yield item
                continue
            start, row = item
            if len(row) != width or len(record) > 1:
                problem = self.check(start, row)
                if problem is not None:
                    yield problem
                    continue
            entry = build(row, start)
            if entry is not None:
                yield entry

    def check(self, start: int, row: list[str]) -> Problem | None:
        """A Problem when the row's cells do not line up with the header."""
        n = len(row)
        fits = n == self.width or (
            self.need <= n < self.width or (n > self.width and not any(row[self.width :]))
        )
        record = self.rows.record
        if fits and not (len(record) > 1 and self._runaway(row)):
            return None
        if len(record) > 1:
            self.rows.replay(start)
            what = f"it spans {len(record)} lines (a quote that never closes?)"
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


def _line(item: Item) -> int:
    return item.origin.line if isinstance(item, Problem) else item[0]


def _split(indices: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """The first column of a field (-1, the empty cell appended to rows, if none)
    and the others, read only when the first is empty."""
    return (indices[0], indices[1:]) if indices else (-1, ())


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
    phones, groups = _cells(plan.phones), _cells(plan.groups)
    postal = [_postal_reader(columns) for columns in plan.postal]

    def build(row: list[str], start: int) -> Entry | None:
        row.append("")
        email, name, given, middle, family, civility, title, organization, language = scalars(row)
        if ":" in email or ";" in email or "," in email:
            found = _split_addresses(email)
        else:
            found = [email.strip()] if email else []
        if more_emails is not None:
            found += _emails(more_emails(row))
        entry = Entry(
            origin=Origin(path, start),
            emails=found,
            name=name.strip(),
            given_name=given.strip(),
            family_name=family.strip(),
            civility=civility.strip(),
            title=title.strip(),
            organization=organization.strip(),
            language=language.strip(),
            groups=_groups(groups(row)),
            phones=_emails(phones(row)),
            postal=[line for read in postal if (line := read(row))] if postal else [],
        )
        if fallback:
            _fill(entry, row, fallback)
        if not entry.name:
            middle = middle.strip() or (_first(row, m_more) if m_more else "")
            entry.name = _full_name(entry.given_name, middle, entry.family_name)
        if not (found or entry.name or entry.phones or any(row)):
            return None
        return entry

    return build


def _fill(entry: Entry, row: list[str], fallback: Mapping[str, tuple[int, ...]]) -> None:
    """Fields whose first column is empty: take the first non-empty other column."""
    for field, indices in fallback.items():
        if not getattr(entry, field):
            setattr(entry, field, _first(row, indices))


_FIELDS = {"given": "given_name", "family": "family_name"}


def _full_name(given: str, middle: str, family: str) -> str:
    if middle:
        return " ".join(part for part in (given, middle, family) if part)
    return f"{given} {family}".strip()


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
