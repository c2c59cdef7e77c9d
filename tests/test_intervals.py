"""The intervals bankcore reports rates and lifts with: checked against published values and their own promises."""
from __future__ import annotations

import pytest

from bankcore.intervals import rate_difference, wilson
from bankcore.models import Usefulness


def test_wilson_matches_published_values_and_stays_inside_zero_to_one():
    low, high = wilson(81, 263)  # Newcombe (1998a), single proportion: 81/263 → 0.2553 to 0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10)[0] == pytest.approx(0.0) and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 0) is None


@pytest.mark.parametrize("a, n_a, b, n_b, expected", [(56, 70, 48, 80, (0.0524, 0.3339)),
                                                      (9, 10, 3, 10, (0.1705, 0.8090)),
                                                      (5, 56, 0, 29, (-0.0381, 0.1926))])
def test_newcombes_difference_matches_his_worked_examples(a, n_a, b, n_b, expected):
    """Newcombe (1998b), Statistics in Medicine 17:873, Table II, method 10 (hybrid score)."""
    low, high = rate_difference(a, n_a, b, n_b)
    assert (round(low, 4), round(high, 4)) == expected
    assert rate_difference(1, 2, 0, 0) is None


@pytest.mark.parametrize("a, n_a, b, n_b", [(0, 5, 5, 5), (5, 5, 0, 5), (3, 7, 3, 7), (1, 100, 99, 100)])
def test_a_difference_interval_holds_its_point_estimate_and_stays_within_minus_one_to_one(a, n_a, b, n_b):
    low, high = rate_difference(a, n_a, b, n_b)
    assert -1.0 <= low <= a / n_a - b / n_b <= high <= 1.0


def test_more_evidence_at_the_same_rates_narrows_the_interval_until_it_excludes_zero():
    widths, hurts = [], []
    for times in (1, 2, 4, 8):
        u = Usefulness(item_id=1, n_with=3 * times, success_with=1 * times, n_without=10 * times,
                       success_without=8 * times)
        low, high = u.interval
        widths.append(high - low)
        hurts.append(u.hurts)
    assert widths == sorted(widths, reverse=True)
    assert hurts[0] is False and hurts[-1] is True  # the same lift, first chance, then a finding


def test_hurts_and_helps_read_the_whole_interval_even_when_they_skip_building_it():
    """`hurts`/`helps` answer from the lift's sign when it settles the question (a lift ≥ 0 cannot have an interval
    below zero): the answer is the interval's own, on every count up to 12 a side (both groups may be empty)."""
    for n_with in range(13):
        for s_with in range(n_with + 1):
            for n_without in range(13):
                for s_without in range(n_without + 1):
                    u = Usefulness(1, n_with, s_with, n_without, s_without)
                    interval = rate_difference(s_with, n_with, s_without, n_without)
                    assert u.hurts == (interval is not None and interval[1] < 0)
                    assert u.helps == (interval is not None and interval[0] > 0)
