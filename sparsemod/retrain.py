"""The [TEST] mode: retrain a chosen Pareto arm from scratch, test it, export it.

MorphNet's advice: the learned structure is kept, the weights are not — the arm is rebuilt
(its parameters, shrunk to its ``structure.json`` when ``pruning = true``), optionally
widened by one multiplier to the largest network under a budget (the expand step),
trained from scratch (by default with a cosine schedule; ``augment_shift``: on randomly
shifted images), quantized, measured, and evaluated on the
**test** split, which the search never saw.  Writes ``{root}/{name}/test/{arm}.json`` and the
deployable TorchScript / ONNX files beside it; with ``export = tflite, executorch`` also the
microcontroller runtimes' files, each run under its runtime (:mod:`sparsemod.deploy.check`).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from sparsemod.config import OBJECTIVES, ConfigError, Settings
from sparsemod.data import DataBundle
from sparsemod.deploy.check import deploy
from sparsemod.deploy.host import export
from sparsemod.morphnet import apply_structure
from sparsemod.morphnet.expand import expand
from sparsemod.morphnet.groups import OPS
from sparsemod.problem import Problem
from sparsemod.quantize import quantize
from sparsemod.report.units import human
from sparsemod.store.results import atomic_write_text
from sparsemod.trial.checks import check_runs
from sparsemod.trial.job import TrialConfig, trial_seed
from sparsemod.trial.measure import measure
from sparsemod.trial.train import accuracy, loader, train


def available_arms(folder: Path) -> list[str]:
    models = folder / "models"
    return sorted(p.name for p in models.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if models.is_dir() else []


def locate_arm(settings: Settings, arm: str) -> Path:
    """The arm's model folder, or a ConfigError naming the folder and the available arms."""
    assert settings.test is not None, "check_test_mode ran: a [TEST] section is there"
    folder = settings.test.root / settings.test.name
    arms = available_arms(folder)
    where = f"{settings.path} [TEST]"
    if not arms:
        raise ConfigError(f"{where} name/root: {folder} holds no search results (no models/); "
                          "run a search first or point [TEST] name and root at one")
    if arm not in arms:
        raise ConfigError(f"{where} arm: expected one of {', '.join(arms)} (the Pareto arms in "
                          f"{folder / 'models'}), got {arm!r}")
    return folder / "models" / arm


def retrain_arm(settings: Settings, problem: Problem, data: DataBundle, arm: str,
                trial_config: TrialConfig) -> dict:
    test = settings.test
    assert test is not None, "check_test_mode ran: a [TEST] section is there"
    model_dir = locate_arm(settings, arm)
    params = json.loads((model_dir / "params.json").read_text())
    if problem.prepare is not None:
        data = problem.prepare(data, params, test.splitter)
    seed = trial_seed(test.seed, 0)
    torch.manual_seed(seed)
    model = problem.build(params, data.input_shape, data.num_classes)
    example = check_runs(model, data.input_shape)
    structure_file = model_dir / "structure.json"
    if test.pruning:
        if not structure_file.exists():
            raise ConfigError(f"{settings.path} [TEST] pruning: arm {arm} was not pruned (no "
                              "structure.json); set pruning = false")
        model = apply_structure(model, example, structure_file)
    multiplier = 1.0
    if test.expand_target and test.expand_budget is not None:  # the config sets both or neither
        try:
            model, multiplier = expand(model, example, test.expand_target, test.expand_budget,
                                       trial_config.device)
        except ValueError as error:
            raise ConfigError(f"{settings.path} [TEST] expand_budget: {error}") from None
    start = time.perf_counter()
    train(model, data.train, params, test.epochs, seed, data.collate_fn, schedule=test.schedule,
          shift=test.augment_shift)
    train_seconds = time.perf_counter() - start
    calibration = [x for x, _ in loader(data.train, 64, shuffle=True, seed=seed,
                                         collate_fn=data.collate_fn)][:trial_config.calibration_batches]
    config = replace(trial_config, quant_scheme=test.quant_scheme)
    deployed = quantize(model, test.quant_scheme, calibration, example)
    metrics, extras = measure(model, deployed, example, data, config)
    stem = model_dir.parent.parent / "test" / arm
    files = export(deployed, example, stem)
    measured = {"test_accuracy": extras["test_accuracy"], **metrics}
    runtimes = [deploy(runtime, model, calibration, example,
                       lambda: loader(data.test, 256, collate_fn=data.collate_fn), stem, measured,
                       settings.search.debug)
                for runtime in test.export]
    report = {
        "arm": arm, "params": params, "pruned": test.pruning, "width_multiplier": multiplier,
        "epochs": test.epochs, "schedule": test.schedule,
        "augment_shift": test.augment_shift, "quant_scheme": test.quant_scheme, "train_seconds": train_seconds,
        "test_error": 1.0 - extras["test_accuracy"],
        "float_test_error": 1.0 - accuracy(model, data.test, data.collate_fn),
        "val_error": metrics["error"], **{k: v for k, v in metrics.items() if k != "error"}, **extras,
        "structure": layer_widths(model),
        "torchscript": str(files.torchscript), "torchscript_bytes": files.torchscript_bytes,
        "onnx": str(files.onnx) if files.onnx else None, "onnx_bytes": files.onnx_bytes,
        "onnx_error": files.onnx_error, "runtimes": runtimes,
    }
    atomic_write_text(stem.with_name(f"{arm}.json"), json.dumps(report, indent=2))
    return report


def layer_widths(model: torch.nn.Module) -> dict[str, int]:
    """Output channels of every conv / linear layer."""
    return {name: m.out_channels if isinstance(m, OPS[:2]) else m.out_features
            for name, m in model.named_modules() if isinstance(m, OPS)}


def summary(report: dict, objectives: int) -> str:
    """The table printed at the end of a [TEST] run."""
    rows = [("test error", f"{100 * report['test_error']:.2f} %"),
            ("float test error", f"{100 * report['float_test_error']:.2f} %")]
    for name in OBJECTIVES[1:objectives]:
        rows.append((name.replace("_", " "), human(name, report[name])))
    rows += [("width multiplier", f"{report['width_multiplier']:.3g}"),
             ("TorchScript file", f"{human('model_size', report['torchscript_bytes'])} "
                                  f"(model size {human('model_size', report['model_size'])})")]
    if report["onnx"]:
        rows.append(("ONNX file", human("model_size", report["onnx_bytes"])))
    else:
        rows.append(("ONNX", f"not written: {report['onnx_error']}"))
    for run in report.get("runtimes", []):
        rows.append((f"{run['runtime']} file", runtime_line(run)))
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"arm {report['arm']} retrained {report['epochs']} epochs, {report['quant_scheme']}"]
                     + [f"  {k:<{width}}  {v}" for k, v in rows])


def runtime_line(run: dict) -> str:
    """One runtime's check beside sparsemod's figures."""
    if "error" in run:
        return f"not written: {run['error']}"
    memory = ", ".join(f"{k} {human('working_memory', v)}" for k, v in run["memory"].items())
    return (f"{human('model_size', run['file_bytes'])}; under the runtime "
            f"{100 * run['runtime_test_accuracy']:.2f} % test accuracy (int8 here "
            f"{100 * run['test_accuracy']:.2f} %); {memory} (working memory "
            f"{human('working_memory', run['working_memory'])})")
