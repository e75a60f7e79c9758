"""The `select` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    # How `<method>+balanced` entries of study.methods split the budget: equally over the manifest's
    # classes (labels; k-means clusters when it has none) or over k-means clusters; none refuses them.
    balance: Literal["none", "labels", "clusters"] = "labels"
    clusters: int = 10  # k-means groups of balance: clusters, of prototypes, and of the report without labels
    prototypes_keep: Literal["easy", "hard"] = "easy"  # nearest to / farthest from their k-means centroid
    typicality_radius: Literal["knn_median", "budget"] = "knn_median"
    drop_outliers: float = 0.0  # share of least typical train images removed before any method
    semdedup_threshold: float | None = None  # cosine similarity; None: SemDeDup off
    semdedup_clusters: int = 10  # k-means clusters within which SemDeDup compares
    map_tsne_max: int = 5000  # the selection map is a t-SNE up to this many train images, PCA above

    def method_options(self) -> dict:
        """The keyword arguments `gencurate.selection.select` / `select_balanced` take from this section."""
        return dict(seed=self.seed, knn_k=self.knn_k, diversity_strength=self.diversity_strength,
                    min_cluster_size=self.typiclust_min_cluster_size, radius_rule=self.typicality_radius,
                    n_clusters=self.clusters, prototypes_keep=self.prototypes_keep)

    def __post_init__(self) -> None:
        require(self.budget >= 1, "select.budget", "must be >= 1")
        require(self.knn_k >= 1, "select.knn_k", "must be >= 1")
        require(self.diversity_strength >= 0, "select.diversity_strength", "must be >= 0")
        require(self.typiclust_min_cluster_size >= 1, "select.typiclust_min_cluster_size", "must be >= 1")
        require(self.knn_nlist is None or self.knn_nlist >= 1, "select.knn_nlist", "must be null (exact) or >= 1")
        require(self.knn_nprobe >= 1, "select.knn_nprobe", "must be >= 1")
        require(self.knn_nlist is None or self.knn_nprobe <= self.knn_nlist, "select.knn_nprobe",
                f"must be <= select.knn_nlist ({self.knn_nlist})")
        require(self.clusters >= 1, "select.clusters", "must be >= 1")
        require(0.0 <= self.drop_outliers < 1.0, "select.drop_outliers", "must be in [0, 1)")
        require(self.semdedup_threshold is None or -1.0 < self.semdedup_threshold < 1.0, "select.semdedup_threshold",
                "must be null (off) or a cosine similarity in (-1, 1)")
        require(self.semdedup_clusters >= 1, "select.semdedup_clusters", "must be >= 1")
        require(self.map_tsne_max >= 0, "select.map_tsne_max", "must be >= 0 (0: always PCA)")
