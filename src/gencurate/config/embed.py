"""The `embed` and `encoders` sections."""

from __future__ import annotations

from dataclasses import dataclass, field

from gencurate.config.strict import require

ENCODER_ROLES = ("selection", "evaluation")


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    name: str = "efficientnet-lite0"
    weights: str | None = None
    input_size: int = 96

    def __post_init__(self) -> None:
        require(self.input_size >= 32, "encoders.*.input_size", "must be >= 32")


@dataclass(frozen=True, kw_only=True)
class EncodersConfig:
    selection: EncoderConfig = field(default_factory=EncoderConfig)
    evaluation: EncoderConfig = field(default_factory=lambda: EncoderConfig(name="efficientnet-lite2"))

    def role(self, role: str) -> EncoderConfig:
        require(role in ENCODER_ROLES, "encoders", f"unknown role {role!r}; valid: {', '.join(ENCODER_ROLES)}")
        return getattr(self, role)


@dataclass(frozen=True, kw_only=True)
class EmbedConfig:
    batch_size: int = 128
    num_workers: int = 1
    accelerator: str = "auto"
    devices: int = 1

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "embed.batch_size", "must be >= 1")
        require(self.num_workers >= 0, "embed.num_workers", "must be >= 0")
        require(self.devices >= 1, "embed.devices", "must be >= 1")
