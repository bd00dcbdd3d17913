"""pareto.png: readable units, and log axes where a metric spans more than a decade."""

import pandas as pd

from sparsemod.report.plot import pareto_figure


def test_log_axes_and_units_follow_the_data():
    trials = pd.DataFrame({"arm": ["0_0", "1_0", "2_0"], "status": ["completed"] * 3,
                           "error": [0.05, 0.1, 0.3], "model_size": [300.0, 3000.0, 40000.0],
                           "working_memory": [200.0, 400.0, 900.0]})
    figure = pareto_figure(trials, trials, ["error", "model_size", "working_memory"])
    panels = {(a.get_xlabel(), a.get_ylabel()): a for a in figure.axes}
    assert set(panels) == {("error (%)", "model size (KB)"), ("error (%)", "working memory (B)"),
                           ("model size (KB)", "working memory (B)")}
    size = panels[("error (%)", "model size (KB)")]
    assert size.get_xscale() == "linear" and size.get_yscale() == "log"  # 300 B .. 40000 B
    memory = panels[("model size (KB)", "working memory (B)")]
    assert memory.get_xscale() == "log" and memory.get_yscale() == "linear"  # 200 .. 900 B
    # the points are drawn in the axis' unit
    assert list(size.collections[0].get_offsets()[:, 1]) == [300 / 1024, 3000 / 1024, 40000 / 1024]
