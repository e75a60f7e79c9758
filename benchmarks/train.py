"""DDPM benchmark: our UNet + diffusion vs denoising-diffusion-pytorch's Unet/GaussianDiffusion.

    pip install -e ".[bench]"   # the reference (pinned in pyproject.toml's bench extra)
    .venv/bin/python benchmarks/train.py [--threads 2] [--rounds 5]

For each setting (the demo's 28x28x1 and a 32x32x3 CIFAR-like one), both models are built
at the same parameter count (the reference's `dim` is chosen to come within +-10% of ours),
resolution and batch size, then measured side by side in interleaved rounds:
- training steps/s: sample t and noise, q_sample, forward, MSE, backward, AdamW step
  (the same optimizer and settings for both; EMA excluded from both);
- DDIM-50 samples/s (eta = 0) from a fixed batch of noise.
Wall-clock numbers are medians over rounds; process CPU-seconds per step are reported too,
because other jobs may share the cores. Ratios > 1 mean ours is faster.
Results: benchmarks/results/train.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the reference's sampler draws a progress bar per call

import torch

ROOT = Path(__file__).resolve().parents[1]

from gencurate.config import load_params
from gencurate.diffusion.unet import build_unet
from gencurate.diffusion.gaussian import GaussianDiffusion
from gencurate.diffusion.sampling import generate_images
from provenance import provenance

RESULTS = ROOT / "benchmarks" / "results" / "train.json"


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def reference_at_same_size(ours: int, *, channels: int, dim_mults: tuple[int, ...], tolerance: float, dim_step: int):
    """denoising-diffusion-pytorch Unet whose parameter count is closest to `ours` (within `tolerance`, a fraction),
    searching `dim` in steps of `dim_step`.

    Its attention width (heads x dim_head, 4 x 32 by default) is searched with `dim`: at demo size
    the default attention alone would make it larger than our whole network.
    """
    from denoising_diffusion_pytorch import Unet

    candidates = (
        Unet(dim=dim, dim_mults=dim_mults, channels=channels, attn_heads=heads, attn_dim_head=dim_head)
        for dim in range(4, 129, dim_step)
        for heads, dim_head in ((4, 32), (2, 32), (1, 32), (2, 16), (1, 16), (1, 8))
    )
    best = min(candidates, key=lambda net: abs(n_params(net) - ours))
    if abs(n_params(best) - ours) > tolerance * ours:
        raise SystemExit(f"no reference Unet within {tolerance:.0%} of {ours} parameters (closest {n_params(best)})")
    return best


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_setting(name: str, *, size: int, channels: int, unet_cfg, batch: int, steps: int, rounds: int, n_samples: int) -> dict:
    from denoising_diffusion_pytorch import GaussianDiffusion as RefDiffusion

    torch.manual_seed(0)
    ours = build_unet(dataclasses.asdict(unet_cfg), (size, size, channels))
    diffusion = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction="eps", min_snr_gamma=None)
    ref_unet = reference_at_same_size(n_params(ours), channels=channels, dim_mults=tuple(unet_cfg.channel_mults),
                                      tolerance=0.1, dim_step=4)
    reference = RefDiffusion(ref_unet, image_size=size, timesteps=1000, sampling_timesteps=50, objective="pred_noise",
                             beta_schedule="cosine", ddim_sampling_eta=0.0)
    x0 = torch.rand(batch, channels, size, size) * 2 - 1
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=2e-4, weight_decay=0.0)
    opt_ref = torch.optim.AdamW(reference.parameters(), lr=2e-4, weight_decay=0.0)

    def train_ours():
        for _ in range(steps):
            loss = diffusion.loss(ours, x0)
            loss.backward()
            opt_ours.step()
            opt_ours.zero_grad(set_to_none=True)

    def train_ref():
        for _ in range(steps):
            loss = reference(x0 * 0.5 + 0.5)  # it normalises [0, 1] images to [-1, 1] itself
            loss.backward()
            opt_ref.step()
            opt_ref.zero_grad(set_to_none=True)

    def sample_ours():
        ours.eval()
        generate_images(ours, diffusion, image_shape=(size, size, channels), num_samples=n_samples,
                        sampler="ddim", steps=50, eta=0.0, batch_size=n_samples, seed=0, progress=False)
        ours.train()

    def sample_ref():
        reference.eval()
        with torch.no_grad():
            reference.sample(batch_size=n_samples)
        reference.train()

    for fn in (train_ours, train_ref):  # warm-up (allocator, oneDNN primitives)
        fn()
    rows = {"train_ours": [], "train_ref": [], "sample_ours": [], "sample_ref": []}
    for _ in range(rounds):  # interleaved: load changes hit both sides alike
        for key, fn in (("train_ours", train_ours), ("train_ref", train_ref), ("sample_ours", sample_ours), ("sample_ref", sample_ref)):
            rows[key].append(timed(fn))

    def rate(key, work):
        walls, cpus = zip(*rows[key])
        return work / statistics.median(walls), statistics.median(cpus) / work

    ours_sps, ours_cpu = rate("train_ours", steps)
    ref_sps, ref_cpu = rate("train_ref", steps)
    ours_ips, ours_scpu = rate("sample_ours", n_samples)
    ref_ips, ref_scpu = rate("sample_ref", n_samples)
    result = {
        "setting": name, "image": [size, size, channels], "batch": batch,
        "params_ours": n_params(ours), "params_reference": n_params(ref_unet),
        "reference": {"dim": ref_unet.init_conv.out_channels, "dim_mults": list(unet_cfg.channel_mults),
                      "attn_heads": ref_unet.mid_attn.heads, "attn_dim_head": ref_unet.mid_attn.to_qkv.out_channels // 3 // ref_unet.mid_attn.heads},
        "train_steps_per_s_ours": round(ours_sps, 2), "train_steps_per_s_reference": round(ref_sps, 2),
        "train_speedup": round(ours_sps / ref_sps, 2),
        "train_cpu_s_per_step_ours": round(ours_cpu, 4), "train_cpu_s_per_step_reference": round(ref_cpu, 4),
        "train_speedup_cpu_time": round(ref_cpu / ours_cpu, 2),
        "ddim50_samples_per_s_ours": round(ours_ips, 2), "ddim50_samples_per_s_reference": round(ref_ips, 2),
        "ddim50_speedup": round(ours_ips / ref_ips, 2),
        "ddim50_speedup_cpu_time": round(ref_scpu / ours_scpu, 2),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed round")
    parser.add_argument("--samples", type=int, default=32, help="DDIM-50 samples per timed round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(ROOT / "params.yaml")
    demo = params.train.unet
    cifar = dataclasses.replace(demo, channel_mults=(1, 2, 2), attention_resolutions=(16,))
    load_before = os.getloadavg()
    results = [
        bench_setting("demo 28x28x1", size=28, channels=1, unet_cfg=demo, batch=params.train.batch_size,
                      steps=args.steps, rounds=args.rounds, n_samples=args.samples),
        bench_setting("32x32x3", size=32, channels=3, unet_cfg=cifar, batch=params.train.batch_size,
                      steps=args.steps, rounds=args.rounds, n_samples=args.samples),
    ]
    out = {
        "machine": provenance(),
        "torch_threads": args.threads, "rounds": args.rounds, "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()], "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
