"""Convert a retrained arm for a microcontroller runtime, run the file under that runtime on
the test split, and set its figures beside sparsemod's (``{arm}{suffix}.json``).

Each runtime module (:mod:`~sparsemod.deploy.tflite`, :mod:`~sparsemod.deploy.executorch`)
has ``SUFFIX``, ``convert(model, calibration, example, path) -> memory figures``,
``weight_bytes(path)`` (None where the format does not separate them) and
``accuracy(path, batches)``.  sparsemod measures its own int8 model (PT2E with
:class:`~sparsemod.quantize.annotate.MicroQuantizer`), the runtimes run their own PT2E
conversion of the same float model with the same calibration images: the accuracies differ
only by the quantizers' choices of scales.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from sparsemod.config.schema import RUNTIMES
from sparsemod.deploy.extras import INSTALL
from sparsemod.errors import ConfigError, one_line
from sparsemod.logs import quiet_converters
from sparsemod.store.results import atomic_write_text

MODULES = {"tflite": "sparsemod.deploy.tflite", "executorch": "sparsemod.deploy.executorch"}
# what each converter and runtime imports (the requirements-deploy.txt extra)
PACKAGES = {"tflite": ("litert_torch", "tflite_micro", "torchao"), "executorch": ("executorch", "torchao")}
assert tuple(MODULES) == RUNTIMES == tuple(PACKAGES), "one module per runtime [TEST] export names"


def check_installed(runtimes: Iterable[str], where: str) -> None:
    """Before anything trains: a ConfigError naming the first package a runtime lacks."""
    for runtime in runtimes:
        missing = [p for p in PACKAGES[runtime] if importlib.util.find_spec(p) is None]
        if missing:
            raise ConfigError(f"{where} export: {runtime} needs {', '.join(missing)}, not installed "
                              f"({INSTALL})")


def deploy(runtime: str, model: nn.Module, calibration: list[torch.Tensor], example: torch.Tensor,
           test_batches: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]], stem: Path,
           measured: dict[str, float], debug: bool = False) -> dict:
    """Write ``{stem}{SUFFIX}`` and its comparison JSON; return the comparison.

    ``measured``: sparsemod's figures of its own int8 model (test_accuracy, model_size,
    working_memory).  A network the converter cannot take is a result with its ``error``.
    """
    quiet_converters(debug)
    module = importlib.import_module(MODULES[runtime])
    path = stem.with_name(stem.name + module.SUFFIX)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # torch's pytree notice, raised inside the converters' own export calls
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            memory = module.convert(model.eval(), calibration, example, path)
    except ConfigError:
        raise
    except Exception as exc:  # converters raise many types; each is the user's reason
        path.unlink(missing_ok=True)
        result: dict = {"runtime": runtime, "error": one_line(exc, typed=True, limit=500)}
    else:
        converted = time.perf_counter()
        runtime_accuracy = module.accuracy(path, test_batches())
        result = {
            "runtime": runtime, "file": str(path), "file_bytes": path.stat().st_size,
            "weight_bytes": module.weight_bytes(path), "model_size": measured["model_size"],
            "runtime_test_accuracy": runtime_accuracy, "test_accuracy": measured["test_accuracy"],
            "accuracy_difference_points": 100 * (runtime_accuracy - measured["test_accuracy"]),
            "memory": memory, "working_memory": measured["working_memory"],
            "convert_seconds": converted - start, "run_seconds": time.perf_counter() - converted,
        }
    atomic_write_text(stem.with_name(f"{stem.name}{module.SUFFIX}.json"), json.dumps(result, indent=2))
    return result
