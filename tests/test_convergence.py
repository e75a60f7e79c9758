"""Convergence verdicts from validation curves: hand-computed slopes against the bootstrap noise."""

from __future__ import annotations

import pandas as pd
import pytest

from gencurate.report.convergence import (
    AT_CONVERGENCE,
    FLAT,
    NO_CURVE,
    RISING,
    STILL_FALLING,
    STILL_IMPROVING,
    UNKNOWN,
    curve_to_convergence,
    method_label,
)
from gencurate.report.curves import EvalCurve


def curve(fd: list[float], noise: float | None = 0.1, every: int = 100) -> EvalCurve:
    return EvalCurve(pd.DataFrame({"step": [every * (i + 1) for i in range(len(fd))], "fd": fd}), noise)


@pytest.mark.parametrize(
    ("fd", "noise", "verdict", "drop"),
    [
        # last 34% of 6 points = 3 points (400, 500, 600): FD 2.0, 1.6, 1.2 -> slope -0.004/step, drop 0.8 over 200 steps
        ([5.0, 4.0, 3.0, 2.0, 1.6, 1.2], 0.1, STILL_FALLING, 0.8),
        ([5.0, 4.0, 3.0, 2.0, 1.95, 1.9], 0.1, FLAT, 0.1),          # 0.1 < 2 x 0.1
        ([5.0, 4.0, 3.0, 2.0, 1.95, 1.9], 0.04, STILL_FALLING, 0.1),  # the same curve with a less noisy estimate
        ([5.0, 4.0, 3.0, 1.0, 1.5, 2.0], 0.1, RISING, -1.0),
        ([3.0, 2.0], 0.1, STILL_FALLING, 1.0),                      # two points: the tail is both
        ([3.0, 2.0], None, UNKNOWN, 1.0),                           # no bootstrap noise logged
    ],
)
def test_verdict_compares_the_tail_drop_with_the_bootstrap_noise(fd, noise, verdict, drop):
    run = curve_to_convergence(curve(fd, noise), steps=600, tail_fraction=0.34, noise_multiple=2.0)
    assert run.verdict == verdict
    assert run.drop == pytest.approx(drop)
    assert (run.fd_first, run.fd_last, run.points, run.steps) == (fd[0], fd[-1], len(fd), 600)


def test_a_single_point_is_unknown():
    assert curve_to_convergence(curve([2.0]), steps=None, tail_fraction=0.34, noise_multiple=2.0).verdict == UNKNOWN


def test_method_label_is_still_improving_if_any_seed_was_still_falling():
    assert method_label([FLAT, STILL_FALLING]) == STILL_IMPROVING
    assert method_label([FLAT, RISING]) == AT_CONVERGENCE
    assert method_label([FLAT, UNKNOWN]) == NO_CURVE
    assert method_label([]) == NO_CURVE
