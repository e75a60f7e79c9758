"""Running distance from every row to its nearest pick: the inner loop of the k-center greedy.

Each pick costs one (N, D) x (D,) float32 product (BLAS gemv) plus O(N) element-wise work,
using |x - c|^2 = |x|^2 + |c|^2 - 2 x.c with the squared norms computed once; nothing N x N
is ever formed. The rows are cut into fixed blocks, each multiplied by single-threaded BLAS
and the blocks shared among worker threads: a multi-threaded gemv splits rows differently
for each thread count and so changes the last bits of some dot products (OpenBLAS does),
which would make picks depend on the machine. With fixed blocks
every element goes through the same arithmetic whatever the number of workers.

float32 only screens. Its error is bounded (`tolerance`), so the rows that could be the true
best are known; those few are re-scored in float64 against every pick (`exact_sq`) and ties
within float64 rounding go to the lowest row. The picks therefore equal those of an exact
float64 computation (tested against brute-force references); without the re-scoring, a
float32 near-tie can flip the order of picks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from gencurate.runtime import cpu_count

# Rows per block: ~8 MiB of float32 embeddings (4,096 rows at D=512), large enough that the
# per-block call overhead is small, small enough to balance the workers.
BLOCK_BYTES = 8 * 2**20
# Most candidates re-scored exactly per pick; more only with massively duplicated rows, where
# the float32 best CANDIDATE_CAP are re-scored (exactness is then lost among exact ties only).
CANDIDATE_CAP = 4096
RELATIVE_TIE = 1e-12  # float64 values this close to the best tie (-> lowest row)

_U32 = 2.0**-24  # unit roundoff of float32
_U64 = 2.0**-53


def squared_distance_tolerance(d: int, max_sq_norm: float, *, unit_roundoff: float = _U32) -> float:
    """Bound on the rounding error of |x|^2 + |c|^2 - 2 x.c over rows of squared norm <= max_sq_norm.

    In any summation order it is (D + 3) u (|x| + |c|)^2 <= 4 (D + 3) u max|x|^2 (inner-product
    bound, Higham 2002, sec. 3.1); doubled for safety.
    """
    return 8 * (d + 3) * unit_roundoff * max_sq_norm


class NearestPickDistance:
    """Squared Euclidean distance of every row to its nearest pick, updated one pick at a time.

    `sq` is (N,) float32: +inf before any pick, and -inf for picked rows so they never win an
    argmax again; |sq - exact| <= `tolerance` for every other row. Use as a context manager:
    it holds the worker threads and keeps BLAS single-threaded inside.

    embeddings: (N, D) float32, C-contiguous; capacity: the most picks that will be added.
    """

    def __init__(self, embeddings: np.ndarray, *, capacity: int, workers: int | None = None) -> None:
        x = embeddings
        if x.dtype != np.float32 or x.ndim != 2 or not x.flags.c_contiguous:
            raise ValueError("NearestPickDistance needs a C-contiguous (N, D) float32 array")
        self._x = x
        n, d = x.shape
        self._norms = np.einsum("ij,ij->i", x, x)  # (N,) float32, fixed summation order
        self.sq = np.full(n, np.inf, dtype=np.float32)
        self._scratch = np.empty(n, dtype=np.float32)
        max_norm = float(self._norms.max()) if n else 0.0
        self.tolerance = squared_distance_tolerance(d, max_norm)
        self.exact_tolerance = squared_distance_tolerance(d, max_norm, unit_roundoff=_U64)
        self._picked = np.empty((capacity, d), dtype=np.float64)
        self._picked_norms = np.empty(capacity, dtype=np.float64)
        self.count = 0
        rows = max(1, BLOCK_BYTES // (4 * max(d, 1)))
        blocks = [(a, min(a + rows, n)) for a in range(0, n, rows)]
        n_workers = max(1, min(workers or cpu_count(), len(blocks)))
        # Contiguous runs of whole blocks per worker: the blocks, not the workers, fix the arithmetic.
        self._parts = [list(part) for part in np.array_split(np.arange(len(blocks)), n_workers)]
        self._blocks = blocks
        self._pool: ThreadPoolExecutor | None = None
        self._limits = None

    def __enter__(self) -> NearestPickDistance:
        self._limits = threadpool_limits(limits=1, user_api="blas")
        if len(self._parts) > 1:
            self._pool = ThreadPoolExecutor(max_workers=len(self._parts), thread_name_prefix="gencurate-select")
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def add(self, index: int) -> None:
        """Fold the pick `index` into `sq` (one gemv over all rows), then mark it picked."""
        centre = self._x[index].copy()  # (D,)
        centre_norm = self._norms[index]
        if self._pool is None:  # one worker, or used outside `with`
            for part in self._parts:
                self._update_part(part, centre, centre_norm)
        else:
            futures = [self._pool.submit(self._update_part, part, centre, centre_norm) for part in self._parts]
            for future in futures:
                future.result()
        self.sq[index] = -np.inf
        self._picked[self.count] = centre
        self._picked_norms[self.count] = self._picked[self.count] @ self._picked[self.count]
        self.count += 1

    def exact_sq(self, rows: np.ndarray) -> np.ndarray:
        """(M,) rows -> (M,) float64 squared distance to the nearest pick (inf before any pick)."""
        if self.count == 0:
            return np.full(len(rows), np.inf)
        x = self._x[rows].astype(np.float64)  # (M, D)
        picked = self._picked[: self.count]  # (T, D)
        sq = np.einsum("ij,ij->i", x, x)[:, None] + self._picked_norms[None, : self.count] - 2.0 * (x @ picked.T)
        return np.maximum(sq.min(axis=1), 0.0)

    def _update_part(self, part: list[int], centre: np.ndarray, centre_norm: np.float32) -> None:
        for block in part:
            a, b = self._blocks[block]
            dist = self._scratch[a:b]
            np.matmul(self._x[a:b], centre, out=dist)  # x.c, single-threaded BLAS gemv
            dist *= -2.0
            dist += self._norms[a:b]
            dist += centre_norm
            np.minimum(self.sq[a:b], dist, out=self.sq[a:b])


def shortlist(candidates: np.ndarray, screen: np.ndarray) -> np.ndarray:
    """At most CANDIDATE_CAP of the sorted `candidates`, those with the largest `screen` values."""
    if len(candidates) <= CANDIDATE_CAP:
        return candidates
    return np.sort(candidates[np.argpartition(screen[candidates], -CANDIDATE_CAP)[-CANDIDATE_CAP:]])


def first_best(candidates: np.ndarray, exact: np.ndarray, *, atol: float = 0.0) -> int:
    """The lowest candidate whose exact value is within rounding (atol + RELATIVE_TIE) of the best."""
    best = exact.max()
    return int(candidates[np.flatnonzero(exact >= best - atol - RELATIVE_TIE * abs(best))[0]])
