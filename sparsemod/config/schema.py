"""Every config.ini key, declared once: name, parser, what is allowed, default."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

QUANT_SCHEMES = ("post", "dynamic", "both", "none")
OBJECTIVES = ("error", "model_size", "working_memory", "latency")
# what every trial measures and a constraint may name: the objectives, and the RAM TFLite
# Micro allocates for the network (sparsemod.costs.arena)
METRICS = (*OBJECTIVES, "arena")
# The presets of sparsemod.costs.DEVICES (a test keeps both lists equal): named here so that
# validating a config does not import torch.
DEVICE_NAMES = ("K80", "P4", "T4", "P100", "V100", "TPUv2", "cortex-m4", "cortex-m7")
# [TEST] keys that default to the [TRAIN] key of the same name
TEST_FROM_TRAIN = ("name", "root", "pruning", "splitter", "quant_scheme", "objectives", "augment_shift")
SCHEDULES = ("constant", "cosine")
# [TEST] export: the microcontroller runtimes a retrained arm is converted for and run under
# (TorchScript and ONNX files are always written)
RUNTIMES = ("tflite", "executorch")
MAX_SHIFT = 8  # pixels: more moves a small image's content out of the frame


@dataclass(frozen=True)
class Key:
    """One config key: ``parse`` turns the raw text into a value or raises ValueError."""

    name: str
    parse: Callable[[str], Any]
    expected: str
    default: str | None = None  # None: the key is required


def _integer(low: int, high: int | None = None) -> tuple[Callable[[str], int], str]:
    expected = f"an integer {low}-{high}" if high is not None else f"an integer >= {low}"

    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError
        return value

    return parse, expected


def _positive_real() -> tuple[Callable[[str], float], str]:
    def parse(text: str) -> float:
        value = float(text)
        if not value > 0 or value == float("inf"):
            raise ValueError
        return value

    return parse, "a positive number (e.g. 1e9)"


def _optional_positive_real() -> tuple[Callable[[str], float | None], str]:
    positive, _ = _positive_real()
    return (lambda text: positive(text) if text else None), "empty or a positive number"


def _boolean() -> tuple[Callable[[str], bool], str]:
    words = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}

    def parse(text: str) -> bool:
        return words[text.lower()]

    return parse, "true or false"


def _choice(*values: str) -> tuple[Callable[[str], str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError
        return text

    return parse, "one of " + "|".join(values)


def _optional_choice(*values: str) -> tuple[Callable[[str], str], str]:
    def parse(text: str) -> str:
        if text and text not in values:
            raise ValueError
        return text

    return parse, "empty or one of " + "|".join(values)


def _name() -> tuple[Callable[[str], str], str]:
    def parse(text: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text):
            raise ValueError
        return text

    return parse, "a folder name of letters, digits, '_', '-', '.'"


def _text() -> tuple[Callable[[str], str], str]:
    def parse(text: str) -> str:
        if not text:
            raise ValueError
        return text

    return parse, "a non-empty text"


def _any_text() -> tuple[Callable[[str], str], str]:
    return (lambda text: text), "any text"


def _device() -> tuple[Callable[[str], str], str]:
    preset, expected = _optional_choice(*DEVICE_NAMES)

    def parse(text: str) -> str:
        return text if text.endswith(".json") else preset(text)

    return parse, (expected.replace("empty", "empty (use flops, bandwidth)")
                   + " or a device profile .json (python -m sparsemod.calibrate --out cpu.json)")


def _ray_address() -> tuple[Callable[[str], str], str]:
    def parse(text: str) -> str:
        if text in ("", "local", "auto") or re.fullmatch(r"(ray://)?[A-Za-z0-9_.-]+:\d+", text):
            return text
        raise ValueError

    return parse, "empty (the worker process), local, auto, host:port or ray://host:port"


def _storage_path() -> tuple[Callable[[str], str], str]:
    def parse(text: str) -> str:
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S*", text) and not text.startswith("file://"):
            return text  # a URI (s3://, gs://, ...): Tune opens it with pyarrow
        return text.removeprefix("file://")

    return parse, "empty ({root}/{name}/tune), a folder or a URI such as s3://bucket/path"


# The Tune logger callbacks [RAY] callbacks names, with the package each needs.
TUNE_CALLBACKS = {"mlflow": "mlflow", "wandb": "wandb"}


def _names(*allowed: str) -> tuple[Callable[[str], tuple[str, ...]], str]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(filter(None, (n.strip() for n in text.split(",")))))
        if any(name not in allowed for name in names):
            raise ValueError
        return names

    return parse, "empty or comma-separated names among " + "|".join(allowed)


def _non_negative_real() -> tuple[Callable[[str], float], str]:
    def parse(text: str) -> float:
        value = float(text)
        if not 0 <= value < float("inf"):
            raise ValueError
        return value

    return parse, "a number >= 0"


@dataclass(frozen=True)
class Constraint:
    """An outcome constraint ``metric <= bound`` or ``metric >= bound``."""

    metric: str
    op: str  # "<=" or ">="
    bound: float

    def satisfied(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def _constraints() -> tuple[Callable[[str], tuple[Constraint, ...]], str]:
    pattern = re.compile(r"\s*(\w+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*")

    def parse(text: str) -> tuple[Constraint, ...]:
        constraints = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = pattern.fullmatch(part)
            if not match or match.group(1) not in METRICS:
                raise ValueError
            constraints.append(Constraint(match.group(1), match.group(2), float(match.group(3))))
        return tuple(constraints)

    return parse, ("empty or comma-separated 'metric <= number' / 'metric >= number' with metric "
                   "one of " + "|".join(METRICS))


def _key(name: str, kind: tuple[Callable[[str], Any], str], default: str | None = None) -> Key:
    parse, expected = kind
    return Key(name, parse, expected, default)


SCHEMA: dict[str, tuple[Key, ...]] = {
    "DEFAULT": (_key("train", _boolean()),),
    "TRAIN": (
        _key("r1", _integer(1)),
        _key("r2", _integer(0)),
        _key("r3", _integer(0)),
        _key("epochs1", _integer(1)),
        _key("epochs2", _integer(1)),
        _key("epochs3", _integer(1)),
        _key("name", _name()),
        _key("root", _text()),
        _key("objectives", _integer(1, 4)),
        _key("batch_size", _integer(1)),
        _key("debug", _boolean()),
        _key("flops", _positive_real()),
        _key("quant_scheme", _choice(*QUANT_SCHEMES)),
        _key("morphisms", _boolean()),
        _key("pruning", _boolean()),
        _key("splitter", _boolean()),
        # sparsemod's additions, each with a default
        _key("example", _text(), "cnn"),
        _key("dataset", _text(), "digits"),
        _key("data_dir", _any_text(), ""),
        _key("seed", _integer(0), "0"),
        _key("bandwidth", _optional_positive_real(), ""),
        _key("device", _device(), ""),
        _key("calibration_batches", _integer(1), "8"),
        _key("threads", _integer(1), "1"),
        _key("constraints", _constraints(), ""),
        _key("candidates", _integer(1), "20"),
        _key("tolerance", _non_negative_real(), "0"),
        _key("patience", _integer(1), "5"),
        _key("early_stopping", _choice("none", "moasha", "moasha_front"), "moasha_front"),
        _key("grace_epochs", _integer(1), "1"),
        _key("reduction_factor", _integer(2), "2"),
        _key("schedule", _choice(*SCHEDULES), "constant"),
        _key("augment_shift", _integer(0, MAX_SHIFT), "0"),
    ),
    "RAY": (
        _key("address", _ray_address(), ""),
        _key("max_concurrent", _integer(1), "2"),
        _key("cpus_per_trial", _positive_real(), "1"),
        _key("gpus_per_trial", _non_negative_real(), "0"),
        _key("max_failures", _integer(0), "1"),
        _key("storage_path", _storage_path(), ""),
        _key("callbacks", _names(*TUNE_CALLBACKS), ""),
    ),
    "MORPHNET": (
        _key("algorithm", _choice("gamma", "group_lasso", "gates"), "gamma"),
        _key("target", _choice("flops", "size", "latency", "memory"), "flops"),
        _key("threshold", _positive_real(), "0.01"),
        _key("strength", _positive_real(), "2"),
        _key("finetune_epochs", _integer(0), "2"),
        _key("log_dir", _any_text(), ""),
    ),
    "TEST": (
        _key("pruning", _boolean()),
        _key("splitter", _boolean()),
        _key("quant_scheme", _choice(*QUANT_SCHEMES)),
        _key("objectives", _integer(1, 4)),
        _key("name", _name()),
        _key("root", _text()),
        _key("epochs", _integer(1)),
        _key("arm", _any_text(), ""),
        _key("expand_target", _optional_choice("flops", "size", "latency", "memory"), ""),
        _key("expand_budget", _optional_positive_real(), ""),
        _key("seed", _integer(0), "0"),
        _key("schedule", _choice(*SCHEDULES), "cosine"),
        _key("augment_shift", _integer(0, MAX_SHIFT), "0"),
        _key("export", _names(*RUNTIMES), ""),
    ),
}
