"""Template lint: what ``notify templates check FILE`` reports.

Checks, each a :class:`Finding` with a severity and a line when one is known:

- a syntax error (error, with its line); a missing ``subject`` or ``text`` block (error);
- a link, URL, e-mail address, "click here", or attachment reference written in the
  template (error): a warning sent after phishing must not look like phishing;
- a variable that is neither ``recipient``/``incident``/``sender`` (with a known field)
  nor a computed one (error);
- for a breach notice (``patient-breach``, or any name with "breach"), a missing GDPR
  art. 34(2) element: nature, contact point (DPO), consequences, measures (error);
- rendering with sample data fails (error, with its line), or the subject is longer
  than 78 characters (warning); text outside the blocks, which is ignored (warning).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2
from jinja2 import nodes

from notify.addressbook.model import Recipient
from notify.compose.render import render_template
from notify.compose.samples import sample_incident, sample_recipient, sample_sender
from notify.compose.templates import (
    _ENV,
    BLOCKS,
    LanguageTemplate,
    compile_source,
    read_source,
    reads_of,
)
from notify.compose.variables import COMPUTED, recipient_variables, shared_variables
from notify.errors import TemplateError
from notify.settings import IncidentSettings, SenderSettings

Severity = Literal["error", "warning"]
SUBJECT_LIMIT = 78

JINJA_NAMES = frozenset(
    {"loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace", "self", "super",
     "caller", "varargs", "kwargs"}
)  # fmt: skip
FIELDS: dict[str, frozenset[str]] = {
    "recipient": frozenset(f.name for f in dataclasses.fields(Recipient)) | {"in_window"},
    "incident": frozenset(IncidentSettings.model_fields),
    "sender": frozenset(SenderSettings.model_fields),
}

# Patterns run on accent-free, lower-case text.
_SUSPICIOUS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:https?|ftp)://|\bwww\.|mailto:"), "a link or URL"),
    (re.compile(r"<\s*(?:a|form|script|iframe|img)\b|\bhref\s*=|\bsrc\s*="), "an HTML link"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "an e-mail address"),
    (
        re.compile(r"\b[\w-]+(?:\.[\w-]+)*\.(?:fr|com|org|net|eu|info|io|ly|be|ch|de|uk)\b"),
        "a web address",
    ),
    (
        re.compile(
            r"\bcli(?:ck|quez|quer)\s+(?:here|ici|on|sur|the)\b|\bsuivez ce lien|"
            r"\bfollow (?:this|the) link|\bqr code|\bcode qr|\bscan the\b|\bflashez"
        ),
        'a "click here"',
    ),
    (
        re.compile(
            r"\bci[- ]joint|\ben (?:pieces?|pj)\b|\ben pieces? jointes?|"
            r"\b(?:voir|ouvr\w*|consultez|consulter) (?:la|les) pieces? jointes?|"
            r"\b(?:please find|see) attached|\battached (?:file|document|form|invoice)|"
            r"\bopen the attachment|\bthe attached\b|\btelecharg\w*|\bdownload"
        ),
        "an attachment or download reference",
    ),
]

ART34: dict[str, tuple[str, tuple[str, ...]]] = {
    "the nature of the breach": ("incident.nature", ("nature", "ce qui s'est passe",
                                                     "what happened")),
    "the contact point (DPO)": ("sender.dpo", ("delegue a la protection", "dpo",
                                               "data protection officer", "point de contact",
                                               "contact point")),
    "the likely consequences": ("incident.consequences", ("consequence",)),
    "the measures taken or proposed": ("incident.measures", ("mesures", "measures")),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint result: ``error`` fails the check, ``warning`` only informs."""

    severity: Severity
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.severity}: {where}{self.message}"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def lint_template(path: Path | str, *, kind: str | None = None) -> list[Finding]:
    """Check one template file; return its findings (empty when all is well).

    ``kind`` (e.g. ``"patient-breach"``) decides the extra checks; by default it is
    the name of the file (``patient-breach.fr.j2``). An unreadable file raises
    :class:`~notify.errors.TemplateError`.
    """
    path = Path(path)
    source = read_source(path)
    name, language, findings = _name_and_language(path)
    try:
        ast = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [*findings, Finding("error", exc.lineno, f"syntax error: {exc.message}")]
    findings += _check_blocks(ast)
    findings += _check_text(ast)
    findings += _check_variables(ast)
    if "breach" in (kind or name):
        findings += _check_art34(ast)
    if not any(f.severity == "error" for f in findings):
        findings += _check_render(source, path, name, language)
    return sorted(findings, key=lambda f: (f.line or 0, f.message))


def _name_and_language(path: Path) -> tuple[str, str, list[Finding]]:
    parts = path.name.split(".")
    if len(parts) == 3 and parts[2] == "j2" and re.fullmatch(r"[a-z]{2}", parts[1]):
        return parts[0], parts[1], []
    note = Finding("warning", None, "name the file NAME.LANG.j2 (e.g. my-warning.fr.j2)")
    return path.name.split(".", 1)[0], "fr", [note]


def _check_blocks(ast: nodes.Template) -> list[Finding]:
    names = {block.name for block in ast.find_all(nodes.Block)}
    found = [
        Finding("error", None, f"the {block!r} block is missing")
        for block in ("subject", "text")
        if block not in names
    ]
    found += [
        Finding("warning", block.lineno, f"unknown block {block.name!r} is ignored")
        for block in ast.find_all(nodes.Block)
        if block.name not in BLOCKS
    ]
    for node in ast.body:
        if isinstance(node, nodes.Output) and any(
            not isinstance(child, nodes.TemplateData) or child.data.strip() for child in node.nodes
        ):
            found.append(Finding("warning", node.lineno, "text outside the blocks is ignored"))
    return found


def _literals(ast: nodes.Template) -> Iterator[tuple[int, str]]:
    """Yield (line, text) for every literal piece of text the template can output."""
    for data in ast.find_all(nodes.TemplateData):
        for offset, line in enumerate(data.data.split("\n")):
            yield data.lineno + offset, line
    for const in ast.find_all(nodes.Const):
        if isinstance(const.value, str):
            yield const.lineno, const.value


def _check_text(ast: nodes.Template) -> list[Finding]:
    found = []
    for line, text in _literals(ast):
        folded = _fold(text)
        for pattern, what in _SUSPICIOUS:
            match = pattern.search(folded)
            if match:
                found.append(
                    Finding(
                        "error",
                        line,
                        f"{what} ({match.group(0).strip()!r}): a warning after phishing "
                        "must not look like phishing; name things, never link to them",
                    )
                )
    return found


def _check_variables(ast: nodes.Template) -> list[Finding]:
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    known = COMPUTED | FIELDS.keys() | JINJA_NAMES | assigned
    found = []
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in known:
            found.append(Finding("error", name.lineno, f"unknown variable {name.name!r}"))
    for attr in ast.find_all(nodes.Getattr):
        target = attr.node
        if isinstance(target, nodes.Name) and target.name in FIELDS:
            if target.name in assigned or attr.attr in FIELDS[target.name]:
                continue
            found.append(
                Finding("error", attr.lineno, f"unknown variable '{target.name}.{attr.attr}'")
            )
    return found


def _uses(ast: nodes.Template, dotted: str) -> bool:
    root, attr = dotted.split(".")
    return any(
        isinstance(n.node, nodes.Name) and n.node.name == root and n.attr == attr
        for n in ast.find_all(nodes.Getattr)
    )


def _check_art34(ast: nodes.Template) -> list[Finding]:
    text = " ".join(_fold(t) for _, t in _literals(ast))
    found = []
    for element, (variable, words) in ART34.items():
        if not (_uses(ast, variable) or any(word in text for word in words)):
            found.append(
                Finding(
                    "error",
                    None,
                    f"GDPR art. 34(2): the notice does not give {element} "
                    f"(use {{{{ {variable} }}}} or write it out)",
                )
            )
    return found


def _check_render(source: str, path: Path, name: str, language: str) -> list[Finding]:
    try:
        plain, html = compile_source(source, path)
        template = LanguageTemplate(name, language, path, source, plain, html, reads_of(source))
        sender = sample_sender()
        variables = shared_variables(sample_incident(), sender, language)
        variables.update(recipient_variables(sample_recipient(), sender, language))
        rendered = render_template(template, variables, "sample recipient")
    except TemplateError as exc:
        return [Finding("error", exc.line, f"with sample data: {exc.message}")]
    if len(rendered.subject) > SUBJECT_LIMIT:
        return [
            Finding(
                "warning",
                None,
                f"the subject is {len(rendered.subject)} characters with sample data "
                f"(over {SUBJECT_LIMIT}): mail programs will cut it",
            )
        ]
    return []
