"""Writing a report file owner-only: it holds personal and health-related data."""

from __future__ import annotations

import os
from pathlib import Path

from notify.errors import InputError
from notify.journal.db import make_private_folders


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (new folders 0700), replacing it.

    An existing file is made 0600 before it is truncated. A symbolic link is refused,
    never followed (one planted in a shared folder would redirect the write).
    Raises :class:`InputError` naming the file when it cannot be written.
    """
    try:
        if path.is_symlink():
            raise InputError(
                "is a symbolic link: not followed",
                path=path,
                hint="Pass --out with the name of a regular file.",
            )
        if path.is_dir():
            raise InputError("is a folder", path=path, hint="Pass --out with a file name.")
        make_private_folders(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputError(
            f"cannot be written: {exc.strerror or exc}",
            path=path,
            hint="Pass --out with a path in a folder you may write to.",
        ) from None
