"""main.py's start-up: a config error is reported before torch, Ax or Ray is imported."""

import subprocess
import sys

from conftest import REPO, write_config

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
