"""The report's pixel-space section and the Inception note, on hand-made summaries."""

from __future__ import annotations

import pandas as pd

from gencurate.config.evaluate import EvaluateConfig
from gencurate.metrics import keys as K
from gencurate.report.markdown import comparison_markdown
from gencurate.report.spaces import inception_note, pixel_space_section
from gencurate.report.summary import METHOD, SEED, metrics_to_summary

PIXEL_FD = K.PIXEL_PREFIX + K.KEY_FD


def summary(fd: dict[str, float], pixel_fd: dict[str, float] | None, inception: bool = False) -> dict:
    rows = []
    for method in fd:
        for seed in (0, 1):
            row = {METHOD: method, SEED: seed, K.KEY_FD: fd[method] + seed / 100, K.KEY_KID_X1E3: 2.0}
            if pixel_fd is not None:
                row.update({PIXEL_FD: pixel_fd[method] + seed / 100, K.PIXEL_PREFIX + K.KEY_PRECISION: 0.5})
            if inception:
                row.update({K.KEY_FD_INCEPTION: 10.0, K.KEY_INCEPTION_SCORE: 3.0})
            rows.append(row)
    return metrics_to_summary(pd.DataFrame(rows), (*K.SUMMARY_KEYS, *K.PIXEL_SUMMARY_KEYS))


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]


def test_pixel_section_ranks_both_spaces_side_by_side_and_says_whether_they_agree():
    cfg = EvaluateConfig()
    agree = pixel_space_section(summary({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 10.0, "b": 20.0, "c": 30.0}), cfg)
    assert table_rows(agree)[1:4] == [["1", "a", "a"], ["2", "b", "b"], ["3", "c", "c"]]
    assert "same order" in agree and f"at most {cfg.pixel_size} px" in agree and "whitened PCA (64 components" in agree
    differ = pixel_space_section(summary({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 30.0, "b": 20.0, "c": 10.0}),
                                 EvaluateConfig(pixel_pca_components=0))
    assert table_rows(differ)[1:4] == [["1", "a", "c"], ["2", "b", "b"], ["3", "c", "a"]]
    assert "rank the methods differently" in differ and "raw pixel values" in differ
    assert "pixel FD" in differ and "pixel precision" in differ  # the pixel metrics table, labelled
    assert pixel_space_section(summary({"a": 1.0}, None), cfg) is None  # metrics files from before the control


def test_inception_note_says_why_the_inception_keys_are_absent():
    note = inception_note(summary({"a": 1.0, "b": 2.0}, None))
    assert "evaluate.inception_weights" in note and note.count(".") >= 1 and "\n" not in note
    assert inception_note(summary({"a": 1.0, "b": 2.0}, None, inception=True)) is None


def test_sections_follow_the_ranking_in_the_report_and_new_keys_are_labelled():
    s = summary({"a": 1.0, "b": 2.0}, {"a": 10.0, "b": 20.0})
    text = comparison_markdown(
        summary=s, ranking=["a", "b"], keys=[K.KEY_FD, K.KEY_KID_X1E3], ranking_text="R.", setup_text="S.",
        metrics_figure="m.png", samples_figure="s.png", loss_figure=None, selection_map=None, human=None,
        sections=["## Extra section"],
    )
    assert text.index("## Ranking by FD") < text.index("## Extra section") < text.index("## Samples")
    assert "KID ×10³ ↓" in text
