"""The sample stage and `sample_from_checkpoint`: shape, dtype, seeding, batch-size invariance, the grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from gencurate.config import DiffusionConfig, TrainConfig, UNetConfig
from gencurate.diffusion.checkpoint import model_checkpoint, save_checkpoint, training_fingerprint
from gencurate.diffusion.grid import images_to_grid
from gencurate.diffusion.module import DiffusionModule
from gencurate.diffusion.sampling import sample_from_checkpoint


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def write_untrained_checkpoint(path, *, image_shape=(12, 12, 1), seed=0):
    """A model.ckpt of a randomly initialised (non-zero output) model, without training."""
    config = TrainConfig(
        unet=UNetConfig(base_channels=8, channel_mults=(1, 2), attention_resolutions=(6,)),
        diffusion=DiffusionConfig(timesteps=40),
    )
    torch.manual_seed(seed)
    module = DiffusionModule(config=config, image_shape=image_shape, seed=seed)
    for p in module.model.parameters():  # undo zero inits so samples depend on the weights
        torch.nn.init.normal_(p, std=0.05)
    fingerprint = training_fingerprint(config=config, image_shape=image_shape, seed=seed, selection_sha256="0" * 64)
    save_checkpoint(path, model_checkpoint(ema_state_dict=module.model.state_dict(), config=config, fingerprint=fingerprint, step=0))


def test_sample_from_checkpoint_shape_dtype_seed_and_batch_size(tmp_path):
    path = tmp_path / "model.ckpt"
    write_untrained_checkpoint(path, image_shape=(12, 12, 3))
    kwargs = dict(num_samples=9, steps=6, eta=0.0, seed=5, device="cpu", progress=False)
    a = sample_from_checkpoint(path, batch_size=9, sampler="ddim", **kwargs)
    assert a.shape == (9, 12, 12, 3) and a.dtype == np.uint8
    assert a.std() > 5 and len(np.unique(a.reshape(9, -1), axis=0)) == 9  # not constant, all different
    b = sample_from_checkpoint(path, batch_size=2, sampler="ddim", **kwargs)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1 and (a == b).mean() > 0.99
    c = sample_from_checkpoint(path, batch_size=9, sampler="ddim", **{**kwargs, "seed": 6})
    assert (a != c).mean() > 0.5
    d = sample_from_checkpoint(path, batch_size=4, sampler="ddpm", **kwargs)
    assert d.shape == a.shape and (a != d).mean() > 0.5


def test_grid_is_an_upscaled_square_mosaic():
    images = np.zeros((70, 28, 28, 1), dtype=np.uint8)
    images[:, 5:10, 5:10] = 255
    grid = images_to_grid(images)
    assert grid.mode == "L"
    assert grid.size[0] == grid.size[1] >= 8 * 28 * 2  # 8 x 8 cells, each upscaled (nearest neighbour)
    rgb = images_to_grid(np.zeros((4, 32, 32, 3), dtype=np.uint8))
    assert rgb.mode == "RGB"
    with pytest.raises(ValueError, match="uint8"):
        images_to_grid(images.astype(np.float32))


def test_sample_stage_end_to_end(tmp_path, monkeypatch, repo_root):
    from gencurate.cli import main
    from gencurate.config import load_params

    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["study"] = {"methods": ["random", "coreset"], "seeds": [0]}
    params["train"]["steps_by_method"] = {}  # budgets may name only study methods
    params["sample"].update(num_samples=8, steps=3, batch_size=3, accelerator="cpu")
    params["evaluate"].update(num_samples=8, kid_subset_size=8)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    paths = load_params("params.yaml").paths
    write_untrained_checkpoint(paths.checkpoint("random", 0))
    assert main(["sample", "--method", "random", "--seed", "0"]) == 0
    samples = np.load(paths.samples_file("random", 0))
    assert samples.shape == (8, 12, 12, 1) and samples.dtype == np.uint8
    assert sorted(p.name for p in paths.samples_dir("random", 0).iterdir()) == ["grid.png", "samples.npy"]
    with Image.open(paths.grid_file("random", 0)) as grid:
        assert grid.format == "PNG" and grid.size[0] > 5 * 12
    assert main(["sample", "--method", "random", "--seed", "0"]) == 0  # rerun: same seed, same samples
    assert np.array_equal(np.load(paths.samples_file("random", 0)), samples)
    # a model that was never trained: one line naming the missing file
    assert main(["sample", "--method", "coreset", "--seed", "0"]) == 2


@pytest.mark.multiprocess
def test_concurrent_seeds_sample_what_each_seed_samples_alone(tmp_path, monkeypatch, repo_root):
    """`sample.concurrent_seeds: 2`: both seeds of a method in worker processes (one thread each)
    give the samples this one-thread process gives for each seed."""
    from gencurate.cli import main
    from gencurate.config import load_params

    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["study"] = {"methods": ["random"], "seeds": [0, 1]}
    params["train"]["steps_by_method"] = {}
    params["sample"].update(num_samples=6, steps=3, batch_size=3, accelerator="cpu", concurrent_seeds=2)
    params["evaluate"].update(num_samples=6, kid_subset_size=6)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    paths = load_params("params.yaml").paths
    for seed in (0, 1):
        write_untrained_checkpoint(paths.checkpoint("random", seed), seed=seed)
    assert main(["sample", "--method", "random"]) == 0
    for seed in (0, 1):
        alone = sample_from_checkpoint(paths.checkpoint("random", seed), num_samples=6, sampler="ddim", steps=3, eta=0.0,
                                       batch_size=3, seed=seed, device="cpu", progress=False)  # sample.seed 0 + seed
        assert np.array_equal(np.load(paths.samples_file("random", seed)), alone)
