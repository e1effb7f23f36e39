"""CSV address-book reader (to be written)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from notify.addressbook.model import Entry, Problem


def read_csv(
    path: Path, *, encoding: str | None = None, mapping: Mapping[str, str] | None = None
) -> Iterator[Entry | Problem]:
    """Yield one Entry per data row of ``path``, and a Problem for each broken row."""
    raise NotImplementedError
