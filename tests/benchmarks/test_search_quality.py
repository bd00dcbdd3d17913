"""benchmarks/search_quality.py: sparsemod's rounds for a trial budget, the label of a run with
another Sobol start, and `--from` keeping such runs beside the default ones."""

import sys

import pandas as pd
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import search_quality  # noqa: E402


def test_rounds_spend_the_whole_budget_with_either_start():
    # a quarter of 40: 10 Sobol + 8 GP rounds of 2 + 7 morphism rounds of 2 = 40
    assert search_quality.rounds(40) == (10, 8, 7)
    # a start of 6: 6 + 9 * 2 + 8 * 2 = 40
    assert search_quality.rounds(40, 6) == (6, 9, 8)


def test_a_run_with_another_start_is_labelled_with_it_and_read_as_its_method():
    assert search_quality.labelled("sparsemod-ref", 6) == "sparsemod-ref-start6"
    assert search_quality.labelled("sparsemod-ref", None) == "sparsemod-ref"
    assert search_quality.labelled("optuna-gp", 4) == "optuna-gp-start4"
    assert search_quality.labelled("random", 6) == "random"  # all Sobol: no start of its own
    assert search_quality.method_of("sparsemod-ref-start6") == "sparsemod-ref"
    assert search_quality.method_of("sparsemod-es-moasha") == "sparsemod-es-moasha"


def test_from_keeps_the_runs_named_by_method_or_label(tmp_path, monkeypatch):
    trial = {"status": "completed", "error": 0.1, "model_size": 1024.0, "working_memory": 2048.0,
             "total_seconds": 5.0, "cpu_seconds": 5.0, "epochs_trained": 2}
    for label in ("sparsemod-ref", "sparsemod-ref-start6", "random", "optuna-gp"):
        pd.DataFrame([trial] * 10).to_csv(tmp_path / f"{label}_seed0.csv", index=False)
    published: list = []
    monkeypatch.setattr(search_quality, "publish", lambda tables, args: published.append(sorted(tables)))
    search_quality.main(["--from", str(tmp_path), "--methods", "sparsemod-ref", "random"])
    search_quality.main(["--from", str(tmp_path), "--methods", "sparsemod-ref-start6", "random"])
    search_quality.main(["--from", str(tmp_path)])
    assert published == [[("random", 0), ("sparsemod-ref", 0)],  # a default-only table stays one
                         [("random", 0), ("sparsemod-ref-start6", 0)],
                         [("optuna-gp", 0), ("random", 0), ("sparsemod-ref", 0), ("sparsemod-ref-start6", 0)]]


@pytest.mark.parametrize("argv", [
    ["--start", "5"],  # 35 left: a round of 2 would lose a trial
    ["--start", "0"], ["--start", "40"],
    ["--start", "4", "--methods", "sparsemod-ref", "random"],  # random has no start: its default table would be overwritten
    ["--methods", "sparsemod-ref-start4"],  # a run's start is --start
])
def test_a_start_that_cannot_be_run_exits_2_before_running(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        search_quality.main(argv)
    assert stop.value.code == 2 and "--" in capsys.readouterr().err
