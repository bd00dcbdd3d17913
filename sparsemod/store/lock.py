"""One search per results folder: a lock file holding the owner's process id."""

from __future__ import annotations

import os
from pathlib import Path


class FolderLockedError(RuntimeError):
    """Another live process is searching in this folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """``with FolderLock(folder):`` — refused while another live process holds it; a lock
    left by a killed process is taken over."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self) -> "FolderLock":
        while True:
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    owner = int(self.path.read_text().strip() or "0")
                except (OSError, ValueError):
                    owner = 0
                if owner and owner != os.getpid() and _alive(owner):
                    raise FolderLockedError(
                        f"{self.path.parent} is in use by another sparsemod search (pid {owner}); "
                        f"wait for it to finish or stop it (a lock left by a killed run is "
                        f"taken over automatically)") from None
                self.path.unlink(missing_ok=True)  # stale: its owner is gone
                continue
            with os.fdopen(handle, "w") as file:
                file.write(str(os.getpid()))
            return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
