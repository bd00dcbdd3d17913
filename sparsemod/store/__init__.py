"""What a search leaves on disk, ``{root}/{name}/``, written atomically after every trial.

- :mod:`~sparsemod.store.results`: trials.csv, pareto.csv, the Pareto models, time.txt;
- :mod:`~sparsemod.store.resume`: a killed search's files checked and repaired on ``--resume``;
- :mod:`~sparsemod.store.lock`: one search per folder.

experiment.json, Ax's record of the trials, is :mod:`sparsemod.optimizer.record`'s.
"""
