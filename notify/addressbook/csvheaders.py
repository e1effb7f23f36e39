"""Column names of CSV address books, and the column plan built from them.

A header is matched *tolerantly*: case, accents, punctuation and spacing are
ignored (``"Adresse de messagerie 2"`` and ``"adresse-de-messagerie2"`` are the
same). :func:`build_plan` turns a header row (and the user's ``--map``) into a
:class:`ColumnPlan`: which column indices feed which :class:`Entry` field, fixed
once per file so reading a row is a few list look-ups.

Vocabularies covered: Outlook desktop and web (English, French, German), Google
Contacts (old "Google CSV" and the newer layout), Thunderbird (English, German,
French), Windows Live Mail, LinkedIn, and plain sheets ("Nom;Courriel").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from notify.addressbook.model import Problem
from notify.errors import SourceError, UsageError

Item = tuple[int, list[str]] | Problem  # a row (its first line, its cells) or a Problem
HEAD_ROWS = 20  # rows searched for the header (after a preamble such as LinkedIn's)
SNIFF_ROWS = 200  # rows looked at to find an e-mail column by its values

# --map keys (Entry fields) and the plan attribute each one sets.
MAP_KEYS = {
    "email": "emails",
    "name": "name",
    "given_name": "given",
    "family_name": "family",
    "civility": "civility",
    "title": "title",
    "organization": "organization",
    "language": "language",
    "groups": "groups",
    "phone": "phones",
}

_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(header: str) -> str:
    """Fold a header for matching: no case, accents, punctuation or spaces."""
    text = unicodedata.normalize("NFKD", header.casefold().translate(_LIGATURES))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("", text.translate(_LIGATURES))


# --- e-mail, name and other single-purpose columns --------------------------------

_QUAL = (
    "home|work|other|private|personal|business|primary|secondary|main|pro|professionnel"
    "|professionnelle|perso|personnel|personnelle|domicile|bureau|travail|autre|prive|privee"
    "|principal|principale|secondaire|privat|dienstlich|geschaftlich|andere|primare|sekundare"
    "|weitere|1|2|3"
)
_MAILWORD = (
    "email|emails|mail|mails|courriel|courriels|mel|emailadresse|emailaddress|adresseemail"
    "|adressemail|adressecourriel|adresseelectronique|adressedemessagerie|mailadresse"
)
_EMAIL = re.compile(
    rf"(?:{_QUAL})?(?:{_MAILWORD})\d*(?:address|adresse|value|addr)?(?:{_QUAL})?\d*"
)
_PHONE_WORD = re.compile(r"phone|telephone|telefon|^tel|mobil|portable|handy|cellular|^cell|gsm")
_NOT_PHONE = re.compile(r"type|label|fax|telecopie|telex|pager|yomi|isdn|rnis|radio|tty|tdd")
_GOOGLE = re.compile(r"(email|phone|organization|address)(\d+)(\w+)")

_SIMPLE: dict[str, str] = {}
for _kind, _names in {
    "display": "displayname anzeigename nomaafficher fullname nomcomplet vollstandigername "
    "nometprenom nomprenom prenomnom prenometnom contactname nomducontact",
    "ambiguous": "name nom",
    "given": "firstname givenname prenom vorname first given forename",
    "middle": "middlename additionalname deuxiemeprenom 2vorname weiterevornamen "
    "secondprenom autresprenoms middle",
    "family": "lastname familyname surname nachname nomdefamille last nomdusage family",
    "civility": "title nameprefix civilite anrede prefix titel salutation prefixe",
    "title": "jobtitle profession position arbeitstitel fonction organizationtitle occupation "
    "beruf poste metier specialite specialty speciality",
    "organization": "company societe organization organisation firma organizationname "
    "entreprise etablissement structure employer unternehmen firme",
    "language": "language langue sprache preferredlanguage languepreferee",
    "groups": "categories groupmembership labels kategorien groups groupes groupe group "
    "categorie category gruppen",
}.items():
    for _name in _names.split():
        _SIMPLE[_name] = _kind

# --- postal address columns: (group, role) ----------------------------------------

ROLES = ("street", "street2", "street3", "extended", "pobox", "postcode", "city", "region")
ROLES_ALL = (*ROLES, "country")


# Each vocabulary: the words naming the groups (business, home, other) and the
# header templates with the role of each.
_BHO = (("Business", "Business"), ("Home", "Home"), ("Other", "Other"))
_POSTAL_VOCABULARIES: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = (
    (  # Outlook desktop and web, English
        _BHO,
        "{} Street=street|{} Street 2=street2|{} Street 3=street3|{} City=city|{} State=region"
        "|{} Postal Code=postcode|{} Country/Region=country|{} Country=country"
        "|{} Address PO Box=pobox",
    ),
    (  # Outlook desktop, French
        (("Business", "bureau"), ("Home", "domicile"), ("Other", "autre")),
        "Rue ({})=street|Rue ({}) 2=street2|Rue ({}) 3=street3|Ville ({})=city"
        "|Dép/Région ({})=region|Code postal ({})=postcode|Pays/Région ({})=country"
        "|Pays ({})=country",
    ),
    (  # Thunderbird, English
        (("Home", "Home"), ("Business", "Work")),
        "{} Address=street|{} Address 2=street2|{} Address2=street2|{} City=city"
        "|{} State=region|{} ZipCode=postcode|{} Zip=postcode|{} Country=country",
    ),
    (  # Thunderbird, German
        (("Home", "Privat"), ("Business", "Dienstlich")),
        "{}: Adresse=street|{}: Adresse 2=street2|{}: Ort=city|{}: Bundesland=region"
        "|{}: PLZ=postcode|{}: Land=country",
    ),
    (  # Thunderbird, French (street lines only: the other names are not distinct)
        (("Home", "privée"), ("Business", "professionnelle")),
        "Adresse {}=street|Adresse {} 2=street2",
    ),
    (  # Windows Live Mail and Outlook, German
        (("Home", "privat"), ("Business", "geschäftlich")),
        "Straße ({})=street|Ort ({})=city|Postleitzahl ({})=postcode|Bundesland ({})=region"
        "|Land/Region ({})=country|Straße {}=street|Straße {} 2=street2|Straße {} 3=street3"
        "|Ort {}=city|Region {}=region|Postleitzahl {}=postcode|Land/Region {}=country",
    ),
    (  # Outlook, French post-office boxes
        (("Business", "B.P. professionnelle"), ("Home", "Boîte postale du domicile")),
        "{}=pobox",
    ),
    ((("Other", "Autre boîte postale"),), "{}=pobox"),
)


def _postal_table() -> dict[str, tuple[str, str]]:
    """Normalised header -> (address group, role in the address)."""
    table: dict[str, tuple[str, str]] = {}
    for groups, templates in _POSTAL_VOCABULARIES:
        for group, word in groups:
            for item in templates.split("|"):
                template, role = item.split("=")
                table.setdefault(normalize(template.format(word)), (group, role))
    return table


_POSTAL = _postal_table()
_GOOGLE_KINDS = {
    ("email", "value"): "emails",
    ("phone", "value"): "phones",
    ("organization", "name"): "organization",
    ("organization", "title"): "title",
}
_GOOGLE_ADDRESS_ROLES = {
    "formatted": "formatted",
    "street": "street",
    "city": "city",
    "pobox": "pobox",
    "region": "region",
    "postalcode": "postcode",
    "country": "country",
    "extendedaddress": "extended",
}


@dataclass(frozen=True, slots=True)
class PostalColumns:
    """The columns of one postal address (home, work, ...): index per role, -1 if absent."""

    formatted: int
    parts: tuple[int, ...]  # street, street2, street3, extended, pobox (in that order)
    postcode: int
    city: int
    region: int
    country: int

    @property
    def indices(self) -> tuple[int, ...]:
        """Every column of this address, to test quickly whether a row has any of it."""
        found = (self.formatted, *self.parts, self.postcode, self.city, self.region, self.country)
        return tuple(i for i in found if i >= 0)


@dataclass(slots=True)
class ColumnPlan:
    """Which column indices feed which Entry field; the first non-empty one wins
    for single-valued fields, every non-empty one is kept for list fields."""

    headers: tuple[str, ...]
    has_header: bool = True
    emails: tuple[int, ...] = ()
    name: tuple[int, ...] = ()
    given: tuple[int, ...] = ()
    middle: tuple[int, ...] = ()
    family: tuple[int, ...] = ()
    civility: tuple[int, ...] = ()
    title: tuple[int, ...] = ()
    organization: tuple[int, ...] = ()
    language: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    phones: tuple[int, ...] = ()
    postal: tuple[PostalColumns, ...] = ()

    def used(self) -> set[int]:
        """Every column index the plan reads."""
        out: set[int] = set()
        for attr in set(MAP_KEYS.values()) | {"middle"}:
            out.update(getattr(self, attr))
        for post in self.postal:
            out.update(post.indices)
        return out


def classify(header: str) -> str:
    """The kind of a header on its own: a plan field, 'ambiguous', 'titre' or ''."""
    key = normalize(header)
    if key == "titre":
        return "titre"
    kind = _SIMPLE.get(key)
    if kind:
        return kind
    google = _GOOGLE.fullmatch(key)
    if google:  # Google's numbered groups: "E-mail 1 - Value", "Organization 1 - Title"...
        found = _GOOGLE_KINDS.get((google.group(1), google.group(3)))
        if found:
            return found
    if _EMAIL.fullmatch(key):
        return "emails"
    if _PHONE_WORD.search(key) and not _NOT_PHONE.search(key):
        return "phones"
    return ""


def is_known(header: str) -> bool:
    """True when the header names something notify reads (any field)."""
    key = normalize(header)
    return bool(classify(header)) or key in _POSTAL or _google_postal(key) is not None


def _google_postal(key: str) -> tuple[str, str] | None:
    match = _GOOGLE.fullmatch(key)
    if match and match.group(1) == "address":
        role = _GOOGLE_ADDRESS_ROLES.get(match.group(3))
        if role:
            return f"Address {match.group(2)}", role
    return None


def _kinds(headers: Sequence[str]) -> dict[str, list[int]]:
    """Columns per field kind, resolving the context-dependent headers."""
    kinds: dict[str, list[int]] = {}
    previous = ""
    for index, header in enumerate(headers):
        kind = classify(header)
        if kind == "titre":
            # French Outlook: the first "Titre" is the civility, the one after
            # "Service" (department) is the job title.
            kind = "title" if previous == "service" or "civility" in kinds else "civility"
        if kind:
            kinds.setdefault(kind, []).append(index)
        previous = normalize(header)
    for index in kinds.pop("ambiguous", []):
        kind = _ambiguous_kind(headers[index], kinds, headers)
        if kind:
            kinds.setdefault(kind, []).append(index)
    return kinds


def _ambiguous_kind(header: str, kinds: dict[str, list[int]], headers: Sequence[str]) -> str:
    """ "Name"/"Nom": the full name, the family name, or (Windows Live Mail) neither."""
    if "given" not in kinds:
        return "display"
    if normalize(header) == "nom":
        return "" if "family" in kinds else "family"
    if any(normalize(h) == "givenname" for h in headers):
        return "display"  # Google CSV: "Name, Given Name, Additional Name, Family Name"
    return ""  # Windows Live Mail: "Name" is not reliably the display name


def _postal_columns(headers: Sequence[str]) -> tuple[PostalColumns, ...]:
    groups: dict[str, dict[str, int]] = {}
    for index, header in enumerate(headers):
        key = normalize(header)
        found = _POSTAL.get(key) or _google_postal(key)
        if found:
            groups.setdefault(found[0], {}).setdefault(found[1], index)
    parts = ("street", "street2", "street3", "extended", "pobox")
    return tuple(
        PostalColumns(
            *(roles.get("formatted", -1), tuple(roles[r] for r in parts if r in roles)),
            *(roles.get(r, -1) for r in ("postcode", "city", "region", "country")),
        )
        for roles in groups.values()
    )


def build_plan(
    headers: Sequence[str], mapping: Mapping[str, str] | None = None, *, path: object = None
) -> ColumnPlan:
    """Build the plan for ``headers``; ``mapping`` (``--map``) overrides any field.

    Raises :class:`UsageError` for an unknown ``--map`` key and
    :class:`SourceError` for a mapped column the file does not have.
    """
    plan = ColumnPlan(headers=tuple(headers), postal=_postal_columns(headers))
    kinds = _kinds(headers)
    for kind, indices in kinds.items():
        if kind in MAP_KEYS.values() or kind == "middle":
            setattr(plan, kind, tuple(indices))
        elif kind == "display":
            plan.name = tuple(indices)
    if mapping:
        apply_mapping(plan, mapping, path)
    return plan


def apply_mapping(plan: ColumnPlan, mapping: Mapping[str, str], path: object) -> None:
    """Point each mapped field at the named column(s), taking them from other fields."""
    chosen: dict[str, tuple[int, ...]] = {}
    for key, column in mapping.items():
        attr = MAP_KEYS.get(key.strip().lower())
        if attr is None:
            raise UsageError(
                f"--map {key}={column}: unknown field {key!r}",
                hint=f"Fields that can be mapped: {', '.join(MAP_KEYS)}.",
            )
        chosen[attr] = find_columns(plan, column, key, path)
    taken = {i for indices in chosen.values() for i in indices}
    for attr in (*MAP_KEYS.values(), "middle"):
        if attr in chosen:
            setattr(plan, attr, chosen[attr])
        else:
            setattr(plan, attr, tuple(i for i in getattr(plan, attr) if i not in taken))


def find_columns(plan: ColumnPlan, column: str, key: str, path: object) -> tuple[int, ...]:
    """Indices of the columns named ``column`` (tolerant match), or its 1-based number."""
    wanted = normalize(column)
    if plan.has_header and wanted:
        found = tuple(i for i, h in enumerate(plan.headers) if normalize(h) == wanted)
        if found:
            return found
    text = column.strip().lstrip("#")
    if text.isdigit() and 1 <= int(text) <= len(plan.headers):
        return (int(text) - 1,)
    if plan.has_header:
        listing = ", ".join(repr(h) for h in plan.headers if h.strip())
        message = f"--map {key}={column}: no column {column!r}; the columns are: {listing}"
    else:
        message = (
            f"--map {key}={column}: the file has no header row; "
            f"give a column number from 1 to {len(plan.headers)}"
        )
    raise SourceError(
        message,
        path=str(path) if path is not None else None,
        hint="Case, accents and spacing do not matter; a column number (1 = first) also works.",
    )


# --- finding the header row -------------------------------------------------------


def find_plan(
    path: Path, items: list[Item], mapping: Mapping[str, str] | None
) -> tuple[ColumnPlan, int]:
    """Find the header row (or its absence) among the first rows and build the column
    plan; return it with the header's line number (0 when there is no header)."""
    rows = [item for item in items if isinstance(item, tuple)]
    if not rows:
        for item in items:
            if isinstance(item, Problem):
                raise SourceError(
                    f"no readable row: {item.message}", path=path, line=item.origin.line
                )
        raise SourceError("the file is empty", hint="Export the address book again.", path=path)
    header = _header_row(rows[:HEAD_ROWS], mapping)
    if header is None:
        return _headerless_plan(path, rows, mapping), 0
    line, cells = header
    if any("\x00" in cell for cell in cells):
        raise _binary(path)
    plan = build_plan(cells, mapping, path=path)
    if not plan.emails:
        data = [row for start, row in rows if start > line][:SNIFF_ROWS]
        plan.emails = sniff_email_columns(data, len(cells))
        if not plan.emails:
            raise _no_email_column(path, line, cells)
    return plan, line


def _header_row(
    rows: list[tuple[int, list[str]]], mapping: Mapping[str, str] | None
) -> tuple[int, list[str]] | None:
    """The header row: the first row naming the mapped columns, else row one if it
    names a known field, else the first row naming an e-mail column; ``None``
    when there is no header (the first row holds an address)."""
    if mapping:
        wanted = {normalize(v) for v in mapping.values()}
        for row in rows:
            if wanted <= {normalize(c) for c in row[1]}:
                return row
    first = rows[0][1]
    if any(is_known(cell) for cell in first):
        return rows[0]
    for row in rows:
        if any(classify(cell) == "emails" for cell in row[1]):
            return row
    if any(looks_like_address(cell) for cell in first):
        return None
    return rows[0]


def _headerless_plan(
    path: Path, rows: list[tuple[int, list[str]]], mapping: Mapping[str, str] | None
) -> ColumnPlan:
    data = [row for _, row in rows[:SNIFF_ROWS]]
    width = len(data[0])
    plan = ColumnPlan(headers=tuple(str(i + 1) for i in range(width)), has_header=False)
    plan.emails = sniff_email_columns(data, width)
    for attr, indices in sniff_name_columns(data, width, plan.emails).items():
        setattr(plan, attr, indices)
    if mapping:
        apply_mapping(plan, mapping, path)
    if not plan.emails:
        raise SourceError(
            "there is no header row and no column of e-mail addresses",
            path=path,
            hint="Add a header row, or pass --map email=N with the column number (1 = first).",
        )
    return plan


def _binary(path: Path) -> SourceError:
    return SourceError(
        "contains binary data (NUL bytes): this is not a CSV text file",
        path=path,
        hint="If it is an Excel workbook, save it as 'CSV UTF-8' first; "
        "if it is UTF-16 text, pass --encoding utf-16.",
    )


def _no_email_column(path: Path, line: int, headers: Sequence[str]) -> SourceError:
    listing = ", ".join(repr(h) for h in headers if h.strip()) or "(none)"
    if not any(is_known(h) for h in headers):
        return SourceError(
            "not an address book: no known column name and no column of e-mail addresses; "
            f"the first row reads: {', '.join(repr(h) for h in headers)}",
            path=path,
            line=line,
            hint="If this is an address book, add a header row naming the e-mail column, or "
            "pass --map email=COLUMN (a column name, or its number: 1 = first).",
        )
    example = next((h for h in headers if h.strip()), "COLUMN")
    return SourceError(
        f"no e-mail column found; the columns are: {listing}",
        path=path,
        line=line,
        hint=f'Say which column holds the addresses: --map email="{example}" '
        "(use the right column name).",
    )


# --- reading values: what looks like an address, headerless files ----------------

_ADDRESSY = re.compile(r"[^\s@<>,;:\"'()\[\]]+@[^\s@<>,;:\"'()\[\]]+")


def looks_like_address(value: str) -> bool:
    """True when ``value`` contains something shaped like an e-mail address."""
    return "@" in value and _ADDRESSY.search(value) is not None


def sniff_email_columns(rows: Sequence[Sequence[str]], width: int) -> tuple[int, ...]:
    """Columns whose non-empty values mostly (at least half) look like addresses."""
    hits = [0] * width
    filled = [0] * width
    for row in rows:
        for index, value in enumerate(row[:width]):
            if value.strip():
                filled[index] += 1
                hits[index] += looks_like_address(value)
    return tuple(i for i in range(width) if hits[i] and hits[i] * 2 >= filled[i])


def sniff_name_columns(
    rows: Sequence[Sequence[str]], width: int, emails: tuple[int, ...]
) -> dict[str, tuple[int, ...]]:
    """Guess the name columns of a headerless file from its values.

    When one column equals two others joined by a space ("John Doe", "John",
    "Doe") they are the display, given and family names; otherwise the first
    column holding text is taken as the name.
    """
    text_columns = [i for i in range(min(width, 8)) if i not in emails]
    for d in text_columns:
        for g in text_columns:
            for f in text_columns:
                if len({d, g, f}) == 3 and _joins(rows, d, g, f):
                    return {"name": (d,), "given": (g,), "family": (f,)}
    for index in text_columns:
        values = [r[index].strip() for r in rows if index < len(r) and r[index].strip()]
        if values and sum(any(c.isalpha() for c in v) for v in values) * 2 >= len(values):
            return {"name": (index,)}
    return {}


def _joins(rows: Sequence[Sequence[str]], d: int, g: int, f: int) -> bool:
    seen = agree = 0
    for row in rows:
        if max(d, g, f) >= len(row) or not row[d].strip():
            continue
        seen += 1
        agree += row[d].strip() == f"{row[g].strip()} {row[f].strip()}".strip()
    return seen > 0 and agree * 5 >= seen * 4
