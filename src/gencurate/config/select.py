"""The `select` section."""

from __future__ import annotations

from dataclasses import dataclass

from gencurate.config.strict import require


@dataclass(frozen=True, kw_only=True)
class SelectConfig:
    budget: int = 1000
    seed: int = 0
    knn_k: int = 20
    diversity_strength: float = 1.0
    typiclust_min_cluster_size: int = 5

    def __post_init__(self) -> None:
        require(self.budget >= 1, "select.budget", "must be >= 1")
        require(self.knn_k >= 1, "select.knn_k", "must be >= 1")
        require(self.diversity_strength >= 0, "select.diversity_strength", "must be >= 0")
        require(self.typiclust_min_cluster_size >= 1, "select.typiclust_min_cluster_size", "must be >= 1")
