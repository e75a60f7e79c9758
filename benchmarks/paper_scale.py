"""Paper-scale DDPM on CPU: the README's study preset, its size, CPU seconds per step, and a GPU memory estimate.

    .venv/bin/pip install denoising-diffusion-pytorch   # the study's UNet class, for the size comparison
    .venv/bin/python benchmarks/paper_scale.py [--threads 2] [--steps 2] [--batch 32]

Reads the `dvc exp run -S ...` preset from README.md ("The study's preset"), builds the UNet
it names at 128x128x3 and reports, side by side in one run:
- parameters: ours vs denoising-diffusion-pytorch's Unet(dim=64, dim_mults=(1, 2, 4, 8));
- training FLOPs per step at the preset's batch (torch's FlopCounterMode, forward + backward);
- CPU and wall seconds per optimiser step (loss, backward, AdamW) in fp32 and under CPU bf16
  autocast (the code path Lightning's `bf16-mixed` uses), after one warm-up step, at the
  batch sizes given (batch 32 in fp32 holds ~11 GiB of activations: too much for a shared
  machine, so the default times batch 4 and also states the linear extrapolation to the
  preset's batch, labelled as such);
- an ESTIMATE of GPU memory at the preset's batch: fp32 weights + gradients + AdamW moments +
  the EMA copy, plus the bytes autograd saves for backward (counted by saved-tensor hooks at
  batch 1 and 2 on CPU and extrapolated linearly to the batch: the batch-independent part is
  autocast's bf16 copies of the weights), excluding the CUDA context,
  allocator fragmentation and transient workspace; not a measurement on a GPU.
The machine is shared: the load average is recorded. Results: benchmarks/results/paper_scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from gencurate.config import params_from_mapping, to_mapping
from gencurate.diffusion.unet import build_unet
from gencurate.diffusion.gaussian import GaussianDiffusion

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "paper_scale.json"
PRESET_MARKER = "<!-- study-preset"
IMAGE_SHAPE = (128, 128, 3)  # (H, W, C) of the preset's prepare.image_size / channels


def readme_preset(readme: str, marker: str = PRESET_MARKER) -> dict[str, Any]:
    """The `-S key=value` overrides of the command under a README preset marker, values YAML-parsed."""
    after = readme[readme.index(marker):]
    block = after.split("```bash", 1)[1].split("```", 1)[0]
    tokens = shlex.split(block.replace("\\\n", " "))
    overrides = {}
    for flag, value in zip(tokens, tokens[1:]):
        if flag == "-S":
            key, raw = value.split("=", 1)
            overrides[key] = yaml.safe_load(raw)
    return overrides


def apply_overrides(params: dict, overrides: dict[str, Any]) -> dict:
    """`params` (a params.yaml mapping) with dotted-key overrides set in place, as `dvc exp run -S` does."""
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    return params


def preset_params():
    """Typed Params of params.yaml with the README preset applied."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    return params_from_mapping(apply_overrides(base, readme_preset((ROOT / "README.md").read_text())))


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def training_step(unet, diffusion, optimizer, images: torch.Tensor, autocast: bool) -> None:
    """One optimiser step: diffusion loss, backward, AdamW."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = diffusion.loss(unet, images)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def seconds_per_step(params, *, batch: int, steps: int, autocast: bool) -> dict[str, float]:
    torch.manual_seed(0)
    unet = build_unet(to_mapping(params.train.unet), IMAGE_SHAPE).train()
    diffusion = GaussianDiffusion(**to_mapping(params.train.diffusion))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=params.train.lr)
    images = torch.rand(batch, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2]) * 2 - 1
    training_step(unet, diffusion, optimizer, images, autocast)  # warm-up (allocations, AdamW state)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        training_step(unet, diffusion, optimizer, images, autocast)
    return {"cpu_seconds_per_step": round((time.process_time() - cpu) / steps, 2),
            "wall_seconds_per_step": round((time.perf_counter() - wall) / steps, 2)}


def saved_activation_bytes(params, *, batch: int, autocast: bool) -> int:
    """Bytes autograd keeps for backward in one training forward (distinct storages counted once)."""
    torch.manual_seed(0)
    unet = build_unet(to_mapping(params.train.unet), IMAGE_SHAPE).train()
    diffusion = GaussianDiffusion(**to_mapping(params.train.diffusion))
    storages: dict[int, int] = {}
    parameters = {p.untyped_storage().data_ptr() for p in unet.parameters()}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:  # weights are counted with the parameters
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = diffusion.loss(unet, torch.rand(batch, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2]) * 2 - 1)
    del loss
    return sum(storages.values())


def flops_per_step(params, *, batch: int) -> int:
    """Forward + backward FLOPs of one training step at `batch` (counted on the meta device, no compute)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        unet = build_unet(to_mapping(params.train.unet), IMAGE_SHAPE).train()
        x = torch.empty(batch, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2])
        t = torch.zeros(batch, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        unet(x, t).sum().backward()
    return counter.get_total_flops()


def reference_parameters() -> dict[str, Any]:
    with contextlib.suppress(ImportError):
        from denoising_diffusion_pytorch import Unet

        with torch.device("meta"):
            return {"model": "denoising_diffusion_pytorch.Unet(dim=64, dim_mults=(1, 2, 4, 8), channels=3)",
                    "parameters": count(Unet(dim=64, dim_mults=(1, 2, 4, 8), channels=3))}
    return {"model": "denoising-diffusion-pytorch not installed", "parameters": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="timed optimiser steps per setting (after 1 warm-up)")
    parser.add_argument("--batch", type=int, nargs="+", default=[4], help="batch sizes for the CPU timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = preset_params()
    batch = params.train.batch_size
    load_before = os.getloadavg()
    from provenance import provenance  # benchmarks/ is on sys.path when this runs as a script

    machine = provenance()
    with torch.device("meta"):
        ours = count(build_unet(to_mapping(params.train.unet), IMAGE_SHAPE))
    n_params = ours
    # fp32 weights + gradients + AdamW's two moments + the EMA copy.
    state_bytes = 4 * n_params * 5
    activations = {}
    for name, autocast in (("fp32", False), ("bf16-mixed", True)):
        one, two = (saved_activation_bytes(params, batch=b, autocast=autocast) for b in (1, 2))
        activations[name] = one + (batch - 1) * (two - one)
    timings = []
    for b in args.batch:
        for name, autocast in (("fp32", False), ("bf16-mixed (CPU autocast)", True)):
            row = {"batch": b, "precision": name, **seconds_per_step(params, batch=b, steps=args.steps, autocast=autocast)}
            # Compute is linear in the batch at this size; an extrapolation, not a measurement.
            row["cpu_seconds_per_step_extrapolated_to_preset_batch"] = round(row["cpu_seconds_per_step"] * batch / b, 1)
            print(json.dumps(row), flush=True)
            timings.append(row)
    gib = 2**30
    out = {
        "preset": {"unet": to_mapping(params.train.unet), "image_shape_hwc": list(IMAGE_SHAPE), "batch_size": batch,
                   "steps": params.train.steps, "sample_num_samples": params.sample.num_samples},
        "parameters": {"ours": ours, "reference": reference_parameters()},
        "train_flops_per_step": flops_per_step(params, batch=batch),
        "cpu_timing": {"threads": args.threads, "timed_steps": args.steps, "rows": timings},
        "gpu_memory_estimate_gib": {
            "note": "ESTIMATE, not measured on a GPU: fp32 weights+grads+AdamW+EMA plus autograd's saved tensors "
                    "(counted at batch 1 and 2 on CPU, extrapolated linearly); excludes the CUDA context "
                    "(~0.5 GiB), allocator fragmentation and transient workspace",
            "model_and_optimizer_state": round(state_bytes / gib, 2),
            **{f"activations_{k}": round(v / gib, 2) for k, v in activations.items()},
            **{f"total_{k}": round((state_bytes + v) / gib, 2) for k, v in activations.items()},
        },
        "machine": machine,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "host_note": "shared 2-core machine: other jobs ran during the timing (see load averages)",
    }
    print(json.dumps(out, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
