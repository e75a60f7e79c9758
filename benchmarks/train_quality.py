"""Generator quality at equal compute: ours vs denoising-diffusion-pytorch on the demo's training images.

    pip install -e ".[bench]"
    .venv/bin/python benchmarks/train_quality.py [--seconds 240] [--variants '{"ours-lr1e-3": {"lr": 0.001}}']

Each generator trains for the same wall-clock budget on the demo's training split (the `full`
method's data), in its own process with one torch thread, all processes at the same time (so
load from other jobs hits every side alike). Then each draws 1,000 samples with its own sampler
(ours: params.yaml `sample`; the reference: its DDIM with `--reference-sampling-steps` steps), and
all are scored against 1,000 held-out reference-split images in the evaluation encoder's feature
space (params.yaml `encoders.evaluation`, raw features as `evaluate` uses them): FD, precision and recall (k = 3).

- ours: `gencurate.diffusion.training.train_diffusion` (the pipeline's Lightning loop) with
  params.yaml `train`, stopped by a callback when the budget is spent; variants override keys of
  `train` (and `train.unet` / `train.diffusion` as nested mappings).
- reference: denoising-diffusion-pytorch's Unet at our parameter count (+-5 %) with its
  GaussianDiffusion and Trainer defaults (objective pred_v, sigmoid schedule, Adam lr 1e-4,
  betas (0.9, 0.99), EMA 0.995 updated every 10 steps, grad-norm clip 1, horizontal flips), at the
  same batch size as ours.
Results: benchmarks/results/train.json, key "quality_at_equal_compute".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

from gencurate.config import load_params, params_from_mapping, to_mapping
from provenance import provenance
from train import n_params, reference_at_same_size  # benchmarks/train.py: the same parameter-matched reference

RESULTS = ROOT / "benchmarks" / "results" / "train.json"
RESULT_KEY = "quality_at_equal_compute"
N_SAMPLES = 1000
N_REFERENCE = 1000


def demo_split(split: str) -> np.ndarray:
    """uint8 (N, 28, 28, 1) images of one split of the bundled demo."""
    params = load_params(ROOT / "params.yaml")
    data = np.load(ROOT / params.paths.demo)
    return data["images"][data["split"] == split][:, :, :, None]


# -- children -------------------------------------------------------------------------------------

def run_ours(args: argparse.Namespace) -> dict:
    import lightning as L

    from gencurate.diffusion.sampling import generate_images
    from gencurate.diffusion.training import train_diffusion

    params = load_params(ROOT / "params.yaml")
    mapping = to_mapping(params)
    for key, value in json.loads(args.overrides).items():
        if isinstance(value, dict):
            mapping["train"][key].update(value)
        else:
            mapping["train"][key] = value
    mapping["train"]["steps"] = 10**8  # the clock stops the run
    mapping["train"]["sample_every_n_steps"] = 10**8
    mapping["train"]["checkpoint_every_n_steps"] = 10**8
    params = params_from_mapping(mapping)

    class StopAfter(L.Callback):
        def __init__(self, seconds: float) -> None:
            self.deadline = time.perf_counter() + seconds

        def on_train_batch_end(self, trainer, *_args) -> None:
            if time.perf_counter() >= self.deadline:
                trainer.should_stop = True

    images = demo_split("train")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_diffusion(
            images=images, config=dataclasses.replace(params.train.for_method("full"), accelerator="cpu"), seed=0,
            selection_sha256="bench", model_dir=Path(tmp) / "model", log_dir=Path(tmp) / "logs",
            callbacks=[StopAfter(args.seconds)], curve=None,
            progress=False,
        )
    train_seconds = time.perf_counter() - t0
    module = result.module
    cfg = params.sample
    t0 = time.perf_counter()
    samples = generate_images(
        module.ema_model.eval(), module.diffusion, image_shape=images.shape[1:], num_samples=N_SAMPLES,
        sampler=cfg.sampler, steps=cfg.steps, eta=cfg.eta, batch_size=cfg.batch_size, seed=0, progress=False,
    )
    np.save(args.out, samples)
    return {"steps": int(module.global_step), "train_seconds": round(train_seconds, 1),
            "sample_seconds": round(time.perf_counter() - t0, 1), "params": n_params(module.model),
            "sampler": f"{cfg.sampler}-{cfg.steps}", "train_overrides": json.loads(args.overrides)}


def run_reference(args: argparse.Namespace) -> dict:
    from denoising_diffusion_pytorch import GaussianDiffusion
    from ema_pytorch import EMA

    from gencurate.diffusion.unet import build_unet

    params = load_params(ROOT / "params.yaml")
    images = demo_split("train")
    ours = build_unet(to_mapping(params.train.unet), images.shape[1:])
    unet = reference_at_same_size(n_params(ours), channels=1, dim_mults=tuple(params.train.unet.channel_mults),
                                  tolerance=0.05, dim_step=2)
    diffusion = GaussianDiffusion(unet, image_size=images.shape[1], sampling_timesteps=args.reference_sampling_steps)
    optimizer = torch.optim.Adam(diffusion.parameters(), lr=1e-4, betas=(0.9, 0.99))
    ema = EMA(diffusion, beta=0.995, update_every=10)
    data = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    g = torch.Generator().manual_seed(0)
    batch = params.train.batch_size
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        x = data[torch.randint(len(data), (batch,), generator=g)]
        flip = torch.rand(batch, generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = diffusion(x)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update()
        steps += 1
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = ema.ema_model.eval()
    with torch.no_grad():
        parts = [model.sample(batch_size=250) for _ in range(N_SAMPLES // 250)]
    samples = (torch.cat(parts).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.save(args.out, samples)
    return {"steps": steps, "train_seconds": round(train_seconds, 1), "sample_seconds": round(time.perf_counter() - t0, 1),
            "params": n_params(unet), "sampler": f"ddim-{args.reference_sampling_steps}",
            "reference": {"dim": unet.init_conv.out_channels, "dim_mults": list(params.train.unet.channel_mults)}}


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    result = run_ours(args) if args.child == "ours" else run_reference(args)
    print(json.dumps(result), flush=True)


# -- parent ---------------------------------------------------------------------------------------

def score(samples: dict[str, np.ndarray]) -> dict[str, dict]:
    """FD and precision/recall of each sample set against N_REFERENCE reference-split images."""
    from gencurate.encoders import embed_images, load_encoder
    from gencurate.metrics.fd import fd_features_to_metric
    from gencurate.metrics.prc import prc_features_to_metric

    params = load_params(ROOT / "params.yaml")
    enc_cfg = params.encoders.evaluation
    enc = load_encoder(enc_cfg.name, weights=enc_cfg.weights, input_size=enc_cfg.input_size, device="cpu")
    reference = demo_split("reference")
    rows = np.sort(np.random.default_rng(0).choice(len(reference), N_REFERENCE, replace=False))
    real = embed_images(enc, reference[rows], batch_size=128, progress=False, normalise=False, num_workers=0)
    out = {}
    for name, images in samples.items():
        fake = embed_images(enc, images, batch_size=128, progress=False, normalise=False, num_workers=0)
        out[name] = fd_features_to_metric(fake, real) | prc_features_to_metric(fake, real, k=3, batch_size=params.evaluate.knn_block_size)
    return {name: {k: round(float(v), 5) for k, v in m.items()} | {"encoder": f"{enc.name}@{enc.input_size}"}
            for name, m in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="training wall clock per generator")
    parser.add_argument("--variants", default="{}", help="JSON {name: train overrides} of further runs of ours")
    parser.add_argument("--reference-sampling-steps", type=int, default=50)
    parser.add_argument("--child", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    machine = provenance()
    runs = {"ours": ("ours", {}), "reference": ("reference", {})}
    runs |= {name: ("ours", overrides) for name, overrides in json.loads(args.variants).items()}
    with tempfile.TemporaryDirectory(prefix="gencurate-bench-quality-") as tmp:
        procs = {}
        for name, (kind, overrides) in runs.items():
            cmd = [sys.executable, __file__, "--child", kind, "--seconds", str(args.seconds), "--overrides",
                   json.dumps(overrides), "--out", str(Path(tmp) / f"{name}.npy"),
                   "--reference-sampling-steps", str(args.reference_sampling_steps)]
            procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        runs_out = {}
        for name, proc in procs.items():
            stdout, _ = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed (exit {proc.returncode})")
            runs_out[name] = json.loads(stdout.strip().splitlines()[-1])
            print(name, runs_out[name], flush=True)
        scores = score({name: np.load(Path(tmp) / f"{name}.npy") for name in runs})
    for name in runs:
        runs_out[name] |= scores[name]
    result = {
        "machine": machine | {"load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "training_seconds_each": args.seconds, "processes_at_once": len(runs), "torch_threads_each": 1,
        "n_samples": N_SAMPLES, "n_reference": N_REFERENCE, "runs": runs_out,
        "fd_ratio_reference_over_ours": round(runs_out["reference"]["fd"] / runs_out["ours"]["fd"], 3),
    }
    print(json.dumps(result, indent=2))
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    RESULTS.write_text(json.dumps(old | {RESULT_KEY: result}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} [{RESULT_KEY}]")


if __name__ == "__main__":
    main()
