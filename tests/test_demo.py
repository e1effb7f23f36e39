"""`notify demo`: the whole flow against its own server, leaving files one can inspect."""

from __future__ import annotations

from pathlib import Path

import pytest
from sendhelpers import assert_alone, delivered, notify

from notify.demo import demo_settings
from notify.journal import Journal

pytestmark = pytest.mark.integration
DEMO_SENDER = demo_settings(25).sender.address


def test_demo_leaves_an_outbox_a_maildir_and_a_consistent_journal(tmp_path: Path) -> None:
    """`notify demo --dir D` exits 0; D holds outbox/index.html, a Maildir with one
    message per recipient (each alone in To), and a journal whose counts match it."""
    work = tmp_path / "demo"
    run = notify(tmp_path, "demo", "--dir", str(work))
    assert run.code == 0, run.text
    assert (work / "outbox" / "index.html").is_file()
    items = delivered(work / "received")
    addresses = sorted(assert_alone(i, DEMO_SENDER) for i in items)
    with Journal.open(work / "incident.db", create=False) as journal:
        (campaign,) = journal.campaigns()
        counts = journal.counts(campaign.id)
        sent = sorted(r.ascii_email for r in journal.iter_recipients(campaign.id, states=["sent"]))
        assert journal.verify() is None
    assert counts["sent"] == sum(counts.values()) == len(items) > 0
    assert addresses == sent
    assert f"The server received {len(items)} messages." in run.out
    assert len(list((work / "outbox").glob("*.eml"))) == len(items)


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    """`notify demo --dir D` with files in D: exit 2, nothing touched."""
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    run = notify(tmp_path, "demo", "--dir", str(tmp_path))
    assert run.code == 2, run.text
    assert "is not empty" in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
