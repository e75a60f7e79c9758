"""Imbalance figures and the dataset card's class table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gencurate.data.balance import (
    EMPTY_GROUPS,
    GROUPS,
    MAX_MIN_RATIO,
    NORMALISED_ENTROPY,
    counts_to_imbalance,
)
from gencurate.data.card import classes_markdown


def test_even_counts_have_entropy_one_and_ratio_one():
    figures = counts_to_imbalance(np.array([5, 5, 5, 5]))
    assert figures[NORMALISED_ENTROPY] == pytest.approx(1.0)
    assert figures[MAX_MIN_RATIO] == 1.0 and figures[GROUPS] == 4 and figures[EMPTY_GROUPS] == 0


def test_hand_computed_imbalance():
    # shares 3/4, 1/4: H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.5623; / ln 2 = 0.8113
    figures = counts_to_imbalance(np.array([30, 10]))
    assert figures[NORMALISED_ENTROPY] == pytest.approx(0.811278, abs=1e-6)
    assert figures[MAX_MIN_RATIO] == 3.0
    # the figures depend on shares, not on scale or order
    assert counts_to_imbalance(np.array([1, 3])) == pytest.approx(figures)


def test_empty_and_degenerate_groups():
    one_class = counts_to_imbalance(np.array([0, 0, 7]))
    assert one_class[NORMALISED_ENTROPY] == pytest.approx(0.0)
    assert math.isinf(one_class[MAX_MIN_RATIO]) and one_class[EMPTY_GROUPS] == 2
    assert math.isnan(counts_to_imbalance(np.array([0, 0]))[MAX_MIN_RATIO])
    assert counts_to_imbalance(np.array([4]))[NORMALISED_ENTROPY] == 1.0
    with pytest.raises(ValueError):
        counts_to_imbalance(np.array([1, -1]))


def test_card_class_table_counts_shares_and_imbalance():
    labels = [0] * 6 + [1] * 3 + [2] * 1
    split = ["train"] * 5 + ["reference"] + ["train"] * 2 + ["reference"] + ["train"]
    manifest = pd.DataFrame({"label": labels, "split": split})
    text = classes_markdown(manifest, ["shirt", "bag", "shoe"])
    assert "| 0 | shirt | 6 | 60.0% | 5 | 1 |" in text
    assert "| 2 | shoe | 1 | 10.0% | 1 | 0 |" in text
    expected = counts_to_imbalance(np.array([6, 3, 1]))[NORMALISED_ENTROPY]
    assert f"normalised entropy {expected:.3f}" in text and "largest / smallest class 6.00x" in text
    assert "largest / smallest class 5.00x" in text  # train split: 5, 2, 1
