import numpy as np
import pytest

from sparsemod.front.hypervolume import hypervolume


def test_two_objectives_by_hand():
    # staircase of (1, 3) and (2, 1) under reference (4, 4): 3·1 + 2·3 = 9... by area:
    # x in [1, 2): y from 3 to 4 → 1; x in [2, 4): y from 1 to 4 → 6; total 7
    assert hypervolume(np.array([[1, 3], [2, 1]]), np.array([4, 4])) == pytest.approx(7.0)


def test_dominated_nan_and_outside_points_add_nothing():
    base = hypervolume(np.array([[1, 3], [2, 1]]), np.array([4, 4]))
    more = np.array([[1, 3], [2, 1], [3, 3], [np.nan, 0], [5, 0]])
    assert hypervolume(more, np.array([4, 4])) == pytest.approx(base)
    assert hypervolume(np.zeros((0, 2)), np.array([1, 1])) == 0.0


def test_three_objectives_single_box_and_one_objective():
    assert hypervolume(np.array([[0.5, 0.5, 0.5]]), np.array([1, 1, 1])) == pytest.approx(0.125)
    assert hypervolume(np.array([[0.3], [0.1]]), np.array([1.0])) == pytest.approx(0.9)
