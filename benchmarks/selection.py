"""Selection speed: ours vs straightforward references, side by side in one run.

    .venv/bin/python benchmarks/selection.py            # 100k x 512 vs references, then 1M x 512
    .venv/bin/python benchmarks/selection.py --quick    # small sizes, to check the script

- coreset at N x D, budget B: `kcenter_greedy` vs google/active-learning's kcenter_greedy
  (sklearn `pairwise_distances` to each new centre, running minimum); same pick order?
- typicality: `embeddings_to_typicality` + `typicality_greedy` vs sklearn
  `NearestNeighbors(algorithm="brute")` + per-pick `pairwise_distances`; same pick order?
  The references get float64 copies: their distances are then exact, so "identical" checks
  exactness, and it is their faster path (sklearn computes float32 input in float64 chunks too,
  slower per pick, and rounds results to float32, tying 1-ulp-apart rows).
- coreset at 1M x 512 (2 GB): time, peak memory, and the memory-bandwidth bound
  budget * N * D * 4 bytes / measured read bandwidth (numpy passes over the same array).
- typicality at 1M: exact k-NN of 1M x 512 is ~5e14 multiply-adds (hours on 2 cores), so its
  k-NN uses a faiss IVF index: nlist=1024 lists, nprobe=2 (each query scans ~1/500 of the
  rows; recall and speed of nprobe 1-8 are measured on 512 sampled rows against exact k-NN, and
  the full k-NN time of each extrapolated). The greedy part is exact as always.

Writes benchmarks/results/selection.json after every part (partial results survive).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
import torch
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from gencurate.runtime import cpu_count
from gencurate.selection import kcenter_greedy
from gencurate.selection.knn import build_ivf_index, exact_candidates, knn_search
from gencurate.selection.typicality import (
    EPS, embeddings_to_typicality, knn_distances_to_radius, knn_distances_to_typicality, typicality_greedy,
)
from provenance import provenance

RESULTS = Path(__file__).parent / "results" / "selection.json"


def clustered_embeddings(n: int, d: int, *, centres: int = 1000, noise: float = 0.6, seed: int = 0) -> np.ndarray:
    """(n, d) float32 L2-normalised rows around `centres` random centres, built in chunks."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d), dtype=np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for a in range(0, n, 65536):
        b = min(a + 65536, n)
        x[a:b] = c[rng.integers(0, centres, b - a)]
        x[a:b] += noise * rng.standard_normal((b - a, d), dtype=np.float32)
        x[a:b] /= np.linalg.norm(x[a:b], axis=1, keepdims=True)
    return x


def reference_kcenter(x: np.ndarray, budget: int, seed: int) -> list[int]:
    """google/active-learning kcenter_greedy: distances to each new centre, running minimum."""
    ind = int(np.random.default_rng(seed).integers(len(x)))  # same seeded start as ours
    order = [ind]
    min_d = pairwise_distances(x, x[[ind]], metric="euclidean")[:, 0]
    while len(order) < budget:
        ind = int(np.argmax(min_d))  # picked rows sit at 0 and never win again
        order.append(ind)
        min_d = np.minimum(min_d, pairwise_distances(x, x[[ind]], metric="euclidean")[:, 0])
    return order


def reference_typicality(x: np.ndarray, budget: int, k: int, strength: float) -> tuple[list[int], np.ndarray, float]:
    """Brute-force k-NN typicality, then the greedy with per-pick pairwise distances."""
    t0 = time.perf_counter()
    knn, _ = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors()  # excludes each row itself
    typ = 1.0 / (knn.mean(axis=1) + EPS)
    r = max(float(np.median(knn)), EPS)
    knn_seconds = time.perf_counter() - t0
    min_d = np.full(len(x), np.inf)
    order: list[int] = []
    while len(order) < budget:
        score = typ * np.minimum(1.0, min_d / r) ** strength
        score[order] = -np.inf
        ind = int(np.argmax(score))
        order.append(ind)
        min_d = np.minimum(min_d, pairwise_distances(x, x[[ind]], metric="euclidean")[:, 0])
    return order, typ, knn_seconds


def compare_orders(ours: np.ndarray, reference: list[int]) -> dict:
    ours = [int(i) for i in ours]
    diverge = next((i for i, (a, b) in enumerate(zip(ours, reference)) if a != b), None)
    return {"identical_order": ours == reference, "identical_set": set(ours) == set(reference), "first_divergence": diverge}


def bandwidth(x: np.ndarray, repeats: int = 3) -> dict:
    """Read bandwidth (GB/s) of numpy passes over (N, D) `x`, best of `repeats` each: `max` on one
    thread, `max` on one thread per core, and a BLAS gemv x @ v on all cores."""

    def rate(pass_once) -> float:
        pass_once()  # pages resident
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            pass_once()
            best = min(best, time.perf_counter() - t0)
        return round(x.nbytes / best / 1e9, 2)

    flat = x.reshape(-1)
    parts = np.array_split(flat, cpu_count())
    v = np.ones(x.shape[1], dtype=np.float32)
    with ThreadPoolExecutor(len(parts)) as pool:  # numpy releases the GIL in reductions
        rates = {
            "numpy_max_1_thread_gb_s": rate(flat.max),
            "numpy_max_all_cores_gb_s": rate(lambda: list(pool.map(np.max, parts))),
            "blas_gemv_all_cores_gb_s": rate(lambda: x @ v),
        }
    return rates | {"best_gb_s": max(rates.values())}


def part_coreset(n: int, d: int, budget: int, seed: int) -> dict:
    x = clustered_embeddings(n, d, seed=seed)
    t0 = time.perf_counter()
    ours = kcenter_greedy(x, budget, seed=seed)
    ours_s = time.perf_counter() - t0
    x64 = x.astype(np.float64)
    t0 = time.perf_counter()
    ref = reference_kcenter(x64, budget, seed)
    ref_s = time.perf_counter() - t0
    return {"n": n, "d": d, "budget": budget, "ours_seconds": round(ours_s, 2), "reference_seconds": round(ref_s, 2),
            "speedup": round(ref_s / ours_s, 2), **compare_orders(ours, ref)}


def part_typicality(n: int, d: int, budget: int, k: int, seed: int) -> dict:
    x = clustered_embeddings(n, d, seed=seed + 1)
    t0 = time.perf_counter()
    typ, r = embeddings_to_typicality(x, k)
    knn_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = typicality_greedy(x, typ, r, budget, diversity_strength=1.0)
    greedy_s = time.perf_counter() - t0
    x64 = x.astype(np.float64)
    t0 = time.perf_counter()
    ref, ref_typ, ref_knn_s = reference_typicality(x64, budget, k, 1.0)
    ref_s = time.perf_counter() - t0
    ours_s = knn_s + greedy_s
    return {
        "n": n, "d": d, "budget": budget, "knn_k": k,
        "ours_seconds": round(ours_s, 2), "ours_knn_seconds": round(knn_s, 2), "ours_greedy_seconds": round(greedy_s, 2),
        "reference_seconds": round(ref_s, 2), "reference_knn_seconds": round(ref_knn_s, 2),
        "reference_greedy_seconds": round(ref_s - ref_knn_s, 2),
        "speedup": round(ref_s / ours_s, 2), "speedup_knn": round(ref_knn_s / knn_s, 2),
        "speedup_greedy": round((ref_s - ref_knn_s) / greedy_s, 2),
        "typicality_max_relative_difference": float(np.max(np.abs(typ - ref_typ) / ref_typ)),
        **compare_orders(ours, ref),
    }


def part_coreset_big(n: int, d: int, budget: int, seed: int) -> dict:
    x = clustered_embeddings(n, d, seed=seed + 2)
    bw = bandwidth(x)
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    kcenter_greedy(x, budget, seed=seed)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bound = budget * x.nbytes / (bw["best_gb_s"] * 1e9)
    return {
        "n": n, "d": d, "budget": budget, "input_gb": round(x.nbytes / 1e9, 2), "seconds": round(seconds, 1),
        "seconds_per_pick_ms": round(seconds / budget * 1e3, 1), "bandwidth": bw,
        "bandwidth_bound_seconds": round(bound, 1), "bound_over_measured": round(bound / seconds, 2),
        "peak_extra_numpy_mb": round(peak / 2**20, 1),
        "process_max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def part_typicality_big(n: int, d: int, budget: int, k: int, seed: int, nlist: int, nprobe: int) -> dict:
    x = clustered_embeddings(n, d, seed=seed + 3)
    t0 = time.perf_counter()
    index = build_ivf_index(x, nlist=nlist, nprobe=nprobe, seed=seed)
    build_s = time.perf_counter() - t0
    # Recall and speed of each nprobe on sampled rows, against exact k-NN of those rows.
    rows = np.sort(np.random.default_rng(seed).choice(n, 512, replace=False))
    found = exact_candidates(x, x[rows], k + 1)  # includes each row itself (no duplicates here)
    exact = [set(f[f != row][:k]) for f, row in zip(found, rows)]
    probes = {}
    for probe in (1, 2, 4, 8):
        index.nprobe = probe
        t0 = time.perf_counter()
        _, ivf = index.search(x[rows], k + 1)
        seconds = time.perf_counter() - t0
        recall = np.mean([len(set(f[f != row][:k]) & e) / k for f, row, e in zip(ivf, rows, exact)])
        probes[probe] = {"recall_at_k": round(float(recall), 4), "full_knn_estimate_seconds": round(seconds * n / len(rows))}
    index.nprobe = nprobe
    t0 = time.perf_counter()
    dist, _ = knn_search(x, k, index=index, desc="IVF k-NN")
    knn_s = time.perf_counter() - t0
    typ, r = knn_distances_to_typicality(dist), knn_distances_to_radius(dist)
    t0 = time.perf_counter()
    typicality_greedy(x, typ, r, budget, diversity_strength=1.0)
    greedy_s = time.perf_counter() - t0
    return {
        "n": n, "d": d, "budget": budget, "knn_k": k, "knn_index": f"faiss IndexIVFFlat nlist={nlist} nprobe={nprobe}",
        "ivf_build_seconds": round(build_s, 1), "nprobe_sample_512_rows": probes,
        "knn_seconds": round(knn_s, 1), "greedy_seconds": round(greedy_s, 1),
        "seconds": round(build_s + knn_s + greedy_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--parts", default="coreset,typicality,coreset-big,typicality-big")
    parser.add_argument("--output", type=Path, default=None, help=f"default {RESULTS} (a temp file with --quick)")
    args = parser.parse_args()
    if args.output is None:
        args.output = Path(tempfile.gettempdir()) / "selection_quick.json" if args.quick else RESULTS
    n, big, d, budget, k = (5_000, 40_000, 64, 100, 20) if args.quick else (100_000, 1_000_000, 512, 1_000, 20)
    nlist, nprobe = (64, 2) if args.quick else (1024, 2)
    parts = args.parts.split(",")
    out: dict = json.loads(args.output.read_text()) if args.output.exists() and not args.quick else {}
    out["machine"] = provenance()
    runs = {
        "coreset": lambda: part_coreset(n, d, budget, 0),
        "typicality": lambda: part_typicality(n, d, budget, k, 0),
        "coreset-big": lambda: part_coreset_big(big, d, budget, 0),
        "typicality-big": lambda: part_typicality_big(big, d, budget, k, 0, nlist, nprobe),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for name in parts:
        print(f"== {name}", flush=True)
        before = [round(v, 2) for v in os.getloadavg()]
        result = runs[name]()
        result["load_average_before"] = before  # parts may be rerun separately: each keeps its own
        result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        out[name] = result
        print(json.dumps(result, indent=2), flush=True)
        args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
