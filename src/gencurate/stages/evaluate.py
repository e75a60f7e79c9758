"""`gencurate evaluate [--method M --seed S]`: metrics of one model's samples against the held-out reference.

Samples are embedded with the evaluation encoder; the reference is a seeded choice of
`evaluate.num_samples` reference-split images whose features the embed stage already stored
(equal set sizes); memorisation is measured against the method's own training subset. The same metrics in an
encoder-free pixel space (`gencurate.metrics.pixels`) go under `pixel_*` keys.
Writes `paths.metrics_file(M, S)` (JSON; keys in gencurate.metrics.keys).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from gencurate.config import Params
from gencurate.data.splits import TRAIN
from gencurate.io import read_ids, read_json, read_npy, write_json
from gencurate.metrics import keys as K
from gencurate.metrics.evaluation import (
    REFERENCE_SPLIT, check_embedding_meta, check_reference_features, check_samples, check_train_rows, reference_rows,
)
from gencurate.metrics.fidelity import check_inception_weights, inception_metrics
from gencurate.metrics.pixels import fit_pixel_space, prefixed
from gencurate.metrics.suite import features_to_metrics
from gencurate.runtime import resolve_device, seed_everything
from gencurate.stages.common import stage_params, study_items

CHECK_IMAGES = 8  # reference images embedded again to prove the stored features match the encoder


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    evaluate_study(params, list(study_items(params, args)))


def evaluate_study(params: Params, items: list[tuple[str, int]]) -> None:
    """Evaluate each (method, seed) of `items`: every input is checked before any encoder work,
    then the encoder and the reference are loaded once."""
    from gencurate.encoders import embed_images, load_encoder

    cfg, paths, enc_cfg = params.evaluate, params.paths, params.encoders.evaluation
    if cfg.inception_weights is not None:
        check_inception_weights(cfg.inception_weights)
    seed_everything(cfg.seed)
    images = read_npy(paths.images)
    splits = pd.read_parquet(paths.manifest, columns=["id", "split"])
    if not np.array_equal(splits["id"].to_numpy(), np.arange(len(splits))):
        raise ValueError(f"{paths.manifest}: ids must equal row numbers; rerun prepare")
    features = read_npy(paths.embedding("evaluation"))
    if len(features) != len(splits) or len(images) != len(splits):
        raise ValueError(f"{paths.embedding('evaluation')} and {paths.images} must have one row per manifest row")
    ref_rows = reference_rows(splits["split"].to_numpy(), n=cfg.num_samples, seed=cfg.seed)
    all_reference = np.flatnonzero(splits["split"].to_numpy() == REFERENCE_SPLIT)
    inputs = {}
    for method, seed in items:
        where = str(paths.samples_file(method, seed))
        samples = check_samples(read_npy(where), n=cfg.num_samples, image_shape=images.shape[1:], where=where)
        train = check_train_rows(read_ids(paths.selection(method)), reference=all_reference, rows=len(splits),
                                 where=str(paths.selection(method)))
        inputs[method, seed] = samples, np.sort(train)

    enc = load_encoder(enc_cfg.name, weights=enc_cfg.weights, input_size=enc_cfg.input_size, device=cfg.accelerator)
    check_embedding_meta(
        read_json(paths.embedding_meta("evaluation")), name=enc.name, weights={enc_cfg.weights, enc.weights},
        input_size=enc.input_size, dim=enc.dim, rows=len(splits), images_path=paths.images,
    )

    def embed(x: np.ndarray, progress: bool) -> np.ndarray:
        return embed_images(enc, np.asarray(x), batch_size=params.embed.batch_size, num_workers=0, progress=progress,
                            normalise=False)

    reference = np.asarray(features[ref_rows])
    check_reference_features(reference[:CHECK_IMAGES], embed(images[ref_rows[:CHECK_IMAGES]], progress=False))
    # The encoder-free control: one pixel space (fitted on the train split) for every method.
    pixels = fit_pixel_space(images, rows=np.flatnonzero(splits["split"].to_numpy() == TRAIN), max_side=cfg.pixel_size,
                             components=cfg.pixel_pca_components, max_images=cfg.pixel_pca_fit_images, seed=cfg.seed)
    reference_pixels = pixels.features(images[ref_rows])
    pixel_suite = dict(
        fd_infinity_sizes=cfg.fd_infinity_sizes, fd_infinity_min_fraction=cfg.fd_infinity_min_fraction,
        kid_subsets=cfg.kid_subsets, kid_subset_size=cfg.kid_subset_size, prc_k=cfg.prc_k, dc_k=cfg.dc_k,
        batch_size=cfg.batch_size, seed=cfg.seed, device=resolve_device(cfg.accelerator),
    )
    for (method, seed), (samples, train) in inputs.items():
        print(f"evaluate {method} seed {seed}: {len(samples)} samples vs {len(reference)} reference images, "
              f"memorisation against {len(train)} training images")
        result = features_to_metrics(
            embed(samples, progress=True), reference, np.asarray(features[train]),
            kid_subsets=cfg.kid_subsets, kid_subset_size=cfg.kid_subset_size, prc_k=cfg.prc_k, dc_k=cfg.dc_k,
            memorisation_quantile=cfg.memorisation_quantile, batch_size=cfg.batch_size, seed=cfg.seed,
            device=resolve_device(cfg.accelerator), progress=True,
            fd_infinity_sizes=cfg.fd_infinity_sizes, fd_infinity_min_fraction=cfg.fd_infinity_min_fraction,
        )
        result.update(prefixed(features_to_metrics(pixels.features(samples), reference_pixels, **pixel_suite)))
        if cfg.inception_weights is not None:
            result.update(inception_metrics(np.asarray(samples), np.asarray(images[ref_rows]),
                                            weights_path=cfg.inception_weights, isc_splits=cfg.isc_splits))
        result.update({
            K.KEY_N_SAMPLES: len(samples), K.KEY_N_REFERENCE: len(reference), K.KEY_N_TRAIN: len(train),
            K.KEY_ENCODER: enc.name, K.KEY_ENCODER_INPUT_SIZE: enc.input_size,
        })
        write_json(paths.metrics_file(method, seed), result)
        print(f"  fd {result[K.KEY_FD]:.4g}  precision {result[K.KEY_PRECISION]:.3f}  "
              f"recall {result[K.KEY_RECALL]:.3f}  -> {paths.metrics_file(method, seed)}")
