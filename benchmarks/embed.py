"""Embedding benchmark: is data loading ever the bottleneck, and which input size for the demo?

    .venv/bin/python benchmarks/embed.py            # pipeline efficiency (selection encoder)
    .venv/bin/python benchmarks/embed.py --sweep    # + input-size sweep for lite0/lite2

Pipeline: images/s of `embed_images` over a memory-mapped uint8 images.npy (DataLoader,
preprocessing in workers, L2 normalisation, scatter into the output), and of the
Lightning `Trainer.predict` path, vs the encoder's bare forward on pre-made preprocessed
tensors, measured in interleaved rounds in the same run (target: >= 90%). Wall clock is
only meaningful on an idle machine; the one-thread CPU-time ratio (every step of the
embed path in one process vs the bare forward) also holds when other jobs share the cores.

Sweep: for EfficientNet-Lite0/Lite2 at input sizes 64/96/128/224 on the 28x28 demo
images: forward throughput, the projected time to embed all demo images, and the
leave-one-out 1-NN label accuracy in feature space (cosine) on a demo subset, next to the
same accuracy on raw pixels.

Sweep throughput is measured as images per CPU-second of a single thread, which stays
meaningful when other jobs share the cores, and projected to all cores of an idle
machine. Results go to benchmarks/results/embed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

from gencurate.config import load_params
from gencurate.encoders import embed_images, load_encoder
from gencurate.encoders.lightning_embed import embed_with_lightning
from gencurate.runtime import cpu_count
from provenance import provenance

RESULTS = ROOT / "benchmarks" / "results" / "embed.json"
SWEEP_ENCODERS = ("efficientnet-lite0", "efficientnet-lite2")
SWEEP_SIZES = (64, 96, 128, 224)


def demo_images(params, n: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(N, 28, 28, 1) uint8 demo images, their labels, and the full demo size."""
    with np.load(ROOT / params.paths.demo) as demo:
        images, labels = demo["images"], demo["labels"]
    total = len(images)
    if n is not None:
        images, labels = images[:n], labels[:n]
    return np.ascontiguousarray(images[..., None]), labels, total


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bare_forward(enc, batches: list[torch.Tensor]) -> None:
    for x in batches:
        enc(x)


def one_thread_cpu(fn) -> float:
    """Process CPU seconds of fn() on one thread (no OpenMP spin-waiting to inflate it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return timed(fn)[1]
    finally:
        torch.set_num_threads(threads)


def pipeline(params, *, n: int, rounds: int, lightning: bool) -> dict:
    cfg, embed = params.encoders.selection, params.embed
    enc = load_encoder(cfg.name, weights=cfg.weights, input_size=cfg.input_size, device="cpu")
    images, _, _ = demo_images(params, n)
    tmp = Path(tempfile.mkdtemp(prefix="gencurate-bench-"))
    np.save(tmp / "images.npy", images)
    memmap = np.load(tmp / "images.npy", mmap_mode="r")
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    batches = [enc.preprocess(x[i: i + embed.batch_size]) for i in range(0, n, embed.batch_size)]
    bare_forward(enc, batches[:1])  # warm-up

    def embed_path(workers: int):
        return lambda: embed_images(enc, memmap, batch_size=embed.batch_size, num_workers=workers, progress=False)

    wall: dict[str, list[float]] = {"bare_forward": [], "embed_images": []}
    if lightning:
        wall["lightning_predict"] = []
    cpu: dict[str, list[float]] = {"bare_forward": [], "embed_images_in_process": []}
    for _ in range(rounds):
        # Wall clock with the configured threads and workers, interleaved so load changes hit both.
        wall["bare_forward"].append(timed(lambda: bare_forward(enc, batches))[0])
        wall["embed_images"].append(timed(embed_path(embed.num_workers))[0])
        if lightning:
            wall["lightning_predict"].append(timed(lambda: embed_with_lightning(
                enc, tmp / "images.npy", out_path=tmp / "embedding.npy", shard_dir=tmp / "shards", batch_size=embed.batch_size,
                num_workers=embed.num_workers, accelerator="cpu", devices=1, num_nodes=1, strategy="auto",
                progress=False))[0])
        # CPU time of one thread with every step of the embed path in this process (no workers):
        # reading the memmap, preprocessing, forward, normalisation, scatter; robust to shared cores.
        cpu["bare_forward"].append(one_thread_cpu(lambda: bare_forward(enc, batches)))
        cpu["embed_images_in_process"].append(one_thread_cpu(embed_path(0)))
    shutil.rmtree(tmp, ignore_errors=True)
    wall_rate = {k: n / statistics.median(v) for k, v in wall.items()}
    cpu_rate = {k: n / statistics.median(v) for k, v in cpu.items()}
    result = {
        "encoder": enc.name, "input_size": enc.input_size, "n_images": n, "rounds": rounds,
        "batch_size": embed.batch_size, "num_workers": embed.num_workers, "threads": torch.get_num_threads(),
        "wall_images_per_s": wall_rate,
        "wall_ratio_embed_images_vs_bare": wall_rate["embed_images"] / wall_rate["bare_forward"],
        "one_thread_cpu_images_per_s": cpu_rate,
        "cpu_ratio_embed_images_vs_bare": cpu_rate["embed_images_in_process"] / cpu_rate["bare_forward"],
        "load_average_1min": os.getloadavg()[0],
    }
    if lightning:
        result["wall_ratio_lightning_vs_bare"] = wall_rate["lightning_predict"] / wall_rate["bare_forward"]
    return result


def loo_1nn_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-NN label accuracy with cosine similarity; features (N, D)."""
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    return float(np.mean(labels[sim.argmax(1)] == labels))


def single_core_rate(enc, batches: list[torch.Tensor]) -> float:
    """Images per CPU-second of one thread: free of the OpenMP spin-waiting that inflates the
    CPU time of a multi-threaded run on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bare_forward(enc, batches[:1])
        _, cpu = timed(lambda: bare_forward(enc, batches))
    finally:
        torch.set_num_threads(threads)
    return sum(len(b) for b in batches) / cpu


def sweep(params, *, n_speed: int, n_knn: int, cores: int) -> dict:
    images, labels, total = demo_images(params, max(n_speed, n_knn))
    x = torch.from_numpy(images[:n_speed]).permute(0, 3, 1, 2)
    raw = images[:n_knn].reshape(n_knn, -1).astype(np.float64)
    out = {
        "n_speed": n_speed, "n_knn": n_knn, "demo_images": total, "cores": cores,
        "raw_pixels_1nn_accuracy": loo_1nn_accuracy(raw - raw.mean(), labels[:n_knn]),
        "runs": [],
    }
    print(f"raw pixels: 1-NN accuracy {out['raw_pixels_1nn_accuracy']:.3f} on {n_knn} demo images", flush=True)
    for name in SWEEP_ENCODERS:
        for size in SWEEP_SIZES:
            enc = load_encoder(name, input_size=size, device="cpu", weights=None)
            batches = [enc.preprocess(x[i: i + 64]) for i in range(0, n_speed, 64)]
            rate = single_core_rate(enc, batches)
            features = embed_images(enc, images[:n_knn], batch_size=64, progress=False, num_workers=0)
            run = {
                "encoder": name, "input_size": size,
                "images_per_cpu_second_1_thread": rate,
                # Projection for an idle machine, assuming ideal scaling over `cores` threads.
                "projected_demo_seconds": total / (rate * cores),
                "knn_1nn_accuracy": loo_1nn_accuracy(features, labels[:n_knn]),
            }
            out["runs"].append(run)
            print(json.dumps(run), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1024, help="images for the pipeline comparison")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-lightning", action="store_true", help="skip the Trainer.predict path")
    parser.add_argument("--sweep", action="store_true", help="also run the input-size sweep")
    parser.add_argument("--sweep-speed-n", type=int, default=256)
    parser.add_argument("--sweep-knn-n", type=int, default=1000)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    results = {"machine": provenance(), "pipeline": pipeline(params, n=args.n, rounds=args.rounds, lightning=not args.no_lightning)}
    print(json.dumps(results["pipeline"], indent=2), flush=True)
    if args.sweep:
        results["sweep"] = sweep(params, n_speed=args.sweep_speed_n, n_knn=args.sweep_knn_n, cores=cpu_count())
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if "sweep" in old and "sweep" not in results:
        results["sweep"] = old["sweep"]  # keep the last sweep when only the pipeline was rerun
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
