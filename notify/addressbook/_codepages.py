"""Choosing the Windows code page of a file that is not UTF-8, from evidence.

Only the words that hold bytes above 0x7F carry evidence. Each candidate code
page decodes those words, and the decoded text is checked against facts of the
writing systems involved (not against letter statistics, which need far more
text than an address book holds):

- a letter run mixes no scripts (``Sören`` is Latin; ``Sצren`` is not a word);
- Latin words are mostly unaccented (``àôøéí`` is Hebrew read as Windows-1252);
- no symbol where a letter belongs (``÷``, ``³``, ``¤`` inside a word);
- case changes only at the start of a word (``ÂáããÝëçò`` is Greek read wrongly);
- Hebrew final letters (ך ם ן ף ץ) end words and Greek final sigma ends words;
  seeing them exactly at word ends is positive evidence for that script;
- Cyrillic ``й`` follows a vowel, and no word starts with ``ь``, ``ъ`` or ``ы``.

The candidate with the fewest contradictions wins; ties go to the earlier
candidate, so Windows-1252 wins for Western European text unless the bytes
contradict it. Code pages the file itself names (``CHARSET=`` in a vCard) are
tried first.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

DEFAULT = "cp1252"
CANDIDATES = ("cp1252", "iso8859-15", "cp1250", "cp1251", "cp1253", "cp1255")

_COMMON_NON_LETTERS = frozenset("€£§°«»–—‘’‚“”„…•·\u00a0™©®µ¿¡")
_HEBREW_FINALS = frozenset("ךםןףץ")
_GREEK_TONOS = frozenset("άέήίόύώΐΰΆΈΉΊΌΎΏ")
_CYRILLIC_VOWELS = frozenset("аеёиоуыэюяіїєАЕЁИОУЫЭЮЯІЇЄ")
_CYRILLIC_BAD_START = frozenset("ьъыЬЪЫ")
_CJK_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HALFWIDTH", "HANGUL"})
_WORD_BYTES = re.compile(rb"[^\s;:,=<>\"()\[\]/|]*[\x80-\xff][^\s;:,=<>\"()\[\]/|]*")


def evidence_words(data: bytes) -> list[bytes]:
    """The byte words of ``data`` that contain at least one byte above 0x7F."""
    return _WORD_BYTES.findall(data)


def choose(words: Iterable[bytes], hints: Iterable[str] = (), *, utf8: bool = False) -> str:
    """Return the candidate code page that best explains ``words``.

    ``hints`` are code pages named in the file; they are tried first. With
    ``utf8``, UTF-8 is tried before them: for a file that is not UTF-8 only
    because of lines that declare another charset, ``words`` (taken from the
    other lines) may all be UTF-8. A candidate that cannot decode every word is
    out. With no evidence at all, or no candidate left, the answer is Windows-1252.
    """
    sample = list(words)
    if not sample:
        return DEFAULT
    order = list(dict.fromkeys([*(["utf-8"] if utf8 else []), *hints, *CANDIDATES]))
    best: tuple[int, str] | None = None
    for encoding in order:
        score = _score(sample, encoding)
        if score is not None and (best is None or score < best[0]):
            best = (score, encoding)
    return DEFAULT if best is None else best[1]


def _score(words: list[bytes], encoding: str) -> int | None:
    total = 0
    for word in words:
        try:
            text = word.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            return None
        total += _word_penalty(text)
    return total


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    if char.isascii():
        return "LATIN"
    name = unicodedata.name(char, "UNKNOWN")
    first = name.split(" ", 1)[0]
    return "CJK" if first in _CJK_SCRIPTS else first


def _word_penalty(word: str) -> int:
    penalty = 0
    for char in word:
        if char.isascii() or char.isalpha() or char in _COMMON_NON_LETTERS:
            continue
        penalty += 1 if unicodedata.category(char).startswith("M") else 4
    for run in re.findall(r"[^\W\d_]+", word):
        penalty += _run_penalty(run)
    return penalty


def _run_penalty(run: str) -> int:
    scripts = {_script(c) for c in run}
    if len(scripts) > 1:
        return 4
    penalty = _case_penalty(run)
    script = scripts.pop()
    if script == "LATIN":
        accented = sum(1 for c in run if not c.isascii())
        if accented >= 2 and accented * 2 > len(run):
            penalty += 3
    elif script == "HEBREW":
        penalty += _final_letter_penalty(run, _HEBREW_FINALS)
    elif script == "GREEK":
        penalty += _final_letter_penalty(run, frozenset("ς"))
        if sum(1 for c in run if c in _GREEK_TONOS) > 1:
            penalty += 2
    elif script == "CYRILLIC":
        penalty += _cyrillic_penalty(run)
    return penalty


def _case_penalty(run: str) -> int:
    penalty = 0
    for prev, char in itertools.pairwise(run):
        if char.isupper() and prev.islower() and not (char.isascii() and prev.isascii()):
            penalty += 2
    return penalty


def _final_letter_penalty(run: str, finals: frozenset[str]) -> int:
    penalty = sum(3 for c in run[:-1] if c in finals)
    if len(run) >= 2 and run[-1] in finals:
        penalty -= 1
    return penalty


def _cyrillic_penalty(run: str) -> int:
    penalty = 3 if run[0] in _CYRILLIC_BAD_START else 0
    for prev, char in itertools.pairwise(run):
        if char in "йЙ" and prev not in _CYRILLIC_VOWELS:
            penalty += 2
    return penalty
