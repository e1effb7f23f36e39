"""The CSV address-book reader: real exports (tests/data/csv), fictional French
exports (tests/data/csv-own), --map, broken input, streaming."""

from __future__ import annotations

import json
import string
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify.addressbook.addresses import InvalidAddress, clean
from notify.addressbook.csvbooks import FIELD_LIMIT, LINE_LIMIT, read_csv, sniff_delimiter
from notify.addressbook.csvheaders import classify, normalize
from notify.addressbook.model import Entry, Problem
from notify.errors import SourceError, UsageError

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "csv"
OWN = DATA / "csv-own"
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text(encoding="utf-8"))["files"]
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.csv"))


def read(path: Path, **options: object) -> tuple[list[Entry], list[Problem]]:
    """Every Entry and every Problem of ``path``, in file order."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    for item in read_csv(path, **options):  # type: ignore[arg-type]
        if isinstance(item, Entry):
            entries.append(item)
        else:
            problems.append(item)
    return entries, problems


def write(tmp_path: Path, text: str, name: str = "book.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def summary(entries: list[Entry]) -> list[tuple[object, ...]]:
    """The fields of each entry, in a form easy to compare."""
    return [
        (e.origin.line, e.name, e.given_name, e.family_name, e.civility, e.title,
         e.organization, e.language, e.emails, e.groups, e.phones, e.postal)
        for e in entries
    ]  # fmt: skip


# --- the real-world corpus -----------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_FILES, ids=CORPUS_FILES)
def test_corpus_file_reads_as_expected_json_says(name: str) -> None:
    """Each real export gives EXPECTED.json's rows: count, names and addresses in order."""
    expected = EXPECTED[name]
    if expected["row_count"] == 0:  # "importer should reject it or import 0 contacts"
        with pytest.raises(SourceError, match=f"{name}:1: not an address book"):
            read(CORPUS / name)
        return
    entries, _ = read(CORPUS / name)
    assert len(entries) == expected["row_count"]
    for entry, row in zip(entries, expected["rows"], strict=True):
        assert entry.name == row["display_name"]
        assert entry.given_name == row["first_name"]
        assert entry.family_name == row["last_name"]
        invalid = row.get("invalid_emails", [])
        assert [e for e in entry.emails if e not in invalid] == row["emails"]


@pytest.mark.parametrize(
    "name", [n for n in CORPUS_FILES if any(r.get("invalid_emails") for r in EXPECTED[n]["rows"])]
)
def test_corpus_invalid_addresses_are_listed_for_the_merge_to_reject(name: str) -> None:
    """Invalid values in e-mail columns stay in Entry.emails and clean() rejects them."""
    entries, _ = read(CORPUS / name)
    for entry, row in zip(entries, EXPECTED[name]["rows"], strict=True):
        for value in row.get("invalid_emails", []):
            assert value in entry.emails
            with pytest.raises(InvalidAddress):
                clean(value)


def test_every_corpus_file_has_an_expectation() -> None:
    """No CSV file in tests/data/csv escapes the parametrised test above."""
    assert set(CORPUS_FILES) == set(EXPECTED)


def test_row_starting_after_a_multiline_cell_has_its_physical_line() -> None:
    """Origin.line is the line a row starts on, even after a quoted line break."""
    entries, _ = read(CORPUS / "thunderbird__export.csv")
    assert [e.origin.line for e in entries] == [2, 3]
    google, _ = read(CORPUS / "folker__Google.csv")
    assert google[0].origin.line == 2


def test_google_cells_fill_groups_phones_and_postal_lines() -> None:
    """Google CSV: groups without the '* ' system mark, one postal line per address."""
    (entry,), _ = read(CORPUS / "folker__Google.csv")
    assert entry.groups == ["Importiert am 29.3.", "myContacts"]
    assert entry.postal[0] == "Eisenbahnstraße, Postfach, 84 04315 Leipzig, DE"
    assert entry.civility == "Dr."
    assert "Tel9" in entry.phones


def test_windows_live_mail_name_column_is_not_the_display_name() -> None:
    """Windows Live Mail's 'Name' holds a nickname here: the name is composed instead."""
    (entry,), _ = read(CORPUS / "folker__WindowsLiveMail.csv")
    assert entry.name == "Max Middle Name Mustermann"


def test_headerless_file_is_recognised_by_its_addresses() -> None:
    """A first row holding an address is data, not a header."""
    entries, _ = read(CORPUS / "thunderbird__csv_no_header.csv")
    assert [e.origin.line for e in entries] == [1, 2]


# --- own fictional exports -------------------------------------------------------------

Row = tuple[object, ...]
HELENE: Row = (
    2, "Hélène Lefèvre", "Hélène", "Lefèvre", "Dr", "Médecin généraliste",
    "Cabinet médical des Tilleuls", "fr", ["helene.lefevre@exemple.fr", "h.lefevre@example.org"],
    ["Confrères", "Cardiologie"], ["04 00 00 00 01", "06 00 00 00 01"],
    ["12 rue des Écoles, 42000 Saint-Étienne"],
)  # fmt: skip
MAELLE: Row = (
    3, "Maëlle Anne Bérenger", "Maëlle", "Bérenger", "Mme", "Biologiste",
    "Laboratoire du Forez", "", ["maelle.berenger@exemple.fr"], [], [], [],
)  # fmt: skip
FRANCOIS: Row = (5, "François Duchêne", "François", "Duchêne", "", "", "", "", [], [],
            ["06 00 00 00 03"], [])  # fmt: skip


def test_french_outlook_export_in_windows_1252() -> None:
    """French Outlook: both 'Titre' columns, middle name, categories, phones, address."""
    entries, _ = read(OWN / "outlook_fr_cp1252_comma.csv")
    assert summary(entries) == [HELENE, MAELLE, FRANCOIS]


def test_windows_1252_guess_is_reported_as_an_encoding_problem() -> None:
    """An undeclared single-byte encoding is guessed and said so, once, on line 1."""
    _, problems = read(OWN / "outlook_fr_cp1252_comma.csv")
    assert [(p.kind, p.origin.line) for p in problems] == [("encoding", 1)]
    assert "--encoding" in problems[0].message


def test_declared_encoding_is_used_without_a_guess() -> None:
    """--encoding skips detection, so no encoding problem is reported."""
    entries, problems = read(OWN / "outlook_fr_cp1252_comma.csv", encoding="cp1252")
    assert problems == []
    assert entries[0].name == "Hélène Lefèvre"


def test_french_outlook_export_with_semicolons() -> None:
    """The same export with ';' as separator reads the same."""
    entries, _ = read(OWN / "outlook_fr_cp1252_semicolon.csv")
    assert summary(entries) == [HELENE, MAELLE, FRANCOIS]


def test_utf16_tab_separated_outlook_export() -> None:
    """A UTF-16 (BOM) tab-separated Outlook export reads the same."""
    entries, problems = read(OWN / "outlook_fr_utf16.csv")
    assert summary(entries) == [HELENE, MAELLE, FRANCOIS]
    assert problems == []


def test_new_google_export() -> None:
    """Newer Google layout: ' ::: ' split in e-mail, phone and label cells."""
    entries, _ = read(OWN / "google_new.csv")
    assert summary(entries) == [
        (2, "Benoît Garnier", "Benoît", "Garnier", "Dr", "Pédiatre",
         "Centre de santé de la Loire", "",
         ["benoit.garnier@exemple.fr", "b.garnier@example.org", "benoit@exemple.fr"],
         ["myContacts", "Famille", "Confrères"], ["06 00 00 00 04", "04 00 00 00 04"],
         ["3 place Jean Jaurès, 42100 Saint-Étienne, France"]),
        (5, "Zoé Moreau", "Zoé", "Moreau", "", "", "", "", [], ["myContacts"], [], []),
    ]  # fmt: skip


def test_linkedin_export_skips_the_notes_preamble() -> None:
    """LinkedIn: the 'Notes:' preamble is skipped; Position is the title."""
    entries, problems = read(OWN / "linkedin_connections.csv")
    assert problems == []
    assert summary(entries) == [
        (5, "Jérôme Rivière", "Jérôme", "Rivière", "", "Chirurgien", "Clinique du Parc", "",
         ["jerome.riviere@exemple.fr"], [], [], []),
        (6, "Léa Perrin", "Léa", "Perrin", "", "Pharmacienne", "Pharmacie Perrin, Lyon", "",
         [], [], [], []),
    ]  # fmt: skip


def test_sheet_with_just_nom_and_courriel() -> None:
    """'Nom;Courriel' with no 'Prénom': 'Nom' is the whole name."""
    entries, problems = read(OWN / "nom_courriel.csv")
    assert problems == []
    assert [(e.origin.line, e.name, e.family_name, e.emails) for e in entries] == [
        (2, "Dr Noël Faure", "", ["noel.faure@exemple.fr"]),
        (3, "Cabinet Perrin, Lyon", "", ["accueil@cabinet-perrin.exemple.fr"]),
    ]


def test_broken_rows_in_the_middle_are_reported_and_the_rest_is_read() -> None:
    """Extra cell, unclosed quote, short row: a Problem each; the good rows still come."""
    entries, problems = read(OWN / "broken_rows.csv")
    assert [(e.origin.line, e.emails) for e in entries] == [
        (2, ["helene.lefevre@exemple.fr"]),
        (5, ["jerome.riviere@exemple.fr"]),
        (7, ["maelle.berenger@exemple.fr"]),
    ]
    assert [(p.kind, p.origin.line) for p in problems] == [
        ("malformed", 3),
        ("malformed", 4),
        ("malformed", 6),
    ]
    assert str(problems[0]).startswith(f"{OWN / 'broken_rows.csv'}:3: ")


# --- --map ---------------------------------------------------------------------------


def test_map_names_columns_tolerantly(tmp_path: Path) -> None:
    """--map matches headers ignoring case, accents and spacing."""
    path = write(tmp_path, "Qui;Adresse électronique perso\nNoël Faure;noel@exemple.fr\n")
    entries, _ = read(path, mapping={"email": "adresse electronique PERSO", "name": "qui"})
    assert [(e.name, e.emails) for e in entries] == [("Noël Faure", ["noel@exemple.fr"])]


def test_map_overrides_the_detected_column() -> None:
    """A mapped field reads only the mapped column."""
    entries, _ = read(
        OWN / "outlook_fr_cp1252_comma.csv",
        mapping={"email": "Adresse de messagerie 2", "title": "Profession"},
    )
    assert entries[0].emails == ["h.lefevre@example.org"]
    assert entries[0].title == "Médecin"


def test_map_to_a_missing_column_names_the_file_and_the_columns() -> None:
    """A mapped column that does not exist is a SourceError listing what exists."""
    path = OWN / "nom_courriel.csv"
    with pytest.raises(SourceError) as caught:
        list(read_csv(path, mapping={"email": "Mél"}))
    assert str(path) in str(caught.value)
    assert "'Nom', 'Courriel'" in str(caught.value)


def test_map_with_an_unknown_field_is_a_usage_error() -> None:
    """--map keys are Entry fields; anything else is refused with the list."""
    with pytest.raises(UsageError, match="given_name"):
        list(read_csv(OWN / "nom_courriel.csv", mapping={"courriel": "Courriel"}))


def test_map_by_column_number_on_a_headerless_file(tmp_path: Path) -> None:
    """Without a header, --map takes column numbers (1 = first)."""
    path = write(tmp_path, "x;Noël;noel@exemple.fr;n2@exemple.fr\n")
    entries, _ = read(path, mapping={"email": "4", "name": "2"})
    assert [(e.name, e.emails) for e in entries] == [("Noël", ["n2@exemple.fr"])]


# --- headers and delimiters ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("Adresse de messagerie 2", "emails"),
        ("E-mail 2 Address", "emails"),
        ("E-Mail 3: Adresse ", "emails"),
        ("Primäre E-Mail-Adresse", "emails"),
        ("Adresse électronique principale", "emails"),
        ("E-mail 1 - Value", "emails"),
        ("courriel", "emails"),
        ("Email (Home)", "emails"),
        ("Type de messagerie", ""),
        ("Nom complet de l'adresse de messagerie", ""),
        ("E-mail Display Name", ""),
        ("E-mail 1 - Label", ""),
        ("Prénom", "given"),
        ("Deuxième prénom", "middle"),
        ("Nom à afficher", "display"),
        ("Société", "organization"),
        ("Catégories", "groups"),
        ("Tél. mobile", "phones"),
        ("Télécopie (bureau)", ""),
        ("Arbeitstitel", "title"),
        ("Organization 1 - Title", "title"),
    ],
)
def test_header_aliases(header: str, kind: str) -> None:
    """Known headers of Outlook, Google, Thunderbird and sheets map to their field."""
    assert classify(header) == kind


def test_headers_match_ignoring_case_accents_punctuation_and_spacing() -> None:
    """normalize() folds what differs between exports of the same column."""
    assert normalize("Adresse de messagerie 2") == normalize("ADRESSE-de-méssagerie2")
    assert normalize("Straße (privat)") == "strasseprivat"


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("Nom;Courriel\nDupont, Jean;j@exemple.fr\n", ";"),
        ('"a"\t"b, c; d"\n"1"\t"2"\n', "\t"),
        ('Notes:\n"a, b, c"\n\nx;y\n1;2\n', ";"),
        ("Email\nnoel@exemple.fr\n", ","),
    ],
    ids=["comma", "semicolon-with-commas-in-data", "tab-quoted", "preamble", "one-column"],
)
def test_delimiter_is_sniffed_outside_quotes(text: str, delimiter: str) -> None:
    """The delimiter counted outside quotes, consistently across lines, wins."""
    assert sniff_delimiter(text.splitlines(keepends=True)) == delimiter


def test_email_column_found_by_its_values(tmp_path: Path) -> None:
    """No e-mail header: a column whose values look like addresses is used."""
    path = write(tmp_path, "Nom,Contact\nNoël Faure,noel@exemple.fr\nZoé Moreau,zoe@exemple.fr\n")
    entries, _ = read(path)
    assert [e.emails for e in entries] == [["noel@exemple.fr"], ["zoe@exemple.fr"]]


def test_no_email_column_names_the_headers_and_suggests_map(tmp_path: Path) -> None:
    """No recognisable e-mail column: SourceError with the headers and --map email=."""
    path = write(tmp_path, "Nom,Téléphone\nNoël Faure,04 00 00 00 00\n")
    with pytest.raises(SourceError) as caught:
        list(read_csv(path))
    message = str(caught.value)
    assert str(path) in message
    assert "'Nom', 'Téléphone'" in message
    assert "--map email=" in message


# --- files that cannot be read at all ---------------------------------------------------


def test_empty_file_is_a_source_error(tmp_path: Path) -> None:
    """An empty file says so."""
    with pytest.raises(SourceError, match="empty"):
        list(read_csv(write(tmp_path, "")))


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    """A path that does not exist is a SourceError, not an OSError."""
    with pytest.raises(SourceError, match="cannot be read"):
        list(read_csv(tmp_path / "absent.csv"))


def test_binary_file_is_a_source_error(tmp_path: Path) -> None:
    """NUL bytes in the header row: not a CSV text file (an .xlsx?)."""
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00email,\x00\x00name\n\x00\x01\x02\n")
    with pytest.raises(SourceError, match="binary"):
        list(read_csv(path, encoding="latin-1"))


def test_header_only_file_has_no_entries(tmp_path: Path) -> None:
    """A header with no rows is an empty address book, not an error."""
    assert read(write(tmp_path, "Prénom,Nom,Courriel\n")) == ([], [])


# --- broken rows ----------------------------------------------------------------------


def test_row_with_nul_bytes_is_malformed_and_skipped(tmp_path: Path) -> None:
    """A row holding NUL bytes is reported; the rows around it are read."""
    path = write(tmp_path, "Nom,Courriel\nA,a@exemple.fr\nB\x00,b@exemple.fr\nC,c@exemple.fr\n")
    entries, problems = read(path)
    assert [e.emails[0] for e in entries] == ["a@exemple.fr", "c@exemple.fr"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 3)]


def test_one_megabyte_cell_is_malformed_and_skipped(tmp_path: Path) -> None:
    """A cell over FIELD_LIMIT characters is reported; the next rows are read."""
    huge = "x" * 1_000_000
    path = write(tmp_path, f"Nom,Courriel\nA,a@exemple.fr\n{huge},b@exemple.fr\nC,c@exemple.fr\n")
    entries, problems = read(path)
    assert [e.emails[0] for e in entries] == ["a@exemple.fr", "c@exemple.fr"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 3)]
    assert str(FIELD_LIMIT) in problems[0].message


def test_five_megabyte_line_is_a_problem_and_the_next_rows_keep_their_lines(
    tmp_path: Path,
) -> None:
    """A physical line over LINE_LIMIT characters is skipped unheld and reported with
    its line number; the rows after it are read, numbered by their own lines."""
    huge = "x" * (5 * 1024 * 1024)
    text = f"Nom,Courriel\r\nA,a@exemple.fr\r\nB,{huge}\r\nC,c@exemple.fr\r\nD,d@exemple.fr\r\n"
    path = write(tmp_path, text)
    entries, problems = read(path)
    assert [(e.origin.line, e.emails) for e in entries] == [
        (2, ["a@exemple.fr"]),
        (4, ["c@exemple.fr"]),
        (5, ["d@exemple.fr"]),
    ]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 3)]
    assert str(problems[0]) == (
        f"{path}:3: line 3 is too long (over {LINE_LIMIT} characters): skipped"
    )


def test_quote_left_open_until_the_end_of_the_file(tmp_path: Path) -> None:
    """An unterminated quote is reported and every line after it is read again."""
    text = 'Nom,Courriel\n"A,a@exemple.fr\nB,b@exemple.fr\nC,c@exemple.fr\n'
    entries, problems = read(write(tmp_path, text))
    assert [(e.origin.line, e.emails) for e in entries] == [
        (3, ["b@exemple.fr"]),
        (4, ["c@exemple.fr"]),
    ]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 2)]


def test_short_row_is_malformed(tmp_path: Path) -> None:
    """A row with fewer cells than the header is reported, not misread."""
    entries, problems = read(write(tmp_path, "Prénom,Nom,Courriel\nNoël,noel@exemple.fr\n"))
    assert entries == []
    assert "2 cells where the header has 3" in problems[0].message


def test_extra_empty_cells_at_the_end_of_a_row_are_accepted(tmp_path: Path) -> None:
    """Trailing empty cells beyond the header (Thunderbird) do not break a row."""
    entries, problems = read(write(tmp_path, "Nom,Courriel\nNoël,noel@exemple.fr,,\n"))
    assert (len(entries), problems) == (1, [])


def test_values_are_trimmed_but_not_validated(tmp_path: Path) -> None:
    """Addresses are trimmed and split; invalid ones are kept for the merge step."""
    path = write(tmp_path, 'Nom,Courriel\n Noël ,"  a@exemple.fr ; pas une adresse "\n')
    (entry,), _ = read(path)
    assert (entry.name, entry.emails) == ("Noël", ["a@exemple.fr", "pas une adresse"])


def test_empty_rows_are_not_contacts(tmp_path: Path) -> None:
    """Blank lines and rows of empty cells yield nothing."""
    entries, problems = read(write(tmp_path, "Nom,Courriel\n\n,\nNoël,n@exemple.fr\n"))
    assert ([e.origin.line for e in entries], problems) == ([4], [])


# --- streaming ------------------------------------------------------------------------


def _peak_bytes(path: Path) -> int:
    tracemalloc.start()
    try:
        for _ in read_csv(path, encoding="utf-8"):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _lines(n: int) -> Iterator[str]:
    yield "Prénom,Nom,Courriel\n"
    for i in range(n):
        yield f"Noël{i},Faure,noel.{i}@exemple.fr\n"


def test_memory_stays_flat_however_many_rows(tmp_path: Path) -> None:
    """Peak memory for 20,000 rows is about that for 1,000: rows are never all held."""
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text("".join(_lines(1_000)), encoding="utf-8")
    large.write_text("".join(_lines(20_000)), encoding="utf-8")
    assert _peak_bytes(large) < _peak_bytes(small) * 1.5 + 200_000


# --- properties -------------------------------------------------------------------------

CSV_CHARS = st.sampled_from(list(',;\t"\n\r\x00 @.éa') + list(string.ascii_letters[:6]))


def _only_source_errors(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}.csv"
        path.write_bytes(data)
        try:
            for item in read_csv(path):
                if isinstance(item, Problem):
                    assert item.origin.line >= 1
                    assert item.kind in {"malformed", "encoding"}
        except SourceError:
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(CSV_CHARS, max_size=300))
def test_random_text_never_raises_anything_but_source_error(text: str) -> None:
    """Any text at all: entries, problems, or a SourceError; never a traceback."""
    _only_source_errors(text.encode("utf-8"), "text")


BASE = (OWN / "broken_rows.csv").read_bytes() + (OWN / "google_new.csv").read_bytes()[:400]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(BASE)),
            st.integers(0, 5),
            st.sampled_from([b"", b'"', b",", b";", b"\t", b"\n", b"\r", b"\x00", b"\xff", b"@"]),
        ),
        max_size=8,
    )
)
def test_mutated_csv_never_raises_anything_but_source_error(
    edits: list[tuple[int, int, bytes]],
) -> None:
    """A real-looking CSV with bytes cut and inserted: never a traceback."""
    data = BASE
    for position, cut, insert in edits:
        data = data[:position] + insert + data[position + cut :]
    _only_source_errors(data, "mutated")
