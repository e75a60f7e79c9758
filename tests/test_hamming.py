"""The sub-quadratic Hamming search returns exactly the brute-force pairs."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.data.hamming import (
    choose_blocks,
    hamming_pairs,
    packed_to_words,
    pigeonhole_pairs,
)


def brute_force(codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bits = np.unpackbits(codes, axis=1).astype(np.int64)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    i, j = np.nonzero(np.triu(dist <= radius, 1))
    return i, j, dist[i, j]


def clustered(rng: np.random.Generator, n: int, centres: int, flip: float) -> np.ndarray:
    base = rng.integers(0, 256, (centres, 8), dtype=np.uint8)
    return base[rng.integers(0, centres, n)] ^ np.packbits(rng.random((n, 64)) < flip, axis=1)


def skewed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bits with very unequal probabilities, as in perceptual hashes (some nearly constant)."""
    p = np.linspace(0.01, 0.5, 64)
    return np.packbits(rng.random((n, 64)) < p, axis=1)


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8, 12])
@pytest.mark.parametrize("kind", ["uniform", "clustered", "skewed"])
def test_equals_brute_force(radius, kind):
    rng = np.random.default_rng(radius)
    codes = {"uniform": lambda: rng.integers(0, 256, (300, 8), dtype=np.uint8),
             "clustered": lambda: clustered(rng, 300, 15, 0.05),
             "skewed": lambda: skewed(rng, 300)}[kind]()
    codes[5] = codes[9]  # equal codes too
    expected = brute_force(codes, radius)
    got = hamming_pairs(codes, radius=radius)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    if kind == "clustered" and radius >= 2:
        assert len(expected[0]) > 100  # the clustered case has many pairs to find


@pytest.mark.parametrize("radius", [0, 2, 4])
def test_every_block_count_gives_the_same_pairs(radius):
    codes = clustered(np.random.default_rng(7), 200, 10, 0.04)
    words = packed_to_words(codes)
    expected = brute_force(codes, radius)
    for blocks in (radius + 1, radius + 2, radius + 5):
        got = pigeonhole_pairs(words, radius=radius, blocks=blocks)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)


def test_block_choice_and_edge_cases():
    assert choose_blocks(1_000_000, 0) == 1
    assert all(choose_blocks(1_000_000, r) > r for r in range(1, 13))
    empty = hamming_pairs(np.zeros((0, 8), np.uint8), radius=3)
    assert all(len(x) == 0 for x in empty)
    one = hamming_pairs(np.zeros((1, 8), np.uint8), radius=3)
    assert all(len(x) == 0 for x in one)
    with pytest.raises(ValueError):
        pigeonhole_pairs(np.zeros(3, np.uint64), radius=4, blocks=4)
    with pytest.raises(ValueError):
        hamming_pairs(np.zeros((3, 4), np.uint8), radius=1)
