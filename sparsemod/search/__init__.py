"""The search (SpArSe, Fedorov et al. 2019, Sec. 3.3): phases of trials asked for, run and told.

- :mod:`~sparsemod.search.loop`: the phases (Sobol, GP, morphism rounds) and the loop that
  keeps the executor full, records each trial and stops on stagnation;
- :mod:`~sparsemod.search.prefetch`: the next trials generated while the current ones train;
- :mod:`~sparsemod.search.stopping`: MO-ASHA, which stops trials that cannot reach the front.
"""
