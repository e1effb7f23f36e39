"""The command line loads a command's module only when that command is used.

``notify send`` must not pay for the IMAP and report machinery; ``--help`` must still
list every command, and :data:`notify.cli.app.COMMANDS` must name every command the
modules register, with the module that registers it.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

from typer import Context
from typer.main import get_command
from typer.testing import CliRunner

from notify.cli import app
from notify.cli.app import COMMANDS, SUMMARIES


def _modules_after_running(code: str) -> set[str]:
    """Every module loaded once ``code`` has run (without error) in a fresh interpreter."""
    program = f"{code}\nimport sys\nprint('\\nMODULES', *sys.modules)\n"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.rsplit("\nMODULES", 1)[1].split())


def _loaded_after(*args: str) -> set[str]:
    """The notify.cli modules loaded after running ``notify ARGS`` in a fresh interpreter."""
    code = (
        "from typer.testing import CliRunner\n"
        "from notify.cli import app\n"
        f"result = CliRunner().invoke(app, {list(args)!r})\n"
        "assert result.exit_code == 0, result.output\n"
    )
    return {m for m in _modules_after_running(code) if m.startswith("notify.cli.")}


def test_commands_names_what_each_module_registers() -> None:
    """Importing every module registers exactly the commands of COMMANDS (whatever the
    order of the imports), and the group lists them in the order of COMMANDS."""
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module)
    group = get_command(app)
    assert sorted(group.commands) == sorted(COMMANDS)  # type: ignore[attr-defined]
    assert group.list_commands(Context(group)) == list(COMMANDS)  # type: ignore[attr-defined]
    for name, module in COMMANDS.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        callback = command.callback
        assert callback is not None
        # A sub-application (templates) is registered by its module too.
        defined_in = getattr(callback, "__module__", "")
        assert defined_in == module or name == "templates", (name, defined_in)


def test_send_help_loads_the_send_module_only() -> None:
    """``notify send --help`` loads neither the bounces nor the report commands."""
    loaded = _loaded_after("send", "--help")
    assert "notify.cli.sendcmd" in loaded
    assert "notify.cli.bouncecmd" not in loaded
    assert "notify.cli.reportcmd" not in loaded
    assert "notify.cli.democmd" not in loaded


def test_help_lists_every_command() -> None:
    """The top-level help names every command, in the order of COMMANDS."""
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    commands = result.output.split("Commands:", 1)[1]
    listed = [line.split()[0] for line in commands.strip().splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_an_unknown_command_suggests_the_right_one() -> None:
    """A misspelt command still gets the suggestion, whichever modules are loaded."""
    result = CliRunner().invoke(app, ["sned"])
    assert result.exit_code == 2
    assert "Did you mean 'send'" in result.output


def _modules_after(*args: str) -> set[str]:
    """Every module loaded after running ``notify ARGS`` (exit 0) in a fresh interpreter."""
    code = (
        "import sys\n"
        "from notify.cli import main\n"
        f"sys.argv = ['notify', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    return _modules_after_running(code)


def test_help_imports_no_command_and_no_heavy_library() -> None:
    """``notify --help`` lists the commands without importing their modules, the
    settings, the templates, the mail or the address-book libraries (start-up time)."""
    loaded = _modules_after("--help")
    heavy = {
        "notify.settings", "notify.journal", "notify.compose", "notify.addressbook",
        "pydantic", "pydantic_settings", "jinja2", "email_validator", "aiosmtplib",
        "rich.progress",
    }  # fmt: skip
    assert not loaded & (heavy | set(COMMANDS.values()))


def test_the_summaries_are_the_commands_own_help() -> None:
    """SUMMARIES, which ``--help`` lists, is each command's first help paragraph: the
    listing is the one the loaded commands would give, at any width."""
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module)
    group = get_command(app)
    for name, summary in SUMMARIES.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        first = (command.help or "").split("\n\n", 1)[0]
        assert " ".join(first.split()) == summary, name
        assert (command.short_help, command.deprecated, command.hidden) == (None, False, False)
    assert list(SUMMARIES) == list(COMMANDS)


def test_a_csv_send_does_not_import_the_other_readers() -> None:
    """Importing the send command loads neither the preview writer nor the readers of
    vCards and Sent folders: each is imported when a command needs it."""
    loaded = _modules_after_running("import notify.cli.sendcmd")
    assert not loaded & {
        "notify.preview", "notify.addressbook.vcards", "notify.addressbook.sentfolder",
        "notify.addressbook.csvbooks", "rich.progress",
    }  # fmt: skip
