"""Morphism rounds in a real search: Pareto parents, GP-picked children, inherited weights."""

import pandas as pd
from conftest import write_config

from sparsemod.cli import main
from sparsemod.optimizer.record import load_record


def test_morph_rounds_attach_children_of_pareto_parents(tmp_path):
    config = write_config(tmp_path, train={"r1": "4", "r2": "1", "r3": "2", "morphisms": "true",
                                           "epochs1": "3", "epochs2": "3", "epochs3": "2",
                                           "candidates": "8"})
    assert main(["--config", str(config)]) == 0
    results = tmp_path / "results" / "run"
    trials = pd.read_csv(results / "trials.csv")
    morph = trials[trials["phase"] == "morph"]
    assert len(morph) == 4 and list(trials["phase"]).count("gp") == 2
    assert morph["parent"].notna().all() and morph["operators"].notna().all()
    by_arm = trials.set_index("arm")
    for _, row in morph.iterrows():  # a parent is an earlier completed trial (a morph child too)
        assert by_arm.loc[row["parent"], "index"] < row["index"]
        assert by_arm.loc[row["parent"], "status"] == "completed"
    experiment = load_record(results / "experiment.json").experiment
    for _, row in morph.iterrows():
        metadata = experiment.trials[row["index"]].run_metadata
        assert metadata["phase"] == "morph" and metadata["parent"] == row["parent"]
        assert experiment.trials[row["index"]].status.is_completed or row["status"] == "failed"
        assert "unscored" not in metadata
    # every child was picked by the acquisition function, none in draw order
    assert "morph scoring: 4 of 4 children ranked by the acquisition function\n" in (results / "time.txt").read_text()


def test_children_taken_in_draw_order_are_recorded(tmp_path, monkeypatch, capsys):
    def unscorable(*args, **kwargs):
        raise RuntimeError("no model to score with")

    monkeypatch.setattr("sparsemod.optimizer.proposer.pick", unscorable)
    config = write_config(tmp_path, train={"r1": "2", "r2": "0", "r3": "1", "batch_size": "1",
                                           "morphisms": "true"})
    assert main(["--config", str(config)]) == 0
    assert "warning: morph candidates not scored (RuntimeError: no model to score with)" in capsys.readouterr().out
    results = tmp_path / "results" / "run"
    assert ("morph scoring: 0 of 1 children ranked by the acquisition function; 1 in draw order "
            "(RuntimeError: no model to score with)") in (results / "time.txt").read_text()
    morph = [t for t in load_record(results / "experiment.json").experiment.trials.values()
             if t.run_metadata["phase"] == "morph"]
    assert [t.run_metadata["unscored"] for t in morph] == ["RuntimeError: no model to score with"]


def test_examples_without_morphisms_skip_the_rounds_with_a_warning(tmp_path, capsys):
    config = write_config(tmp_path, train={"example": "sequence", "dataset": "synthetic", "r1": "2",
                                           "r2": "0", "r3": "2", "morphisms": "true"})
    assert main(["--config", str(config)]) == 0
    assert "defines no MORPHISMS: the r3 = 2 morphism rounds are skipped" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "results" / "run" / "trials.csv")) == 2


def test_morphisms_false_skips_them(tmp_path):
    config = write_config(tmp_path, train={"r1": "2", "r2": "0", "r3": "2", "morphisms": "false"})
    assert main(["--config", str(config)]) == 0
    assert "morph" not in set(pd.read_csv(tmp_path / "results" / "run" / "trials.csv")["phase"])


def test_a_round_without_new_children_stops_the_phase_with_its_reason(tmp_path, capsys):
    # a space where every morphism is at its bound: no child can be drawn
    example = tmp_path / "fixed.py"
    example.write_text('''
from torch import nn
from sparsemod.data import load_digits
from sparsemod.morphisms import deepen
from sparsemod.space import Int

SPACE = [Int("width", 4, 5)]
MORPHISMS = [deepen("width", high=1)]

def build(params, input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, params["width"]), nn.ReLU(),
                         nn.Linear(params["width"], num_classes))

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
''')
    config = write_config(tmp_path, train={"example": str(example), "r1": "2", "r2": "0", "r3": "2",
                                           "morphisms": "true"})
    assert main(["--config", str(config)]) == 0
    assert "stopping the morph phase early: no new child" in capsys.readouterr().out
    assert "stopped early: no new child" in (tmp_path / "results" / "run" / "time.txt").read_text()


def test_children_scores_depend_on_the_seed_not_on_the_process_history(tmp_path, monkeypatch):
    """The acquisition function's MC samples come from torch's global generator (seeded at
    random when a process starts); two searches with one seed, started from different states
    of it, score the same children the same."""
    import torch

    from sparsemod.optimizer import proposer

    scores = []
    real = proposer.pick

    def recording(*args, **kwargs):
        picked = real(*args, **kwargs)
        scores[-1].append(picked)
        return picked

    monkeypatch.setattr(proposer, "pick", recording)
    for history in (1, 2):
        torch.manual_seed(history)
        scores.append([])
        folder = tmp_path / str(history)
        folder.mkdir()
        config = write_config(folder, train={"r1": "3", "r2": "0", "r3": "1", "batch_size": "1",
                                             "morphisms": "true", "epochs1": "1", "epochs3": "1"})
        assert main(["--config", str(config)]) == 0
    assert scores[0] and scores[0] == scores[1]
