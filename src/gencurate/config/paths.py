"""The `paths` section: every output location, named once.

dvc.yaml reads the same values through `${paths.*}`; the per-item layouts below
(`<method>/seed<s>`) are mirrored there and checked by tests/test_dvc_yaml.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGES_FILE = "images.npy"
MANIFEST_FILE = "manifest.parquet"
REJECTED_FILE = "rejected.parquet"
CHECKPOINT_FILE = "model.ckpt"
SAMPLES_FILE = "samples.npy"
GRID_FILE = "grid.png"
BOOTSTRAP_FILE = "bootstrap.json"
PAIRS_FILE = "pairs.npz"
INDEPENDENCE_FILE = "independence.json"
TRAIN_SUMMARY_FILE = "train.json"  # in train_log_dir: the steps a run trained (from its checkpoint)


@dataclass(frozen=True, kw_only=True)
class PathsConfig:
    demo: str = "data/demo/fashion-mnist-subset.npz"
    prepared: str = "data/prepared"
    dataset_card: str = "reports/dataset"
    embeddings: str = "data/embeddings"
    selections: str = "data/selections"
    selection_report: str = "reports/selection"
    models: str = "models"
    train_logs: str = "reports/train"
    samples: str = "data/samples"
    metrics: str = "reports/metrics"
    metric_details: str = "data/metric_details"
    independence: str = "reports/independence"
    comparison: str = "reports/comparison"
    human: str = "reports/human"

    # prepare
    @property
    def images(self) -> Path:
        return Path(self.prepared) / IMAGES_FILE

    @property
    def manifest(self) -> Path:
        return Path(self.prepared) / MANIFEST_FILE

    @property
    def rejected(self) -> Path:
        return Path(self.prepared) / REJECTED_FILE

    # embed: one array per encoder role ("selection" or "evaluation")
    def embedding(self, role: str) -> Path:
        return Path(self.embeddings) / f"{role}.npy"

    def embedding_meta(self, role: str) -> Path:
        return Path(self.embeddings) / f"{role}.json"

    def weights_identity(self, role: str) -> Path:
        return Path(self.embeddings) / f"{role}-weights.json"

    # select
    def selection(self, method: str) -> Path:
        return Path(self.selections) / f"{method}.txt"

    # train / sample / evaluate: one directory or file per (method, seed)
    def model_dir(self, method: str, seed: int) -> Path:
        return Path(self.models) / method / f"seed{seed}"

    def checkpoint(self, method: str, seed: int) -> Path:
        return self.model_dir(method, seed) / CHECKPOINT_FILE

    def train_log_dir(self, method: str, seed: int) -> Path:
        return Path(self.train_logs) / method / f"seed{seed}"

    def train_summary(self, method: str, seed: int) -> Path:
        return self.train_log_dir(method, seed) / TRAIN_SUMMARY_FILE

    def samples_dir(self, method: str, seed: int) -> Path:
        return Path(self.samples) / method / f"seed{seed}"

    def samples_file(self, method: str, seed: int) -> Path:
        return self.samples_dir(method, seed) / SAMPLES_FILE

    def grid_file(self, method: str, seed: int) -> Path:
        return self.samples_dir(method, seed) / GRID_FILE

    def metrics_file(self, method: str, seed: int) -> Path:
        return Path(self.metrics) / method / f"seed{seed}.json"

    def metric_details_dir(self, method: str, seed: int) -> Path:
        return Path(self.metric_details) / method / f"seed{seed}"

    def bootstrap_file(self, method: str, seed: int) -> Path:
        return self.metric_details_dir(method, seed) / BOOTSTRAP_FILE

    def pairs_file(self, method: str, seed: int) -> Path:
        return self.metric_details_dir(method, seed) / PAIRS_FILE

    @property
    def independence_file(self) -> Path:
        return Path(self.independence) / INDEPENDENCE_FILE

    @property
    def votes(self) -> Path:
        return Path(self.human) / "votes.csv"
