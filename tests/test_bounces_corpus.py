"""The bounce parser against the real-world corpus in tests/data/bounces (EXPECTED.json).

How a parsed record is compared with an expected one (also used by
bench/bench_bounces.py through :func:`corpus_accuracy`):

- recipient: same address, case-insensitive;
- status: same code; except that sisimai synthesises codes of its own when a
  message has none (x.0.9xx, e.g. 5.0.911): those only require the same class
  digit; and an expected null status accepts no status or an inferred one
  (``status_inferred``: the message did not write a code);
- permanent: 5.x.x expected gives True, 4.x.x False; a null class gives None,
  unless sisimai's hard-bounce flag is true (then True);
- kind: every failure, delay or success notice may be ``dsn`` or ``bounce``;
  auto-replies, ARF reports, read receipts and ordinary messages have their kind.

Expected records are paired with parsed ones by address, then by position.
A few corpus files hold two messages (mbox style, ``From `` lines): they are read
with :func:`iter_messages` and their records put together, as sisimai does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from notify.bounces import BounceRecord, BounceReport, iter_messages, parse_message

CORPUS = Path(__file__).parent / "data" / "bounces"

KINDS = {
    "bounce / failure notification": ("dsn", "bounce"),
    "delay DSN (action delayed)": ("dsn", "bounce"),
    "success DSN (action delivered)": ("dsn", "bounce"),
    "auto-reply (RFC 3834 vacation)": ("auto-reply",),
    "feedback report (ARF, RFC 5965), not a delivery failure": ("feedback-report",),
    "ordinary message, not a bounce": ("not-bounce",),
}

# file -> {test field: reason} for the misses that remain; strict xfail in the tests.
# Each is a case where we think the expectation, not the parser, is debatable.
KNOWN_MISSES: dict[str, dict[str, str]] = {
    "flanker__bounce_broken-mime.eml": {
        "permanent": "EXPECTED leaves permanence unknown; notify reads a final non-delivery "
        "notice ('Delivery failed 10 attempts') that gives no code and no 'temporary' "
        "wording as permanent (RFC 3464 'failed': will not be retried)",
    },
    "sisimai__arf-12.eml": {
        "recipient": "EXPECTED holds sisimai's placeholder 'undisclosed-recipient-in-headers@"
        "libsisimai.org.invalid'; the report's Removal-Recipient user@example.com is given",
    },
    "sisimai__lhost-apachejames-01.eml": {
        "recipient": "EXPECTED has 11 zeros; the file's only address ('RCPT TO:') has 12",
    },
    "sisimai__lhost-domino-03.eml": {
        "recipient": "EXPECTED follows the notice text (.com); the DSN Final-Recipient and the "
        "returned message's To both say kijitora@neko.example.org, which notify keeps",
    },
}


def load_expected(folder: Path = CORPUS) -> dict[str, dict[str, Any]]:
    """Return EXPECTED.json's per-file expectations."""
    data = json.loads((folder / "EXPECTED.json").read_text(encoding="utf-8"))
    files: dict[str, dict[str, Any]] = data["files"]
    return files


def accepted_kinds(expected: dict[str, Any]) -> tuple[str, ...]:
    """The parser kinds that agree with an EXPECTED.json kind description."""
    kind = str(expected["kind"])
    if kind in KINDS:
        return KINDS[kind]
    if "disposition" in kind:
        return ("receipt",)
    return ("dsn", "bounce")


def expected_permanent(expected: dict[str, Any]) -> bool | None:
    """The permanence an expected record implies."""
    status_class = expected.get("status_class")
    if status_class == "permanent":
        return True
    if status_class == "transient":
        return False
    return True if expected.get("sisimai_hardbounce") is True else None


def status_matches(expected: str | None, record: BounceRecord | None) -> bool:
    """True when the parsed status agrees with the expected one (see module docstring)."""
    got = record.status if record else None
    if expected is None:
        return got is None or (record is not None and record.status_inferred)
    if got is None:
        return False
    parts = expected.split(".")
    if len(parts) == 3 and parts[1] == "0" and parts[2].isdigit() and int(parts[2]) >= 900:
        return got[0] == expected[0]
    return got == expected


def pair(expected: list[dict[str, Any]], records: list[BounceRecord]) -> list[BounceRecord | None]:
    """For each expected record, the parsed record it is compared with (or None)."""
    free = list(records)
    paired: list[BounceRecord | None] = []
    for item in expected:
        address = str(item["address"]).lower()
        match = next((r for r in free if (r.recipient or "").lower() == address), None)
        if match is not None:
            free.remove(match)
        paired.append(match)
    for index, found in enumerate(paired):
        if found is None and free:
            paired[index] = free.pop(0)
    return paired


@dataclass
class Accuracy:
    """Counts over the corpus: one check per expected record and field."""

    total: int = 0
    recipient: int = 0
    status: int = 0
    permanent: int = 0
    files: int = 0
    kind: int = 0
    misses: list[str] = field(default_factory=list)

    def ratio(self, name: str) -> float:
        """The share of expected records whose ``name`` field was right."""
        denominator = self.files if name == "kind" else self.total
        return getattr(self, name) / denominator if denominator else 1.0


def check_file(name: str, expected: dict[str, Any], report: BounceReport, acc: Accuracy) -> None:
    """Add one file's results to ``acc``."""
    acc.files += 1
    if report.kind in accepted_kinds(expected):
        acc.kind += 1
    else:
        acc.misses.append(f"{name}: kind {report.kind!r}, expected {expected['kind']!r}")
    wanted = expected["recipients"]
    for item, record in zip(wanted, pair(wanted, report.records), strict=True):
        acc.total += 1
        got = record.recipient if record else None
        if got is not None and got.lower() == str(item["address"]).lower():
            acc.recipient += 1
        else:
            acc.misses.append(f"{name}: recipient {got!r}, expected {item['address']!r}")
        if status_matches(item["status"], record):
            acc.status += 1
        else:
            got_status = record.status if record else None
            acc.misses.append(f"{name}: status {got_status!r}, expected {item['status']!r}")
        permanent = record.permanent if record else None
        if permanent == expected_permanent(item):
            acc.permanent += 1
        else:
            acc.misses.append(
                f"{name}: permanent {permanent!r}, expected {expected_permanent(item)!r}"
            )


def parse_file(path: Path) -> BounceReport:
    """Parse every message of a corpus file: the first one's report with all records."""
    reports = [parse_message(data, source=where) for where, data in iter_messages(path)]
    report = reports[0]
    for other in reports[1:]:
        report.records.extend(other.records)
    return report


def corpus_accuracy(folder: Path = CORPUS, names: list[str] | None = None) -> Accuracy:
    """Parse the corpus files (or ``names`` only) and count what agrees with EXPECTED.json."""
    expected = load_expected(folder)
    acc = Accuracy()
    for name in sorted(names if names is not None else expected):
        check_file(name, expected[name], parse_file(folder / name), acc)
    return acc


EXPECTED = load_expected()


def _params(field_name: str) -> list[Any]:
    params = []
    for name in sorted(EXPECTED):
        reason = KNOWN_MISSES.get(name, {}).get(field_name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(name, id=name.removesuffix(".eml"), marks=marks))
    return params


def _parse(name: str) -> BounceReport:
    return parse_file(CORPUS / name)


@pytest.mark.parametrize("name", _params("kind"))
def test_kind(name: str) -> None:
    """Each corpus file is recognised as the kind of message EXPECTED.json says."""
    assert _parse(name).kind in accepted_kinds(EXPECTED[name])


@pytest.mark.parametrize("name", _params("recipient"))
def test_recipients(name: str) -> None:
    """Each corpus file yields the recipients EXPECTED.json lists."""
    wanted = EXPECTED[name]["recipients"]
    records = pair(wanted, _parse(name).failures or _parse(name).records)
    got = [(r.recipient or "").lower() if r else None for r in records]
    assert got == [str(item["address"]).lower() for item in wanted]


@pytest.mark.parametrize("name", _params("status"))
def test_status(name: str) -> None:
    """Each corpus file yields the status codes EXPECTED.json lists (module docstring rules)."""
    wanted = EXPECTED[name]["recipients"]
    records = pair(wanted, _parse(name).records)
    assert [status_matches(i["status"], r) for i, r in zip(wanted, records, strict=True)] == [
        True
    ] * len(wanted)


@pytest.mark.parametrize("name", _params("permanent"))
def test_permanent(name: str) -> None:
    """Each corpus failure is classified hard or soft as EXPECTED.json's status class says."""
    wanted = EXPECTED[name]["recipients"]
    records = pair(wanted, _parse(name).records)
    assert [r.permanent if r else None for r in records] == [expected_permanent(i) for i in wanted]


def test_corpus_accuracy_at_least_95_percent() -> None:
    """Recipient, status and permanent/transient are each right for at least 95 % of records."""
    acc = corpus_accuracy()
    assert acc.total >= 100
    assert acc.ratio("recipient") >= 0.95, acc.misses
    assert acc.ratio("status") >= 0.95, acc.misses
    assert acc.ratio("permanent") >= 0.95, acc.misses


def test_every_corpus_file_has_an_expectation() -> None:
    """Every .eml file copied into tests/data/bounces is listed in EXPECTED.json."""
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)
