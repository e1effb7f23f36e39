"""The vCard reader: real exports (tests/data/vcards), structure, encodings, broken input."""

from __future__ import annotations

import json
import os
import signal
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify.addressbook.addresses import InvalidAddress, clean, strip_wrappers
from notify.addressbook.model import Entry, Problem
from notify.addressbook.vcards import read_vcards
from notify.errors import SourceError

DATA = Path(__file__).parent / "data" / "vcards"
EXPECTED: dict[str, Any] = json.loads((DATA / "EXPECTED.json").read_text("utf-8"))["files"]
CORPUS = sorted(EXPECTED)


def read(path: Path, **kwargs: Any) -> tuple[list[Entry], list[Problem]]:
    items = list(read_vcards(path, **kwargs))
    entries = [i for i in items if isinstance(i, Entry)]
    problems = [i for i in items if isinstance(i, Problem)]
    assert len(entries) + len(problems) == len(items)
    return entries, problems


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "c.vcf") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def card(*lines: str, version: str = "3.0") -> str:
    return "\r\n".join(["BEGIN:VCARD", f"VERSION:{version}", *lines, "END:VCARD", ""])


def expected_names(spec: dict[str, Any]) -> list[str]:
    """FN per contact; where FN is null or empty, the next fn_fallback value, else ''."""
    fallbacks = iter(spec.get("fn_fallback", []))
    return [(c["fn"] or next(fallbacks, "")).strip() for c in spec["contacts"]]


# --- the corpus of real exports -------------------------------------------------------


def test_every_corpus_file_has_an_expectation() -> None:
    """Each .vcf in tests/data/vcards is described in EXPECTED.json, and nothing is missing."""
    assert sorted(p.name for p in DATA.glob("*.vcf")) == CORPUS


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_file_gives_expected_contacts(name: str) -> None:
    """Count, names (FN, else built from N) and addresses in file order match EXPECTED.json.

    Values listed under invalid_emails are kept by the reader (the merge flags them)
    and left out of the comparison; raw values are compared after strip_wrappers,
    as EXPECTED.json lists mailboxes ('"Omega" <omega@...>' is omega@...).
    """
    spec = EXPECTED[name]
    entries, _ = read(DATA / name)
    assert len(entries) == spec["contact_count"]
    assert [e.name for e in entries] == expected_names(spec)
    invalid = spec.get("invalid_emails", [[] for _ in entries])
    got = [
        [strip_wrappers(x) for x in e.emails if x not in bad]
        for e, bad in zip(entries, invalid, strict=True)
    ]
    assert got == [c["emails"] for c in spec["contacts"]]
    for e, bad in zip(entries, invalid, strict=True):
        assert all(b in e.emails for b in bad)


def _clean_cases() -> list[Any]:
    cases = []
    for name in CORPUS:
        marks = []
        if name == "calcard__059.vcf":
            marks.append(
                pytest.mark.xfail(
                    strict=True,
                    reason="EXPECTED lists 'e@c' as an address (with a note to flag it as "
                    "suspicious); clean() rightly rejects a domain without a dot",
                )
            )
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


@pytest.mark.parametrize("name", _clean_cases())
def test_corpus_addresses_are_judged_by_clean(name: str) -> None:
    """Every invalid_emails value is rejected by clean(); every listed address accepted."""
    spec = EXPECTED[name]
    for contact in spec["contacts"]:
        for email in contact["emails"]:
            clean(email)
    for value in (v for values in spec.get("invalid_emails", []) for v in values):
        with pytest.raises(InvalidAddress):
            clean(value)


def test_corpus_entries_start_on_the_line_of_their_begin() -> None:
    """Entry.origin names the file and the line its BEGIN:VCARD is on."""
    path = DATA / "folker__v4.vcf"
    entries, _ = read(path)
    begins = [
        n
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if line.startswith("BEGIN:VCARD")
    ]
    assert [e.origin.line for e in entries] == begins
    assert all(e.origin.path == str(path) for e in entries)


def test_cr_cr_lf_file_counts_each_line_once() -> None:
    """An iPhone export with CR CR LF line ends gives one contact ending on line 612."""
    entries, problems = read(DATA / "ezvcard__John_Doe_IPHONE.vcf")
    assert [e.emails for e in entries] == [["john.doe@ibm.com"]]
    assert entries[0].phones[0] == "905-555-1234"
    assert not [p for p in problems if p.kind == "malformed"]


def test_bad_quoted_printable_byte_is_reported_not_fatal() -> None:
    """The Android export's ORG with a stray =80 gives an encoding problem on its line."""
    _, problems = read(DATA / "ezvcard__John_Doe_ANDROID.vcf")
    assert [(p.kind, p.origin.line) for p in problems] == [("encoding", 82)]


def test_undeclared_code_page_is_reported_once_per_file() -> None:
    """A guessed encoding gives one 'encoding' problem, not one per card."""
    _, problems = read(DATA / "ical4j__vcard-vCards-SAP.vcf")
    assert [p.kind for p in problems] == ["encoding"]
    assert "cp1252" in problems[0].message


# --- properties ------------------------------------------------------------------------


def test_fields_are_read_from_their_properties(tmp_path: Path) -> None:
    """FN, N, ORG, TITLE, LANG, CATEGORIES, TEL and ADR fill their Entry fields."""
    path = write(
        tmp_path,
        card(
            "FN:Dr Claire Martin",
            "N:Martin;Claire;Anne;Dr;",
            "ORG:Cabinet Martin;Accueil",
            "TITLE:Médecin généraliste",
            "ROLE:Associée",
            "LANG:fr-FR",
            "CATEGORIES:Confrères,Lyon\\, centre",
            "TEL;TYPE=work:+33 4 00 00 00 00",
            "ADR;TYPE=work:;Bât. B;12 rue de la Paix\\nEscalier 2;Lyon;;69001;France",
            "EMAIL:claire@exemple.fr",
        ),
    )
    [entry], problems = read(path)
    assert problems == []
    assert (entry.name, entry.given_name, entry.family_name) == (
        "Dr Claire Martin",
        "Claire",
        "Martin",
    )
    assert (entry.civility, entry.organization, entry.title) == (
        "Dr",
        "Cabinet Martin",
        "Médecin généraliste",
    )
    assert entry.language == "fr"
    assert entry.groups == ["Confrères", "Lyon, centre"]
    assert entry.phones == ["+33 4 00 00 00 00"]
    assert entry.postal == ["Bât. B, 12 rue de la Paix, Escalier 2, 69001 Lyon, France"]


def test_role_is_the_title_when_there_is_no_title(tmp_path: Path) -> None:
    """ROLE fills Entry.title only when TITLE is missing."""
    [entry], _ = read(write(tmp_path, card("FN:A", "ROLE:Pharmacien")))
    assert entry.title == "Pharmacien"


@pytest.mark.parametrize(
    ("lines", "version", "preferred"),
    [
        (["EMAIL:a@x.fr", "EMAIL;PREF=1:b@x.fr"], "4.0", 1),
        (["EMAIL;PREF=2:a@x.fr", "EMAIL;PREF=1:b@x.fr", "EMAIL:c@x.fr"], "4.0", 1),
        (["EMAIL;TYPE=INTERNET:a@x.fr", "EMAIL;TYPE=INTERNET,pref:b@x.fr"], "3.0", 1),
        (["EMAIL;type=INTERNET:a@x.fr", "EMAIL;type=WORK;type=pref:b@x.fr"], "3.0", 1),
        (["EMAIL;INTERNET:a@x.fr", "EMAIL;PREF;INTERNET:b@x.fr"], "2.1", 1),
        (["EMAIL:a@x.fr", "EMAIL:b@x.fr"], "3.0", 0),
    ],
    ids=["4.0-pref", "4.0-lowest-pref", "3.0-type-list", "3.0-type-params", "2.1-bare", "none"],
)
def test_preferred_address_is_indexed(
    tmp_path: Path, lines: list[str], version: str, preferred: int
) -> None:
    """Entry.preferred is the index of the PREF / TYPE=pref address, 0 when none."""
    [entry], _ = read(write(tmp_path, card(*lines, version=version)))
    assert entry.preferred == preferred


def test_contact_without_email_keeps_phone_and_postal_address(tmp_path: Path) -> None:
    """A card with no EMAIL is still yielded, with what reaches the person otherwise."""
    text = card("FN:Jean Dupont", "TEL:04 00 00 00 01", "ADR:;;1 place Bellecour;Lyon;;69002;")
    [entry], _ = read(write(tmp_path, text))
    assert (entry.emails, entry.phones, entry.postal) == (
        [],
        ["04 00 00 00 01"],
        ["1 place Bellecour, 69002 Lyon"],
    )


def test_name_is_built_from_n_when_fn_is_empty(tmp_path: Path) -> None:
    """Given, additional and family names, without honorifics, when FN is empty."""
    [entry], _ = read(write(tmp_path, card("FN:", "N:Branntwein;Franz;M.;Herr;")))
    assert (entry.name, entry.civility) == ("Franz M. Branntwein", "Herr")


def test_group_prefix_and_lower_case_names_are_understood(tmp_path: Path) -> None:
    """'item1.EMAIL' and 'email' are EMAIL properties."""
    [entry], _ = read(write(tmp_path, card("item1.EMAIL;type=INTERNET:a@x.fr", "email:b@x.fr")))
    assert entry.emails == ["a@x.fr", "b@x.fr"]


def test_email_values_are_kept_raw_but_trimmed(tmp_path: Path) -> None:
    """Values that are not addresses are kept for the merge to flag; blanks are trimmed."""
    [entry], _ = read(write(tmp_path, card("EMAIL: a@x.fr ", "EMAIL:not an address", "EMAIL:")))
    assert entry.emails == ["a@x.fr", "not an address"]


def test_quoted_printable_with_soft_breaks_and_charset(tmp_path: Path) -> None:
    """2.1 QP values join over soft line breaks; CHARSET decides how their bytes read."""
    text = card(
        "FN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:Ren=E9e Lef=",
        "=E8vre",
        "N;CHARSET=UTF-8;QUOTED-PRINTABLE:Lef=C3=A8vre;Ren=C3=A9e",
        version="2.1",
    )
    [entry], problems = read(write(tmp_path, text))
    assert (entry.name, entry.family_name, entry.given_name) == (
        "Renée Lefèvre",
        "Lefèvre",
        "Renée",
    )
    assert problems == []


def test_charset_parameter_overrides_the_file_encoding(tmp_path: Path) -> None:
    """A 2.1 property with CHARSET=SHIFT_JIS is read so, even beside UTF-8 text."""
    raw = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN;CHARSET=SHIFT_JIS:".encode("ascii")
        + "伊能".encode("shift_jis")
        + "\r\nORG:Café\r\nEND:VCARD\r\n".encode()
    )
    path = tmp_path / "mixed.vcf"
    path.write_bytes(raw)
    [entry], _ = read(path)
    assert (entry.name, entry.organization) == ("伊能", "Café")


def test_folded_lines_are_unfolded(tmp_path: Path) -> None:
    """A 3.0 value folded over lines (CRLF + one blank) is one value."""
    [entry], _ = read(write(tmp_path, card("FN:Jean-Baptiste Poque", " lin", "EMAIL:jb@x.", " fr")))
    assert (entry.name, entry.emails) == ("Jean-Baptiste Poquelin", ["jb@x.fr"])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_unicode_files_with_or_without_bom(tmp_path: Path, encoding: str) -> None:
    """UTF-16 (with BOM, or without it in either byte order) and UTF-8 with BOM."""
    text = card("FN:Ἀθηνᾶ Ὀδυσσέως", "EMAIL:athena@exemple.gr")
    [entry], _ = read(write(tmp_path, text, encoding=encoding))
    assert (entry.name, entry.emails) == ("Ἀθηνᾶ Ὀδυσσέως", ["athena@exemple.gr"])


def test_windows_1252_without_declaration(tmp_path: Path) -> None:
    """A French Outlook export in Windows-1252 with no CHARSET reads right."""
    text = card("FN:Hélène Lœuvre", "ORG:Pharmacie de l’Étoile", "EMAIL:h@x.fr", version="2.1")
    [entry], problems = read(write(tmp_path, text, encoding="cp1252"))
    assert (entry.name, entry.organization) == ("Hélène Lœuvre", "Pharmacie de l’Étoile")
    assert [p.kind for p in problems] == ["encoding"]


def test_declared_encoding_is_used(tmp_path: Path) -> None:
    """encoding= overrides detection."""
    path = write(tmp_path, card("FN:Ελένη"), encoding="iso-8859-7")
    [entry], _ = read(path, encoding="iso-8859-7")
    assert entry.name == "Ελένη"


def test_agent_card_inside_a_card_is_skipped(tmp_path: Path) -> None:
    """A 2.1 AGENT holding a whole card adds no contact and breaks nothing."""
    text = card(
        "FN:Boss",
        "AGENT:",
        "BEGIN:VCARD",
        "FN:Assistant",
        "END:VCARD",
        "EMAIL:b@x.fr",
        version="2.1",
    )
    entries, problems = read(write(tmp_path, text))
    assert [(e.name, e.emails) for e in entries] == [("Boss", ["b@x.fr"])]
    assert problems == []


# --- broken input ------------------------------------------------------------------------


def test_broken_card_in_the_middle_is_reported_and_salvaged(tmp_path: Path) -> None:
    """A card without END:VCARD gives a 'malformed' problem with its line; all cards are read."""
    text = (
        card("FN:Un", "EMAIL:un@x.fr")
        + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Deux\r\nEMAIL:deux@x.fr\r\n"
        + card("FN:Trois", "EMAIL:trois@x.fr")
    )
    path = write(tmp_path, text)
    entries, problems = read(path)
    assert [(e.name, e.emails, e.origin.line) for e in entries] == [
        ("Un", ["un@x.fr"], 1),
        ("Deux", ["deux@x.fr"], 6),
        ("Trois", ["trois@x.fr"], 10),
    ]
    [problem] = problems
    assert (problem.kind, problem.origin.path, problem.origin.line) == ("malformed", str(path), 6)
    assert "salvaged" in problem.message
    assert str(problem).startswith(f"{path}:6: ")


def test_truncated_file_salvages_the_last_card(tmp_path: Path) -> None:
    """A file cut before the last END:VCARD still gives that card, with a problem."""
    path = write(tmp_path, card("FN:Un") + "BEGIN:VCARD\nFN:Deux\nEMAIL:deux@x.fr")
    entries, problems = read(path)
    assert [e.emails for e in entries] == [[], ["deux@x.fr"]]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 5)]


def test_unreadable_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    """A line that is not a property is skipped and named; '#' comment lines are ignored."""
    path = write(tmp_path, card("FN:A", "# a comment", "garbage without colon", "EMAIL:a@x.fr"))
    [entry], problems = read(path)
    assert entry.emails == ["a@x.fr"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 1)]
    assert "line(s) 5 " in problems[0].message


def test_lines_outside_cards_with_an_address_are_salvaged(tmp_path: Path) -> None:
    """Properties between cards (a lost BEGIN line) are read as a contact and reported."""
    text = (
        card("FN:Un")
        + "BEGN:VCARD\r\nFN:Lost\r\nEMAIL:lost@x.fr\r\nEND:VCARD\r\n"
        + card("FN:Trois")
    )
    entries, problems = read(write(tmp_path, text))
    assert [e.name for e in entries] == ["Un", "Lost", "Trois"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 5)]


def test_empty_file_gives_nothing(tmp_path: Path) -> None:
    """An empty (or blank) file yields no entry and no error."""
    assert read(write(tmp_path, "")) == ([], [])
    assert read(write(tmp_path, "\r\n \r\n", name="blank.vcf")) == ([], [])


@pytest.mark.parametrize(
    "content",
    [b"Name,Email\nJean,jean@x.fr\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, b"hello"],
    ids=["csv", "binary", "text"],
)
def test_file_that_is_not_a_vcard_raises_source_error(tmp_path: Path, content: bytes) -> None:
    """A file with no BEGIN:VCARD raises SourceError naming the file."""
    path = tmp_path / "notes.vcf"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="not a vCard") as info:
        read(path)
    assert info.value.path == str(path)


def test_missing_file_raises_source_error(tmp_path: Path) -> None:
    """A path that does not exist raises SourceError naming it."""
    with pytest.raises(SourceError) as info:
        read(tmp_path / "absent.vcf")
    assert info.value.path == str(tmp_path / "absent.vcf")


def test_directory_raises_source_error(tmp_path: Path) -> None:
    """A directory given as a vCard file raises SourceError."""
    with pytest.raises(SourceError):
        read(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_raises_source_error(tmp_path: Path) -> None:
    """A file without read permission raises SourceError."""
    path = write(tmp_path, card("FN:A"))
    path.chmod(0)
    with pytest.raises(SourceError):
        read(path)


# --- size and memory ---------------------------------------------------------------------


def test_huge_photo_is_skipped_without_being_decoded_or_joined(tmp_path: Path) -> None:
    """A card with a 6 MB folded PHOTO is read quickly, in little memory."""
    photo = "\r\n ".join(["QUJDRA" * 12] * 80_000)
    text = card("FN:Photo", f"PHOTO;ENCODING=b;TYPE=JPEG:{photo}", "EMAIL:p@x.fr")
    path = write(tmp_path, text)
    assert path.stat().st_size > 6_000_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        [entry], _ = read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entry.emails == ["p@x.fr"]
    assert peak < 2_000_000  # the photo alone is 6 MB
    assert time.perf_counter() - started < 10


def test_photo_on_one_unfolded_line_is_cut_not_held(tmp_path: Path) -> None:
    """A 5 MB PHOTO written on a single line does not end up in memory whole."""
    text = card("FN:Photo", "PHOTO;ENCODING=BASE64:" + "A" * 5_000_000, "EMAIL:p@x.fr")
    path = write(tmp_path, text)
    tracemalloc.start()
    try:
        [entry], _ = read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entry.emails == ["p@x.fr"]
    assert peak < 2_000_000  # the photo alone is 5 MB


@pytest.mark.slow
def test_memory_stays_flat_on_20000_cards(tmp_path: Path) -> None:
    """Streaming 20,000 cards (about 5 MB) peaks under 1 MB of Python allocations."""
    one = card("FN:Jean Dupont", "N:Dupont;Jean;;;", "EMAIL;TYPE=pref:j@x.fr", "TEL:0400000000")
    path = write(tmp_path, one * 20_000)
    tracemalloc.start()
    try:
        count = sum(1 for item in read_vcards(path) if isinstance(item, Entry))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 2_000_000  # the file is 5 MB


# --- property tests: whatever the bytes, only SourceError, and quickly -------------------

_SMALL_CORPUS = sorted(n for n in CORPUS if (DATA / n).stat().st_size < 8000)
_LINES = [
    "BEGIN:VCARD",
    "END:VCARD",
    "begin:vcard ",
    "VERSION:2.1",
    "VERSION:4.0",
    "FN:Jean Dupont",
    "N:Dupont;Jean;;Dr;",
    "EMAIL;PREF=1:a@x.fr",
    "EMAIL;TYPE=pref,work:b@x.fr",
    "item1.EMAIL;type=INTERNET:c@x.fr",
    "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=A9=",
    "N;ENCODING=QUOTED-PRINTABLE:=ZZ=",
    "=",
    " folded",
    "\tfolded",
    "PHOTO;ENCODING=BASE64:QUJD",
    "AGENT:",
    "ADR:;;1 rue;Lyon;;69001;",
    "TEL;PREF:1",
    "LANG;PREF=x:fr-FR",
    "CATEGORIES:a,b\\,c",
    "# comment",
    'ADR;LABEL="a:b";TYPE=work:;;x',
    "FN;CHARSET=hex:41",
    "EMAIL;CHARSET=idna;ENCODING=B:////",
    "EMAIL;CHARSET=utf-16;ENCODING=QUOTED-PRINTABLE:=00a",
    "ORG;PREF=99999999999999999999:x",
    "",
]


def _read_guarded(path: Path) -> None:
    """Read everything; fail (rather than hang) past 5 seconds; only SourceError may escape."""

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError("read_vcards took more than 5 seconds")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, 5)
    try:
        for item in read_vcards(path):
            assert isinstance(item, Entry | Problem)
    except SourceError:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY_SETTINGS
@given(
    lines=st.lists(st.one_of(st.sampled_from(_LINES), st.text(max_size=30)), max_size=40),
    ending=st.sampled_from(["\r\n", "\n", "\r", "\r\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-16-le", "cp1252", "shift_jis"]),
)
def test_random_vcards_never_raise_anything_but_source_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], ending: str, encoding: str
) -> None:
    """Random mixes of vCard lines and text, in any line ending and encoding."""
    path = tmp_path_factory.mktemp("random") / "r.vcf"
    path.write_bytes(ending.join(lines).encode(encoding, errors="replace"))
    _read_guarded(path)


@st.composite
def _mutated_corpus_file(draw: st.DrawFn) -> bytes:
    data = (DATA / draw(st.sampled_from(_SMALL_CORPUS))).read_bytes()
    for _ in range(draw(st.integers(1, 4))):
        data = _mutate(draw, data)
    return data


def _mutate(draw: st.DrawFn, data: bytes) -> bytes:
    where = draw(st.integers(0, max(len(data) - 1, 0)))
    kind = draw(st.sampled_from(["truncate", "drop-end", "bytes", "qp", "param", "delete"]))
    if kind == "truncate":
        return data[:where]
    if kind == "drop-end":
        return data.replace(b"END:VCARD", b"", draw(st.integers(1, 3)))
    if kind == "bytes":
        return data[:where] + draw(st.binary(max_size=20)) + data[where:]
    if kind == "qp":
        return data[:where] + b";ENCODING=QUOTED-PRINTABLE:=Z=\xff=" + data[where:]
    if kind == "param":
        param = draw(st.sampled_from([b";CHARSET=rot13", b";PREF=-1", b';TYPE="', b";;;=;"]))
        return data.replace(b":", param + b":", 1)
    return data[:where] + data[where + draw(st.integers(1, 50)) :]


@_PROPERTY_SETTINGS
@given(data=_mutated_corpus_file())
def test_mutated_corpus_files_never_raise_anything_but_source_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """Real exports truncated, without END lines, with random bytes, bad QP, odd parameters."""
    path = tmp_path_factory.mktemp("mutated") / "m.vcf"
    path.write_bytes(data)
    _read_guarded(path)
