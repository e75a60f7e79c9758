"""The `embed` stage end to end in a temporary folder, shard merging, and multi-process parity."""

from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml

from gencurate.cli import main as cli_main
from gencurate.data import schema
from gencurate.config import ParamsError, load_params, params_from_mapping
from gencurate.encoders import embed_images, load_encoder
from gencurate.encoders.lightning_embed import embed_with_lightning, merge_shards, write_shard
from gencurate.io import read_json
from gencurate.stages import embed as stage

N_IMAGES = 12


def blob_images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 (n, size, size, 1): a bright square at a random place on a dark ground."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 40, (n, size, size, 1), dtype=np.uint8)
    for i in range(n):
        y, x = rng.integers(0, size - 6, 2)
        out[i, y: y + 6, x: x + 6] = rng.integers(150, 256)
    return out


@pytest.fixture()
def workspace(tmp_path, monkeypatch, default_params_dict):
    """A folder with params.yaml (tiny encoders) and prepared images + manifest."""
    params = default_params_dict
    params["embed"].update(batch_size=5, num_workers=0, accelerator="cpu")
    params["encoders"]["selection"].update(name="efficientnet-lite0", input_size=32)
    params["encoders"]["evaluation"].update(name="efficientnet-lite0", input_size=64)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    paths = load_params().paths
    paths.images.parent.mkdir(parents=True)
    images = blob_images(N_IMAGES)
    np.save(paths.images, images)
    pd.DataFrame({"id": np.arange(N_IMAGES), "split": ["train"] * N_IMAGES}).to_parquet(paths.manifest)
    return tmp_path, images


def test_stage_writes_aligned_unit_embeddings_and_meta(workspace):
    root, images = workspace
    assert cli_main(["embed"]) == 0  # no --role: both roles
    params = load_params()
    digest = hashlib.sha256(params.paths.images.read_bytes()).hexdigest()
    for role, size in (("selection", 32), ("evaluation", 64)):
        emb = np.load(params.paths.embedding(role))
        assert emb.shape == (N_IMAGES, 1280) and emb.dtype == np.float32
        # Selection rows are unit rows (cosine geometry); evaluation rows the raw pooled features.
        normalised = role == "selection"
        assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5) == normalised
        # Row i is image i: the same as the plain in-memory path.
        enc = load_encoder("efficientnet-lite0", input_size=size, device="cpu", weights=None)
        np.testing.assert_allclose(
            emb, embed_images(enc, images, batch_size=N_IMAGES, num_workers=0, progress=False, normalise=normalised),
            rtol=1e-5, atol=1e-5)
        meta = read_json(params.paths.embedding_meta(role))
        assert meta == {
            schema.META_NAME: "efficientnet-lite0", schema.META_WEIGHTS: enc.weights, schema.META_INPUT_SIZE: size,
            schema.META_DIM: 1280, schema.META_N: N_IMAGES, schema.META_IMAGES_SHA256: digest,
            schema.META_NORMALISED: normalised,
        }
    # Nothing but the declared outputs (no leftover shard folders or temporaries).
    assert sorted(p.name for p in params.paths.embedding("selection").parent.iterdir()) == [
        "evaluation.json", "evaluation.npy", "selection.json", "selection.npy"]


def test_stage_one_role_is_deterministic(workspace):
    args = argparse.Namespace(params="params.yaml", role="selection")
    stage.main(args)
    paths = load_params().paths
    first = np.load(paths.embedding("selection"))
    assert not paths.embedding("evaluation").exists()
    stage.main(args)
    np.testing.assert_array_equal(np.load(paths.embedding("selection")), first)


def test_stage_refuses_misaligned_manifest_with_one_line(workspace, capsys):
    paths = load_params().paths
    pd.DataFrame({"id": np.arange(N_IMAGES - 1)}).to_parquet(paths.manifest)
    assert cli_main(["embed", "--role", "selection"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 12 images but" in err and "rerun prepare" in err and "\n" not in err
    paths.images.unlink()
    assert cli_main(["embed", "--role", "selection"]) == 2
    assert "run `gencurate prepare` first" in capsys.readouterr().err


def test_stage_names_missing_weights_file(workspace, capsys):
    params = yaml.safe_load(open("params.yaml"))
    params["encoders"]["selection"]["weights"] = "/no/such/lite0.pth"
    open("params.yaml", "w").write(yaml.safe_dump(params))
    assert cli_main(["embed", "--role", "selection"]) == 2
    assert "efficientnet-lite0: weights file '/no/such/lite0.pth' does not exist" in capsys.readouterr().err


def test_embed_params_are_strict(default_params_dict):
    params = default_params_dict
    params["encoders"]["selection"]["input_size"] = None  # the encoder's native size
    assert params_from_mapping(params).encoders.selection.input_size is None
    params["encoders"]["selection"]["name"] = "resnet50"
    with pytest.raises(ParamsError, match="unknown encoder 'resnet50'"):
        params_from_mapping(params)
    params["encoders"]["selection"]["name"] = "efficientnet-lite0"
    params["embed"]["strategy"] = "ddp_spawn"
    assert params_from_mapping(params).embed.strategy == "ddp_spawn"
    params["embed"]["num_nodes"] = 0
    with pytest.raises(ParamsError, match="embed.num_nodes"):
        params_from_mapping(params)
    params["embed"]["num_nodes"] = 1
    params["embed"]["strategi"] = "ddp"
    with pytest.raises(ParamsError, match="did you mean 'strategy'"):
        params_from_mapping(params)


def test_stage_hands_the_lightning_params_to_the_trainer(workspace, monkeypatch):
    """embed.accelerator/devices/num_nodes/strategy reach embed_with_lightning (its Trainer); a non-zero rank writes nothing."""
    import gencurate.encoders.lightning_embed as lightning_embed

    params = yaml.safe_load(open("params.yaml"))
    params["embed"].update(accelerator="gpu", devices=4, num_nodes=3, strategy="ddp")
    open("params.yaml", "w").write(yaml.safe_dump(params))
    seen = {}

    def fake_embed_with_lightning(enc, images, **kwargs):
        seen.update(kwargs)
        return None  # what a rank other than global rank 0 gets back

    monkeypatch.setattr(lightning_embed, "embed_with_lightning", fake_embed_with_lightning)
    assert cli_main(["embed", "--role", "selection"]) == 0
    assert {k: seen[k] for k in ("accelerator", "devices", "num_nodes", "strategy")} == {
        "accelerator": "gpu", "devices": 4, "num_nodes": 3, "strategy": "ddp"}
    assert not load_params().paths.embedding_meta("selection").exists()


def test_merge_shards_by_hand(tmp_path):
    shards = tmp_path / "shards"
    # Two ranks with interleaved indices (a distributed sampler's split) and one repeated row.
    write_shard(shards, 0, [0, 2, 4], [[0, 0], [2, 2], [4, 4]])
    write_shard(shards, 1, [1, 3, 4], [[1, 1], [3, 3], [4, 4]])
    out = tmp_path / "embedding.npy"
    merged = merge_shards(shards, out, world_size=2, n=5, dim=2)
    np.testing.assert_array_equal(merged, np.repeat(np.arange(5.0), 2).reshape(5, 2))
    np.testing.assert_array_equal(np.load(out), merged)
    with pytest.raises(ValueError, match="cover 3 of 5"):
        merge_shards(shards, tmp_path / "bad.npy", world_size=1, n=5, dim=2)
    with pytest.raises(ValueError, match="rank 2 is missing"):
        merge_shards(shards, tmp_path / "bad.npy", world_size=3, n=5, dim=2)
    with pytest.raises(ValueError, match=r"expected \(\*, 3\)"):
        merge_shards(shards, tmp_path / "bad.npy", world_size=2, n=5, dim=3)
    write_shard(shards, 1, [1, 3, 4], [[1, 1], [3, 3], [9, 9]])
    with pytest.raises(ValueError, match="disagrees"):
        merge_shards(shards, tmp_path / "bad.npy", world_size=2, n=5, dim=2)
    with pytest.raises(ValueError, match="outside"):
        merge_shards(shards, tmp_path / "bad.npy", world_size=2, n=4, dim=2)
    assert not (tmp_path / "bad.npy").exists()  # a failed merge leaves no output behind
    np.testing.assert_array_equal(np.load(out), merged)


def test_merge_reads_in_chunks(tmp_path, monkeypatch):
    """Shards larger than one merge chunk scatter the same rows as one pass."""
    from gencurate.encoders import lightning_embed

    rng = np.random.default_rng(0)
    features = rng.standard_normal((37, 4)).astype(np.float32)
    order = rng.permutation(37)
    write_shard(tmp_path / "shards", 0, order[:20], features[order[:20]])
    write_shard(tmp_path / "shards", 1, order[20:], features[order[20:]])
    monkeypatch.setattr(lightning_embed, "MERGE_BYTES", 3 * 4 * 4)  # 3 rows per chunk
    merged = merge_shards(tmp_path / "shards", tmp_path / "e.npy", world_size=2, n=37, dim=4)
    np.testing.assert_array_equal(merged, features)


def test_embed_with_lightning_writes_the_same_rows_as_embed_images(tmp_path):
    images = blob_images(11, seed=4)
    np.save(tmp_path / "images.npy", images)
    enc = load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None)
    single = embed_images(enc, images, batch_size=4, progress=False, num_workers=0)
    out = embed_with_lightning(enc, tmp_path / "images.npy", out_path=tmp_path / "e.npy", shard_dir=tmp_path / "shards",
                               batch_size=3, num_workers=0, accelerator="cpu", devices=1, num_nodes=1, strategy="auto",
                               progress=False)
    np.testing.assert_allclose(out, single, atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), out)
    assert not (tmp_path / "shards").exists()


@pytest.mark.slow
@pytest.mark.multiprocess
def test_ddp_spawn_on_two_cpu_processes_matches_one_process(tmp_path):
    images = blob_images(21, seed=3)
    np.save(tmp_path / "images.npy", images)
    enc = load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None)
    single = embed_images(enc, images, batch_size=4, progress=False, num_workers=0)
    multi = embed_with_lightning(
        enc, tmp_path / "images.npy", out_path=tmp_path / "e.npy", shard_dir=tmp_path / "shards", batch_size=4,
        num_workers=0, accelerator="cpu", devices=2, num_nodes=1, strategy="ddp_spawn", progress=False,
    )
    np.testing.assert_allclose(multi, single, atol=1e-5)
    assert not (tmp_path / "shards").exists()


def test_check_features_vary_refuses_only_all_constant_columns(monkeypatch):
    constant = np.tile(np.array([[0.0, 2.5, -1.0]], np.float32), (5, 1))  # every column constant over the rows
    with pytest.raises(ValueError, match=r"^efficientnet-lite2 at input_size 32 gives the same features for all 5 images; "
                                         r"set a larger encoders\.evaluation\.input_size"):
        stage.check_features_vary(constant, encoder="efficientnet-lite2", input_size=32, role="evaluation")
    with pytest.raises(ValueError, match="all 4 images"):
        stage.check_features_vary(np.zeros((4, 8), np.float32), encoder="e", input_size=32, role="selection")
    one_column_varies = constant.copy()
    one_column_varies[3, 1] = 2.25  # one value in one column is enough
    stage.check_features_vary(one_column_varies, encoder="e", input_size=32, role="evaluation")
    stage.check_features_vary(constant[:1], encoder="e", input_size=32, role="evaluation")  # one row: nothing to compare
    # The difference sits in a later chunk than the first: still found.
    monkeypatch.setattr(stage, "VARY_CHUNK", 2)
    late = np.zeros((7, 3), np.float32)
    late[6, 0] = 1e-6
    stage.check_features_vary(late, encoder="e", input_size=32, role="evaluation")
    with pytest.raises(ValueError, match="all 7 images"):
        stage.check_features_vary(np.zeros((7, 3), np.float32), encoder="e", input_size=32, role="evaluation")


def test_stage_refuses_an_encoder_whose_features_are_constant(workspace, monkeypatch, capsys):
    """Features that are the same for every image stop embed with one line naming the encoder and input_size key."""
    import gencurate.encoders.lightning_embed as lightning_embed

    def constant_features(enc, images, *, out_path, **kwargs):
        features = np.zeros((N_IMAGES, enc.dim), np.float32)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(out_path, features)
        return features

    monkeypatch.setattr(lightning_embed, "embed_with_lightning", constant_features)
    assert cli_main(["embed", "--role", "evaluation"]) == 2
    err = capsys.readouterr().err.strip()
    assert "efficientnet-lite0 at input_size 64 gives the same features for all 12 images" in err
    assert "encoders.evaluation.input_size" in err and "\n" not in err
    paths = load_params().paths
    assert not paths.embedding("evaluation").exists() and not paths.embedding_meta("evaluation").exists()
