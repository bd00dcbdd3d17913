"""Training and evaluation of one network (deterministic on CPU for a given seed).

Both run where the model is: each batch goes to the device of the model's parameters (a GPU
trial's model is moved there by :func:`sparsemod.trial.run.run_trial`; the data stay on the CPU)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 64


def loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
           collate_fn: Callable | None = None) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=collate_fn)


def train(model: nn.Module, dataset: Dataset, params: dict, epochs: int, seed: int,
          collate_fn: Callable | None = None, penalty: Callable[[], torch.Tensor] | None = None,
          on_step: Callable[[float], None] | None = None, schedule: str = "constant",
          on_epoch: Callable[[int], bool] | None = None, shift: int = 0) -> int:
    """Adam on cross-entropy (+ ``penalty()``, e.g. MorphNet's regularizer); ``lr`` and
    ``batch_size`` come from the searched parameters when the space has them.  ``on_step``
    receives each step's penalty value.  ``schedule``: ``constant`` or ``cosine``, annealed
    per step t of T = epochs · batches as lr_t = lr · (1 + cos(π t / T)) / 2.  ``shift`` > 0:
    every training image is moved by a random (dy, dx) in [-shift, shift]² pixels (data
    augmentation, :func:`random_shift`).  ``on_epoch(epochs done)`` after each epoch: False
    stops training there (early stopping).  Returns the epochs trained."""
    torch.manual_seed(seed)
    batches = loader(dataset, int(params.get("batch_size", DEFAULT_BATCH_SIZE)), shuffle=True,
                     seed=seed, collate_fn=collate_fn)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params.get("lr", DEFAULT_LR)))
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, epochs * len(batches)))
                 if schedule == "cosine" else None)
    loss_fn = nn.CrossEntropyLoss()
    device = device_of(model)
    model.train()
    for epoch in range(1, epochs + 1):
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            if shift:
                inputs = random_shift(inputs, shift)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            if penalty is not None:
                extra = penalty()
                loss = loss + extra
                if on_step is not None:
                    on_step(float(extra.detach()))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged (loss {loss.item()})")
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        if on_epoch is not None and not on_epoch(epoch):
            model.eval()
            return epoch
        model.train()  # on_epoch may have evaluated the model
    model.eval()
    return epochs


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (the CPU for one with neither)."""
    tensor: torch.Tensor | None = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return torch.device("cpu") if tensor is None else tensor.device


def random_shift(images: torch.Tensor, shift: int) -> torch.Tensor:
    """Each image of an (N, C, H, W) batch translated by its own random (dy, dx), drawn
    uniformly from [-shift, shift]² with torch's generator; the pixels shifted in repeat the
    edge (the background), as in the usual pad-and-crop augmentation."""
    if images.dim() != 4:
        raise ValueError(f"shift augmentation needs image batches (N, C, H, W), got shape "
                         f"{tuple(images.shape)}; set shift = 0 for this data")
    n, _, height, width = images.shape
    padded = nn.functional.pad(images, (shift, shift, shift, shift), mode="replicate")
    offsets = torch.randint(0, 2 * shift + 1, (n, 2)).tolist()
    return torch.stack([padded[i, :, dy:dy + height, dx:dx + width] for i, (dy, dx) in enumerate(offsets)])


@torch.no_grad()
def accuracy(model: nn.Module, dataset: Dataset, collate_fn: Callable | None = None,
             batch_size: int = 256) -> float:
    """Fraction of ``dataset`` classified correctly (model in eval mode)."""
    model.eval()
    device = device_of(model)
    correct = total = 0
    for inputs, targets in loader(dataset, batch_size, collate_fn=collate_fn):
        correct += (model(inputs.to(device)).argmax(dim=-1).cpu() == targets).sum().item()
        total += len(targets)
    return correct / max(total, 1)
