"""SpArSe's phases (Fedorov et al. 2019, Sec. 3.3): ``r1`` Sobol trials, ``r2`` GP rounds,
``r3`` network-morphism rounds of ``batch_size`` trials each."""

from __future__ import annotations

from dataclasses import dataclass

from sparsemod.config import TrainSettings


@dataclass(frozen=True)
class Phase:
    name: str  # also the Ax generation node's name
    trials: int
    epochs: int
    batch: int  # trials asked for at once


def phases(settings: TrainSettings, morphing: bool = True) -> list[Phase]:
    """The planned phases; ``morphing`` False drops the morphism rounds."""
    planned = [
        Phase("sobol", settings.r1, settings.epochs1, settings.r1),
        Phase("gp", settings.r2 * settings.batch_size, settings.epochs2, settings.batch_size),
    ]
    if morphing and settings.morphisms and settings.r3:
        planned.append(Phase("morph", settings.r3 * settings.batch_size, settings.epochs3, settings.batch_size))
    return planned
