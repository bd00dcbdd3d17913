"""What proposes the search's candidates: a pool scored by BoTorch, gated by exact costs.

- :mod:`~sparsemod.optimizer.encoding`: parameters ↔ unit cube (Sobol draws, GP inputs);
- :mod:`~sparsemod.optimizer.acquisition`: a GP of the error × exact costs, picks from a pool;
- :mod:`~sparsemod.optimizer.proposer`: each phase's candidates, bounded, ranked, admitted.
"""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def optimize_on_one_thread() -> None:
    """One thread for torch and one for every BLAS / OpenMP pool loaded in this process: the
    optimizer's matrices are small, and a trial trains on the other cores (measured: a BLAS
    thread per core spinning between a GP fit's small products doubled the optimizer's CPU
    seconds beside a training trial, and took them from the trial)."""
    torch.set_num_threads(1)
    threadpool_limits(limits=1)
