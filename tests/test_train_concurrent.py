"""`gencurate train --method M` trains a method's seeds in concurrent worker processes, and each seed
comes out exactly as training the seeds in turn on one thread gives."""

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
from gencurate.io import write_ids

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]  # ~1 min: four processes import Lightning

N_IMAGES = 24
SEEDS = [0, 1]


def make_project(root: Path, params: dict, concurrent_seeds: int) -> Path:
    root.mkdir()
    params["study"]["seeds"] = SEEDS
    params["train"]["concurrent_seeds"] = concurrent_seeds
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    paths = load_params(root / "params.yaml").paths
    images = np.random.default_rng(0).integers(0, 256, (N_IMAGES, 16, 16, 1), dtype=np.uint8)
    (root / paths.images).parent.mkdir(parents=True)
    np.save(root / paths.images, images)
    pd.DataFrame({"id": np.arange(N_IMAGES), "split": ["train"] * N_IMAGES}).to_parquet(root / paths.manifest)
    write_ids(root / paths.selection("random"), np.arange(0, N_IMAGES, 2))
    return root


def train(root: Path, **env: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **env)
    proc = subprocess.run(["gencurate", "train", "--method", "random"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_concurrent_seeds_equal_seeds_trained_in_turn(tmp_path, tiny_params_dict):
    import copy

    together = make_project(tmp_path / "together", copy.deepcopy(tiny_params_dict), concurrent_seeds=2)
    in_turn = make_project(tmp_path / "in_turn", copy.deepcopy(tiny_params_dict), concurrent_seeds=1)
    log = train(together)
    train(in_turn, OMP_NUM_THREADS="1")  # the thread count of each worker on two cores (or fewer)
    assert "train random (seeds 0, 1)" in log  # one progress bar over both runs
    paths = load_params(together / "params.yaml").paths
    for seed in SEEDS:
        a = torch.load(together / paths.checkpoint("random", seed), weights_only=True)
        b = torch.load(in_turn / paths.checkpoint("random", seed), weights_only=True)
        assert a[ckpt.KEY_STEP] == b[ckpt.KEY_STEP] == 6
        assert a[ckpt.KEY_SEED] == seed
        for name, tensor in b[ckpt.KEY_EMA_STATE].items():
            torch.testing.assert_close(a[ckpt.KEY_EMA_STATE][name], tensor, rtol=0, atol=0, msg=name)
    first = torch.load(together / paths.checkpoint("random", 0), weights_only=True)[ckpt.KEY_EMA_STATE]
    second = torch.load(together / paths.checkpoint("random", 1), weights_only=True)[ckpt.KEY_EMA_STATE]
    assert any(not torch.equal(first[k], second[k]) for k in first)  # the seeds are different runs
