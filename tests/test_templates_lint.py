"""Template lint: each problem is caught, the built-ins pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from notify.compose import Finding, builtin_templates_dir, lint_template
from notify.errors import TemplateError

SUBJECT = "{% block subject %}Ma messagerie a été piratée{% endblock %}\n"


def _lint(
    tmp_path: Path, text: str, name: str = "mine.fr.j2", subject: str = SUBJECT
) -> list[Finding]:
    path = tmp_path / name
    path.write_text(subject + "{% block text %}\n" + text + "\n{% endblock %}\n", "utf-8")
    return lint_template(path)


def _errors(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings if f.severity == "error"]


@pytest.mark.parametrize("path", sorted(builtin_templates_dir().glob("*.j2")), ids=lambda p: p.name)
def test_builtins_pass(path: Path) -> None:
    """Every built-in template lints without a finding."""
    assert lint_template(path) == []


def test_clean_template_passes(tmp_path: Path) -> None:
    """A plain warning with known variables has no finding."""
    assert (
        _lint(tmp_path, "{{ salutation }},\nMa messagerie {{ incident.compromised_address }}.")
        == []
    )


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("Voir https://exemple.fr/alerte", "a link or URL"),
        ("Rendez-vous sur www.exemple.fr", "a link or URL"),
        ("Signalez-le sur signal-spam.fr", "a web address"),
        ("Écrivez à contact@exemple.fr", "an e-mail address"),
        ('<a href="x">ici</a>', "an HTML link"),
        ("Cliquez ici pour vérifier", 'a "click here"'),
        ("Please click here", 'a "click here"'),
        ("Vous trouverez ci-joint la procédure", "an attachment"),
        ("Voir la pièce jointe", "an attachment"),
        ("Please find attached the form", "an attachment"),
        ("Téléchargez le correctif", "an attachment or download"),
    ],
)
def test_links_and_attachments_are_flagged(tmp_path: Path, text: str, what: str) -> None:
    """A warning after phishing must not look like phishing: links and attachments fail."""
    findings = _lint(tmp_path, text)
    assert any(f.severity == "error" and f.line == 3 and what in f.message for f in findings)


def test_mentioning_that_there_is_no_attachment_is_fine(tmp_path: Path) -> None:
    """Saying "no link and no attachment" or "do not open attachments" is not flagged."""
    text = (
        "N'ouvrez pas ses liens ni ses pièces jointes. "
        "Ce message ne contient aucun lien et aucune pièce jointe. "
        "Do not open its links or attachments; this message has no attachment."
    )
    assert _lint(tmp_path, text) == []


def test_link_in_a_string_literal_is_flagged(tmp_path: Path) -> None:
    """A URL hidden in a Jinja string is found too."""
    assert _errors(_lint(tmp_path, "{{ 'http://x.example/' if same_profession }}"))


def test_unknown_variables_are_reported(tmp_path: Path) -> None:
    """A name or a field outside the schema is an error with its line."""
    findings = _lint(tmp_path, "{{ patient_name }}\n{{ recipient.nickname }}\n{{ sender.name }}")
    assert [(f.line, f.message) for f in findings if f.severity == "error"] == [
        (3, "unknown variable 'patient_name'"),
        (4, "unknown variable 'recipient.nickname'"),
    ]


def test_loop_variables_are_known(tmp_path: Path) -> None:
    """Names the template defines itself (loops, set) are not unknown."""
    text = "{% for m in window_messages %}{{ m.subject }}{{ loop.index }}{% endfor %}"
    assert _lint(tmp_path, text) == []


def test_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    """A syntax error is one finding, with the line."""
    findings = _lint(tmp_path, "ok\n{% if salutation %}\nno end")
    assert len(findings) == 1
    assert findings[0].severity == "error"
    assert findings[0].line is not None
    assert "syntax error" in findings[0].message


def test_long_subject_is_a_warning(tmp_path: Path) -> None:
    """A subject over 78 characters with sample data is reported."""
    subject = "{% block subject %}" + "Alerte " * 10 + "{{ sender.name }}{% endblock %}\n"
    findings = _lint(tmp_path, "Bonjour", subject=subject)
    assert [f.severity for f in findings] == ["warning"]
    assert "subject is" in findings[0].message


def test_missing_blocks_are_errors(tmp_path: Path) -> None:
    """Subject and text blocks are required."""
    path = tmp_path / "mine.fr.j2"
    path.write_text("Bonjour", encoding="utf-8")
    messages = _errors(lint_template(path))
    assert "the 'subject' block is missing" in messages
    assert "the 'text' block is missing" in messages


def test_rendering_failure_with_sample_data_is_reported(tmp_path: Path) -> None:
    """A template that fails on sample data is reported with its line."""
    findings = _lint(tmp_path, "ok\n{{ incident.cnil_reference | required('cnil') }}")
    assert [(f.severity, f.line) for f in findings] == [("error", 4)]
    assert "cnil is empty" in findings[0].message


BREACH_OK = (
    "{{ patient_salutation }},\n{{ incident.nature }}\n{{ sender.dpo }}\n"
    "{{ incident.consequences }}\n{{ incident.measures }}"
)


def test_breach_notice_with_every_art34_element_passes(tmp_path: Path) -> None:
    """Nature, contact point, consequences and measures: the notice passes."""
    assert _lint(tmp_path, BREACH_OK, name="patient-breach.fr.j2") == []


@pytest.mark.parametrize(
    ("missing", "element"),
    [
        ("{{ incident.nature }}", "nature"),
        ("{{ sender.dpo }}", "contact point"),
        ("{{ incident.consequences }}", "consequences"),
        ("{{ incident.measures }}", "measures"),
    ],
)
def test_breach_notice_missing_an_art34_element_fails(
    tmp_path: Path, missing: str, element: str
) -> None:
    """Each GDPR art. 34(2) element left out is an error."""
    findings = _lint(tmp_path, BREACH_OK.replace(missing, ""), name="patient-breach.fr.j2")
    errors = _errors(findings)
    assert len(errors) == 1
    assert "art. 34" in errors[0]
    assert element in errors[0]


def test_art34_element_may_be_written_out(tmp_path: Path) -> None:
    """Writing the measures out in words satisfies the check."""
    text = BREACH_OK.replace("{{ incident.measures }}", "Les mesures prises : mot de passe changé.")
    assert _lint(tmp_path, text, name="patient-breach.fr.j2") == []


def test_kind_can_be_given(tmp_path: Path) -> None:
    """With kind="patient-breach", any file name gets the art. 34 checks."""
    path = tmp_path / "lettre.fr.j2"
    path.write_text(SUBJECT + "{% block text %}Bonjour{% endblock %}", "utf-8")
    assert len(_errors(lint_template(path, kind="patient-breach"))) == 4
    assert lint_template(path) == []


def test_text_outside_blocks_is_a_warning(tmp_path: Path) -> None:
    """Text outside the blocks is never sent: say so."""
    path = tmp_path / "mine.fr.j2"
    path.write_text(SUBJECT + "Oublié\n{% block text %}ok{% endblock %}", "utf-8")
    findings = lint_template(path)
    assert [(f.severity, f.line) for f in findings] == [("warning", 2)]


def test_missing_file_raises_template_error(tmp_path: Path) -> None:
    """A file that cannot be read is an error the CLI can show."""
    with pytest.raises(TemplateError, match="no such file"):
        lint_template(tmp_path / "absent.fr.j2")
