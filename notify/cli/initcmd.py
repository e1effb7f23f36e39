"""notify init: write a first notify.toml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from notify import initconfig
from notify.cli.app import app, out, state
from notify.errors import UsageError

_INIT_QUESTIONS: list[tuple[str, str, str, str]] = [
    # (section, key, option name, question)
    ("incident", "kind", "kind", "What happened (mailbox-hijack or data-breach)"),
    ("incident", "compromised_address", "compromised", "Which address was compromised"),
    ("incident", "window_start", "window_start", "Since when (YYYY-MM-DDTHH:MM)"),
    ("incident", "window_end", "window_end", "Until when (YYYY-MM-DDTHH:MM)"),
    ("incident", "aware_at", "aware_at", "When did you become aware of it (YYYY-MM-DDTHH:MM)"),
    ("sender", "address", "sender", "The trusted address to send the warnings from"),
    ("sender", "name", "name", "Your name as it should sign the messages"),
    ("sender", "profession", "profession", "Your profession (e.g. médecin, pharmacien)"),
    ("sender", "phone", "phone", "A phone number your correspondents already know"),
    ("sender", "organization", "organization", "Your practice, lab or clinic"),
    (
        "smtp",
        "provider",
        "provider",
        "The sending account's provider (gmail, outlook, orange, ovh, custom...)",
    ),
]


@app.command()
def init(
    kind: Annotated[str | None, typer.Option(help="mailbox-hijack or data-breach.")] = None,
    compromised: Annotated[str | None, typer.Option(help="The compromised address.")] = None,
    window_start: Annotated[str | None, typer.Option(help="Start of the compromise.")] = None,
    window_end: Annotated[str | None, typer.Option(help="End of the compromise.")] = None,
    aware_at: Annotated[str | None, typer.Option(help="When you became aware of it.")] = None,
    sender: Annotated[str | None, typer.Option(help="The trusted sending address.")] = None,
    name: Annotated[str | None, typer.Option(help="Your name.")] = None,
    profession: Annotated[str | None, typer.Option(help="Your profession.")] = None,
    phone: Annotated[str | None, typer.Option(help="Your known phone number.")] = None,
    organization: Annotated[str | None, typer.Option(help="Your practice.")] = None,
    provider: Annotated[str | None, typer.Option(help="Sending account's provider.")] = None,
    smtp_host: Annotated[str | None, typer.Option(help="SMTP host (provider custom).")] = None,
    smtp_port: Annotated[int | None, typer.Option(help="SMTP port.")] = None,
    security: Annotated[str | None, typer.Option(help="tls, starttls or none.")] = None,
    username: Annotated[str | None, typer.Option(help="SMTP user name.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write notify.toml from a few answers (asked, or given as options); never the password."""
    given = locals()
    interactive = sys.stdin.isatty()
    options = [o for _, _, o, _ in _INIT_QUESTIONS] + ["smtp_host", "smtp_port", "security"]
    if not interactive and all(given[o] is None for o in [*options, "username"]):
        raise UsageError(
            "nothing to write: no option given, and no terminal to ask the questions on",
            hint="Run 'notify init' in a terminal, or give the answers as options "
            "(see 'notify init --help'), e.g. --sender ADDRESS --provider NAME.",
        )
    answers: dict[str, dict[str, object]] = {"incident": {}, "sender": {}, "smtp": {}}
    for section, key, option, question in _INIT_QUESTIONS:
        value = given[option]
        if value is None and interactive:
            value = typer.prompt(question, default="", show_default=False) or None
        if value is not None:
            answers[section][key] = value
    for key, option in (("host", "smtp_host"), ("port", "smtp_port"), ("security", "security")):
        if given[option] is not None:
            answers["smtp"][key] = given[option]
    answers["smtp"]["username"] = username or answers["sender"].get("address", "")
    path = state.config or Path("notify.toml")
    try:
        text = initconfig.render_toml(answers)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"invalid answer: {problems}") from None
    initconfig.write_config(path, text, force=force)
    out.print(f"Wrote {path} (readable by you only).", markup=False)
    out.print(
        "Next: put the password in NOTIFY_SMTP__PASSWORD or .env, then run\n"
        "  notify contacts YOUR-ADDRESS-BOOKS...   to check the recipients\n"
        "  notify preview --template colleague-warning YOUR-ADDRESS-BOOKS...",
        markup=False,
    )
