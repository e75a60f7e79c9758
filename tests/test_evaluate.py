"""The evaluate stage end to end in a temporary project (real EfficientNet-Lite0 at 32 px), and its input checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gencurate.cli import main as cli
from gencurate.config import load_params
from gencurate.io import file_sha256, write_ids, write_json, write_npy
from gencurate.metrics import keys as K
from gencurate.stages.inputs import check_evaluation_samples, reference_rows

N_TRAIN, N_REFERENCE, N_SAMPLES = 70, 30, 24
METRIC_KEYS = {
    K.KEY_FD, K.KEY_KID_X1E3, K.KEY_KID_X1E3_STD, K.KEY_PRECISION, K.KEY_RECALL, K.KEY_DENSITY, K.KEY_COVERAGE,
    K.KEY_MEMORISATION, K.KEY_MEMORISATION_THRESHOLD, K.KEY_N_SAMPLES, K.KEY_N_REFERENCE, K.KEY_N_TRAIN,
    K.KEY_ENCODER, K.KEY_ENCODER_INPUT_SIZE,
    K.KEY_FD_INFINITY, *(K.PIXEL_PREFIX + k for k in (*K.PIXEL_METRICS, K.KEY_KID_X1E3_STD)),
    K.KEY_MEMORISATION_CONTROL, K.KEY_MEMORISATION_EXCESS, K.KEY_COPY_SSIM, K.KEY_COPY_PSNR,
}


def blob_images(n: int, seed: int) -> np.ndarray:
    """uint8 (n, 16, 16, 1): smooth blobs at random places and widths."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    imgs = [np.exp(-((xx - rng.uniform(3, 13)) ** 2 + (yy - rng.uniform(3, 13)) ** 2) / rng.uniform(5, 25)) for _ in range(n)]
    return np.clip(np.stack(imgs)[..., None] * 255 + rng.normal(0, 6, (n, 16, 16, 1)), 0, 255).astype(np.uint8)


def write_grid(path: Path, samples: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(list(samples[:4, ..., 0]), axis=1)).save(path)


@pytest.fixture(scope="module")
def encoder():
    from gencurate.encoders import load_encoder

    return load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None)


@pytest.fixture(scope="module")
def template(tmp_path_factory, encoder, tiny_params_factory) -> Path:
    """A tiny study on disk, as prepare/embed/select/sample would leave it: methods random and coreset, seed 0.

    random's samples are exact copies of its training images (memorised); coreset's are noise.
    """
    from gencurate.encoders import embed_images

    root = tmp_path_factory.mktemp("evaluate-project")
    params = tiny_params_factory()
    params["study"] = {"methods": ["random", "coreset"], "seeds": [0]}
    params["embed"]["batch_size"] = 32
    params["encoders"]["evaluation"] = {"name": "efficientnet-lite0", "weights": None, "input_size": 32}
    params["sample"]["num_samples"] = 30
    params["evaluate"].update(num_samples=N_SAMPLES, kid_subsets=4, kid_subset_size=12, knn_block_size=16,
                              embed_batch_size=32)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    paths = load_params(root / "params.yaml").paths
    paths = type(paths)(**{k: str(root / v) for k, v in vars(paths).items()})

    images = blob_images(N_TRAIN + N_REFERENCE, 0)
    write_npy(paths.images, images)
    pd.DataFrame({"id": np.arange(len(images)), "split": ["train"] * N_TRAIN + ["reference"] * N_REFERENCE}).to_parquet(paths.manifest)
    write_npy(paths.embedding("evaluation"),
              embed_images(encoder, images, batch_size=128, num_workers=0, progress=False, normalise=False))
    write_json(paths.embedding_meta("evaluation"), {"name": encoder.name, "weights": encoder.weights,
                                                     "input_size": encoder.input_size, "dim": encoder.dim,
                                                     "n": len(images), "images_sha256": file_sha256(paths.images),
                                                     "normalised": False})
    selections = {"random": np.arange(0, 60, 2), "coreset": np.arange(1, 61, 2)}
    noise = np.random.default_rng(1).integers(0, 256, (30, 16, 16, 1), dtype=np.uint8)
    samples = {"random": images[selections["random"]], "coreset": noise}
    for method in ("random", "coreset"):
        write_ids(paths.selection(method), selections[method])
        write_npy(paths.samples_file(method, 0), samples[method])
        write_grid(paths.grid_file(method, 0), samples[method])
    return root


@pytest.fixture()
def project(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the template project as the working directory."""
    shutil.copytree(template, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_evaluate_writes_every_metric_tells_copies_from_noise_and_repeats_itself(project):
    assert cli(["evaluate"]) == 0
    paths = load_params().paths
    copies = json.loads(paths.metrics_file("random", 0).read_text())
    noise = json.loads(paths.metrics_file("coreset", 0).read_text())
    for result in (copies, noise):
        assert set(result) == METRIC_KEYS
        assert result[K.KEY_N_SAMPLES] == result[K.KEY_N_REFERENCE] == N_SAMPLES and result[K.KEY_N_TRAIN] == 30
        assert result[K.KEY_ENCODER] == "efficientnet-lite0" and result[K.KEY_ENCODER_INPUT_SIZE] == 32
        assert all(0.0 <= result[k] <= 1.0 for k in (K.KEY_PRECISION, K.KEY_RECALL, K.KEY_COVERAGE, K.KEY_MEMORISATION))
    assert copies[K.KEY_MEMORISATION] == 1.0 and noise[K.KEY_MEMORISATION] == 0.0
    # One threshold for every method; exact copies are pixel-identical to their nearest training image.
    assert copies[K.KEY_MEMORISATION_THRESHOLD] == noise[K.KEY_MEMORISATION_THRESHOLD]
    assert copies[K.KEY_COPY_SSIM] == pytest.approx(1.0) and noise[K.KEY_COPY_SSIM] < 0.5
    assert copies[K.KEY_COPY_PSNR] > noise[K.KEY_COPY_PSNR] + 20
    replicates = json.loads(paths.bootstrap_file("random", 0).read_text())["replicates"]
    assert len(replicates[K.KEY_FD]) == 200 and set(replicates) >= {K.KEY_FD, K.KEY_KID_MEAN, K.KEY_PRECISION,
                                                                     K.KEY_MEMORISATION_EXCESS}
    with np.load(paths.pairs_file("random", 0)) as pairs:
        assert pairs["samples"].shape == (16, 16, 16, 1) and np.array_equal(pairs["samples"], pairs["train"])
    assert copies[K.KEY_FD] < noise[K.KEY_FD]
    assert copies[K.PIXEL_PREFIX + K.KEY_FD] < noise[K.PIXEL_PREFIX + K.KEY_FD]  # the encoder-free control agrees
    assert copies[K.KEY_PRECISION] > noise[K.KEY_PRECISION]

    # One matrix item, as dvc.yaml runs it: the same file again, and no other item touched.
    first = paths.metrics_file("random", 0).read_text()
    first_replicates = paths.bootstrap_file("random", 0).read_text()
    paths.metrics_file("coreset", 0).unlink()
    assert cli(["evaluate", "--method", "random", "--seed", "0"]) == 0
    assert paths.metrics_file("random", 0).read_text() == first
    assert paths.bootstrap_file("random", 0).read_text() == first_replicates
    assert not paths.metrics_file("coreset", 0).exists()


def edit_params(update) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    update(params)
    Path("params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda p: write_json(p.embedding_meta("evaluation"), {**json.loads(p.embedding_meta("evaluation").read_text()),
                                                                "input_size": 64}),
         "evaluation embedding has input_size=64"),
        (lambda p: write_json(p.embedding_meta("evaluation"), {**json.loads(p.embedding_meta("evaluation").read_text()),
                                                                "normalised": True}),
         "evaluation embedding has normalised=True"),
        (lambda p: edit_params(lambda d: d["evaluate"].update(num_samples=28, kid_subset_size=12)) or
         pd.DataFrame({"id": np.arange(100), "split": ["train"] * 80 + ["reference"] * 20}).to_parquet(p.manifest),
         "20 reference images but evaluate.num_samples is 28"),
        (lambda p: write_ids(p.selection("random"), [0, 2, 95]), "selected images are evaluation reference images"),
        (lambda p: write_npy(p.images, blob_images(N_TRAIN + N_REFERENCE, 9)), "made from other prepared images"),
        (lambda p: edit_params(lambda d: d["evaluate"].update(inception_weights="missing/weights.pth")),
         "evaluate.inception_weights: missing/weights.pth is not a file"),
        (lambda p: write_npy(p.samples_file("random", 0), blob_images(30, 3)[:, :8]), "samples are (8, 16, 1)"),
    ],
)
def test_bad_inputs_give_one_clear_line(project, capsys, break_it, message):
    break_it(load_params().paths)
    assert cli(["evaluate"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not load_params().paths.metrics_file("coreset", 0).exists()


def test_reference_rows_are_a_seeded_choice_of_reference_images():
    splits = np.array(["train", "reference"] * 50)
    a, b = reference_rows(splits, n=20, seed=0), reference_rows(splits, n=20, seed=1)
    assert len(set(a)) == 20 and (splits[a] == "reference").all() and np.all(np.diff(a) > 0)
    assert np.array_equal(a, reference_rows(splits, n=20, seed=0)) and not np.array_equal(a, b)


def test_evaluation_samples_are_the_first_n_prepared_shaped_uint8_images():
    samples = np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3)
    assert np.array_equal(check_evaluation_samples(samples, n=3, image_shape=(4, 4, 3), where="s"), samples[:3])
    with pytest.raises(ValueError, match=r"s: samples are \(4, 4, 3\) but the prepared images are \(8, 8, 3\)"):
        check_evaluation_samples(samples, n=3, image_shape=(8, 8, 3), where="s")
    with pytest.raises(ValueError, match="5 samples but evaluate.num_samples is 6"):
        check_evaluation_samples(samples, n=6, image_shape=(4, 4, 3), where="s")
    with pytest.raises(ValueError, match="s: expected uint8 images"):
        check_evaluation_samples(samples.astype(np.float32), n=3, image_shape=(4, 4, 3), where="s")


def test_metrics_see_raw_features_and_the_pixel_control_sees_pixels(project, monkeypatch):
    """Raw pooled features reach the metrics (not unit rows); the pixel control gets whitened pixel components."""
    from gencurate.stages import evaluate as stage

    seen = []
    original = stage.features_to_metrics
    monkeypatch.setattr(stage, "features_to_metrics", lambda *a, **k: seen.append(a) or original(*a, **k))
    assert cli(["evaluate", "--method", "random", "--seed", "0"]) == 0
    (fake, real), (fake_px, real_px) = seen
    for x in (fake, real):
        norms = np.linalg.norm(x, axis=1)
        assert x.shape[1] == 1280 and np.abs(norms - 1.0).min() > 0.1
    assert fake_px.shape == real_px.shape == (N_SAMPLES, 64)


def test_evaluate_then_independence_then_compare_report_copies_and_a_verdict(project):
    from gencurate.io import read_npy

    assert cli(["evaluate"]) == 0
    paths = load_params().paths
    x = read_npy(paths.embedding("evaluation"))
    write_npy(paths.embedding("selection"), x / np.linalg.norm(x, axis=1, keepdims=True))
    write_json(paths.embedding_meta("selection"), {"name": "efficientnet-lite0"})
    assert cli(["independence"]) == 0
    assert cli(["compare"]) == 0
    report = (Path(paths.comparison) / "comparison.md").read_text()
    summary = json.loads((Path(paths.comparison) / "summary.json").read_text())
    # random's samples are its training images: excess over the held-out control near 1; coreset's noise: none.
    assert summary["random"][K.KEY_MEMORISATION_EXCESS]["mean"] > 0.5
    assert summary["coreset"][K.KEY_MEMORISATION]["mean"] == 0.0
    assert summary["ranking"]["claims"] == {"random < coreset": "held"}
    assert "random < coreset held" in report and "![closest sample/training pairs of random](copies-random.png)" in report
    # The same features, once normalised: identical neighbourhoods up to ties, typicality ranks close.
    assert "| selection (efficientnet-lite0) | evaluation (efficientnet-lite0) |" in report
    independence = json.loads(paths.independence_file.read_text())
    same = independence["pairs"][0]
    assert same["space_a"].startswith("selection") and same["knn_overlap_mean"] > 0.5

