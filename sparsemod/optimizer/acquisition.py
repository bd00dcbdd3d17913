"""Scoring a pool of candidates: a GP for what must be learned, exact functions for the rest.

The error of a network is only known after training: a GP models it,

    -error(x) ~ GP(μ, k),  x = the candidate's encoding (:mod:`~sparsemod.optimizer.encoding`).

Its costs are functions of the architecture (:mod:`sparsemod.costs.oracle`), so they enter the
acquisition as a deterministic model, ``ModelList(GP(error), GenericDeterministicModel(costs))``,
not as three more GPs (μNAS models only the error in the same way).  The pool's best ``q``
are picked greedily by BoTorch's ``optimize_acqf_discrete``, each pick pending for the
next, and the trials still running pending from the start:

- one objective: qLogNEI (Ament et al. 2023) on the error;
- two or three: qLogNEHVI (Daulton et al. 2021); the reference point of a cost is its
  objective threshold where the user gave one (a ``<=`` constraint on that objective, as
  in Ax), else 1.1 × the dearest observed, and of the error 1.1 × the worst observed;
- four or more: qLogNParEGO (Knowles 2006), a random Chebyshev scalarisation per pick.

Costs are scored on a log scale, each spanning [0, 1] over the observed networks
(:func:`cost_space`): the networks of a kilobyte budget differ by factors, and on a linear
scale set by the largest network observed every small one would look free (1 KB and 10 KB
are both ≈ 0 of 300 KB), so the hypervolume would reward only the large networks' gains.

Why a pool, not Ax's model bridge (measured on Ax 1.3.1 / BoTorch 0.18.1): Ax's adapter
transforms inputs and outputs (one-hot, log, BilogY, StandardizeY), so a cost function cannot
be slotted in as one of its models; an Ax trial asked for and then rejected as over budget
stays a pending point forever; and Ax's parameter constraints are linear only.  Scoring a
pool here and attaching the picks to the Ax ``Client`` keeps Ax the record of the trials.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelList, SingleTaskGP
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf_discrete
from botorch.sampling import MCSampler, SobolQMCNormalSampler
from botorch.sampling.get_sampler import get_sampler
from gpytorch.mlls import ExactMarginalLogLikelihood

from sparsemod.config import Constraint

FIT_MAXITER = 100  # L-BFGS-B steps of the GP fit: within a few tenths of a nat of converged, ~10x cheaper
MC_SAMPLES = 16  # qLogNEHVI partitions the front once per sample: 16 keep a pick well under a second
PAREGO_FROM_OBJECTIVES = 4
REFERENCE_MARGIN = 1.1


def fit_error_gp(X: torch.Tensor, error: torch.Tensor) -> SingleTaskGP:
    """The GP of ``-error`` (BoTorch maximises) over encoded candidates, fitted by at most
    ``FIT_MAXITER`` L-BFGS-B steps."""
    model = SingleTaskGP(X, -error.reshape(-1, 1), outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                     optimizer_kwargs={"options": {"maxiter": FIT_MAXITER}})
    return model


def cost_space(observed: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Costs (positive, to minimise) as ``(log c − log lo) / (log hi − log lo)`` per cost,
    ``lo`` and ``hi`` the smallest and largest observed: 0 the cheapest observed, 1 the
    dearest; ``observed`` first, then each of ``others`` on the same scale."""
    logs = [t.clamp_min(1e-12).log() for t in (observed, *others)]
    low, high = logs[0].amin(dim=0), logs[0].amax(dim=0)
    span = (high - low).clamp_min(1e-12)
    return [(t - low) / span for t in logs]


def lookup(table_X: torch.Tensor, table_Y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The deterministic costs of any row of ``table_X`` (the nearest row: every point the
    acquisition sees is a pool, pending or observed candidate, so the match is exact)."""
    def f(X: torch.Tensor) -> torch.Tensor:
        distance = torch.cdist(X.to(table_X), table_X.expand(*X.shape[:-2], *table_X.shape))
        return table_Y[distance.argmin(dim=-1)]
    return f


def error_constraints(constraints: Sequence[Constraint]) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """BoTorch's constraint callables (≤ 0 feasible) for the constraints on the error, which
    sample 0 of the outcome (``-error``) decides; cost constraints never reach the pool."""
    def feasible(constraint: Constraint) -> Callable[[torch.Tensor], torch.Tensor]:
        sign = 1.0 if constraint.op == "<=" else -1.0
        return lambda Z: sign * (-Z[..., 0] - constraint.bound)
    return [feasible(c) for c in constraints if c.metric == "error"]


def pick(observed_X: torch.Tensor, observed_error: torch.Tensor, pool_X: torch.Tensor, count: int,
         pending_X: torch.Tensor | None = None, costs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
         constraints: Sequence[Constraint] = (), seed: int = 0,
         thresholds: Sequence[float | None] = ()) -> tuple[list[int], list[float]]:
    """Positions in ``pool_X`` of the ``count`` best candidates, best first, and their
    acquisition values.  ``costs``: the cost objectives (to minimise) of the observed, pending
    and pool rows, in that order of the three tensors; None: the error is the one objective.
    ``thresholds``: per cost objective, its objective threshold in its own units (None: none)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the MC samples and ParEGO's weights depend on the seed only
        gp = fit_error_gp(observed_X, observed_error)
        pending = pending_X if pending_X is not None and len(pending_X) else None
        outcome_constraints = error_constraints(constraints) or None
        sampler: MCSampler = SobolQMCNormalSampler(torch.Size([MC_SAMPLES]))
        acquisition: AcquisitionFunction
        if costs is None:
            acquisition = qLogNoisyExpectedImprovement(gp, observed_X, sampler=sampler, X_pending=pending,
                                                       constraints=outcome_constraints)
        else:
            table_X = torch.cat([observed_X, pending if pending is not None else observed_X[:0], pool_X])
            given = torch.tensor([[float("nan") if t is None else t for t in thresholds]
                                  or [float("nan")] * costs[0].shape[-1]], dtype=costs[0].dtype)
            *scored, scored_thresholds = cost_space(*costs, given)
            table_Y = -torch.cat(scored)
            model = ModelList(gp, GenericDeterministicModel(lookup(table_X, table_Y), num_outputs=table_Y.shape[-1]))
            # GP samples beside the costs, repeated per sample: MC_SAMPLES box decompositions, not 128
            sampler = get_sampler(model.posterior(observed_X[:1]), torch.Size([MC_SAMPLES]),  # type: ignore[arg-type]
                                  seed=seed)  # (a PosteriorList: BoTorch's dispatch takes it, its stubs do not say so)
            if 1 + table_Y.shape[-1] >= PAREGO_FROM_OBJECTIVES:
                acquisition = qLogNParEGO(model, observed_X, sampler=sampler, X_pending=pending,
                                          constraints=outcome_constraints)
            else:
                # past the worst error and the dearest cost by 10 %, or at the user's threshold: a
                # network past it adds nothing to the hypervolume the user asked for
                cost_reference = torch.where(given.isnan(), REFERENCE_MARGIN, scored_thresholds)[0]
                reference = [-REFERENCE_MARGIN * float(observed_error.max()), *(-cost_reference).tolist()]
                acquisition = qLogNoisyExpectedHypervolumeImprovement(
                    model, reference, observed_X, sampler=sampler, X_pending=pending, prune_baseline=True,
                    constraints=outcome_constraints)
        chosen, values = optimize_acqf_discrete(acquisition, q=min(count, len(pool_X)), choices=pool_X)
    positions = torch.cdist(chosen, pool_X).argmin(dim=-1).tolist()
    return positions, [float(v) for v in values.reshape(-1)]
