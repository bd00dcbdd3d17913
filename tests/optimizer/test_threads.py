"""The optimizer's process runs one BLAS and one torch thread."""

from __future__ import annotations

import pytest
from conftest import REPO


def test_the_optimizers_process_runs_one_blas_and_one_torch_thread(tmp_path):
    """numpy/scipy's BLAS starts a thread per core for the GP's small matrices; measured, that
    doubled the optimizer's CPU seconds beside a training trial.  Read back with threadpoolctl's
    own inventory (and torch's), in a fresh process whose pools start at their defaults."""
    import json
    import os
    import subprocess
    import sys

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: every pool already has one thread")
    code = ("import json, scipy.linalg, torch; from threadpoolctl import threadpool_info; "
            "before = [p['num_threads'] for p in threadpool_info()]; "
            "from sparsemod.optimizer import optimize_on_one_thread; optimize_on_one_thread(); "
            "print(json.dumps([before, [p['num_threads'] for p in threadpool_info()], torch.get_num_threads()]))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, torch_threads = json.loads(done.stdout.splitlines()[-1])
    assert max(before) > 1, "the default pools have one thread here: nothing to test"
    assert after and set(after) == {1}
    assert torch_threads == 1
