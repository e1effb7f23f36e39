"""Benchmark of the vCard reader: cards per second and peak memory.

    python bench/bench_vcards.py --n 20000

Writes N realistic cards (2 addresses, phone, postal address, a folded note)
into a temporary file, reads them with notify.addressbook.vcards.read_vcards and
prints the figures. The temporary file is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from notify.addressbook.model import Entry
from notify.addressbook.vcards import read_vcards


def make_card(i: int) -> str:
    """One vCard 3.0 of the kind a practice's address book holds."""
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"FN:Dr Jean-Éric Dupont {i}\r\nN:Dupont;Jean-Éric;;Dr;\r\n"
        f"ORG:Cabinet médical {i};Accueil\r\nTITLE:Médecin généraliste\r\n"
        f"EMAIL;TYPE=INTERNET,pref:jean.dupont{i}@exemple.fr\r\n"
        f"EMAIL;TYPE=WORK:cabinet{i}@exemple.fr\r\n"
        f"TEL;TYPE=WORK:+33 4 00 00 {i % 100:02d} 00\r\n"
        "ADR;TYPE=WORK:;;12 rue de la Paix;Lyon;;69001;France\r\n"
        "CATEGORIES:Confrères,Lyon\r\n"
        "NOTE:A note long enough to be folded over two lines, as exporters do wit\r\n"
        " h long values.\r\nEND:VCARD\r\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="number of cards (default 20000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o700)
        path = Path(folder) / "bench.vcf"
        with path.open("w", encoding="utf-8", newline="") as out:
            for i in range(args.n):
                out.write(make_card(i))
        size = path.stat().st_size
        started = time.perf_counter()
        count = sum(1 for item in read_vcards(path) if isinstance(item, Entry))
        elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"cards: {count} ({size / 1e6:.1f} MB)")
    print(f"seconds: {elapsed:.2f}")
    print(f"cards/second: {count / elapsed:.0f}")
    print(f"peak RSS: {peak_kib / 1024:.1f} MiB")
    return 0 if count == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
