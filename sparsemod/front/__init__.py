"""The Pareto front of a search: which trials are on it (:mod:`~sparsemod.front.pareto`) and
how much of the objective space it covers (:mod:`~sparsemod.front.hypervolume`)."""
