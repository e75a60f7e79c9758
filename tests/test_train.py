"""DDPM training with Lightning on tiny generated data: overfitting, kill-and-resume, checkpoints, the stage."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import yaml

from gencurate.config import DiffusionConfig, TrainConfig, UNetConfig
from gencurate.diffusion import checkpoint as ckpt
from gencurate.diffusion.module import uint8_to_unit
from gencurate.diffusion.training import last_checkpoint_path, train_diffusion
from gencurate.io import file_sha256


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def toy_images(n: int = 8, size: int = 16, channels: int = 1) -> np.ndarray:
    """n distinct uint8 images [n x size x size x C]: a bright square at n positions on a dark field."""
    images = np.full((n, size, size, channels), 20, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, 4)
        images[i, 2 + 6 * r : 6 + 6 * r, 1 + 3 * c : 5 + 3 * c] = 230
    return images


def tiny_config(**overrides) -> TrainConfig:
    base = TrainConfig(
        steps=12, batch_size=4, lr=2e-3, warmup_steps=2, ema_decay=0.9, hflip=True, log_every_n_steps=1,
        sample_every_n_steps=1000, checkpoint_every_n_steps=4, accelerator="cpu",
        unet=UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(8,), dropout=0.1),
        diffusion=DiffusionConfig(timesteps=100, schedule="cosine", prediction="eps"),
    )
    return dataclasses.replace(base, **overrides)


def run(tmp_path, name, config, *, images=None, callbacks=(), seed=0, curve=None):
    return train_diffusion(
        images=toy_images() if images is None else images, config=config, seed=seed, selection_sha256="abc",
        model_dir=tmp_path / name / "model", log_dir=tmp_path / name / "logs", curve=curve, callbacks=callbacks,
        progress=False,
    )


def mean_loss(module, images, seed=0) -> float:
    """Loss of the EMA model on fixed draws of t and noise (comparable across models)."""
    g = torch.Generator().manual_seed(seed)
    x0 = uint8_to_unit(torch.from_numpy(images).permute(0, 3, 1, 2)).repeat(16, 1, 1, 1)
    with torch.no_grad():
        return module.diffusion.loss(module.ema_model.eval(), x0, generator=g).item()


class Kill(Exception):
    """Stands in for a SIGKILL: training stops abruptly after `at` steps."""


class KillAt:
    def __new__(cls, at):
        import lightning as L

        class _Kill(L.Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step == at:
                    raise Kill(f"killed at step {at}")

        return _Kill()


def test_tiny_model_overfits_eight_images(tmp_path):
    config = tiny_config(steps=150, lr=3e-3, warmup_steps=10, ema_decay=0.9, hflip=False, checkpoint_every_n_steps=150,
                         log_every_n_steps=50,
                         unet=UNetConfig(base_channels=16, channel_mults=(1, 2), attention_resolutions=(), dropout=0.0))
    images = toy_images()
    result = run(tmp_path, "fit", config, images=images)
    after = mean_loss(result.module, images)
    # an untrained UNet outputs zeros: loss = E[eps^2] = 1; 150 steps on 8 images get well below it
    assert after < 0.25, after
    metrics = json.loads((tmp_path / "fit" / "logs" / "metrics.json").read_text())
    assert metrics["step"] == 149 and metrics["train"]["loss"] < 0.5  # the last logged training loss


def test_kill_and_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    config = tiny_config()  # dropout, flips and warm-up all in play
    straight = run(tmp_path, "straight", config)
    with pytest.raises(Kill):
        run(tmp_path, "resumed", config, callbacks=[KillAt(6)])  # last.ckpt holds step 4
    assert ckpt.read_resume_info(last_checkpoint_path(tmp_path / "resumed" / "model")).global_step == 4
    resumed = run(tmp_path, "resumed", config)
    assert resumed.resumed_from == last_checkpoint_path(tmp_path / "resumed" / "model")
    assert resumed.module.ema_steps == straight.module.ema_steps == 12
    for key, value in straight.module.state_dict().items():
        assert torch.equal(value, resumed.module.state_dict()[key]), key
    a, b = straight.checkpoint(), resumed.checkpoint()
    assert all(torch.equal(a[ckpt.KEY_EMA_STATE][k], b[ckpt.KEY_EMA_STATE][k]) for k in a[ckpt.KEY_EMA_STATE])
    # the resumed run continued the interrupted run's loss curve, without the replayed steps twice
    def steps(name):
        rows = (tmp_path / name / "logs" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
        return [int(r.split("\t")[0]) for r in rows[1:]]

    assert steps("resumed") == steps("straight") and len(steps("resumed")) == 12


def test_a_changed_config_or_selection_starts_fresh(tmp_path):
    config = tiny_config(steps=4)
    run(tmp_path, "a", config)
    last = last_checkpoint_path(tmp_path / "a" / "model")
    assert last.exists()
    again = run(tmp_path, "a", config)
    assert again.resumed_from == last  # same run: resumes (already complete)
    changed = run(tmp_path, "a", tiny_config(steps=4, lr=1e-3))
    assert changed.resumed_from is None
    assert ckpt.read_resume_info(last).fingerprint["train"]["lr"] == 1e-3
    # only logistics may change without losing a run
    assert run(tmp_path, "a", tiny_config(steps=4, lr=1e-3, log_every_n_steps=2)).resumed_from == last
    assert run(tmp_path, "a", tiny_config(steps=4, lr=1e-3), seed=1).resumed_from is None


def test_changed_diffusion_code_starts_fresh(tmp_path, monkeypatch):
    """An edit to the diffusion code reruns DVC's train stage; the rerun must retrain, not resume."""
    config = tiny_config(steps=4)
    run(tmp_path, "a", config)
    last = last_checkpoint_path(tmp_path / "a" / "model")
    assert run(tmp_path, "a", config).resumed_from == last
    monkeypatch.setattr(ckpt, "diffusion_code_sha256", lambda: "0" * 64)
    assert run(tmp_path, "a", config).resumed_from is None
    assert ckpt.read_resume_info(last).fingerprint[ckpt.KEY_CODE_SHA256] == "0" * 64


def test_diffusion_code_hash_changes_with_any_module(tmp_path):
    import shutil
    from pathlib import Path

    package = Path(ckpt.__file__).parent
    assert {"unet.py", "gaussian.py", "module.py", "training.py"} <= {p.name for p in package.glob("*.py")}
    assert ckpt.diffusion_code_sha256() == ckpt.modules_sha256(package)
    copy = tmp_path / "diffusion"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    base = ckpt.modules_sha256(copy)
    assert base == ckpt.modules_sha256(package)
    seen = {base}
    for path in sorted(copy.glob("*.py")):
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        seen.add(ckpt.modules_sha256(copy))
        path.write_bytes(original)
    assert len(seen) == 1 + len(list(copy.glob("*.py")))  # every module's edit is seen, each differently
    assert ckpt.modules_sha256(copy) == base
    (copy / "notes.txt").write_text("not code\n")
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "unet.cpython-311.pyc").write_bytes(b"\0")
    assert ckpt.modules_sha256(copy) == base  # only the package's own *.py files count
    (copy / "new_module.py").write_text("x = 1\n")
    assert ckpt.modules_sha256(copy) != base
    (copy / "new_module.py").rename(copy / "other_module.py")
    assert ckpt.modules_sha256(copy) not in (base, *seen)  # a file's name counts, not only its bytes


def test_model_checkpoint_rebuilds_the_model_from_the_file_alone(tmp_path):
    config = tiny_config(steps=4, diffusion=DiffusionConfig(timesteps=100, schedule="linear", prediction="v"))
    result = run(tmp_path, "c", config, images=toy_images(channels=3))
    path = tmp_path / "model.ckpt"
    ckpt.save_checkpoint(path, result.checkpoint())
    raw = torch.load(path, weights_only=True)
    assert raw[ckpt.KEY_STEP] == 4 and raw[ckpt.KEY_IMAGE_SHAPE] == [16, 16, 3]
    assert raw[ckpt.KEY_VERSION] and raw[ckpt.KEY_SELECTION_SHA256] == "abc"
    assert raw[ckpt.KEY_CODE_SHA256] == ckpt.diffusion_code_sha256()
    loaded = ckpt.load_checkpoint(path)
    assert loaded.diffusion.prediction.value == "v" and loaded.diffusion.schedule.value == "linear"
    assert loaded.image_shape == (16, 16, 3)
    for key, value in result.module.ema_model.state_dict().items():
        assert torch.equal(loaded.unet.state_dict()[key], value)
    assert not torch.equal(loaded.unet.conv_out.weight, result.module.model.conv_out.weight), "EMA, not raw weights"
    with pytest.raises(ValueError, match="not a gencurate-ddpm checkpoint"):
        torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
        ckpt.load_checkpoint(tmp_path / "other.ckpt")


def write_tiny_project(root, params, *, steps=6):
    """images.npy, a selection file and `params` (the `tiny_params_dict` fixture) as params.yaml, in `root`."""
    from gencurate.io import write_ids, write_npy

    write_npy(root / params["paths"]["prepared"] / "images.npy", toy_images(n=12))
    write_ids(root / params["paths"]["selections"] / "random.txt", [1, 3, 5, 7, 9, 11])
    params["train"].update(steps=steps, warmup_steps=2, sample_every_n_steps=3)
    params["prepare"]["image_size"] = 16  # the toy images' side: attention at 8 is its second level
    params["train"]["unet"]["attention_resolutions"] = [8]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def test_train_stage_end_to_end(tmp_path, monkeypatch, tiny_params_dict):
    from gencurate.cli import main
    from gencurate.config import load_params

    write_tiny_project(tmp_path, tiny_params_dict)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--params", "params.yaml", "--method", "random", "--seed", "0"]) == 0
    paths = load_params("params.yaml").paths
    raw = torch.load(paths.checkpoint("random", 0), weights_only=True)
    assert raw[ckpt.KEY_STEP] == 6 and raw[ckpt.KEY_IMAGE_SHAPE] == [16, 16, 1]
    assert raw[ckpt.KEY_SELECTION_SHA256] == file_sha256(paths.selection("random"))
    assert sorted(p.name for p in paths.model_dir("random", 0).iterdir()) == ["last.ckpt", "model.ckpt"]
    logs = paths.train_log_dir("random", 0)
    assert (logs / "plots" / "metrics" / "train" / "loss.tsv").is_file()
    assert (logs / "plots" / "metrics" / "train" / "lr.tsv").is_file()
    grids = sorted(p.name for p in (logs / "plots" / "images" / "samples").iterdir())
    assert grids == ["step0000003.png", "step0000006.png"]
    assert not (tmp_path / "dvc.yaml").exists(), "dvclive must not write a dvc.yaml"


def test_train_stage_reports_a_missing_selection_in_one_line(tmp_path, monkeypatch, capsys, tiny_params_dict):
    from gencurate.cli import main

    write_tiny_project(tmp_path, tiny_params_dict)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "selections" / "random.txt").unlink()
    assert main(["train", "--method", "random", "--seed", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "random.txt: not found; run `gencurate select` first" in err and "\n" not in err


@pytest.mark.multiprocess
def test_ddp_spawn_on_two_cpu_processes_produces_a_checkpoint(tmp_path):
    """The same code path under Lightning DDP (gloo, 2 CPU processes)."""
    config = tiny_config(steps=4, batch_size=2, strategy="ddp_spawn", devices=2, accelerator="cpu",
                         concurrent_seeds=1)
    result = run(tmp_path, "ddp", config)
    assert result.is_global_zero
    assert last_checkpoint_path(tmp_path / "ddp" / "model").exists()
    state = result.checkpoint()
    assert state[ckpt.KEY_STEP] == 4
    ckpt.save_checkpoint(tmp_path / "model.ckpt", state)
    assert ckpt.load_checkpoint(tmp_path / "model.ckpt").image_shape == (16, 16, 1)


def test_a_quiet_run_prints_a_step_bar_and_no_lightning_banners(tmp_path, capfd, caplog):
    import logging
    import warnings

    from gencurate.runtime import quiet_lightning

    caplog.set_level(logging.INFO)  # pytest's handler on the root logger sees whatever Lightning lets through
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_lightning()
        train_diffusion(images=toy_images(), config=tiny_config(steps=3), seed=0, selection_sha256="abc", curve=None,
                        model_dir=tmp_path / "model", log_dir=tmp_path / "logs", progress=True)
    out, err = capfd.readouterr()
    printed = out + err + caplog.text
    assert "train steps" in printed
    for banner in ("GPU available", "TPU available", "litlogger", "Epoch 0/-2", "max_steps=3"):
        assert banner not in printed, banner
    assert not [w for w in caught if "LeafSpec" in str(w.message)]
# --- validation curves ----------------------------------------------------------------------------

PROJECTION = np.random.default_rng(7).standard_normal((16 * 16, 12)).astype(np.float32)


def project_pixels(images: np.ndarray) -> np.ndarray:
    """A cheap fixed 'encoder' for curve plumbing tests: uint8 [N x 16 x 16 x 1] -> [N x 12]."""
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0) @ PROJECTION


def tiny_curve(every_n_steps=4, **overrides):
    from gencurate.diffusion.curves import ValidationCurve

    validation = project_pixels(np.roll(toy_images(n=8), 1, axis=2))  # shifted squares: not the training images
    values = {"every_n_steps": every_n_steps, "num_samples": 10, "sampler": "ddim", "sampler_steps": 3, "eta": 0.0,
              "batch_size": 4, "seed": 0, "embed": project_pixels, "validation": validation, "prc_k": 3,
              "knn_block_size": 2048, "bootstrap_rounds": 4, "encoder": "pixels"}
    return ValidationCurve(**(values | overrides))


def curve_rows(tmp_path, name, key="fd"):
    lines = (tmp_path / name / "logs" / "plots" / "metrics" / "eval" / f"{key}.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, map(float, line.split("\t")))) for line in lines[1:]]


def test_curve_logs_its_steps_and_its_last_fd_is_the_evaluate_fd_of_the_final_model(tmp_path):
    from gencurate.diffusion.curves import curve_steps
    from gencurate.diffusion.sampling import sample_from_checkpoint
    from gencurate.metrics.fd import fd_features_to_metric
    from gencurate.metrics.prc import prc_features_to_metric

    assert curve_steps(every_n_steps=4, total_steps=10) == [4, 8, 10]
    assert curve_steps(every_n_steps=5, total_steps=10) == [5, 10]
    curve = tiny_curve()
    result = run(tmp_path, "curve", tiny_config(steps=10), curve=curve)
    fd = curve_rows(tmp_path, "curve")
    assert [int(r["step"]) for r in fd] == [4, 8, 10]
    assert [int(r["step"]) for r in curve_rows(tmp_path, "curve", "precision")] == [4, 8, 10]
    assert [int(r["step"]) for r in curve_rows(tmp_path, "curve", "fd_bootstrap_std")] == [10]
    assert curve_rows(tmp_path, "curve", "fd_bootstrap_std")[0]["fd_bootstrap_std"] > 0
    # the final model, sampled the way the sample stage does, gives exactly the curve's last samples ...
    ckpt.save_checkpoint(tmp_path / "model.ckpt", result.checkpoint())
    samples = sample_from_checkpoint(tmp_path / "model.ckpt", num_samples=10, sampler="ddim", steps=3, eta=0.0,
                                     batch_size=5, seed=0, device="cpu", progress=False)
    np.testing.assert_array_equal(samples, curve.last_samples)
    # ... and the evaluate stage's metric function on the same features gives the curve's last values
    fake = project_pixels(samples)
    final = fd_features_to_metric(fake, curve.validation) | prc_features_to_metric(fake, curve.validation, k=3, batch_size=2048)
    assert fd[-1]["fd"] == final["fd"]
    assert curve_rows(tmp_path, "curve", "precision")[-1]["precision"] == final["precision"]
    assert curve_rows(tmp_path, "curve", "recall")[-1]["recall"] == final["recall"]


def test_kill_and_resume_gives_the_curves_of_an_uninterrupted_run(tmp_path):
    config = tiny_config(steps=12, checkpoint_every_n_steps=4)
    run(tmp_path, "straight", config, curve=tiny_curve())
    with pytest.raises(Kill):
        run(tmp_path, "resumed", config, curve=tiny_curve(), callbacks=[KillAt(10)])  # last.ckpt at step 8
    assert [int(r["step"]) for r in curve_rows(tmp_path, "resumed")] == [4, 8]
    resumed = run(tmp_path, "resumed", config, curve=tiny_curve())
    assert resumed.resumed_from is not None
    for key in ("fd", "precision", "recall", "fd_bootstrap_std"):
        assert curve_rows(tmp_path, "resumed", key) == curve_rows(tmp_path, "straight", key), key
    assert [int(r["step"]) for r in curve_rows(tmp_path, "resumed")] == [4, 8, 12]


def test_changed_curve_settings_start_fresh(tmp_path):
    config = tiny_config(steps=4)
    run(tmp_path, "a", config, curve=tiny_curve())
    assert run(tmp_path, "a", config, curve=tiny_curve()).resumed_from is not None
    assert run(tmp_path, "a", config, curve=tiny_curve(num_samples=12)).resumed_from is None


def write_curve_inputs(root, params, encoder):
    """manifest (train rows odd, validation rows even), the evaluation embedding and its meta, as prepare and embed
    would leave them, for `write_tiny_project`'s 12 images."""
    import pandas as pd

    from gencurate.config import load_params
    from gencurate.encoders import embed_images
    from gencurate.io import read_npy, write_json, write_npy

    paths = load_params(root / "params.yaml").paths
    images = read_npy(root / paths.images)
    pd.DataFrame({"id": np.arange(12), "split": ["validation", "train"] * 6}).to_parquet(root / paths.manifest)
    write_npy(root / paths.embedding("evaluation"),
              embed_images(encoder, images, batch_size=128, num_workers=0, progress=False, normalise=False))
    write_json(root / paths.embedding_meta("evaluation"), {
        "name": encoder.name, "weights": encoder.weights, "input_size": encoder.input_size, "dim": encoder.dim,
        "n": 12, "images_sha256": file_sha256(root / paths.images), "normalised": False})


def test_train_stage_honours_steps_by_method_and_logs_curves_with_the_evaluation_encoder(tmp_path, monkeypatch,
                                                                                       tiny_params_dict):
    from gencurate.cli import main
    from gencurate.config import load_params
    from gencurate.encoders import load_encoder

    params = write_tiny_project(tmp_path, tiny_params_dict, steps=4)
    params["train"].update(steps_by_method={"random": 6}, eval_every_n_steps=3, eval_num_samples=8,
                           eval_bootstrap_rounds=3)
    params["encoders"]["evaluation"] = {"name": "efficientnet-lite0", "weights": None, "input_size": 32}
    params["evaluate"]["embed_batch_size"] = 16
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_curve_inputs(tmp_path, params, load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--method", "random", "--seed", "0"]) == 0
    paths = load_params("params.yaml").paths
    raw = torch.load(paths.checkpoint("random", 0), weights_only=True)
    assert raw[ckpt.KEY_STEP] == 6 and raw[ckpt.KEY_TRAIN]["steps"] == 6
    assert json.loads(paths.train_summary("random", 0).read_text()) == {"steps": 6}
    fd = (paths.train_log_dir("random", 0) / "plots" / "metrics" / "eval" / "fd.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in fd] == ["step", "3", "6"]
    assert all(float(line.split("\t")[1]) > 0 for line in fd[1:])
