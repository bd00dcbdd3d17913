"""``python -m sparsemod.zoo``: shrink a standard architecture with MorphNet.

Trains the model with the regularizer, writes the learned structure every
``--checkpoint-every`` epochs (``{log-dir}/learned_structure/alive_{step}.json``, the alive
channels per layer before and now, as morph-net's model zoo does), prunes it to a physically
smaller model, fine-tunes it (or retrains it from scratch with ``--retrain``) and prints a
before / after table.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import NoReturn

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from sparsemod import costs
from sparsemod.data import DataBundle, DataError, load_cifar, load_digits, load_mnist
from sparsemod.morphnet import ALGORITHMS, TARGETS, ResourceRegularizer, prune
from sparsemod.morphnet.tensorboard import StructureLog
from sparsemod.trial.train import accuracy, train
from sparsemod.zoo import INPUT_SIDE, MODELS, build, from_structure

DATASETS = ("cifar10", "mnist", "digits")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # a bad choice: one line, exit 2
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m sparsemod.zoo", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(MODELS), required=True)
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="gamma",
                        help="gates uses the model's FiGS-gated variant")
    parser.add_argument("--target", choices=TARGETS, default="flops")
    parser.add_argument("--hardware", choices=list(costs.DEVICES), default="V100",
                        help="device for the latency target and the latency column")
    parser.add_argument("--strength", type=float, default=1e-9,
                        help="raw regularization strength, as in morph-net's model zoo")
    parser.add_argument("--threshold", type=float, default=1e-2)
    parser.add_argument("--epochs", type=int, default=10, help="epochs with the regularizer")
    parser.add_argument("--finetune", type=int, default=2, help="epochs after pruning")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain the pruned structure from scratch instead of fine-tuning")
    parser.add_argument("--dataset", choices=DATASETS, default="cifar10")
    parser.add_argument("--data-dir", type=Path, help="CIFAR-10 pickles or MNIST IDX files")
    parser.add_argument("--limit", type=int, help="use only this many training images")
    parser.add_argument("--log-dir", type=Path, default=Path("zoo_logs"))
    parser.add_argument("--checkpoint-every", type=int, default=1, help="epochs between structures")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def to_32(data: DataBundle, limit: int | None) -> DataBundle:
    """Pad (MNIST 28 → 32) or upscale (digits 8 → 32) to the zoo's 32x32 inputs."""
    def convert(dataset: Dataset, cap: int | None = None) -> TensorDataset:
        assert isinstance(dataset, TensorDataset), "sparsemod.data's image sets are TensorDatasets"
        x, y = dataset.tensors
        x, y = (x[:cap], y[:cap]) if cap else (x, y)
        side = x.shape[-1]
        if side < INPUT_SIDE and INPUT_SIDE % side == 0 and side <= 16:
            x = F.interpolate(x, scale_factor=INPUT_SIDE // side, mode="nearest")
        elif side < INPUT_SIDE:
            pad = (INPUT_SIDE - side) // 2
            x = F.pad(x, (pad, INPUT_SIDE - side - pad) * 2, value=float(x.min()))
        return TensorDataset(x, y)

    return DataBundle(convert(data.train, limit), convert(data.val), convert(data.test),
                      (data.input_shape[0], INPUT_SIDE, INPUT_SIDE), data.num_classes)


def load(args: argparse.Namespace) -> DataBundle:
    if args.dataset == "digits":
        return to_32(load_digits(args.seed), args.limit)
    if args.dataset == "mnist":
        return to_32(load_mnist(args.data_dir, args.seed), args.limit)
    return to_32(load_cifar(args.data_dir, args.seed), args.limit)


def describe(model: torch.nn.Module, example: torch.Tensor, device: costs.Device) -> dict:
    flops = costs.flops_per_layer(model, example)
    trace = costs.trace_activations(model, example)
    return {"flops": sum(flops.values()), "parameters": sum(p.numel() for p in model.parameters()),
            "model_size": costs.model_size(model),
            "latency": costs.latency(flops, device, costs.layer_traffic(model, trace))}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    warnings.filterwarnings("ignore")
    try:
        data = load(args)
    except DataError as error:
        print(f"python -m sparsemod.zoo: error: {error}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    gates = args.algorithm == "gates"
    model = build(args.model, data.num_classes, data.input_shape[0], gates)
    example = torch.zeros(1, *data.input_shape)
    device = costs.DEVICES[args.hardware]
    reg = ResourceRegularizer(model, example, args.algorithm, args.target, args.threshold, device=device)
    before_counts, before = reg.alive_counts(), describe(model, example, device)
    structures = args.log_dir / "learned_structure"
    structures.mkdir(parents=True, exist_ok=True)
    log = StructureLog(args.log_dir, reg)
    steps_per_epoch = -(-len(data.train) // args.batch_size)  # type: ignore[arg-type]  # to_32's TensorDataset
    params = {"lr": args.lr, "batch_size": args.batch_size}

    def on_step(penalty: float) -> None:
        log.step(penalty)
        if log.steps % (steps_per_epoch * args.checkpoint_every) == 0:
            (structures / f"alive_{log.steps:06d}.json").write_text(
                json.dumps({"before": before_counts, "after": reg.alive_counts()}, indent=2))

    train(model, data.train, params, args.epochs, args.seed,
          penalty=lambda: args.strength * reg.regularization_term(), on_step=on_step)
    structure = {"before": before_counts, "after": reg.alive_counts()}
    (structures / "final.json").write_text(json.dumps(structure, indent=2))
    log.close(structure["after"])
    regularized_accuracy = accuracy(model, data.test)
    if args.retrain:
        torch.manual_seed(args.seed + 1)
        small = from_structure(args.model, structure, data.num_classes, data.input_shape[0], gates)
        train(small, data.train, params, args.epochs + args.finetune, args.seed + 1, schedule="cosine")
    else:
        small = prune(model, reg, example)
        train(small, data.train, params, args.finetune, args.seed + 1)
    after = describe(small, example, device)
    print(table(args, structure, before, after, regularized_accuracy, accuracy(small, data.test)))
    return 0


def table(args, structure: dict, before: dict, after: dict, acc_before: float, acc_after: float) -> str:
    lines = [f"{args.model} · {args.algorithm} · target {args.target} · {args.hardware} · "
             f"strength {args.strength:g} · {args.epochs} epochs (+{args.finetune}"
             f"{', retrained from scratch' if args.retrain else ' fine-tune'}) on {args.dataset}",
             f"{'layer':28s} {'before':>7s} {'after':>7s}"]
    lines += [f"{layer:28s} {count:7d} {structure['after'][layer]:7d}"
              for layer, count in structure["before"].items()]
    rows = [("FLOPs", before["flops"], after["flops"], "{:,.0f}"),
            ("parameters", before["parameters"], after["parameters"], "{:,.0f}"),
            ("model size (KB, float32)", before["model_size"] / 1024, after["model_size"] / 1024, "{:.1f}"),
            (f"latency on {args.hardware} (µs)", before["latency"] * 1e6, after["latency"] * 1e6, "{:.3f}"),
            ("test accuracy (%)", 100 * acc_before, 100 * acc_after, "{:.2f}")]
    lines.append(f"{'':28s} {'before':>14s} {'after':>14s} {'ratio':>7s}")
    for name, b, a, fmt in rows:
        lines.append(f"{name:28s} {fmt.format(b):>14s} {fmt.format(a):>14s} {a / b if b else 0:7.3f}")
    lines.append("(test accuracy 'before' is the regularized network before pruning)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
