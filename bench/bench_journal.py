"""Benchmark the journal's per-message cost: begin_attempts + end_attempts.

    python bench/bench_journal.py [--n 20000] [--dir DIR]

Adds ``n`` recipients to each of two campaigns of a journal on disk, then records
one begin and one end per message, in batches of 1 and of 50, and prints messages
per second for each (plus add_recipients and verify() rates).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from notify.addressbook.model import Recipient
from notify.journal import AttemptEnd, AttemptStart, Journal

SHA = "ab" * 32


def people(n: int) -> list[Recipient]:
    """``n`` distinct recipients."""
    return [
        Recipient(f"p{i}@exemple.fr", f"p{i}@exemple.fr", f"p{i}@exemple.fr", sent_count=i % 7)
        for i in range(n)
    ]


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def record_all(journal: Journal, campaign_id: int, batch: int) -> float:
    """Begin and end every recipient of the campaign, ``batch`` at a time; seconds spent."""
    spent, after = 0.0, None
    while page := journal.to_send(campaign_id, limit=batch, after=after):
        after = page[-1].rank
        starts = [AttemptStart(r.id, f"<{r.id}@bench>", "Fri, 27 Nov 2026", SHA) for r in page]
        ends = [AttemptEnd(r.id, "sent", 250, "2.0.0 Ok", f"Q{r.id}") for r in page]
        began = time.perf_counter()
        journal.begin_attempts(starts)
        journal.end_attempts(ends)
        spent += time.perf_counter() - began
    return spent


def run(n: int, folder: Path) -> None:
    """Run the benchmark in ``folder`` and print the figures."""
    with Journal.open(folder / "bench.db") as journal, journal.sending_lock():
        ids = {}
        for batch in (1, 50):
            campaign = journal.open_campaign(
                f"bench-{batch}", languages=["fr"], settings={}, templates={}, variables={}
            )
            ids[batch] = campaign.id
            recipients = people(n)
            started = time.perf_counter()
            journal.add_recipients(campaign.id, recipients)
            took = time.perf_counter() - started
            print(f"add_recipients: {n} recipients in {took:.3f} s ({n / took:.0f}/s)")
        for batch in (1, 50):
            took = record_all(journal, ids[batch], batch)
            assert journal.counts(ids[batch])["sent"] == n
            print(f"batch {batch}: {n} messages in {took:.3f} s: {n / took:.0f} messages/second")
        events = 2 * 2 + 2 * 2 * n  # per campaign: created, added; per message: start, end
        took = timed(journal.verify)
        print(f"verify: {events} events in {took:.3f} s ({events / took:.0f} events/s)")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="recipients per campaign")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the journal")
    args = parser.parse_args()
    if args.dir is not None:
        run(args.n, args.dir)
        return
    with tempfile.TemporaryDirectory(prefix="bench-journal-", dir=".") as folder:
        run(args.n, Path(folder))


if __name__ == "__main__":
    main()
