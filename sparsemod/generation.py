"""Ax's generation strategy for a search: Sobol for ``r1`` trials, then BoTorch, tuned so that
the optimizer costs about a second per trial instead of tens (``benchmarks/overhead.py``).

Where Ax's defaults spent the time, and what changed (all through Ax's ``GeneratorSpec``):

- **GP fit** (~7 s at 40 trials): L-BFGS-B on the marginal log likelihood ran to full
  convergence (thousands of steps) on every refit.  :class:`CappedFitGP` stops it after
  ``FIT_MAXITER`` steps from Ax's default initialization; the log likelihood it reaches is
  within a few tenths of a nat of the converged one on the benchmark's data.
- **acquisition set-up** (~2.5 s per arm): qLogNEHVI partitions the dominated region once
  per MC sample of the baseline (128 box decompositions, exponential in the number of
  objectives).  ``NEHVI_MC_SAMPLES`` samples do it for up to three objectives; for four,
  qLogNParEGO (Knowles 2006; Daulton et al. 2020): a random Chebyshev scalarization per arm,
  no partitioning, as Ax advises for many objectives.
- **acquisition optimization** (~6 s per arm): ``NUM_RESTARTS`` starts chosen from
  ``RAW_SAMPLES`` quasi-random points (Ax: 20 from 1024), and at most
  ``MAXITER_ALTERNATING`` discrete/continuous alternations of BoTorch's mixed optimizer
  (Ax: 64); the starts come from a continuous relaxation of the acquisition function run
  for ``MAXITER_INIT`` L-BFGS-B steps (BoTorch: 100): with four objectives the steps past
  25 took 30 % of a generation and, over 12 seeds, led to the same acquisition values.
- **threads**: the GP's linear algebra runs in numpy/scipy's BLAS, which starts a thread per
  core and spins them between the small matrix products of a fit; on a machine where a trial
  trains on the other cores that doubled the optimizer's CPU seconds and took them from the
  trial.  :func:`optimize_on_one_thread` gives the search's process one BLAS and one torch
  thread.
"""

from __future__ import annotations

from typing import Any

import torch
from ax.adapter.registry import Generators
from ax.generation_strategy.generation_node import GenerationNode
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.generation_strategy.generator_spec import GeneratorSpec
from ax.generation_strategy.transition_criterion import MinTrials
from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec
from ax.generators.torch.botorch_modular.utils import ModelConfig, fit_botorch_model
from ax.storage.botorch_modular_registry import register_model
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import MarginalLogLikelihood
from threadpoolctl import threadpool_limits

FIT_MAXITER = 100
NEHVI_MC_SAMPLES = 16
NUM_RESTARTS = 2
RAW_SAMPLES = 128
MAXITER_ALTERNATING = 8
MAXITER_INIT = 25
PAREGO_FROM_OBJECTIVES = 4
MULTI = qLogNoisyExpectedHypervolumeImprovement  # this many objectives or more: qLogNParEGO instead of qLogNEHVI


def optimize_on_one_thread() -> None:
    """One thread for torch and one for every BLAS / OpenMP pool loaded in this process (the
    optimizer's matrices are small: more threads only spin)."""
    torch.set_num_threads(1)
    threadpool_limits(limits=1)


class CappedFitGP(SingleTaskGP):
    """Ax's default single-task GP, fitted by at most ``FIT_MAXITER`` L-BFGS-B steps."""


register_model(CappedFitGP)  # so that experiment.json names it and loads it back


@fit_botorch_model.register(CappedFitGP)
def _fit_capped(model: CappedFitGP, mll_class: type[MarginalLogLikelihood],
                mll_options: dict[str, Any] | None = None) -> None:
    mll = mll_class(likelihood=model.likelihood, model=model, **(mll_options or {}))
    fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": FIT_MAXITER}})


def botorch_kwargs(objectives: int, continuous: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(generator_kwargs, generator_gen_kwargs)`` of the BoTorch node; ``continuous``: the
    space has a real-valued parameter (else Ax enumerates or searches the discrete points
    with optimizers that take none of the options below)."""
    if objectives >= PAREGO_FROM_OBJECTIVES:
        acquisition: dict[str, Any] = {"botorch_acqf_class": qLogNParEGO}
    elif objectives > 1:
        acquisition = {"botorch_acqf_class": MULTI,
                       "botorch_acqf_options": {"mc_samples": NEHVI_MC_SAMPLES}}
    else:
        acquisition = {}  # Ax's choice for one objective: qLogNEI
    generator_kwargs = {"surrogate_spec": SurrogateSpec(model_configs=[ModelConfig(botorch_model_class=CappedFitGP)]),
                        "fit_tracking_metrics": False, **acquisition}
    if not continuous:
        return generator_kwargs, {}
    optimizer = {"num_restarts": NUM_RESTARTS, "raw_samples": RAW_SAMPLES,
                 "options": {"maxiter_alternating": MAXITER_ALTERNATING, "maxiter_init": MAXITER_INIT}}
    return generator_kwargs, {"model_gen_options": {"optimizer_kwargs": optimizer}}


def generation_strategy(r1: int, objectives: int, seed: int, continuous: bool) -> GenerationStrategy:
    """Sobol for exactly ``r1`` trials (failed ones count: r1 is a budget), then BoTorch."""
    sobol = GenerationNode(
        name="sobol",
        generator_specs=[GeneratorSpec(generator_enum=Generators.SOBOL, generator_kwargs={"seed": seed})],
        transition_criteria=[MinTrials(threshold=r1, transition_to="gp")],
    )
    generator_kwargs, gen_kwargs = botorch_kwargs(objectives, continuous)
    gp = GenerationNode(name="gp", generator_specs=[GeneratorSpec(
        generator_enum=Generators.BOTORCH_MODULAR, generator_kwargs=generator_kwargs,
        generator_gen_kwargs=gen_kwargs)])
    return GenerationStrategy(name="sparsemod", nodes=[sobol, gp])
