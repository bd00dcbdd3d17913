"""TensorBoard scalars of structure learning, as morph-net's users watch them: the
regularization loss and the effective cost per step, the alive counts per layer at the end."""

from __future__ import annotations

from pathlib import Path

from sparsemod.morphnet.regularizer import ResourceRegularizer


class StructureLog:
    def __init__(self, log_dir: Path, regularizer: ResourceRegularizer, every: int = 10):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(log_dir))
        self.regularizer, self.every, self.steps = regularizer, every, 0

    def step(self, regularization_loss: float) -> None:
        self.writer.add_scalar("morphnet/regularization_loss", regularization_loss, self.steps)
        if self.steps % self.every == 0:  # the cost walks the graph: not every step
            self.writer.add_scalar(f"morphnet/cost_{self.regularizer.target}",
                                   self.regularizer.cost(), self.steps)
        self.steps += 1

    def close(self, alive_counts: dict[str, int]) -> None:
        for layer, count in alive_counts.items():
            self.writer.add_scalar(f"alive/{layer}", count, self.steps)
        self.writer.close()
