import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, write_config

from sparsemod.cli import main
from sparsemod.config import ConfigError, load_config


def test_valid_config_parses_types_and_resolves_paths(config_file):
    path = config_file(train={"flops": "2.5e8", "debug": "yes"})
    settings = load_config(path)
    assert settings.train is True
    assert settings.search.r1 == 3 and settings.search.flops == 2.5e8 and settings.search.debug
    assert settings.search.folder == path.parent / "results" / "run"
    assert settings.search.objective_names == ("error", "model_size", "working_memory")
    assert settings.search.bandwidth is None and settings.search.data_dir is None


def test_shipped_config_is_valid():
    settings = load_config(Path(__file__).resolve().parent.parent / "config.ini")
    assert settings.search.dataset == "digits"


@pytest.mark.parametrize("overrides, fragment", [
    ({"objectives": "five"}, "[TRAIN] objectives: expected an integer 1-4, got 'five'"),
    ({"objectives": "5"}, "[TRAIN] objectives: expected an integer 1-4, got '5'"),
    ({"r1": "0"}, "[TRAIN] r1: expected an integer >= 1, got '0'"),
    ({"flops": "-3"}, "[TRAIN] flops: expected a positive number"),
    ({"debug": "maybe"}, "[TRAIN] debug: expected true or false, got 'maybe'"),
    ({"quant_scheme": "int4"}, "[TRAIN] quant_scheme: expected one of post|dynamic|both|none, got 'int4'"),
    ({"name": "../up"}, "[TRAIN] name: expected a folder name"),
    ({"device": "gameboy"}, "[TRAIN] device: expected empty (use flops, bandwidth) or one of K80"),
    ({"colour": "red"}, "[TRAIN] colour: unknown key; expected one of"),
])
def test_bad_value_names_file_section_key_allowed_and_given(config_file, overrides, fragment):
    path = config_file(train=overrides)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_missing_key_and_section_and_file(config_file, tmp_path):
    with pytest.raises(ConfigError, match=r"\[TRAIN\] epochs2: missing; expected an integer >= 1"):
        load_config(config_file(drop=("epochs2",)))
    with pytest.raises(ConfigError, match=r"\[TEST\] epochs: missing"):
        load_config(config_file(drop=("epochs",)))
    bare = tmp_path / "bare.ini"
    bare.write_text("[DEFAULT]\ntrain = true\n")
    with pytest.raises(ConfigError, match=r"\[TRAIN\]: section missing"):
        load_config(bare)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.ini")


def test_unknown_section_and_broken_syntax(tmp_path, config_file):
    path = config_file()
    path.write_text(path.read_text() + "[EXTRA]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"\[EXTRA\]: unknown section"):
        load_config(path)
    path.write_text("this is not ini")
    with pytest.raises(ConfigError, match="not a valid ini file"):
        load_config(path)


@pytest.mark.parametrize("overrides, fragment", [
    ({"objectives": "five"}, "objectives: expected an integer 1-4, got 'five'"),
    ({"dataset": "imagenet"}, "[TRAIN] dataset: expected one of digits|mnist|cifar10|cifar2"),
    ({"example": "nosuch"},
     "[TRAIN] example: expected one of cnn, mcu, mlp, sequence or a path to your own .py file"),
    ({"example": "mine.py"}, "mine.py not found"),
    ({"dataset": "mnist", "data_dir": "nowhere"}, "[TRAIN] data_dir: expected empty or an existing folder"),
    ({"dataset": "mnist", "data_dir": "empty"}, "[TRAIN] data_dir:"),
    ({"splitter": "true"}, "[TRAIN] splitter: expected false (cnn.py defines no prepare"),
])
def test_cli_prints_one_line_exits_2_and_writes_nothing(config_file, capsys, overrides, fragment):
    path = config_file(train=overrides)
    (path.parent / "empty").mkdir()
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (path.parent / "results").exists()


def test_example_file_missing_pieces_are_named(config_file, tmp_path, capsys):
    example = tmp_path / "mine.py"
    example.write_text("SPACE = []\n")
    path = config_file(train={"example": str(example)})
    assert main(["--config", str(path)]) == 2
    assert "missing build, load_data" in capsys.readouterr().err


@pytest.mark.parametrize("section, key, value, fragment", [
    ("RAY", "address", "somewhere", "[RAY] address: expected empty (the worker process), local, auto, host:port"),
    ("RAY", "callbacks", "mlflow, comet", "[RAY] callbacks: expected empty or comma-separated names among "
                                          "mlflow|wandb, got 'mlflow, comet'"),
    ("RAY", "max_concurrent", "0", "[RAY] max_concurrent: expected an integer >= 1, got '0'"),
    ("RAY", "gpus_per_trial", "-1", "[RAY] gpus_per_trial: expected a number >= 0, got '-1'"),
    ("MORPHNET", "algorithm", "l0", "[MORPHNET] algorithm: expected one of gamma|group_lasso|gates, got 'l0'"),
    ("MORPHNET", "target", "energy", "[MORPHNET] target: expected one of flops|size|latency|memory"),
    ("MORPHNET", "finetune_epochs", "x", "[MORPHNET] finetune_epochs: expected an integer >= 0"),
])
def test_optional_sections_are_validated(config_file, section, key, value, fragment):
    path = config_file()
    path.write_text(path.read_text() + f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert fragment in str(caught.value)


def test_optional_sections_default_when_absent(config_file):
    settings = load_config(config_file())
    assert settings.ray.address == "" and not settings.ray.enabled and settings.ray.max_failures == 1
    assert settings.morphnet.algorithm == "gamma" and settings.morphnet.target == "flops"
    assert settings.morphnet.log_dir is None


def with_ray(config_file, **keys) -> Path:
    path = config_file()
    path.write_text(path.read_text() + "[RAY]\naddress = local\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return path


def test_a_ray_client_address_needs_the_ray_client_package(config_file, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    # as on a machine with Ray but not ray[client] (this one: grpcio is not installed)
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: None if module == "grpc" else find_spec(module, *a))
    path = config_file()
    path.write_text(path.read_text() + "[RAY]\naddress = ray://head:10001\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path} [RAY] address: ray://… connects through the Ray Client, which needs "
                                 'pip install "ray[client]" (grpcio is not installed), got \'ray://head:10001\'; '
                                 "or give the head's GCS address, HEAD_IP:6379")
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: object())
    assert load_config(path).ray.address == "ray://head:10001"


def test_storage_path_is_a_folder_relative_to_the_config_or_a_uri(config_file, tmp_path):
    assert load_config(config_file()).ray.storage_path == ""
    assert load_config(with_ray(config_file, storage_path="tune/runs")).ray.storage_path == str(tmp_path / "tune" / "runs")
    assert load_config(with_ray(config_file, storage_path="/shared/tune")).ray.storage_path == "/shared/tune"
    assert load_config(with_ray(config_file, storage_path="file:///shared/tune")).ray.storage_path == "/shared/tune"
    assert load_config(with_ray(config_file, storage_path="s3://bucket/tune")).ray.storage_path == "s3://bucket/tune"


@pytest.mark.parametrize("name", ["mlflow", "wandb"])
def test_a_tune_callback_names_its_missing_package(config_file, monkeypatch, name):
    import importlib.util

    find_spec = importlib.util.find_spec
    # as on a machine without the package (and, where it is installed, the key is accepted)
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: None if module == name else find_spec(module, *a))
    with pytest.raises(ConfigError) as caught:
        load_config(with_ray(config_file, callbacks=f"{name}, {name}"))
    assert str(caught.value).endswith(f"[RAY] callbacks: {name} needs the {name} package, which is not "
                                      f"installed (pip install {name}), got '{name}'")
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: object())
    assert load_config(with_ray(config_file, callbacks=f"{name}, {name}")).ray.callbacks == (name,)


def test_expand_target_and_budget_come_together(config_file):
    with pytest.raises(ConfigError, match=r"\[TEST\] expand_budget: expected a number when expand_target is set"):
        load_config(config_file(test={"expand_target": "flops"}))
    with pytest.raises(ConfigError, match=r"\[TEST\] expand_target: expected empty or one of flops"):
        load_config(config_file(test={"expand_target": "joules", "expand_budget": "3"}))
    assert load_config(config_file(test={"expand_target": "size", "expand_budget": "2e3"})).test.expand_budget == 2e3


def one_line_exit_2(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_example_file_with_a_syntax_error_is_one_line(config_file, tmp_path, capsys):
    example = tmp_path / "broken.py"
    example.write_text("SPACE = [\n\ndef build(:\n")
    err = one_line_exit_2(["--config", str(config_file(train={"example": str(example)}))], capsys)
    assert f"[TRAIN] example: {example}:3: SyntaxError" in err


def test_example_file_raising_on_import_is_one_line(config_file, tmp_path, capsys):
    example = tmp_path / "raising.py"
    example.write_text("import no_such_module_anywhere\n")
    err = one_line_exit_2(["--config", str(config_file(train={"example": str(example)}))], capsys)
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in err


def test_non_utf8_config_is_one_line(config_file, capsys):
    path = config_file()
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    err = one_line_exit_2(["--config", str(path)], capsys)
    assert f"{path}: expected a UTF-8 text file, found byte 0xe9" in err


def test_a_folder_given_as_config_is_named_as_a_folder(tmp_path, capsys):
    err = one_line_exit_2(["--config", str(tmp_path)], capsys)
    assert f"{tmp_path}: is a folder; expected a config file" in err


# Every numeric key, its tightest accepted values and the nearest refused ones (by hand, from
# README's config tables), so a bound that moves or a check that goes missing fails here.
BOUNDS = {
    ("TRAIN", "r1"): (["1"], ["0"]), ("TRAIN", "r2"): (["0"], ["-1"]), ("TRAIN", "r3"): (["0"], ["-1"]),
    ("TRAIN", "epochs1"): (["1"], ["0"]), ("TRAIN", "epochs2"): (["1"], ["0"]),
    ("TRAIN", "epochs3"): (["1"], ["0"]), ("TRAIN", "objectives"): (["1", "4"], ["0", "5"]),
    ("TRAIN", "batch_size"): (["1"], ["0"]), ("TRAIN", "flops"): (["1e-300"], ["0", "-1", "inf"]),
    ("TRAIN", "seed"): (["0"], ["-1"]), ("TRAIN", "bandwidth"): (["1e-300"], ["0", "-1", "inf"]),
    ("TRAIN", "calibration_batches"): (["1"], ["0"]), ("TRAIN", "threads"): (["1"], ["0"]),
    ("TRAIN", "candidates"): (["1"], ["0"]), ("TRAIN", "tolerance"): (["0"], ["-1e-9", "inf"]),
    ("TRAIN", "patience"): (["1"], ["0"]), ("TRAIN", "grace_epochs"): (["1"], ["0"]),
    ("TRAIN", "reduction_factor"): (["2"], ["1"]), ("TRAIN", "augment_shift"): (["0", "8"], ["-1", "9"]),
    ("RAY", "max_concurrent"): (["1"], ["0"]), ("RAY", "cpus_per_trial"): (["1e-3"], ["0", "-1"]),
    ("RAY", "gpus_per_trial"): (["0"], ["-1e-3"]), ("RAY", "max_failures"): (["0"], ["-1"]),
    ("MORPHNET", "threshold"): (["1e-9"], ["0"]), ("MORPHNET", "strength"): (["1e-9"], ["0"]),
    ("MORPHNET", "finetune_epochs"): (["0"], ["-1"]),
    ("TEST", "objectives"): (["1", "4"], ["0", "5"]), ("TEST", "epochs"): (["1"], ["0"]),
    ("TEST", "expand_budget"): (["1e-9"], ["0", "-1"]), ("TEST", "seed"): (["0"], ["-1"]),
    ("TEST", "augment_shift"): (["0", "8"], ["-1", "9"]),
}
NOT_NUMERIC = {("DEFAULT", "train"), *(("TRAIN", k) for k in (
    "name", "root", "debug", "quant_scheme", "morphisms", "pruning", "splitter", "example",
    "dataset", "data_dir", "device", "constraints", "early_stopping", "schedule")), ("RAY", "address"),
    ("RAY", "storage_path"), ("RAY", "callbacks"),
    ("MORPHNET", "algorithm"), ("MORPHNET", "target"), ("MORPHNET", "log_dir"),
    *(("TEST", k) for k in ("pruning", "splitter", "quant_scheme", "name", "root", "arm", "expand_target",
                            "schedule", "export"))}


def test_every_key_is_either_bound_checked_or_not_numeric():
    from sparsemod.config import SCHEMA

    assert {(section, key.name) for section, keys in SCHEMA.items() for key in keys} == set(BOUNDS) | NOT_NUMERIC


def with_value(config_file, section: str, key: str, value: str) -> Path:
    extra = {"expand_target": "flops"} if key == "expand_budget" else {}
    if section in ("TRAIN", "TEST"):
        return config_file(**{section.lower(): {key: value, **extra}})
    path = config_file()
    path.write_text(path.read_text() + f"[{section}]\n{key} = {value}\n")
    return path


@pytest.mark.parametrize("section, key", sorted(BOUNDS))
def test_numeric_bounds_on_both_sides(config_file, section, key):
    accepted, refused = BOUNDS[(section, key)]
    for value in accepted:
        settings = load_config(with_value(config_file, section, key, value))
        part = {"TRAIN": settings.search, "TEST": settings.test, "RAY": settings.ray,
                "MORPHNET": settings.morphnet}[section]
        assert getattr(part, key) == float(value)
    for value in refused:
        with pytest.raises(ConfigError, match=rf"\[{section}\] {key}: expected .*, got '{value}'"):
            load_config(with_value(config_file, section, key, value))


def test_device_profile_path_resolves_and_reaches_the_trials(config_file):
    from sparsemod.cli import trial_config
    from sparsemod.costs import DeviceProfile, KindModel
    from sparsemod.costs.profile import CALIBRATED_KINDS

    path = config_file(train={"device": "profiles/cpu.json"})
    (path.parent / "profiles").mkdir()
    profile = DeviceProfile("cpu", 1e-5, {kind: KindModel(1e-6, 1e-10, 1e-11) for kind in CALIBRATED_KINDS})
    profile.save(path.parent / "profiles" / "cpu.json")
    settings = load_config(path)
    assert settings.search.device == str(path.parent / "profiles" / "cpu.json")
    assert trial_config(settings).device == profile


def test_missing_device_profile_is_one_line_exit_2(config_file, capsys):
    path = config_file(train={"device": "cpu.json"})
    with pytest.raises(ConfigError, match=r"\[TRAIN\] device: .*cpu.json: device profile not found"):
        load_config(path)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "device profile not found" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_device_names_match_the_cost_model_presets():
    from sparsemod.config import DEVICE_NAMES
    from sparsemod.costs import DEVICES

    assert set(DEVICE_NAMES) == set(DEVICES)


def test_relative_example_resolves_against_the_config_folder(tmp_path, monkeypatch):
    from sparsemod.problem import load_problem

    project = tmp_path / "project"
    project.mkdir()
    (project / "mine.py").write_text((REPO / "examples" / "cnn.py").read_text())
    path = write_config(project, train={"example": "mine.py"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a relative path must not depend on where main.py is started
    settings = load_config(path)
    assert Path(settings.search.example) == project / "mine.py"
    assert load_problem(settings.search.example).source == project / "mine.py"
    assert load_config(write_config(project, train={"example": "cnn"})).search.example == "cnn"


def test_a_search_needs_no_test_section_and_test_checks_run_in_test_mode(tmp_path, capsys):
    """[TRAIN] splitter = true with no [TEST]: the search runs; the [TEST] mode asks for its
    section, and a [TEST] splitter that contradicts [TRAIN] is refused there only."""
    path = write_config(tmp_path, train={"example": "sequence", "dataset": "synthetic",
                                         "splitter": "true", "r1": "1", "r2": "0"})
    search_only = path.read_text().split("[TEST]")[0]
    path.write_text(search_only)
    assert load_config(path).test is None
    assert main(["--config", str(path)]) == 0
    capsys.readouterr()
    assert main(["test", "--config", str(path)]) == 2
    assert "[TEST]: section missing; the [TEST] mode needs it" in capsys.readouterr().err
    path.write_text(search_only + "[TEST]\nepochs = 1\n")
    test = load_config(path).test
    assert test.splitter is True and test.name == "run" and test.arm == ""  # from [TRAIN]
    path.write_text(search_only + "[TEST]\nepochs = 1\nsplitter = false\n")
    assert main(["test", "--config", str(path)]) == 2
    assert "[TEST] splitter: expected true (as [TRAIN] splitter" in capsys.readouterr().err


# main.py's start-up: a config error is reported before torch, Ax or Ray is imported.
PROBE = """
import sys
from sparsemod.cli import main
code = main(["--config", sys.argv[1]])
print(code, sorted(m for m in ("torch", "ax", "botorch", "ray", "pandas") if m in sys.modules))
"""


def test_config_error_exits_2_with_no_heavy_library_loaded(tmp_path):
    bad = write_config(tmp_path, train={"objectives": "five"})
    done = subprocess.run([sys.executable, "-c", PROBE, str(bad)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr
    assert done.stderr.strip() == f"error: {bad} [TRAIN] objectives: expected an integer 1-4, got 'five'"


@pytest.mark.parametrize("overrides, fragment", [
    ({"early_stopping": "asha"}, "[TRAIN] early_stopping: expected one of none|moasha|moasha_front, got 'asha'"),
    ({"grace_epochs": "0"}, "[TRAIN] grace_epochs: expected an integer >= 1, got '0'"),
    ({"reduction_factor": "1"}, "[TRAIN] reduction_factor: expected an integer >= 2, got '1'"),
])
def test_early_stopping_keys_are_validated(config_file, capsys, overrides, fragment):
    path = config_file(train=overrides)
    assert main(["--config", str(path)]) == 2
    assert f"{path} {fragment}" in capsys.readouterr().err
    assert not (path.parent / "results").exists()


def test_early_stopping_defaults_and_values(config_file):
    # the defaults the 40-trial benchmark chose (README, docs/benchmarks.md)
    default = load_config(config_file(drop=("early_stopping",))).search
    assert (default.early_stopping, default.grace_epochs, default.reduction_factor) == ("moasha_front", 1, 2)
    assert load_config(config_file()).search.early_stopping == "none"
    settings = load_config(config_file(train={"early_stopping": "moasha", "grace_epochs": "2",
                                              "reduction_factor": "4"})).search
    assert (settings.early_stopping, settings.grace_epochs, settings.reduction_factor) == ("moasha", 2, 4)


@pytest.mark.parametrize("section, overrides, fragment", [
    ("train", {"schedule": "step"}, "[TRAIN] schedule: expected one of constant|cosine, got 'step'"),
    ("test", {"schedule": "linear"}, "[TEST] schedule: expected one of constant|cosine, got 'linear'"),
    ("train", {"augment_shift": "two"}, "[TRAIN] augment_shift: expected an integer 0-8, got 'two'"),
    ("test", {"augment_shift": "9"}, "[TEST] augment_shift: expected an integer 0-8, got '9'"),
    ("test", {"export": "tflite, onnx"}, "[TEST] export: expected empty or comma-separated names among "
                                         "tflite|executorch, got 'tflite, onnx'"),
])
def test_training_recipe_keys_are_validated(config_file, capsys, section, overrides, fragment):
    path = config_file(**{section: overrides})
    assert main(["--config", str(path)]) == 2
    assert f"{path} {fragment}" in capsys.readouterr().err


def test_training_recipe_defaults_and_test_inherits_the_shift(config_file):
    settings = load_config(config_file())
    assert (settings.search.schedule, settings.search.augment_shift) == ("constant", 0)
    assert (settings.test.schedule, settings.test.augment_shift) == ("cosine", 0)  # [TEST]: as before
    settings = load_config(config_file(train={"schedule": "cosine", "augment_shift": "2"},
                                       test={"schedule": "constant"}))
    assert (settings.search.schedule, settings.search.augment_shift) == ("cosine", 2)
    assert (settings.test.schedule, settings.test.augment_shift) == ("constant", 2)
    settings = load_config(config_file(train={"augment_shift": "2"}, test={"augment_shift": "1"}))
    assert settings.test.augment_shift == 1
