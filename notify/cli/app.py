"""The Typer application, its consoles, global options and shared helpers."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

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
from notify.errors import UsageError
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


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("nothing was sent: confirmation needed", hint="Pass --yes to send.")
    if not typer.confirm(question, default=False):
        raise typer.Exit(0)


def _run_cancellable(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; SIGINT or SIGTERM cancels it (the engine finishes what is in flight)."""

    async def runner() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio.run always runs a task
            raise RuntimeError("no current task")
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await coro
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(runner())
    except asyncio.CancelledError:
        err.print(
            "stopped: the messages in flight were finished and recorded. "
            "Run the same command again to resume.",
            markup=False,
        )
        raise typer.Exit(130) from None
