"""Hypervolume of a set of minimised objective vectors (BoTorch's exact algorithm).

    HV(Y, r) = volume of { z : y ≤ z ≤ r for some y in Y }

the region dominated by the points and bounded by the reference point r.  Points that do
not dominate r contribute nothing.
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume


def hypervolume(values: np.ndarray, reference: np.ndarray) -> float:
    values = np.asarray(values, dtype=float).reshape(-1, len(reference))
    values = values[~np.isnan(values).any(axis=1)]
    values = values[(values < reference).all(axis=1)]
    if len(values) == 0:
        return 0.0
    if values.shape[1] == 1:
        return float(reference[0] - values.min())
    # BoTorch maximises: negate points and reference.
    return float(Hypervolume(-torch.as_tensor(reference, dtype=torch.double))
                 .compute(-torch.as_tensor(values, dtype=torch.double)))
