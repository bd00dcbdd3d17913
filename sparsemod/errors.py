"""How an error reaches a user: every error a user can cause or meet, each worded for them
on one line (``main.py`` prints it and exits 2), and :func:`one_line` for the rest (trials.csv's
reason column, a warning).  Standard library only: a bad config fails before torch loads."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config.ini problem, worded for the user (one line, no traceback)."""

class ProblemError(ValueError):
    """The example file is missing or lacks a required piece."""

class DataError(ValueError):
    """Data files missing or malformed; the message names the path and the expected files."""

class ProfileError(ValueError):
    """A device profile file that cannot be used (one line, for the user)."""

class InfeasibleSpace(RuntimeError):
    """No point of the search space fits the budget (one line for the user)."""

class FolderLockedError(RuntimeError):
    """Another live process is searching in this folder."""

class ResultsExistError(FileExistsError):
    """The folder already holds a search: it is never silently replaced."""

class ResultsMissingError(FileNotFoundError):
    """``--resume`` on a folder that holds no search."""

class ResultsDamagedError(ValueError):
    """``--resume`` on a results file that cannot be repaired (one line, names the file)."""

class SnapshotError(ValueError):
    """experiment.json cannot be read back as an Ax experiment (one line, names the file)."""

class WorkerSetupError(RuntimeError):
    """A trial worker could not load what the search loaded at its start (one line)."""

class SearchStopped(RuntimeError):
    """The search cannot go on (one line for the user); time.txt records it."""


def one_line(error: BaseException | str, typed: bool = False, limit: int | None = None) -> str:
    """``error``'s message with its line breaks and runs of spaces made single spaces (a
    compiler's or torch's message spans many lines), after its class name when ``typed``,
    cut to ``limit`` characters."""
    text = " ".join(str(error).split())
    if typed and isinstance(error, BaseException):
        text = f"{type(error).__name__}: {text}"
    return text[:limit] if limit is not None else text
