"""The DDPM: network (unet), diffusion math (gaussian), the reverse-process samplers
(reverse_process), Lightning training (module, datamodule, callbacks, training),
self-describing checkpoints and drawing images from them (sampling).

Other parts of gencurate need only `sample_from_checkpoint` and `load_checkpoint`
(neither imports Lightning).
"""

from gencurate.diffusion.checkpoint import load_checkpoint
from gencurate.diffusion.sampling import sample_from_checkpoint

__all__ = ["load_checkpoint", "sample_from_checkpoint"]
