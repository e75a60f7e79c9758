"""Benchmark: our feature-array metrics vs torch-fidelity's on the same features, same run.

For each size N (default 10k and 50k; generated and real sets both N x D, D = 1280,
L2-normalised rows) and each metric (FD, FD-infinity, KID, precision/recall), one fresh
subprocess per (implementation, metric) loads the features, records its RSS, runs the metric
and reports wall time, peak RSS (ru_maxrss) and the extra memory over the loaded features.
FD, FD-infinity and KID run --repeats times, alternating implementations, and keep the fastest
(the cores are shared, so single timings are noisy); precision/recall runs once (minutes at 50k).
torch-fidelity has no FD-infinity: its reference is the straightforward route through its own
functions (np.cov and eigvals per subset size, on the same subsets), ours shares one pass.
Our whole suite (adds density/coverage, sharing the k-NN passes) is timed too.

    python benchmarks/metrics.py [--sizes 10000 50000] [--dim 1280] [--repeats 3] [--reference-max 50000]
                                 [--metrics fd fdinf kid prc all] [--merge]

Prints a table and writes benchmarks/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results" / "metrics.json"
METRICS = ("fd", "fdinf", "kid", "prc")
TIMED_REPEATS = ("fd", "fdinf", "kid")
FD_INF_SIZES, FD_INF_MIN_FRACTION = 5, 0.25
KID_SUBSETS, KID_SUBSET_SIZE, PRC_K, SEED = 100, 1000, 3, 0   # torch-fidelity's KID defaults
DC_K = 5  # Naeem et al. 2020, as evaluate.dc_k


def make_features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    """(n, d) float32 unit rows: a Gaussian cloud, the second set shifted and narrower."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32) * (1.0 - shift) + shift * np.float32(1.0 / np.sqrt(d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_ours(metric: str, fake: np.ndarray, real: np.ndarray) -> dict:
    from gencurate.config.evaluate import EvaluateConfig
    from gencurate.metrics import fd_features_to_metric, features_to_metrics, kid_features_to_metric, prc_features_to_metric

    knn_block_size = EvaluateConfig().knn_block_size

    if metric == "fd":
        return fd_features_to_metric(fake, real)
    if metric == "fdinf":
        from gencurate.metrics.fd_infinity import fd_infinity_features_to_metric

        return fd_infinity_features_to_metric(fake, real, num_sizes=FD_INF_SIZES, min_fraction=FD_INF_MIN_FRACTION,
                                              seed=SEED)
    if metric == "kid":
        return kid_features_to_metric(fake, real, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=SEED)
    if metric == "prc":
        return prc_features_to_metric(fake, real, k=PRC_K, batch_size=knn_block_size)
    return features_to_metrics(fake, real, kid_subsets=KID_SUBSETS, kid_subset_size=KID_SUBSET_SIZE, prc_k=PRC_K,
                               dc_k=DC_K, seed=SEED, batch_size=knn_block_size,
                               fd_infinity_sizes=FD_INF_SIZES, fd_infinity_min_fraction=FD_INF_MIN_FRACTION)


def run_reference(metric: str, fake: np.ndarray, real: np.ndarray) -> dict:
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    f, r = torch.from_numpy(fake), torch.from_numpy(real)
    if metric == "fd":
        out = fid_statistics_to_metric(fid_features_to_statistics(f), fid_features_to_statistics(r), False)
        return {"fd": out["frechet_inception_distance"]}
    if metric == "fdinf":
        # The same subsets as ours (prefixes of one seeded permutation per set), each fitted from scratch.
        from gencurate.metrics.fd_infinity import subset_sizes

        rng = np.random.default_rng(SEED)
        order_f, order_r = rng.permutation(len(fake)), rng.permutation(len(real))
        sizes_f = subset_sizes(len(fake), num_sizes=FD_INF_SIZES, min_fraction=FD_INF_MIN_FRACTION)
        sizes_r = subset_sizes(len(real), num_sizes=FD_INF_SIZES, min_fraction=FD_INF_MIN_FRACTION)
        fds = [fid_statistics_to_metric(fid_features_to_statistics(f[np.sort(order_f[:a])]),
                                        fid_features_to_statistics(r[np.sort(order_r[:b])]), False)
               ["frechet_inception_distance"] for a, b in zip(sizes_f, sizes_r)]
        _, intercept = np.polyfit(1.0 / sizes_f, fds, deg=1)
        return {"fd": fds[-1], "fd_infinity": float(intercept)}
    if metric == "kid":
        out = kid_features_to_metric(f, r, kid_subsets=KID_SUBSETS, kid_subset_size=KID_SUBSET_SIZE, rng_seed=SEED,
                                     verbose=False, kid_kernel="poly", kid_kernel_poly_degree=3,
                                     kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
        return {"kid_mean": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"]}
    # torch-fidelity's own memory-saving path (what calculate_metrics(save_cpu_ram=True) runs).
    out = prc_features_to_metric(f, r, prc_neighborhood=PRC_K, prc_batch_size=10000, save_cpu_ram=True, verbose=False)
    return {"precision": out["precision"], "recall": out["recall"]}


def worker(impl: str, metric: str, fake_path: str, real_path: str) -> None:
    """Runs in a fresh subprocess; prints one JSON line."""
    fake, real = np.load(fake_path), np.load(real_path)
    import torch  # noqa: F401  (imported before the baseline so its memory is not counted as the metric's)

    import torch_fidelity  # noqa: F401
    import gencurate.metrics  # noqa: F401

    base = rss_mb()
    start = time.perf_counter()
    values = (run_ours if impl == "ours" else run_reference)(metric, fake, real)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "extra_mb": max(0.0, peak - base),
                      "values": {k: float(v) for k, v in values.items()}}))


def measure(impl: str, metric: str, fake_path: Path, real_path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", impl, metric, str(fake_path), str(real_path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--reference-max", type=int, default=50_000,
                        help="skip torch-fidelity above this N (it is slow and large there)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of FD, FD-infinity and KID per implementation (fastest kept)")
    parser.add_argument("--metrics", nargs="+", default=[*METRICS, "all"], choices=[*METRICS, "all"])
    parser.add_argument("--merge", action="store_true",
                        help="replace only the measured (N, metric) rows of an existing results file")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    import torch

    rows = []
    load_at_start = os.getloadavg()
    run_id = time.strftime("%Y-%m-%dT%H:%M:%S")  # every (ours, torch-fidelity) pair comes from one run
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            fake_path, real_path = Path(tmp) / f"fake{n}.npy", Path(tmp) / f"real{n}.npy"
            np.save(fake_path, make_features(n, args.dim, 0, 0.3))
            np.save(real_path, make_features(n, args.dim, 1, 0.0))
            features_mb = 2 * n * args.dim * 4 / 2**20
            for metric in args.metrics:
                impls = ["ours"] + (["torch-fidelity"] if metric != "all" and n <= args.reference_max else [])
                # The cores are shared: alternate the implementations and keep each one's fastest run.
                repeats = args.repeats if metric in TIMED_REPEATS else 1
                runs = {impl: [] for impl in impls}
                for r in range(repeats):
                    for impl in impls:
                        print(f"N={n} {metric:4s} {impl} run {r + 1}/{repeats} ...", flush=True)
                        runs[impl].append(measure(impl, metric, fake_path, real_path))
                for impl, results in runs.items():
                    ok = [x for x in results if "seconds" in x]
                    row = {"n": n, "dim": args.dim, "metric": metric, "impl": impl, "features_mb": features_mb,
                           "run": run_id}
                    if ok:
                        best = min(ok, key=lambda x: x["seconds"])
                        row.update(best, runs_seconds=[x["seconds"] for x in ok],
                                   extra_mb=max(x["extra_mb"] for x in ok), peak_rss_mb=max(x["peak_rss_mb"] for x in ok))
                    else:
                        row.update(results[-1])
                    print("   ", json.dumps(row), flush=True)
                    rows.append(row)

    # Each run's load averages, by run id (rows carry the id): merged runs keep theirs.
    runs = {run_id: {"load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(),
                     "sizes": args.sizes, "metrics": args.metrics, "repeats": args.repeats}}
    if args.merge and RESULTS.is_file():
        old = json.loads(RESULTS.read_text())
        measured = {(r["n"], r["metric"]) for r in rows}
        rows = [r for r in old["rows"] if (r["n"], r["metric"]) not in measured] + rows
        runs = {**old.get("runs", {}), **runs}
    ratios = {}
    for n in sorted({r["n"] for r in rows}):
        for metric in METRICS:
            ours = next((r for r in rows if r["n"] == n and r["metric"] == metric and r["impl"] == "ours"), None)
            ref = next((r for r in rows if r["n"] == n and r["metric"] == metric and r["impl"] == "torch-fidelity"), None)
            if ours and ref and "seconds" in ours and "seconds" in ref:
                ratios[f"{n}/{metric}"] = {
                    "speedup": ref["seconds"] / ours["seconds"],
                    "extra_memory_ratio": ref["extra_mb"] / max(ours["extra_mb"], 1.0),
                    "max_abs_value_diff": max(abs(ours["values"][k] - ref["values"][k]) for k in ref["values"]),
                }
    result = {
        "machine": provenance() | {"torch_threads": torch.get_num_threads(), "load_average_at_start": load_at_start,
                                   "load_average_at_end": os.getloadavg(),
                                   "note": "cores shared with other jobs during the run (load averages above); fastest of the repeats kept"},
        "settings": {"repeats_fd_fdinf_kid": args.repeats, "fd_infinity_sizes": FD_INF_SIZES,
                     "fd_infinity_min_fraction": FD_INF_MIN_FRACTION, "kid_subsets": KID_SUBSETS, "kid_subset_size": KID_SUBSET_SIZE, "prc_k": PRC_K,
                     "our_knn_batch_size": 2048, "torch_fidelity_prc_batch_size": 10000},
        "runs": runs,
        "rows": rows,
        "ratios": ratios,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'N':>7} {'metric':6} {'ours s':>9} {'tf s':>9} {'speedup':>8} {'ours +MB':>9} {'tf +MB':>9}")
    for key, ratio in ratios.items():
        n, metric = key.split("/")
        o = next(r for r in rows if r["n"] == int(n) and r["metric"] == metric and r["impl"] == "ours")
        t = next(r for r in rows if r["n"] == int(n) and r["metric"] == metric and r["impl"] == "torch-fidelity")
        print(f"{n:>7} {metric:6} {o['seconds']:9.1f} {t['seconds']:9.1f} {ratio['speedup']:8.2f} "
              f"{o['extra_mb']:9.0f} {t['extra_mb']:9.0f}   max |diff| {ratio['max_abs_value_diff']:.2e}")
    for r in rows:
        if r["metric"] == "all":
            print(f"{r['n']:>7} all    {r.get('seconds', float('nan')):9.1f}  (ours: FD, KID, P/R, density/coverage) "
                  f"+{r.get('extra_mb', float('nan')):.0f} MB")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
