"""Listing sources: folder walk + ImageFolder labels, archives read in memory, unsafe archives refused."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gencurate.data.cleaning import NOT_IMAGE
from gencurate.data.sources import BytesPayload, FilePayload, OversizedPayload, demo_source, open_source


def png_bytes(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (12, 12), value).save(buf, "PNG")
    return buf.getvalue()


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*")}


def test_folder_is_sorted_with_imagefolder_labels(tmp_path):
    for rel in ["dogs/b.PNG", "cats/z.jpg", "cats/a/deep.png", "dogs/notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png_bytes(1))
    source = open_source(str(tmp_path), demo_path="unused")
    assert [e.source for e in source.entries] == ["cats/a/deep.png", "cats/z.jpg", "dogs/b.PNG"]
    assert source.classes == ("cats", "dogs")
    assert [(e.label, e.label_name) for e in source.entries] == [(0, "cats"), (0, "cats"), (1, "dogs")]
    assert [(r.source, r.reason) for r in source.ignored] == [("dogs/notes.txt", NOT_IMAGE)]
    payloads = list(source.payloads(10**9))
    assert [i for i, _ in payloads] == [0, 1, 2] and isinstance(payloads[0][1], FilePayload)


def test_folder_with_loose_images_has_no_labels(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "top.png").write_bytes(png_bytes(1))
    (tmp_path / "sub" / "x.png").write_bytes(png_bytes(2))
    (tmp_path / "LICENSE").write_text("CC-BY 4.0, Example Org")
    source = open_source(str(tmp_path), demo_path="unused")
    assert [(e.label, e.label_name) for e in source.entries] == [(-1, ""), (-1, "")]
    assert source.classes == () and "CC-BY 4.0" in source.licence


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"])
def test_archives_read_members_in_memory(tmp_path, suffix):
    archive = tmp_path / f"set{suffix}"
    noisy = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)).save(noisy, "PNG")
    members = {"b/2.png": png_bytes(2), "a/1.png": noisy.getvalue(), "a/readme.md": b"hi", "LICENSE.txt": b"MIT"}
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        mode = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.bz2": "w:bz2", ".tar.xz": "w:xz"}[suffix]
        with tarfile.open(archive, mode) as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    before = files_under(tmp_path)
    source = open_source(str(archive), demo_path="unused")
    assert [e.source for e in source.entries] == [f"set{suffix}/a/1.png", f"set{suffix}/b/2.png"]
    assert [e.label_name for e in source.entries] == ["a", "b"]
    read = dict(source.payloads(10**9))
    assert {i: p.data for i, p in read.items()} == {0: members["a/1.png"], 1: members["b/2.png"]}
    assert all(isinstance(p, BytesPayload) for p in read.values())
    # a member over the byte limit is announced by its size and never read into memory
    limit = len(members["b/2.png"])
    assert dict(source.payloads(limit)) == {0: OversizedPayload(len(members["a/1.png"])), 1: BytesPayload(members["b/2.png"])}
    assert {r.source for r in source.ignored} == {f"set{suffix}/a/readme.md", f"set{suffix}/LICENSE.txt"}
    assert "MIT" in source.licence
    assert files_under(tmp_path) == before  # nothing extracted


@pytest.mark.parametrize("name", ["../evil.png", "ok/../../evil.png", "/tmp/gencurate-evil.png"])
def test_zip_slip_is_refused(tmp_path, name):
    archive = tmp_path / "inner" / "bad.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.png", png_bytes(1))
        info = zipfile.ZipInfo(name)  # ZipFile.writestr would sanitise nothing: write the raw name
        zf.writestr(info, png_bytes(2))
    before = files_under(tmp_path)
    with pytest.raises(ValueError, match="refusing archive"):
        open_source(str(archive), demo_path="unused")
    assert files_under(tmp_path) == before and not Path("/tmp/gencurate-evil.png").exists()


def test_zip_symlink_out_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("escape.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(ValueError, match="points outside"):
        open_source(str(archive), demo_path="unused")


@pytest.mark.parametrize(
    ("kind", "name", "target", "message"),
    [
        (tarfile.SYMTYPE, "a/escape.png", "../../outside.png", "points outside"),
        (tarfile.SYMTYPE, "abs.png", "/etc/passwd", "points outside"),
        (tarfile.LNKTYPE, "a/b/hard.png", "../outside.png", "points outside"),
        (tarfile.REGTYPE, "../evil.png", "", "escapes"),
        (tarfile.REGTYPE, "/abs/evil.png", "", "escapes"),
    ],
)
def test_tar_escapes_are_refused(tmp_path, kind, name, target, message):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        good = tarfile.TarInfo("good.png")
        data = png_bytes(3)
        good.size = len(data)
        tf.addfile(good, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        if kind == tarfile.REGTYPE:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        else:
            tf.addfile(info)
    before = files_under(tmp_path)
    with pytest.raises(ValueError, match=message):
        open_source(str(archive), demo_path="unused")
    assert files_under(tmp_path) == before


def test_link_inside_the_archive_is_listed_not_followed(tmp_path):
    archive = tmp_path / "ok.tar"
    with tarfile.open(archive, "w") as tf:
        data = png_bytes(3)
        info = tarfile.TarInfo("a/x.png")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a/y.png")
        link.type, link.linkname = tarfile.SYMTYPE, "x.png"
        tf.addfile(link)
    source = open_source(str(archive), demo_path="unused")
    assert [e.source for e in source.entries] == ["ok.tar/a/x.png"]
    assert [(r.source, r.reason) for r in source.ignored] == [("ok.tar/a/y.png", NOT_IMAGE)]


def test_demo_source_lists_the_shipped_split_with_labels(repo_root):
    source = demo_source(repo_root / "data" / "demo" / "fashion-mnist-subset.npz")
    splits = [e.split for e in source.entries]
    assert splits.count("train") == 11_647 and splits.count("reference") == 2_000
    assert len(source.classes) == 10 and source.classes[0] == "T-shirt/top"
    assert all(0 <= e.label < 10 and e.label_name == source.classes[e.label] for e in source.entries)
    assert source.entries[0].source == "fashion-mnist/train/1" and "MIT" in source.licence


def test_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(str(tmp_path / "nope"), demo_path="unused")
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(ValueError, match="neither"):
        open_source(str(tmp_path / "data.csv"), demo_path="unused")
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="lacks key"):
        open_source(str(bad), demo_path="unused")
    assert os.path.exists(bad)
