"""``notify templates``: list the message templates; ``notify templates check FILE``: lint one.

Exit codes of ``check``: 0 when the template is clean or has only warnings (printed),
1 when a finding is an error, 2 when the file cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notify.cli.app import app, err, out
from notify.compose import (
    Finding,
    TemplateInfo,
    builtin_templates_dir,
    lint_template,
    load_template,
)
from notify.compose.templates import default_search_dirs, iter_template_names, variables_used
from notify.errors import TemplateError

templates_app = typer.Typer(
    name="templates",
    help="List the message templates and their variables; check a template file.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(templates_app)


def _info(name: str, folder: Path, builtin: Path) -> TemplateInfo:
    """One template's languages and the variables it reads (as list_templates gives)."""
    template_set = load_template(name, search_dirs=[folder])
    used: set[str] = set()
    for template in template_set.templates.values():
        used |= variables_used(template.source)
    parents = {v.split(".", 1)[0] for v in used if "." in v}
    variables = sorted(v for v in used if v not in parents)
    return TemplateInfo(
        name, template_set.languages, variables, folder, folder.resolve() == builtin
    )


def _print_info(info: TemplateInfo, builtin_names: set[str]) -> None:
    where = "built-in" if info.builtin else f"yours, in {info.folder}"
    if not info.builtin and info.name in builtin_names:
        where += ", replaces the built-in one"
    out.print(f"{info.name} ({where})", markup=False)
    out.print(f"  languages: {', '.join(info.languages)}", markup=False)
    out.print(f"  variables: {', '.join(info.variables)}", markup=False)


@templates_app.callback()
def templates(ctx: typer.Context) -> None:
    """List the built-in templates and yours (./templates), their languages and variables."""
    if ctx.invoked_subcommand is not None:
        return
    builtin = builtin_templates_dir().resolve()
    builtin_names = {name for name, _ in iter_template_names([builtin])}
    broken = 0
    for name, folder in iter_template_names(default_search_dirs()):
        try:
            info = _info(name, folder, builtin)
        except TemplateError as exc:
            broken += 1
            err.print(f"error: {name} (in {folder}) cannot be used: {exc.message}", markup=False)
            continue
        _print_info(info, builtin_names)
    out.print(
        "Use one with: notify preview --template NAME ...; check your own file with: "
        "notify templates check FILE",
        markup=False,
    )
    if broken:
        raise typer.Exit(2)


def _where(path: Path, finding: Finding) -> str:
    return f"{path}:{finding.line}" if finding.line else str(path)


@templates_app.command()
def check(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A template file, NAME.LANG.j2.")],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", help="The kind of message (e.g. patient-breach) if the file name differs."
        ),
    ] = None,
) -> None:
    """Check a template: syntax, variables, links or attachments, GDPR elements, length."""
    findings = lint_template(file, kind=kind)
    for finding in findings:
        out.print(f"{_where(file, finding)}: {finding.severity}: {finding.message}", markup=False)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if not findings:
        out.print(f"{file}: no problem found", markup=False)
        return
    out.print(
        f"{file}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}",
        markup=False,
    )
    if errors:
        raise typer.Exit(1)
