"""Do morphism rounds pay? On MNIST (../shared/data/mnist, seeded 8k / 1k / 1k split):

- every morph child trained ``epochs3`` epochs from its parent's inherited weights vs the
  same child architecture trained ``epochs3`` epochs from scratch (mean validation error);
- the hypervolume (error, model size, working memory; reference 1.0, 64 KiB, 64 KiB) after
  the Sobol + GP trials vs after the morphism rounds too.

    python benchmarks/morphisms.py [--r1 6] [--r2 3] [--r3 3] [--epochs 2] [--limit 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from search_quality import OBJECTIVES, REFERENCE, write_setup  # noqa: E402

from sparsemod.cli import main as sparsemod_main  # noqa: E402
from sparsemod.costs import Device  # noqa: E402
from sparsemod.front.hypervolume import hypervolume  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.trial.job import TrialConfig, TrialJob, trial_seed  # noqa: E402
from sparsemod.trial.run import run_trial  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--r1", type=int, default=6)
    parser.add_argument("--r2", type=int, default=3)
    parser.add_argument("--r3", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs1 = epochs2 = epochs3")
    parser.add_argument("--limit", type=int, default=2000, help="MNIST training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_setup(folder, args, args.seed, "run", args.r1, args.r2, args.r3)
        with contextlib.redirect_stdout(io.StringIO()):
            assert sparsemod_main(["--config", str(config)]) == 0
        trials = pd.read_csv(folder / "run" / "trials.csv").sort_values("index")
        problem = load_problem(folder / "mnist_cnn.py")
        data = problem.load_data("mnist", args.data_dir, args.seed)
        trial_config = TrialConfig("post", 8, Device(1e9), 1, False)
        morph = trials[(trials["phase"] == "morph") & (trials["status"] == "completed")]
        parameter_names = [p.name for p in problem.space]
        scratch = []
        for _, row in morph.iterrows():
            params = {name: _native(row[name]) for name in parameter_names}
            job = TrialJob(int(row["index"]), str(row["arm"]), "scratch", params, args.epochs,
                           trial_seed(args.seed, int(row["index"])))
            scratch.append(run_trial(job, problem, data, trial_config).metrics.get("error", np.nan))

    def hv(frame: pd.DataFrame) -> float:
        done = frame[frame["status"] == "completed"]
        return hypervolume(done[OBJECTIVES].to_numpy(dtype=float) / REFERENCE, np.ones(3))

    before = hv(trials[trials["phase"] != "morph"])
    after = hv(trials)
    print(f"MNIST {args.limit} training images, {args.epochs} epochs per trial, "
          f"r1={args.r1}, r2={args.r2}x2, r3={args.r3}x2, seed {args.seed}")
    for (_, row), fresh in zip(morph.iterrows(), scratch):
        print(f"  child {row['arm']} of {row['parent']} ({row['operators']}): validation error "
              f"inherited {100 * row['error']:.2f}%, from scratch {100 * fresh:.2f}%")
    print(f"morph children: mean validation error inherited {100 * morph['error'].mean():.2f}% "
          f"vs from scratch {100 * np.nanmean(scratch):.2f}% ({len(morph)} children)")
    print(f"hypervolume after Sobol + GP {before:.4f}; after the morphism rounds too {after:.4f} "
          f"({after / before:.3f}x)")
    print(json.dumps({"inherited": float(morph["error"].mean()), "scratch": float(np.nanmean(scratch)),
                      "hv_before": before, "hv_after": after}))


def _native(value):
    return value.item() if hasattr(value, "item") else value


if __name__ == "__main__":
    main()
