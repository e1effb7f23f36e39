"""Sent-folder reader: mbox file or Maildir (to be written)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from notify.addressbook.model import Entry, Problem


def read_sent_folder(
    path: Path,
    *,
    owner: str = "",
    since: datetime | None = None,
    min_count: int = 1,
    window: tuple[datetime, datetime] | None = None,
    window_only: bool = False,
) -> Iterator[Entry | Problem]:
    """Yield one Entry per recipient of the mail sent from ``owner``."""
    raise NotImplementedError
