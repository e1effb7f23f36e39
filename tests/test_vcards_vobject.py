"""Differential test: where vobject (the reference library) reads a corpus file,
our reader finds the same addresses, card for card.

notify reads vCards with its own streaming parser (vobject fails on a quarter of
the real exports in the corpus); this keeps it honest against vobject wherever
vobject succeeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vobject

from notify.addressbook.addresses import strip_wrappers
from notify.addressbook.model import Entry
from notify.addressbook.textio import open_text
from notify.addressbook.vcards import read_vcards

DATA = Path(__file__).parent / "data" / "vcards"
FILES = sorted(DATA.glob("*.vcf"))


def _vobject_emails(path: Path) -> list[list[str]] | None:
    """Each card's EMAIL values as vobject reads them, or None when vobject fails."""
    try:
        with open_text(path) as (stream, _):
            text = stream.read()
        cards = list(vobject.readComponents(text, ignoreUnreadable=False))
    except Exception:  # any failure of the reference: nothing to compare
        return None
    emails = [
        [str(e.value).strip() for e in card.contents.get("email", [])]
        for card in cards
        if card.name.upper() == "VCARD"
    ]
    return emails or None  # none: vobject silently read no card ("BEGIN:VCARD " + space)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_same_addresses_as_vobject(path: Path) -> None:
    """Every address vobject finds in a card, our reader finds in the same card."""
    reference = _vobject_emails(path)
    if reference is None:
        pytest.skip("vobject cannot read this file")
    ours = [e for e in read_vcards(path) if isinstance(e, Entry)]
    assert len(ours) == len(reference)
    for entry, emails in zip(ours, reference, strict=True):
        expected = [strip_wrappers(e) for e in emails if e]
        assert [strip_wrappers(e) for e in entry.emails if e] == expected


def test_vobject_reads_most_of_the_corpus() -> None:
    """The comparison is meaningful: vobject reads at least half of the corpus files."""
    readable = sum(1 for path in FILES if _vobject_emails(path) is not None)
    assert readable >= len(FILES) // 2
