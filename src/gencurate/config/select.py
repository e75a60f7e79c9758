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
    knn_nlist: int | None = None  # None: exact k-NN; else a faiss IVF index with this many lists
    knn_nprobe: int = 4

    def __post_init__(self) -> None:
        require(self.budget >= 1, "select.budget", "must be >= 1")
        require(self.knn_k >= 1, "select.knn_k", "must be >= 1")
        require(self.diversity_strength >= 0, "select.diversity_strength", "must be >= 0")
        require(self.typiclust_min_cluster_size >= 1, "select.typiclust_min_cluster_size", "must be >= 1")
        require(self.knn_nlist is None or self.knn_nlist >= 1, "select.knn_nlist", "must be null (exact) or >= 1")
        require(self.knn_nprobe >= 1, "select.knn_nprobe", "must be >= 1")
        require(self.knn_nlist is None or self.knn_nprobe <= self.knn_nlist, "select.knn_nprobe",
                f"must be <= select.knn_nlist ({self.knn_nlist})")
