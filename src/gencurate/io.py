"""Atomic output writing and the small file formats shared by stages.

Every output goes to a temporary file beside its target and is renamed into place,
so an interrupted stage never leaves a half-written file for DVC to cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TMP_PREFIX = ".gencurate-tmp-"


@contextlib.contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`.

    With `directory=True` the temporary path is a fresh directory that replaces `path`
    as a whole. On error the temporary is removed and `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            if path.exists():
                old = path.with_name(f"{TMP_PREFIX}old-{path.name}")
                shutil.rmtree(old, ignore_errors=True)
                path.rename(old)
                tmp.rename(path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(path)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks (a selection file, images.npy)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array))


def read_npy(path: str | Path, *, mmap: bool = True) -> np.ndarray:
    """Read an array, memory-mapped by default (prepared images can be large)."""
    return np.load(path, mmap_mode="r" if mmap else None)


def write_ids(path: str | Path, ids: Sequence[int] | np.ndarray) -> None:
    """Selection file: sorted ids, one per line, so `git diff` shows what entered or left."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    write_text(path, "".join(f"{i}\n" for i in ids))


def read_ids(path: str | Path) -> np.ndarray:
    """Inverse of `write_ids`: (K,) int64."""
    text = Path(path).read_text().split()
    return np.asarray([int(t) for t in text], dtype=np.int64)
