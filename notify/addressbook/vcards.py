"""vCard 2.1, 3.0 and 4.0 reader (to be written)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from notify.addressbook.model import Entry, Problem


def read_vcards(path: Path, *, encoding: str | None = None) -> Iterator[Entry | Problem]:
    """Yield one Entry per card of ``path``, and a Problem for each broken card."""
    raise NotImplementedError
