"""The hub files behind `weights: null` for the study's encoders, checked without importing torch.

A stage calls `check_weights_reachable` before it imports torch and the model library
(which alone take seconds), so a machine that cannot download gets its one-line error at
once. The loaders then resolve the same files through the libraries themselves.
"""

from __future__ import annotations

from gencurate.encoders.weights import cached_hf_file, ensure_downloadable, hf_file_url, is_local_file_setting

# open_clip's file names in a Hugging Face repo (open_clip.constants), safetensors first as open_clip asks.
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
# timm's file name in a Hugging Face repo (what timm.create_model(pretrained=True) fetches).
TIMM_FILE = "model.safetensors"
CLIP_DEFAULT_TAG = "openai"
# torch-fidelity's release URL of its FID Inception weights (feature_extractor_inceptionv3.URL_INCEPTION_V3).
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"

# (encoder name, weights setting) -> (repo id, file names in the order the library asks for them).
# tests/test_hub_download.py checks these against open_clip's, timm's and torch-fidelity's own constants.
HUB_FILES: dict[tuple[str, str | None], tuple[str, tuple[str, ...]]] = {
    ("clip-vit-b-32", None): ("timm/vit_base_patch32_clip_224.openai", OPEN_CLIP_FILES),
    ("clip-vit-b-32", CLIP_DEFAULT_TAG): ("timm/vit_base_patch32_clip_224.openai", OPEN_CLIP_FILES),
    ("dinov2-vit-s-14", None): ("timm/vit_small_patch14_dinov2.lvd142m", (TIMM_FILE,)),
    ("dinov2-vit-l-14", None): ("timm/vit_large_patch14_dinov2.lvd142m", (TIMM_FILE,)),
}


def hub_file_phrase(repo_id: str, filename: str) -> str:
    return f"{filename} of hf-hub:{repo_id}"


def check_weights_reachable(name: str, weights: str | None) -> None:
    """Raise the one-line `WeightsNotFoundError` if `weights` needs a hub download that cannot happen.

    Only the sources listed in HUB_FILES are checked here; local files, packaged weights and
    other tags are checked by their loaders.
    """
    if is_local_file_setting(weights) or (name, weights) not in HUB_FILES:
        return
    repo_id, filenames = HUB_FILES[(name, weights)]
    if cached_hf_file(repo_id, filenames) is None:
        ensure_downloadable(model=name, what=hub_file_phrase(repo_id, filenames[0]), url=hf_file_url(repo_id, filenames[0]))
