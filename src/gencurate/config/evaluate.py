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
    inception_weights: str | None = None
    batch_size: int = 2048
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
        require(self.batch_size >= 1, "evaluate.batch_size", "must be >= 1")
        require(self.accelerator in ("auto", "cpu", "gpu", "cuda"), "evaluate.accelerator", "must be auto, cpu, gpu or cuda")


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    expected_ranking: tuple[str, ...] = ("full", "typicality", "random", "coreset")
    convergence_tail_fraction: float = 0.34  # last share of a run's curve points whose FD slope is judged
    convergence_noise_multiple: float = 2.0  # FD still falling: drop over that tail > this x the bootstrap std

    def __post_init__(self) -> None:
        require(len(self.expected_ranking) >= 2, "compare.expected_ranking", "list at least two methods (best first)")
        require(
            len(set(self.expected_ranking)) == len(self.expected_ranking), "compare.expected_ranking", "a method is listed twice"
        )
        require(0.0 < self.convergence_tail_fraction <= 1.0, "compare.convergence_tail_fraction", "must be in (0, 1]")
        require(self.convergence_noise_multiple > 0, "compare.convergence_noise_multiple", "must be > 0")
