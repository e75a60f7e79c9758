"""Generative-model metrics on feature arrays (one file per metric, torch-fidelity style).

Pure functions of (N, D) features, so users can pass precomputed features:
`fd_features_to_metric`, `kid_features_to_metric`, `prc_features_to_metric`,
`dc_features_to_metric`, `memorisation_features_to_metric`, `fd_infinity_features_to_metric`,
or all at once with `features_to_metrics`; `pixels` gives the encoder-free pixel features.
k-NN distances are blocked float32 Euclidean (`knn_distances`), never an N x N matrix.
`gencurate.metrics.fidelity` runs torch-fidelity itself on images (parity and Inception FID).
"""

from gencurate.metrics.dc import dc_features_to_metric
from gencurate.metrics.fd import fd_features_to_metric, fd_features_to_statistics, fd_statistics_to_metric
from gencurate.metrics.fd_infinity import fd_infinity_features_to_metric
from gencurate.metrics.kid import kid_features_to_metric
from gencurate.metrics.knn_distances import ball_statistics, knn_radii, nearest_distances
from gencurate.metrics.memorisation import memorisation_features_to_metric
from gencurate.metrics.prc import prc_features_to_metric
from gencurate.metrics.suite import features_to_metrics

__all__ = [
    "ball_statistics", "dc_features_to_metric", "fd_features_to_metric", "fd_features_to_statistics",
    "fd_statistics_to_metric", "fd_infinity_features_to_metric", "features_to_metrics", "kid_features_to_metric", "knn_radii",
    "memorisation_features_to_metric", "nearest_distances", "prc_features_to_metric",
]
