"""Numbers for people: units picked by magnitude, parameters rounded, layers named.

A metric is stored in its base unit (error as a fraction, sizes in bytes, latency in
seconds); it is shown in the largest unit that keeps the number ≥ 1: ``32 B`` rather than
``0.03125 KB``, ``256 µs`` rather than ``0.000256 ms``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Mapping

import torch

LABELS = {"error": "error", "model_size": "model size", "working_memory": "working memory",
          "latency": "latency", "arena": "TFLM arena"}
BYTES = ((1.0, "B"), (1024.0, "KB"), (1024.0 ** 2, "MB"))
SECONDS = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
LOG_SCALED = ("model_size", "working_memory", "latency", "arena")  # may be drawn on a log axis


def unit(metric: str, magnitude: float) -> tuple[float, str]:
    """(multiplier, unit name) that shows values around ``magnitude`` of ``metric``."""
    if metric == "error":
        return 100.0, "%"
    units = BYTES if metric in ("model_size", "working_memory", "arena") else SECONDS if metric == "latency" else None
    if units is None:
        return 1.0, ""
    size, name = units[0]
    for candidate, candidate_name in units:
        if abs(magnitude) >= candidate:
            size, name = candidate, candidate_name
    return 1.0 / size, name


def number(value: float) -> str:
    """Three significant digits, never an exponent below 10^6: 1000, 45.2, 2.81, 0.5."""
    if value != value:  # NaN
        return "–"
    return f"{value:.0f}" if 100 <= abs(value) < 1e6 else f"{value:.3g}"


def human(metric: str, value: float) -> str:
    """``value`` of ``metric`` in its own best unit, e.g. ``2.81 KB``, ``3.51 %``, ``48.6 µs``."""
    scale, name = unit(metric, value)
    return f"{number(value * scale)} {name}".rstrip()


def log_axis(values: list[float]) -> bool:
    """Draw on a log axis: all positive and spanning more than a decade."""
    positive = [v for v in values if v == v]
    return bool(positive) and min(positive) > 0 and max(positive) > 10 * min(positive)


def rounded(value: Any) -> Any:
    """A searched parameter as a person would write it: floats to 4 significant digits."""
    if isinstance(value, float) and value == value and not value.is_integer():
        return float(f"{value:.4g}")
    return value


def named_layers(state_dict: Mapping[str, torch.Tensor]) -> list[tuple[str, str, str]]:
    """(name, module path, shape) of each conv, linear and recurrent layer, in order.

    Names count layers by kind (``conv1``, ``conv2``, ``fc1``, ``lstm1``) and keep the words of
    the module path (``conv2 skip`` for ``0.skip.0``); shape is the kernel and output width
    read from the weights, e.g. ``5×5, 8 ch`` or ``32 units``.
    """
    counts: Counter[str] = Counter()
    layers = []
    for key, tensor in state_dict.items():
        path, _, leaf = key.rpartition(".")
        if leaf == "weight" and tensor.dim() >= 3:
            kind, shape = "conv", f"{'×'.join(map(str, tensor.shape[2:]))}, {tensor.shape[0]} ch"
        elif leaf == "weight" and tensor.dim() == 2:
            kind, shape = "fc", f"{tensor.shape[0]} units"
        elif leaf == "weight_hh_l0":
            hidden = tensor.shape[1]
            kind = {4: "lstm", 3: "gru"}.get(tensor.shape[0] // hidden, "rnn")
            shape = f"{hidden} hidden"
        else:
            continue
        counts[kind] += 1
        words = [w for w in re.split(r"[._]", path) if w and not w.isdigit()]
        layers.append((" ".join([f"{kind}{counts[kind]}", *words]), path or "(model)", shape))
    return layers
