"""textio.Lines: physical lines cut a block at a time, as readline(newline="") cuts them,
numbered, overlong ones never held, blocks kept for reading again."""

from __future__ import annotations

import io
import re
import tracemalloc
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from notify.addressbook.textio import Lines

# The rule, written plainly: a line ends after "\n", "\r\n" or "\r" (nothing else);
# a line of `limit` characters or more, its end not counted, is read as "".
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def expected(text: str, limit: int) -> tuple[list[str], list[int]]:
    lines, skipped = [], []
    for number, line in enumerate(_LINE.findall(text), 1):
        if len(line.rstrip("\r\n")) >= limit:
            lines.append("")
            skipped.append(number)
        else:
            lines.append(line)
    return lines, skipped


def cut(text: str, limit: int, block: int) -> tuple[list[str], list[int], Lines]:
    lines = Lines(io.StringIO(text, newline=""), limit, block)
    out = [line for part in lines.blocks() for line in part]
    return out, lines.skipped, lines


TEXT = st.text(st.sampled_from(list('ab,"\r\n\x00é\x85\v\f\x1c\u2028\u2029')), max_size=200)


@settings(max_examples=500, deadline=None)
@given(TEXT, st.integers(2, 30), st.integers(1, 40))
def test_lines_are_cut_as_readline_cuts_them(text: str, limit: int, block: int) -> None:
    """Any text, any block size: the same lines (ends kept) and the same skipped ones."""
    out, skipped, lines = cut(text, limit, block)
    assert (out, skipped) == expected(text, limit)
    assert lines.count == len(out)
    assert bool(lines.nul) == ("\x00" in text)


def test_readline_agrees_with_the_rule() -> None:
    """The rule above is what io's readline() does with newline="" (csv's way)."""
    text = "a\r\nb\rc\nd\x85e\u2028f\vg\r\r\n\nh"
    assert list(io.StringIO(text, newline="")) == expected(text, 100)[0]


def test_crlf_split_between_two_blocks_is_one_line_end() -> None:
    """A "\\r" ending a block and the "\\n" opening the next make one "\\r\\n"."""
    out, _, _ = cut("abc\r\ndef\r\n", limit=50, block=4)
    assert out == ["abc\r\n", "def\r\n"]


def test_an_overlong_line_is_dropped_a_block_at_a_time(tmp_path: Path) -> None:
    """A 5,000,000-character line is never held: a few blocks of memory, one "" line."""
    path = tmp_path / "long.csv"
    path.write_text("a\n" + "x" * 5_000_000 + "\r\nb\n", encoding="utf-8", newline="")
    with path.open(encoding="utf-8", newline="") as stream:
        tracemalloc.start()
        try:
            lines = Lines(stream, limit=1000, block=500)
            out = [line for part in lines.blocks() for line in part]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (out, lines.skipped) == (["a\n", "", "b\n"], [2])
    assert peak < 200_000


def test_kept_blocks_give_lines_again_and_are_forgotten() -> None:
    """since() gives the lines from keep_from on; earlier blocks are let go."""
    lines = Lines(io.StringIO("".join(f"{n}\n" for n in range(1, 101))), 10, 8)
    feed = (line for part in lines.blocks() for line in part)
    for _ in range(50):
        next(feed)
    lines.keep_from = 48
    assert lines.since(49)[:3] == ["49\n", "50\n", "51\n"]
    rest = list(feed)
    assert rest[0] == "51\n"
    assert lines.since(99) == ["99\n", "100\n"]
    assert len(lines.since(48)) <= 53  # blocks before line 48 were dropped


def test_given_lines_report_their_skipped_ones() -> None:
    """Lines.given(sample): "" stands for a skipped line, NULs are flagged."""
    lines = Lines.given(["a\n", "", "b\x00\n"], 10)
    assert [line for part in lines.blocks() for line in part] == ["a\n", "", "b\x00\n"]
    assert (lines.skipped, bool(lines.nul), lines.count) == ([2], True, 3)
