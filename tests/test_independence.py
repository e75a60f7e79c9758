"""Encoder independence: k-NN overlap and typicality correlation on planted spaces, and the stage end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from gencurate.cli import main as cli
from gencurate.config import load_params
from gencurate.io import write_json, write_npy
from gencurate.metrics import independence as I
from gencurate.metrics.pixels import images_to_pixels

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_knn_overlap_hand_case():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[3, 2, 9], [7, 8, 0]])
    assert I.knn_overlap(a, b).tolist() == [2 / 3, 0.0]


def test_a_rotated_rescaled_space_agrees_fully_and_an_unrelated_one_at_chance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    spaces = {"a": x, "rotated": (3.0 * x @ rotation).astype(np.float32),
              "unrelated": rng.normal(size=(400, 6)).astype(np.float32)}
    out = I.spaces_to_independence(spaces, neighbours=10, typicality_k=20, geometries={k: "?" for k in spaces})
    pairs = {(p[I.SPACE_A], p[I.SPACE_B]): p for p in out[I.PAIRS]}
    same = pairs["a", "rotated"]
    assert same[I.OVERLAP_MEAN] == pytest.approx(1.0) and same[I.SPEARMAN] == pytest.approx(1.0)
    other = pairs["a", "unrelated"]
    assert other[I.OVERLAP_CHANCE] == pytest.approx(10 / 399)
    assert other[I.OVERLAP_MEAN] < 3 * other[I.OVERLAP_CHANCE] and abs(other[I.SPEARMAN]) < 0.15
    assert out[I.N_IMAGES] == 400 and out[I.SPACES]["a"][I.DIM] == 6


def test_geometry_and_pixels():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 5)).astype(np.float32)
    assert "cosine" in I.geometry(x / np.linalg.norm(x, axis=1, keepdims=True))
    assert I.geometry(x) == "Euclidean on raw features"
    small = rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    assert np.array_equal(images_to_pixels(small, max_side=32), small.reshape(3, -1) / np.float32(255))
    big = np.full((2, 64, 48, 3), 255, dtype=np.uint8)
    pixels = images_to_pixels(big, max_side=32)
    assert pixels.shape == (2, 32 * 24 * 3) and pixels == pytest.approx(1.0)


def test_stage_writes_the_table_for_the_train_split(tmp_path, monkeypatch, repo_root):
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    paths = load_params().paths
    rng = np.random.default_rng(2)
    n_train, n_ref = 60, 20
    splits = ["train"] * n_train + ["reference"] * n_ref
    paths.manifest.parent.mkdir(parents=True)
    pd.DataFrame({"id": np.arange(80), "split": splits}).to_parquet(paths.manifest)
    write_npy(paths.images, rng.integers(0, 256, (80, 8, 8, 1), dtype=np.uint8))
    x = rng.normal(size=(80, 16)).astype(np.float32)
    write_npy(paths.embedding("selection"), x / np.linalg.norm(x, axis=1, keepdims=True))
    write_npy(paths.embedding("evaluation"), 5 * x)
    for role, name in (("selection", "enc-a"), ("evaluation", "enc-b")):
        write_json(paths.embedding_meta(role), {"name": name})
    assert cli(["independence"]) == 0
    out = json.loads(paths.independence_file.read_text())
    assert out[I.N_IMAGES] == n_train and out[I.NEIGHBOURS] == 10
    assert set(out[I.SPACES]) == {"selection (enc-a)", "evaluation (enc-b)", "pixels"}
    assert "cosine" in out[I.SPACES]["selection (enc-a)"][I.GEOMETRY]
    assert out[I.SPACES]["evaluation (enc-b)"][I.GEOMETRY] == "Euclidean on raw features"
    assert len(out[I.PAIRS]) == 3

    from gencurate.report.independence import independence_section

    section = independence_section(paths.independence_file)
    assert "| selection (enc-a) | evaluation (enc-b) |" in section and "60 train images" in section
