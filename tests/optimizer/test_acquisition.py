"""The cost scale the acquisition scores on, checked by hand."""

import math

import pytest
import torch

from sparsemod.optimizer.acquisition import cost_space


def test_costs_are_scored_on_a_log_scale_between_the_observed_extremes():
    observed = torch.tensor([[1_000.0, 0.5], [300_000.0, 2.0], [10_000.0, 1.0]])
    pool = torch.tensor([[500.0, 4.0]])
    scored_observed, scored_pool = cost_space(observed, pool)
    size = lambda c: (math.log(c) - math.log(1_000)) / (math.log(300_000) - math.log(1_000))  # noqa: E731
    latency = lambda c: (math.log(c) - math.log(0.5)) / (math.log(2.0) - math.log(0.5))  # noqa: E731
    assert scored_observed[:, 0].tolist() == pytest.approx([0.0, 1.0, size(10_000)])
    assert scored_observed[:, 1].tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert scored_pool[0].tolist() == pytest.approx([size(500), latency(4.0)])
    # a 10 KB network sits 40 % of the way from 1 KB to 300 KB, not 3 % as on a linear scale
    assert size(10_000) == pytest.approx(0.4037, abs=1e-4)
