"""The per-trial progress line shows each metric in a unit a person reads at a glance."""

from sparsemod.progress import describe
from sparsemod.trial.job import TrialJob, TrialResult


def test_progress_line_uses_units_by_magnitude():
    result = TrialResult(TrialJob(6, "6_0", "morph", {}, 1, 0), "completed",
                         metrics={"error": 0.008772, "model_size": 1534.0, "working_memory": 45.0,
                                  "latency": 2.112e-06})
    # by hand: 0.8772 %, 1534 / 1024 = 1.498 KB, 45 B, 2.112 µs
    assert describe(result) == "error=0.877 % model_size=1.5 KB working_memory=45 B latency=2.11 µs"
