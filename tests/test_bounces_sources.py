"""Reading bounces from mbox files, Maildir folders, .eml files and folders of .eml."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from notify.bounces import iter_messages
from notify.errors import SourceError

ONE = b"From: a@example.org\nDate: Mon, 01 Dec 2026 10:00:00 +0100\nSubject: one\n\nbody one\n"
TWO = b"From: b@example.org\nDate: Wed, 03 Dec 2026 10:00:00 +0100\nSubject: two\n\nbody two\n"


def write_mbox(path: Path) -> Path:
    path.write_bytes(
        b"From a@example.org Mon Dec  1 10:00:00 2026\n"
        + ONE
        + b"\nFrom b@example.org Wed Dec  3 10:00:00 2026\n"
        + TWO
    )
    return path


def test_mbox_yields_each_message_with_its_line(tmp_path: Path) -> None:
    """An mbox file gives one message per From_ line, named path:line."""
    path = write_mbox(tmp_path / "bounces.mbox")
    found = list(iter_messages(path))
    assert [where for where, _ in found] == [f"{path}:1", f"{path}:8"]
    assert found[0][1] == ONE
    assert found[1][1] == TWO


def test_mbox_since_skips_older_messages(tmp_path: Path) -> None:
    """With since, messages dated earlier are skipped."""
    path = write_mbox(tmp_path / "bounces.mbox")
    since = datetime(2026, 12, 2, tzinfo=UTC)
    assert [data for _, data in iter_messages(path, since=since)] == [TWO]


def test_naive_since_is_taken_as_utc(tmp_path: Path) -> None:
    """A since without a time zone is read as UTC."""
    path = write_mbox(tmp_path / "bounces.mbox")
    assert len(list(iter_messages(path, since=datetime(2026, 12, 2)))) == 1


def test_message_without_date_is_kept_by_since(tmp_path: Path) -> None:
    """A message with no readable Date is kept (it cannot be ruled out)."""
    path = tmp_path / "x.eml"
    path.write_bytes(b"Subject: no date\n\nbody\n")
    assert len(list(iter_messages(path, since=datetime(2030, 1, 1, tzinfo=UTC)))) == 1


def test_maildir_reads_new_then_cur(tmp_path: Path) -> None:
    """A Maildir yields the files of new/ then cur/, by name."""
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1:2,S").write_bytes(ONE)
    (tmp_path / "new" / "2").write_bytes(TWO)
    found = list(iter_messages(tmp_path))
    assert [data for _, data in found] == [TWO, ONE]
    assert found[0][0] == str(tmp_path / "new" / "2")


def test_folder_of_eml_files(tmp_path: Path) -> None:
    """A folder of .eml files yields each, in name order, other files ignored."""
    (tmp_path / "b.eml").write_bytes(TWO)
    (tmp_path / "a.eml").write_bytes(ONE)
    (tmp_path / "notes.txt").write_bytes(b"not mail")
    assert [data for _, data in iter_messages(tmp_path)] == [ONE, TWO]


def test_single_eml_file(tmp_path: Path) -> None:
    """An .eml file yields one message named by its path."""
    path = tmp_path / "one.eml"
    path.write_bytes(ONE)
    assert list(iter_messages(path)) == [(str(path), ONE)]


def test_missing_path_raises_source_error(tmp_path: Path) -> None:
    """A path that does not exist raises SourceError naming it."""
    with pytest.raises(SourceError, match="no such file"):
        list(iter_messages(tmp_path / "missing.mbox"))


def test_folder_without_mail_raises_source_error(tmp_path: Path) -> None:
    """A folder that is neither a Maildir nor holds .eml files raises SourceError."""
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(SourceError, match="neither a Maildir"):
        list(iter_messages(tmp_path))


def test_file_that_is_not_mail_raises_source_error(tmp_path: Path) -> None:
    """A file that is neither an mbox nor a message raises SourceError with a hint."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 binary")
    with pytest.raises(SourceError) as caught:
        list(iter_messages(path))
    assert caught.value.hint is not None
    assert "mbox" in caught.value.hint
