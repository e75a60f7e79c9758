"""params.yaml, parsed once into typed dataclasses (one module per section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gencurate.config.embed import EmbedConfig, EncoderConfig, EncodersConfig
from gencurate.config.evaluate import CompareConfig, EvaluateConfig
from gencurate.config.independence import IndependenceConfig
from gencurate.config.paths import PathsConfig
from gencurate.config.prepare import PrepareConfig
from gencurate.config.sample import SampleConfig
from gencurate.config.select import SelectConfig
from gencurate.config.strict import ParamsError, from_mapping, require, to_mapping
from gencurate.config.study import StudyConfig
from gencurate.config.train import DiffusionConfig, TrainConfig, UNetConfig, unet_level_sides

PARAMS_FILE = "params.yaml"

__all__ = [
    "PARAMS_FILE", "CompareConfig", "DiffusionConfig", "EmbedConfig", "EncoderConfig", "EncodersConfig",
    "EvaluateConfig", "Params", "ParamsError", "PathsConfig", "PrepareConfig", "SampleConfig",
    "SelectConfig", "StudyConfig", "TrainConfig", "UNetConfig", "load_params", "params_from_mapping",
    "to_mapping",
]


@dataclass(frozen=True, kw_only=True)
class Params:
    paths: PathsConfig = field(default_factory=PathsConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    encoders: EncodersConfig = field(default_factory=EncodersConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    independence: IndependenceConfig = field(default_factory=IndependenceConfig)

    def __post_init__(self) -> None:
        require(
            self.evaluate.num_samples <= self.sample.num_samples,
            "evaluate.num_samples",
            f"must not exceed sample.num_samples ({self.sample.num_samples})",
        )
        for method in self.train.steps_by_method:
            require(method in self.study.methods, f"train.steps_by_method.{method}",
                    f"is not in study.methods ({', '.join(self.study.methods)})")
        require(self.train.eval_num_samples > self.evaluate.prc_k, "train.eval_num_samples",
                f"must exceed evaluate.prc_k ({self.evaluate.prc_k}): precision/recall need k + 1 samples")
        sides = unet_level_sides(self.prepare.image_size, len(self.train.unet.channel_mults))
        for side in self.train.unet.attention_resolutions:
            require(side in sides, "train.unet.attention_resolutions",
                    f"{side} is not a feature-map side of the UNet at prepare.image_size {self.prepare.image_size} "
                    f"(reachable: {', '.join(map(str, sides))})")


def params_from_mapping(data: dict) -> Params:
    """Typed params from an already-parsed YAML mapping (tests use this)."""
    return from_mapping(Params, data, "")


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Parse params.yaml once; every problem is a one-line `ParamsError`."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: not found; run gencurate from the directory holding params.yaml")
    with path.open() as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise ParamsError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    return params_from_mapping(data or {})

