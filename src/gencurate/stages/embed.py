"""`gencurate embed [--role selection|evaluation]`: prepared images -> embeddings (selection: unit rows; evaluation: raw).

Reads paths.images (in batches) and paths.manifest, the role's `encoders.<role>`
section and `embed`; writes paths.embedding(role) (N, D) float32, row i = manifest row i,
and paths.embedding_meta(role). The forward pass runs through Lightning's
Trainer.predict, so `embed.accelerator/devices/num_nodes/strategy` scale it to GPUs, processes or nodes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from gencurate.arrays import check_image_array
from gencurate.config import Params
from gencurate.config.embed import ENCODER_ROLES, NORMALISED_ROLES
from gencurate.data.schema import (
    ID, META_DIM, META_IMAGES_SHA256, META_INPUT_SIZE, META_N, META_NAME, META_NORMALISED, META_WEIGHTS,
    check_ids_are_rows,
)
from gencurate.encoders.sources import check_weights_reachable
from gencurate.io import TMP_PREFIX, file_sha256, read_npy, write_json
from gencurate.stages.params_items import stage_params


def check_inputs(images: np.ndarray, manifest: pd.DataFrame, *, images_path: Path, manifest_path: Path) -> None:
    """Embedding row i must be manifest row i: same count, ids = row numbers; images uint8 (N, H, W, C)."""
    check_image_array(images, where=str(images_path))
    if len(images) != len(manifest):
        raise ValueError(f"{images_path} has {len(images)} images but {manifest_path} has {len(manifest)} rows; rerun prepare")
    check_ids_are_rows(manifest[ID].to_numpy(), manifest_path=manifest_path)


# Rows compared per read when looking for a feature that varies (bounded memory on a memory-mapped array).
VARY_CHUNK = 4096


def check_features_vary(features: np.ndarray, *, encoder: str, input_size: int, role: str) -> None:
    """Refuse (N, D) features, N >= 2, in which every column is constant over the rows.

    Identical features for every image (e.g. a network whose receptive field outgrows a tiny
    input) make every selection and metric meaningless; one column that varies is enough to pass.
    Reads row chunks and stops at the first row that differs from row 0.
    """
    if len(features) < 2:
        return
    first = np.asarray(features[0])
    for start in range(1, len(features), VARY_CHUNK):
        if np.any(np.asarray(features[start:start + VARY_CHUNK]) != first):
            return
    raise ValueError(
        f"{encoder} at input_size {input_size} gives the same features for all {len(features)} images; "
        f"set a larger encoders.{role}.input_size (or another encoder) and rerun embed"
    )


def embed_role(params: Params, role: str) -> None:
    paths, cfg, run = params.paths, params.encoders.role(role), params.embed
    for path in (paths.images, paths.manifest):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `gencurate prepare` first")
    # Before torch and the model library are imported: weights that cannot be had stop the stage at once.
    check_weights_reachable(cfg.name, cfg.weights)
    from gencurate.encoders import load_encoder

    images = read_npy(paths.images)
    check_inputs(images, pd.read_parquet(paths.manifest, columns=[ID]), images_path=paths.images, manifest_path=paths.manifest)
    # Loaded on the CPU; Lightning moves it to the accelerator of each rank.
    enc = load_encoder(cfg.name, weights=cfg.weights, input_size=cfg.input_size, device="cpu")
    # Imported after the encoder loads, so missing weights stop the stage before Lightning's import time.
    from gencurate.encoders.lightning_embed import embed_with_lightning

    out = paths.embedding(role)
    normalise = role in NORMALISED_ROLES
    print(f"embed {role}: {len(images)} images with {enc.name} at {enc.input_size}px ({enc.dim}-d, "
          f"{'L2-normalised' if normalise else 'raw'})")
    embedding = embed_with_lightning(
        enc, paths.images, out_path=out, shard_dir=out.with_name(f"{TMP_PREFIX}{out.stem}-shards"),
        batch_size=run.batch_size, num_workers=run.num_workers,
        accelerator=run.accelerator, devices=run.devices, num_nodes=run.num_nodes, strategy=run.strategy,
        normalise=normalise,
    )
    if embedding is None:  # a non-zero rank of a multi-process launch: rank 0 writes
        return
    try:
        check_features_vary(embedding, encoder=enc.name, input_size=enc.input_size, role=role)
    except ValueError:
        del embedding
        out.unlink(missing_ok=True)  # no usable embedding file is left behind for a later stage to read
        raise
    write_json(paths.embedding_meta(role), {
        META_NAME: enc.name, META_WEIGHTS: enc.weights, META_INPUT_SIZE: enc.input_size, META_DIM: enc.dim,
        META_N: len(embedding), META_IMAGES_SHA256: file_sha256(paths.images), META_NORMALISED: normalise,
    })


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    role = getattr(args, "role", None)
    for r in ENCODER_ROLES if role is None else (role,):
        embed_role(params, r)
