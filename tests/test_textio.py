"""Encoding detection for address books: BOMs, UTF-8, UTF-16, Windows code pages."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from notify.addressbook.textio import detect_encoding, is_ascii_compatible, open_text
from notify.errors import SourceError

VCARDS = Path(__file__).parent / "data" / "vcards"


def write(tmp_path: Path, data: bytes, name: str = "f.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("folker__MultiAnsi_German.vcf", "cp1252"),
        ("folker__MultiAnsi_Greek.vcf", "cp1253"),
        ("folker__MultiAnsi_Hebrew.vcf", "cp1255"),
        ("folker__MultiAnsi_v3Ansi.vcf", "cp1252"),
        ("folker__AnsiIssue.vcf", "cp1252"),
        ("ical4j__vcard-vCards-SAP.vcf", "cp1252"),  # ISO-8859-1 text: the same letters
        ("folker__MultiAnsi_v3Utf16Bom.vcf", "utf-16-le"),
        ("folker__MultiAnsi_utf-8.vcf", "utf-8"),
        ("calcard__005.vcf", "utf-8"),
    ],
)
def test_corpus_files_are_detected_right(name: str, encoding: str) -> None:
    """The encodings EXPECTED.json gives for the corpus files are detected."""
    assert detect_encoding(VCARDS / name).encoding == encoding


SAMPLES = {
    "cp1252": "Hélène Lefèvre; Jürgen Müßig; Françoise Nuñez; l’Étoile; Ørsted",
    "cp1250": "Łódź; Wrocław; Zażółć gęślą jaźń; Příliš žluťoučký kůň",
    "cp1251": "Дмитрий Иванович Соколов; Наталья Сергеевна Попова; Київ",
    "cp1253": "Βαγγέλης Παπαδόπουλος; Ελένη Νικολάου; Αθήνα",
    "cp1255": "אפרים קישון; דוד בן גוריון; ירושלים",
}


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_code_page_is_chosen_from_the_text(tmp_path: Path, encoding: str) -> None:
    """Names in each script, saved without a declaration, come out in their code page."""
    path = write(tmp_path, SAMPLES[encoding].encode(encoding))
    detected = detect_encoding(path)
    assert (detected.encoding, detected.guessed) == (encoding, True)


def test_csv_in_windows_1252_is_not_taken_for_central_european(tmp_path: Path) -> None:
    """An Outlook CSV with German and French accents is Windows-1252, not Windows-1250."""
    text = "Nom;Prénom;Ville\r\nMüller;Jörg;Thüringen\r\nAndré;Zoé;Besançon\r\n"
    assert detect_encoding(write(tmp_path, text.encode("cp1252"))).encoding == "cp1252"


def test_declared_charset_in_a_vcard_is_a_hint(tmp_path: Path) -> None:
    """A code page named by a CHARSET parameter is preferred when the bytes agree."""
    data = "FN:Βαγγέλης\nLABEL;CHARSET=Windows-1253:x\n".encode("cp1253")
    assert detect_encoding(write(tmp_path, data)).encoding == "cp1253"


def test_lines_with_their_own_charset_are_no_evidence(tmp_path: Path) -> None:
    """A UTF-8 vCard with one Shift_JIS property is UTF-8 for the rest."""
    data = b"FN;CHARSET=SHIFT_JIS:" + "伊能".encode("shift_jis") + "\nORG:Café\n".encode()
    assert detect_encoding(write(tmp_path, data)).encoding == "utf-8"


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_byte_order_mark_wins(tmp_path: Path, bom: bytes, encoding: str) -> None:
    """A BOM decides the encoding and is skipped."""
    path = write(tmp_path, bom + "Zoé".encode(encoding))
    detected = detect_encoding(path)
    assert (detected.encoding, detected.bom_length, detected.guessed) == (
        encoding,
        len(bom),
        False,
    )
    with open_text(path) as (text, _):
        assert text.read() == "Zoé"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_recognised(tmp_path: Path, encoding: str) -> None:
    """UTF-16 with no BOM is recognised by its NUL bytes."""
    path = write(tmp_path, "BEGIN:VCARD\r\nFN:Zoé\r\n".encode(encoding))
    assert detect_encoding(path).encoding == encoding


def test_utf8_split_across_read_chunks_is_still_utf8(tmp_path: Path) -> None:
    """A multi-byte character straddling the chunk boundary does not break the check."""
    data = b"a" * (256 * 1024 - 1) + "é".encode() + b"z" * 10
    assert detect_encoding(write(tmp_path, data)).encoding == "utf-8"


def test_late_invalid_byte_makes_a_file_not_utf8(tmp_path: Path) -> None:
    """One Windows-1252 byte after the first megabyte is enough: the file is not UTF-8."""
    data = b"x" * (1 << 21) + "Müller".encode("cp1252")
    assert detect_encoding(write(tmp_path, data)).encoding == "cp1252"


def test_declared_encoding_skips_detection(tmp_path: Path) -> None:
    """An encoding given by the user is used as is, and a UTF-8 BOM still skipped."""
    path = write(tmp_path, codecs.BOM_UTF8 + b"abc")
    assert detect_encoding(path, "latin-1") == detect_encoding(path, "latin-1")
    assert detect_encoding(path, "latin-1").encoding == "latin-1"
    assert detect_encoding(path, "UTF8").bom_length == 3


@pytest.mark.parametrize("name", ["no-such-codec", "rot13", "hex"])
def test_unknown_or_non_text_declared_encoding_raises(tmp_path: Path, name: str) -> None:
    """A declared encoding that is not a text codec raises SourceError with a hint."""
    with pytest.raises(SourceError, match="unknown encoding") as info:
        detect_encoding(write(tmp_path, b"abc"), name)
    assert info.value.hint


def test_missing_file_raises_source_error(tmp_path: Path) -> None:
    """A missing file raises SourceError naming it."""
    with pytest.raises(SourceError, match="cannot be read") as info:
        detect_encoding(tmp_path / "absent.csv")
    assert info.value.path == str(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("encoding", "compatible"),
    [("utf-8", True), ("cp1252", True), ("shift_jis", True), ("utf-16-le", False)],
)
def test_ascii_compatibility(encoding: str, compatible: bool) -> None:
    """Encodings that write ASCII byte for byte are told apart from UTF-16."""
    assert is_ascii_compatible(encoding) is compatible
