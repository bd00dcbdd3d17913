"""config.ini → validated, typed settings.

Every key is declared once in a schema (name, parser, what is allowed, default).  Keys of
the original SpArSe-based tool are required; keys sparsemod adds have documented defaults.
A bad file raises :class:`ConfigError` whose one-line message names the file, section, key,
the allowed values and what was given, e.g.::

    config.ini [TRAIN] objectives: expected an integer 1-4, got 'five'

This module imports nothing heavier than the standard library, so that ``main.py`` reports
a bad file before torch, Ax or Ray are loaded.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sparsemod.errors import one_line

QUANT_SCHEMES = ("post", "dynamic", "both", "none")
OBJECTIVES = ("error", "model_size", "working_memory", "latency")
# The presets of sparsemod.costs.DEVICES (a test keeps both lists equal): named here so that
# validating a config does not import torch.
DEVICE_NAMES = ("K80", "P4", "T4", "P100", "V100", "TPUv2", "cortex-m4", "cortex-m7")
# An installed sparsemod's copy of examples/ (setup.py puts it in the package), else the checkout's
_INSTALLED_EXAMPLES = Path(__file__).resolve().parent / "examples"
EXAMPLES_DIR = (_INSTALLED_EXAMPLES if _INSTALLED_EXAMPLES.is_dir()
                else Path(__file__).resolve().parent.parent / "examples")
# [TEST] keys that default to the [TRAIN] key of the same name
TEST_FROM_TRAIN = ("name", "root", "pruning", "splitter", "quant_scheme", "objectives", "augment_shift")
SCHEDULES = ("constant", "cosine")
MAX_SHIFT = 8  # pixels: more moves a small image's content out of the frame


class ConfigError(ValueError):
    """A config.ini problem, worded for the user (one line, no traceback)."""


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


def _callbacks() -> tuple[Callable[[str], tuple[str, ...]], str]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(filter(None, (n.strip() for n in text.split(",")))))
        if any(name not in TUNE_CALLBACKS for name in names):
            raise ValueError
        return names

    return parse, "empty or comma-separated names among " + "|".join(TUNE_CALLBACKS)


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
            if not match or match.group(1) not in OBJECTIVES:
                raise ValueError
            constraints.append(Constraint(match.group(1), match.group(2), float(match.group(3))))
        return tuple(constraints)

    return parse, ("empty or comma-separated 'metric <= number' / 'metric >= number' with metric "
                   "one of " + "|".join(OBJECTIVES))


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
        _key("callbacks", _callbacks(), ""),
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
    ),
}


@dataclass(frozen=True)
class TrainSettings:
    """The [TRAIN] section: one search."""

    r1: int  # Sobol trials
    r2: int  # GP rounds, ``batch_size`` trials each
    r3: int  # morphism rounds
    epochs1: int
    epochs2: int
    epochs3: int
    name: str
    root: Path
    objectives: int  # cumulative: 1 error, 2 +model_size, 3 +working_memory, 4 +latency
    batch_size: int
    debug: bool
    flops: float  # device operations per second (latency model)
    quant_scheme: str
    morphisms: bool
    pruning: bool
    splitter: bool
    example: str
    dataset: str
    data_dir: Path | None
    seed: int
    bandwidth: float | None  # device bytes per second; None: latency = FLOPs / flops
    device: str  # a named preset or a calibrated profile's path; overrides flops and bandwidth
    calibration_batches: int  # training batches that calibrate static quantization
    threads: int  # torch threads per trial
    constraints: tuple[Constraint, ...]  # outcome constraints (Ax); the Pareto set obeys them
    candidates: int  # morph children drawn per round, before the GP picks batch_size
    tolerance: float  # stop GP rounds when the hypervolume grew less than this (relative) ...
    patience: int  # ... over the last `patience` trials; tolerance 0: never stop early
    early_stopping: str = "moasha_front"  # none | moasha | moasha_front: stop trials epoch by epoch (sparsemod.search.stopping)
    grace_epochs: int = 1  # the first rung: no trial stops before it
    reduction_factor: int = 2  # η: rungs at grace·η^k; a rung keeps its best 1/η
    schedule: str = "constant"  # a trial's learning rate: constant | cosine (annealed to 0 over its epochs)
    augment_shift: int = 0  # training images moved by random whole pixels in [-s, s]² (0: off)

    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def objective_names(self) -> tuple[str, ...]:
        return OBJECTIVES[: self.objectives]


@dataclass(frozen=True)
class TestSettings:
    """The [TEST] section: retrain and test one Pareto arm."""

    pruning: bool
    splitter: bool
    quant_scheme: str
    objectives: int
    name: str
    root: Path
    epochs: int
    arm: str
    expand_target: str  # "" : no expansion; else the cost the expanded width must fit
    expand_budget: float | None
    seed: int
    schedule: str = "cosine"  # constant | cosine (MorphNet's retraining advice)
    augment_shift: int = 0  # defaults to [TRAIN] augment_shift


@dataclass(frozen=True)
class RaySettings:
    """The optional [RAY] section: where trials run."""

    address: str  # "": the worker process; local: a local Ray runtime; auto / host:port: a cluster
    max_concurrent: int
    cpus_per_trial: float
    gpus_per_trial: float
    max_failures: int  # retries of a trial whose worker died
    storage_path: str = ""  # Tune's experiments: a folder or a URI; "": {root}/{name}/tune
    callbacks: tuple[str, ...] = ()  # Tune logger callbacks beside TensorBoard: mlflow, wandb

    @property
    def enabled(self) -> bool:
        return self.address != ""


@dataclass(frozen=True)
class MorphNetSettings:
    """The optional [MORPHNET] section: structure learning inside trials (pruning = true)."""

    algorithm: str  # gamma | group_lasso | gates
    target: str  # flops | size | latency | memory
    threshold: float  # a channel is alive while its regularization entry is above this
    strength: float  # multiplier: strength = multiplier / initial cost (morph-net's advice)
    finetune_epochs: int
    log_dir: Path | None  # TensorBoard scalars per trial when set


# A missing optional section takes every default; [TEST] is needed by the [TEST] mode only.
OPTIONAL_SECTIONS = ("RAY", "MORPHNET", "TEST")


@dataclass(frozen=True)
class Settings:
    path: Path
    train: bool
    search: TrainSettings
    test: TestSettings | None  # None: no [TEST] section (a search needs none)
    ray: RaySettings
    morphnet: MorphNetSettings


def is_example_path(example: str) -> bool:
    """``example`` names a file (``mine.py``, ``dir/mine``) rather than a module under examples/."""
    return example.endswith(".py") or "/" in example or "\\" in example


def example_path(example: str, base: Path | None = None) -> Path:
    """The example file: a name under examples/ (``cnn``) or a path, relative to ``base``
    (the config file's folder; default the working directory)."""
    if not is_example_path(example):
        return EXAMPLES_DIR / f"{example}.py"
    path = Path(example).expanduser()
    return (path if path.is_absolute() else (base or Path.cwd()) / path).resolve()


def available_examples() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if not p.stem.startswith("_"))


def load_config(path: str | Path) -> Settings:
    """Read and validate ``path``; relative paths inside it resolve against its folder."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; expected a config file (e.g. {path / 'config.ini'})")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    # default_section is renamed so that [DEFAULT] is a plain section, not inherited by all.
    parser = configparser.ConfigParser(default_section="\0none", interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise ConfigError(f"{path}: not a valid ini file: {one_line(error)}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: expected a UTF-8 text file, found byte 0x{error.object[error.start]:02x} "
                          f"at offset {error.start}") from None

    unknown_sections = [s for s in parser.sections() if s not in SCHEMA]
    if unknown_sections:
        raise ConfigError(
            f"{path} [{unknown_sections[0]}]: unknown section; expected one of "
            + ", ".join(f"[{s}]" for s in SCHEMA)
        )
    if parser.has_section("TEST") and parser.has_section("TRAIN"):
        for name in TEST_FROM_TRAIN:
            if not parser.has_option("TEST", name) and parser.has_option("TRAIN", name):
                parser.set("TEST", name, parser.get("TRAIN", name))
    values = {section: _read_section(path, parser, section, keys) for section, keys in SCHEMA.items()
              if section != "TEST" or parser.has_section("TEST")}
    base = path.resolve().parent

    def resolve(text: str) -> Path:
        return (base / Path(text).expanduser()).resolve()  # an absolute path replaces base

    train = values["TRAIN"]
    given = dict(train)  # as written, for the messages
    train["root"] = resolve(train["root"])
    train["data_dir"] = resolve(train["data_dir"]) if train["data_dir"] else None
    if train["device"].endswith(".json"):
        from sparsemod.costs.profile import DeviceProfile, ProfileError

        train["device"] = str(resolve(train["device"]))
        try:
            DeviceProfile.load(train["device"])
        except ProfileError as error:
            raise ConfigError(f"{path} [TRAIN] device: {error}") from None
    if train["data_dir"] is not None and not train["data_dir"].is_dir():
        raise ConfigError(f"{path} [TRAIN] data_dir: expected empty or an existing folder (relative to "
                          f"{base}), got {given['data_dir']!r} ({train['data_dir']} not found)")
    example = example_path(train["example"], base)
    if not example.is_file():
        raise ConfigError(f"{path} [TRAIN] example: expected one of {', '.join(available_examples())} "
                          f"or a path to your own .py file (relative to {base}), got "
                          f"{given['example']!r} ({example} not found)")
    train["example"] = str(example) if is_example_path(train["example"]) else train["example"]
    test = values.get("TEST")
    if test is not None:
        test["root"] = resolve(test["root"])
        if bool(test["expand_target"]) != (test["expand_budget"] is not None):
            raise ConfigError(f"{path} [TEST] expand_budget: expected a number when expand_target "
                              f"is set and empty otherwise, got {test['expand_budget']!r} with "
                              f"expand_target {test['expand_target']!r}")
    ray = values["RAY"]
    if ray["storage_path"] and "://" not in ray["storage_path"]:
        ray["storage_path"] = str(resolve(ray["storage_path"]))
    if ray["address"].startswith("ray://") and importlib.util.find_spec("grpc") is None:
        raise ConfigError(f"{path} [RAY] address: ray://… connects through the Ray Client, which needs "
                          f"pip install \"ray[client]\" (grpcio is not installed), got {ray['address']!r}; "
                          "or give the head's GCS address, HEAD_IP:6379")
    for name in ray["callbacks"]:
        if importlib.util.find_spec(TUNE_CALLBACKS[name]) is None:  # finds, does not import
            raise ConfigError(f"{path} [RAY] callbacks: {name} needs the {TUNE_CALLBACKS[name]} package, "
                              f"which is not installed (pip install {TUNE_CALLBACKS[name]}), got {name!r}")
    morphnet = values["MORPHNET"]
    morphnet["log_dir"] = resolve(morphnet["log_dir"]) if morphnet["log_dir"] else None
    return Settings(
        path=path,
        train=values["DEFAULT"]["train"],
        search=TrainSettings(**train),
        test=TestSettings(**test) if test is not None else None,
        ray=RaySettings(**ray),
        morphnet=MorphNetSettings(**morphnet),
    )


def check_test_mode(settings: Settings) -> TestSettings:
    """The [TEST] section, checked against [TRAIN]: made only when the [TEST] mode runs."""
    path, test = settings.path, settings.test
    if test is None:
        raise ConfigError(f"{path} [TEST]: section missing; the [TEST] mode needs it (at least "
                          "epochs = N; the other keys default to [TRAIN]'s)")
    if test.splitter != settings.search.splitter:
        raise ConfigError(f"{path} [TEST] splitter: expected {str(settings.search.splitter).lower()} "
                          f"(as [TRAIN] splitter: the arm's max_len means windows or whole "
                          f"sequences), got {str(test.splitter).lower()!r}")
    return test


def _read_section(
    path: Path, parser: configparser.ConfigParser, section: str, keys: tuple[Key, ...]
) -> dict[str, Any]:
    if not parser.has_section(section) and section not in OPTIONAL_SECTIONS:
        raise ConfigError(f"{path} [{section}]: section missing")
    given = dict(parser.items(section)) if parser.has_section(section) else {}
    known = {key.name for key in keys}
    for name in given:
        if name not in known:
            raise ConfigError(
                f"{path} [{section}] {name}: unknown key; expected one of {', '.join(sorted(known))}"
            )
    parsed = {}
    for key in keys:
        raw = given.get(key.name, key.default)
        if raw is None:
            raise ConfigError(f"{path} [{section}] {key.name}: missing; expected {key.expected}")
        raw = raw.strip()
        try:
            parsed[key.name] = key.parse(raw)
        except (ValueError, KeyError):
            raise ConfigError(
                f"{path} [{section}] {key.name}: expected {key.expected}, got {raw!r}"
            ) from None
    return parsed
