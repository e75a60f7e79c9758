"""`gencurate evaluate [--method M --seed S]`: metrics of one model's samples against the held-out reference.

Samples are embedded with the evaluation encoder; the reference is a seeded choice of
`evaluate.num_samples` reference-split images whose features the embed stage already stored
(equal set sizes). Memorisation is measured against the method's own training subset with one
threshold for every method, calibrated on every reference-split image against the whole train split.
The same metrics in an encoder-free pixel space (`gencurate.metrics.pixels`) go under `pixel_*` keys.
Writes `paths.metrics_file(M, S)` (JSON; keys in gencurate.metrics.keys) and
`paths.metric_details_dir(M, S)`: bootstrap replicates of the metrics and the closest sample/training pairs.
"""

from __future__ import annotations

import argparse
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gencurate.config import Params
from gencurate.config.paths import BOOTSTRAP_FILE, PAIRS_FILE
from gencurate.data.schema import ID, REFERENCE, SPLIT, TRAIN, check_ids_are_rows, check_one_row_per_manifest_row
from gencurate.io import atomic_path, read_ids, read_json, read_npy, write_json
from gencurate.metrics import keys as K
from gencurate.metrics.bootstrap import features_to_replicates
from gencurate.metrics.copies import ClosestPairs, closest_pairs, pairs_to_metric
from gencurate.metrics.fidelity import check_inception_weights, inception_metrics
from gencurate.metrics.memorisation import memorisation_distances_to_metric, memorisation_threshold, nearest_neighbours
from gencurate.metrics.pixels import fit_pixel_space, prefixed
from gencurate.metrics.suite import features_to_metrics
from gencurate.runtime import resolve_device, seed_everything
from gencurate.stages.params_items import stage_params, study_items
from gencurate.stages.inputs import (
    CHECK_IMAGES, check_embedding_meta, check_evaluation_samples, check_reference_features,
    check_train_rows, reference_rows,
)


@dataclass(frozen=True)
class CopyResult:
    """Memorisation of one run: metric values, per-image copy flags (samples (M,), reference (N,)), closest pairs."""

    metrics: dict[str, float]
    sample_copies: np.ndarray
    reference_copies: np.ndarray
    pairs: ClosestPairs


def copies_of_run(
    fake: np.ndarray, reference: np.ndarray, features: np.ndarray, *, samples: np.ndarray, images: np.ndarray,
    train: np.ndarray, threshold: float, pairs: int, batch_size: int, device,
) -> CopyResult:
    """Samples (M, D) and reference (N, D) features against the training subset `train` (T,) manifest rows of
    `features` (rows x D) -> memorisation with its control, and the `pairs` closest pairs compared in pixels."""
    subset = np.asarray(features[train])
    to_subset, nearest = nearest_neighbours(fake, subset, batch_size=batch_size, device=device)
    reference_to_subset, _ = nearest_neighbours(reference, subset, batch_size=batch_size, device=device)
    metrics = memorisation_distances_to_metric(to_subset, reference_to_subset, threshold=threshold)
    closest = closest_pairs(samples, images, distance=to_subset, nearest_id=train[nearest], k=pairs)
    return CopyResult(metrics={**metrics, **pairs_to_metric(closest)}, sample_copies=to_subset <= threshold,
                      reference_copies=reference_to_subset <= threshold, pairs=closest)


def write_details(
    path: str | Path, replicates: dict[str, list[float]], pairs: ClosestPairs, *, seed: list[int]
) -> None:
    """The run's details folder (replaced as a whole): bootstrap replicates (JSON) and the closest pairs (npz)."""
    with atomic_path(path, directory=True) as out:
        write_json(out / BOOTSTRAP_FILE, {"seed": seed, "replicates": replicates})
        with open(out / PAIRS_FILE, "wb") as f:
            np.savez(f, **pairs.as_arrays())


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
    manifest = pd.read_parquet(paths.manifest, columns=[ID, SPLIT])
    check_ids_are_rows(manifest[ID].to_numpy(), manifest_path=paths.manifest)
    features = read_npy(paths.embedding("evaluation"))
    for what, array in ((paths.embedding("evaluation"), features), (paths.images, images)):
        check_one_row_per_manifest_row(len(array), manifest_rows=len(manifest), what=str(what), manifest_path=paths.manifest)
    splits = manifest[SPLIT].to_numpy()
    ref_rows = reference_rows(splits, n=cfg.num_samples, seed=cfg.seed)
    all_reference = np.flatnonzero(splits == REFERENCE)
    all_train = np.flatnonzero(splits == TRAIN)
    inputs = {}
    for method, seed in items:
        where = str(paths.samples_file(method, seed))
        samples = check_evaluation_samples(read_npy(where), n=cfg.num_samples, image_shape=images.shape[1:], where=where)
        train = check_train_rows(read_ids(paths.selection(method)), reference=all_reference, rows=len(splits),
                                 where=str(paths.selection(method)))
        inputs[method, seed] = samples, np.sort(train)

    enc = load_encoder(enc_cfg.name, weights=enc_cfg.weights, input_size=enc_cfg.input_size, device=cfg.accelerator)
    check_embedding_meta(
        read_json(paths.embedding_meta("evaluation")), name=enc.name, weights={enc_cfg.weights, enc.weights},
        input_size=enc.input_size, dim=enc.dim, rows=len(splits), images_path=paths.images,
    )

    def embed(x: np.ndarray, progress: bool) -> np.ndarray:
        return embed_images(enc, np.asarray(x), batch_size=cfg.embed_batch_size, num_workers=0, progress=progress,
                            normalise=False)

    reference = np.asarray(features[ref_rows])
    check_reference_features(reference[:CHECK_IMAGES], embed(images[ref_rows[:CHECK_IMAGES]], progress=False))
    device = resolve_device(cfg.accelerator)
    # One copy threshold for every method: held-out images against the whole train split.
    calibration, _ = nearest_neighbours(np.asarray(features[all_reference]), np.asarray(features[all_train]),
                                        batch_size=cfg.knn_block_size, device=device)
    threshold = memorisation_threshold(calibration, quantile=cfg.memorisation_quantile)
    # The encoder-free control: one pixel space (fitted on the train split) for every method.
    pixels = fit_pixel_space(images, rows=all_train, max_side=cfg.pixel_size,
                             components=cfg.pixel_pca_components, max_images=cfg.pixel_pca_fit_images, seed=cfg.seed)
    reference_pixels = pixels.features(images[ref_rows])
    suite = dict(
        fd_infinity_sizes=cfg.fd_infinity_sizes, fd_infinity_min_fraction=cfg.fd_infinity_min_fraction,
        kid_subsets=cfg.kid_subsets, kid_subset_size=cfg.kid_subset_size, prc_k=cfg.prc_k, dc_k=cfg.dc_k,
        batch_size=cfg.knn_block_size, seed=cfg.seed, device=device,
    )
    for (method, seed), (samples, train) in inputs.items():
        print(f"evaluate {method} seed {seed}: {len(samples)} samples vs {len(reference)} reference images, "
              f"memorisation against {len(train)} training images (threshold {threshold:.4g})")
        fake = embed(samples, progress=True)
        result = features_to_metrics(
            fake, reference, progress=True, **suite,
        )
        copies = copies_of_run(fake, reference, features, samples=samples, images=images, train=train,
                               threshold=threshold, pairs=cfg.memorisation_pairs, batch_size=cfg.knn_block_size,
                               device=device)
        result.update(copies.metrics)
        boot_seed = [cfg.seed, seed, zlib.crc32(method.encode())]  # distinct draws per run, reproducible
        replicates = features_to_replicates(
            fake, reference, sample_copies=copies.sample_copies, reference_copies=copies.reference_copies,
            prc_k=cfg.prc_k, dc_k=cfg.dc_k, resamples=cfg.bootstrap_resamples, seed=boot_seed,
            batch_size=cfg.knn_block_size, device=device,
        )
        result.update(prefixed(features_to_metrics(pixels.features(samples), reference_pixels, **suite)))
        if cfg.inception_weights is not None:
            result.update(inception_metrics(np.asarray(samples), np.asarray(images[ref_rows]),
                                            weights_path=cfg.inception_weights, isc_splits=cfg.isc_splits,
                                            batch_size=cfg.embed_batch_size))
        result.update({
            K.KEY_N_SAMPLES: len(samples), K.KEY_N_REFERENCE: len(reference), K.KEY_N_TRAIN: len(train),
            K.KEY_ENCODER: enc.name, K.KEY_ENCODER_INPUT_SIZE: enc.input_size,
        })
        write_details(paths.metric_details_dir(method, seed), replicates, copies.pairs, seed=boot_seed)
        write_json(paths.metrics_file(method, seed), result)
        print(f"  fd {result[K.KEY_FD]:.4g}  precision {result[K.KEY_PRECISION]:.3f}  "
              f"recall {result[K.KEY_RECALL]:.3f}  memorisation {result[K.KEY_MEMORISATION]:.3f} "
              f"(control {result[K.KEY_MEMORISATION_CONTROL]:.3f})  -> {paths.metrics_file(method, seed)}")
