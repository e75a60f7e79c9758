"""All pairs of 64-bit codes within a Hamming radius, exactly, in sub-quadratic time.

Pigeonhole over blocks (the multi-index idea of Norouzi et al. 2012,
https://arxiv.org/abs/1307.2982): split the 64 bits into `m > radius` disjoint blocks; two
codes that differ in at most `radius` bits differ in at most `radius` blocks, so they agree
exactly on at least `m - radius` of them. For every choice of `m - radius` blocks the codes
are sorted by those blocks' bits, and only codes sharing that key are compared (exact
popcount of the XOR). A pair found under several choices is kept once, under the first
choice of blocks it agrees on. Nothing is approximate: the result equals the brute-force search.

Memory stays proportional to N plus the pairs found: candidates are generated one
offset at a time inside the sorted runs, never as a list per code.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

CODE_BITS = 64
# Relative cost of sorting one code for one block choice against verifying one candidate pair
# (an argsort moves each code ~log2(N) times; a verification is one gather, XOR and popcount).
SORT_COST_PER_CODE = 4.0
MAX_BLOCK_CHOICES = 2000  # beyond this many sorts the search is no longer worth running this way


def packed_to_words(codes: np.ndarray) -> np.ndarray:
    """(N, 8) uint8 packed codes -> (N,) uint64 (the distance between words equals that between codes)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or codes.shape[1] != CODE_BITS // 8:
        raise ValueError(f"expected (N, {CODE_BITS // 8}) uint8 codes, got shape {codes.shape}")
    return codes.view(np.uint64)[:, 0]


def popcount(words: np.ndarray) -> np.ndarray:
    """(...) uint64 -> (...) int64 number of set bits."""
    return np.bitwise_count(words).astype(np.int64)


def choose_blocks(n: int, radius: int) -> int:
    """Number of blocks m (> radius) minimising the expected work for n uniformly spread codes:
    C(m, m - radius) sorts of n codes, each leaving about n^2 / 2^(key bits + 1) candidate pairs."""
    if radius == 0:
        return 1
    best, best_cost = radius + 1, math.inf
    for m in range(radius + 1, CODE_BITS + 1):
        choices = math.comb(m, m - radius)
        if choices > MAX_BLOCK_CHOICES and m > radius + 1:
            break
        key_bits = (m - radius) * (CODE_BITS // m)  # the narrowest blocks: the worst case
        cost = choices * (SORT_COST_PER_CODE * n + n * n / 2.0 ** (key_bits + 1))
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def balanced_blocks(words: np.ndarray, m: int, *, sample: int = 100_000) -> list[np.ndarray]:
    """Partition the 64 bit positions into m blocks of near-equal size whose summed bit entropies
    are balanced (perceptual hashes have nearly constant bits, e.g. the DC term, that would make
    one block's keys nearly constant). Returns m int arrays of bit positions."""
    head = words[:sample]
    ones = np.array([np.count_nonzero((head >> np.uint64(b)) & np.uint64(1)) for b in range(CODE_BITS)], dtype=float)
    p = np.clip(ones / max(1, len(head)), 1e-9, 1 - 1e-9)
    entropy = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    sizes = [CODE_BITS // m + (k < CODE_BITS % m) for k in range(m)]
    blocks: list[list[int]] = [[] for _ in range(m)]
    totals = np.zeros(m)
    for bit in np.argsort(-entropy, kind="stable"):
        open_blocks = [k for k in range(m) if len(blocks[k]) < sizes[k]]
        k = min(open_blocks, key=lambda b: (totals[b], b))
        blocks[k].append(int(bit))
        totals[k] += entropy[bit]
    return [np.array(sorted(b), dtype=np.uint64) for b in blocks]


def block_values(words: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """(N,) uint64 words -> (N, m): the bits of each block gathered into one integer (uint32 when
    every block has at most 32 bits, which halves this table, else uint64)."""
    narrow = max(len(b) for b in blocks) <= 32
    out = np.zeros((len(words), len(blocks)), dtype=np.uint32 if narrow else np.uint64)
    for k, bits in enumerate(blocks):
        col = np.zeros(len(words), dtype=np.uint64)
        for pos, bit in enumerate(bits):
            col |= ((words >> bit) & np.uint64(1)) << np.uint64(pos)
        out[:, k] = col
    return out


def _run_ends(sorted_keys: np.ndarray) -> np.ndarray:
    """(N,) sorted keys -> (N,) int64: for each position, the end (exclusive) of its run of equal keys."""
    n = len(sorted_keys)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], n]
    return np.repeat(ends, np.diff(np.r_[starts, n]))


def _first_choice_masks(agree: np.ndarray, q: int) -> np.ndarray:
    """(P,) uint64 masks of agreeing blocks -> (P,) uint64 mask of their q lowest set bits."""
    rest, out = agree.copy(), np.zeros_like(agree)
    for _ in range(q):
        low = rest & (~rest + np.uint64(1))  # lowest set bit (two's complement)
        out |= low
        rest ^= low
    return out


def pigeonhole_pairs(words: np.ndarray, *, radius: int, blocks: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of (N,) uint64 `words` within Hamming `radius`, using `blocks` (> radius) blocks.

    Returns (i, j, d): (P,) int64 arrays with i < j and d = distance <= radius, sorted by (i, j).
    """
    if not 0 <= radius < blocks <= CODE_BITS:
        raise ValueError(f"need 0 <= radius < blocks <= {CODE_BITS}, got radius {radius}, blocks {blocks}")
    words = np.ascontiguousarray(words, dtype=np.uint64)
    n, q = len(words), blocks - radius
    parts = balanced_blocks(words, blocks)
    values = block_values(words, parts)
    found_i, found_j, found_d = [], [], []
    for choice in itertools.combinations(range(blocks), q):
        key = np.zeros(n, dtype=np.uint64)
        for k in choice:
            key = (key << np.uint64(len(parts[k]))) | values[:, k].astype(np.uint64)
        order = np.argsort(key, kind="stable")
        ends = _run_ends(key[order])
        active = np.flatnonzero(ends - np.arange(n) > 1)
        choice_mask = np.uint64(sum(1 << k for k in choice))
        offset = 1
        while len(active):
            a, b = order[active], order[active + offset]
            d = popcount(words[a] ^ words[b])
            close = d <= radius
            if close.any():
                a, b, d = a[close], b[close], d[close]
                agree = np.zeros(len(a), dtype=np.uint64)
                for k in range(blocks):
                    agree |= (values[a, k] == values[b, k]).astype(np.uint64) << np.uint64(k)
                first = _first_choice_masks(agree, q) == choice_mask
                found_i.append(np.minimum(a, b)[first])
                found_j.append(np.maximum(a, b)[first])
                found_d.append(d[first])
            offset += 1
            active = active[active + offset < ends[active]]
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    i, j, d = (np.concatenate(x).astype(np.int64) for x in (found_i, found_j, found_d))
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]


def hamming_pairs(codes: np.ndarray, *, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of (N, 8) uint8 packed 64-bit codes within Hamming `radius` (>= 0).

    Returns (i, j, d): (P,) int64 arrays, i < j, d <= radius, sorted by (i, j); exactly the
    pairs of a brute-force all-pairs search.
    """
    words = packed_to_words(codes)
    return pigeonhole_pairs(words, radius=radius, blocks=choose_blocks(len(words), radius))
