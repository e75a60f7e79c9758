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


@pytest.fixture()
def torch_one_thread():
    """Tiny networks run on one torch thread: OpenMP barrier waits cost more than they save
    on a shared 2-core machine. Use with `pytestmark = pytest.mark.usefixtures("torch_one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
