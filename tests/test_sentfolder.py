"""The Sent-folder reader: recipients of the mail the hijacked mailbox sent."""

from __future__ import annotations

import mailbox
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify.addressbook._sentheaders import _parse_addresses, address_list
from notify.addressbook.model import Entry, Origin, Problem, SentMessage
from notify.addressbook.sentfolder import is_sent_folder, read_sent_folder
from notify.errors import SourceError, UsageError

DATA = Path(__file__).parent / "data" / "sent"
TRICKY = DATA / "tricky.mbox"
OWNER = "dr.martin@exemple.fr"
PARIS = timezone(timedelta(hours=1))
WINDOW = (datetime(2026, 11, 26, 8, 0, tzinfo=PARIS), datetime(2026, 11, 27, 18, 0, tzinfo=PARIS))


def _message(
    to: str = "",
    *,
    sender: str = OWNER,
    cc: str = "",
    bcc: str = "",
    date: datetime | None = datetime(2026, 10, 1, 9, 0, tzinfo=PARIS),
    subject: str = "Bonjour",
) -> EmailMessage:
    message = EmailMessage()
    if sender:
        message["From"] = sender
    for name, value in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if value:
            message[name] = value
    if date is not None:
        message["Date"] = format_datetime(date)
    message["Subject"] = subject
    message.set_content("Corps du message.\n")
    return message


def _mbox(folder: Path, messages: Iterable[EmailMessage], name: str = "Sent") -> Path:
    path = folder / name
    box = mailbox.mbox(path)
    for message in messages:
        box.add(message)
    box.close()
    return path


def _maildir(folder: Path, messages: Iterable[EmailMessage]) -> Path:
    path = folder / "Sent"
    box = mailbox.Maildir(path)
    for message in messages:
        box.add(message)
    box.close()
    return path


def _separator_lines(path: Path) -> list[int]:
    with path.open("rb") as stream:
        return [number for number, line in enumerate(stream, 1) if line.startswith(b"From ")]


def _read(path: Path, **options: object) -> tuple[list[Entry], list[Problem]]:
    items = list(read_sent_folder(path, **options))  # type: ignore[arg-type]
    entries = [item for item in items if isinstance(item, Entry)]
    problems = [item for item in items if isinstance(item, Problem)]
    return entries, problems


def _by_email(entries: list[Entry]) -> dict[str, Entry]:
    return {entry.emails[0]: entry for entry in entries}


# --- source detection ---------------------------------------------------------------


def test_is_sent_folder_recognises_an_mbox_file(tmp_path: Path) -> None:
    """An mbox file (first line 'From ') is a Sent folder."""
    assert is_sent_folder(_mbox(tmp_path, [_message("a@example.org")]))


def test_is_sent_folder_recognises_a_maildir(tmp_path: Path) -> None:
    """A folder with cur/ and new/ is a Sent folder."""
    assert is_sent_folder(_maildir(tmp_path, [_message("a@example.org")]))


def test_is_sent_folder_accepts_blank_lines_before_the_first_message(tmp_path: Path) -> None:
    """The first non-empty line is the one that counts."""
    path = tmp_path / "Sent"
    path.write_bytes(b"\n  \r\nFrom x Mon Jan  1 00:00:00 2026\nFrom: a@example.org\n\n")
    assert is_sent_folder(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("card.vcf", b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n"),
        ("book.csv", b"Name,E-mail\nJean,jean@example.org\n"),
        ("message.eml", b"From: a@example.org\nTo: b@example.org\n\nbody\n"),
        ("empty.mbox", b""),
    ],
    ids=["vcard", "csv", "eml-with-From-colon", "empty"],
)
def test_is_sent_folder_rejects_other_files(tmp_path: Path, name: str, content: bytes) -> None:
    """Address books, single messages and empty files are not Sent folders."""
    path = tmp_path / name
    path.write_bytes(content)
    assert not is_sent_folder(path)


def test_is_sent_folder_rejects_a_plain_folder_and_a_missing_path(tmp_path: Path) -> None:
    """A folder without cur/ and new/, or nothing at all, is not a Sent folder."""
    (tmp_path / "folder" / "cur").mkdir(parents=True)
    assert not is_sent_folder(tmp_path / "folder")
    assert not is_sent_folder(tmp_path / "missing")


def test_a_missing_path_raises_source_error_naming_it(tmp_path: Path) -> None:
    """A path that does not exist is a SourceError that names it."""
    with pytest.raises(SourceError, match=r"missing\.mbox: does not exist"):
        read_sent_folder(tmp_path / "missing.mbox")


def test_a_csv_file_raises_source_error_saying_what_was_expected(tmp_path: Path) -> None:
    """A file that is not an mbox is refused with the expected formats."""
    path = tmp_path / "book.csv"
    path.write_text("Name,E-mail\nJean,jean@example.org\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"book\.csv: is not an mbox file: expected an mbox"):
        read_sent_folder(path)


def test_a_folder_without_cur_and_new_raises_source_error(tmp_path: Path) -> None:
    """A folder that is not a Maildir is refused, and the error says what was expected."""
    with pytest.raises(SourceError, match="is a folder without cur/ and new/"):
        read_sent_folder(tmp_path)


# --- options ------------------------------------------------------------------------


def test_window_only_without_a_window_is_a_usage_error(tmp_path: Path) -> None:
    """window_only needs the compromise window."""
    path = _mbox(tmp_path, [_message("a@example.org")])
    with pytest.raises(UsageError, match="no window was given"):
        read_sent_folder(path, window_only=True)


def test_a_window_that_ends_before_it_starts_is_a_usage_error(tmp_path: Path) -> None:
    """A reversed window is refused rather than silently matching nothing."""
    path = _mbox(tmp_path, [_message("a@example.org")])
    with pytest.raises(UsageError, match=r"ends .* before it starts"):
        read_sent_folder(path, window=(WINDOW[1], WINDOW[0]))


def test_a_negative_min_count_is_a_usage_error(tmp_path: Path) -> None:
    """min_count cannot be negative."""
    path = _mbox(tmp_path, [_message("a@example.org")])
    with pytest.raises(UsageError, match="cannot be negative"):
        read_sent_folder(path, min_count=-1)


# --- aggregation --------------------------------------------------------------------


def test_one_entry_per_address_whatever_its_case(tmp_path: Path) -> None:
    """Addresses differing only in case are one recipient, kept as first written."""
    path = _mbox(
        tmp_path,
        [_message("Jean.Dupont@Example.org"), _message("jean.dupont@example.org")],
    )
    entries, _ = _read(path, owner=OWNER)
    assert [entry.emails for entry in entries] == [["Jean.Dupont@Example.org"]]
    assert entries[0].sent_count == 2


def test_to_cc_and_bcc_are_all_recipients(tmp_path: Path) -> None:
    """Recipients come from To, Cc and Bcc."""
    path = _mbox(
        tmp_path,
        [_message("to@example.org", cc="cc@example.org", bcc="bcc@exemple.fr")],
    )
    entries, _ = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == [
        "to@example.org",
        "cc@example.org",
        "bcc@exemple.fr",
    ]


def test_an_address_named_twice_in_one_message_counts_once(tmp_path: Path) -> None:
    """sent_count counts messages, not header mentions."""
    path = _mbox(tmp_path, [_message("a@example.org", cc="A@example.org", bcc="a@example.org")])
    entries, _ = _read(path, owner=OWNER)
    assert [(entry.emails[0], entry.sent_count) for entry in entries] == [("a@example.org", 1)]


def test_every_entry_is_marked_as_from_a_sent_folder(tmp_path: Path) -> None:
    """Entries carry from_sent_folder=True for the merge step."""
    path = _mbox(tmp_path, [_message("a@example.org, b@example.org")])
    entries, _ = _read(path, owner=OWNER)
    assert [entry.from_sent_folder for entry in entries] == [True, True]


def test_first_and_last_sent_come_from_the_date_headers(tmp_path: Path) -> None:
    """first_sent and last_sent are the earliest and latest Date, time-zone aware."""
    dates = [datetime(2026, 3, day, 10, 0, tzinfo=PARIS) for day in (5, 1, 9)]
    path = _mbox(tmp_path, [_message("a@example.org", date=date) for date in dates])
    entries, _ = _read(path, owner=OWNER)
    assert entries[0].first_sent == dates[1]
    assert entries[0].last_sent == dates[2]
    assert entries[0].first_sent is not None
    assert entries[0].first_sent.utcoffset() == timedelta(hours=1)


def test_a_message_without_date_counts_but_sets_no_date(tmp_path: Path) -> None:
    """An undated message adds to sent_count and leaves the dates alone."""
    path = _mbox(tmp_path, [_message("a@example.org", date=None)])
    entries, problems = _read(path, owner=OWNER)
    assert (entries[0].sent_count, entries[0].first_sent, entries[0].last_sent) == (1, None, None)
    assert problems == []


def test_a_date_without_time_zone_is_read_as_utc(tmp_path: Path) -> None:
    """A Date header with no zone is taken as UTC, so it can be compared."""
    path = tmp_path / "Sent"
    path.write_bytes(
        b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\n"
        b"To: a@example.org\nDate: Thu, 1 Oct 2026 09:00:00\n\nbody\n"
    )
    entries, _ = _read(path, owner=OWNER)
    assert entries[0].first_sent == datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def test_entries_come_in_the_order_of_the_first_message_naming_them(tmp_path: Path) -> None:
    """Order is the order of first appearance in the folder, not alphabetical or by count."""
    path = _mbox(
        tmp_path,
        [
            _message("zoe@example.org"),
            _message("bernard@example.org, zoe@example.org"),
            _message("anne@example.org, bernard@example.org"),
        ],
    )
    entries, _ = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == [
        "zoe@example.org",
        "bernard@example.org",
        "anne@example.org",
    ]


def test_problems_come_before_entries(tmp_path: Path) -> None:
    """Every Problem is yielded before the first Entry."""
    path = _mbox(tmp_path, [_message("a@example.org"), _message("b@example.org", sender="")])
    kinds = [type(item).__name__ for item in read_sent_folder(path, owner=OWNER)]
    assert kinds == ["Problem", "Entry"]


def test_mbox_origin_is_the_separator_line_of_the_first_message(tmp_path: Path) -> None:
    """Origin names the mbox and the 'From ' line of the first message naming the recipient."""
    path = _mbox(tmp_path, [_message("a@example.org"), _message("a@example.org, b@example.org")])
    lines = _separator_lines(path)
    entries, _ = _read(path, owner=OWNER)
    assert [entry.origin for entry in entries] == [
        Origin(str(path), lines[0]),
        Origin(str(path), lines[1]),
    ]


def test_maildir_origin_is_the_message_file_line_1(tmp_path: Path) -> None:
    """In a Maildir, origin is the message file and line 1."""
    path = _maildir(tmp_path, [_message("a@example.org")])
    entries, _ = _read(path, owner=OWNER)
    file = Path(entries[0].origin.path)
    assert (file.parent.parent, entries[0].origin.line) == (path, 1)
    assert file.is_file()


def test_maildir_reads_cur_and_new_but_not_tmp(tmp_path: Path) -> None:
    """Messages in cur/ and new/ count; tmp/ holds unfinished deliveries and is skipped."""
    path = _maildir(tmp_path, [_message("new@example.org"), _message("cur@example.org")])
    moved = next((path / "new").iterdir())
    moved.rename(path / "cur" / (moved.name + ":2,S"))
    (path / "tmp" / "123.partial").write_bytes(bytes(_message("tmp@example.org")))
    entries, _ = _read(path, owner=OWNER)
    assert sorted(entry.emails[0] for entry in entries) == ["cur@example.org", "new@example.org"]


def test_the_owner_is_matched_whatever_the_case(tmp_path: Path) -> None:
    """The From address is compared with owner case-insensitively."""
    path = _mbox(tmp_path, [_message("a@example.org", sender="Dr Martin <Dr.Martin@Exemple.FR>")])
    entries, _ = _read(path, owner="DR.MARTIN@exemple.fr")
    assert [entry.emails[0] for entry in entries] == ["a@example.org"]


def test_messages_from_another_sender_are_ignored_and_summed_up(tmp_path: Path) -> None:
    """Another sender's messages are left out, with one 'excluded' problem naming them."""
    path = _mbox(
        tmp_path,
        [
            _message("a@example.org"),
            _message("b@example.org", sender="autre@example.org"),
            _message("c@example.org", sender="autre@example.org"),
        ],
    )
    entries, problems = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == ["a@example.org"]
    assert [(p.kind, p.origin.line) for p in problems] == [("excluded", _separator_lines(path)[1])]
    assert "2 message(s) not sent from dr.martin@exemple.fr" in problems[0].message
    assert "autre@example.org" in problems[0].message


def test_an_empty_owner_counts_every_message(tmp_path: Path) -> None:
    """With owner "", every message counts, even one without From."""
    path = _mbox(
        tmp_path,
        [
            _message("a@example.org", sender="autre@example.org"),
            _message("b@example.org", sender=""),
        ],
    )
    entries, problems = _read(path)
    assert [entry.emails[0] for entry in entries] == ["a@example.org", "b@example.org"]
    assert problems == []


def test_a_message_without_from_is_skipped_with_a_problem_when_owner_is_set(
    tmp_path: Path,
) -> None:
    """No From header: a 'malformed' problem at its line, and the next message is read."""
    path = _mbox(tmp_path, [_message("a@example.org", sender=""), _message("b@example.org")])
    entries, problems = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == ["b@example.org"]
    assert [(p.kind, p.origin) for p in problems] == [("malformed", Origin(str(path), 1))]
    assert "no readable From" in problems[0].message


def test_the_name_is_the_display_name_seen_most_often(tmp_path: Path) -> None:
    """name is the most frequent display name; one that is the address again is ignored."""
    path = _mbox(
        tmp_path,
        [
            _message('"jean@example.org" <jean@example.org>'),
            _message("J. Dupont <jean@example.org>"),
            _message("Jean Dupont <jean@example.org>"),
            _message("Jean Dupont <JEAN@example.org>"),
        ],
    )
    entries, _ = _read(path, owner=OWNER)
    assert entries[0].name == "Jean Dupont"


def test_between_names_seen_as_often_the_longer_wins(tmp_path: Path) -> None:
    """A tie in frequency goes to the fuller name."""
    path = _mbox(
        tmp_path,
        [_message("J. Dupont <jean@example.org>"), _message("Jean Dupont <jean@example.org>")],
    )
    entries, _ = _read(path, owner=OWNER)
    assert entries[0].name == "Jean Dupont"


def test_a_cleanly_decoded_name_beats_a_garbled_one(tmp_path: Path) -> None:
    """A name with undecodable bytes (shown as U+FFFD) loses even when seen more often."""
    garbled = b"To: =?utf-8?q?Jean_Dupont=81?= <jean@example.org>\n"
    clean = b"To: Jean Dupont <jean@example.org>\n"
    separator = b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\n"
    path = tmp_path / "Sent"
    path.write_bytes(b"".join(separator + to + b"\nbody\n\n" for to in (garbled, garbled, clean)))
    entries, _ = _read(path, owner=OWNER)
    assert (entries[0].name, entries[0].sent_count) == ("Jean Dupont", 3)


def test_an_address_that_is_only_its_own_name_has_no_name(tmp_path: Path) -> None:
    """A display name equal to the address is not a name."""
    path = _mbox(tmp_path, [_message('"jean@example.org" <jean@example.org>')])
    entries, _ = _read(path, owner=OWNER)
    assert entries[0].name == ""


def test_values_without_an_at_sign_and_groups_are_not_recipients(tmp_path: Path) -> None:
    """Group syntax and bare words yield no recipient and no problem."""
    path = tmp_path / "Sent"
    path.write_bytes(
        b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\n"
        b"To: undisclosed-recipients:;\nCc: Jean, <>\nBcc: a@example.org\n\nbody\n"
    )
    entries, problems = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == ["a@example.org"]
    assert problems == []


# --- since, min_count, window --------------------------------------------------------


def test_since_ignores_older_messages_but_keeps_undated_ones(tmp_path: Path) -> None:
    """Messages dated before since do not count; undated ones still do."""
    path = _mbox(
        tmp_path,
        [
            _message("old@example.org", date=datetime(2025, 1, 1, tzinfo=UTC)),
            _message("new@example.org", date=datetime(2026, 6, 1, tzinfo=UTC)),
            _message("undated@example.org", date=None),
        ],
    )
    entries, _ = _read(path, owner=OWNER, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert [entry.emails[0] for entry in entries] == ["new@example.org", "undated@example.org"]


def test_since_counts_only_newer_messages(tmp_path: Path) -> None:
    """sent_count and first_sent only reflect messages on or after since."""
    dates = [datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    path = _mbox(tmp_path, [_message("a@example.org", date=date) for date in dates])
    entries, _ = _read(path, owner=OWNER, since=dates[1])
    assert (entries[0].sent_count, entries[0].first_sent) == (1, dates[1])


def test_a_naive_since_is_read_as_local_time(tmp_path: Path) -> None:
    """since without a time zone is the machine's local time, and does not raise."""
    moment = datetime(2026, 6, 1, 12, 0)
    local = moment.astimezone()
    path = _mbox(
        tmp_path,
        [
            _message("before@example.org", date=local - timedelta(seconds=1)),
            _message("at@example.org", date=local),
        ],
    )
    entries, _ = _read(path, owner=OWNER, since=moment)
    assert [entry.emails[0] for entry in entries] == ["at@example.org"]


def test_min_count_keeps_usual_correspondents_only(tmp_path: Path) -> None:
    """min_count drops recipients written to fewer times."""
    path = _mbox(
        tmp_path,
        [_message("usual@example.org"), _message("usual@example.org, once@example.org")],
    )
    entries, _ = _read(path, owner=OWNER, min_count=2)
    assert [entry.emails[0] for entry in entries] == ["usual@example.org"]


def test_min_count_keeps_recipients_of_the_window_even_below_it(tmp_path: Path) -> None:
    """A recipient of mail sent during the window is kept: the most exposed."""
    path = _mbox(
        tmp_path,
        [
            _message("usual@example.org"),
            _message("usual@example.org"),
            _message("once@example.org"),
            _message("phished@example.org", date=WINDOW[0] + timedelta(hours=2)),
        ],
    )
    entries, _ = _read(path, owner=OWNER, min_count=2, window=WINDOW)
    assert [entry.emails[0] for entry in entries] == ["usual@example.org", "phished@example.org"]


def test_window_messages_quote_date_and_subject_in_date_order(tmp_path: Path) -> None:
    """Messages sent during the window are quoted, sorted by date, bounds included."""
    path = _mbox(
        tmp_path,
        [
            _message("a@example.org", date=WINDOW[1], subject="Dernier"),
            _message("a@example.org", date=WINDOW[0], subject="Premier"),
            _message("a@example.org", date=WINDOW[1] + timedelta(seconds=1), subject="Après"),
            _message("a@example.org", date=WINDOW[0] - timedelta(seconds=1), subject="Avant"),
        ],
    )
    entries, _ = _read(path, owner=OWNER, window=WINDOW)
    assert entries[0].window_messages == [
        SentMessage(WINDOW[0], "Premier"),
        SentMessage(WINDOW[1], "Dernier"),
    ]


def test_window_messages_are_deduplicated(tmp_path: Path) -> None:
    """The same message twice (same date and subject) is quoted once, counted twice."""
    date = WINDOW[0] + timedelta(hours=1)
    path = _mbox(tmp_path, [_message("a@example.org", date=date, subject="Facture")] * 2)
    entries, _ = _read(path, owner=OWNER, window=WINDOW)
    assert entries[0].window_messages == [SentMessage(date, "Facture")]
    assert entries[0].sent_count == 2


def test_window_messages_keep_the_20_earliest(tmp_path: Path) -> None:
    """At most 20 messages are quoted per recipient: the earliest ones."""
    dates = [WINDOW[0] + timedelta(minutes=minute) for minute in range(30)]
    path = _mbox(
        tmp_path,
        [_message("a@example.org", date=date, subject=f"n{i}") for i, date in enumerate(dates)][
            ::-1
        ],
    )
    entries, _ = _read(path, owner=OWNER, window=WINDOW)
    assert [sent.date for sent in entries[0].window_messages] == dates[:20]
    assert entries[0].sent_count == 30


def test_window_only_keeps_the_recipients_of_the_window(tmp_path: Path) -> None:
    """window_only: only people written to during the compromise window."""
    path = _mbox(
        tmp_path,
        [
            _message("usual@example.org"),
            _message("phished@example.org", date=WINDOW[0] + timedelta(hours=1)),
        ],
    )
    entries, _ = _read(path, owner=OWNER, window=WINDOW, window_only=True)
    assert [entry.emails[0] for entry in entries] == ["phished@example.org"]


def test_a_window_message_without_recipients_is_reported(tmp_path: Path) -> None:
    """Mail sent during the window whose copy lists nobody: ask for the provider's logs."""
    path = _mbox(
        tmp_path,
        [_message("undisclosed-recipients:;", date=WINDOW[0] + timedelta(hours=1))],
    )
    entries, problems = _read(path, owner=OWNER, window=WINDOW)
    assert entries == []
    assert [(p.kind, p.origin.line) for p in problems] == [("no-address", 1)]
    assert "sending logs" in problems[0].message


# --- the hand-written mbox with the tricky headers ----------------------------------


def _tricky_line(separator: str) -> int:
    lines = TRICKY.read_bytes().split(b"\n")
    return next(i for i, line in enumerate(lines, 1) if line.startswith(separator.encode()))


def test_tricky_mbox_gives_the_expected_recipients() -> None:
    """Names and counts from RFC 2047, 8-bit, Bcc and CRLF messages; other sender left out."""
    entries, _ = _read(TRICKY, owner=OWNER, window=WINDOW)
    got = [(e.emails[0], e.name, e.sent_count) for e in entries]
    assert got == [
        ("Andre.Leger@example.org", "André Léger", 3),
        ("labo@exemple.fr", "Laboratoire Exemple", 2),
        ("elise.fournier@exemple.fr", "Élise Fournier", 1),
        ("jean.dupont@example.org", "", 1),
        ("helene.roux@exemple.fr", "Hélène Roux", 1),
        ("zoe@exemple.fr", "Zoé", 1),
    ]


def test_tricky_mbox_reports_each_problem_at_its_line() -> None:
    """No Date, no From, garbage Date and the other sender are reported with their lines."""
    _, problems = _read(TRICKY, owner=OWNER, window=WINDOW)
    got = [(p.origin.path, p.origin.line, p.kind) for p in problems]
    path = str(TRICKY)
    assert got == [
        (path, _tricky_line("From dr.martin@exemple.fr Fri Nov 27 08:00"), "malformed"),
        (path, _tricky_line("From MAILER-DAEMON"), "malformed"),
        (path, _tricky_line("From dr.martin@exemple.fr Fri Nov 27 09:00"), "malformed"),
        (path, _tricky_line("From secretariat@"), "excluded"),
    ]
    assert "no readable From" in problems[1].message


def test_tricky_mbox_quotes_french_subjects_of_the_window() -> None:
    """Encoded and folded French subjects are decoded in window_messages."""
    entries, _ = _read(TRICKY, owner=OWNER, window=WINDOW)
    leger = _by_email(entries)["Andre.Leger@example.org"]
    assert [sent.subject for sent in leger.window_messages] == [
        "Facture impayée – à régler aujourd'hui",
        "Facture impayée – relance",
    ]


def test_tricky_mbox_origins_point_at_the_first_message() -> None:
    """Origins are the separator lines of the first message naming each recipient."""
    entries, _ = _read(TRICKY, owner=OWNER)
    first = _tricky_line("From dr.martin@exemple.fr Mon Nov  2")
    second = _tricky_line("From dr.martin@exemple.fr Thu Nov 26")
    lines = {e.emails[0]: e.origin.line for e in entries}
    assert lines["labo@exemple.fr"] == first
    assert lines["elise.fournier@exemple.fr"] == second


def test_tricky_mbox_undated_and_garbage_dated_messages_still_count() -> None:
    """Without a usable Date a message still counts, and leaves no date behind."""
    entries = _by_email(_read(TRICKY, owner=OWNER)[0])
    assert entries["jean.dupont@example.org"].sent_count == 1
    assert entries["helene.roux@exemple.fr"].first_sent is None


# --- robustness and streaming --------------------------------------------------------


def test_line_numbers_stay_right_across_chunk_boundaries(tmp_path: Path) -> None:
    """Large bodies (more than the 1 MiB read size) do not shift the reported lines."""
    messages = []
    for i in range(6):
        message = _message(f"r{i}@example.org")
        message.set_content("x" * 70 + "\n" + ("ligne de texte\n" * 30_000 if i % 2 else ""))
        messages.append(message)
    path = _mbox(tmp_path, messages)
    assert path.stat().st_size > 1 << 20
    entries, _ = _read(path, owner=OWNER)
    assert [entry.origin.line for entry in entries] == _separator_lines(path)


def test_headers_longer_than_1_mib_are_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    """A header block with no end is not a mail message: problem, then the next message."""
    path = tmp_path / "Sent"
    path.write_bytes(
        b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\n"
        + b"X-Junk: "
        + b"y" * (1 << 20)
        + b"\n\n"
        b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\nTo: b@example.org\n\n"
    )
    entries, problems = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == ["b@example.org"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 1)]


def test_an_unescaped_from_line_in_a_body_starts_a_new_message(tmp_path: Path) -> None:
    """mbox rule: a 'From ' line is a separator; the split-off part is reported, not fatal."""
    path = tmp_path / "Sent"
    path.write_bytes(
        b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\nTo: a@example.org\n\n"
        b"Hello\nFrom here on, read carefully.\nBye\n"
    )
    entries, problems = _read(path, owner=OWNER)
    assert [entry.emails[0] for entry in entries] == ["a@example.org"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 6)]


def _one_message(to: bytes, extra: bytes = b"") -> bytes:
    return (
        b"From x Mon Jan  1 00:00:00 2026\nFrom: dr.martin@exemple.fr\nTo: " + to + b"\n"
        b"Date: Thu, 26 Nov 2026 10:00:00 +0100\n" + extra + b"\nbody\n"
    )


def test_a_list_the_stdlib_cannot_parse_whole_is_read_item_by_item(tmp_path: Path) -> None:
    """A list the stdlib parser fails on as a whole still gives every readable address."""
    path = tmp_path / "Sent"
    path.write_bytes(_one_message(b'"Dupont, Jean" <jean@example.org>, .anne@example.org'))
    entries, problems = _read(path, owner=OWNER)
    assert [(e.emails[0], e.name) for e in entries] == [
        ("jean@example.org", "Dupont, Jean"),
        (".anne@example.org", ""),
    ]
    assert problems == []


def test_an_unreadable_address_is_left_out_with_a_problem(tmp_path: Path) -> None:
    """Only the unreadable item is lost, and a problem says which header lost it."""
    path = tmp_path / "Sent"
    path.write_bytes(_one_message("a@example.org, \u0119&<".encode()))
    entries, problems = _read(path, owner=OWNER)
    assert [e.emails[0] for e in entries] == ["a@example.org"]
    assert [(p.kind, p.origin.line) for p in problems] == [("malformed", 1)]
    assert "part of the To header could not be read" in problems[0].message


def test_quoted_subjects_lose_controls_and_stay_short(tmp_path: Path) -> None:
    """A quoted subject has no control or bidi-override characters and at most 200 chars."""
    subject = "=?utf-8?q?Facture_=E2=80=AEfdp=2Eexe?= " + "x" * 300
    path = tmp_path / "Sent"
    path.write_bytes(_one_message(b"a@example.org", f"Subject: {subject}\n".encode()))
    entries, _ = _read(path, owner=OWNER, window=WINDOW)
    quoted = entries[0].window_messages[0].subject
    assert quoted.startswith("Facture fdp.exe xxx")
    assert "\u202e" not in quoted
    assert len(quoted) == 200
    assert quoted.endswith("…")


_LOCAL = st.from_regex(r"[A-Za-z0-9._%+-]{1,8}", fullmatch=True)
_ADDRESS = st.builds("{}@{}".format, _LOCAL, st.sampled_from(["example.org", "Exemple.FR"]))
_NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_ITEM = st.one_of(
    _ADDRESS,
    st.builds("{} <{}>".format, _NAME, _ADDRESS),
    st.builds('"{}" <{}>'.format, _NAME, _ADDRESS),
    _NAME,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_ITEM, max_size=4), st.sampled_from([",", ", ", " ,", ",\t"]))
def test_the_cached_fast_path_agrees_with_the_whole_list_parse(
    items: list[str], separator: str
) -> None:
    """Whenever the stdlib parses a list whole, splitting it first gives the same pairs."""
    value = separator.join(items)
    try:
        whole = list(_parse_addresses(value.strip()))
    except Exception:  # the stdlib fails on some lists: nothing to compare with
        return
    assert address_list(value) == (whole, False)


_VALID = TRICKY.read_bytes()


def _read_all_or_source_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Sent"
        path.write_bytes(data)
        try:
            items = list(read_sent_folder(path, owner=OWNER, since=WINDOW[0], window=WINDOW))
        except SourceError:
            return
        assert all(isinstance(item, Entry | Problem) for item in items)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_raise_nothing_but_source_error(data: bytes) -> None:
    """Any bytes at all, with or without a 'From ' start: entries, problems or SourceError."""
    _read_all_or_source_error(b"From x\n" + data)
    _read_all_or_source_error(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_mutated_mbox_raises_nothing_but_source_error(edits: list[tuple[int, int, bool]]) -> None:
    """The tricky mbox with bytes changed or removed: never a traceback."""
    data = bytearray(_VALID)
    for position, value, replace in edits:
        if position >= len(data):
            continue
        if replace:
            data[position] = value
        else:
            del data[position]
    _read_all_or_source_error(bytes(data))
