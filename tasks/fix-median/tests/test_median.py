"""Hidden tests for stats_utils.median (fix-median task)."""

import pytest
from stats_utils import mean, median


def test_single_value():
    assert median([7]) == 7


def test_odd_length_sorted():
    assert median([1, 2, 3]) == 2


def test_odd_length_unsorted():
    assert median([9, 1, 5, 3, 7]) == 5


def test_even_length_sorted():
    assert median([1, 2, 3, 4]) == 2.5


def test_even_length_unsorted():
    assert median([10, 2, 8, 4]) == 6


def test_two_values():
    assert median([1, 2]) == 1.5


def test_floats_and_negatives():
    assert median([-1.5, 0.5, -3.0, 2.0]) == pytest.approx(-0.5)


def test_accepts_any_iterable():
    assert median(x for x in (3, 1, 4, 2)) == 2.5
    assert median((5, 1, 3)) == 3


def test_does_not_mutate_input():
    data = [3, 1, 2, 4]
    median(data)
    assert data == [3, 1, 2, 4]


def test_empty_raises_value_error():
    with pytest.raises(ValueError, match="empty"):
        median([])


def test_empty_iterator_raises_value_error():
    with pytest.raises(ValueError, match="empty"):
        median(iter(()))


def test_mean_unchanged():
    assert mean([1, 2, 3, 4]) == 2.5
    with pytest.raises(ValueError):
        mean([])
