"""The `embed` and `encoders` sections."""

from __future__ import annotations

from dataclasses import dataclass, field

from gencurate.config.strict import require

ENCODER_ROLES = ("selection", "evaluation")
# Roles whose embeddings are stored as unit rows: selection works in cosine geometry; FD, KID
# and precision/recall are defined on the evaluation network's raw pooled features.
NORMALISED_ROLES = ("selection",)
# The registry's names (gencurate.encoders.registry checks it serves exactly these), kept
# here so parsing params.yaml does not import torch.
ENCODER_NAMES = (
    "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
    "clip-vit-b-32", "dinov2-vit-s-14", "dinov2-vit-l-14", "inception-fid",
)
# Smallest side an encoder is fed (`encoders.*.input_size`; load_encoder checks the same).
MIN_INPUT_SIZE = 32


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    """One encoder role; maps 1:1 onto `gencurate.encoders.load_encoder(name, weights=, input_size=)`."""

    name: str = "efficientnet-lite0"
    weights: str | None = None      # a local weights file (CLIP: also an open_clip tag); null = the default source
    input_size: int | None = 96     # side the network sees; null = the encoder's native size

    def __post_init__(self) -> None:
        require(self.name in ENCODER_NAMES, "encoders.*.name", f"unknown encoder {self.name!r}; valid: {', '.join(ENCODER_NAMES)}")
        require(self.input_size is None or self.input_size >= MIN_INPUT_SIZE, "encoders.*.input_size",
                f"must be >= {MIN_INPUT_SIZE} or null")


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
    accelerator: str = "auto"       # Lightning Trainer.predict: auto = CUDA if visible, else CPU
    devices: int = 1                # per node
    num_nodes: int = 1              # > 1: paths.embeddings must be on a filesystem every node sees
    strategy: str = "auto"          # e.g. ddp / ddp_spawn for several devices or CPU processes

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "embed.batch_size", "must be >= 1")
        require(self.num_workers >= 0, "embed.num_workers", "must be >= 0")
        require(self.devices >= 1, "embed.devices", "must be >= 1")
        require(self.num_nodes >= 1, "embed.num_nodes", "must be >= 1")
