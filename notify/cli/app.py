"""The Typer application, its consoles, global options and shared helpers.

Each command's module is imported only when that command runs: ``notify send`` does
not pay for the IMAP and report machinery, and ``notify --help`` lists the commands
from :data:`SUMMARIES` without importing any of them. :data:`COMMANDS` says which
module defines which command; :class:`LazyGroup` loads it. The settings and the
progress bar are imported when first used, too.
"""

# ruff: noqa: PLC0415 - imports inside functions: what a command needs, when it runs

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_command_name, get_group_from_info

from notify import __version__

if TYPE_CHECKING:
    from rich.progress import Progress
    from typer import _click as click

    from notify.settings import Settings

#: Every command, in the order ``--help`` lists them, and the module that defines it.
COMMANDS: dict[str, str] = {
    "bounces": "notify.cli.bouncecmd",
    "contacts": "notify.cli.contacts",
    "preview": "notify.cli.contacts",
    "send": "notify.cli.sendcmd",
    "status": "notify.cli.sendcmd",
    "demo": "notify.cli.democmd",
    "init": "notify.cli.initcmd",
    "report": "notify.cli.reportcmd",
    "mark": "notify.cli.reportcmd",
    "templates": "notify.cli.templatecmd",
}

#: The first paragraph of each command's help, as ``notify --help`` shortens it: the
#: listing needs no command module (tests/test_cli_app.py checks that they agree).
SUMMARIES: dict[str, str] = {
    "bounces": "Read bounces, auto-replies and read receipts; fold them into the journal.",
    "contacts": "Import, merge and show the recipients; list every problem with file:line.",
    "preview": "Dry run: write every message to an outbox (.eml, index.html, manifest.json); "
    "send nothing.",
    "send": "Send one message per recipient, record everything, resume where a run stopped.",
    "status": "Counts per state for each campaign, the quota left today, when sending can resume.",
    "demo": "The whole flow on the example contacts, against a mail server of its own on "
    "127.0.0.1.",
    "init": "Write notify.toml from a few answers (asked, or given as options); never the "
    "password.",
    "report": "The incident record (GDPR register, who was informed, timeline, integrity).",
    "mark": "Record a decision, or a notification made by other means (phone, letter).",
    "templates": "List the message templates and their variables; check a template file.",
}


@contextmanager
def _imports_without_collection() -> Iterator[None]:
    """Import with the cyclic garbage collector paused, then freeze what is loaded.

    A command's modules (and the libraries they import) are objects that live as long
    as the process: collecting while they are created, and scanning them again in every
    full collection after, costs ``notify send`` some 50 ms of start-up spent finding no
    garbage. Frozen (:func:`gc.freeze`), they are never scanned again. Nothing is frozen
    when no module was loaded (a second command in the same process, as in the tests).
    """
    loaded = len(sys.modules)
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) != loaded:
            gc.freeze()
        if enabled:
            gc.enable()


class LazyGroup(TyperGroup):
    """The ``notify`` group: lists every command, imports a command's module on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, whether its module is loaded or not."""
        return list(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The ``Commands:`` section of ``--help``, from :data:`SUMMARIES`: as the
        commands themselves would give it, without importing their modules."""
        listing = TyperGroup(
            name=self.name,
            commands=[typer.core.TyperCommand(name, help=SUMMARIES[name]) for name in COMMANDS],
        )
        listing.format_commands(ctx, formatter)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported first; an unknown name loads them all (so
        that the error suggests the right names)."""
        if cmd_name not in self.commands:
            wanted = [COMMANDS[cmd_name]] if cmd_name in COMMANDS else list(COMMANDS.values())
            with _imports_without_collection():
                for module in dict.fromkeys(wanted):
                    importlib.import_module(module)
            self._add_registered()
        return self.commands.get(cmd_name)

    def _add_registered(self) -> None:
        """Build the click commands of what the imported modules registered on ``app``."""
        for info in app.registered_commands:
            if info.callback is None:  # pragma: no cover - Typer requires one
                continue
            name = info.name or get_command_name(info.callback.__name__)
            if name not in self.commands:
                self.commands[name] = get_command_from_info(
                    info,
                    pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=app.rich_markup_mode,
                )
        for group_info in app.registered_groups:
            group = get_group_from_info(
                group_info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                suggest_commands=True,
                rich_markup_mode=app.rich_markup_mode,
            )
            if group.name and group.name not in self.commands:
                self.commands[group.name] = group


app = typer.Typer(
    name="notify",
    cls=LazyGroup,
    help="Warn every correspondent or patient after a mailbox hijack or a data breach.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    config: Path | None = None
    journal: Path = Path("incident.db")


state = State()
T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        out.print(f"notify {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file (default ./notify.toml).")
    ] = None,
    journal: Annotated[Path, typer.Option("--journal", help="Incident journal (SQLite).")] = Path(
        "incident.db"
    ),
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state.config = config
    state.journal = journal


def _settings() -> Settings:
    from notify.settings import load_settings

    return load_settings(state.config)


def _progress(total: int) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=total < 200,
    )
