"""The merge at scale: its private store, flat memory, chunks, and the lists read back."""

from __future__ import annotations

import gc
import os
import stat
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import merge_reference as reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notify.addressbook import _people, _recipients
from notify.addressbook import merge as merging
from notify.addressbook._records import (
    Paths,
    origin_of,
    pack_alone,
    pack_entry,
    pack_recipient,
    unpack_alone,
    unpack_entry,
    unpack_recipient,
    urgency,
)
from notify.addressbook.addresses import Address
from notify.addressbook.merge import ContactList, MergeOptions, merge
from notify.addressbook.model import Entry, Origin, Problem, Recipient, SentMessage
from notify.addressbook.store import Store
from notify.campaign import exposure_order

WHEN = datetime(2026, 11, 26, 9, 47, tzinfo=UTC)


def entry(path: str, line: int, *emails: str, **fields: object) -> Entry:
    return Entry(Origin(path, line), list(emails), **fields)  # type: ignore[arg-type]


def many(n: int) -> Iterator[Entry]:
    """``n`` distinct people, as a big CSV would give them."""
    for i in range(n):
        yield entry(
            "/data/big.csv",
            i + 2,
            f"prenom.nom.{i}@exemple-sante.fr",
            name=f"Prénom Nom {i}",
            given_name="Prénom",
            family_name=f"Nom {i}",
            title="Dr",
            phones=[f"+33 1 00 00 {i % 100:02d} 00"],
        )


def stores(tmp: Path) -> list[Path]:
    """The merge folders now in the temporary folder ``tmp``."""
    return sorted(tmp.glob("notify-merge-*"))


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of its own for the store, so that its leftovers can be seen."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


# -- memory ----------------------------------------------------------------------------


def mixed(n: int) -> Iterator[Entry | Problem]:
    """``n`` people, half of them to exclude, and a bad row for every third."""
    for number, person in enumerate(many(n)):
        if number % 2:
            person.emails = [f"someone.{number}@other.fr"]
        yield person
        if number % 3 == 0:
            yield Problem(Origin("/data/big.csv", number), "malformed", "a quote is not closed")


def peak_python_bytes(n: int) -> int:
    """The peak of Python allocations while merging ``n`` people and reading them back."""
    gc.collect()
    tracemalloc.start()
    try:
        with merge(mixed(n), MergeOptions(exclude=("@other.fr",))) as contacts:
            assert sum(1 for _ in contacts.recipients) == n // 2
            assert sum(1 for _ in exposure_order(contacts.recipients)) == n // 2
            assert sum(1 for _ in contacts.problems) == n // 2 + (n + 2) // 3
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_contacts(monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 people need no more Python memory than 2,000 (in memory they took 2.3 KB each).

    The same for the problems: excluded people and bad rows are kept in the store too.
    Chunks of 500, so that both sizes span several (tracemalloc makes this slow).
    """
    monkeypatch.setattr(merging, "_CHUNK", 500)
    monkeypatch.setattr(_recipients, "_BATCH", 500)
    small, large = peak_python_bytes(2_000), peak_python_bytes(10_000)
    assert large < 2_500_000, large  # 10,000 x 2.3 KB would be 23 MB
    assert large < small * 1.25 + 200_000, (small, large)


# -- the temporary database ------------------------------------------------------------


def test_store_is_private_and_deleted_on_close(private_tmp: Path) -> None:
    """A 0700 folder, a 0600 file, in the temporary folder; close() deletes both."""
    contacts = merge([entry("a.csv", 2, "a@example.org")])
    (folder,) = stores(private_tmp)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()} == {0o600}
    contacts.close()
    contacts.close()  # twice is fine
    assert stores(private_tmp) == []


def test_store_is_deleted_when_the_list_is_dropped(private_tmp: Path) -> None:
    """Forgotten without close(), the list still takes its database with it."""
    contacts = merge([entry("a.csv", 2, "a@example.org")])
    assert len(stores(private_tmp)) == 1
    del contacts
    gc.collect()
    assert stores(private_tmp) == []


def test_store_is_deleted_when_a_reader_fails(private_tmp: Path) -> None:
    """An error half-way through the sources leaves no database behind."""

    def failing() -> Iterator[Entry]:
        yield from many(10)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        merge(failing())
    assert stores(private_tmp) == []


def test_the_store_of_a_killed_process_is_deleted_by_the_next_import(private_tmp: Path) -> None:
    """A folder nobody holds any more is left over from a crash: the next merge deletes it;
    the store of an import still running is left alone."""
    dead = private_tmp / "notify-merge-killed"
    dead.mkdir(mode=0o700)
    (dead / "held").write_bytes(b"")
    (dead / "merge.sqlite").write_bytes(b"personal data")
    running = merge(many(2))
    assert not dead.exists()
    (alive,) = stores(private_tmp)
    with merge(many(3)) as contacts:
        assert alive in stores(private_tmp)
        assert len(stores(private_tmp)) == 2
        assert len(contacts.recipients) == 3
    assert len(running.recipients) == 2
    running.close()
    assert stores(private_tmp) == []


def test_nothing_is_written_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store lives in the system's temporary folder, never where the command runs."""
    monkeypatch.chdir(tmp_path)
    with merge(many(50)) as contacts:
        assert len(contacts.recipients) == 50
    assert list(tmp_path.iterdir()) == []


def test_a_closed_list_says_so() -> None:
    """Reading a closed list is an error with a message, not an SQLite traceback."""
    contacts = merge(many(3))
    recipients = contacts.recipients
    contacts.close()
    with pytest.raises(ValueError, match="closed"):
        list(recipients)


# -- the lists read back -----------------------------------------------------------------


def test_lists_behave_as_sequences_across_pages() -> None:
    """len, repeated iteration, indexing and slices, in import order, past one page."""
    with merge(many(1_234)) as contacts:
        recipients = contacts.recipients
        emails = [r.email for r in recipients]
        assert emails == [f"prenom.nom.{i}@exemple-sante.fr" for i in range(1_234)]
        assert [r.email for r in recipients] == emails  # a second pass gives the same
        assert len(recipients) == 1_234
        assert recipients[0].email == emails[0]
        assert recipients[-1].email == emails[-1]
        assert recipients[600].email == emails[600]
        assert [r.email for r in recipients[498:503]] == emails[498:503]
        assert [r.email for r in recipients[::500]] == emails[::500]
        assert recipients[5:5] == []
        with pytest.raises(IndexError):
            recipients[1_234]
        assert recipients == list(recipients)
        assert bool(contacts.secure) is False
        assert contacts.secure == []


def test_exposure_order_from_the_store_is_the_sorted_order() -> None:
    """Window first, then most written to, import order within a level; past one page."""
    people = [
        entry(
            "sent.mbox",
            i,
            f"p{i}@example.org",
            from_sent_folder=True,
            sent_count=i % 7,
            window_messages=[SentMessage(WHEN, "Facture")] if i % 11 == 0 else [],
        )
        for i in range(1, 1_300)
    ]
    with merge(people) as contacts:
        expected = sorted(contacts.recipients, key=lambda r: (not r.in_window, -r.sent_count))
        ordered = exposure_order(contacts.recipients)
        assert [r.email for r in ordered] == [r.email for r in expected]
        assert [r.email for r in ordered] == [r.email for r in ordered]
        assert len(ordered) == len(expected)
        assert ordered[0].in_window


def test_exposure_order_still_sorts_a_plain_list() -> None:
    """Tests and callers may pass a list of recipients of their own."""
    quiet = Recipient("a@example.org", "a@example.org", "a@example.org")
    busy = Recipient("b@example.org", "b@example.org", "b@example.org", sent_count=4)
    assert exposure_order([quiet, busy]) == [busy, quiet]


def test_problems_are_kept_in_order_and_counted_by_kind() -> None:
    """Reader problems and merge problems, in the order met; count() and problems_of()."""
    items: list[Entry | Problem] = [
        Problem(Origin("a.csv", 1), "encoding", "guessed cp1252"),
        entry("a.csv", 2, "x@example.org"),
        entry("a.csv", 3, "not an address"),
        entry("a.csv", 4, "X@example.org"),
        entry("a.csv", 5, name="Nobody"),
    ]
    with merge(items) as contacts:
        assert [p.kind for p in contacts.problems] == [
            "encoding",
            "invalid-address",
            "no-address",
            "duplicate",
            "no-address",
        ]
        assert contacts.count("no-address") == 2
        assert contacts.count("secure-network") == 0
        assert [str(p.origin) for p in contacts.problems_of("no-address")] == ["a.csv:3", "a.csv:5"]
        assert [e.name for e in contacts.unreachable] == ["", "Nobody"]
        assert contacts.entries_read == 4


def test_a_list_built_by_hand_counts_too() -> None:
    """ContactList still accepts plain lists (tests, callers of their own)."""
    problem = Problem(Origin("a.csv", 2), "excluded", "x excluded by --exclude")
    contacts = ContactList(problems=[problem])
    assert contacts.count("excluded") == 1
    assert contacts.problems_of("excluded") == [problem]
    contacts.close()  # nothing to delete


# -- merging in chunks ---------------------------------------------------------------------


def bridged() -> list[Entry]:
    """a, b and c read apart, then a card holding c, a and b, then more of each."""
    return [
        entry("1.csv", 2, "a@example.org", name="A"),
        entry("2.csv", 2, "B@example.org", "b2@example.org"),
        entry("3.csv", 2, "c@example.org", given_name="C", family_name="Cé"),
        entry("4.vcf", 1, "c@example.org", "A@EXAMPLE.org", "b2@example.org", "d@example.org"),
        entry("5.csv", 2, "b@example.org", "e@example.org", phones=["+33 6"]),
        entry("6.csv", 2, "f@example.org"),
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 4_000])
def test_a_card_bridging_people_merges_them_in_order(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The absorbing person keeps its entries and addresses first, then the others', in order."""
    monkeypatch.setattr(merging, "_CHUNK", chunk)
    with merge(bridged()) as contacts:
        first, other = contacts.recipients
        assert first.email == "c@example.org"  # the best-named entry's preferred address
        assert first.other_emails == [
            "a@example.org",
            "B@example.org",
            "b2@example.org",
            "d@example.org",
            "e@example.org",
        ]
        assert [str(s) for s in first.sources] == [
            "3.csv:2",
            "1.csv:2",
            "2.csv:2",
            "4.vcf:1",
            "5.csv:2",
        ]
        assert first.phones == ["+33 6"]
        assert other.email == "f@example.org"
        assert contacts.duplicates == 2
        assert [p.message for p in contacts.problems] == [
            "c@example.org also read at 3.csv:2: merged",
            "b@example.org also read at 3.csv:2: merged",
        ]


emails = st.sampled_from(
    [f"{n}@example.org" for n in "abcdefgh"]
    + ["H@EXAMPLE.ORG", "i@medecin.mssante.fr", "j@lab.example.net", "bad", ""]
)
cards = st.builds(
    lambda i, addresses, name, sent, pref, groups, window: entry(
        "s.mbox" if sent else "b.vcf",
        i,
        *addresses,
        name=name,
        given_name=name[:1],
        family_name=name[1:],
        from_sent_folder=sent,
        sent_count=int(sent) + len(window),
        first_sent=WHEN if sent else None,
        last_sent=WHEN if sent else None,
        window_messages=window,
        preferred=pref,
        groups=groups,
        phones=[name] if name else [],
    ),
    st.integers(1, 10_000),
    st.lists(emails, max_size=4),
    st.sampled_from(["", "Ann", "Bob"]),
    st.booleans(),
    st.integers(0, 3),
    st.lists(st.sampled_from(["g1", "G2", ""]), max_size=2),
    st.lists(st.builds(SentMessage, st.just(WHEN), st.sampled_from(["x", "y"])), max_size=2),
)
problems = st.builds(
    lambda line: Problem(Origin("r.csv", line), "malformed", f"row {line}"), st.integers(1, 99)
)
options = st.builds(
    MergeOptions,
    all_addresses=st.booleans(),
    exclude=st.sampled_from([(), ("g@example.org",), ("@example.net", "c@example.org")]),
    owner_addresses=st.sampled_from([(), ("a@example.org",)]),
    groups=st.sampled_from([(), ("g1",), ("G1", "g2")]),
    secure_domains=st.sampled_from([(), ("mssante.fr",)]),
    include_secure=st.booleans(),
)


def snapshot(contacts: ContactList | reference.ContactList) -> list[object]:
    return [
        list(contacts.recipients),
        list(contacts.secure),
        list(contacts.unreachable),
        list(contacts.problems),
        contacts.entries_read,
        contacts.duplicates,
        contacts.excluded,
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(cards | problems, max_size=30), options, st.integers(1, 5))
def test_the_store_merge_gives_what_the_in_memory_merge_gave(
    items: list[Entry | Problem], chosen: MergeOptions, chunk: int
) -> None:
    """Same recipients, kept apart, unreachable, problems and counts, whatever the chunks."""
    expected = snapshot(reference.merge(items, chosen))
    saved = merging._CHUNK, _recipients._BATCH
    merging._CHUNK, _recipients._BATCH = chunk, chunk
    try:
        with merge(items, chosen) as contacts:
            assert snapshot(contacts) == expected
    finally:
        merging._CHUNK, _recipients._BATCH = saved
    with merge(items, chosen) as contacts:
        assert snapshot(contacts) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(cards | problems, max_size=30), options, st.integers(1, 5))
def test_addresses_whose_hashes_meet_are_still_told_apart(
    items: list[Entry | Problem], chosen: MergeOptions, chunk: int
) -> None:
    """Shared addresses are found by hash: with three hashes for every address, most
    entries look shared, and the result is still the in-memory merge's."""
    expected = snapshot(reference.merge(items, chosen))
    saved = merging._CHUNK, merging._hash
    merging._CHUNK, merging._hash = chunk, lambda key: len(key) % 3
    try:
        with merge(items, chosen) as contacts:
            assert snapshot(contacts) == expected
    finally:
        merging._CHUNK, merging._hash = saved


def test_an_entry_alone_is_the_recipient_a_person_of_it_would_be() -> None:
    """The recipient an entry makes alone, packed without building it, is the one built
    for a person of that one entry; unpacked again, it gives what the merge needs."""
    store = Store()
    try:
        paths = store.paths
        card = entry(
            "s.mbox",
            7,
            "X@Example.org",
            "x@example.org",
            "y@exémple.fr",
            name="Dr X",
            given_name="X",
            family_name="Y",
            groups=["g", "", "g", "h"],
            phones=["+33 1", "+33 1"],
            postal=["", "1 rue"],
            sent_count=2,
            first_sent=WHEN,
            last_sent=WHEN,
            window_messages=[SentMessage(WHEN, "a"), SentMessage(WHEN, "a")],
            from_sent_folder=True,
        )
        addresses, preferred, _ = merging._valid_addresses(card)
        target = addresses[preferred]
        person = _people.Person([card], [2], addresses, target, 2)
        built = _recipients._recipient(person, target, True)
        order, data = pack_alone(card, addresses, target, True, paths.id_of("s.mbox"), 2, 1)
        assert unpack_recipient(data, paths) == built
        assert order == urgency(True, 2) < urgency(True, 1) < urgency(False, 9) < urgency(False, 0)
        view, own, address, worth, member = unpack_alone(data, paths)
        assert (own, address, worth, member) == (addresses, target, 2, True)
        again = _recipients._recipient(
            _people.Person([view], [2], addresses, address, 2), target, True
        )
        assert again == built
        assert origin_of(data, paths) == (card.origin, addresses)
    finally:
        store.close()


# -- the rows ------------------------------------------------------------------------------


def test_entries_and_recipients_survive_the_store_unchanged() -> None:
    """Every field, dates with their offset included, comes back as it went in."""
    store = Store()
    try:
        paths = Paths(store.conn)
        message = SentMessage(WHEN, "Facture impayée")
        card = Entry(
            Origin("/a/b.vcf", 12),
            ["x@Example.org", "y@example.org"],
            1,
            "Dr X",
            "X",
            "Y",
            "Dr",
            "Cardiologue",
            "Cabinet",
            "fr",
            ["Confrères"],
            ["+33 1"],
            ["1 rue de la Paix"],
            3,
            WHEN,
            datetime.fromisoformat("2026-11-27T10:00:00+01:00"),
            [message, SentMessage(None, "sans date")],
            True,
        )
        preferred = Address("y@exémple.fr", "y@xn--exmple-cva.fr", "y@xn--exmple-cva.fr")
        assert unpack_entry(card.origin, pack_entry(card, preferred)) == (card, preferred)
        assert unpack_entry(card.origin, pack_entry(card)) == (card, None)
        person = Recipient(
            "Y@exémple.fr",
            "Y@xn--exmple-cva.fr",
            "y@xn--exmple-cva.fr",
            "Dr Y",
            "Y",
            "Why",
            "Dr",
            "Pédiatre",
            "Clinique",
            "en",
            ["Patients"],
            ["z@example.org"],
            ["+33 2"],
            ["2 place"],
            [Origin("/a/b.vcf", 12), Origin("/c.csv", 3)],
            True,
            5,
            WHEN,
            WHEN,
            [message],
        )
        assert unpack_recipient(pack_recipient(person, paths), paths) == person
        plain = Recipient("a@example.org", "a@example.org", "a@example.org")
        assert unpack_recipient(pack_recipient(plain, paths), paths) == plain
        alone = Entry(Origin("/c.vcf", 1), ["a@example.org"], name="A B", title="Dr")
        address = Address("a@example.org", "a@example.org", "a@example.org")
        _, data = pack_alone(alone, [address], address, False, paths.id_of("/c.vcf"), 6, 1)
        assert unpack_alone(data, paths) == (
            Entry(alone.origin, name="A B", title="Dr"),  # the addresses are apart
            [address],
            address,
            6,
            True,
        )
    finally:
        store.close()


def test_store_file_is_owner_only_even_with_a_lax_umask(private_tmp: Path) -> None:
    """A umask of 000 does not open the database to other users."""
    old = os.umask(0)
    try:
        contacts = merge(many(2))
    finally:
        os.umask(old)
    (folder,) = stores(private_tmp)
    assert {stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()} == {0o600}
    contacts.close()
