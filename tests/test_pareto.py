import numpy as np

from sparsemod.front.pareto import pareto_mask


def test_dominated_rows_are_dropped():
    values = np.array([[0.1, 100.0], [0.2, 50.0], [0.2, 100.0], [0.3, 10.0]])
    assert pareto_mask(values).tolist() == [True, True, False, True]


def test_ties_are_all_kept():
    values = np.array([[0.1, 5.0], [0.1, 5.0], [0.2, 6.0]])
    assert pareto_mask(values).tolist() == [True, True, False]


def test_equal_in_one_objective_better_in_other_dominates():
    assert pareto_mask(np.array([[0.1, 5.0], [0.1, 4.0]])).tolist() == [False, True]


def test_failed_trials_never_in_the_set():
    values = np.array([[np.nan, np.nan], [0.5, 5.0], [np.nan, 1.0]])
    assert pareto_mask(values).tolist() == [False, True, False]
    assert pareto_mask(np.full((2, 2), np.nan)).tolist() == [False, False]


def test_single_objective_keeps_the_minimum_and_its_ties():
    assert pareto_mask(np.array([[0.3], [0.1], [0.1]])).tolist() == [False, True, True]
