"""Network morphisms: operators on a search space's parameters, and weight inheritance."""

from sparsemod.morphisms.inherit import inherit, layer_widths
from sparsemod.morphisms.operators import Morphism, add_skip, deepen, enlarge, step, switch, widen

__all__ = ["Morphism", "add_skip", "deepen", "enlarge", "inherit", "layer_widths", "step", "switch", "widen"]
