"""MorphNet-FLOPs vs the seed network vs a uniformly thinner one, on MNIST.

(a) the seed CNN trained E epochs; (b) MorphNet (gamma, FLOPs target) trained E epochs with
the regularizer, pruned, fine-tuned F epochs; (c) the seed CNN shrunk by one width
multiplier to (b)'s FLOPs, trained E + F epochs.  Accuracy on the held-out test split.

    python benchmarks/morphnet.py [--data-dir ../shared/data/mnist] [--epochs 8] [--finetune 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sparsemod.costs import flops_per_layer  # noqa: E402
from sparsemod.data import load_mnist  # noqa: E402
from sparsemod.morphnet import ResourceRegularizer, prune  # noqa: E402
from sparsemod.trial.train import accuracy, train  # noqa: E402

SEED_WIDTHS = (32, 64, 64, 128)
PARAMS = {"lr": 3e-3, "batch_size": 64}


def cnn(widths: tuple[int, ...]) -> nn.Module:
    c1, c2, c3, fc = widths

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(*block(1, c1), nn.MaxPool2d(2), *block(c1, c2), nn.MaxPool2d(2),
                         *block(c2, c3), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(c3 * 4, fc), nn.BatchNorm1d(fc), nn.ReLU(), nn.Linear(fc, 10))


def flops(model: nn.Module) -> int:
    return sum(flops_per_layer(model, torch.zeros(1, 1, 28, 28)).values())


def uniform_to(target: float) -> tuple[nn.Module, float]:
    """The seed net times the width multiplier whose FLOPs are closest to ``target``."""
    low, high = 0.05, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if flops(cnn(tuple(max(1, round(w * middle)) for w in SEED_WIDTHS))) > target:
            high = middle
        else:
            low = middle
    return cnn(tuple(max(1, round(w * low)) for w in SEED_WIDTHS)), low


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--finetune", type=int, default=3)
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    data = load_mnist(args.data_dir, args.seed)
    example = torch.zeros(1, 1, 28, 28)
    rows = []

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    seed_net = cnn(SEED_WIDTHS)
    train(seed_net, data.train, PARAMS, args.epochs, args.seed)
    rows.append(("(a) seed", flops(seed_net), accuracy(seed_net, data.test), time.perf_counter() - start))

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    model = cnn(SEED_WIDTHS)
    reg = ResourceRegularizer(model, example, "gamma", "flops", threshold=0.01)
    strength = reg.strength(args.strength)
    train(model, data.train, PARAMS, args.epochs, args.seed, penalty=lambda: strength * reg.regularization_term())
    small = prune(model, reg, example)
    train(small, data.train, PARAMS, args.finetune, args.seed + 1)
    rows.append(("(b) MorphNet-FLOPs", flops(small), accuracy(small, data.test), time.perf_counter() - start))
    structure = reg.alive_counts()

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    thin, multiplier = uniform_to(rows[1][1])
    train(thin, data.train, PARAMS, args.epochs + args.finetune, args.seed)
    rows.append((f"(c) uniform x{multiplier:.2f}", flops(thin), accuracy(thin, data.test), time.perf_counter() - start))

    print(f"MNIST ({len(data.train)} train / {len(data.test)} test), {args.epochs} epochs "
          f"(+{args.finetune} fine-tune), strength multiplier {args.strength}")
    print(f"learned structure: {structure} (seed widths {SEED_WIDTHS})")
    print(f"{'network':24s} {'FLOPs':>10s} {'x seed':>7s} {'test acc':>9s} {'seconds':>8s}")
    for name, n_flops, acc, seconds in rows:
        print(f"{name:24s} {n_flops:10d} {n_flops / rows[0][1]:7.3f} {100 * acc:8.2f}% {seconds:8.1f}")
    print(f"(b) FLOPs / (a) = {rows[1][1] / rows[0][1]:.3f}; accuracy (b) - (a) = "
          f"{100 * (rows[1][2] - rows[0][2]):+.2f} points; (b) - (c) = {100 * (rows[1][2] - rows[2][2]):+.2f} points")


if __name__ == "__main__":
    main()
