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


def test_a_cost_threshold_is_the_reference_point_of_that_cost():
    """Observed networks of 1-3 KB; a pool candidate of 100 KB lies past 1.1 x their log span,
    so without a threshold it adds no hypervolume and ranks below one inside the span. Given
    a 200 KB threshold (by hand: log(200) / log(3) = 4.82 of the span, past the candidate's
    4.19) the reference moves out to it, and the large network's improvement is no longer nil."""
    from sparsemod.optimizer.acquisition import pick

    observed_X = torch.tensor([[0.0], [0.1], [0.2], [0.3]], dtype=torch.double)
    error = torch.tensor([0.5, 0.4, 0.3, 0.2], dtype=torch.double)
    sizes = torch.tensor([[1_000.0], [1_500.0], [2_000.0], [3_000.0]], dtype=torch.double)
    pool_X = torch.tensor([[0.25], [0.9]], dtype=torch.double)
    pool_sizes = torch.tensor([[2_500.0], [100_000.0]], dtype=torch.double)
    assert math.log(100) / math.log(3) > 1.1 and math.log(200) / math.log(3) > math.log(100) / math.log(3)
    costs = (sizes, sizes[:0], pool_sizes)

    def values(thresholds) -> dict[int, float]:
        positions, scores = pick(observed_X, error, pool_X, 2, None, costs, (), 0, thresholds)
        return dict(zip(positions, scores))

    unset, given = values([None]), values([200_000.0])
    assert unset[1] < unset[0]  # past the reference: ranked last
    assert given[1] > unset[1] + 5  # log-values: the improvement went from nil to something
