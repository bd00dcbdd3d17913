"""experiment.json: Ax's own JSON snapshot of the Client, made small enough to keep.

Ax's snapshot holds the experiment twice (once inside the generation strategy) and copies the
whole search space and optimization config into every generator run, twice: ~20 KB a trial.
The copies are dropped (Ax's decoder re-attaches the experiment and treats both fields as
optional), leaving < 1 MB per 100 trials.  The file still loads with
``ax.api.client.Client.load_from_json_file``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ax.api.client import Client

from sparsemod.results import atomic_write_text

_REDUNDANT_IN_GENERATOR_RUN = ("search_space", "optimization_config")


def _drop_copies(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("__type") == "GeneratorRun":
            for key in _REDUNDANT_IN_GENERATOR_RUN:
                node[key] = None
        for value in node.values():
            _drop_copies(value)
    elif isinstance(node, list):
        for value in node:
            _drop_copies(value)


def save_client(client: Client, path: Path) -> None:
    snapshot = client._to_json_snapshot()  # the dict save_to_json_file writes
    if snapshot.get("generation_strategy"):
        snapshot["generation_strategy"]["experiment"] = None
    _drop_copies(snapshot)
    atomic_write_text(path, json.dumps(snapshot))


class SnapshotError(ValueError):
    """experiment.json cannot be read back as an Ax experiment (one line, names the file)."""


def load_client(path: Path) -> Client:
    """The Client saved at ``path`` (the search's own draws are seeded by its settings, so
    nothing of Ax's random state needs restoring)."""
    try:
        client = Client.load_from_json_file(str(path))
    except Exception as error:  # damaged JSON, or JSON that is not an Ax snapshot
        raise SnapshotError(f"{path}: damaged, not an Ax experiment snapshot "
                            f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
                            "restore it from a backup or start a new search") from None
    return client
