"""The report's encoder-free control: the ranking in the encoder's space beside the ranking in pixel space,
and why Inception FID / Inception Score are absent when they are."""

from __future__ import annotations

from collections.abc import Mapping

from gencurate.config.evaluate import EvaluateConfig
from gencurate.metrics import keys as K
from gencurate.report.markdown import ranking_table
from gencurate.report.summary import rank_methods

PIXEL_FD = K.PIXEL_PREFIX + K.KEY_FD


def pixel_space_section(summary: Mapping, cfg: EvaluateConfig) -> str | None:
    """Markdown: methods ranked by FD in the encoder's space and in pixel space side by side, then the pixel metrics.

    None when the metrics files hold no pixel-space keys (evaluated before the control existed).
    """
    if not summary or not all(PIXEL_FD in stats for stats in summary.values()):
        return None
    by_encoder, by_pixels = rank_methods(summary, K.KEY_FD), rank_methods(summary, PIXEL_FD)
    space = (f"a whitened PCA ({cfg.pixel_pca_components} components, fitted on the train split)"
             if cfg.pixel_pca_components else "raw pixel values in [0, 1]")
    lines = [
        "## Encoder-free control: pixel space",
        (f"The same metrics on the images shrunk to at most {cfg.pixel_size} px a side, flattened, in {space}: "
         "no network, so neither encoder's training data nor the selection encoder's geometry shapes these numbers."),
        "",
        "| rank | by FD (encoder) | by FD (pixels) |",
        "|---|---|---|",
        *(f"| {i} | {a} | {b} |" for i, (a, b) in enumerate(zip(by_encoder, by_pixels), 1)),
        "",
        "The two spaces rank the methods in the same order." if by_encoder == by_pixels else
        "The two spaces rank the methods differently: the verdict depends on the feature space.",
        "",
        ranking_table(summary, by_pixels, [k for k in K.PIXEL_SUMMARY_KEYS if all(k in s for s in summary.values())]),
    ]
    return "\n".join(lines)


def inception_note(summary: Mapping) -> str | None:
    """One sentence when no run has Inception FID / IS, else None."""
    if summary and all(K.KEY_FD_INCEPTION in stats for stats in summary.values()):
        return None
    return ("Inception FID and Inception Score are absent: `evaluate.inception_weights` does not point at "
            "torch-fidelity's Inception weights file (a local path; this metric does not download it).")
