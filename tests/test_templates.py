"""Templates: finding and overriding them, listing them, golden renderings of the built-ins.

Golden files live in tests/golden/; regenerate them only on purpose, with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_templates.py``, and review the diff.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient, SentMessage
from notify.compose import (
    Composer,
    builtin_templates_dir,
    list_templates,
    load_template,
)
from notify.compose.samples import PARIS, sample_incident, sample_sender
from notify.errors import TemplateError
from notify.settings import IncidentSettings

GOLDEN = Path(__file__).parent / "golden"
BUILTINS = ("colleague-warning", "patient-breach", "patient-phishing")
DATE = datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
MESSAGE_ID = "<golden0000000000000000000@exemple.org>"
MINIMAL = "{% block subject %}Mine{% endblock %}{% block text %}Mine{% endblock %}"


def _golden_recipient(language: str) -> Recipient:
    return Recipient(
        email="helene.dupont@exemple-sante.fr",
        ascii_email="helene.dupont@exemple-sante.fr",
        key="helene.dupont@exemple-sante.fr",
        name="Hélène Dupont",
        given_name="Hélène",
        family_name="Dupont",
        civility="Mme",
        title="Pédiatre",
        language=language,
        window_messages=[
            SentMessage(datetime(2026, 11, 26, 9, 42, tzinfo=PARIS), "Facture impayée : urgent"),
            SentMessage(None, "Document partagé"),
        ],
    )


def _golden_incident(language: str) -> IncidentSettings:
    texts = {
        "fr": (
            "un tiers a utilisé le mot de passe de la messagerie du cabinet pour lire et "
            "envoyer des courriels.",
            "vous pourriez recevoir des messages ou des appels citant votre nom et vos "
            "rendez-vous.",
            "le mot de passe a été changé et la messagerie vérifiée par notre prestataire.",
            "noms, coordonnées et dates de rendez-vous",
        ),
        "en": (
            "a third party used the practice's mailbox password to read and send mail.",
            "you may receive messages or calls that quote your name and appointments.",
            "the password was changed and the mailbox checked by our IT provider.",
            "names, contact details and appointment dates",
        ),
    }[language]
    nature, consequences, measures, categories = texts
    return sample_incident().model_copy(
        update={
            "nature": nature,
            "consequences": consequences,
            "measures": measures,
            "data_categories": categories,
        }
    )


def _check_golden(path: Path, data: bytes) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert path.is_file(), f"{path.name} missing: run with UPDATE_GOLDEN=1 and review it"
    assert data == path.read_bytes(), f"{path.name} differs (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_renders_as_its_golden_file(name: str, language: str) -> None:
    """Each built-in, in each language, composes byte for byte as reviewed."""
    composer = Composer(load_template(name), _golden_incident(language), sample_sender())
    composed = composer.compose(_golden_recipient(language), message_id=MESSAGE_ID, date=DATE)
    assert composed.language == language
    _check_golden(GOLDEN / f"{name}.{language}.eml", composed.data)
    readable = f"Subject: {composed.subject}\n\n{composed.text}\n----- HTML -----\n{composed.html}"
    _check_golden(GOLDEN / f"{name}.{language}.txt", readable.encode("utf-8"))


def test_colleague_warning_holds_every_required_element() -> None:
    """The French warning names the sender, the addresses, the call-back rule, no link."""
    composer = Composer(load_template("colleague-warning"), sample_incident(), sample_sender())
    text = composer.render(_golden_recipient("fr")).text.replace("\n", " ")
    for expected in (
        "Dr Claire Martin", "dr.martin@exemple.fr", "secours.martin@exemple.org",
        "26 novembre 2026 à 08\u00a0h\u00a000", "Signal Spam", "antivirus",
        "numéro que vous connaissez déjà", "aucun lien et aucune pièce jointe",
        "Facture impayée : urgent", "Document partagé", "Chère consœur", "excuser",
    ):  # fmt: skip
        assert expected in text
    assert "http" not in text
    assert "+33" not in text  # never a phone number in an e-mail


def test_builtin_folder_is_found_in_a_checkout() -> None:
    """In an editable install the built-ins are the repository's templates/ folder."""
    folder = builtin_templates_dir()
    assert (folder / "colleague-warning.fr.j2").is_file()
    assert folder.name in {"templates", "_templates"}


def test_every_builtin_has_french_and_english() -> None:
    """list_templates shows the three built-ins, both languages, and their variables."""
    infos = {info.name: info for info in list_templates(search_dirs=[builtin_templates_dir()])}
    assert sorted(infos) == sorted(BUILTINS)
    assert all(info.languages == ["en", "fr"] and info.builtin for info in infos.values())
    assert "salutation" in infos["colleague-warning"].variables
    assert "incident.nature" in infos["patient-breach"].variables
    assert "message.subject" not in infos["colleague-warning"].variables


def test_user_template_in_current_directory_overrides_the_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """./templates/colleague-warning.fr.j2 replaces the built-in of that name."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "colleague-warning.fr.j2").write_text(MINIMAL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    template_set = load_template("colleague-warning")
    assert template_set.languages == ["fr"]
    assert template_set.folder == tmp_path / "templates"
    listed = {info.name: info for info in list_templates()}
    assert not listed["colleague-warning"].builtin
    assert listed["patient-breach"].builtin


def test_template_given_by_path_is_loaded_alone(tmp_path: Path) -> None:
    """A path loads that file, its language taken from its name."""
    path = tmp_path / "mine.en.j2"
    path.write_text(MINIMAL, encoding="utf-8")
    template_set = load_template(str(path))
    assert (template_set.name, template_set.languages) == ("mine", ["en"])


def test_unknown_template_name_says_what_to_do() -> None:
    """A name that matches nothing points to 'notify templates'."""
    with pytest.raises(TemplateError, match="no template named 'nope'") as caught:
        load_template("nope", search_dirs=[builtin_templates_dir()])
    assert "notify templates" in str(caught.value)


def test_name_with_a_path_separator_is_not_looked_up(tmp_path: Path) -> None:
    """A name cannot climb out of the template folders."""
    with pytest.raises(TemplateError):
        load_template("../../etc/passwd", search_dirs=[tmp_path])


def test_file_without_a_language_is_refused(tmp_path: Path) -> None:
    """Template files are named NAME.LANG.j2."""
    path = tmp_path / "mine.j2"
    path.write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(TemplateError, match=r"NAME\.LANG\.j2"):
        load_template(str(path))


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    """A Jinja syntax error is a TemplateError with its line."""
    path = tmp_path / "mine.fr.j2"
    path.write_text("{% block subject %}x{% endblock %}\n{% block text %}\n{% if %}\n", "utf-8")
    with pytest.raises(TemplateError, match="syntax error") as caught:
        load_template(str(path))
    assert caught.value.line == 3


def test_missing_text_block_is_refused(tmp_path: Path) -> None:
    """A template without a text block cannot be used."""
    path = tmp_path / "mine.fr.j2"
    path.write_text("{% block subject %}x{% endblock %}", encoding="utf-8")
    with pytest.raises(TemplateError, match="'text' block is missing"):
        load_template(str(path))


def test_template_without_html_gives_text_only(tmp_path: Path) -> None:
    """No html block: the message is a single text/plain part."""
    path = tmp_path / "mine.fr.j2"
    path.write_text(MINIMAL, encoding="utf-8")
    composer = Composer(load_template(str(path)), sample_incident(), sample_sender())
    recipient = replace(_golden_recipient("fr"), window_messages=[])
    composed = composer.compose(recipient, message_id=MESSAGE_ID, date=DATE)
    assert composed.html is None
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in composed.data
    assert b"multipart" not in composed.data


# -- bombs: a template from an untrusted folder cannot hang or exhaust the machine -------


def _render_text(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bomb.fr.j2"
    path.write_text("{% block subject %}x{% endblock %}{% block text %}" + text + "{% endblock %}")
    composer = Composer(load_template(str(path)), sample_incident(), sample_sender())
    return composer.render(_golden_recipient("fr")).text


def _bomb_error(tmp_path: Path, text: str) -> TemplateError:
    start = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        _render_text(tmp_path, text)
    assert time.monotonic() - start < 6
    message = str(caught.value)
    assert "bomb.fr.j2" in message
    assert "helene.dupont@exemple-sante.fr" in message
    return caught.value


def test_string_multiplication_bomb_is_refused_before_allocating(tmp_path: Path) -> None:
    """'x' * 10**10 (10 GB): a TemplateError saying the template produces too much."""
    error = _bomb_error(tmp_path, "{{ 'x' * 10**10 }}")
    assert "produces too much" in str(error)
    assert error.line == 1


def test_nested_loop_bomb_stops_after_the_time_limit(tmp_path: Path) -> None:
    """10^5 x 10^5 iterations (hours): a TemplateError saying it is too slow, within
    seconds."""
    bomb = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    assert "too slow" in str(_bomb_error(tmp_path, bomb))


def test_output_size_bomb_stops_once_the_block_is_too_large(tmp_path: Path) -> None:
    """10^5 copies of a 999,999-character text (100 GB of output): a TemplateError as
    soon as the block goes over its limit."""
    bomb = "{% for i in range(100000) %}{{ 'x' * 999999 }}{% endfor %}"
    assert "'text' block is over" in str(_bomb_error(tmp_path, bomb))


@pytest.mark.parametrize(
    "bomb",
    [
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set b %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = b %}{% endfor %}",
        "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% set ns = namespace(s='x') %}"
        "{% for i in range(40) %}{% set ns.s = d(ns.s) %}{% endfor %}",
        "{{ 9 ** 999999999 }}",
    ],
    ids=["tilde", "plus", "set-block", "macro", "power"],
)
def test_doubling_bombs_are_refused_at_a_megabyte(tmp_path: Path, bomb: str) -> None:
    """A value doubled again and again, however it is built, stops near 1 MB."""
    assert "produces too much" in str(_bomb_error(tmp_path, bomb))


def test_exponential_macro_recursion_stops_after_the_time_limit(tmp_path: Path) -> None:
    """A macro calling itself twice, 60 deep (2^60 calls): too slow, within seconds."""
    bomb = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    assert "too slow" in str(_bomb_error(tmp_path, bomb))


def test_limits_leave_ordinary_templates_alone(tmp_path: Path) -> None:
    """Small products, powers, sums, loops with loop.length and recursive loops render."""
    text = _render_text(
        tmp_path,
        "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ [1] + [2] }} {{ 'a' ~ 'b' }}"
        "{% set x | upper %}hi{% endset %} {{ x }} "
        "{% for a in range(3) %}{{ loop.length }}{{ loop.last }}{% endfor %} "
        "{% for a in [[1, [2]], [3]] recursive %}"
        "{% if a is iterable %}{{ loop(a) }}{% else %}{{ a }}{% endif %}{% endfor %}",
    )
    assert text == "ababab 1024 [1, 2] ab HI 3False3False3True 123\n"
