"""benchmarks/docs_tables.py: tables written between their markers, nothing else touched."""

import sys

import pandas as pd
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import docs_tables  # noqa: E402


def test_a_table_replaces_only_what_lies_between_its_markers(tmp_path):
    docs = tmp_path / "b.md"
    begin, end = docs_tables.markers("t", "x.py")
    other_begin, other_end = docs_tables.markers("u", "x.py")
    docs.write_text(f"intro\n{begin}\nold\n{end}\nmiddle\n{other_begin}\nkept\n{other_end}\n")
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    docs_tables.write_between(docs, "t", "x.py", docs_tables.frame(table))
    assert docs.read_text() == (f"intro\n{begin}\n| a | b |\n|---|---|\n| 1 | x |\n| 2 | y |\n{end}\n"
                                f"middle\n{other_begin}\nkept\n{other_end}\n")


def test_missing_markers_name_the_file_and_the_lines(tmp_path):
    docs = tmp_path / "b.md"
    docs.write_text("no markers\n")
    with pytest.raises(SystemExit, match="b.md: needs exactly one '<!-- t: begin"):
        docs_tables.write_between(docs, "t", "x.py", "body")
    assert docs.read_text() == "no markers\n"


def test_the_commit_is_marked_when_the_measured_code_differs_from_it(tmp_path):
    import subprocess

    def git(*command: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *command], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-qm", "one")
    head = git("rev-parse", "--short", "HEAD")
    assert docs_tables.commit(tmp_path, ("code",)) == head
    (tmp_path / "notes.md").write_text("not code\n")  # outside the measured folders: not a change
    assert docs_tables.commit(tmp_path, ("code",)) == head
    (tmp_path / "code" / "a.py").write_text("x = 2\n")
    assert docs_tables.commit(tmp_path, ("code",)) == head + "+changes"
