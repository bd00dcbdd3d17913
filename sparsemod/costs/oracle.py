"""Costs of a candidate before it trains: the same functions a trial measures with, on the
built, untrained network (DESIGN.md: size, working memory, FLOPs and the latency model
follow from the architecture and the quantization scheme, not from trained weights).

Two levels, because the exact one costs a conversion:

- :meth:`CostOracle.bounds` (build + one float forward pass, a few ms): lower bounds that
  never exceed the exact costs (int8 weights ≥ 1 B each, batch norm folded away; every
  conv / linear / pooling op holds its input and output at once, ≥ 1 B per element), so a
  candidate whose bound breaks a ``<=`` budget is over budget for sure;
- :meth:`CostOracle.exact` (the trial's own untrained int8 conversion, calibrated on the
  example input, and its ``cost_metrics``): with pruning off, the costs the trial measures.

Exact costs are cached by the network's structure (its module tree and traced graph, with
dropout rates and other training-only values left out), so candidates that differ in their
learning rate share one conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import fx, nn

from sparsemod.config import Constraint
from sparsemod.costs.latency import Device
from sparsemod.costs.profile import DeviceProfile
from sparsemod.data import DataBundle
from sparsemod.errors import one_line
from sparsemod.problem import Problem

COSTS = ("model_size", "working_memory", "latency", "arena")
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase, nn.Embedding)
_HOLDS_IN_AND_OUT = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.pooling._MaxPoolNd,
                     nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd)
_TRAINING_ONLY = re.compile(r"\bp=[-+0-9.e]+|inplace=\w+")


@dataclass(frozen=True)
class Bounds:
    """Lower bounds on a candidate's costs."""

    model_size: float
    working_memory: float
    flops: float  # of the float convs and linears (MAC = 2 FLOPs): what the latency model grows with

    def breaks(self, budget: Sequence[Constraint]) -> list[str]:
        """The ``<=`` constraints these bounds already break (the exact costs break them too)."""
        # TFLM's arena holds every op's input and output at once too
        values = {"model_size": self.model_size, "working_memory": self.working_memory,
                  "arena": self.working_memory}
        return [f"{c.metric} >= {values[c.metric]:g} > {c.bound:g}" for c in budget
                if c.op == "<=" and c.metric in values and values[c.metric] > c.bound]


@dataclass(frozen=True)
class Verdict:
    """A candidate judged before training: its exact costs (None when it cannot be built or
    converted), and why it may not train (empty: it fits)."""

    costs: dict[str, float] | None
    violations: tuple[str, ...] = ()
    reason: str = ""  # why no costs: the build, run or conversion failed

    @property
    def fits(self) -> bool:
        return self.costs is not None and not self.violations


def cost_violations(costs: dict[str, float], budget: Sequence[Constraint]) -> tuple[str, ...]:
    """The constraints on cost metrics that ``costs`` break, one phrase each."""
    return tuple(f"{c.metric} {costs[c.metric]:g} breaks {c}" for c in budget
                 if c.metric in costs and not c.satisfied(costs[c.metric]))


@dataclass
class CostOracle:
    """Exact pre-training costs of the candidates of one search (see module docstring)."""

    problem: Problem
    data: DataBundle
    quant_scheme: str
    device: Device | DeviceProfile
    splitter: bool = False
    budget: tuple[Constraint, ...] = ()  # the constraints on cost metrics
    _exact: dict[str, Verdict] = field(default_factory=dict, repr=False)
    exact_evaluations: int = 0  # conversions made (cache misses)
    last_failure: str = ""  # why the last candidate that could not be built or run failed

    def _build(self, params: dict) -> tuple[nn.Module, tuple[int, ...]]:
        data = self.data
        if self.problem.prepare is not None:
            data = self.problem.prepare(data, dict(params), self.splitter)
        torch.manual_seed(0)  # costs do not depend on the initial weights
        return self.problem.build(dict(params), data.input_shape, data.num_classes), data.input_shape

    def bounds(self, params: dict) -> Bounds | None:
        """Lower bounds (module docstring); None when the network cannot be built or run."""
        try:
            model, input_shape = self._build(params)
            weights = sum(p.numel() for m in model.modules() if isinstance(m, _WEIGHTED)
                          for name, p in m.named_parameters(recurse=False) if name.startswith("weight"))
            peak, macs = [0], [0]

            def hold(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
                if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
                    peak[0] = max(peak[0], inputs[0].numel() + output.numel())
                    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
                        macs[0] += output.numel() * module.weight[0].numel()

            hooks = [m.register_forward_hook(hold) for m in model.modules() if isinstance(m, _HOLDS_IN_AND_OUT)]
            with torch.no_grad():
                model.eval()(torch.zeros(1, *input_shape))
            for hook in hooks:
                hook.remove()
            return Bounds(float(weights), float(peak[0]), 2.0 * macs[0])
        except Exception as error:  # the builder's or the forward pass's own words
            self.last_failure = one_line(error, typed=True, limit=300)
            return None

    def exact(self, params: dict) -> Verdict:
        """Exact costs by the trial's own code (:func:`sparsemod.trial.run.pre_training_costs`)."""
        from sparsemod.trial.checks import pre_training_costs

        try:
            model, input_shape = self._build(params)
            structure = _structure(model, input_shape)
            if structure in self._exact:
                return self._exact[structure]
            self.exact_evaluations += 1
            costs = pre_training_costs(model, input_shape, self.quant_scheme, self.device)
            verdict = Verdict(costs, cost_violations(costs, self.budget))
        except Exception as error:
            return Verdict(None, reason=one_line(error, typed=True, limit=300))
        self._exact[structure] = verdict
        return verdict


def _structure(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """What the costs depend on: the module tree and the traced graph at this input shape,
    without the training-only values (dropout rates)."""
    return _TRAINING_ONLY.sub("", repr(model)) + fx.symbolic_trace(model).code + repr(tuple(input_shape))
