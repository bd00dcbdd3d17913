"""BoTorch's fused hypervolume kernel, built while the Sobol trials train.

BoTorch 0.18 JIT-compiles a C++ kernel (``logei_fused_ext``) the first time an environment
constructs a qLogEHVI / qLogNEHVI acquisition (two or three objectives here): ~26 s of
compiling on 2 cores, once, then cached in torch's extensions folder.  Left to the first GP
ask, a new user's first search stalls for it; started when the search starts, the build
overlaps the Sobol trials, and the GP ask, whose own load waits on torch's lock of the build
folder, waits only for what is left.

The build runs in a process of its own session: a Ctrl-C or SIGTERM to the search's process
group cannot cut it short and leave torch's lock file behind (a later load would wait on it
forever), and a search that ends first still leaves the kernel built for the next.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from torch.utils.cpp_extension import get_default_build_root

NAME = "logei_fused_ext"
# Constructing a qLogEHVI loads (building if needed) the kernel: BoTorch's public path to it
BUILD = """
import torch
from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
from botorch.models.deterministic import GenericDeterministicModel
from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning
reference = torch.zeros(2, dtype=torch.double)
qLogExpectedHypervolumeImprovement(GenericDeterministicModel(lambda X: X[..., :2], num_outputs=2), reference,
                                   FastNondominatedPartitioning(reference, torch.ones(1, 2, dtype=torch.double)))
"""


def built() -> bool:
    """A build of the kernel is in torch's extensions folder: ``TORCH_EXTENSIONS_DIR/NAME``, or
    by default a folder per Python and accelerator (``py311_cpu``) under torch's cache.  One
    made by another environment is rebuilt by BoTorch's own load, as before."""
    chosen = os.environ.get("TORCH_EXTENSIONS_DIR")
    root, pattern = (Path(chosen), f"{NAME}/{NAME}*.so") if chosen else (Path(get_default_build_root()),
                                                                        f"*/{NAME}/{NAME}*.so")
    return any(root.glob(pattern))


_started: list[subprocess.Popen] = []  # held for the process's life: the build may outlast the search


def build_in_background() -> subprocess.Popen | None:
    """Start building the kernel in a detached process; None when it is built already, or
    being built by one this process started (the next search of a session waits for it)."""
    if built() or any(process.poll() is None for process in _started):
        return None
    _started.append(subprocess.Popen([sys.executable, "-c", BUILD], start_new_session=True, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return _started[-1]
