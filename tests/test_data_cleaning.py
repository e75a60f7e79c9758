"""Duplicate, near-duplicate and leakage decisions on hand-made hashes."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.data.cleaning import (
    CROP_ALIGN_MARGINS,
    DUPLICATE,
    LEAK,
    NEAR_DUPLICATE,
    area_weights,
    candidate_pairs,
    find_duplicates,
    first_occurrences,
    images_to_aligned_lab_thumbnails,
    images_to_lab_thumbnails,
    match_detail,
    near_duplicate_pairs,
    near_duplicate_removals,
    pair_aligned_thumbnail_distances,
    pair_thumbnail_distances,
    pixels_to_centre_phash,
    pixels_to_digest,
    pixels_to_phash,
    thumbnail_distances,
)


def codes(*flipped_bits: tuple[int, ...]) -> np.ndarray:
    """(N, 8) packed 64-bit hashes: row k has the listed bits set."""
    bits = np.zeros((len(flipped_bits), 64), dtype=np.uint8)
    for row, flips in enumerate(flipped_bits):
        bits[row, list(flips)] = 1
    return np.packbits(bits, axis=1)


def summary(matches):
    return [(m.index, m.kept, m.reason, m.distance) for m in matches]


def duplicates(digests: list[bytes | None], phashes: np.ndarray, *, max_distance: int, **kwargs):
    """find_duplicates on one-byte digests such as b"a" (None: a candidate rejected earlier), hash alone."""
    valid = np.array([d is not None for d in digests])
    rows = np.array([[ord(d or b"\0")] for d in digests], dtype=np.uint8)
    images = np.zeros((len(digests), 4, 4, 1), np.uint8)
    return find_duplicates(rows, valid, phashes, images, max_distance=max_distance, max_pixel_distance=-1,
                           colour=True, centre_phashes=None, **kwargs)


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


def test_removals_match_a_reference_greedy_loop():
    # the array-based visit equals the plain loop: in index order, drop a row that has a kept
    # earlier neighbour, pointing at the nearest (then lowest-index) one
    rng = np.random.default_rng(3)
    n = 60
    pairs = {(int(a), int(b)): int(rng.integers(0, 9)) for a, b in rng.integers(0, n, (300, 2)) if a != b}
    pairs = {(max(a, b), min(a, b)): d for (a, b), d in pairs.items()}
    later, earlier = (np.array(x, dtype=np.int64) for x in zip(*pairs))
    distance = np.array(list(pairs.values()), dtype=np.int64)
    expected: dict[int, tuple[int, int]] = {}
    for i in range(n):
        options = [(d, j) for (a, j), d in pairs.items() if a == i and j not in expected]
        if options:
            d, j = min(options)
            expected[i] = (j, d)
    assert near_duplicate_removals(later, earlier, distance, chunk=7) == expected
    assert len(expected) > 10


def test_thumbnail_distance_ignores_brightness_offset_but_sees_colour_and_structure():
    rng = np.random.default_rng(0)
    base = np.full((1, 32, 32, 3), 200, np.uint8)
    base[0, 8:24, 8:24] = (200, 30, 30)  # a red square on grey
    brighter = np.clip(base.astype(int) + 12, 0, 255).astype(np.uint8)
    green = base.copy()
    green[0, 8:24, 8:24] = (30, 140, 30)
    moved = np.roll(base, 8, axis=2)
    lab = images_to_lab_thumbnails(np.concatenate([base, brighter, green, moved]), grid=8)
    assert lab.shape == (4, 64, 3)
    d = lambda a, b, colour=True: float(thumbnail_distances(lab[[a]], lab[[b]], colour=colour)[0])
    assert d(0, 1) < 4 and d(0, 2) > 30     # a uniform brightness step is small; a recolour is not
    assert d(0, 2, colour=False) < d(0, 2)    # lightness alone sees less of the recolour
    assert d(0, 3) > 30                        # the square moved
    grey = rng.integers(0, 256, (2, 16, 16, 1), dtype=np.uint8)
    assert np.allclose(images_to_lab_thumbnails(grey, grid=4)[..., 1:], 0, atol=0.05)  # no chroma in grey


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


def test_centre_codes_add_candidate_pairs_at_their_smallest_distance():
    plain = codes((), tuple(range(20)), tuple(range(40, 60)))
    centre = codes(tuple(range(2)), (0, 1, 2), tuple(range(40, 63)))
    assert [x.tolist() for x in candidate_pairs(plain, None, radius=3)] == [[], [], []]
    # row 1's plain code is 20 bits from row 0's, but row 1's centre code is 1 bit from row 0's centre
    # code and 3 from its plain code: one pair at distance 1; row 2 is far from both
    i, j, d = candidate_pairs(plain, centre, radius=3)
    assert (i.tolist(), j.tolist(), d.tolist()) == ([0], [1], [1])


def test_area_weights_by_hand():
    np.testing.assert_allclose(area_weights(4, 2, 0.0, 4.0), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # cells [0.5, 2) and [2, 3.5): half of pixel 0 and all of pixel 1, then pixel 2 and half of pixel 3
    np.testing.assert_allclose(area_weights(4, 2, 0.5, 3.5), [[1 / 3, 2 / 3, 0, 0], [0, 0, 2 / 3, 1 / 3]])


def test_aligned_thumbnails_region_zero_is_the_plain_thumbnail():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    aligned = images_to_aligned_lab_thumbnails(images, grid=8, margins=(0.0, 0.03))
    assert aligned.shape == (3, 16, 64, 3)
    # PIL rounds its box average to uint8: half a level of RGB is within 1 unit of L*a*b*
    np.testing.assert_allclose(aligned[:, 0], images_to_lab_thumbnails(images, grid=8), atol=1.0)
    grey = images_to_aligned_lab_thumbnails(images[..., :1], grid=8, margins=(0.0,))
    np.testing.assert_allclose(grey[..., 1:], 0, atol=0.05)  # grey has no chroma


def cropped_copy(pixels: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """(H, W, 3) uint8 cut by the given pixels per side and resized back to (H, W)."""
    from PIL import Image
    h, w = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).crop((left, top, w - right, h - bottom)).resize((w, h), Image.Resampling.BOX))


def test_aligned_thumbnails_line_up_a_crop_that_the_plain_check_misses():
    image = np.full((64, 64, 3), 250, np.uint8)
    image[10:40, 12:34] = (200, 30, 30)
    image[30:56, 36:60] = (30, 60, 200)
    crop = cropped_copy(image, 1, 1, 2, 2)  # 1.6 %, 1.6 %, 3.1 %, 3.1 % of the side
    other = np.roll(image, 14, axis=1)
    images = np.stack([image, crop, other])
    i, j = np.array([0, 0, 0]), np.array([1, 2, 0])
    plain = pair_thumbnail_distances(images, i, j, colour=True)
    aligned = pair_aligned_thumbnail_distances(images, i, j, colour=True, margins=CROP_ALIGN_MARGINS, chunk=2)
    assert aligned[2] == plain[2] == 0
    assert aligned[0] < plain[0] / 3 and aligned[0] <= 8 < plain[0]  # 8: the default pixel distance
    assert aligned[1] > 30  # alignment by a few per cent does not undo a shift of a fifth of the image


def test_crop_check_finds_the_crop_and_keeps_distinct_pictures():
    rng = np.random.default_rng(3)
    image = np.full((64, 64, 3), 250, np.uint8)
    image[10:40, 12:34] = (200, 30, 30)
    image[30:56, 36:60] = (30, 60, 200)
    distinct = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    images = np.stack([image, distinct[0], cropped_copy(image, 1, 1, 2, 2), distinct[1]])
    plain = np.stack([np.frombuffer(pixels_to_phash(x), np.uint8) for x in images])
    centre = np.stack([np.frombuffer(pixels_to_centre_phash(x), np.uint8) for x in images])
    rows = np.arange(4)
    kwargs = dict(max_distance=6, max_pixel_distance=8, colour=True)
    off = near_duplicate_pairs(plain, images, rows, centre_phashes=None, **kwargs)
    on = near_duplicate_pairs(plain, images, rows, centre_phashes=centre, **kwargs)
    assert off[0].tolist() == []
    assert (on[0].tolist(), on[1].tolist()) == ([2], [0])
