"""experiment.json through Ax's public API: made, saved and loaded by sparsemod, read by Ax."""

from __future__ import annotations

import re

from ax.api.client import Client
from conftest import REPO

from sparsemod.config import load_config
from sparsemod.optimizer.record import load_record, new_record, save_record
from sparsemod.problem import load_problem

AX_PRIVATE = re.compile(r"\.(_experiment|_generation_strategy|_to_json_snapshot|_properties|_random_seed)\b")


def test_sparsemod_reads_no_private_attribute_of_ax():
    found = [f"{path.relative_to(REPO)}:{number}" for path in sorted((REPO / "sparsemod").rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if AX_PRIVATE.search(line)]
    assert found == []


def test_a_saved_record_loads_as_it_was_and_with_ax_alone(tmp_path, config_file):
    settings = load_config(config_file()).search
    problem = load_problem("cnn")
    record = new_record(settings, problem, {"[TRAIN] seed": "0"})
    params = {p.name: (p.values[0] if hasattr(p, "values") else p.low) for p in problem.space}
    done, failed = (record.client.attach_trial(parameters=params) for _ in range(2))
    record.client.complete_trial(done, raw_data={"error": 0.25, "model_size": 900.0, "working_memory": 300.0,
                                                 "latency": 1e-5})
    record.client.mark_trial_failed(failed, failed_reason="too big")
    path = tmp_path / "experiment.json"
    save_record(record, path)

    loaded = load_record(path)
    assert loaded.settings == {"[TRAIN] seed": "0"}
    assert [t.status.name for t in loaded.trials.values()] == ["COMPLETED", "FAILED"]
    assert loaded.trials[0].arm.parameters == params
    summary = Client.load_from_json_file(str(path)).summarize()
    assert list(summary["trial_status"]) == ["COMPLETED", "FAILED"]
    assert summary.loc[0, "error"] == 0.25
