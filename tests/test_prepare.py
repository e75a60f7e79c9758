"""prepare end to end: bad inputs land in rejected.parquet, good ones in images.npy + manifest;
reruns are byte-identical; worker count does not change the result; splits do not leak."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.lib.format import open_memmap
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gencurate import cli
from gencurate.config import PrepareConfig
from gencurate.data import decoding, pool
from gencurate.data.cleaning import (
    DECOMPRESSION_BOMB,
    DUPLICATE,
    EMPTY,
    LEAK,
    NEAR_DUPLICATE,
    NOT_IMAGE,
    TOO_SMALL,
    TRUNCATED,
    UNREADABLE,
    pixels_to_digest,
    pixels_to_phash,
)
from gencurate.data.pipeline import prepare_dataset
from gencurate.data.schema import MANIFEST_COLUMNS
from gencurate.data.sources import PixelsPayload

SIZE = 16


def noise(seed: int, shape=(40, 40, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(path: Path, array: np.ndarray, fmt: str | None = None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, fmt, **kw)
    return path


def encoded(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt)
    return buf.getvalue()


def write_messy_folder(root: Path) -> tuple[set[str], dict[str, str]]:
    """A class-per-folder set with every kind of bad file. Returns (good sources, bad source -> reason)."""
    good = {}
    for k in range(6):
        good[f"shirts/{k}.png"] = save(root / f"shirts/{k}.png", noise(k))
        good[f"shoes/{k}.jpg"] = save(root / f"shoes/{k}.jpg", noise(100 + k), quality=95)
    save(root / "shoes/wide.webp", noise(7, (30, 60, 3)), lossless=True)
    save(root / "shoes/gray.bmp", noise(8, (40, 40)))
    save(root / "shirts/rgba.png", np.dstack([noise(9), np.full((40, 40), 128, np.uint8)]))
    good_names = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    bad = {}
    (root / "shirts/empty.png").write_bytes(b"")
    bad["shirts/empty.png"] = EMPTY
    (root / "shirts/fake.jpg").write_text("not really a jpeg")
    bad["shirts/fake.jpg"] = NOT_IMAGE
    (root / "shirts/notes.txt").write_text("labelling notes")
    bad["shirts/notes.txt"] = NOT_IMAGE
    jpeg = encoded(noise(10), "JPEG")
    (root / "shoes/cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    bad["shoes/cut.jpg"] = TRUNCATED
    png = bytearray(encoded(noise(11), "PNG"))
    png[200:240] = b"\0" * 40
    (root / "shoes/corrupt.png").write_bytes(bytes(png))
    bad["shoes/corrupt.png"] = UNREADABLE
    os.symlink(root / "missing.png", root / "shoes/dangling.png")
    bad["shoes/dangling.png"] = UNREADABLE
    save(root / "shoes/huge.png", noise(12, (80, 80, 3)))  # 6,400 pixels > max_image_pixels below
    bad["shoes/huge.png"] = DECOMPRESSION_BOMB
    padding = PngInfo()
    padding.add_text("comment", "x" * 30_000)  # 2,500 pixels, but more bytes than 8 x max_image_pixels
    save(root / "shoes/padded.png", noise(14, (50, 50, 3)), pnginfo=padding)
    bad["shoes/padded.png"] = DECOMPRESSION_BOMB
    save(root / "shoes/tiny.png", noise(13, (5, 9, 3)))
    bad["shoes/tiny.png"] = TOO_SMALL
    save(root / "shoes/zz-copy.bmp", noise(0))  # same pixels as shirts/0.png, other format
    bad["shoes/zz-copy.bmp"] = DUPLICATE
    save(root / "shoes/zz-brighter.png", np.minimum(noise(1), 253) + 2)  # near shirts/1.png
    bad["shoes/zz-brighter.png"] = NEAR_DUPLICATE
    return good_names, bad


def messy_config(root: Path, **overrides) -> PrepareConfig:
    values = dict(source=str(root), image_size=SIZE, channels=3, min_size=8, max_image_pixels=3000,
                  near_duplicate_distance=6, reference_fraction=0.25, use_source_split=True, seed=0, workers=1)
    return PrepareConfig(**(values | overrides))


def test_every_bad_input_is_rejected_with_its_reason(tmp_path):
    root = tmp_path / "images"
    good, bad = write_messy_folder(root)
    result = prepare_dataset(messy_config(root), images_path=tmp_path / "out/images.npy", demo_path="unused")
    manifest, rejected = result.manifest, result.rejected
    assert set(manifest["source"]) == good
    assert dict(zip(rejected["source"], rejected["reason"])) == bad
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert manifest["id"].tolist() == list(range(len(good)))
    assert list(manifest["source"]) == sorted(manifest["source"])
    images = np.load(tmp_path / "out/images.npy", mmap_mode="r")
    assert images.shape == (len(good), SIZE, SIZE, 3) and images.dtype == np.uint8
    row = manifest.set_index("source").loc["shoes/wide.webp"]
    assert (row["width"], row["height"], row["mode"]) == (60, 30, "RGB")
    assert manifest.set_index("source").loc["shoes/gray.bmp", "mode"] == "L"
    assert set(manifest["label_name"]) == {"shirts", "shoes"}
    assert (manifest["label"] == (manifest["label_name"] == "shoes").astype(int)).all()
    # each row holds its own file's pixels
    i = int(manifest.index[manifest["source"] == "shirts/3.png"][0])
    expected = np.asarray(Image.fromarray(noise(3)).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(images[i], expected)
    assert rejected.set_index("source").loc["shoes/zz-copy.bmp", "detail"] == "same pixels as shirts/0.png"


def test_rows_hold_the_right_hashes(tmp_path):
    root = tmp_path / "images"
    write_messy_folder(root)
    result = prepare_dataset(messy_config(root, near_duplicate_distance=-1), images_path=tmp_path / "i.npy",
                             demo_path="unused")
    manifest = result.manifest
    assert "shoes/zz-brighter.png" in set(manifest["source"])  # near-duplicates disabled
    for source, sha in zip(manifest["source"], manifest["sha256"]):
        assert hashlib.sha256((root / source).read_bytes()).hexdigest() == sha


def _run_stage(root: Path, workdir: Path, **prepare) -> dict[str, bytes]:
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    params["prepare"].update(source=str(root), image_size=SIZE, channels=1, max_image_pixels=3000,
                             near_duplicate_distance=6, reference_fraction=0.25, workers=1, **prepare)
    params["evaluate"].update(num_samples=4, kid_subset_size=2, prc_k=3, dc_k=3, isc_splits=2,
                              fd_infinity_min_fraction=0.5)  # the tiny folder's reference split must hold them
    params["train"]["unet"]["attention_resolutions"] = [SIZE // 2]  # a side the UNet reaches at SIZE
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        assert cli.main(["prepare"]) == 0
    finally:
        os.chdir(cwd)
    return {str(p.relative_to(workdir)): p.read_bytes() for p in sorted(workdir.rglob("*"))
            if p.is_file() and p.name != "params.yaml"}


def test_stage_writes_declared_outputs_and_reruns_byte_identical(tmp_path):
    root = tmp_path / "images"
    good, bad = write_messy_folder(root)
    first = _run_stage(root, tmp_path / "a")
    assert set(first) == {"data/prepared/images.npy", "data/prepared/manifest.parquet", "data/prepared/rejected.parquet",
                          "reports/dataset/dataset.md", "reports/dataset/counts.png", "reports/dataset/removals.png",
                          "reports/dataset/properties.png", "reports/dataset/samples.png"}
    again = _run_stage(root, tmp_path / "a")
    assert again == first
    elsewhere = _run_stage(root, tmp_path / "b")
    assert elsewhere == first
    manifest = pd.read_parquet(tmp_path / "a/data/prepared/manifest.parquet")
    assert manifest["id"].dtype == np.int64 and manifest["label"].dtype == np.int64
    assert (manifest["split"] == "reference").sum() == round(0.25 * len(good))
    card = (tmp_path / "a/reports/dataset/dataset.md").read_text()
    assert f"{len(good)} images kept, {len(bad)} files removed" in card
    assert "| truncated | 1 |" in card and "| shirts |" in card


def test_workers_do_not_change_the_result(tmp_path):
    root = tmp_path / "images"
    for k in range(80):  # more than two chunks, so two workers really run
        save(root / f"c{k % 3}/{k:03d}.png", noise(k, (20, 24, 3)))
    save(root / "c0/zz.png", noise(5, (20, 24, 3)))
    results = [prepare_dataset(messy_config(root, workers=w), images_path=tmp_path / f"{w}.npy", demo_path="unused")
               for w in (1, 2)]
    pd.testing.assert_frame_equal(results[0].manifest, results[1].manifest)
    pd.testing.assert_frame_equal(results[0].rejected, results[1].rejected)
    assert (tmp_path / "1.npy").read_bytes() == (tmp_path / "2.npy").read_bytes()
    assert results[0].rejected["reason"].tolist() == [DUPLICATE]


def test_decoding_streams_with_a_bounded_window(tmp_path):
    """The parent never reads far ahead of the workers: memory grows with the window, not with N."""
    settings = decoding.DecodeSettings(image_size=8, channels=1, min_size=1, max_image_pixels=10**6, centre_hash=False)
    rows = open_memmap(tmp_path / "rows.npy", mode="w+", dtype=np.uint8, shape=(2000, 8, 8, 1))
    consumed = 0

    def payloads():
        nonlocal consumed
        for i in range(2000):
            consumed += 1
            yield i, PixelsPayload(np.full((8, 8), i % 256, np.uint8))

    chunk = pool.chunk_items(2000, 2, 64)
    tasks = pool._decoded_tasks(payloads(), rows, settings, workers=2, chunk=chunk)
    first = next(tasks)
    window = pool.CHUNKS_PER_WORKER * 2 * chunk
    assert first[0][0] == 0 and consumed <= window + chunk < 2000  # (indices, records) of the first task
    indices = np.concatenate([first[0]] + [task[0] for task in tasks])
    assert indices.tolist() == list(range(2000)) and consumed == 2000
    assert first[1].table["decoded"].all() and not first[1].failures
    np.testing.assert_array_equal(rows[:, 0, 0, 0], np.arange(2000) % 256)  # written by the workers


def write_demo_npz(path: Path) -> None:
    """Demo-format npz: 5 train, 4 reference; one exact and one near copy of training images in reference."""
    train = [noise(k, (28, 28)) for k in range(5)]
    reference = [train[1].copy(), np.minimum(train[3], 254) + 1, noise(50, (28, 28)), noise(51, (28, 28))]
    np.savez(path, images=np.stack(train + reference), labels=np.array([0, 1, 0, 1, 0, 1, 1, 0, 1]),
             split=np.array(["train"] * 5 + ["reference"] * 4), source=np.array([f"demo/{k}" for k in range(9)]),
             classes=np.array(["a", "b"]))


def test_copies_across_the_shipped_split_are_rejected_as_leaks(tmp_path):
    npz = tmp_path / "demo.npz"
    write_demo_npz(npz)
    config = PrepareConfig(source="demo", image_size=28, channels=1, near_duplicate_distance=4, workers=1)
    result = prepare_dataset(config, images_path=tmp_path / "i.npy", demo_path=npz)
    manifest, rejected = result.manifest, result.rejected
    assert dict(zip(rejected["source"], rejected["reason"])) == {"demo/5": LEAK, "demo/6": LEAK}
    assert manifest["split"].tolist() == ["train"] * 5 + ["reference"] * 2
    assert manifest["source"].tolist() == [f"demo/{k}" for k in (0, 1, 2, 3, 4, 7, 8)]
    assert manifest["label_name"].tolist() == ["a", "b", "a", "b", "a", "a", "b"]
    images = np.load(tmp_path / "i.npy")
    np.testing.assert_array_equal(images[:, :, :, 0], np.load(npz)["images"][[0, 1, 2, 3, 4, 7, 8]])
    # no kept pair straddles the split, neither exactly nor within the radius
    train, ref = (np.flatnonzero(manifest["split"] == s) for s in ("train", "reference"))
    bits = np.unpackbits(np.stack([np.frombuffer(pixels_to_phash(x), np.uint8) for x in images]), axis=1)
    assert min((bits[i] != bits[j]).sum() for i in train for j in ref) > 4
    assert not {pixels_to_digest(images[i]) for i in train} & {pixels_to_digest(images[j]) for j in ref}
    # without the shipped split the copies are plain duplicates and the split is drawn afresh
    fresh = prepare_dataset(PrepareConfig(source="demo", image_size=28, channels=1, near_duplicate_distance=4,
                                          use_source_split=False, reference_fraction=0.3, workers=1),
                            images_path=tmp_path / "j.npy", demo_path=npz)
    assert set(fresh.rejected["reason"]) == {DUPLICATE, NEAR_DUPLICATE}
    assert (fresh.manifest["split"] == "reference").sum() == 2


def test_random_split_is_seeded_and_stratified(tmp_path):
    root = tmp_path / "images"
    for k in range(40):
        save(root / f"{'ab'[k % 2]}/{k:03d}.png", noise(k, (12, 12)))
    split = {}
    for seed in (0, 0, 1):
        m = prepare_dataset(messy_config(root, seed=seed, reference_fraction=0.2), images_path=tmp_path / "i.npy",
                            demo_path="unused").manifest
        assert (m["split"] == "reference").sum() == 8
        assert m.groupby("label_name")["split"].apply(lambda s: (s == "reference").sum()).tolist() == [4, 4]
        split.setdefault(seed, []).append(m["split"].tolist())
    assert split[0][0] == split[0][1] != split[1][0]


def test_stage_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/readme.txt").write_text("no images here")
    for source, message in [(tmp_path / "missing", "does not exist"), (tmp_path / "src", "no image files found")]:
        params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
        params["prepare"]["source"] = str(source)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        assert cli.main(["prepare", "--params", str(tmp_path / "params.yaml")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err


@pytest.mark.slow
def test_demo_stage_on_default_params(tmp_path, repo_root):
    """`gencurate prepare` on the shipped params: the demo's 11,647 + 2,000 images, minus duplicates."""
    (tmp_path / "data").mkdir()
    os.symlink(repo_root / "data/demo", tmp_path / "data/demo")
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(["prepare"]) == 0
    finally:
        os.chdir(cwd)
    manifest = pd.read_parquet(tmp_path / "data/prepared/manifest.parquet")
    rejected = pd.read_parquet(tmp_path / "data/prepared/rejected.parquet")
    removed = rejected["source"].str.contains("/train/").sum(), rejected["source"].str.contains("/t10k/").sum()
    assert (manifest["split"] == "train").sum() == 11_647 - removed[0]
    # the validation split comes from the reference side: the training set keeps the study's size
    n_validation = round(len(manifest) * 0.05)
    assert (manifest["split"] == "validation").sum() == n_validation
    assert (manifest["split"] == "reference").sum() == 2_000 - removed[1] - n_validation >= 1_000
    assert set(rejected["reason"]) <= {DUPLICATE, NEAR_DUPLICATE, LEAK} and len(rejected) < 100
    assert manifest["label"].between(0, 9).all()
    images = np.load(tmp_path / "data/prepared/images.npy", mmap_mode="r")
    assert images.shape == (len(manifest), 28, 28, 1)
    demo = np.load(repo_root / "data/demo/fashion-mnist-subset.npz")
    index = {s: i for i, s in enumerate(demo["source"])}
    rows = [index[s] for s in manifest["source"]]
    np.testing.assert_array_equal(images[:, :, :, 0], demo["images"][rows])  # 28 -> 28 is the identity
