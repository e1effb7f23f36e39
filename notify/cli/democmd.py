"""notify demo: the whole flow on the example contacts, against a local server."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from notify import demo as demo_data
from notify.cli.app import app, err, out
from notify.cli.contacts import _composer, run_preview
from notify.cli.options import import_contacts
from notify.cli.sendcmd import graceful_stop, run_send, show_status
from notify.deliver import account_from_settings
from notify.localserver import LocalServer
from notify.views import print_import_summary


def _work_dir(given: Path | None) -> Path:
    if given is None:
        return Path(tempfile.mkdtemp(prefix="notify-demo-"))  # created 0700
    given.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(given.iterdir()):
        raise typer.BadParameter(f"{given} is not empty", param_hint="--dir")
    return given


@app.command()
def demo(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="An empty folder for the demo's files.")
    ] = None,
) -> None:
    """The whole flow on the example contacts, against a mail server of its own on 127.0.0.1."""
    work = _work_dir(directory)
    out.print(
        f"notify demo: Dr Claire Martin's mailbox was hijacked. Files in {work}", markup=False
    )
    with graceful_stop():
        code, received = _run_demo(work)
    journal = work / "incident.db"
    out.print(
        f"\nThe server received {received} messages. Look at:\n"
        f"  {work / 'outbox' / 'index.html'}\n      the preview, in a browser\n"
        f"  {work / 'received'}\n      the messages as delivered (Maildir)\n"
        f"  {journal}\n      the incident journal (notify --journal {journal} status)",
        markup=False,
    )
    if code:
        err.print("some recipients could not be reached: see the status above", markup=False)
    raise typer.Exit(code)


def _run_demo(work: Path) -> tuple[int, int]:
    """Import, preview, send to a local server, show the status: (exit code, received)."""
    template = demo_data.TEMPLATE
    journal = work / "incident.db"
    with LocalServer(work / "received") as server:
        settings = demo_data.demo_settings(server.port)
        out.print(f"Local mail server on 127.0.0.1:{server.port} (nothing leaves this machine)")
        out.print("\n1. Reading the address books", markup=False)
        result = import_contacts(settings, demo_data.example_sources())
        print_import_summary(out, result)
        composer = _composer(settings, template)
        out.print("\n2. Preview (dry run)", markup=False)
        run_preview(settings, composer, result, template, work / "outbox")
        out.print("\n3. Sending", markup=False)
        account = account_from_settings(settings.smtp)
        code = run_send(
            settings, composer, account, result, template, journal, yes=True, limit=None
        )
        received = len(server.received)
    out.print("\n4. Status", markup=False)
    show_status(settings, journal)
    return code, received
