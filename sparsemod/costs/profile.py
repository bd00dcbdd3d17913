"""A calibrated latency model of a real device, in the spirit of nn-Meter's kernel-level
predictors (Zhang et al., MobiSys 2021): the latency of a network is the sum of its ops'
predicted latencies, each from a model fitted per op kind on micro-benchmarks of the device
(``python -m sparsemod.calibrate --out cpu.json``).

Per kind k (see :mod:`sparsemod.costs.ops`), with MACs and bytes moved by the op:

    t_k(op) = fixed_k + per_mac_k · MACs + per_byte_k · bytes
    latency = overhead + Σ_ops t_kind(op)

``fixed`` is what dominates small networks on a CPU (a kernel's dispatch and set-up), which
a FLOP count cannot see; ``overhead`` is the cost of one call of the deployed graph.  An op
of a kind the profile has no model for (``other``) is predicted with the ``add`` model (an
element-wise op moving its bytes).  The profile is a JSON file::

    {"name": ..., "overhead": s, "kinds": {"conv": {"fixed": s, "per_mac": s, "per_byte": s}, ...},
     "conditions": {...where and how it was measured...}}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from sparsemod.costs.ops import KINDS, DeployedOp
from sparsemod.errors import ProfileError

CALIBRATED_KINDS = tuple(kind for kind in KINDS if kind != "other")
_FALLBACK = "add"


@dataclass(frozen=True)
class KindModel:
    fixed: float  # seconds per op
    per_mac: float  # seconds per multiply-accumulate
    per_byte: float  # seconds per byte read or written

    def predict(self, macs: float, bytes_moved: float) -> float:
        return self.fixed + self.per_mac * macs + self.per_byte * bytes_moved


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    overhead: float  # seconds per call of the deployed graph
    kinds: dict[str, KindModel]
    conditions: dict = field(default_factory=dict)

    def model(self, kind: str) -> KindModel:
        return self.kinds.get(kind, self.kinds[_FALLBACK])

    def predict(self, ops: Iterable[DeployedOp]) -> float:
        """Predicted seconds of one batch-1 inference."""
        return self.overhead + sum(self.model(op.kind).predict(op.macs, op.bytes) for op in ops)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "DeviceProfile":
        """Read a profile written by ``python -m sparsemod.calibrate``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            kinds = {kind: KindModel(float(m["fixed"]), float(m["per_mac"]), float(m["per_byte"]))
                     for kind, m in data["kinds"].items()}
            profile = cls(str(data["name"]), float(data["overhead"]), kinds, dict(data.get("conditions", {})))
        except FileNotFoundError:
            raise ProfileError(f"{path}: device profile not found (make one with "
                               f"python -m sparsemod.calibrate --out {path.name})") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ProfileError(f"{path}: not a device profile written by sparsemod.calibrate "
                               f"({type(error).__name__}: {error})") from None
        missing = [kind for kind in CALIBRATED_KINDS if kind not in kinds]
        if missing:
            raise ProfileError(f"{path}: device profile lacks the op kinds {', '.join(missing)}; "
                               f"expected all of {', '.join(CALIBRATED_KINDS)}")
        return profile
