"""examples/cnn.py's CNNs sized for microcontroller budgets (SpArSe, Fedorov et al. 2019):
kilobytes of RAM (working memory) and of flash (int8 weights).

The same builder and data sets as ``cnn``; the space adds the ``stem`` (2x downsampling
before the first block: input average pooling or a stride-2 first conv) and narrows the
ranges to networks of a few thousand parameters (2–16 first-block filters, at most 2 conv
layers per block, one fully connected layer of 8–32 units).  Use it with the budget as
outcome constraints, e.g. SpArSe's MNIST budget (``examples/sparse_mnist.ini``)::

    constraints = working_memory <= 2048, model_size <= 2867
"""

from __future__ import annotations

from sparsemod.morphisms import add_skip, deepen, enlarge, step, switch, widen
from sparsemod.problem import load_problem
from sparsemod.space import Choice, Float, Int

CNN = load_problem("cnn")
build, load_data, DATASETS = CNN.build, CNN.load_data, CNN.datasets

SPACE = [
    Choice("stem", ("none", "pool", "strided")),
    Int("blocks", 1, 3),
    Int("layers", 1, 2),  # conv layers per block
    Int("filters", 2, 16, log=True),  # filters of the first block
    Float("growth", 1.0, 2.0),  # filters multiply by this from block to block
    Choice("kernel", (3, 5)),
    Choice("conv_type", ("standard", "separable")),
    Choice("downsample", ("max", "avg", "strided")),
    Choice("skip", (False, True)),
    Int("fc_layers", 0, 1),
    Int("fc_width", 8, 32, log=True),
    Float("dropout", 0.0, 0.3),
    Float("lr", 3e-3, 3e-2, log=True),
    Choice("batch_size", (16, 32, 64)),
]

MORPHISMS = [
    # function-preserving
    deepen("layers", high=2), widen("filters", 1.25, high=16), enlarge("kernel", (3, 5)),
    add_skip("skip"), widen("fc_width", 1.25, high=32),
    # parameter moves
    step("blocks", +1, 1, 3), step("blocks", -1, 1, 3), step("layers", -1, 1, 2),
    step("filters", -1, 2, 16), step("fc_layers", -1, 0, 1), step("fc_layers", +1, 0, 1),
    switch("stem", ("none", "pool", "strided")), switch("downsample", ("max", "avg", "strided")),
    switch("conv_type", ("standard", "separable")),
]
