"""Where trials run, behind one contract (:class:`~sparsemod.executors.base.Executor`).

- :mod:`~sparsemod.executors.local`: a worker process on this machine (the default);
- :mod:`~sparsemod.executors.worker`: that process's side;
- :mod:`~sparsemod.executors.tune`: Ray Tune, on this machine or a cluster.
"""
