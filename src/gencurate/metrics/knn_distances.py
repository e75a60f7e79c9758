"""k-NN distances and ball memberships for the metrics: float32 Euclidean, blocked, never an N x N matrix.

Convention: every routine computes squared distances |a|^2 + |b|^2 - 2 a.b in float32 (one BLAS
call per (batch_size x batch_size) block, as torch.cdist expands them) and returns squared
distances or, for `nearest_distances` / `knn_radii`, their square roots; no neighbour indices
(`gencurate.metrics.memorisation.nearest_neighbours` adds those). Peak extra memory is a few blocks
whatever N is. Within one set the matrix is symmetric, so only blocks on and above the diagonal
are computed, each serving its rows and its columns. On a GPU pass `device="cuda"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm


def as_features(
    x: np.ndarray | torch.Tensor, name: str = "features", *, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """(N, D) float array -> (N, D) float32 tensor on `device` (no copy for float32 on CPU).

    Raises ValueError on anything that is not a non-empty 2-D array of finite numbers.
    """
    t = x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty (N, D) feature array, got shape {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name}: expected real-valued features, got dtype {t.dtype}")
    t = t.to(device=device, dtype=torch.float32)
    # NaN and inf propagate into the sum, so one reduction clears the usual case; only a non-finite
    # sum (possibly a harmless overflow) pays for the element check, by row blocks (torch.isfinite
    # on the whole array would allocate a full-size copy of it).
    if not bool(torch.isfinite(t.sum())) and not all(
        bool(torch.isfinite(t[i : i + 4096]).all()) for i in range(0, t.shape[0], 4096)
    ):
        raise ValueError(f"{name}: features contain NaN or inf")
    return t


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


class _Workspace:
    """Flat preallocated buffers of batch_size^2 floats, viewed as contiguous (p, q) blocks.

    Reusing them instead of allocating a new block each time keeps the allocator from fragmenting
    the heap (with small tensors kept between big ones, RSS would creep up with N).
    """

    def __init__(self, batch_size: int, device):
        self.flat = torch.empty(batch_size * batch_size, device=device)

    def view(self, p: int, q: int) -> torch.Tensor:
        return self.flat[: p * q].view(p, q)


def _squared_norms(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N,) |x_i|^2, by row blocks (x.pow(2) would copy the whole array)."""
    return torch.cat([block.pow(2).sum(1) for block in x.split(4096)])


def _squared_block(
    a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """(p, D), (q, D) and their squared norms -> (p, q) squared distances (may dip below 0 by round-off)."""
    d2 = torch.addmm(a_sq[:, None], a, b.T, alpha=-2.0, out=out)  # |a|^2 - 2 a.b in one BLAS call
    return d2.add_(b_sq[None, :])


def squared_distance_blocks(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    batch_size: int,
    progress: bool = False,
    desc: str = "k-NN",
) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """Yield (rows, cols, D2): the (len(rows), len(cols)) squared distances a[rows] to b[cols], rows outer.

    D2 is a view of a reused buffer: valid until the next block is yielded.
    """
    _check_batch_size(batch_size)
    a_sq, b_sq = _squared_norms(a), _squared_norms(b)
    work = _Workspace(batch_size, a.device)
    for i in tqdm(range(0, a.shape[0], batch_size), desc=desc, unit="block", disable=not progress, leave=False):
        rows = slice(i, min(i + batch_size, a.shape[0]))
        for j in range(0, b.shape[0], batch_size):
            cols = slice(j, min(j + batch_size, b.shape[0]))
            out = work.view(rows.stop - rows.start, cols.stop - cols.start)
            yield rows, cols, _squared_block(a[rows], b[cols], a_sq[rows], b_sq[cols], out=out)


def _smallest(d2: torch.Tensor, k: int) -> torch.Tensor:
    """(p, q) -> (p, min(k, q)): the smallest values of each row."""
    return torch.topk(d2, min(k, d2.shape[1]), dim=1, largest=False).values


def nearest_squared_distances(
    queries: np.ndarray | torch.Tensor,
    base: np.ndarray | torch.Tensor | None = None,
    *,
    k: int = 1,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Squared distances from each query to its k nearest base points: (Nq, D), (Nb, D) -> (Nq, k) float32, ascending.

    base=None means the queries themselves (each point then finds itself at ~0 first) and uses
    the symmetric half-sweep.
    """
    q = as_features(queries, "queries", device=device)
    b = q if base is None else as_features(base, "base", device=device)
    if q.shape[1] != b.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dims but base has {b.shape[1]}")
    if not 1 <= k <= b.shape[0]:
        raise ValueError(f"k must be in [1, {b.shape[0]}] (the number of base points), got {k}")
    _check_batch_size(batch_size)
    # best[i]: the k smallest squared distances of row i so far, merged block by block (fixed memory).
    best = torch.full((q.shape[0], k), float("inf"), device=q.device)

    def merge(rows: slice, smallest: torch.Tensor) -> None:
        best[rows] = torch.topk(torch.cat([best[rows], smallest], 1), k, dim=1, largest=False).values

    if base is None:
        # Block (i, j), j >= i, serves rows i (its k smallest along dim 1) and rows j (along dim 0).
        q_sq = _squared_norms(q)
        blocks = [slice(s, min(s + batch_size, q.shape[0])) for s in range(0, q.shape[0], batch_size)]
        work, work_t = _Workspace(batch_size, q.device), _Workspace(batch_size, q.device)
        for i in tqdm(range(len(blocks)), desc="k-NN (self)", unit="block", disable=not progress, leave=False):
            for j in range(i, len(blocks)):
                rows, cols = blocks[i], blocks[j]
                p, r = rows.stop - rows.start, cols.stop - cols.start
                d2 = _squared_block(q[rows], q[cols], q_sq[rows], q_sq[cols], out=work.view(p, r))
                merge(rows, _smallest(d2, k))
                if j != i:  # the columns' view: an explicit transpose into a second buffer
                    merge(cols, _smallest(work_t.view(r, p).copy_(d2.T), k))
    else:
        for rows, _, d2 in squared_distance_blocks(q, b, batch_size=batch_size, progress=progress, desc="k-NN"):
            merge(rows, _smallest(d2, k))
    out = best.cpu()
    return out.clamp_(min=0.0).numpy()


def nearest_distances(
    queries: np.ndarray | torch.Tensor,
    base: np.ndarray | torch.Tensor | None = None,
    *,
    k: int = 1,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Like `nearest_squared_distances`, in distance units: (Nq, D), (Nb, D) -> (Nq, k) float32, ascending."""
    return np.sqrt(nearest_squared_distances(queries, base, k=k, batch_size=batch_size, device=device, progress=progress))


def knn_radii(
    x: np.ndarray | torch.Tensor,
    *,
    k: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Distance of each point to its k-th nearest neighbour other than itself: (N, D) -> (N,) float32.

    The (k+1)-th smallest distance of the row including the point itself, as torch-fidelity
    (`kthvalue(k + 1)`) and the density/coverage reference code (prdc) define the k-NN ball radius.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k + 1 > len(x):
        raise ValueError(f"k-NN radius with k={k} needs at least {k + 1} points, got {len(x)}")
    return nearest_distances(x, k=k + 1, batch_size=batch_size, device=device, progress=progress)[:, k]


@dataclass(frozen=True)
class BallStatistics:
    """Ball memberships between point sets a (Na points) and b (Nb points), one row per radius set.

    a_in_b[r, i]:      a[i] lies in at least one closed ball (d <= r) of b's radius set r   (Rb, Na) bool
    b_in_a[r, j]:      b[j] lies in at least one closed ball of a's radius set r            (Ra, Nb) bool
    a_open_count[r, i]: how many open balls (d < r) of b's counting set r contain a[i]      (Rc, Na) int64
    b_nearest_sq[j]:   squared distance from b[j] to its nearest a                          (Nb,) float32
    """

    a_in_b: np.ndarray
    b_in_a: np.ndarray
    a_open_count: np.ndarray
    b_nearest_sq: np.ndarray


def _radius_sets(radii_sq: np.ndarray | None, n: int, name: str, device) -> torch.Tensor:
    if radii_sq is None:
        return torch.empty(0, n, device=device)
    r = torch.as_tensor(np.asarray(radii_sq, dtype=np.float32), device=device)
    r = r[None] if r.ndim == 1 else r
    if r.ndim != 2 or r.shape[1] != n:
        raise ValueError(f"{name}: expected ({n},) or (R, {n}) radii, got shape {tuple(r.shape)}")
    return r


def ball_statistics(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    *,
    sq_radii_a: np.ndarray | None = None,
    sq_radii_b: np.ndarray | None = None,
    sq_count_radii_b: np.ndarray | None = None,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> BallStatistics:
    """Ball memberships between a (Na, D) and b (Nb, D) in one blocked pass over the Na x Nb distances.

    Radii are squared: sq_radii_a (Na,) or (Ra, Na) centred on a, sq_radii_b and sq_count_radii_b
    (Nb,) or (R, Nb) centred on b. "In some ball" is a running minimum of d^2 - r^2 (<= 0 inside),
    far cheaper than counting; only `a_open_count` counts. One sweep serves precision, recall,
    density and coverage.
    """
    ta, tb = as_features(a, "a", device=device), as_features(b, "b", device=device)
    if ta.shape[1] != tb.shape[1]:
        raise ValueError(f"a has {ta.shape[1]} dims but b has {tb.shape[1]}")
    ra = _radius_sets(sq_radii_a, ta.shape[0], "sq_radii_a", ta.device)
    rb = _radius_sets(sq_radii_b, tb.shape[0], "sq_radii_b", ta.device)
    rc = _radius_sets(sq_count_radii_b, tb.shape[0], "sq_count_radii_b", ta.device)
    inf = float("inf")
    a_margin = torch.full((rb.shape[0], ta.shape[0]), inf, device=ta.device)
    b_margin = torch.full((ra.shape[0], tb.shape[0]), inf, device=ta.device)
    b_nearest = torch.full((tb.shape[0],), inf, device=ta.device)
    a_count = torch.zeros(rc.shape[0], ta.shape[0], dtype=torch.int64, device=ta.device)
    work = _Workspace(batch_size, ta.device)
    flags = torch.empty(batch_size * batch_size, dtype=torch.bool, device=ta.device)
    for rows, cols, d2 in squared_distance_blocks(ta, tb, batch_size=batch_size, progress=progress, desc="balls"):
        diff = work.view(*d2.shape)
        for s in range(rb.shape[0]):
            torch.sub(d2, rb[s, None, cols], out=diff)
            a_margin[s, rows] = torch.minimum(a_margin[s, rows], diff.amin(1))
        for s in range(ra.shape[0]):
            torch.sub(d2, ra[s, rows, None], out=diff)
            b_margin[s, cols] = torch.minimum(b_margin[s, cols], diff.amin(0))
        b_nearest[cols] = torch.minimum(b_nearest[cols], d2.amin(0))
        inside = flags[: d2.numel()].view(d2.shape)
        for s in range(rc.shape[0]):
            torch.lt(d2, rc[s, None, cols], out=inside)
            a_count[s, rows] += inside.sum(1, dtype=torch.int32)
    return BallStatistics(
        a_in_b=(a_margin <= 0).cpu().numpy(),
        b_in_a=(b_margin <= 0).cpu().numpy(),
        a_open_count=a_count.cpu().numpy(),
        b_nearest_sq=b_nearest.clamp_(min=0.0).cpu().numpy(),
    )
