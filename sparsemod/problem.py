"""A search problem: the user's search space, network builder and data, loaded from a file.

An example is a Python file (a module under ``examples/`` or any path) that defines::

    SPACE: list[sparsemod.space.Parameter]       # or def search_space(splitter: bool) -> list
    def build(params: dict, input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module
    def load_data(dataset: str, data_dir: Path | None, seed: int) -> sparsemod.data.DataBundle
    DATASETS: tuple[str, ...]      # optional: the names load_data accepts
    def prepare(data: DataBundle, params: dict, splitter: bool) -> DataBundle
                                   # optional: per-trial data (e.g. sequence windows)
    MORPHISMS: list[sparsemod.morphisms.Morphism]
                                   # optional: the moves morphism rounds may make
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

import torch

from sparsemod.config import available_examples, example_path
from sparsemod.data import DataBundle
from sparsemod.errors import ProblemError, one_line
from sparsemod.space import Parameter

REQUIRED = ("build", "load_data")


@dataclass(frozen=True)
class Problem:
    source: Path  # the example file: workers re-import it from here
    space: Sequence[Parameter]
    build: Callable[[dict, tuple[int, ...], int], torch.nn.Module]
    load_data: Callable[[str, Path | None, int], DataBundle]
    datasets: tuple[str, ...] | None
    prepare: Callable[[DataBundle, dict, bool], DataBundle] | None = None
    morphisms: tuple = ()  # sparsemod.morphisms.Morphism operators over this space


def load_problem(example: str | Path, splitter: bool = False) -> Problem:
    path = example_path(str(example))
    if not path.is_file():
        raise ProblemError(
            f"example {str(example)!r}: {path} not found; use one of {', '.join(available_examples())} "
            "or a path to your own .py file"
        )
    module = _import(path)
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if not hasattr(module, "SPACE") and not hasattr(module, "search_space"):
        missing.insert(0, "SPACE")
    if missing:
        raise ProblemError(
            f"{path}: missing {', '.join(missing)}; an example defines SPACE (list of "
            "parameters), build(params, input_shape, num_classes) and "
            "load_data(dataset, data_dir, seed)"
        )
    datasets = getattr(module, "DATASETS", None)
    space = module.search_space(splitter) if hasattr(module, "search_space") else module.SPACE
    return Problem(path, list(space), module.build, module.load_data,
                   tuple(datasets) if datasets is not None else None, getattr(module, "prepare", None),
                   tuple(getattr(module, "MORPHISMS", ())))


def _import(path: Path) -> ModuleType:
    name = f"sparsemod_example_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProblemError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[name]
        raise ProblemError(f"{path}:{error.lineno}: SyntaxError: {error.msg}") from None
    except Exception as error:  # the file's own code failed while it was imported
        del sys.modules[name]
        raise ProblemError(f"{path}: importing it raised {type(error).__name__}: "
                           f"{one_line(error)}") from None
    return module
