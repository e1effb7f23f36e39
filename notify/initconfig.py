"""Writing a first ``notify.toml`` from a few answers (``notify init``).

The password is never written: it belongs in ``NOTIFY_SMTP__PASSWORD``, a ``.env``
file, or a ``password_command``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from notify.errors import UsageError
from notify.settings import Settings

_HEADER = """\
# notify settings for one incident. Written by 'notify init'; edit freely.
# The password is NOT stored here: set NOTIFY_SMTP__PASSWORD (or put it in .env),
# or set smtp.password_command to a command that prints it (e.g. "pass show mail/secours").
"""

Answers = Mapping[str, Mapping[str, object]]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


def render_toml(answers: Answers) -> str:
    """TOML text for the given sections; validated against the settings schema first."""
    Settings.model_validate({k: dict(v) for k, v in answers.items()})
    lines = [_HEADER]
    for section, values in answers.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_value(v)}" for key, v in values.items() if v not in (None, ""))
        lines.append("")
    return "\n".join(lines)


def write_config(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` to ``path`` owner-only; refuse to overwrite unless ``force``."""
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="Pass --force to replace it, or --config another path."
        )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    path.chmod(0o600)
