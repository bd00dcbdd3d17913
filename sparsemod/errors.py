"""How an error reaches a user: on one line (trials.csv's reason column, stderr, a warning)."""

from __future__ import annotations


def one_line(error: BaseException | str, typed: bool = False, limit: int | None = None) -> str:
    """``error``'s message with its line breaks and runs of spaces made single spaces (a
    compiler's or torch's message spans many lines), after its class name when ``typed``,
    cut to ``limit`` characters."""
    text = " ".join(str(error).split())
    if typed and isinstance(error, BaseException):
        text = f"{type(error).__name__}: {text}"
    return text[:limit] if limit is not None else text
