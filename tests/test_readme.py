"""The README cannot drift: every command it shows exists, with the options it uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notify.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands() -> list[list[str]]:
    """Each ``notify ...`` line of the README's shell blocks, as words."""
    text = README.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for raw in block.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("notify "):
                found.append(shlex.split(line)[1:])
    return found


COMMANDS = _commands()


def test_the_readme_shows_the_main_commands() -> None:
    """The walk-through covers the whole flow."""
    names = {words[0] for words in COMMANDS}
    assert {"init", "contacts", "preview", "send", "status", "bounces", "mark", "report"} <= names


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w) for w in COMMANDS])
def test_command_and_its_options_exist(words: list[str]) -> None:
    """`notify COMMAND --help` works and lists every option the README passes."""
    result = CliRunner().invoke(app, [words[0], "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in (w.split("=", 1)[0] for w in words[1:] if w.startswith("--")):
        assert option in result.output, f"{option} not in 'notify {words[0]} --help'"
