"""Benchmark: notify's contacts import (read + merge) against the bare parsers.

    .venv/bin/python bench/import_ratio.py [--vcards 100000] [--rows 1000000]
        [--csv-kind simple|outlook] [--repeat 1] [--no-parts] [--profile N [--profile-import]]

Generates ``--vcards`` vCards (bench_vcards.make_card) and a CSV of ``--rows`` rows
(``simple``: the 5 columns of bench/peers.py, UTF-8; ``outlook``: the 92-column French
Outlook export of bench_csv.py, Windows-1252), then times, best of ``--repeat``:

- the floor: a ``vobject.readComponents`` loop, and a ``csv.reader`` loop;
- ``notify.addressbook.sources.load_contacts`` (what ``notify contacts`` runs: detect,
  read, validate every address, merge duplicates), with the default settings.

Prints items/second, the ratio (ours / floor, lower is better; target under 1.5) and
the peak RSS of the process. vobject is optional: without it that floor is skipped.

The ratio's parts, in CPU seconds of this process (user + sys, ``time.process_time``,
best of ``--repeat``; the machine may be shared, so CPU time is the figure to
compare), unless ``--no-parts``:

- ``bare``: the floor, in CPU time (the same runs as its wall time);
- ``read``: ``sources.read_source`` alone (encoding, delimiter, header, rows to Entries);
- ``read+clean``: the same, and ``addresses.clean`` on every address it yields
  (the reader and the validation: what the merge starts from);
- ``load_contacts``: the whole import (the same runs); ``merge`` is its CPU time
  minus ``read+clean``.

``--profile N`` then prints the N functions with the most own time (cProfile) over
``read+clean``, to see where the reader's and the validation's time goes; with
``--profile-import``, over the whole ``load_contacts`` instead (the merge included).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import functools
import io
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import say, write_recipients
from bench_csv import generate as generate_outlook
from bench_vcards import make_card

from notify.addressbook.addresses import InvalidAddress, clean
from notify.addressbook.merge import MergeOptions
from notify.addressbook.model import Entry
from notify.addressbook.sources import SourceOptions, load_contacts, read_source
from notify.settings import DEFAULT_SECURE_DOMAINS

TARGET = 1.5


@dataclass(frozen=True)
class Timing:
    """The best of ``repeat`` runs: wall seconds, CPU seconds (user + sys), what was counted."""

    wall: float
    cpu: float
    count: int


def best(action: Callable[[], int], repeat: int) -> Timing:
    """Run ``action`` ``repeat`` times; the least wall and the least CPU time."""
    wall = cpu = float("inf")
    count = 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        count = action()
        cpu = min(cpu, time.process_time() - started_cpu)
        wall = min(wall, time.perf_counter() - started)
    return Timing(wall, cpu, count)


def read_only(path: Path) -> int:
    """read_source alone: the number of entries (problems are counted too)."""
    return sum(1 for _ in read_source(path, SourceOptions()))


def read_and_clean(path: Path) -> int:
    """read_source, and clean() on every address read: the number of valid addresses."""
    valid = 0
    for item in read_source(path, SourceOptions()):
        if isinstance(item, Entry):
            for raw in item.emails:
                try:
                    clean(raw)
                except InvalidAddress:
                    continue
                valid += 1
    return valid


def ours(path: Path) -> int:
    """load_contacts as ``notify contacts`` calls it; the number of recipients."""
    merge = MergeOptions(secure_domains=DEFAULT_SECURE_DOMAINS)
    with load_contacts([path], SourceOptions(), merge) as result:
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


def parts(what: str, path: Path, bare: Timing | None, whole: Timing, repeat: int) -> None:
    """Print the CPU seconds of the floor, the reader, reader + validation, the whole import."""
    read = best(lambda: read_only(path), repeat).cpu
    checked = best(lambda: read_and_clean(path), repeat)
    floor_text = f"bare {bare.cpu:.2f}, " if bare is not None else ""
    say(
        f"{what}: CPU s: {floor_text}read {read:.2f}, read+clean {checked.cpu:.2f} "
        f"({checked.count:,} valid addresses), load_contacts {whole.cpu:.2f}, "
        f"merge {max(whole.cpu - checked.cpu, 0.0):.2f}"
    )
    if bare is not None and bare.cpu > 0:
        ratio = checked.cpu / bare.cpu
        verdict = "met" if ratio < TARGET else "not met"
        say(
            f"{what}: CPU ratios: read+clean {ratio:.2f} (target under {TARGET}: {verdict}), "
            f"read {read / bare.cpu:.2f}, load_contacts {whole.cpu / bare.cpu:.2f}"
        )


def profile(what: str, path: Path, top: int, whole: bool = False) -> None:
    """Print the ``top`` functions with the most own time over read+clean, or over the
    whole load_contacts when ``whole``."""
    profiler = cProfile.Profile()
    profiler.runcall(ours if whole else read_and_clean, path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    part = "load_contacts" if whole else "read+clean"
    say(f"{what}: profile of {part} (cProfile, by own time; top {top}):")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    for line in lines[start:]:
        if line.strip():
            say("    " + line.strip())


def compare(
    what: str, path: Path, floor: Callable[[], int] | None, repeat: int
) -> tuple[Timing, Timing | None]:
    """Time ours and the floor over ``path``; print both, the ratio and the target."""
    size = path.stat().st_size / 1e6
    ours_t = best(lambda: ours(path), repeat)
    say(
        f"{what}: notify load_contacts: {ours_t.count:,} recipients in {ours_t.wall:.2f} s "
        f"({ours_t.count / ours_t.wall:,.0f}/s, {size:.1f} MB)"
    )
    if floor is None:
        say(f"skipped: {what}: bare parser: vobject is not installed (pip install vobject)")
        return ours_t, None
    bare_t = best(floor, repeat)
    say(
        f"{what}: bare parser: {bare_t.count:,} items in {bare_t.wall:.2f} s "
        f"({bare_t.count / bare_t.wall:,.0f}/s)"
    )
    ratio = ours_t.wall / bare_t.wall
    verdict = "met" if ratio < TARGET else "not met"
    say(f"{what}: ratio: {ratio:.2f} (target under {TARGET}: {verdict})")
    return ours_t, bare_t


def measure(
    args: argparse.Namespace, what: str, path: Path, floor: Callable[[], int] | None
) -> None:
    """Compare with the floor; then the CPU-time parts and the profile, as the options ask."""
    whole, bare = compare(what, path, floor, args.repeat)
    if args.parts:
        parts(what, path, bare, whole, args.repeat)
    if args.profile:
        profile(what, path, args.profile, args.profile_import)


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
    parser.add_argument(
        "--no-parts",
        dest="parts",
        action="store_false",
        help="skip the CPU-time split (bare, read, read+clean, load_contacts)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print the N functions with the most own time over read+clean (cProfile)",
    )
    parser.add_argument(
        "--profile-import",
        action="store_true",
        help="profile the whole load_contacts (the merge included) instead of read+clean",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-import-") as tmp:
        folder = Path(tmp)
        if args.vcards:
            cards = folder / "contacts.vcf"
            with cards.open("w", encoding="utf-8", newline="") as out:
                out.writelines(make_card(i) for i in range(args.vcards))
            floor = (lambda: bare_vcards(cards)) if has_vobject() else None
            what = f"vCard ({args.vcards:,} cards)"
            measure(args, what, cards, floor)
        if args.rows:
            table = folder / "contacts.csv"
            if args.csv_kind == "simple":
                write_recipients(table, args.rows)
                encoding, delimiter = "utf-8", ","
            else:
                generate_outlook(table, args.rows, ";")
                encoding, delimiter = "cp1252", ";"
            what = f"CSV {args.csv_kind} ({args.rows:,} rows)"
            bare = functools.partial(bare_csv, table, encoding, delimiter)
            measure(args, what, table, bare)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"peak RSS: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
