"""`notify init`: writes notify.toml from options, owner-only, never a password."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sendhelpers import InProcess

from notify.settings import load_settings

FLAGS = [
    "init",
    "--kind",
    "mailbox-hijack",
    "--compromised",
    "dr.martin@exemple.fr",
    "--sender",
    "secours.martin@exemple.org",
    "--name",
    "Dr Claire Martin",
    "--profession",
    "médecin",
    "--provider",
    "custom",
    "--smtp-host",
    "smtp.exemple.org",
    "--smtp-port",
    "587",
    "--security",
    "starttls",
]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """notify's CLI run in this process: ``cli(folder, "status")`` -> Run."""
    return InProcess(monkeypatch, capsys)


def test_init_with_options_writes_a_private_file_that_loads(tmp_path: Path, cli: InProcess) -> None:
    """The options become notify.toml (0600, no password) that load_settings reads."""
    run = cli(tmp_path, *FLAGS, env={"NOTIFY_SMTP__PASSWORD": "hunter2-secret"})
    assert run.code == 0, run.text
    path = tmp_path / "notify.toml"
    assert run.out.startswith("Wrote notify.toml (readable by you only).\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert "hunter2-secret" not in text
    assert not [ln for ln in text.splitlines() if ln.strip().startswith("password")]
    settings = load_settings(path)
    assert settings.sender.address == "secours.martin@exemple.org"
    assert settings.sender.profession == "médecin"
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == (
        "smtp.exemple.org",
        587,
        "starttls",
    )
    assert settings.smtp.username == "secours.martin@exemple.org"
    assert settings.smtp.password is None


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, cli: InProcess) -> None:
    """A second init: exit 2 and the file untouched; with --force it is replaced."""
    assert cli(tmp_path, *FLAGS).code == 0
    path = tmp_path / "notify.toml"
    path.write_text("# mine\n", encoding="utf-8")
    again = cli(tmp_path, *FLAGS)
    assert again.code == 2, again.text
    assert again.err.splitlines() == [
        "error: notify.toml already exists",
        "Pass --force to replace it, or --config another path.",
    ]
    assert path.read_text(encoding="utf-8") == "# mine\n"
    forced = cli(tmp_path, *FLAGS, "--force")
    assert forced.code == 0, forced.text
    assert load_settings(path).sender.name == "Dr Claire Martin"


def test_init_without_a_terminal_and_without_options_fails_clearly(
    tmp_path: Path, cli: InProcess
) -> None:
    """No TTY, no option: it does not wait for answers; exit 2, no file written."""
    run = cli(tmp_path, "init", timeout=30)
    assert run.code == 2, run.text
    assert run.err.splitlines()[0] == (
        "error: nothing to write: no option given, and no terminal to ask the questions on"
    )
    assert not (tmp_path / "notify.toml").exists()


def test_init_without_a_terminal_writes_only_what_was_given(tmp_path: Path, cli: InProcess) -> None:
    """No TTY, some options: only those are written; nothing is asked."""
    run = cli(tmp_path, "init", "--sender", "secours.martin@exemple.org", timeout=30)
    assert run.code == 0, run.text
    settings = load_settings(tmp_path / "notify.toml")
    assert settings.sender.address == "secours.martin@exemple.org"
    assert settings.sender.name == ""
    assert settings.incident.compromised_address == ""


@pytest.mark.parametrize("bad", [["--kind", "volcano"], ["--security", "plaintext"]])
def test_init_rejects_an_invalid_answer(tmp_path: Path, bad: list[str], cli: InProcess) -> None:
    """An answer the settings refuse: exit 2 naming the key, no file written."""
    run = cli(tmp_path, "init", "--sender", "a@exemple.org", *bad)
    assert run.code == 2, run.text
    assert run.err.startswith("error: invalid answer: ")
    assert not (tmp_path / "notify.toml").exists()
