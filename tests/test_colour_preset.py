"""The README's preset for a 32 px RGB folder: valid params whose UNet really has attention at 8 px,
and that train and sample on a generated colour set."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gencurate.config import params_from_mapping, to_mapping
from gencurate.diffusion.unet import build_unet
from gencurate.diffusion.sampling import generate_images
from gencurate.diffusion.training import train_diffusion

pytestmark = pytest.mark.usefixtures("torch_one_thread")
MARKER = "<!-- colour-preset"


@pytest.fixture(scope="module")
def preset(repo_root):
    spec = importlib.util.spec_from_file_location("paper_scale", repo_root / "benchmarks" / "paper_scale.py")
    paper_scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paper_scale)
    overrides = paper_scale.readme_preset((repo_root / "README.md").read_text(), marker=MARKER)
    base = yaml.safe_load((repo_root / "params.yaml").read_text())
    return params_from_mapping(paper_scale.apply_overrides(base, overrides))


def colour_squares(n: int, size: int) -> np.ndarray:
    """uint8 (n, size, size, 3): a saturated square of a random hue on a light background."""
    rng = np.random.default_rng(0)
    images = np.full((n, size, size, 3), 230, np.uint8)
    for image in images:
        x, y = rng.integers(0, size // 2, 2)
        image[y:y + size // 2, x:x + size // 2] = rng.permutation([220, 40, int(rng.integers(0, 256))])
    return images


def test_preset_is_32px_rgb_with_attention_at_a_level_the_unet_reaches(preset):
    assert (preset.prepare.image_size, preset.prepare.channels) == (32, 3)
    assert preset.train.steps_for("full") == 3.5 * preset.train.steps_for("random")
    unet = build_unet(to_mapping(preset.train.unet), (32, 32, 3))
    attention = [name for name, _ in unet.named_modules() if name.endswith(".attn") and "mid" not in name]
    assert attention, "the preset's attention_resolutions reach no UNet level at 32 px"


def test_preset_trains_and_samples_colour_images(preset, tmp_path):
    import dataclasses

    config = dataclasses.replace(preset.train.for_method("random"), steps=3, accelerator="cpu", eval_every_n_steps=0,
                                 log_every_n_steps=1, checkpoint_every_n_steps=3)
    result = train_diffusion(images=colour_squares(32, 32), config=config, seed=0, selection_sha256="test",
                             model_dir=tmp_path / "model", log_dir=tmp_path / "log", curve=None, progress=False)
    samples = generate_images(result.module.ema_model.eval(), result.module.diffusion, image_shape=(32, 32, 3),
                              num_samples=4, sampler="ddim", steps=3, eta=0.0, batch_size=4, seed=0, progress=False)
    assert samples.shape == (4, 32, 32, 3) and samples.dtype == np.uint8
    assert not torch.equal(torch.from_numpy(samples[..., 0]), torch.from_numpy(samples[..., 1]))  # not grey
