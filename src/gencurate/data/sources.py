"""Where images come from: an image folder, an archive read in memory, or the bundled demo.

A `Source` lists its candidate images up front (`entries`, in a fixed sorted order whose
position is the candidate index) and then yields `(index, payload)` pairs in whatever order
is cheapest to read (a compressed tar is read front to back once). Nothing is extracted to
disk. Files that cannot be images (wrong extension, links inside an archive) are listed in
`ignored` with a reason, so nothing is silently lost.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gencurate.data.cleaning import NOT_IMAGE, Rejection

DEMO = "demo"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
LICENCE_PREFIXES = ("license", "licence", "copying")
LICENCE_MAX_CHARS = 4000
UNKNOWN_LICENCE = "unknown (no LICENSE/LICENCE/COPYING file found at the source root)"


@dataclass(frozen=True, slots=True)
class Entry:
    """One candidate image. `split` is set only when the source ships its own split (demo)."""

    source: str
    label: int = -1
    label_name: str = ""
    split: str | None = None


@dataclass(frozen=True)
class FilePayload:
    """A file on disk; the decoding worker reads it (so bytes never pass through the parent)."""

    path: str


@dataclass(frozen=True)
class BytesPayload:
    data: bytes


@dataclass(frozen=True)
class OversizedPayload:
    """An archive member larger than the byte limit: never read into memory."""

    size: int


@dataclass(frozen=True)
class PixelsPayload:
    """Raw demo pixels: (H, W) or (H, W, C) uint8."""

    pixels: np.ndarray


Payload = FilePayload | BytesPayload | OversizedPayload | PixelsPayload


@dataclass(frozen=True, kw_only=True)
class Source:
    """A listed image source.

    entries: candidate images in their fixed order (position = candidate index).
    payloads(max_bytes): a fresh iterator of `(index into entries, payload)` in the cheapest read
        order; archive members over `max_bytes` come as `OversizedPayload`, unread.
    ignored: files that are not candidate images, each with its reason.
    """

    kind: str
    description: str
    entries: list[Entry]
    payloads: Callable[[int], Iterator[tuple[int, Payload]]]
    classes: tuple[str, ...] = ()
    ignored: list[Rejection] = field(default_factory=list)
    licence: str = UNKNOWN_LICENCE


def open_source(source: str, *, demo_path: str | Path) -> Source:
    """`demo` -> the bundled npz at `demo_path`; a directory; a .zip/.tar* archive; or a demo-format .npz."""
    if source == DEMO:
        return demo_source(demo_path)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"prepare.source {source!r} does not exist (relative paths resolve against {Path.cwd()})")
    if path.is_dir():
        return folder_source(path)
    name = path.name.lower()
    if name.endswith(ZIP_SUFFIXES):
        return zip_source(path)
    if name.endswith(TAR_SUFFIXES):
        return tar_source(path)
    if name.endswith(".npz"):
        return demo_source(path)
    raise ValueError(
        f"prepare.source {source!r} is neither 'demo', a folder, a demo-format .npz nor an archive "
        f"({', '.join(ZIP_SUFFIXES + TAR_SUFFIXES)})"
    )


def _is_image_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _labelled_entries(names: list[str], prefix: str = "") -> tuple[list[Entry], tuple[str, ...]]:
    """ImageFolder convention: when every image sits in a subfolder, its first folder is its class."""
    if names and all("/" in n for n in names):
        classes = tuple(sorted({n.split("/", 1)[0] for n in names}))
        index = {c: i for i, c in enumerate(classes)}
        labels = [index[n.split("/", 1)[0]] for n in names]
        # label_name is the shared class string, not a new copy per image
        return [Entry(prefix + n, label=y, label_name=classes[y]) for n, y in zip(names, labels)], classes
    return [Entry(prefix + n) for n in names], ()


def _split_names(all_names: list[str], prefix: str) -> tuple[list[str], list[Rejection]]:
    images, ignored = [], []
    for name in sorted(all_names):
        if _is_image_name(name):
            images.append(name)
        else:
            ext = posixpath.splitext(name)[1] or "(none)"
            ignored.append(Rejection(prefix + name, NOT_IMAGE, f"extension {ext} is not an image type"))
    return images, ignored


def _licence_text(names_to_text: dict[str, Callable[[], bytes]]) -> str:
    """The first top-level LICENSE/LICENCE/COPYING file, trimmed; else `UNKNOWN_LICENCE`."""
    for name in sorted(names_to_text):
        if "/" not in name and name.lower().startswith(LICENCE_PREFIXES):
            text = names_to_text[name]().decode("utf-8", errors="replace").strip()
            return f"{name}:\n{text[:LICENCE_MAX_CHARS]}"
    return UNKNOWN_LICENCE


# -- folder -------------------------------------------------------------------------------

def _walk_files(root: Path) -> list[str]:
    """Relative POSIX paths of every file under `root`, following directory links once (no cycles)."""
    files, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        # string joins, not a Path per file: the listing runs serially before any decoding starts
        rel = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        files.extend(prefix + f for f in filenames)
    return files


def folder_source(root: Path) -> Source:
    names, ignored = _split_names(_walk_files(root), "")
    entries, classes = _labelled_entries(names)
    licence = _licence_text({n: (lambda n=n: (root / n).read_bytes()) for n in os.listdir(root) if (root / n).is_file()})

    def reader(max_bytes: int) -> Iterator[tuple[int, Payload]]:
        # the worker reads the file itself (and refuses it unread when over max_bytes)
        base = str(root)
        for i, name in enumerate(names):
            yield i, FilePayload(os.path.join(base, name))

    return Source(kind="folder", description=f"image folder `{root}`", entries=entries, payloads=reader,
                  classes=classes, ignored=ignored, licence=licence)


# -- archives -----------------------------------------------------------------------------

def _check_member(archive: Path, name: str, link_target: str | None = None, *, hardlink: bool = False) -> str:
    """Refuse (ValueError) a member that would land outside the archive root; return its clean name.

    A symlink target resolves from the member's folder; a tar hardlink target from the archive root.
    """
    clean = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or clean == ".." or clean.startswith("../"):
        raise ValueError(f"{archive}: refusing archive: member {name!r} escapes the archive root")
    if link_target is not None:
        base = "" if hardlink else posixpath.dirname(clean)
        target = posixpath.normpath(posixpath.join(base, link_target.replace("\\", "/")))
        if link_target.startswith("/") or target == ".." or target.startswith("../"):
            raise ValueError(f"{archive}: refusing archive: link {name!r} -> {link_target!r} points outside the archive root")
    return clean


def _archive_source(archive: Path, kind: str, members: dict[str, object], links: list[str],
                    read_member, iter_members) -> Source:
    prefix = archive.name + "/"
    names, ignored = _split_names(list(members), prefix)
    ignored += [Rejection(prefix + n, NOT_IMAGE, "link member inside the archive (not followed)") for n in sorted(links)]
    ignored.sort(key=lambda r: r.source)
    entries, classes = _labelled_entries(names, prefix)
    licence = _licence_text({n: (lambda m=m: read_member(m)) for n, m in members.items()})
    position = {n: i for i, n in enumerate(names)}

    def reader(max_bytes: int) -> Iterator[tuple[int, Payload]]:
        for name, payload in iter_members(position, max_bytes):
            yield position[name], payload

    return Source(kind=kind, description=f"{kind} archive `{archive}`", entries=entries, payloads=reader,
                  classes=classes, ignored=ignored, licence=licence)


def zip_source(archive: Path) -> Source:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    members, links = {}, []
    for info in infos:
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        target = None
        if is_link:
            with zipfile.ZipFile(archive) as zf:
                target = zf.read(info).decode("utf-8", errors="replace")
        clean = _check_member(archive, info.filename, target)
        if is_link:
            links.append(clean)
        elif not info.is_dir():
            members.setdefault(clean, info)

    def read_member(info: zipfile.ZipInfo) -> bytes:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(info)

    def iter_members(position: dict[str, int], max_bytes: int) -> Iterator[tuple[str, Payload]]:
        # Zip members are random access: read in the sorted order, one member in memory at a time.
        with zipfile.ZipFile(archive) as zf:
            for name in position:
                info = members[name]
                yield name, OversizedPayload(info.file_size) if info.file_size > max_bytes else BytesPayload(zf.read(info))

    return _archive_source(archive, "zip", members, links, read_member, iter_members)


def tar_source(archive: Path) -> Source:
    try:
        with tarfile.open(archive, "r:*") as tf:
            all_members = tf.getmembers()
    except tarfile.TarError as err:
        raise ValueError(f"{archive}: not a readable tar archive ({err})") from None
    members, links = {}, []
    for m in all_members:
        is_link = m.issym() or m.islnk()
        clean = _check_member(archive, m.name, m.linkname if is_link else None, hardlink=m.islnk())
        if is_link:
            links.append(clean)
        elif m.isfile():
            members.setdefault(clean, m)

    def read_member(m: tarfile.TarInfo) -> bytes:
        with tarfile.open(archive, "r:*") as tf:
            return tf.extractfile(m).read()

    def iter_members(position: dict[str, int], max_bytes: int) -> Iterator[tuple[str, Payload]]:
        # Stream front to back (a compressed tar has no cheap random access); only regular files
        # are read and each member's bytes are dropped once handed on.
        done = set()
        with tarfile.open(archive, "r|*") as tf:
            for m in tf:
                name = posixpath.normpath(m.name.replace("\\", "/"))
                if m.isfile() and name in position and name not in done:
                    done.add(name)
                    yield name, OversizedPayload(m.size) if m.size > max_bytes else BytesPayload(tf.extractfile(m).read())

    return _archive_source(archive, "tar", members, links, read_member, iter_members)


# -- demo -------------------------------------------------------------------------------

def demo_source(path: str | Path) -> Source:
    """The demo npz: images (N,H,W[,C]) uint8, labels int64, split, source, classes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"demo data {path} not found (paths.demo)")
    with np.load(path, allow_pickle=False) as npz:
        missing = {"images", "labels", "split", "source", "classes"} - set(npz.files)
        if missing:
            raise ValueError(f"{path}: demo npz lacks key(s) {', '.join(sorted(missing))}")
        images, labels = npz["images"], npz["labels"].astype(np.int64)
        splits, sources, classes = npz["split"].astype(str), npz["source"].astype(str), tuple(npz["classes"].astype(str))
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or not (len(images) == len(labels) == len(splits) == len(sources)):
        raise ValueError(f"{path}: demo npz must hold images (N,H,W[,C]) uint8 with N labels, splits and sources")
    entries = [
        Entry(s, label=int(y), label_name=classes[y] if 0 <= y < len(classes) else "", split=sp)
        for s, y, sp in zip(sources.tolist(), labels.tolist(), splits.tolist())
    ]
    licences = sorted(p for p in path.parent.iterdir() if p.name.lower().startswith(LICENCE_PREFIXES))
    licence = f"{licences[0].name}:\n{licences[0].read_text()[:LICENCE_MAX_CHARS].strip()}" if licences else UNKNOWN_LICENCE

    def reader(max_bytes: int) -> Iterator[tuple[int, Payload]]:
        # The demo keeps its own row order (already deterministic), so ids follow the npz.
        for i in range(len(images)):
            yield i, PixelsPayload(images[i])

    return Source(kind="demo", description=f"demo npz `{path}`", entries=entries, payloads=reader,
                  classes=classes, licence=licence)
