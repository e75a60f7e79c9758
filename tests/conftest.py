"""Shared fixtures. Tests run on CPU with small, generated data."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def default_params_dict() -> dict:
    """params.yaml as a plain dict (a fresh copy per test, safe to mutate)."""
    with open(REPO_ROOT / "params.yaml") as f:
        return copy.deepcopy(yaml.safe_load(f))


def tiny_params(params: dict) -> dict:
    """`params` (a params.yaml dict) set in place for a seconds-long CPU run: one method and seed, a
    two-level 8-channel UNet without attention, 50 diffusion timesteps, 6 training steps, a few samples."""
    params["study"] = {"methods": ["random"], "seeds": [0]}
    params["train"]["steps_by_method"] = {}  # budgets may name only study methods
    params["train"].update(steps=6, batch_size=4, warmup_steps=1, log_every_n_steps=1, sample_every_n_steps=1000,
                           checkpoint_every_n_steps=3, eval_every_n_steps=0, accelerator="cpu")
    params["train"]["unet"].update(base_channels=8, channel_mults=[1, 2], num_res_blocks=1, attention_resolutions=[])
    params["train"]["diffusion"]["timesteps"] = 50
    params["sample"].update(num_samples=10, steps=4, batch_size=4, accelerator="cpu")
    params["evaluate"].update(num_samples=10, kid_subset_size=5)
    return params


@pytest.fixture()
def tiny_params_dict(default_params_dict) -> dict:
    """params.yaml with tiny train/unet/diffusion/sample/evaluate values (see `tiny_params`); a fresh
    copy per test, safe to mutate."""
    return tiny_params(default_params_dict)


@pytest.fixture(scope="session")
def tiny_params_factory():
    """A callable that returns a fresh `tiny_params` dict of params.yaml per call: for module-scoped
    fixtures, which cannot use the function-scoped `tiny_params_dict`."""
    def make() -> dict:
        with open(REPO_ROOT / "params.yaml") as f:
            return tiny_params(yaml.safe_load(f))

    return make


@pytest.fixture()
def torch_one_thread():
    """Tiny networks run on one torch thread: for them OpenMP barrier waits cost more than a second
    thread saves. Use with `pytestmark = pytest.mark.usefixtures("torch_one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
