"""MorphNet in PyTorch (Gordon et al., CVPR 2018): learn which channels a network needs
under a resource target, then physically remove the rest.

    reg = ResourceRegularizer(model, example_input, algorithm="gamma", target="flops")
    loss = task_loss + reg.strength(multiplier) * reg.regularization_term()
    reg.cost(); reg.alive(); reg.export("structure.json")
    small = prune(model, reg, example_input)
"""

from sparsemod.morphnet.gates import LogisticSigmoidGate
from sparsemod.morphnet.groups import ChannelGraph
from sparsemod.morphnet.prune import apply_structure, once, prune
from sparsemod.morphnet.regularizer import ResourceRegularizer
from sparsemod.morphnet.sources import ALGORITHMS
from sparsemod.morphnet.targets import TARGETS

__all__ = ["ALGORITHMS", "ChannelGraph", "LogisticSigmoidGate", "ResourceRegularizer", "TARGETS",
           "apply_structure", "once", "prune"]
