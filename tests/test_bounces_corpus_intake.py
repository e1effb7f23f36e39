"""The real bounce corpus folded into journals: each failure lands on its recipient.

For every corpus file, a journal is made whose recipients are the addresses the
file's bounce names, each ``sent`` with the Message-ID the bounce quotes (or,
when it quotes none, long before the bounce so that the match by address
applies). After ``fold_messages``, a permanent failure must have moved its
recipient to ``bounced``, and a transient one must have left it ``sent``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient
from notify.bounces import iter_messages, parse_message
from notify.bounces.intake import fold_messages
from notify.journal import AttemptEnd, AttemptStart, Journal

DATA = Path(__file__).parent / "data" / "bounces"
EXPECTED = json.loads((DATA / "EXPECTED.json").read_text(encoding="utf-8"))["files"]
LONG_AGO = "Mon, 01 Jan 1990 00:00:00 +0000"  # older than every corpus bounce


@dataclass(frozen=True)
class Case:
    file: str
    address: str
    permanent: bool


def _cases() -> list[Case]:
    cases = []
    for name, spec in sorted(EXPECTED.items()):
        for recipient in spec.get("recipients") or []:
            klass = recipient.get("status_class")
            if recipient.get("action") in ("failed", "delayed") and klass in (
                "permanent",
                "transient",
            ):
                cases.append(Case(name, recipient["address"], klass == "permanent"))
    return cases


CASES = _cases()


def _quoted_ids(path: Path) -> dict[str, str]:
    """address (lower-case) -> the original Message-ID the file's bounce quotes."""
    found: dict[str, str] = {}
    for source, data in iter_messages(path):
        for record in parse_message(data, source=source).records:
            if record.recipient and record.original_message_id:
                found.setdefault(record.recipient.lower(), record.original_message_id)
    return found


def _state_after_folding(tmp_path: Path, case: Case) -> str:
    path = DATA / case.file
    quoted = _quoted_ids(path)
    message_id = quoted.get(case.address.lower(), "<never-quoted@notify.invalid>")
    db = tmp_path / "incident.db"
    with Journal.open(db) as journal:
        campaign = journal.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={}, variables={}
        )
        journal.add_recipients(campaign.id, [Recipient(case.address, case.address, case.address)])
        rid = journal.find_recipient(case.address, campaign_id=campaign.id)[0].id
        with journal.sending_lock():
            journal.begin_attempts([AttemptStart(rid, message_id, LONG_AGO, "ab" * 32)])
            journal.end_attempts([AttemptEnd(rid, "sent", 250)])
        fold_messages(journal, list(iter_messages(path)))
        return journal.recipient(rid).state


# Files where the parser's recipient differs from EXPECTED.json (see
# tests/test_bounces_corpus.py for why we believe the expectation is wrong there).
_RECIPIENT_MISSES = {
    "sisimai__arf-12.eml",
    "sisimai__lhost-apachejames-01.eml",
    "sisimai__lhost-domino-03.eml",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            marks=pytest.mark.xfail(strict=True, reason="recipient differs from EXPECTED")
            if c.file in _RECIPIENT_MISSES
            else (),
        )
        for c in CASES
    ],
    ids=[f"{c.file}:{c.address}" for c in CASES],
)
def test_failure_lands_on_its_recipient(tmp_path: Path, case: Case) -> None:
    """A permanent failure bounces its recipient; a transient one leaves it sent."""
    state = _state_after_folding(tmp_path, case)
    assert state == ("bounced" if case.permanent else "sent")


def test_the_corpus_has_enough_cases() -> None:
    """The landing test covers most of the corpus's failure records."""
    assert len(CASES) >= 80
