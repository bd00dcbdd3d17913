"""Seconds from launch to a config error, against the import that used to come before it.

(a) ``python main.py --config bad.ini`` with a bad value: the one-line error and exit 2;
(b) ``python -c "import sparsemod.search.loop, sparsemod.executors.local"``: torch, Ax and Ray, which
``main.py`` loaded before reading the file until the config was validated first.
Each is a fresh interpreter, run ``--runs`` times, alternating; medians are printed.

    python benchmarks/config_error.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def seconds(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - start, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "bad.ini"
        bad.write_text((REPO / "config.ini").read_text().replace("objectives = 3", "objectives = five"))
        error_command = [sys.executable, str(REPO / "main.py"), "--config", str(bad)]
        import_command = [sys.executable, "-c", "import sparsemod.search.loop, sparsemod.executors.local"]
        errors, imports = [], []
        for _ in range(args.runs):
            elapsed, done = seconds(error_command)
            assert done.returncode == 2 and "objectives" in done.stderr, done.stderr
            errors.append(elapsed)
            imports.append(seconds(import_command)[0])
    print(f"error line: {done.stderr.strip()}")
    print(f"(a) config error, exit 2:          median {statistics.median(errors):.2f} s "
          f"(min {min(errors):.2f}, max {max(errors):.2f})")
    print(f"(b) torch + Ax + Ray imports only: median {statistics.median(imports):.2f} s "
          f"(min {min(imports):.2f}, max {max(imports):.2f})")


if __name__ == "__main__":
    main()
