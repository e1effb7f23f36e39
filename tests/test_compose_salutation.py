"""Salutations: colleagues of the same profession, everyone else, patients."""

from __future__ import annotations

import pytest

from notify.compose.salutation import (
    colleague_salutation,
    gender_of,
    patient_salutation,
    professions_in,
    same_profession,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Médecin généraliste", {"medecin"}),
        ("Dr en médecine", {"medecin"}),
        ("Cardiologue", {"medecin"}),
        ("PÉDIATRE", {"medecin"}),
        ("GP", {"medecin"}),
        ("Consultant physician", {"medecin"}),
        ("Chirurgien-dentiste", {"dentiste"}),
        ("Chirurgien orthopédiste", {"medecin"}),
        ("Pharmacienne titulaire", {"pharmacien"}),
        ("Infirmière libérale", {"infirmier"}),
        ("Masseur-kinésithérapeute", {"kinesitherapeute"}),
        ("Sage-femme", {"sage-femme"}),
        ("Médecin biologiste", {"medecin", "biologiste"}),
        ("Psychologue", set()),
        ("Dr", set()),
        ("", set()),
    ],
)
def test_professions_are_recognised_with_their_synonyms(text: str, expected: set[str]) -> None:
    """Titles, specialities and English names map to one profession (or none)."""
    assert professions_in(text) == expected


def test_doctor_to_doctor_is_a_colleague() -> None:
    """A GP writing to a cardiologist writes to a confrère."""
    assert same_profession("médecin généraliste", ["Cardiologue"])


def test_doctor_to_pharmacist_is_not_a_colleague() -> None:
    """A pharmacist is not a doctor's confrère."""
    assert not same_profession("médecin", ["Pharmacien"])


def test_unknown_profession_is_not_a_colleague() -> None:
    """Without a recognised profession on either side, no confraternity is assumed."""
    assert not same_profession("médecin", ["", "Famille"])
    assert not same_profession("", ["Médecin"])


def test_profession_in_a_group_counts() -> None:
    """A vCard category such as "Médecins" names the profession too."""
    assert same_profession("médecin", ["", "Médecins"])


@pytest.mark.parametrize(
    ("civility", "expected"),
    [("Mme", "Chère consœur"), ("M.", "Cher confrère"), ("Dr", "Chère consœur, cher confrère")],
)
def test_colleague_salutation_follows_the_civility(civility: str, expected: str) -> None:
    """Mme gives consœur, M. confrère, an unknown civility both."""
    assert colleague_salutation("fr", peer=True, civility=civility) == expected


def test_non_colleague_gets_madame_monsieur_without_surname() -> None:
    """Anyone who is not of the same profession is "Madame, Monsieur"."""
    assert colleague_salutation("fr", peer=False, civility="Mme") == "Madame, Monsieur"


def test_english_salutations() -> None:
    """English: "Dear colleague" for a peer, "Dear Sir or Madam" otherwise."""
    assert colleague_salutation("en", peer=True, civility="Mme") == "Dear colleague"
    assert colleague_salutation("en", peer=False, civility="") == "Dear Sir or Madam"


@pytest.mark.parametrize(
    ("language", "civility", "family", "expected"),
    [
        ("fr", "Mme", "Dupont", "Madame Dupont"),
        ("fr", "Monsieur", "Durand", "Monsieur Durand"),
        ("fr", "", "Dupont", "Madame, Monsieur"),
        ("fr", "Mme", "", "Madame"),
        ("en", "Mrs", "Smith", "Dear Ms Smith"),
        ("en", "", "Smith", "Dear Sir or Madam"),
    ],
)
def test_patient_salutation(language: str, civility: str, family: str, expected: str) -> None:
    """Patients: civility and surname when both are known, else the formal form."""
    assert patient_salutation(language, civility=civility, family_name=family) == expected


def test_gender_of_a_title_is_unknown() -> None:
    """ "Dr" does not tell whether to write consœur or confrère."""
    assert gender_of("Dr") == ""
    assert gender_of("Madame") == "f"
    assert gender_of("M") == "m"
