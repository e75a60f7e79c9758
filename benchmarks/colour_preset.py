"""Training params for a 32 px RGB folder: the demo's UNet against the README's colour preset, at equal compute.

    .venv/bin/python benchmarks/colour_preset.py [--seconds 240] [--train 4000]

A generated colour set (coloured circles, squares and triangles on tinted backgrounds, 32x32 RGB;
drawn at run time, seeded) stands in for a user's folder. Each config trains on the same
`--train` images for the same wall-clock budget, all at once, one process and one torch thread
each (gencurate.processes, the code the train stage uses), then draws 1,000 samples with params.yaml's
sampler, scored against 1,000 held-out images of the set in the evaluation encoder's raw feature
space (params.yaml `encoders.evaluation`): FD, precision and recall (k = 3).

- demo: params.yaml `train` as is (base 16, [1, 2, 2]), attention moved to 8 px, the level a
  32 px input reaches where the demo's 28 px input reaches 7;
- rgb32: the README preset for 32-64 px RGB folders (base 32, [1, 2, 2], attention at 8 px).
Results: benchmarks/results/colour_preset.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np

from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "colour_preset.json"
SIZE = 32
N_HELD_OUT = 1000
N_SAMPLES = 1000
CONFIGS = {
    "demo": {"unet": {"attention_resolutions": [8]}},
    "rgb32": {"unet": {"base_channels": 32, "channel_mults": [1, 2, 2], "attention_resolutions": [8]}},
}


def colour_shapes(n: int, *, seed: int) -> np.ndarray:
    """uint8 (n, 32, 32, 3): one filled shape per image, random kind, colour, size and place."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for i in range(n):
        background = tuple(int(v) for v in rng.integers(150, 256, 3))
        image = Image.new("RGB", (SIZE, SIZE), background)
        draw = ImageDraw.Draw(image)
        colour = tuple(int(v) for v in rng.integers(0, 200, 3))
        r = int(rng.integers(6, 13))
        cx, cy = (int(v) for v in rng.integers(r, SIZE - r, 2))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        elif kind == 1:
            draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        out[i] = np.asarray(image)
    return out


def train_and_sample(slot: int, name: str, seconds: float, n_train: int, out: str) -> dict:
    import dataclasses

    import lightning as L

    from gencurate.config import load_params, params_from_mapping, to_mapping
    from gencurate.diffusion.sampling import generate_images
    from gencurate.diffusion.training import train_diffusion

    params = load_params(ROOT / "params.yaml")
    mapping = to_mapping(params)
    for section, values in CONFIGS[name].items():
        mapping["train"][section].update(values)
    mapping["train"].update(steps=10**8, sample_every_n_steps=10**8, checkpoint_every_n_steps=10**8,
                            eval_every_n_steps=0, steps_by_method={})
    params = params_from_mapping(mapping)

    class StopAfter(L.Callback):
        def __init__(self) -> None:
            self.deadline = time.perf_counter() + seconds

        def on_train_batch_end(self, trainer, *_args) -> None:
            if time.perf_counter() >= self.deadline:
                trainer.should_stop = True

    images = colour_shapes(n_train, seed=0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_diffusion(images=images, config=dataclasses.replace(params.train, accelerator="cpu"), seed=0,
                                 selection_sha256="bench", model_dir=Path(tmp) / "model", log_dir=Path(tmp) / "log",
                                 callbacks=[StopAfter()], curve=None, progress=False)
    train_seconds = time.perf_counter() - t0
    module, cfg = result.module, params.sample
    t0 = time.perf_counter()
    samples = generate_images(module.ema_model.eval(), module.diffusion, image_shape=images.shape[1:],
                              num_samples=N_SAMPLES, sampler=cfg.sampler, steps=cfg.steps, eta=cfg.eta,
                              batch_size=cfg.batch_size, seed=0, progress=False)
    np.save(out, samples)
    return {"steps": int(module.global_step), "train_seconds": round(train_seconds, 1),
            "sample_seconds": round(time.perf_counter() - t0, 1),
            "params": sum(p.numel() for p in module.model.parameters()), "overrides": CONFIGS[name]}


def score(samples: dict[str, np.ndarray], held_out: np.ndarray) -> dict[str, dict]:
    from gencurate.config import load_params
    from gencurate.encoders import embed_images, load_encoder
    from gencurate.metrics.fd import fd_features_to_metric
    from gencurate.metrics.prc import prc_features_to_metric

    params = load_params(ROOT / "params.yaml")
    enc_cfg = params.encoders.evaluation
    enc = load_encoder(enc_cfg.name, weights=enc_cfg.weights, input_size=enc_cfg.input_size, device="cpu")
    real = embed_images(enc, held_out, batch_size=128, progress=False, normalise=False, num_workers=0)
    out = {}
    for name, images in samples.items():
        fake = embed_images(enc, images, batch_size=128, progress=False, normalise=False, num_workers=0)
        metrics = fd_features_to_metric(fake, real) | prc_features_to_metric(fake, real, k=3, batch_size=params.evaluate.knn_block_size)
        out[name] = {k: round(float(v), 4) for k, v in metrics.items()} | {"encoder": f"{enc.name}@{enc.input_size}"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="training wall clock per config")
    parser.add_argument("--train", type=int, default=4000, help="generated training images")
    args = parser.parse_args()
    from gencurate.processes import run_in_processes

    machine = provenance()
    names = list(CONFIGS)
    with tempfile.TemporaryDirectory(prefix="gencurate-bench-colour-") as tmp:
        runs = run_in_processes(train_and_sample, [(n, args.seconds, args.train, f"{tmp}/{n}.npy") for n in names],
                                processes=len(names), totals=[1] * len(names), desc="configs")
        scores = score({n: np.load(f"{tmp}/{n}.npy") for n in names}, colour_shapes(N_HELD_OUT, seed=1))
    result = {
        "benchmark": "colour_preset",
        "machine": machine | {"load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "image": [SIZE, SIZE, 3], "train_images": args.train, "held_out": N_HELD_OUT, "n_samples": N_SAMPLES,
        "training_seconds_each": args.seconds, "processes_at_once": len(names),
        "runs": {n: r | scores[n] for n, r in zip(names, runs)},
        "fd_ratio_demo_over_rgb32": round(scores["demo"]["fd"] / scores["rgb32"]["fd"], 3),
        "note": "each config got the same wall clock at the same time, so load from other jobs hits both alike",
    }
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
