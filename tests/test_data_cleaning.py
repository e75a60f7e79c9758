"""Duplicate, near-duplicate and leakage decisions on hand-made hashes."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.data.cleaning import (
    DUPLICATE,
    LEAK,
    NEAR_DUPLICATE,
    equal_hash_neighbours,
    find_duplicates,
    first_occurrences,
    hamming_neighbours,
    match_detail,
    pixels_to_digest,
    pixels_to_phash,
)


def codes(*flipped_bits: tuple[int, ...]) -> np.ndarray:
    """(N, 8) packed 64-bit hashes: row k has the listed bits set."""
    bits = np.zeros((len(flipped_bits), 64), dtype=np.uint8)
    for row, flips in enumerate(flipped_bits):
        bits[row, list(flips)] = 1
    return np.packbits(bits, axis=1)


def summary(matches):
    return [(m.index, m.kept, m.reason, m.distance) for m in matches]


def duplicates(digests: list[bytes | None], phashes: np.ndarray, **kwargs):
    """find_duplicates on one-byte digests such as b"a" (None: a candidate rejected earlier)."""
    valid = np.array([d is not None for d in digests])
    rows = np.array([[ord(d or b"\0")] for d in digests], dtype=np.uint8)
    return find_duplicates(rows, valid, phashes, **kwargs)


def test_exact_duplicates_keep_the_first_occurrence():
    digests = [b"a", b"b", b"a", b"c", b"a"]
    phashes = codes((), (1, 2, 3, 4, 5, 6), (), (10, 11, 12, 13, 14, 15), ())
    assert summary(duplicates(digests, phashes, max_distance=-1)) == [(2, 0, DUPLICATE, 0), (4, 0, DUPLICATE, 0)]


@pytest.mark.parametrize(("radius", "expected"), [(-1, []), (0, []), (1, []), (2, [(3, 1, NEAR_DUPLICATE, 2)])])
def test_near_duplicates_by_hamming_radius(radius, expected):
    digests = [b"a", b"b", b"c", b"d"]
    phashes = codes((), (1, 2, 3), (20, 21, 22, 23, 24, 25, 26, 27), (1, 4, 3, 2, 5))  # d(1, 3) = 2
    assert summary(duplicates(digests, phashes, max_distance=radius)) == expected


def test_only_kept_images_remove_later_ones():
    # A-B and B-C are 1 bit apart, A-C 2 bits: B goes (near A), C stays (its only close match B is gone).
    phashes = codes((), (1,), (1, 2))
    matches = duplicates([b"a", b"b", b"c"], phashes, max_distance=1)
    assert summary(matches) == [(1, 0, NEAR_DUPLICATE, 1)]


def test_nearest_kept_match_wins_and_rejected_rows_are_ignored():
    far = tuple(range(20, 30))
    phashes = codes((), far[:8], far, far[:8])  # d(0, 2) = 10, d(0, 3) = 8, d(2, 3) = 2, d(1, 3) = 0
    digests = [b"a", None, b"c", b"d"]  # row 1 was rejected earlier (e.g. truncated)
    matches = duplicates(digests, phashes, max_distance=8)
    assert summary(matches) == [(3, 2, NEAR_DUPLICATE, 2)]


def test_copies_across_splits_are_leaks():
    digests = [b"a", b"b", b"a", b"x", b"b"]
    phashes = codes((), (30, 31, 32, 33, 34), (), (1,), (30, 31, 32, 33, 34))
    splits = ["train", "train", "reference", "reference", "train"]
    matches = duplicates(digests, phashes, max_distance=1, splits=splits)
    assert summary(matches) == [(2, 0, LEAK, 0), (3, 0, LEAK, 1), (4, 1, DUPLICATE, 0)]
    names = [f"img{i}" for i in range(5)]
    assert "same pixels as img0" in match_detail(matches[0], names, splits)
    assert "distance 1 from img0" in match_detail(matches[1], names, splits) and "reference" in match_detail(matches[1], names, splits)


def test_hamming_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (20, 8), dtype=np.uint8)
    packed = np.concatenate([base, base ^ np.packbits(rng.random((20, 64)) < 0.05, axis=1)])
    bits = np.unpackbits(packed, axis=1).astype(int)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    found = hamming_neighbours(packed, 6)
    for i in range(len(packed)):
        expected = {j: int(dist[i, j]) for j in range(len(packed)) if j != i and dist[i, j] <= 6}
        assert found.get(i, {}) == expected
        assert (i in found) == bool(expected)  # rows without neighbours are left out
    assert sum(len(f) for f in found.values()) > 0


def test_equal_hash_grouping_matches_the_radius_0_search():
    rng = np.random.default_rng(1)
    packed = rng.integers(0, 256, (60, 8), dtype=np.uint8)
    packed[[7, 30, 51]] = packed[3]  # a group of four equal hashes
    packed[44] = packed[12]
    packed[13] = packed[12] ^ np.uint8(1)  # one bit away: not equal
    rows = [i for i in range(60) if i != 51]  # row 51 was already rejected (e.g. same pixels)
    sub = hamming_neighbours(packed[rows], 0)
    expected = {rows[r]: {rows[c]: d for c, d in nb.items()} for r, nb in sub.items()}
    found = equal_hash_neighbours(packed, rows)
    assert found == expected
    assert found[3] == {7: 0, 30: 0} and found[12] == {44: 0} and 13 not in found


def test_copies_of_a_near_duplicate_still_point_at_their_first_occurrence():
    # row 1 is a near-duplicate of row 0; rows 2 and 3 are exact copies of 1 and 0
    phashes = codes((), (5,), (5,), ())
    matches = duplicates([b"a", b"b", b"b", b"a", None], np.concatenate([phashes, codes(())]), max_distance=1)
    assert summary(matches) == [(1, 0, NEAR_DUPLICATE, 1), (2, 1, DUPLICATE, 0), (3, 0, DUPLICATE, 0)]
    assert [m.exact for m in matches] == [False, True, True]


def test_first_occurrences_by_sorting():
    digests = np.array([[1, 2], [3, 4], [1, 2], [0, 0], [3, 4], [1, 2]], dtype=np.uint8)
    valid = np.array([False, True, True, True, True, True])
    np.testing.assert_array_equal(first_occurrences(digests, valid), [-1, 1, 2, 3, 1, 2])
    assert first_occurrences(digests, np.zeros(6, bool)).tolist() == [-1] * 6


def test_pixel_digest_and_phash():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert pixels_to_digest(a) == pixels_to_digest(a.copy()) != pixels_to_digest(b)
    assert pixels_to_digest(a) != pixels_to_digest(a.reshape(14, 56, 1))
    assert len(pixels_to_phash(a)) == 8
    # a one-level brightness change keeps the perceptual hash almost the same; another image does not
    near = np.unpackbits(np.frombuffer(pixels_to_phash(a), np.uint8) ^ np.frombuffer(pixels_to_phash(np.minimum(a, 254) + 1), np.uint8))
    far = np.unpackbits(np.frombuffer(pixels_to_phash(a), np.uint8) ^ np.frombuffer(pixels_to_phash(a[::-1].copy()), np.uint8))
    assert near.sum() <= 2 < 12 < far.sum()
