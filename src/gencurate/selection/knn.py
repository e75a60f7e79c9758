"""Self k-NN for selection: each row's k nearest *other* rows of the same set, returned as float64
Euclidean distances (not squared), ascending, ties to the lower index.

Convention: candidates are screened on float32 squared distances |x|^2 + |y|^2 - 2 x.y and the
shortlist is re-measured exactly in float64 from x - y (gencurate.metrics.knn, the metrics'
k-NN, returns float32 distances instead). Memory is O(N*D + N*k), never N x N. Exact
search streams tiles of torch matmuls into faiss's k-selection heaps (`faiss.ResultHeap`):
the OpenBLAS bundled with faiss-cpu is far slower than torch's matmul on recent CPUs, so faiss
keeps only the selection. The self-distance matrix is symmetric, so only tiles on and above
the diagonal are computed, each feeding the heaps of its rows and (transposed) its columns;
small square tiles keep that transpose in cache. Approximate search for very large N is a
faiss IVF index.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faiss
import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from tqdm.auto import tqdm

from gencurate.selection.distance import squared_distance_tolerance

QUERY_BATCH = 2048  # query rows per tile in `exact_candidates`
BASE_BATCH = 16384  # indexed rows per tile there (2048 x 16384 float32 = 128 MiB)
TILE = 512  # rows and columns of a self-distance tile (1 MiB float32: the transpose stays in L2)
# Gathered float64 neighbour rows per exact-distance pass: in L2, 2x faster than 32 MiB passes.
REFINE_BYTES = 2 * 2**20
# Candidates shortlisted in float32 beyond k + 1 and re-measured exactly. Rows whose float32
# gap between the (k+1)-th and the last candidate is within twice the rounding bound (a near
# tie that could hide a true neighbour) are searched again over all rows (`_near_tie_candidates`).
CANDIDATE_MARGIN = 4
IVF_POINTS_PER_LIST = 64  # k-means training points per inverted list (IVF only)
# Multiply-adds below which one thread is faster (~5 ms of work): OpenMP start-up and barriers
# cost more, and on a loaded machine far more.
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


def build_ivf_index(embeddings: np.ndarray, *, nlist: int, nprobe: int, seed: int) -> faiss.IndexIVFFlat:
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


def self_candidates(
    embeddings: np.ndarray, m: int, *, block: int = TILE, desc: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The m rows of (N, D) `embeddings` nearest to each row in float32, itself included:
    ((N, m) float32 squared distances, ascending; (N, m) int64 ids).

    Only tiles (I, J >= I) are multiplied: tile (I, J) feeds the heaps of rows I and its
    transpose those of rows J, so both rank by the full |x|^2 + |y|^2 - 2 x.y.
    """
    base = torch.from_numpy(embeddings)  # shares memory
    n = len(base)
    norms = base.pow(2).sum(1)
    heap = faiss.ResultHeap(n, m)
    starts = range(0, n, block)
    with faiss_single_threaded():
        for a in tqdm(starts, desc=desc, unit="block", disable=desc is None or len(starts) < 2):
            rows = np.arange(a, min(a + block, n), dtype=np.int64)
            for b in range(a, n, block):
                cols = np.arange(b, min(b + block, n), dtype=np.int64)
                tile = torch.addmm(norms[None, b : b + block], base[a : a + block], base[b : b + block].T, alpha=-2.0)
                tile += norms[a : a + block, None]
                heap.add_result_subset(rows, tile.numpy(), cols)
                if b != a:
                    heap.add_result_subset(cols, tile.T.contiguous().numpy(), rows)
    heap.finalize()
    return heap.D, heap.I


@contextlib.contextmanager
def faiss_single_threaded() -> Iterator[None]:
    """Faiss's OpenMP on one thread around cheap heap updates interleaved with torch matmuls:
    idle OpenMP threads spin-wait and steal the cores the matmul needs."""
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
    nprobe: int | None = None,
    seed: int | None = None,
    index: faiss.Index | None = None,
    batch_size: int = TILE,
    desc: str | None = "k-NN",
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the k nearest *other* rows of every row.

    embeddings: (N, D) float32 C-contiguous with N > k. Returns distances (N, k) float64,
    Euclidean, ascending per row (ties: lower index first), and indices (N, k) int64. Exact
    unless `nlist` selects a faiss IVF index (see `build_ivf_index`; it then needs `nprobe` and
    `seed`, select.knn_nprobe and select.seed) or `index` is such an index already built over these rows.

    `batch_size`: rows per tile side (exact) or per IVF search. The float32 search only
    shortlists k + 1 + CANDIDATE_MARGIN candidates (exact search: every row within the float32
    rounding bound of the (k+1)-th, for near ties); their distances are recomputed in float64
    from the differences x - y. The float32 expansion changes in the last bits with the thread
    count and loses precision for near-duplicates (a squared error of 1e-7 is a distance of
    3e-4). An exact duplicate of a row is a neighbour at distance 0.
    """
    x = embeddings
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k-NN needs 1 <= k < number of rows ({n}), got k={k}")
    if nlist is not None and (nprobe is None or seed is None):
        raise ValueError("an IVF index (nlist) needs nprobe and seed")
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
    if index is None:
        screened, found = self_candidates(x, shortlist, block=batch_size, desc=desc)
    else:
        found = np.empty((n, shortlist), dtype=np.int64)
        for a in tqdm(range(0, n, batch_size), desc=desc, unit="batch", disable=desc is None or n <= batch_size):
            found[a : a + batch_size] = index.search(x[a : a + batch_size], shortlist)[1]
        if (found < 0).any():
            raise ValueError(f"the IVF index found fewer than {shortlist} candidates for some rows; raise nprobe")
    dist = np.empty((n, k), dtype=np.float64)
    idx = np.empty((n, k), dtype=np.int64)
    for a in range(0, n, batch_size):
        b = min(a + batch_size, n)
        dist[a:b], idx[a:b] = _nearest_exactly(x, np.arange(a, b), _drop_self(found[a:b], np.arange(a, b)), k)
    if index is None and shortlist < n:
        # A true neighbour is outside the shortlist only if its float32 value is within 2 tol of the
        # (k+1)-th candidate's: exact (k+1)-th <= screened[k] + tol, and exact >= float32 - tol.
        tol = squared_distance_tolerance(x.shape[1], float(np.einsum("ij,ij->i", x, x).max()))
        for row, limit in _near_tie_candidates(x, np.flatnonzero(screened[:, -1] - screened[:, k] <= 2 * tol),
                                               screened[:, k] + 2 * tol):
            others = limit[limit != row]
            near, ids = _nearest_exactly(x, np.array([row]), others[None, :], k)
            dist[row], idx[row] = near[0], ids[0]
    return dist, idx


def _nearest_exactly(x: np.ndarray, rows: np.ndarray, found: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k of each row's candidates nearest in float64: (B,), (B, m) -> (B, k) float64, (B, k) int64.

    Candidates are sorted by id first, so exact ties keep the lower index."""
    found = np.sort(found, axis=1)
    exact = _exact_distances(x, rows, found)
    order = np.argsort(exact, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(exact, order, axis=1), np.take_along_axis(found, order, axis=1)


def _near_tie_candidates(x: np.ndarray, rows: np.ndarray, limits: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """For each of `rows`, the ids of all rows within float32 squared distance `limits[row]` (itself included)."""
    if not len(rows):
        return
    base = torch.from_numpy(x)
    norms = base.pow(2).sum(1)
    for a in range(0, len(rows), QUERY_BATCH):
        part = rows[a : a + QUERY_BATCH]
        q = base[part]
        hits = [[] for _ in part]
        for b in range(0, len(x), BASE_BATCH):
            tile = torch.addmm(norms[None, b : b + BASE_BATCH], q, base[b : b + BASE_BATCH].T, alpha=-2.0)
            tile += norms[part, None]
            r, c = np.nonzero(tile.numpy() <= limits[part, None])
            for i, j in zip(r.tolist(), (c + b).tolist()):
                hits[i].append(j)
        for row, found in zip(part.tolist(), hits):
            yield row, np.array(found, dtype=np.int64)


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
