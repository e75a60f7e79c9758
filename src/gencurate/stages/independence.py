"""`gencurate independence`: do the selection and evaluation spaces see the train split alike?

Reads both embeddings (and, with `independence.pixels`, the prepared images) on the train
split; writes `paths.independence_file` (JSON): per pair of spaces the mean k-NN overlap and
the Spearman correlation of typicality (gencurate.metrics.independence). compare shows it.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from gencurate.data.schema import SPLIT, TRAIN, check_one_row_per_manifest_row
from gencurate.io import atomic_path, read_json, read_npy, write_json
from gencurate.metrics.independence import geometry, spaces_to_independence
from gencurate.metrics.pixels import images_to_pixels
from gencurate.stages.params_items import stage_params

PIXELS = "pixels"


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    paths, cfg = params.paths, params.independence
    splits = pd.read_parquet(paths.manifest, columns=[SPLIT])[SPLIT].to_numpy()
    rows = np.flatnonzero(splits == TRAIN)
    spaces, geometries = {}, {}
    for role in ("selection", "evaluation"):
        x = read_npy(paths.embedding(role))
        check_one_row_per_manifest_row(len(x), manifest_rows=len(splits), what=str(paths.embedding(role)),
                                       manifest_path=paths.manifest)
        name = f"{role} ({read_json(paths.embedding_meta(role))['name']})"
        spaces[name] = np.ascontiguousarray(x[rows], dtype=np.float32)
        geometries[name] = geometry(spaces[name])
    if cfg.pixels:
        spaces[PIXELS] = images_to_pixels(read_npy(paths.images)[rows], max_side=cfg.pixel_size)
        geometries[PIXELS] = "Euclidean on pixel values in [0, 1]"
    result = spaces_to_independence(spaces, neighbours=cfg.neighbours, typicality_k=params.select.knn_k,
                                    geometries=geometries)
    with atomic_path(paths.independence, directory=True) as out:
        write_json(out / paths.independence_file.name, result)
    for pair in result["pairs"]:
        print(f"independence: {pair['space_a']} vs {pair['space_b']}: {cfg.neighbours}-NN overlap "
              f"{pair['knn_overlap_mean']:.3f} (chance {pair['knn_overlap_chance']:.4f}), "
              f"typicality Spearman {pair['typicality_spearman']:.3f}")
