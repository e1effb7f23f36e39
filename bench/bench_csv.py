"""Benchmark: read_csv against a bare csv.reader loop over the same file.

Generates ``--n`` rows (default 100000) of a French Outlook export (Windows-1252,
``;``, every field quoted, the full 92-column French header with both "Titre"
columns) of fictional contacts into a temporary file, then times:

- a bare ``for row in csv.reader(...)`` loop over the file (the floor);
- ``list``-free consumption of ``read_csv`` (detection, sniffing, entries).

Prints rows/second for both, the ratio (read_csv / bare, lower is better) and the
peak resident memory of the process. Usage::

    python bench/bench_csv.py --n 1000000 [--delimiter ,] [--keep FILE]
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from notify.addressbook.csvbooks import read_csv
from notify.addressbook.model import Entry

_FRENCH_OUTLOOK = (  # HEADERS.md, B1: French Outlook, both "Titre" columns
    "Titre;Prénom;Deuxième prénom;Nom;Suffixe;Société;Service;Titre;Rue (bureau);"
    "Rue (bureau) 2;Rue (bureau) 3;Ville (bureau);Dép/Région (bureau);Code postal (bureau);"
    "Pays/Région (bureau);Rue (domicile);Rue (domicile) 2;Rue (domicile) 3;Ville (domicile);"
    "Dép/Région (domicile);Code postal (domicile);Pays/Région (domicile);Rue (autre);"
    "Rue (autre) 2;Rue (autre) 3;Ville (autre);Dép/Région (autre);Code postal (autre);"
    "Pays/Région (autre);Téléphone de l'assistant(e);Télécopie (bureau);Téléphone (bureau);"
    "Téléphone 2 (bureau);Rappel;Téléphone (voiture);Téléphone société;Télécopie (domicile);"
    "Téléphone (domicile);Téléphone 2 (domicile);RNIS;Tél. mobile;Télécopie (autre);"
    "Téléphone (autre);Récepteur de radiomessagerie;Téléphone principal;Radio téléphone;"
    "Téléphone TDD/TTY;Télex;Adresse de messagerie;Type de messagerie;"
    "Nom complet de l'adresse de messagerie;Adresse de messagerie 2;Type de messagerie 2;"
    "Nom complet de l'adresse de messagerie 2;Adresse de messagerie 3;Type de messagerie 3;"
    "Nom complet de l'adresse de messagerie 3;Anniversaire;Anniversaire de mariage ou fête;"
    "Autre boîte postale;B.P. professionnelle;Boîte postale du domicile;Bureau;Catégories;"
    "Code gouvernement;Compte;Conjoint(e);Critère de diffusion;Disponibilité Internet;"
    "Emplacement;Enfants;Informations facturation;Initiales;Kilométrage;Langue;Mots clés;"
    "Nom de l'assistant(e);Notes;Numéro d'identification de l'organisation;Page Web;"
    "Passe-temps;Priorité;Privé;Profession;Recommandé par;Responsable;Serveur d'annuaire;"
    "Sexe;Utilisateur 1;Utilisateur 2;Utilisateur 3;Utilisateur 4"
)
HEADER = _FRENCH_OUTLOOK.split(";")
GIVEN = ["Émilie", "Benoît", "Hélène", "François", "Maëlle", "Jérôme", "Léa", "Noël", "Zoé"]
FAMILY = ["Lefèvre", "Garnier", "Bérenger", "Moreau", "Duchêne", "Rivière", "Perrin", "Faure"]
CITIES = ["Lyon", "Saint-Étienne", "Valence", "Annecy", "Grenoble", "Chambéry"]
COLUMN = {name: HEADER.index(name) for name in HEADER[::-1]}  # first of duplicates


def _row(i: int, rng: random.Random) -> list[str]:
    row = [""] * len(HEADER)
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    email = f"{given.lower()}.{family.lower()}.{i}@exemple.fr"
    values = {
        "Titre": rng.choice(["Dr", "Mme", "M.", ""]),
        "Prénom": given,
        "Nom": family,
        "Société": f"Cabinet médical {family}",
        "Rue (bureau)": f"{i % 200 + 1} rue des Écoles",
        "Ville (bureau)": rng.choice(CITIES),
        "Code postal (bureau)": f"{69000 + i % 900:05d}",
        "Téléphone (bureau)": f"04 {i % 100:02d} {i // 100 % 100:02d} 00 00",
        "Tél. mobile": f"06 {i % 100:02d} 00 {i // 100 % 100:02d} 00",
        "Adresse de messagerie": email,
        "Type de messagerie": "SMTP",
        "Nom complet de l'adresse de messagerie": f"{given} {family} ({email})",
        "Catégories": rng.choice(["Confrères", "Patients", "Laboratoires;Confrères"]),
        "Profession": "Médecin",
    }
    for name, value in values.items():
        row[COLUMN[name]] = value
    row[HEADER.index("Service") + 1] = rng.choice(["Généraliste", "Biologiste", "Pharmacienne"])
    return row


def generate(path: Path, n: int, delimiter: str, seed: int = 7) -> None:
    """Write ``n`` fictional contacts to ``path`` as French Outlook would."""
    rng = random.Random(seed)
    with path.open("w", encoding="cp1252", newline="") as stream:
        writer = csv.writer(stream, delimiter=delimiter, quoting=csv.QUOTE_ALL)
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow(_row(i, rng))


def bare(path: Path, delimiter: str) -> int:
    """The floor: a csv.reader loop that does nothing with the rows."""
    count = 0
    with path.open(encoding="cp1252", newline="") as stream:
        for _row in csv.reader(stream, delimiter=delimiter):
            count += 1
    return count - 1  # the header


def ours(path: Path) -> int:
    """read_csv, consumed one item at a time (never held in a list)."""
    count = 0
    for item in read_csv(path, encoding="cp1252"):
        count += isinstance(item, Entry)
    return count


def measure(path: Path, delimiter: str, repeat: int) -> tuple[float, float, int, int]:
    """Best-of-``repeat`` seconds for the bare loop and for read_csv, and row counts."""
    bare_best = ours_best = float("inf")
    bare_rows = our_rows = 0
    for _ in range(repeat):
        start = time.perf_counter()
        bare_rows = bare(path, delimiter)
        bare_best = min(bare_best, time.perf_counter() - start)
        start = time.perf_counter()
        our_rows = ours(path)
        ours_best = min(ours_best, time.perf_counter() - start)
    return bare_best, ours_best, bare_rows, our_rows


def main(argv: list[str] | None = None) -> int:
    """Generate, measure, print; exit 1 if read_csv missed rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="rows to generate")
    parser.add_argument("--delimiter", default=";", choices=[";", ",", "\t"])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-bench-") as tmp:
        path = args.keep or Path(tmp) / "outlook-fr.csv"
        generate(path, args.n, args.delimiter)
        size = path.stat().st_size
        bare_s, ours_s, bare_rows, our_rows = measure(path, args.delimiter, args.repeat)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {args.n} ({size / 1e6:.1f} MB, delimiter {args.delimiter!r})")
    print(f"csv.reader: {bare_rows / bare_s:,.0f} rows/s ({bare_s:.3f} s)")
    print(f"read_csv: {our_rows / ours_s:,.0f} rows/s ({ours_s:.3f} s)")
    print(f"ratio: {ours_s / bare_s:.2f}")
    print(f"peak RSS: {peak_mb:.1f} MB")
    if our_rows != args.n or bare_rows != args.n:
        print(f"error: read {our_rows} entries and {bare_rows} rows, expected {args.n}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
