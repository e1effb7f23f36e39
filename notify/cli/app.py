"""The Typer application, its consoles, global options and shared helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from notify import __version__
from notify.settings import Settings, load_settings

app = typer.Typer(
    name="notify",
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
    return load_settings(state.config)


def _progress(total: int) -> Progress:
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
