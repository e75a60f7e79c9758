"""Pretrained image encoders (a registry) and images -> L2-normalised embeddings.

    from gencurate.encoders import load_encoder, embed_images, ENCODER_NAMES
    enc = load_encoder("efficientnet-lite0", weights=None, input_size=96, device="cpu")
    emb = embed_images(enc, images, batch_size=128, num_workers=0)  # uint8 (N, H, W, C) -> float32 (N, D), unit rows

The names below are imported on first use, so the torch-free modules (`weights`, `sources`)
can check weights before torch and the model libraries are imported.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Encoder": "gencurate.encoders.base",
    "Preprocess": "gencurate.encoders.base",
    "embed_images": "gencurate.encoders.embedding",
    "image_loader": "gencurate.encoders.embedding",
    "normalise_rows": "gencurate.encoders.embedding",
    "ENCODER_NAMES": "gencurate.encoders.registry",
    "load_encoder": "gencurate.encoders.registry",
    "WeightsNotFoundError": "gencurate.encoders.weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
