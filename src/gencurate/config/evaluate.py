"""The `evaluate` and `compare` sections."""

from __future__ import annotations

from dataclasses import dataclass

from gencurate.config.strict import require


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig:
    num_samples: int = 1000
    kid_subsets: int = 50
    kid_subset_size: int = 500
    prc_k: int = 3
    dc_k: int = 5
    memorisation_quantile: float = 0.05
    memorisation_pairs: int = 16
    bootstrap_resamples: int = 200
    inception_weights: str | None = None
    isc_splits: int = 10                    # Inception Score: mean and std over this many splits (Salimans et al. 2016)
    fd_infinity_sizes: int = 5              # subset sizes of the FD-infinity fit (Chong & Forsyth 2020)
    fd_infinity_min_fraction: float = 0.25  # smallest subset, as a fraction of each set
    pixel_size: int = 32                    # pixel-space control: images shrunk to at most this side
    pixel_pca_components: int = 64          # whitened PCA dims fitted on train-split pixels; 0 = raw pixels
    pixel_pca_fit_images: int = 10000       # at most this many train images (seeded choice) fit the PCA
    knn_block_size: int = 2048              # k-NN distance blocks of this side: memory ~ its square in floats
    embed_batch_size: int = 128             # samples per encoder batch (features do not depend on it)
    accelerator: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.num_samples >= 2, "evaluate.num_samples", "must be >= 2")
        require(self.kid_subsets >= 1, "evaluate.kid_subsets", "must be >= 1")
        require(2 <= self.kid_subset_size <= self.num_samples, "evaluate.kid_subset_size", "must be in [2, evaluate.num_samples]")
        require(self.prc_k >= 1, "evaluate.prc_k", "must be >= 1")
        require(self.dc_k >= 1, "evaluate.dc_k", "must be >= 1")
        require(
            self.num_samples > max(self.prc_k, self.dc_k), "evaluate.num_samples",
            "must exceed evaluate.prc_k and evaluate.dc_k (k-NN balls need k + 1 points)",
        )
        require(0.0 < self.memorisation_quantile < 1.0, "evaluate.memorisation_quantile", "must be in (0, 1)")
        require(self.memorisation_pairs >= 1, "evaluate.memorisation_pairs", "must be >= 1")
        require(self.bootstrap_resamples >= 2, "evaluate.bootstrap_resamples", "must be >= 2")
        require(self.knn_block_size >= 1, "evaluate.knn_block_size", "must be >= 1")
        require(self.embed_batch_size >= 1, "evaluate.embed_batch_size", "must be >= 1")
        require(self.isc_splits >= 1, "evaluate.isc_splits", "must be >= 1")
        # Only Inception Score splits the samples; without its weights the value is unused.
        require(self.inception_weights is None or self.isc_splits <= self.num_samples, "evaluate.isc_splits",
                "must not exceed evaluate.num_samples")
        require(self.fd_infinity_sizes >= 5, "evaluate.fd_infinity_sizes", "must be >= 5 (a line through fewer FDs is fragile)")
        require(0.0 < self.fd_infinity_min_fraction < 1.0, "evaluate.fd_infinity_min_fraction", "must be in (0, 1)")
        require(
            round(self.fd_infinity_min_fraction * self.num_samples) >= 2, "evaluate.fd_infinity_min_fraction",
            "times evaluate.num_samples must be >= 2 (FD needs 2 samples)",
        )
        require(self.pixel_size >= 1, "evaluate.pixel_size", "must be >= 1")
        require(self.pixel_pca_components >= 0, "evaluate.pixel_pca_components", "must be >= 0 (0 = raw pixels)")
        require(
            self.pixel_pca_fit_images > self.pixel_pca_components, "evaluate.pixel_pca_fit_images",
            "must exceed evaluate.pixel_pca_components",
        )
        require(self.accelerator in ("auto", "cpu", "gpu", "cuda"), "evaluate.accelerator", "must be auto, cpu, gpu or cuda")


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    expected_ranking: tuple[str, ...] = ("full", "typicality", "random", "coreset")
    bootstrap_draws: int = 2000
    confidence: float = 0.95
    seed: int = 0
    convergence_tail_fraction: float = 0.34  # last share of a run's curve points whose FD slope is judged
    convergence_noise_multiple: float = 2.0  # FD still falling: drop over that tail > this x the bootstrap std

    def __post_init__(self) -> None:
        require(len(self.expected_ranking) >= 2, "compare.expected_ranking", "list at least two methods (best first)")
        require(
            len(set(self.expected_ranking)) == len(self.expected_ranking), "compare.expected_ranking", "a method is listed twice"
        )
        require(self.bootstrap_draws >= 100, "compare.bootstrap_draws", "must be >= 100")
        require(0.5 <= self.confidence < 1.0, "compare.confidence", "must be in [0.5, 1)")
        require(0.0 < self.convergence_tail_fraction <= 1.0, "compare.convergence_tail_fraction", "must be in (0, 1]")
        require(self.convergence_noise_multiple > 0, "compare.convergence_noise_multiple", "must be > 0")
