"""Salutations: "Chère consœur" between members of one profession, else "Madame, Monsieur".

French health professionals address a member of their own profession as
*confrère* / *consœur*; a pharmacist is not a doctor's confrère, so anyone else gets
"Madame, Monsieur" (without the surname). Professions are recognised in free text
(the sender's ``profession`` setting, the recipient's ``title`` or groups) from a
small table of professions, synonyms and specialities, in French and English.

A text may name two professions ("médecin biologiste", "pharmacien biologiste"):
two people are colleagues when the sets of professions they hold intersect.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

Gender = Literal["f", "m", ""]

#: Profession -> phrases (accent-free, lower case) that name it or one of its specialities.
PROFESSIONS: dict[str, tuple[str, ...]] = {
    "medecin": (
        "medecin",
        "medecins",
        "docteur en medecine",
        "dr en medecine",
        "medecine generale",
        "generaliste",
        "omnipraticien",
        "cardiologue",
        "pediatre",
        "psychiatre",
        "radiologue",
        "dermatologue",
        "gynecologue",
        "obstetricien",
        "ophtalmologue",
        "ophtalmologiste",
        "orl",
        "oto rhino laryngologiste",
        "gastro enterologue",
        "gastroenterologue",
        "pneumologue",
        "neurologue",
        "rhumatologue",
        "endocrinologue",
        "diabetologue",
        "anesthesiste",
        "anesthesiste reanimateur",
        "urgentiste",
        "oncologue",
        "nephrologue",
        "urologue",
        "geriatre",
        "chirurgien",
        "chirurgienne",
        "interniste",
        "angiologue",
        "allergologue",
        "hematologue",
        "infectiologue",
        "medecin du travail",
        "phlebologue",
        "physician",
        "physicians",
        "gp",
        "general practitioner",
        "family doctor",
        "medical doctor",
        "cardiologist",
        "paediatrician",
        "pediatrician",
        "psychiatrist",
        "radiologist",
        "dermatologist",
        "gynaecologist",
        "gynecologist",
        "surgeon",
        "anaesthetist",
        "anesthesiologist",
        "neurologist",
        "oncologist",
    ),
    "pharmacien": (
        "pharmacien",
        "pharmacienne",
        "pharmaciens",
        "docteur en pharmacie",
        "dr en pharmacie",
        "pharmacist",
        "pharmacists",
    ),
    "dentiste": (
        "chirurgien dentiste",
        "chirurgienne dentiste",
        "chirurgiens dentistes",
        "dentiste",
        "dentistes",
        "orthodontiste",
        "stomatologue",
        "dentist",
        "dentists",
        "dental surgeon",
        "orthodontist",
    ),
    "sage-femme": ("sage femme", "sages femmes", "maieuticien", "midwife", "midwives"),
    "infirmier": (
        "infirmier",
        "infirmiere",
        "infirmiers",
        "infirmieres",
        "ide",
        "idel",
        "ipa",
        "nurse",
        "nurses",
        "registered nurse",
    ),
    "kinesitherapeute": (
        "masseur kinesitherapeute",
        "masseuse kinesitherapeute",
        "kinesitherapeute",
        "kinesitherapeutes",
        "kine",
        "physiotherapeute",
        "physiotherapist",
        "physical therapist",
    ),
    "biologiste": ("biologiste", "biologiste medical", "biologistes", "medical biologist"),
}

_FEMALE = {"mme", "madame", "mlle", "mademoiselle", "mrs", "ms", "miss", "f", "female", "femme"}
_MALE = {"m", "m.", "mr", "monsieur", "mister", "male", "homme", "h"}

SALUTATIONS = {
    "fr": {
        "f": "Chère consœur",
        "m": "Cher confrère",
        "": "Chère consœur, cher confrère",
        "formal": "Madame, Monsieur",
    },
    "en": {"f": "Dear colleague", "m": "Dear colleague", "": "Dear colleague",
           "formal": "Dear Sir or Madam"},
}  # fmt: skip

_PATIENT = {
    "fr": {"f": "Madame", "m": "Monsieur"},
    "en": {"f": "Dear Ms", "m": "Dear Mr"},
}


def _fold(text: str) -> str:
    """Lower case, accents removed, anything not a letter or digit as one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("œ", "oe"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " " + " ".join(re.findall(r"[a-z0-9]+", plain)) + " "


_PATTERNS: list[tuple[str, str]] = sorted(
    ((" " + " ".join(re.findall(r"[a-z0-9]+", phrase)) + " ", prof)
     for prof, phrases in PROFESSIONS.items() for phrase in phrases),
    key=lambda item: -len(item[0]),
)  # fmt: skip


@lru_cache(maxsize=4096)
def professions_in(text: str) -> frozenset[str]:
    """Return the professions named in ``text`` (longest phrases first: "chirurgien-dentiste"
    is a dentist, not a surgeon)."""
    folded = _fold(text)
    found: set[str] = set()
    for phrase, profession in _PATTERNS:
        while phrase in folded:
            found.add(profession)
            folded = folded.replace(phrase, "  ", 1)
    return frozenset(found)


def gender_of(civility: str) -> Gender:
    """Return "f", "m" or "" (unknown, or a title such as "Dr" that does not tell)."""
    word = civility.strip().casefold()
    if word in _FEMALE:
        return "f"
    if word in _MALE or word.rstrip(".") in _MALE:
        return "m"
    return ""


def same_profession(sender_profession: str, recipient_texts: list[str]) -> bool:
    """True when the recipient texts (title, groups) name one of the sender's professions."""
    mine = professions_in(sender_profession)
    if not mine:
        return False
    return any(mine & professions_in(text) for text in recipient_texts if text)


def colleague_salutation(language: str, *, peer: bool, civility: str) -> str:
    """Return the salutation of a correspondent, without the final comma.

    A peer gets "Chère consœur" / "Cher confrère" (both when the civility does not
    tell) or "Dear colleague"; anyone else "Madame, Monsieur" / "Dear Sir or Madam".
    """
    table = SALUTATIONS.get(language, SALUTATIONS["en"])
    if not peer:
        return table["formal"]
    return table[gender_of(civility)]


def patient_salutation(language: str, *, civility: str, family_name: str) -> str:
    """Return "Madame Dupont" when civility and surname are known, else "Madame, Monsieur"."""
    gender = gender_of(civility)
    name = " ".join(family_name.split())
    if not gender:
        return SALUTATIONS.get(language, SALUTATIONS["en"])["formal"]
    word = _PATIENT.get(language, _PATIENT["en"])[gender]
    if name:
        return f"{word} {name}"
    return word if language == "fr" else SALUTATIONS["en"]["formal"]
