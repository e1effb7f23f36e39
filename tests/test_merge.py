"""The merge step: validation, de-duplication, preferred address, filters."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from notify.addressbook import _recipients
from notify.addressbook.addresses import InvalidAddress, clean, matches_domain
from notify.addressbook.merge import MergeOptions, merge
from notify.addressbook.model import Entry, Origin, SentMessage

SECURE = ("mssante.fr", "apicrypt.org")


def entry(path: str, line: int, *emails: str, **fields: object) -> Entry:
    return Entry(Origin(path, line), list(emails), **fields)  # type: ignore[arg-type]


def test_addresses_differing_in_case_are_one_person_written_as_first_seen() -> None:
    """Two sources with the same address in other letter case give one recipient."""
    result = merge(
        [
            entry("a.vcf", 1, "Jean.Dupont@Example.ORG", name="Jean Dupont"),
            entry("b.csv", 2, "jean.dupont@example.org"),
        ]
    )
    assert [r.email for r in result.recipients] == ["Jean.Dupont@example.org"]
    assert [str(s) for s in result.recipients[0].sources] == ["a.vcf:1", "b.csv:2"]
    assert result.duplicates == 1
    assert [p.kind for p in result.problems] == ["duplicate"]
    assert "a.vcf:1" in result.problems[0].message


def test_wrapped_addresses_are_unwrapped() -> None:
    """Display-name wrappers and mailto: are removed before validation."""
    result = merge(
        [
            entry("a.csv", 2, '"Dr X" <x@example.org>'),
            entry("a.csv", 3, "mailto:y@example.org"),
        ]
    )
    assert [r.email for r in result.recipients] == ["x@example.org", "y@example.org"]


def test_invalid_address_is_reported_with_file_and_line_and_others_kept() -> None:
    """A bad value becomes a problem; the contact's good address is still used."""
    result = merge([entry("a.csv", 7, "not an address", "ok@example.org")])
    assert [r.email for r in result.recipients] == ["ok@example.org"]
    (problem,) = result.problems
    assert problem.kind == "invalid-address"
    assert str(problem).startswith("a.csv:7: 'not an address'")


def test_contact_without_address_is_kept_for_other_means() -> None:
    """No valid address: the contact is listed as unreachable, with a problem."""
    person = entry("a.vcf", 3, name="Bernard Petit", phones=["+33 6 00 00 00 00"])
    result = merge([person])
    assert result.recipients == []
    assert result.unreachable == [person]
    assert result.problems[0].kind == "no-address"
    assert "Bernard Petit" in result.problems[0].message


def test_entry_with_two_addresses_links_two_sources() -> None:
    """A card with a and b merges with a row holding only b: one person, message to a."""
    result = merge(
        [
            entry("a.vcf", 1, "a@example.org", "b@example.org", name="Anne B"),
            entry("b.csv", 4, "b@example.org"),
        ]
    )
    (recipient,) = result.recipients
    assert recipient.email == "a@example.org"
    assert recipient.other_emails == ["b@example.org"]


def test_later_entry_bridging_two_people_merges_them() -> None:
    """Entries for a and for b, then one with both: all three are one person."""
    result = merge(
        [
            entry("1.csv", 2, "a@example.org"),
            entry("2.csv", 2, "b@example.org"),
            entry("3.vcf", 1, "a@example.org", "b@example.org", given_name="A", family_name="B"),
        ]
    )
    assert len(result.recipients) == 1
    assert sorted(str(s) for s in result.recipients[0].sources) == ["1.csv:2", "2.csv:2", "3.vcf:1"]


def test_preferred_address_is_used_and_all_addresses_writes_to_each() -> None:
    """By default one message at the preferred address; --all-addresses: one per address."""
    card = entry("a.vcf", 1, "home@example.org", "work@example.org", preferred=1)
    assert [r.email for r in merge([card]).recipients] == ["work@example.org"]
    every = merge([card], MergeOptions(all_addresses=True)).recipients
    assert sorted(r.email for r in every) == ["home@example.org", "work@example.org"]


def test_best_name_comes_from_an_address_book_over_a_sent_folder() -> None:
    """The Sent folder's display name loses against a card with given and family names."""
    result = merge(
        [
            entry("sent.mbox", 1, "s@example.org", name="sophie", from_sent_folder=True),
            entry(
                "a.vcf",
                5,
                "s@example.org",
                name="Dr Sophie Durand",
                given_name="Sophie",
                family_name="Durand",
                title="Cardiologue",
            ),
        ]
    )
    (recipient,) = result.recipients
    assert recipient.name == "Dr Sophie Durand"
    assert recipient.title == "Cardiologue"


def test_owner_addresses_are_always_excluded() -> None:
    """The compromised address and the sender's own address never get a message."""
    result = merge(
        [entry("a.vcf", 1, "Dr.Martin@example.org"), entry("a.vcf", 9, "other@example.org")],
        MergeOptions(owner_addresses=("dr.martin@example.org",)),
    )
    assert [r.email for r in result.recipients] == ["other@example.org"]
    assert result.excluded == 1
    assert any(p.kind == "excluded" and "a.vcf:1" in str(p) for p in result.problems)


def test_exclude_by_address_and_by_domain() -> None:
    """--exclude takes addresses and @domains (sub-domains included)."""
    result = merge(
        [
            entry("a.csv", 2, "x@example.org"),
            entry("a.csv", 3, "y@lab.example.net"),
            entry("a.csv", 4, "z@example.com"),
        ],
        MergeOptions(exclude=("X@example.org", "@example.net")),
    )
    assert [r.email for r in result.recipients] == ["z@example.com"]
    assert result.excluded == 2


def test_group_filter_keeps_only_members() -> None:
    """--group keeps people whose categories include the group, ignoring case."""
    result = merge(
        [
            entry("a.vcf", 1, "a@example.org", groups=["Confrères"]),
            entry("a.vcf", 9, "b@example.org", groups=["Patients"]),
        ],
        MergeOptions(groups=("confrères",)),
    )
    assert [r.email for r in result.recipients] == ["a@example.org"]


def test_secure_network_only_address_is_kept_apart() -> None:
    """An MSSanté-only contact goes to the secure list with a problem saying what to do."""
    result = merge(
        [entry("a.vcf", 1, "jean@medecin.mssante.fr")], MergeOptions(secure_domains=SECURE)
    )
    assert result.recipients == []
    assert [r.email for r in result.secure] == ["jean@medecin.mssante.fr"]
    assert result.secure[0].secure_network
    assert "secure messaging client" in result.problems[0].message


def test_secure_network_addresses_can_be_included() -> None:
    """--include-secure sends to them anyway, still flagged."""
    result = merge(
        [entry("a.vcf", 1, "jean@medecin.mssante.fr")],
        MergeOptions(secure_domains=SECURE, include_secure=True),
    )
    assert [r.secure_network for r in result.recipients] == [True]


def test_ordinary_address_wins_over_a_preferred_secure_one() -> None:
    """A person with both an MSSanté and an ordinary address is written to at the latter."""
    card = entry("a.vcf", 1, "i@medecin.mssante.fr", "i@lab.example.org", preferred=0)
    result = merge([card], MergeOptions(secure_domains=SECURE))
    assert [r.email for r in result.recipients] == ["i@lab.example.org"]


def test_sent_folder_exposure_is_carried_to_the_recipient() -> None:
    """Counts and window messages from a Sent folder survive the merge with a card."""
    when = datetime(2026, 11, 26, 9, 47, tzinfo=UTC)
    result = merge(
        [
            entry("a.vcf", 1, "s@example.org", name="Sophie"),
            entry(
                "sent.mbox",
                10,
                "s@example.org",
                sent_count=3,
                from_sent_folder=True,
                first_sent=when,
                last_sent=when,
                window_messages=[SentMessage(when, "Facture impayée")],
            ),
        ]
    )
    (recipient,) = result.recipients
    assert recipient.sent_count == 3
    assert recipient.in_window
    assert recipient.window_messages[0].subject == "Facture impayée"


def test_internationalised_domains_match_their_ascii_form() -> None:
    """exémple.fr and xn--exmple-cva.fr are the same mailbox."""
    result = merge(
        [entry("a.csv", 2, "jean@exémple.fr"), entry("b.csv", 2, "jean@xn--exmple-cva.fr")]
    )
    (recipient,) = result.recipients
    assert recipient.email == "jean@exémple.fr"
    assert recipient.ascii_email == "jean@xn--exmple-cva.fr"


local_parts = st.sampled_from(["a", "Jean.Dupont", "mssante.fr", "x@y", "info"])
domains = st.sampled_from(
    [
        "mssante.fr",
        "MSSante.FR",
        "medecin.mssante.fr",
        "xmssante.fr",
        "mssante.fr.example.org",
        "exémple.fr",
        "sub.exémple.fr",
        "xn--exmple-cva.fr",
        "apicrypt.org",
    ]
)
patterns = st.lists(
    st.sampled_from(
        ["mssante.fr", "exémple.fr", "xn--exmple-cva.fr", "fr", "", "a@mssante.fr", "org"]
    ),
    max_size=3,
)


@given(local_parts, domains, patterns)
def test_domains_are_told_by_the_end_of_the_address(
    local: str, domain: str, wanted: list[str]
) -> None:
    """The merge's domain test (one look at the end of the address) says what
    matches_domain() says of the address's domain, for every address clean() gives."""
    try:
        address = clean(f"{local}@{domain}")
    except InvalidAddress:
        return
    assert _recipients._Domains(wanted)(address) == matches_domain(address.domain, wanted)
