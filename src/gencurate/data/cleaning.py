"""Why an image is removed, and the duplicate / near-duplicate / leakage decisions.

Exact duplicates compare a hash of the decoded, converted pixels (so a PNG and a lossless
re-encode of it are duplicates). Near-duplicates compare 64-bit perceptual hashes
(`pixels_to_phash`) by Hamming distance (`gencurate.data.hamming`, exact and sub-quadratic),
then check each such pair on small CIELAB thumbnails of the prepared pixels: 64 bits cannot
tell every pair of distinct simple pictures apart, and a luminance hash cannot tell a red icon
from the same icon in green. With the crop check on, a second hash of each image's centre region
adds candidates, and the thumbnail check also tries small crop alignments of either image.
Candidates are visited in their fixed order and the first occurrence is
kept, so the result does not depend on worker timing.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np
import skimage.color
from PIL import Image

from gencurate.data.hamming import hamming_pairs

# Removal reasons (the `reason` column of rejected.parquet).
UNREADABLE = "unreadable"
TRUNCATED = "truncated"
EMPTY = "empty"
NOT_IMAGE = "not_image"
DECOMPRESSION_BOMB = "decompression_bomb"
TOO_SMALL = "too_small"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
LEAK = "leak"
REASONS = (UNREADABLE, TRUNCATED, EMPTY, NOT_IMAGE, DECOMPRESSION_BOMB, TOO_SMALL, DUPLICATE, NEAR_DUPLICATE, LEAK)

PHASH_BYTES = 8  # 64-bit perceptual hash
HASH_GRID = 16
# Fixed (seeded) directions: hashes stay comparable across runs and machines.
HASH_PROJECTIONS = np.random.default_rng(20021).standard_normal((PHASH_BYTES * 8, HASH_GRID * HASH_GRID))
# Near-duplicate check beside the hash: CIELAB thumbnails of THUMBNAIL_GRID x THUMBNAIL_GRID cells
# (8 separates planted copies from distinct pictures better than 4: benchmarks/results/dedup.json).
THUMBNAIL_GRID = 8
# Crop check: the centre-region hash cuts CROP_HASH_MARGIN from each side, as a crop would, and the
# thumbnail check tries every combination of CROP_ALIGN_MARGINS per side (benchmarks/dedup_crop.py).
CROP_HASH_MARGIN = 0.025
CROP_ALIGN_MARGINS = (0.0, 0.02, 0.04)


@dataclass(frozen=True)
class Rejection:
    source: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Match:
    """Candidate `index` is removed because of the kept candidate `kept`.

    `exact`: same pixels; otherwise perceptual hashes within Hamming `distance`.
    """

    index: int
    kept: int
    reason: str
    distance: int
    exact: bool


def pixels_to_digest(pixels: np.ndarray) -> bytes:
    """SHA-256 of converted pixels (H, W, C) uint8, shape included."""
    h = hashlib.sha256(repr(pixels.shape).encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    return h.digest()


def pixels_to_phash(pixels: np.ndarray, *, margin: float = 0.0) -> bytes:
    """64-bit perceptual hash of (H, W, C) uint8 pixels, packed into 8 bytes: the signs of 64
    fixed random projections of the mean-removed HASH_GRID x HASH_GRID grey thumbnail of the
    region left after cutting `margin` (a fraction of the side) from each side.

    Random-hyperplane hashing (Charikar 2002, https://doi.org/10.1145/509907.509965): each bit
    flips with probability angle / pi, so the Hamming distance grows smoothly with the angle
    between two thumbnails; the DCT pHash's bits (coefficient signs against their median) flip
    at random on flat images, where many coefficients sit near the median.
    """
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("L")
    w, h = image.size
    box = (margin * w, margin * h, w - margin * w, h - margin * h)
    thumb = np.asarray(image.resize((HASH_GRID, HASH_GRID), Image.Resampling.BOX, box=box),
                       dtype=np.float64).reshape(-1)
    return np.packbits(HASH_PROJECTIONS @ (thumb - thumb.mean()) > 0).tobytes()


def pixels_to_centre_phash(pixels: np.ndarray) -> bytes:
    """`pixels_to_phash` of the centre region (CROP_HASH_MARGIN cut from each side): close to the
    plain hash of a copy cropped by about that much."""
    return pixels_to_phash(pixels, margin=CROP_HASH_MARGIN)


def images_to_lab_thumbnails(images: np.ndarray, *, grid: int) -> np.ndarray:
    """(K, H, W, C) uint8 -> (K, grid*grid, 3) float64 CIELAB L*, a*, b* of each cell of a
    grid x grid area-averaged thumbnail (a* = b* = 0 for grayscale images)."""
    thumbs = np.empty((len(images), grid, grid, 3))
    for k, pixels in enumerate(images):
        image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
        thumbs[k] = np.asarray(image.resize((grid, grid), Image.Resampling.BOX), dtype=np.float64) / 255.0
    return skimage.color.rgb2lab(thumbs).reshape(len(images), grid * grid, 3)


def area_weights(size: int, grid: int, start: float, stop: float) -> np.ndarray:
    """(grid, size) float64: row k averages the pixels of one side of `size` pixels over the
    interval [start, stop) cut into `grid` equal cells, each pixel weighted by its overlap."""
    edges = start + (stop - start) * np.arange(grid + 1) / grid
    pixel = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(edges[1:, None], pixel + 1) - np.maximum(edges[:-1, None], pixel), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def images_to_aligned_lab_thumbnails(images: np.ndarray, *, grid: int, margins: tuple[float, ...]) -> np.ndarray:
    """(K, H, W, C) uint8 -> (K, B, grid*grid, 3) float32 CIELAB thumbnails of B = len(margins)**4
    regions: every combination of `margins` (fractions of the side) cut from each side; region 0
    cuts margins[0] from every side. Area averaging is one matrix product per axis."""
    k, h, w = images.shape[:3]
    ends = list(itertools.product(margins, repeat=2))  # (near, far) margins of one axis
    rows = np.stack([area_weights(h, grid, a * h, h - b * h) for a, b in ends])  # (M, grid, H)
    cols = np.stack([area_weights(w, grid, a * w, w - b * w) for a, b in ends])  # (M, grid, W)
    rgb = np.broadcast_to(images, (k, h, w, 3)).astype(np.float32) / 255.0  # grey repeats its channel
    # Batched matrix products (BLAS), not einsum: (K, M, grid, W*3), then (K, M, N, grid, 3, grid).
    by_rows = np.matmul(rows.astype(np.float32)[None], rgb.reshape(k, 1, h, w * 3)).reshape(k, len(ends), grid, w, 3)
    thumbs = np.matmul(by_rows.transpose(0, 1, 2, 4, 3)[:, :, None],
                       cols.astype(np.float32).transpose(0, 2, 1)[None, None, :, None]).transpose(0, 1, 2, 3, 5, 4)
    return skimage.color.rgb2lab(thumbs.reshape(-1, grid, grid, 3)).reshape(k, len(ends) ** 2, grid * grid, 3)


def thumbnail_distances(a: np.ndarray, b: np.ndarray, *, colour: bool) -> np.ndarray:
    """(..., cells, 3) CIELAB thumbnails, broadcast against each other -> (...) float32: the largest
    difference over the cells (Euclidean L*a*b*, or L* alone when `colour` is False), after
    removing the mean L* difference, so a uniform brightness change alone does not separate a copy."""
    diff = a.astype(np.float32) - b  # float32: the thumbnails are whole numbers of L*a*b* units
    diff[..., 0] -= diff[..., 0].mean(axis=-1, keepdims=True)
    if not colour:
        diff = diff[..., :1]
    return np.sqrt((diff ** 2).sum(-1).max(axis=-1, initial=0.0))  # one root per pair: the root is monotone


def lab_to_int8(lab: np.ndarray) -> np.ndarray:
    """CIELAB values rounded to int8 (L* in 0..100, a*/b* within +-128): 192 bytes an 8x8
    thumbnail instead of 1.5 kB."""
    return np.clip(np.round(lab), -128, 127).astype(np.int8)


def pair_thumbnail_distances(images: np.ndarray, i: np.ndarray, j: np.ndarray, *, colour: bool,
                             chunk: int = 4096) -> np.ndarray:
    """Thumbnail distances of the (P,) row pairs (i, j) of (N, H, W, C) uint8 `images` (a memmap is
    fine: only the rows in pairs are read, in ascending order, `chunk` at a time)."""
    rows = np.unique(np.concatenate([i, j]))
    thumbs = np.zeros((len(rows), THUMBNAIL_GRID ** 2, 3), dtype=np.int8)
    for lo in range(0, len(rows), chunk):
        thumbs[lo:lo + chunk] = lab_to_int8(images_to_lab_thumbnails(np.asarray(images[rows[lo:lo + chunk]]), grid=THUMBNAIL_GRID))
    return thumbnail_distances(thumbs[np.searchsorted(rows, i)], thumbs[np.searchsorted(rows, j)], colour=colour)


def pair_aligned_thumbnail_distances(images: np.ndarray, i: np.ndarray, j: np.ndarray, *, colour: bool,
                                     margins: tuple[float, ...], chunk: int = 4096, pair_chunk: int = 256
                                     ) -> np.ndarray:
    """(P,) smallest thumbnail distance of the row pairs (i, j) of (N, H, W, C) uint8 `images` over
    the crop regions of either image (`images_to_aligned_lab_thumbnails` with `margins`) against
    the whole other one, so a copy cropped by up to the largest margin per side still lines up
    cell by cell. Rows are read `chunk` at a time, in ascending order; pairs are compared
    `pair_chunk` at a time against all B regions at once."""
    rows = np.unique(np.concatenate([i, j]))
    thumbs = np.zeros((len(rows), len(margins) ** 4, THUMBNAIL_GRID ** 2, 3), dtype=np.int8)
    for lo in range(0, len(rows), chunk):
        thumbs[lo:lo + chunk] = lab_to_int8(images_to_aligned_lab_thumbnails(
            np.asarray(images[rows[lo:lo + chunk]]), grid=THUMBNAIL_GRID, margins=margins))
    best = np.empty(len(i), dtype=np.float32)
    for lo in range(0, len(i), pair_chunk):
        a = thumbs[np.searchsorted(rows, i[lo:lo + pair_chunk])]  # (p, B, cells, 3)
        b = thumbs[np.searchsorted(rows, j[lo:lo + pair_chunk])]
        best[lo:lo + pair_chunk] = np.minimum(thumbnail_distances(a, b[:, :1], colour=colour).min(axis=1),
                                              thumbnail_distances(a[:, :1], b, colour=colour).min(axis=1))
    return best


def candidate_pairs(phashes: np.ndarray, centre_phashes: np.ndarray | None, *, radius: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of rows whose hashes are within Hamming `radius`: (i, j, d) (P,) int64, i < j, d the
    smallest distance.

    phashes: (R, 8) uint8; centre_phashes: (R, 8) uint8 `pixels_to_centre_phash` codes or None.
    With centre codes, a pair also counts when one image's centre code is within the radius of
    the other's plain or centre code (exact search on the 2R stacked codes).
    """
    if centre_phashes is None:
        return hamming_pairs(phashes, radius=radius)
    n = len(phashes)
    a, b, d = hamming_pairs(np.concatenate([phashes, centre_phashes]), radius=radius)
    a, b = a % n, b % n  # a stacked centre code stands for its image
    i, j = np.minimum(a, b), np.maximum(a, b)
    keep = i != j
    i, j, d = i[keep], j[keep], d[keep]
    order = np.lexsort((d, j, i))
    i, j, d = i[order], j[order], d[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])  # sorted by distance within a pair: keep the smallest
    return i[first], j[first], d[first]


def first_occurrences(digests: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) int64: for each valid row of (N, K) uint8 `digests`, the first valid row with the same
    digest (itself when it is the first); -1 for invalid rows. Sorting, O(N log N)."""
    rows = np.flatnonzero(valid)
    first = np.full(len(digests), -1, dtype=np.int64)
    if len(rows):
        keys = np.ascontiguousarray(digests[rows]).view(np.dtype((np.void, digests.shape[1])))[:, 0]
        _, first_pos, inverse = np.unique(keys, return_index=True, return_inverse=True)  # stable: first wins
        first[rows] = rows[first_pos[inverse.reshape(-1)]]
    return first


def near_duplicate_pairs(phashes: np.ndarray, images: np.ndarray, rows: np.ndarray, *, max_distance: int,
                         max_pixel_distance: float, colour: bool, centre_phashes: np.ndarray | None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near-duplicate pairs among candidate `rows` ((R,) int64, ascending).

    phashes: (N, 8) uint8 packed perceptual hashes; images: (N, H, W, C) uint8 prepared pixels.
    A pair is near when its hashes are within Hamming `max_distance` and, unless
    `max_pixel_distance` < 0, its thumbnails within that distance (`thumbnail_distances`).
    centre_phashes: (N, 8) uint8 centre-region hashes to catch crops, or None. With them, hash
    candidates include centre codes (`candidate_pairs`), and a pair whose thumbnails are too far
    apart is still near when its crop-aligned thumbnails are within `max_pixel_distance`
    (`pair_aligned_thumbnail_distances`).
    Returns (later, earlier, distance): (P,) int64 candidate indices (later > earlier) and
    Hamming distances.
    """
    crop = centre_phashes is not None
    i, j, d = candidate_pairs(phashes[rows], centre_phashes[rows] if crop else None, radius=max_distance)
    if max_pixel_distance >= 0 and len(i):
        close = pair_thumbnail_distances(images, rows[i], rows[j], colour=colour) <= max_pixel_distance
        if crop and not close.all():
            far = np.flatnonzero(~close)
            close[far] = pair_aligned_thumbnail_distances(images, rows[i[far]], rows[j[far]], colour=colour,
                                                          margins=CROP_ALIGN_MARGINS) <= max_pixel_distance
        i, j, d = i[close], j[close], d[close]
    return rows[j], rows[i], d


def near_duplicate_removals(later: np.ndarray, earlier: np.ndarray, distance: np.ndarray,
                            *, chunk: int = 65_536) -> dict[int, tuple[int, int]]:
    """Visit candidates in index order; one is removed when it has a near pair with an earlier
    candidate that is still kept, and points at the nearest such (then the lowest index).

    later, earlier, distance: (P,) int64 pairs (`near_duplicate_pairs`).
    Returns {removed candidate: (kept candidate, distance)}; pairs are read `chunk` at a time
    so no Python object is held per pair.
    """
    order = np.lexsort((earlier, distance, later))
    later, earlier, distance = later[order], earlier[order], distance[order]
    removed: dict[int, tuple[int, int]] = {}
    for lo in range(0, len(later), chunk):
        for row, kept, dist in zip(later[lo:lo + chunk].tolist(), earlier[lo:lo + chunk].tolist(),
                                   distance[lo:lo + chunk].tolist()):
            # Pairs are sorted by later row, then distance: the first kept partner is the answer.
            if row not in removed and kept not in removed:
                removed[row] = (kept, dist)
    return removed


def find_duplicates(
    digests: np.ndarray,
    valid: np.ndarray,
    phashes: np.ndarray,
    images: np.ndarray,
    *,
    max_distance: int,
    max_pixel_distance: float,
    colour: bool,
    centre_phashes: np.ndarray | None,
    splits: list[str] | None = None,
) -> list[Match]:
    """Duplicates among decoded candidates, visited in index order (first occurrence kept).

    digests: (N, K) uint8 pixel digests; rows where the (N,) bool `valid` is False (candidates
        already rejected) are ignored, as are their `phashes` and `images` rows.
    phashes: (N, 8) uint8 packed perceptual hashes; images: (N, H, W, C) uint8 prepared pixels
        (read only for pairs within the Hamming radius).
    max_distance: near-duplicate Hamming radius; -1 disables near-duplicates.
    max_pixel_distance: a near pair's CIELAB thumbnails must also be this close
        (`thumbnail_distances`); -1 trusts the hash alone.
    colour: whether that distance includes a*, b*; False compares lightness only, so colour
        variants of one picture with the same lightness pattern count as near-duplicates.
    centre_phashes: (N, 8) uint8 centre-region hashes, given to catch small crops
        (`near_duplicate_pairs`); None when the crop check is off.
    splits: per-candidate split when fixed before cleaning; a copy in a different split than
        the kept image it matches is a `leak`, so no duplicate pair straddles the splits.
    """
    first = first_occurrences(digests, valid)
    unique = np.flatnonzero(first == np.arange(len(first)))  # first occurrences, in index order
    near: dict[int, tuple[int, int]] = {}
    if max_distance >= 0 and len(unique):
        near = near_duplicate_removals(*near_duplicate_pairs(
            phashes, images, unique, max_distance=max_distance, max_pixel_distance=max_pixel_distance,
            colour=colour, centre_phashes=centre_phashes))
    # Copies point at their first occurrence even when that one is itself a near-duplicate.
    copies = np.flatnonzero((first >= 0) & (first != np.arange(len(first))))
    matches = []
    for i in sorted({*copies.tolist(), *near}):
        if first[i] == i:
            (j, distance), reason, exact = near[i], NEAR_DUPLICATE, False
        else:
            j, distance, reason, exact = int(first[i]), 0, DUPLICATE, True
        if splits is not None and splits[i] != splits[j]:
            reason = LEAK
        matches.append(Match(i, j, reason, distance, exact))
    return matches


def match_detail(match: Match, sources: list[str], splits: list[str] | None = None) -> str:
    """Human-readable `detail` for a duplicate removal."""
    kept = sources[match.kept]
    what = f"same pixels as {kept}" if match.exact else f"perceptual hash at Hamming distance {match.distance} from {kept}"
    if match.reason == LEAK:
        return f"{what} (kept in split {splits[match.kept]}; this copy was in split {splits[match.index]})"
    return what
