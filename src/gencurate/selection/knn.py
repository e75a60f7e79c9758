"""k nearest other rows of every row, in tiles (memory O(N*D + N*k), never N x N).

Exact search streams (query block x row block) tiles of |y|^2 - 2 x.y (a torch matmul) into
faiss's k-selection heaps (`faiss.ResultHeap`); approximate search for very large N is a faiss
IVF index. Faiss's own exact `IndexFlatL2` computes the same tiles with the OpenBLAS 0.3.15
bundled in the faiss-cpu wheel, which does not recognise recent Xeons and falls back to its
generic Prescott kernels: measured 10-25 GFlop/s there against 40-100 for torch's matmul on
this 2-core machine, so the tiles come from torch and faiss keeps the part it is made for.
(Computing only the upper triangle of the symmetric self-distance matrix saved <10% here: the
transposed copies for the column heaps cost nearly what the skipped matmuls did.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faiss
import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from tqdm.auto import tqdm

QUERY_BATCH = 2048  # query rows per tile
BASE_BATCH = 16384  # indexed rows per tile (2048 x 16384 float32 = 128 MiB)
REFINE_BYTES = 32 * 2**20  # gathered float64 neighbour rows per exact-distance pass
# Extra candidates re-measured exactly beyond k + 1, so that a float32 near-tie at the k-th
# neighbour cannot leave the true k-th neighbour out.
CANDIDATE_MARGIN = 4
IVF_POINTS_PER_LIST = 64  # k-means training points per inverted list (IVF only)
# Multiply-adds below which one thread is faster (~5 ms of work): OpenMP start-up and barriers
# cost more, and on a loaded machine far more (measured 2.7 s vs 1 ms for a 230-row k-means).
SMALL_WORK = 2**27
_THREADPOOLS = ThreadpoolController()  # BLAS and OpenMP libraries loaded with numpy, faiss and torch


@contextlib.contextmanager
def single_threaded(work: int = 0) -> Iterator[None]:
    """Run torch, BLAS and OpenMP (faiss) on one thread when `work` (multiply-adds) is below
    SMALL_WORK, or always with the default 0 (e.g. around many tiny searches)."""
    if work >= SMALL_WORK:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _THREADPOOLS.limit(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


def build_ivf_index(embeddings: np.ndarray, *, nlist: int, nprobe: int, seed: int = 0) -> faiss.IndexIVFFlat:
    """A faiss `IndexIVFFlat` over (N, D) float32 rows: `nlist` inverted lists, `nprobe` searched.

    Approximate, for N where exact k-NN is too slow; its k-means is trained on
    IVF_POINTS_PER_LIST rows per list (faiss subsamples with `seed`).
    """
    if not 1 <= nlist <= len(embeddings):
        raise ValueError(f"nlist must be in [1, {len(embeddings)}], got {nlist}")
    if not 1 <= nprobe <= nlist:
        raise ValueError(f"nprobe must be in [1, nlist={nlist}], got {nprobe}")
    d = embeddings.shape[1]
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    index.cp.seed = seed
    index.cp.max_points_per_centroid = IVF_POINTS_PER_LIST
    index.train(embeddings)
    index.add(embeddings)
    index.nprobe = nprobe
    return index


def exact_candidates(
    embeddings: np.ndarray, queries: np.ndarray, k: int, *, norms: torch.Tensor | None = None
) -> np.ndarray:
    """Ids of the k rows of (N, D) `embeddings` nearest to each of (B, D) `queries`: (B, k) int64.

    |x - y|^2 = |x|^2 + |y|^2 - 2 x.y; |x|^2 is the same for every candidate of a query, so the
    ranking only needs |y|^2 - 2 x.y (float32), streamed tile by tile into faiss's heaps.
    `norms`: the (N,) squared row norms, when the caller already has them.
    """
    base = torch.from_numpy(embeddings)  # shares memory
    norms = base.pow(2).sum(1) if norms is None else norms
    q = torch.from_numpy(np.ascontiguousarray(queries))
    heap = faiss.ResultHeap(len(q), k)
    every_query = np.arange(len(q), dtype=np.int64)
    with faiss_single_threaded():
        for a in range(0, len(base), BASE_BATCH):
            rows = base[a : a + BASE_BATCH]
            tile = torch.addmm(norms[None, a : a + BASE_BATCH], q, rows.T, alpha=-2.0)  # (B, rows)
            heap.add_result_subset(every_query, tile.numpy(), np.arange(a, a + len(rows), dtype=np.int64))
    heap.finalize()
    return heap.I


@contextlib.contextmanager
def faiss_single_threaded() -> Iterator[None]:
    """Faiss's OpenMP on one thread around cheap heap updates interleaved with torch matmuls:
    idle OpenMP threads spin-wait and steal the cores the matmul needs (measured 26 s -> 19 s)."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def knn_search(
    embeddings: np.ndarray,
    k: int,
    *,
    nlist: int | None = None,
    nprobe: int = 1,
    seed: int = 0,
    index: faiss.Index | None = None,
    batch_size: int = QUERY_BATCH,
    desc: str | None = "k-NN",
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the k nearest *other* rows of every row.

    embeddings: (N, D) float32 C-contiguous with N > k. Returns distances (N, k) float64,
    Euclidean, ascending per row (ties: lower index first), and indices (N, k) int64. Exact
    unless `nlist` selects a faiss IVF index (see `build_ivf_index`) or `index` is such an index
    already built over these rows.

    The float32 search only shortlists k + 1 + CANDIDATE_MARGIN candidates; their distances are
    recomputed in float64 from the differences x - y. The float32 expansion changes in the last
    bits with the thread count and loses precision for near-duplicates (a squared error of 1e-7
    is a distance of 3e-4). An exact duplicate of a row is a neighbour at distance 0.
    """
    x = embeddings
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k-NN needs 1 <= k < number of rows ({n}), got k={k}")
    if index is not None and index.ntotal != n:
        raise ValueError(f"the index holds {index.ntotal} rows, the embeddings {n}")
    with single_threaded(n * n * x.shape[1] if nlist is None and index is None else SMALL_WORK):
        if index is None and nlist is not None:
            index = build_ivf_index(x, nlist=nlist, nprobe=nprobe, seed=seed)
        return _knn_search(x, k, index=index, batch_size=batch_size, desc=desc)


def _knn_search(x, k, *, index, batch_size, desc):
    """`knn_search` with the index (None = exact) chosen."""
    n = len(x)
    shortlist = min(k + 1 + CANDIDATE_MARGIN, n)
    norms = torch.from_numpy(x).pow(2).sum(1) if index is None else None
    dist = np.empty((n, k), dtype=np.float64)
    idx = np.empty((n, k), dtype=np.int64)
    starts = range(0, n, batch_size)
    for a in tqdm(starts, desc=desc, unit="batch", disable=desc is None or len(starts) < 2):
        b = min(a + batch_size, n)
        if index is None:
            found = exact_candidates(x, x[a:b], shortlist, norms=norms)
        else:
            found = index.search(x[a:b], shortlist)[1]
            if (found < 0).any():
                raise ValueError(f"the IVF index found fewer than {shortlist} candidates for some rows; raise nprobe")
        found = np.sort(_drop_self(found, np.arange(a, b)), axis=1)  # by index, so ties keep the lower index
        exact = _exact_distances(x, np.arange(a, b), found)
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        dist[a:b] = np.take_along_axis(exact, order, axis=1)
        idx[a:b] = np.take_along_axis(found, order, axis=1)
    return dist, idx


def _drop_self(found: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(B, k+1) neighbour ids -> (B, k): remove the row itself, or the farthest when absent.

    The row is absent only when more than k exact duplicates tie with it at distance 0.
    """
    is_self = found == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return found[~is_self].reshape(len(found), found.shape[1] - 1)


def _exact_distances(x: np.ndarray, rows: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """|x[rows] - x[neighbours]| in float64, fixed summation order: (B,), (B, m) -> (B, m) float64."""
    m, d = neighbours.shape[1], x.shape[1]
    step = max(1, REFINE_BYTES // (8 * m * d))
    out = np.empty(neighbours.shape, dtype=np.float64)
    for a in range(0, len(rows), step):
        diff = x[neighbours[a : a + step]].astype(np.float64)  # (b, m, D)
        diff -= x[rows[a : a + step], None, :]
        out[a : a + step] = np.sqrt(np.einsum("bkd,bkd->bk", diff, diff))
    return out
