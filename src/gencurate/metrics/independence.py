"""How independent are the selection and evaluation spaces? Neighbourhood and typicality agreement.

If the evaluation encoder saw the data as the selection encoder does, a metric computed there
would reward the selector's own geometry. Over the train split (what selection picks from), per
pair of spaces:

- k-NN overlap: for each image, the share of its k nearest neighbours (itself excluded) that the
  two spaces have in common; chance level is k / (N - 1);
- the Spearman correlation (scipy) of typicality, 1 / (mean distance to the K nearest neighbours
  + eps), the density score typicality selection ranks by (Hacohen et al. 2022,
  https://arxiv.org/abs/2202.02794).

Each space is searched with the Euclidean distance on its stored rows, i.e. in the geometry it is
used with: on L2-normalised rows (the selection embedding) that is the cosine geometry, on raw
features the one FD and precision/recall use. Pixels (images downsampled to at most
`independence.pixel_size` per side, values in [0, 1]: `gencurate.metrics.pixels.images_to_pixels`)
give an encoder-free third space.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
from scipy.stats import spearmanr

from gencurate.selection.knn import knn_search
from gencurate.selection.typicality import knn_distances_to_typicality

UNIT_NORM_TOLERANCE = 1e-3

# result keys
NEIGHBOURS, TYPICALITY_K, N_IMAGES, SPACES, PAIRS = "neighbours", "typicality_k", "n_images", "spaces", "pairs"
GEOMETRY, DIM = "geometry", "dim"
SPACE_A, SPACE_B, OVERLAP_MEAN, OVERLAP_MEDIAN, OVERLAP_CHANCE, SPEARMAN = (
    "space_a", "space_b", "knn_overlap_mean", "knn_overlap_median", "knn_overlap_chance", "typicality_spearman")


def geometry(x: np.ndarray) -> str:
    """How a space is searched, in words: Euclidean, on unit rows (cosine) or on the stored scale."""
    norms = np.linalg.norm(x, axis=1)
    if np.all(np.abs(norms - 1.0) < UNIT_NORM_TOLERANCE):
        return "Euclidean on L2-normalised rows (cosine)"
    return "Euclidean on raw features"


def knn_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, k), (N, k) neighbour indices -> (N,) share of each row's neighbours found in both."""
    k = a.shape[1]
    both = np.concatenate([a, b], axis=1)
    both.sort(axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(1) / k


def spaces_to_independence(
    spaces: Mapping[str, np.ndarray], *, neighbours: int, typicality_k: int, geometries: Mapping[str, str]
) -> dict:
    """{name: (N, D) float32 rows of the same N images} -> k-NN overlap and typicality Spearman per pair of spaces."""
    sizes = {len(x) for x in spaces.values()}
    if len(sizes) != 1:
        raise ValueError(f"every space needs the same images (rows); got sizes {sorted(sizes)}")
    n = sizes.pop()
    k_search = max(neighbours, typicality_k)
    if n <= k_search:
        raise ValueError(f"{n} train images are too few for {k_search}-NN")
    found = {}
    for name, x in spaces.items():
        dist, idx = knn_search(np.ascontiguousarray(x, dtype=np.float32), k_search, desc=f"k-NN ({name})")
        found[name] = idx[:, :neighbours], knn_distances_to_typicality(dist[:, :typicality_k])
    pairs = []
    for a, b in combinations(spaces, 2):
        overlap = knn_overlap(found[a][0], found[b][0])
        rho = spearmanr(found[a][1], found[b][1]).statistic
        pairs.append({SPACE_A: a, SPACE_B: b, OVERLAP_MEAN: float(overlap.mean()),
                      OVERLAP_MEDIAN: float(np.median(overlap)), OVERLAP_CHANCE: neighbours / (n - 1),
                      SPEARMAN: float(rho)})
    return {
        NEIGHBOURS: neighbours, TYPICALITY_K: typicality_k, N_IMAGES: n,
        SPACES: {name: {GEOMETRY: geometries[name], DIM: int(x.shape[1])} for name, x in spaces.items()},
        PAIRS: pairs,
    }
