"""The CSV reader reads its text a block at a time: nothing it yields may depend on where
the blocks end; and the Entry it builds is the one Entry's own constructor builds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from notify.addressbook import csvbooks, textio
from notify.addressbook.csvbooks import read_csv
from notify.addressbook.model import Entry, Origin
from notify.errors import SourceError

DATA = Path(__file__).parent / "data"
FILES = sorted([*DATA.glob("csv/*.csv"), *DATA.glob("csv-own/*.csv")])


def outcome(path: Path) -> list[object]:
    """Everything read_csv says about ``path``, in order, as comparable values."""
    out: list[object] = []
    try:
        for item in read_csv(path):
            out.append(dataclasses.astuple(item))
    except SourceError as exc:
        out.append(str(exc))
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_reads_the_same_whatever_the_block_size(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each real and fictional export: the same entries, lines and problems when the
    blocks end every 7 characters (inside rows, quotes and "\\r\\n") as with one block."""
    whole = outcome(path)
    monkeypatch.setattr(textio, "BLOCK", 7)
    assert outcome(path) == whole
    assert whole


def test_rows_keep_their_lines_across_many_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 rows, every 7th with a quoted line break, one broken quote: each entry
    starts on its own physical line, over hundreds of block ends."""
    lines = ["Nom,Courriel,Address 1 - Formatted\r\n"]
    expected = []
    for n in range(3000):
        expected.append(len(lines) + 1)
        if n % 7 == 0:
            lines.append(f'Nom {n},n{n}@exemple.fr,"1 rue\r\n')
            lines.append('42000 Ville"\r\n')
        else:
            lines.append(f"Nom {n},n{n}@exemple.fr,\r\n")
    broken = len(lines) + 1
    lines.append('"Nom cassé,x@exemple.fr,\r\n')  # a quote that never closes
    lines.append("Dernier,d@exemple.fr,\r\n")
    path = tmp_path / "book.csv"
    path.write_text("".join(lines), encoding="utf-8", newline="")
    monkeypatch.setattr(textio, "BLOCK", 100)
    items = list(read_csv(path))
    entries = [i for i in items if isinstance(i, Entry)]
    problems = [i for i in items if not isinstance(i, Entry)]
    assert [e.origin.line for e in entries] == [*expected, broken + 1]
    assert entries[7].postal == ["1 rue, 42000 Ville"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", broken)]


def test_positional_entries_are_the_entries_keywords_make(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader passes Entry's fields by position while Entry declares them in that
    order, and by name otherwise: the same Entry either way."""
    values = (
        Origin("book.csv", 3), ["a@exemple.fr"], 0, "Noël Faure", "Noël", "Faure", "Dr",
        "Cardiologue", "Cabinet", "fr", ["Confrères"], ["06 00"], ["1 rue, 42000 Ville"],
    )  # fmt: skip
    by_name = Entry(**dict(zip(csvbooks._POSITIONAL, values, strict=True)))
    assert csvbooks._entry_maker() is Entry  # Entry's order today: the fast way is taken
    assert csvbooks._entry_maker()(*values) == by_name
    shuffled = tuple(reversed(csvbooks._POSITIONAL))
    monkeypatch.setattr(csvbooks, "_POSITIONAL", shuffled)  # as if Entry's order changed
    assert csvbooks._entry_maker() is not Entry
    assert csvbooks._entry_maker()(*reversed(values)) == by_name
