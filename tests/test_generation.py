"""The generation strategy's options reach Ax's BoTorch node, are used by a real generation,
and survive experiment.json (a resumed search keeps them)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.optim import optimize_mixed

from conftest import REPO
from sparsemod import generation
from sparsemod.config import load_config
from sparsemod.problem import load_problem
from sparsemod.search import make_client
from sparsemod.snapshot import load_client, save_client


def client_after_sobol(objectives: int, completed: int = 6):
    settings = replace(load_config(REPO / "config.ini").search, r1=completed, objectives=objectives)
    problem = load_problem("cnn")
    client = make_client(settings, problem)
    rng = random.Random(0)
    for index, params in client.get_next_trials(max_trials=completed).items():
        # costs that grow with the network, an error that falls with it, plus noise
        width = params["filters"] * params["blocks"] * params["layers"]
        client.complete_trial(index, raw_data={"error": 1 / (1 + width) + 0.01 * rng.random(),
                                               "model_size": 100.0 * width, "working_memory": 10.0 * width,
                                               "latency": 1e-6 * width * params["kernel"] ** 2})
    return client


def botorch_spec(client):
    node = {node.name: node for node in client._generation_strategy._nodes}["gp"]
    return node.generator_specs[0]


@pytest.fixture(scope="module", params=[(3, qLogNoisyExpectedHypervolumeImprovement), (4, qLogNParEGO)],
                ids=["3 objectives", "4 objectives"])
def generated(request):
    """A client that generated one GP trial, the acquisition class expected, the fits made
    and the options BoTorch's mixed optimizer chose its starting points with."""
    objectives, acquisition = request.param
    fits, starts = [], []
    real_fit = generation.fit_gpytorch_mll
    real_starts = optimize_mixed.generate_starting_points
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generation, "fit_gpytorch_mll",
                      lambda mll, **kwargs: fits.append(kwargs) or real_fit(mll, **kwargs))
        patch.setattr(optimize_mixed, "generate_starting_points",
                      lambda opt_inputs, **kwargs: starts.append(opt_inputs) or real_starts(opt_inputs, **kwargs))
        client = client_after_sobol(objectives)
        assert len(client.get_next_trials(max_trials=1)) == 1
    return client, objectives, acquisition, fits, starts


def test_a_gp_trial_is_generated_with_sparsemods_options(generated):
    client, objectives, acquisition, fits, starts = generated
    # the model Ax fitted is ours, fitted by our capped L-BFGS
    assert fits == [{"optimizer_kwargs": {"options": {"maxiter": generation.FIT_MAXITER}}}]
    adapter = botorch_spec(client).fitted_adapter
    assert isinstance(adapter.generator.surrogate.model, generation.CappedFitGP)
    # only the objectives are modelled (latency is a tracking metric below 4 objectives)
    assert adapter.generator.surrogate.model.num_outputs == objectives
    spec = botorch_spec(client)
    assert spec.generator_kwargs["botorch_acqf_class"] is acquisition
    optimizer = spec.generator_gen_kwargs["model_gen_options"]["optimizer_kwargs"]
    assert (optimizer["num_restarts"], optimizer["raw_samples"]) == (generation.NUM_RESTARTS, generation.RAW_SAMPLES)
    # BoTorch's mixed optimizer got them: 2 starts from 128 raw samples, relaxation capped at 25 steps
    [used] = starts
    assert (used.num_restarts, used.raw_samples) == (2, 128)
    assert (used.options["maxiter_init"], used.options["maxiter_alternating"]) == (25, 8)


def test_options_survive_experiment_json(generated, tmp_path):
    client, _, acquisition, _, _ = generated
    save_client(client, tmp_path / "experiment.json")
    loaded = botorch_spec(load_client(tmp_path / "experiment.json"))
    original = botorch_spec(client)
    assert loaded.generator_kwargs["botorch_acqf_class"] is acquisition
    assert loaded.generator_kwargs.get("botorch_acqf_options") == original.generator_kwargs.get("botorch_acqf_options")
    model_config = loaded.generator_kwargs["surrogate_spec"].model_configs[0]
    assert model_config.botorch_model_class is generation.CappedFitGP
    assert loaded.generator_gen_kwargs == original.generator_gen_kwargs


def test_experiment_json_loads_in_a_fresh_process_through_load_client(generated, tmp_path):
    """The snapshot names CappedFitGP: a process that only imports the snapshot module (as
    ``python -m sparsemod.report`` does) must still decode it."""
    import subprocess
    import sys

    client = generated[0]
    save_client(client, tmp_path / "experiment.json")
    code = ("import sys; from sparsemod.snapshot import load_client; "
            "print(len(load_client(sys.argv[1])._experiment.trials))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "experiment.json")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(len(client._experiment.trials))


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
            "from sparsemod.generation import optimize_on_one_thread; optimize_on_one_thread(); "
            "print(json.dumps([before, [p['num_threads'] for p in threadpool_info()], torch.get_num_threads()]))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, torch_threads = json.loads(done.stdout.splitlines()[-1])
    assert max(before) > 1, "the default pools have one thread here: nothing to test"
    assert after and set(after) == {1}
    assert torch_threads == 1
