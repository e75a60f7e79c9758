"""Pretrained image encoders (a registry) and images -> L2-normalised embeddings.

    from gencurate.encoders import load_encoder, embed_images, ENCODER_NAMES
    enc = load_encoder("efficientnet-lite0", input_size=96)
    emb = embed_images(enc, images)          # uint8 (N, H, W, C) -> float32 (N, D), unit rows
"""

from gencurate.encoders.base import Encoder, Preprocess
from gencurate.encoders.embedding import embed_images, image_loader, normalise_rows
from gencurate.encoders.registry import ENCODER_NAMES, load_encoder
from gencurate.encoders.weights import WeightsNotFoundError

__all__ = [
    "ENCODER_NAMES", "Encoder", "Preprocess", "WeightsNotFoundError", "embed_images", "image_loader",
    "load_encoder", "normalise_rows",
]
