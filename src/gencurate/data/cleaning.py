"""Why an image is removed, and the duplicate / near-duplicate / leakage decisions.

Exact duplicates compare a hash of the decoded, converted pixels (so a PNG and a lossless
re-encode of it are duplicates). Near-duplicates compare 64-bit perceptual hashes (DCT
pHash, https://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html, via
`imagehash`) by Hamming distance, searched with faiss. Candidates are visited in their fixed
order and the first occurrence is kept, so the result does not depend on worker timing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import faiss
import imagehash
import numpy as np
from PIL import Image

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

PHASH_BYTES = 8  # 64-bit pHash (8x8 low-frequency DCT signs)


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


def pixels_to_phash(pixels: np.ndarray) -> bytes:
    """64-bit perceptual hash of (H, W, C) uint8 pixels, packed into 8 bytes."""
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    return np.packbits(imagehash.phash(image).hash.reshape(-1)).tobytes()


def hamming_neighbours(codes: np.ndarray, max_distance: int) -> dict[int, dict[int, int]]:
    """For (N, 8) uint8 packed hashes: {row: {other row: distance <= max_distance}}, for the rows
    that have such neighbours (others absent). The relation is symmetric."""
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(np.ascontiguousarray(codes))
    # faiss keeps distances strictly below the radius.
    lims, dist, ids = index.range_search(np.ascontiguousarray(codes), max_distance + 1)
    out: dict[int, dict[int, int]] = {}
    for i in np.flatnonzero(np.diff(lims) > 1):  # every row finds itself
        sl = slice(lims[i], lims[i + 1])
        out[int(i)] = {int(j): int(d) for j, d in zip(ids[sl], dist[sl]) if j != i}
    return out


def equal_hash_neighbours(phashes: np.ndarray, rows: np.ndarray | list[int]) -> dict[int, dict[int, int]]:
    """Hamming radius 0 by grouping, in O(N log N): for (N, 8) uint8 hashes and candidate `rows`,
    {row: {other row with the same hash: 0}} for the rows that share their hash (others absent).

    The pairwise search of `hamming_neighbours` is quadratic (measured 11.8 s at 200k rows,
    ~300 s projected at 1M), for the default radius 0 it only needs equal codes.
    """
    rows_arr = np.asarray(rows, dtype=np.int64)
    codes = np.ascontiguousarray(phashes[rows_arr]).view(np.uint64)[:, 0]
    _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    shared = np.flatnonzero(counts[inverse] > 1)
    groups: dict[int, list[int]] = {}
    for r in shared:
        groups.setdefault(int(inverse[r]), []).append(int(rows_arr[r]))
    return {i: {j: 0 for j in group if j != i} for group in groups.values() for i in group}


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


def find_duplicates(
    digests: np.ndarray,
    valid: np.ndarray,
    phashes: np.ndarray,
    *,
    max_distance: int,
    splits: list[str] | None = None,
) -> list[Match]:
    """Duplicates among decoded candidates, visited in index order (first occurrence kept).

    digests: (N, K) uint8 pixel digests; rows where the (N,) bool `valid` is False (candidates
        already rejected) are ignored, as are their `phashes` rows.
    phashes: (N, 8) uint8 packed perceptual hashes.
    max_distance: near-duplicate Hamming radius; -1 disables near-duplicates.
    splits: per-candidate split when fixed before cleaning; a copy in a different split than
        the kept image it matches is a `leak`, so no duplicate pair straddles the splits.
    """
    first = first_occurrences(digests, valid)
    unique = np.flatnonzero(first == np.arange(len(first)))  # first occurrences, in index order
    near: dict[int, dict[int, int]] = {}
    if max_distance == 0 and len(unique):
        near = equal_hash_neighbours(phashes, unique)
    elif max_distance > 0 and len(unique):
        rows = hamming_neighbours(phashes[unique], max_distance)
        near = {int(unique[r]): {int(unique[c]): d for c, d in nb.items()} for r, nb in rows.items()}
    # Only copies and images with a near neighbour can be removed. A first occurrence is kept
    # unless it is itself a near-duplicate; its neighbours are near-neighbours too (the relation
    # is symmetric), so every earlier one is decided before it is consulted.
    copies = np.flatnonzero((first >= 0) & (first != np.arange(len(first))))
    removed_near: set[int] = set()
    matches = []
    for i in sorted({*copies.tolist(), *near}):
        j, reason, distance, exact = int(first[i]), DUPLICATE, 0, True
        if j == i:
            earlier = [(d, k) for k, d in near[i].items() if k < i and k not in removed_near]
            if not earlier:
                continue
            distance, j = min(earlier)
            reason, exact = NEAR_DUPLICATE, False
            removed_near.add(i)
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
