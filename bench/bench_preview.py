"""Benchmark: the dry-run preview of N fictional contacts, with its peak memory.

    .venv/bin/python bench/bench_preview.py [--n 10000 --n 100000] [--template colleague-warning]

For each N, a child process writes a CSV of N fictional contacts, imports it (the
address-book path of ``notify preview``), composes and writes the outbox with
``notify.preview.write_preview``, and prints messages/second and its memory: the RSS
once the contacts are imported, and the peak RSS of the whole run. Flat streaming
shows as a peak close to the RSS after import, whatever N. Each size runs in its own
process so that one size's peak does not hide the next.
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from notify.addressbook.merge import MergeOptions
from notify.addressbook.sources import SourceOptions, load_contacts
from notify.campaign import exposure_order
from notify.compose import Composer, load_template
from notify.compose.samples import PARIS, sample_incident, sample_sender
from notify.preview import write_preview

TITLES = ("Cardiologue", "Pharmacien", "Infirmière", "", "Médecin généraliste", "Sage-femme")
GIVEN = ("Sophie", "Marc", "Élodie", "Rémi", "Anne", "Helen", "Jean", "Chantal")
FAMILY = ("Durand", "Lefèvre", "Garnier", "Faure", "Rousseau", "Smith", "Leroy", "Mercier")


def write_contacts(path: Path, n: int) -> None:
    """A semicolon CSV of N distinct fictional contacts (a few in English)."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter=";")
        writer.writerow(["Prénom", "Nom", "Titre", "Adresse de messagerie", "Langue"])
        for i in range(n):
            given, family = GIVEN[i % len(GIVEN)], FAMILY[i // len(GIVEN) % len(FAMILY)]
            email = f"{given.lower()}.{family.lower()}.{i}@cabinet-{i % 97}.example.org"
            writer.writerow([given, family, TITLES[i % len(TITLES)], email, "en" * (i % 9 == 0)])


def _rss_mb() -> float:
    """The current resident set size, in MB (Linux), or 0 when unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_one(n: int, template: str) -> None:
    """Import N contacts, write their outbox, print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "contacts.csv"
        write_contacts(book, n)
        start = time.perf_counter()
        result = load_contacts([book], SourceOptions(), MergeOptions())
        imported = time.perf_counter() - start
        rss_import = _rss_mb()
        recipients = exposure_order(result.contacts.recipients)
        composer = Composer(load_template(template), sample_incident(), sample_sender())
        start = time.perf_counter()
        summary = write_preview(
            Path(tmp) / "outbox",
            composer,
            recipients,
            result.contacts,
            template=template,
            campaign_token="bench",  # noqa: S106 - a campaign name, not a secret
            date=datetime(2026, 11, 28, 10, 0, tzinfo=PARIS),
            summary_lines=[f"{len(recipients)} messages, one per recipient"],
        )
        elapsed = time.perf_counter() - start
        result.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"recipients: {n}, messages: {summary.messages}")
    print(f"import: {imported:.1f} s; preview: {elapsed:.1f} s")
    print(f"messages/second: {summary.messages / elapsed:.0f}")
    print(f"RSS after import: {rss_import:.0f} MB; peak RSS: {peak:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="recipients (repeatable)")
    parser.add_argument("--template", default="colleague-warning")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.n or [10_000, 100_000]
    if args.child:
        run_one(sizes[0], args.template)
        return 0
    for n in sizes:
        command = [sys.executable, __file__, "--child", "--n", str(n), "--template", args.template]
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
