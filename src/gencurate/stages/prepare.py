"""`gencurate prepare`: an image folder / archive / the demo -> images.npy, manifest, rejected, dataset card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gencurate.config import PrepareConfig
from gencurate.data.card import write_dataset_card
from gencurate.data.cleaning import NEAR_DUPLICATE
from gencurate.data.pipeline import prepare_dataset, write_table
from gencurate.data.schema import REFERENCE, REJECTED_REASON, SPLIT
from gencurate.io import atomic_path
from gencurate.npyrows import NpyRows
from gencurate.stages.params_items import stage_params


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    paths, config = params.paths, params.prepare
    prepared = Path(paths.prepared)
    # Build the whole output folder aside and swap it in, so the three files always belong together.
    with atomic_path(prepared, directory=True) as tmp:
        result = prepare_dataset(config, images_path=tmp / paths.images.relative_to(prepared), demo_path=paths.demo)
        write_table(result.manifest, tmp / paths.manifest.relative_to(prepared))
        write_table(result.rejected, tmp / paths.rejected.relative_to(prepared))
    with atomic_path(paths.dataset_card, directory=True) as card_dir:
        write_dataset_card(card_dir, images=NpyRows(paths.images), manifest=result.manifest,
                           rejected=result.rejected, source=result.source, config=config)
    counts = result.manifest[SPLIT].value_counts().to_dict()
    print(f"prepare: kept {len(result.manifest)} images ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), "
          f"removed {len(result.rejected)} -> {paths.prepared}, {paths.dataset_card}")
    n_near = int((result.rejected[REJECTED_REASON] == NEAR_DUPLICATE).sum())
    if warning := near_duplicate_warning(n_near, len(result.manifest) + n_near, config):
        print(warning, file=sys.stderr)
    check_reference_size(counts.get(REFERENCE, 0), params.evaluate.num_samples)


def check_reference_size(n_reference: int, num_samples: int) -> None:
    """The final metrics draw evaluate.num_samples reference images: fail now, not after training."""
    if n_reference < num_samples:
        raise ValueError(
            f"the reference split holds {n_reference} images but evaluate.num_samples is {num_samples}: "
            "lower evaluate.num_samples or prepare.validation_fraction, or raise prepare.reference_fraction"
        )


# A share of near-duplicates above this is more often look-alike pictures than copies.
NEAR_DUPLICATE_WARNING_SHARE = 0.05


def near_duplicate_warning(n_near: int, n_images: int, config: PrepareConfig) -> str | None:
    """One line when near-duplicates are a large share of the decoded, deduplicated images."""
    if n_images == 0 or n_near / n_images <= NEAR_DUPLICATE_WARNING_SHARE:
        return None
    looser = "prepare.near_duplicate_crop: none, " if config.crop_check else ""
    return (f"prepare: warning: {n_near} of {n_images} images ({n_near / n_images:.0%}) were removed as near-duplicates; "
            f"if the dataset card's examples are distinct pictures, set {looser}a lower "
            "prepare.near_duplicate_pixel_distance or prepare.near_duplicate_distance")
