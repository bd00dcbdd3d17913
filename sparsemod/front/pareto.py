"""The Pareto set: non-dominated completed trials, every objective minimised."""

from __future__ import annotations

import numpy as np
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n x m, all minimised).

    Row a dominates b when a <= b in every column and a < b in one.  Equal rows dominate
    neither one another, so ties are all kept.  Rows with a NaN (failed trials) are never
    in the set.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"expected an n x m array, got shape {values.shape}")
    mask = np.zeros(len(values), dtype=bool)
    valid = ~np.isnan(values).any(axis=1)
    if valid.any():
        # BoTorch maximises: negate.
        mask[valid] = is_non_dominated(-torch.as_tensor(values[valid]), deduplicate=False).numpy()
    return mask
