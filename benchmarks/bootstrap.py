"""Benchmark: the cost of evaluate's bootstrap replicates at demo size, against a straightforward reference.

One run (M = N = 1000 samples and reference images, D = 1280 raw-scale features) times:
- ours: `features_to_replicates` with B replicates of every metric (FD via the small cross-Gram,
  KID from the kernel matrices computed once, k-NN metrics from ball matrices, memorisation);
- reference FD (one BLAS thread for both, as evaluate runs the replicates): each replicate
  materialises the resampled sets and calls scipy's `linalg.sqrtm` on the D x D covariance
  product (pytorch-fid / clean-fid style), timed on a few replicates and reported per replicate; its values are compared with ours on the same draws;
- our plain FD on the full sets (`fd_features_to_metric`), the per-run cost evaluate had before.

Also timed, at the demo's sizes (11,626 train and 1,992 reference images): the memorisation
threshold's calibration (every reference image's nearest train image, once per evaluate process)
and the independence stage's work (exact 20-NN in two 1280-d spaces and 784-d pixels).

    python benchmarks/bootstrap.py [--n 1000] [--dim 1280] [--resamples 200] [--reference-resamples 3]
                                   [--train 11626] [--reference 1992]

Prints a table and writes benchmarks/results/bootstrap.json (with the load average: the cores
are shared).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy import linalg
from provenance import provenance
from threadpoolctl import threadpool_limits

from gencurate.config.evaluate import EvaluateConfig
from gencurate.metrics import keys as K
from gencurate.metrics.bootstrap import bootstrap_weights, fd_replicates, features_to_replicates
from gencurate.metrics.fd import fd_features_to_metric
from gencurate.metrics.independence import geometry, spaces_to_independence
from gencurate.metrics.pixels import images_to_pixels
from gencurate.metrics.memorisation import memorisation_threshold, nearest_neighbours

RESULTS = Path(__file__).resolve().parent / "results" / "bootstrap.json"
KNN_BLOCK_SIZE = EvaluateConfig().knn_block_size  # the k-NN block side evaluate uses by default


def features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    """(n, d) float32, raw scale (non-negative pooled activations have means ~0.5, not unit rows)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 64)) @ rng.normal(size=(64, d)) / 8
    return np.abs(z + rng.normal(size=(n, d)) * 0.3 + shift).astype(np.float32)


def reference_fd(x: np.ndarray, y: np.ndarray) -> float:
    """FD with scipy's sqrtm of the D x D covariance product (the usual implementation)."""
    mu1, mu2 = x.mean(0, dtype=np.float64), y.mean(0, dtype=np.float64)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--reference-resamples", type=int, default=3)
    parser.add_argument("--train", type=int, default=11626)
    parser.add_argument("--reference", type=int, default=1992)
    args = parser.parse_args()
    fake, real = features(args.n, args.dim, 0, 0.5), features(args.n, args.dim, 1, 0.55)
    machine = provenance()
    load_start = os.getloadavg()

    t = time.perf_counter()
    plain = fd_features_to_metric(fake, real)[K.KEY_FD]
    plain_s = time.perf_counter() - t

    copies = np.zeros(args.n, dtype=bool)
    t = time.perf_counter()
    reps = features_to_replicates(fake, real, sample_copies=copies, reference_copies=copies, prc_k=3, dc_k=5,
                                  resamples=args.resamples, seed=0, batch_size=KNN_BLOCK_SIZE)
    ours_s = time.perf_counter() - t

    rng = np.random.default_rng(1)
    u = bootstrap_weights(args.n, resamples=args.reference_resamples, rng=rng)
    w = bootstrap_weights(args.n, resamples=args.reference_resamples, rng=rng)
    # Both FD implementations with one BLAS thread, as features_to_replicates runs them.
    with threadpool_limits(1):
        t = time.perf_counter()
        ours_fd = fd_replicates(fake, real, u, w)
        ours_fd_s = (time.perf_counter() - t) / args.reference_resamples
        t = time.perf_counter()
        ref = [reference_fd(np.repeat(fake, u[b], 0), np.repeat(real, w[b], 0))
               for b in range(args.reference_resamples)]
        ref_s = (time.perf_counter() - t) / args.reference_resamples

    train, held_out = features(args.train, args.dim, 2, 0.5), features(args.reference, args.dim, 3, 0.5)
    t = time.perf_counter()
    memorisation_threshold(nearest_neighbours(held_out, train, batch_size=KNN_BLOCK_SIZE)[0], quantile=0.05)
    calibration_s = time.perf_counter() - t

    other = features(args.train, args.dim, 4, 0.5)
    images = np.random.default_rng(5).integers(0, 256, (args.train, 28, 28, 1), dtype=np.uint8)
    spaces = {"selection": train / np.linalg.norm(train, axis=1, keepdims=True), "evaluation": other,
              "pixels": images_to_pixels(images, max_side=32)}
    t = time.perf_counter()
    spaces_to_independence(spaces, neighbours=10, typicality_k=20,
                           geometries={k: geometry(v) for k, v in spaces.items()})
    independence_s = time.perf_counter() - t

    result = {
        "n": args.n, "dim": args.dim, "resamples": args.resamples,
        "plain_fd_seconds": plain_s, "plain_fd": plain,
        "all_replicates_seconds": ours_s, "all_replicates_seconds_per_replicate": ours_s / args.resamples,
        "blas_threads_fd_comparison": 1,
        "fd_seconds_per_replicate_ours": ours_fd_s, "fd_seconds_per_replicate_reference_sqrtm": ref_s,
        "fd_speedup_vs_reference": ref_s / ours_fd_s,
        "fd_max_relative_difference_vs_reference": float(np.max(np.abs(ours_fd - ref) / np.abs(ref))),
        "threshold_calibration_seconds": calibration_s, "independence_seconds": independence_s,
        "train_images": args.train, "reference_images": args.reference,
        "replicate_fd_mean": float(np.mean(reps[K.KEY_FD])), "replicate_fd_std": float(np.std(reps[K.KEY_FD])),
        "machine": machine | {"load_average_at_end": os.getloadavg(),
                              "note": "cores shared with other jobs; the load average says how busy they were"},
    }
    print(f"N = {args.n}, D = {args.dim}, B = {args.resamples}")
    print(f"  plain FD once:                         {plain_s:8.2f} s")
    print(f"  all metrics, {args.resamples} replicates (ours):     {ours_s:8.2f} s "
          f"({ours_s / args.resamples * 1e3:.0f} ms per replicate)")
    print(f"  FD per replicate: ours {ours_fd_s * 1e3:.0f} ms, scipy sqrtm reference {ref_s * 1e3:.0f} ms "
          f"-> {ref_s / ours_fd_s:.1f}x; "
          f"max relative difference {result['fd_max_relative_difference_vs_reference']:.1e}")
    print(f"  memorisation threshold calibration ({args.reference} x {args.train}): {calibration_s:.2f} s; "
          f"independence stage work: {independence_s:.1f} s")
    print(f"  load average {load_start} -> {os.getloadavg()}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
