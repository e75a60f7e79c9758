"""Cost of the validation curves: one curve point next to the training steps it interrupts.

    .venv/bin/python benchmarks/curves.py [--threads 2] [--rounds 3] [--num-samples 64 128 250]

With the demo's params.yaml (UNet, sampler, evaluation encoder and input size), measured side by
side in one run and the same process:
- training: seconds per optimizer step of the demo UNet (batch train.batch_size, AdamW, EMA
  excluded) — the unit the curve's cost is compared with;
- one curve point (gencurate.diffusion.curves.ValidationCurve.score, the code train runs): sampling
  N images with the `sample` sampler, embedding them with the evaluation encoder, FD and
  precision/recall against a validation set of the demo's size; for each N in --num-samples;
- the last point's extra: FD bootstrapped train.eval_bootstrap_rounds times;
- loading the evaluation encoder (once per run).
From these it projects the curves' share of the demo's training (every method's steps from
params.yaml, train.eval_every_n_steps). The untrained UNet samples as fast as a trained one,
and random validation features cost what real ones do. Results: benchmarks/results/curves.json
(with the load average: the cores may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from gencurate.config import load_params, to_mapping
from gencurate.diffusion.unet import build_unet
from gencurate.diffusion.curves import ValidationCurve, bootstrap_fd_std, curve_steps
from gencurate.diffusion.gaussian import GaussianDiffusion
from gencurate.diffusion.module import uint8_to_unit
from gencurate.encoders import embed_images, load_encoder
from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "curves.json"
IMAGE_SHAPE = (28, 28, 1)  # the demo's images
DEMO_VALIDATION = 682      # 5% of the demo's 13,647 kept images (prepare.validation_fraction)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-samples", type=int, nargs="+", default=[64, 128, 250])
    parser.add_argument("--train-steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(ROOT / "params.yaml")
    train, sample = params.train, params.sample
    enc_cfg = params.encoders.evaluation
    load_before = os.getloadavg()
    machine = provenance()

    start = time.perf_counter()
    enc = load_encoder(enc_cfg.name, weights=enc_cfg.weights, input_size=enc_cfg.input_size, device="cpu")
    encoder_load = time.perf_counter() - start

    unet = build_unet(to_mapping(train.unet), IMAGE_SHAPE)
    diffusion = GaussianDiffusion(**to_mapping(train.diffusion))
    ema = build_unet(to_mapping(train.unet), IMAGE_SHAPE).eval()
    module = SimpleNamespace(ema_model=ema, diffusion=diffusion, hparams={"image_shape": list(IMAGE_SHAPE)})
    rng = np.random.default_rng(0)
    validation = rng.standard_normal((DEMO_VALIDATION, enc.dim)).astype(np.float32)
    batch = uint8_to_unit(torch.from_numpy(rng.integers(0, 256, (train.batch_size, 1, 28, 28), dtype=np.uint8)))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=train.lr, foreach=True)

    def train_steps() -> None:
        for _ in range(args.train_steps):
            loss = diffusion.loss(unet, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def embed(images: np.ndarray) -> np.ndarray:
        return embed_images(enc, images, batch_size=params.evaluate.embed_batch_size, num_workers=0, progress=False)

    step_seconds, point_seconds, bootstrap_seconds, parts = [], {n: [] for n in args.num_samples}, [], {}
    for _ in range(args.rounds):  # interleaved, so a change in load hits both sides
        step_seconds.append(timed(train_steps) / args.train_steps)
        for n in args.num_samples:
            curve = ValidationCurve(
                every_n_steps=train.eval_every_n_steps or 1, num_samples=n, sampler=sample.sampler,
                sampler_steps=sample.steps, eta=sample.eta, batch_size=sample.batch_size, seed=sample.seed,
                embed=embed, validation=validation, prc_k=params.evaluate.prc_k,
                knn_block_size=params.evaluate.knn_block_size,
                bootstrap_rounds=train.eval_bootstrap_rounds, encoder=enc.name,
            )
            start = time.perf_counter()
            parts[n] = curve.score(module)
            point_seconds[n].append(time.perf_counter() - start)
        features = parts[train.eval_num_samples if train.eval_num_samples in parts else args.num_samples[0]][1]
        start = time.perf_counter()
        bootstrap_fd_std(features, validation, rounds=train.eval_bootstrap_rounds, seed=0)
        bootstrap_seconds.append(time.perf_counter() - start)

    step = statistics.median(step_seconds)
    points = {n: statistics.median(v) for n, v in point_seconds.items()}
    runs = {m: train.steps_for(m) for m in params.study.methods}
    n_points = {m: len(curve_steps(every_n_steps=train.eval_every_n_steps, total_steps=s)) if train.eval_every_n_steps
                else 0 for m, s in runs.items()}
    per_seed_points = sum(n_points.values())
    per_seed_steps = sum(runs.values())
    chosen = points.get(train.eval_num_samples)
    bootstrap = statistics.median(bootstrap_seconds)
    projection = None
    if chosen is not None:
        curve_seconds = len(params.study.seeds) * (per_seed_points * chosen + len(runs) * (bootstrap + encoder_load))
        train_seconds = len(params.study.seeds) * per_seed_steps * step
        projection = {
            "eval_every_n_steps": train.eval_every_n_steps, "eval_num_samples": train.eval_num_samples,
            "curve_points_per_seed": n_points, "train_steps_per_seed": runs,
            "curve_seconds": round(curve_seconds, 1), "train_seconds_without_curves": round(train_seconds, 1),
            "curves_share_of_training": round(curve_seconds / train_seconds, 3),
        }
    result = {
        "benchmark": "curves", "threads": args.threads, "rounds": args.rounds, "machine": machine,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": "the machine's 2 cores were shared with other jobs unless the load average is below ~0.5",
        "encoder": f"{enc.name}@{enc.input_size}", "sampler": f"{sample.sampler}-{sample.steps}",
        "validation_rows": DEMO_VALIDATION, "encoder_load_seconds": round(encoder_load, 2),
        "train_seconds_per_step": round(step, 4),
        "curve_point_seconds": {str(n): round(s, 2) for n, s in points.items()},
        "curve_point_in_train_steps": {str(n): round(s / step, 1) for n, s in points.items()},
        "last_point_bootstrap_seconds": round(bootstrap, 2),
        "demo_projection": projection,
    }
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
