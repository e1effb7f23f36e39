"""Address validation: clean()'s short road for plain addresses ends where the full road
(email-validator on every value) ends, for any input; and what each road decides."""

from __future__ import annotations

import dataclasses
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notify.addressbook import addresses
from notify.addressbook.addresses import Address, InvalidAddress, clean, strip_wrappers


def full_road(value: str) -> Address:
    """What clean() decides without its short road: email-validator on every value."""
    text = strip_wrappers(value)
    if not text:
        raise InvalidAddress(value, "empty")
    return addresses._validate(value, text)


def verdict(road: object, value: str) -> tuple[str, object]:
    """An Address as its three fields, or the reason it was refused."""
    try:
        address = road(value)  # type: ignore[operator]
    except InvalidAddress as exc:
        return "refused", exc.reason
    assert isinstance(address, Address)
    return "accepted", (address.email, address.ascii_email, address.key)


ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
PLAIN_LOCAL = st.text(st.sampled_from([*ATEXT, ".", "."]), min_size=1, max_size=12)
LOCAL = st.one_of(
    PLAIN_LOCAL,
    PLAIN_LOCAL,
    st.text(st.sampled_from([*ATEXT, ".", "é", '"', " ", "@", "\\"]), max_size=12),
    st.sampled_from(["Postmaster", "INFO", "www", "Abuse", "a" * 64, "b" * 65, "c" * 190]),
)
PLAIN_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
LABEL = st.one_of(
    PLAIN_LABEL,
    PLAIN_LABEL,
    st.sampled_from(["médecins", "bücher", "пример", "ＡＢ", "a\u0301", "xn--bcher-kva"]),
    st.sampled_from(["xn--zz", "ab--cd", "xn--", "-a", "a_b", "d" * 63, "e" * 64, ""]),
)
TLD = st.sampled_from(
    ["fr", "fr", "com", "FR", "рф", "xn--p1ai", "test", "invalid", "local", "localhost",
     "onion", "arpa", "x1", "1", "", "fr.", "ｆｒ", "fr\u00a0"]
)  # fmt: skip
WRAP = st.sampled_from(
    ["", "", "", "", "", " ", "<", ">", "mailto:", "'", '"', "\u200b", "\ufeff", ";", ",", "?a"]
)


@st.composite
def address_like(draw: st.DrawFn) -> str:
    """Mostly plausible addresses, near every rule and limit email-validator has."""
    labels = draw(st.lists(LABEL, min_size=1, max_size=3))
    long = ["g" * 61] * draw(st.integers(0, 4))  # up to the 253-octet domain limit
    domain = ".".join([*long, *labels, draw(TLD)])
    at = draw(st.sampled_from(["@", "@", "@", "@", "@@", "＠", ""]))
    return f"{draw(WRAP)}{draw(LOCAL)}{at}{domain}{draw(WRAP)}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(address_like(), st.text(max_size=40)))
@example("emilie.lefevre.0@exemple-sante.fr")
@example("Postmaster@Exemple.FR")
@example("a@xn--bcher-kva.ch")
@example("'a@b.fr")
@example("a@b.fr\u200b")
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".fr")
def test_short_road_ends_where_the_full_road_ends(value: str) -> None:
    """For any value, clean() accepts what email-validator accepts, with the same three
    forms, and refuses the rest for the same reason (asked twice: the domain memory
    changes nothing)."""
    expected = verdict(full_road, value)
    assert verdict(clean, value) == expected
    assert verdict(clean, value) == expected


def test_a_domain_is_judged_once_however_many_addresses_it_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """email-validator (and its IDNA work) runs once per domain, not once per address."""
    calls: list[str] = []
    real = addresses.validate_email

    def counting(text: str, **options: object) -> object:
        calls.append(text)
        return real(text, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(addresses, "_domains", {})
    monkeypatch.setattr(addresses, "validate_email", counting)
    found = [clean(f"patient.{n}@médecins-exemple.fr") for n in range(50)]
    assert len(calls) == 1
    assert found[7] == Address(
        "patient.7@médecins-exemple.fr",
        "patient.7@xn--mdecins-exemple-bnb.fr",
        "patient.7@xn--mdecins-exemple-bnb.fr",
    )


def test_the_domain_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Millions of distinct domains cost a bounded memory."""
    monkeypatch.setattr(addresses, "_domains", {})
    monkeypatch.setattr(addresses, "_DOMAINS_KEPT", 10)
    for n in range(35):
        clean(f"a@d{n}.fr")
    assert 0 < len(addresses._domains) <= 10


def test_short_road_addresses_are_ordinary_addresses() -> None:
    """The Address the short road builds equals (and hashes as) one built the usual way,
    and its fields are the three it sets."""
    made = clean("Jean.Dupont@Exemple.fr")
    usual = Address("Jean.Dupont@exemple.fr", "Jean.Dupont@exemple.fr", "jean.dupont@exemple.fr")
    assert made == usual
    assert hash(made) == hash(usual)
    assert [f.name for f in dataclasses.fields(Address)] == ["email", "ascii_email", "key"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.email = "x@y.fr"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Postmaster@Exemple.FR", "postmaster@exemple.fr"),  # RFC 2142 names: any case
        ("a@xn--bcher-kva.ch", "a@bücher.ch"),  # the Unicode form, as email-validator gives
        (' "Dr X" <X.Y@Exemple.fr> ', "X.Y@exemple.fr"),
        ("mailto:x@exemple.fr?subject=1", "x@exemple.fr"),
    ],
)
def test_clean_normalises(value: str, expected: str) -> None:
    """Wrappers go, the domain is lower-cased, the local part keeps its case."""
    assert clean(value).email == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("  <> ", "empty"),
        ("jean.dupont", "there is no @"),
        ("jean@exemple.test", "special-use or reserved name"),
        ("jean@doe.invalid", "special-use or reserved name"),
        ("jean..dupont@exemple.fr", "two periods in a row"),
        ("a" * 250 + "@exemple.fr", "too long"),
    ],
)
def test_clean_refuses_with_a_reason(value: str, reason: str) -> None:
    """What email-validator refuses is refused, with its reason."""
    with pytest.raises(InvalidAddress, match=reason):
        clean(value)
