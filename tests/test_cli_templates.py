"""`notify templates` (the list) and `notify templates check FILE` (the lint)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notify.cli import main

BUILTIN = Path(__file__).resolve().parent.parent / "templates"
GOOD = """\
{% block subject %}Attention : ma messagerie a été piratée{% endblock %}
{% block text %}
{{ salutation }},

Ma messagerie {{ incident.compromised_address }} a été piratée.

{{ sender.name }}
{% endblock %}
"""


@dataclass
class Run:
    """What one command did: exit code, standard output and standard error."""

    code: int
    out: str
    err: str


@pytest.fixture
def notify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``notify ARGS...`` in this process, as the entry point does, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("NOTIFY_")]:
        monkeypatch.delenv(name)

    def run(*args: str) -> Run:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["notify", *args])
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - Typer always exits
            code = 0
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def write(folder: Path, name: str, text: str) -> Path:
    """Write a template file and return its path."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_list_shows_builtins_with_languages_and_variables(notify: Any) -> None:
    """Every built-in is listed with its two languages and the variables it reads."""
    run = notify("templates")
    assert run.code == 0
    lines = run.out.splitlines()
    for name in ("colleague-warning", "patient-breach", "patient-phishing"):
        at = lines.index(f"{name} (built-in)")
        assert lines[at + 1] == "  languages: en, fr"
        assert lines[at + 2].startswith("  variables: ")
    at = lines.index("patient-breach (built-in)")
    assert "incident.nature" in lines[at + 2]
    assert "sender.dpo" in lines[at + 2]


def test_list_shows_a_user_template_replacing_a_builtin(notify: Any, tmp_path: Path) -> None:
    """A ./templates file of a built-in's name is listed as the user's, replacing it."""
    write(tmp_path / "templates", "colleague-warning.fr.j2", GOOD)
    run = notify("templates")
    assert run.code == 0
    folder = tmp_path / "templates"
    lines = run.out.splitlines()
    at = lines.index(f"colleague-warning (yours, in {folder}, replaces the built-in one)")
    assert lines[at + 1] == "  languages: fr"
    assert lines[at + 2] == ("  variables: incident.compromised_address, salutation, sender.name")
    assert "colleague-warning (built-in)" not in lines


def test_list_names_a_broken_user_template_and_exits_2(notify: Any, tmp_path: Path) -> None:
    """A user template that does not compile is named; the others are still listed."""
    write(tmp_path / "templates", "broken.fr.j2", "{% block subject %}Hi{% endblock %\n")
    run = notify("templates")
    assert run.code == 2
    assert (
        f"error: broken (in {tmp_path / 'templates'}) cannot be used: "
        "template broken.fr.j2, line 1: syntax error"
    ) in run.err
    assert "patient-breach (built-in)" in run.out.splitlines()


def test_check_a_clean_template_exits_0(notify: Any, tmp_path: Path) -> None:
    """A template with no finding: exit 0 and one line saying so."""
    path = write(tmp_path, "mine.fr.j2", GOOD)
    run = notify("templates", "check", str(path))
    assert run.code == 0
    assert run.out.splitlines() == [f"{path}: no problem found"]


@pytest.mark.parametrize("name", sorted(p.name for p in BUILTIN.glob("*.j2")))
def test_every_builtin_template_is_clean(notify: Any, name: str) -> None:
    """The shipped templates pass their own lint."""
    run = notify("templates", "check", str(BUILTIN / name))
    assert run.code == 0
    assert run.out.splitlines() == [f"{BUILTIN / name}: no problem found"]


def test_check_an_error_prints_the_line_and_exits_1(notify: Any, tmp_path: Path) -> None:
    """An unknown variable is an error at its line: exit 1."""
    path = write(tmp_path, "mine.fr.j2", GOOD.replace("sender.name", "sender.nonexistent"))
    run = notify("templates", "check", str(path))
    assert run.code == 1
    assert run.out.splitlines() == [
        f"{path}:7: error: unknown variable 'sender.nonexistent'",
        f"{path}: 1 error, 0 warnings",
    ]


def test_check_a_link_is_an_error(notify: Any, tmp_path: Path) -> None:
    """A URL in a warning message is an error (it would look like the phishing)."""
    path = write(tmp_path, "mine.fr.j2", GOOD.replace("piratée.", "piratée. https://aide.fr"))
    run = notify("templates", "check", str(path))
    assert run.code == 1
    assert f"{path}:5: error: a link or URL ('https://')" in run.out


def test_check_a_warning_alone_exits_0_and_is_printed(notify: Any, tmp_path: Path) -> None:
    """Text outside the blocks is a warning: printed with its line, exit 0."""
    path = write(tmp_path, "mine.fr.j2", GOOD.replace("{% block text %}", "oops\n{% block text %}"))
    run = notify("templates", "check", str(path))
    assert run.code == 0
    assert run.out.splitlines() == [
        f"{path}:2: warning: text outside the blocks is ignored",
        f"{path}: 0 errors, 1 warning",
    ]


def test_check_a_breach_notice_needs_the_gdpr_elements(notify: Any, tmp_path: Path) -> None:
    """--kind patient-breach: a notice missing the art. 34(2) elements is an error."""
    path = write(tmp_path, "mine.fr.j2", GOOD)
    run = notify("templates", "check", "--kind", "patient-breach", str(path))
    assert run.code == 1
    assert f"{path}: error: GDPR art. 34(2): the notice does not give the nature" in run.out


def test_check_a_missing_file_exits_2(notify: Any) -> None:
    """A file that does not exist: a clear message on stderr, exit 2, no traceback."""
    run = notify("templates", "check", "nope.fr.j2")
    assert run.code == 2
    assert "error: template nope.fr.j2: no such file" in run.err
    assert "Traceback" not in run.err
