from pathlib import Path

import pytest

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
    with pytest.raises(ConfigError, match=r"\[TEST\] arm: missing"):
        load_config(config_file(drop=("arm",)))
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
    ({"example": "nosuch"}, "[TRAIN] example: example 'nosuch'"),
    ({"dataset": "mnist", "data_dir": "empty"}, "[TRAIN] data_dir:"),
    ({"splitter": "true"}, "[TEST] splitter: expected true (as [TRAIN] splitter"),
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
    ("RAY", "address", "somewhere", "[RAY] address: expected empty (in-process), local, auto, host:port"),
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


def test_expand_target_and_budget_come_together(config_file):
    with pytest.raises(ConfigError, match=r"\[TEST\] expand_budget: expected a number when expand_target is set"):
        load_config(config_file(test={"expand_target": "flops"}))
    with pytest.raises(ConfigError, match=r"\[TEST\] expand_target: expected empty or one of flops"):
        load_config(config_file(test={"expand_target": "joules", "expand_budget": "3"}))
    assert load_config(config_file(test={"expand_target": "size", "expand_budget": "2e3"})).test.expand_budget == 2e3


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
    assert load_config(config_file()).search.early_stopping == "none"
    settings = load_config(config_file(train={"early_stopping": "moasha", "grace_epochs": "2",
                                              "reduction_factor": "4"})).search
    assert (settings.early_stopping, settings.grace_epochs, settings.reduction_factor) == ("moasha", 2, 4)
