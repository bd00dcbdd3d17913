"""One search per results folder: an OS file lock (``filelock``) on ``{folder}/.lock``.

The kernel releases the lock when its process ends, however it ends (a SIGKILL, the OOM
killer), so a killed search never leaves a lock behind and ``--resume`` needs no clean-up;
the file also holds the owner's process id, for the message to whoever is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from sparsemod.errors import FolderLockedError


class FolderLock:
    """``with FolderLock(folder):`` — refused at once while another process holds it."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"
        self.lock = FileLock(self.path, timeout=0, is_singleton=False, on_acquired=self._sign)

    @staticmethod
    def _sign(descriptor: int) -> None:
        """The owner's pid, for the message to a search refused, written through the lock's
        own descriptor once it is held."""
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)

    def __enter__(self) -> "FolderLock":
        try:
            owner = self.path.read_text().strip()
        except OSError:
            owner = ""
        try:
            self.lock.acquire()
        except Timeout:
            raise FolderLockedError(
                f"{self.path.parent} is in use by another sparsemod search"
                f"{f' (pid {owner})' if owner.isdigit() else ''}; wait for it to finish or stop it "
                "(a killed search holds no lock)") from None
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)  # a finished search leaves its folder as it found it
        self.lock.release()
