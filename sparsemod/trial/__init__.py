"""One trial (SpArSe's inner loop): build → check → MorphNet → train → quantize → measure.

- :mod:`~sparsemod.trial.job`: what a trial is asked and what it answers (no torch import:
  the search's process and Ray's driver pass them around);
- :mod:`~sparsemod.trial.run`: the trial, end to end;
- :mod:`~sparsemod.trial.checks`: a network that cannot run or fit fails before training;
- :mod:`~sparsemod.trial.train`, :mod:`~sparsemod.trial.measure`: its steps (the int8
  network it measures: :mod:`sparsemod.quantize`).
"""
