"""A network that cannot run, be traced and quantized, or fit the budget fails before it
trains (the search's own costing and the worker's guard run the same checks)."""

from __future__ import annotations

import torch
from torch import nn

from sparsemod import costs
from sparsemod.config import Constraint
from sparsemod.errors import one_line
from sparsemod.quantize import quantize
from sparsemod.trial.measure import cost_metrics


def check_runs(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Dummy batch-1 forward pass before any training: returns the example input."""
    example = torch.zeros(1, *input_shape)
    model.eval()
    with torch.no_grad():
        try:
            model(example)
        except RuntimeError as error:
            raise RuntimeError(f"the network cannot run on input {tuple(input_shape)}: "
                               f"{one_line(error)}") from None
    return example


def check_quantizable(model: nn.Module, example: torch.Tensor, scheme: str) -> nn.Module:
    """Trace and quantize the untrained network once, so that a network that cannot be
    traced (Python control flow on tensor values) fails before its training is paid for.
    Returns the conversion (calibrated on ``example`` only, for its costs, which are exact;
    its scales are not the deployed network's)."""
    tracer = "torch.export" if scheme == "post" else "torch.fx"
    try:
        return quantize(model, scheme, [example], example, costs_only=True)
    except Exception as error:  # export / fx raise many types: each names the cause
        raise RuntimeError(f"the network cannot be traced by {tracer} and quantized ({scheme}), "
                           "needed to deploy it; no Python control flow on tensor values: "
                           f"{type(error).__name__}: {one_line(error)}") from None


def check_budget(costs_now: dict[str, float], budget: tuple[Constraint, ...]) -> None:
    """The worker's guard: a network over a hard cost constraint is refused before it trains
    (the search never proposes one; a stale or hand-edited experiment could).  Pruning only
    removes channels, so the costs before training bound those after it."""
    from sparsemod.costs.oracle import cost_violations

    broken = cost_violations(costs_now, budget)
    if broken:
        raise ValueError(f"over budget before training ({'; '.join(broken)}); not trained")


def pre_training_costs(model: nn.Module, input_shape: tuple[int, ...], scheme: str,
                       device: costs.Device | costs.DeviceProfile) -> dict[str, float]:
    """The costs a trial measures, of the untrained network as it would deploy: the same
    shape check, conversion and cost functions as :func:`run_trial` (with pruning off, equal
    to the completed trial's)."""
    example = check_runs(model, input_shape)
    return cost_metrics(model, check_quantizable(model, example, scheme), example, device)[0]
