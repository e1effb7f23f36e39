"""Benchmark: notify's contacts import (read + merge) against the bare parsers.

    .venv/bin/python bench/import_ratio.py [--vcards 100000] [--rows 1000000]
        [--csv-kind simple|outlook] [--repeat 1]

Generates ``--vcards`` vCards (bench_vcards.make_card) and a CSV of ``--rows`` rows
(``simple``: the 5 columns of bench/peers.py, UTF-8; ``outlook``: the 92-column French
Outlook export of bench_csv.py, Windows-1252), then times, best of ``--repeat``:

- the floor: a ``vobject.readComponents`` loop, and a ``csv.reader`` loop;
- ``notify.addressbook.sources.load_contacts`` (what ``notify contacts`` runs: detect,
  read, validate every address, merge duplicates), with the default settings.

Prints items/second, the ratio (ours / floor, lower is better; target under 1.5) and
the peak RSS of the process. vobject is optional: without it that floor is skipped.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import say, write_recipients
from bench_csv import generate as generate_outlook
from bench_vcards import make_card

from notify.addressbook.merge import MergeOptions
from notify.addressbook.sources import SourceOptions, load_contacts
from notify.settings import DEFAULT_SECURE_DOMAINS

TARGET = 1.5


def best(action: Callable[[], int], repeat: int) -> tuple[float, int]:
    """The fastest of ``repeat`` runs (seconds) and what the action counted."""
    fastest, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = action()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest, count


def ours(path: Path) -> int:
    """load_contacts as ``notify contacts`` calls it; the number of recipients."""
    merge = MergeOptions(secure_domains=DEFAULT_SECURE_DOMAINS)
    result = load_contacts([path], SourceOptions(), merge)
    return len(result.contacts.recipients) + len(result.contacts.secure)


def bare_vcards(path: Path) -> int:
    """A vobject.readComponents loop: the floor for vCards."""
    import vobject  # noqa: PLC0415 - optional

    with path.open(encoding="utf-8") as stream:
        return sum(1 for _ in vobject.readComponents(stream))


def bare_csv(path: Path, encoding: str, delimiter: str) -> int:
    """A csv.reader loop: the floor for CSV."""
    with path.open(encoding=encoding, newline="") as stream:
        return sum(1 for _ in csv.reader(stream, delimiter=delimiter)) - 1


def compare(what: str, path: Path, floor: Callable[[], int] | None, repeat: int) -> None:
    """Time the floor and ours over ``path``; print both, the ratio and the target."""
    size = path.stat().st_size / 1e6
    ours_s, ours_n = best(lambda: ours(path), repeat)
    say(
        f"{what}: notify load_contacts: {ours_n:,} recipients in {ours_s:.2f} s "
        f"({ours_n / ours_s:,.0f}/s, {size:.1f} MB)"
    )
    if floor is None:
        say(f"skipped: {what}: bare parser: vobject is not installed (pip install vobject)")
        return
    bare_s, bare_n = best(floor, repeat)
    say(f"{what}: bare parser: {bare_n:,} items in {bare_s:.2f} s ({bare_n / bare_s:,.0f}/s)")
    ratio = ours_s / bare_s
    verdict = "met" if ratio < TARGET else "not met"
    say(f"{what}: ratio: {ratio:.2f} (target under {TARGET}: {verdict})")


def has_vobject() -> bool:
    try:
        import vobject  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vcards", type=int, default=100_000, help="cards to generate")
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows to generate")
    parser.add_argument("--csv-kind", choices=["simple", "outlook"], default="simple")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-import-") as tmp:
        folder = Path(tmp)
        if args.vcards:
            cards = folder / "contacts.vcf"
            with cards.open("w", encoding="utf-8", newline="") as out:
                out.writelines(make_card(i) for i in range(args.vcards))
            floor = (lambda: bare_vcards(cards)) if has_vobject() else None
            compare(f"vCard ({args.vcards:,} cards)", cards, floor, args.repeat)
        if args.rows:
            table = folder / "contacts.csv"
            if args.csv_kind == "simple":
                write_recipients(table, args.rows)
                encoding, delimiter = "utf-8", ","
            else:
                generate_outlook(table, args.rows, ";")
                encoding, delimiter = "cp1252", ";"
            what = f"CSV {args.csv_kind} ({args.rows:,} rows)"
            compare(what, table, lambda: bare_csv(table, encoding, delimiter), args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"peak RSS: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
