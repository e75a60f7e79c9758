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


def hamming_neighbours(codes: np.ndarray, max_distance: int) -> list[dict[int, int]]:
    """For (N, 8) uint8 packed hashes: per row, {other row: distance} for distances <= max_distance."""
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(np.ascontiguousarray(codes))
    # faiss keeps distances strictly below the radius.
    lims, dist, ids = index.range_search(np.ascontiguousarray(codes), max_distance + 1)
    out: list[dict[int, int]] = []
    for i in range(len(codes)):
        sl = slice(lims[i], lims[i + 1])
        out.append({int(j): int(d) for j, d in zip(ids[sl], dist[sl]) if j != i})
    return out


def equal_hash_neighbours(phashes: np.ndarray, rows: list[int]) -> dict[int, dict[int, int]]:
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


def find_duplicates(
    digests: list[bytes | None],
    phashes: np.ndarray,
    *,
    max_distance: int,
    splits: list[str] | None = None,
) -> list[Match]:
    """Duplicates among decoded candidates, visited in index order (first occurrence kept).

    digests: per candidate, the pixel digest, or None for a candidate already rejected.
    phashes: (N, 8) uint8 packed perceptual hashes (rows of rejected candidates are ignored).
    max_distance: near-duplicate Hamming radius; -1 disables near-duplicates.
    splits: per-candidate split when fixed before cleaning; a copy in a different split than
        the kept image it matches is a `leak`, so no duplicate pair straddles the splits.
    """
    valid = [i for i, d in enumerate(digests) if d is not None]
    first_of: dict[bytes, int] = {}
    unique = []
    for i in valid:
        first_of.setdefault(digests[i], i)
        if first_of[digests[i]] == i:
            unique.append(i)
    near: dict[int, dict[int, int]] = {}
    if max_distance == 0 and unique:
        near = equal_hash_neighbours(phashes, unique)
    elif max_distance > 0 and unique:
        rows = hamming_neighbours(phashes[unique], max_distance)
        near = {unique[r]: {unique[c]: d for c, d in nb.items()} for r, nb in enumerate(rows)}
    kept: set[int] = set()
    matches = []
    for i in valid:
        j, reason, distance, exact = first_of[digests[i]], DUPLICATE, 0, True
        if j == i:
            earlier = [(d, k) for k, d in near.get(i, {}).items() if k < i and k in kept]
            if not earlier:
                kept.add(i)
                continue
            distance, j = min(earlier)
            reason, exact = NEAR_DUPLICATE, False
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
