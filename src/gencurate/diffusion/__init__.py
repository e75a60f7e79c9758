"""The DDPM: network (unet), diffusion math (gaussian), samplers, Lightning training
(module, datamodule, callbacks, training), self-describing checkpoints and sampling.

Other parts of gencurate need only `sample_from_checkpoint` and `load_checkpoint`
(neither imports Lightning).
"""

from gencurate.diffusion.checkpoint import load_checkpoint
from gencurate.diffusion.sampling import sample_from_checkpoint

__all__ = ["load_checkpoint", "sample_from_checkpoint"]
