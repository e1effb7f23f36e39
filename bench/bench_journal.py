"""Benchmark the journal's per-message cost: begin_attempts + end_attempts.

    python bench/bench_journal.py [--n 20000] [--dir DIR]

Adds ``n`` recipients to each of two campaigns of a journal on disk, records one
begin and one end per message, in batches of 1 and of 50, and times verify(); then
does the same with a third campaign in batches of 5 (``notify send``'s pipelined
batch), after verify() so that its figure counts the events of the first two only.
Prints messages per second for each batch size, the wall-clock and CPU time per
message (CPU: less sensitive to a shared machine), add_recipients and verify() rates.
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


def record_all(journal: Journal, campaign_id: int, batch: int) -> tuple[float, float]:
    """Begin and end every recipient of the campaign, ``batch`` at a time.

    Returns the wall-clock and CPU seconds spent in begin_attempts + end_attempts.
    """
    wall, cpu, after = 0.0, 0.0, None
    while page := journal.to_send(campaign_id, limit=batch, after=after):
        after = page[-1].rank
        starts = [AttemptStart(r.id, f"<{r.id}@bench>", "Fri, 27 Nov 2026", SHA) for r in page]
        ends = [AttemptEnd(r.id, "sent", 250, "2.0.0 Ok", f"Q{r.id}") for r in page]
        began, began_cpu = time.perf_counter(), time.process_time()
        journal.begin_attempts(starts)
        journal.end_attempts(ends)
        wall += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    return wall, cpu


def add_campaign(journal: Journal, batch: int, n: int) -> int:
    """A campaign for the batches of ``batch`` with ``n`` recipients; its id."""
    campaign = journal.open_campaign(
        f"bench-{batch}", languages=["fr"], settings={}, templates={}, variables={}
    )
    recipients = people(n)
    took = timed(lambda: journal.add_recipients(campaign.id, recipients))
    print(f"add_recipients: {n} recipients in {took:.3f} s ({n / took:.0f}/s)")
    return campaign.id


def run(n: int, folder: Path) -> None:
    """Run the benchmark in ``folder`` and print the figures."""
    spent: dict[int, tuple[float, float]] = {}
    with Journal.open(folder / "bench.db") as journal, journal.sending_lock():
        ids = {batch: add_campaign(journal, batch, n) for batch in (1, 50)}
        for batch in (1, 50):
            spent[batch] = record_all(journal, ids[batch], batch)
            assert journal.counts(ids[batch])["sent"] == n
        events = 2 * 2 + 2 * 2 * n  # per campaign: created, added; per message: start, end
        verify_took = timed(journal.verify)
        ids[5] = add_campaign(journal, 5, n)
        spent[5] = record_all(journal, ids[5], 5)
        assert journal.counts(ids[5])["sent"] == n
    for batch in (1, 5, 50):
        wall, cpu = spent[batch]
        print(f"batch {batch}: {n} messages in {wall:.3f} s: {n / wall:.0f} messages/second")
        print(
            f"batch {batch} per message: {wall / n * 1e6:.0f} us wall, {cpu / n * 1e6:.0f} us CPU"
        )
    print(f"verify: {events} events in {verify_took:.3f} s ({events / verify_took:.0f} events/s)")


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
