"""`strategy: ddp` through the real command line, as a user with several GPUs runs it.

Lightning's "ddp" launcher starts the other ranks by running the same command again (unlike
"ddp_spawn", which the in-process tests use), so this runs `gencurate embed` and `gencurate
train` as subprocesses with `devices: 2` on the CPU (gloo) and checks that the result equals
a single-process run (embed) and is a complete checkpoint (train).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from gencurate.config import load_params
from gencurate.diffusion import checkpoint as ckpt
from gencurate.encoders import embed_images, load_encoder
from gencurate.io import write_ids

N_IMAGES = 27  # odd and not a multiple of the batch: the distributed sampler pads one rank
# Slow (~35 s): the fast suite keeps DDP covered by test_train's spawn test.
pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

DDP = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}


def gencurate(*args: str, cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               OMP_NUM_THREADS="1")  # two ranks on two cores
    proc = subprocess.run(["gencurate", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"gencurate {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.fixture()
def project(tmp_path, tiny_params_dict) -> Path:
    """Prepared images + manifest + a selection, and params.yaml asking for 2-process DDP."""
    params = tiny_params_dict
    params["embed"].update(batch_size=4, num_workers=0, **DDP)
    params["encoders"]["selection"].update(name="efficientnet-lite0", input_size=32)
    params["train"].update(steps=4, batch_size=2, checkpoint_every_n_steps=2, concurrent_seeds=1, **DDP)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    paths = load_params(tmp_path / "params.yaml").paths
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_IMAGES, 16, 16, 1), dtype=np.uint8)
    (tmp_path / paths.images).parent.mkdir(parents=True)
    np.save(tmp_path / paths.images, images)
    pd.DataFrame({"id": np.arange(N_IMAGES), "split": ["train"] * N_IMAGES}).to_parquet(tmp_path / paths.manifest)
    write_ids(tmp_path / paths.selection("random"), np.arange(0, N_IMAGES, 3))
    return tmp_path


def test_embed_and_train_with_ddp_on_two_cpu_processes(project):
    paths = load_params(project / "params.yaml").paths

    gencurate("embed", "--role", "selection", cwd=project)
    multi = np.load(project / paths.embedding("selection"))
    enc = load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None)
    single = embed_images(enc, np.load(project / paths.images), batch_size=5, progress=False, num_workers=0)
    np.testing.assert_allclose(multi, single, atol=1e-5)  # rows in manifest order, none lost or repeated
    leftovers = [p.name for p in (project / paths.embeddings).iterdir()]
    assert sorted(leftovers) == ["selection.json", "selection.npy"], leftovers  # shards merged and removed

    gencurate("train", "--method", "random", "--seed", "0", cwd=project)
    state = torch.load(project / paths.checkpoint("random", 0), weights_only=True)
    assert state[ckpt.KEY_STEP] == 4
    assert ckpt.load_checkpoint(project / paths.checkpoint("random", 0)).image_shape == (16, 16, 1)
