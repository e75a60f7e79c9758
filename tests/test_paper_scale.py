"""The README's study preset: valid params, the study's encoders and scale, and a paper-scale UNet that trains on CPU."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch

from gencurate.config import to_mapping
from gencurate.diffusion.unet import build_unet

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def paper_scale(repo_root):
    """benchmarks/paper_scale.py (which reads the preset out of README.md)."""
    spec = importlib.util.spec_from_file_location("paper_scale", repo_root / "benchmarks" / "paper_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def preset(paper_scale):
    return paper_scale.preset_params()


def test_readme_preset_parses_like_dvc_exp_run_set(paper_scale):
    readme = """intro
<!-- study-preset -->
```bash
dvc exp run -S a.b=3 -S 'a.c=[1,2]' \\
  -S d=null -S e.f=x=y
```
"""
    assert paper_scale.readme_preset(readme) == {"a.b": 3, "a.c": [1, 2], "d": None, "e.f": "x=y"}
    params = {"a": {"b": 1, "c": [], "keep": True}, "d": 5, "e": {"f": ""}}
    assert paper_scale.apply_overrides(params, paper_scale.readme_preset(readme)) == {
        "a": {"b": 3, "c": [1, 2], "keep": True}, "d": None, "e": {"f": "x=y"}}


def test_preset_is_the_study(preset):
    # The study: CLIP ViT-B/32 selects, DINOv2 ViT-L/14 evaluates, both at 224 and from their standard sources.
    assert (preset.encoders.selection.name, preset.encoders.selection.input_size) == ("clip-vit-b-32", 224)
    assert (preset.encoders.evaluation.name, preset.encoders.evaluation.input_size) == ("dinov2-vit-l-14", 224)
    assert preset.encoders.selection.weights is None and preset.encoders.evaluation.weights is None
    assert (preset.prepare.image_size, preset.prepare.channels) == (128, 3)
    assert (preset.train.batch_size, preset.train.steps) == (32, 20000)
    assert preset.sample.num_samples == preset.evaluate.num_samples == 10000
    assert preset.train.precision == "auto" and preset.train.accelerator == "auto"  # bf16-mixed on a GPU


def test_preset_unet_is_the_size_of_the_study_model_class(preset):
    ddp = pytest.importorskip("denoising_diffusion_pytorch")
    with torch.device("meta"):
        ours = sum(p.numel() for p in build_unet(to_mapping(preset.train.unet), (128, 128, 3)).parameters())
        reference = sum(p.numel() for p in ddp.Unet(dim=64, dim_mults=(1, 2, 4, 8), channels=3).parameters())
    assert 35e6 < ours < 36e6
    assert abs(ours / reference - 1) < 0.01


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_paper_scale_unet_trains_saves_reloads_and_samples_on_cpu(preset, tmp_path, precision):
    """Two optimiser steps at 128x128x3 through the project's Lightning training, then DDIM from the saved file."""
    import lightning as L

    from gencurate.diffusion.checkpoint import KEY_STEP, load_checkpoint, save_checkpoint
    from gencurate.diffusion.sampling import generate_images
    from gencurate.diffusion.training import train_diffusion

    config = dataclasses.replace(
        preset.train, steps=2, batch_size=2, warmup_steps=1, accelerator="cpu", precision=precision,
        log_every_n_steps=1, sample_every_n_steps=1000, checkpoint_every_n_steps=1000, num_workers=0,
    )
    images = np.random.default_rng(0).integers(0, 256, (4, 128, 128, 3), dtype=np.uint8)
    seen_dtypes: set[torch.dtype] = set()

    class Probe(L.Callback):
        def on_train_start(self, trainer, module):
            self.hook = module.model.conv_in.register_forward_hook(lambda m, i, out: seen_dtypes.add(out.dtype))
            self.initial = module.model.conv_out.weight.detach().clone()

        def on_train_end(self, trainer, module):
            self.hook.remove()
            self.changed = not torch.equal(self.initial, module.model.conv_out.weight.detach())

    probe = Probe()
    trained = train_diffusion(images=images, config=config, seed=0, selection_sha256="0" * 64,
                              model_dir=tmp_path / "model", log_dir=tmp_path / "log", curve=None, callbacks=[probe],
                              progress=False)
    assert trained.module.global_step == 2 and probe.changed
    # The autocast path the GPU takes: bf16-mixed convolutions compute in bfloat16, fp32 stays fp32.
    assert seen_dtypes == ({torch.bfloat16} if precision == "bf16-mixed" else {torch.float32})
    assert all(p.dtype == torch.float32 for p in trained.module.model.parameters())

    path = tmp_path / "model.ckpt"
    save_checkpoint(path, trained.checkpoint())
    loaded = load_checkpoint(path)
    assert loaded.image_shape == (128, 128, 3) and loaded.meta[KEY_STEP] == 2
    for key, value in trained.module.ema_model.state_dict().items():
        torch.testing.assert_close(loaded.unet.state_dict()[key.removeprefix("module.")], value, rtol=0, atol=0)
    samples = generate_images(loaded.unet, loaded.diffusion, image_shape=loaded.image_shape, num_samples=2,
                              sampler="ddim", steps=2, eta=0.0, batch_size=2, seed=0, progress=False)
    assert samples.shape == (2, 128, 128, 3) and samples.dtype == np.uint8
    assert samples.std() > 0
