"""Benchmarks write their own tables into docs/benchmarks.md, between a pair of markers,
naming the commit their figures come from."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd

from sparsemod.store.results import atomic_write_text


def markers(name: str, script: str) -> tuple[str, str]:
    """The comment lines that enclose table ``name`` written by ``script``."""
    return f"<!-- {name}: begin (written by benchmarks/{script}) -->", f"<!-- {name}: end -->"


def write_between(docs: Path, name: str, script: str, body: str) -> None:
    """Replace what lies between table ``name``'s markers in ``docs`` by ``body``."""
    begin, end = markers(name, script)
    text = docs.read_text()
    if text.count(begin) != 1 or text.count(end) != 1:
        raise SystemExit(f"{docs}: needs exactly one '{begin}' and one '{end}' line")
    head, rest = text.split(begin)
    tail = rest.split(end)[1]
    atomic_write_text(docs, f"{head}{begin}\n{body}\n{end}{tail}")


def frame(table: pd.DataFrame) -> str:
    """``table`` as a Markdown table (pandas' own needs tabulate, which the stack lacks)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def commit(repo: Path, code: tuple[str, ...]) -> str:
    """HEAD's short hash, with ``+changes`` when the folders ``code`` differ from it (the
    benchmarks' own results, which a run writes, are not code)."""
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=repo, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", *code, ":(exclude)benchmarks/results")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")
