"""config.ini read, checked against the schema, and made settings; example files found."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path
from typing import Any

from sparsemod.config.schema import SCHEMA, TEST_FROM_TRAIN, TUNE_CALLBACKS, Key
from sparsemod.config.settings import (
    OPTIONAL_SECTIONS,
    MorphNetSettings,
    RaySettings,
    Settings,
    TestSettings,
    TrainSettings,
)
from sparsemod.errors import ConfigError, one_line

# An installed sparsemod's copy of examples/ (setup.py puts it in the package), else the checkout's
_INSTALLED_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES_DIR = (_INSTALLED_EXAMPLES if _INSTALLED_EXAMPLES.is_dir()
                else Path(__file__).resolve().parents[2] / "examples")

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
