"""The one place that quiets the libraries' logs: sparsemod prints its own line per trial,
and ``debug = true`` shows theirs."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator


def quiet_ax(debug: bool) -> None:
    """Ax logs every trial at INFO; sparsemod prints its own line per trial."""
    level = logging.INFO if debug else logging.WARNING
    # Ax gives each module's logger its own level, so the parent's level is not enough.
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("ax", "botorch")]:
        logging.getLogger(name).setLevel(level)
    if not debug:
        # A GP asked while trials train can model a single completed trial, whose outcomes
        # are constant by construction: Ax's notice of it is nothing a user can act on.
        logging.getLogger("ax.adapter.transforms.standardize_y").setLevel(logging.ERROR)


def quiet_ray(debug: bool) -> None:
    """Ray's and Tune's own lines (start-up, trial tables, error traces Tune also writes to
    its folder) are shown with ``debug`` only; trials.csv has every trial's reason."""
    logging.getLogger("ray").setLevel(logging.INFO if debug else logging.CRITICAL)
    if not debug:
        # Tune's newer console output prints its experiment table at every verbosity; the
        # classic reporter prints nothing at verbose = 0.
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"


@contextlib.contextmanager
def importing_quietly() -> Iterator[None]:
    """Ax announces its SQL storage at INFO when imported: not a line for a user."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def quiet_torchao() -> None:
    """torchao's import notices (GPU kernels a CPU machine lacks, and the deprecation torch
    logs when torchao registers its enums): nothing about the user's network.  Every process
    that quantizes imports torchao, so this runs before that import; a level the user set
    on these loggers is kept."""
    for name in ("torchao", "torch.utils._pytree"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.ERROR)


def quiet_converters(debug: bool) -> None:
    """The deploy converters' lines: litert-torch's progress, TensorFlow's C++ notices (read
    when it loads, so set before)."""
    if not debug:
        os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        quiet_torchao()
