"""The compare stage on synthetic metric files: summary numbers, ranking check, report, figures, DVC plots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from gencurate.cli import main as cli
from gencurate.config import load_params
from gencurate.io import write_json
from gencurate.metrics import keys as K
from gencurate.report import layout
from gencurate.stages.compare import human_section

METHODS = ["full", "random", "coreset", "typicality"]
# FD per method and seed: the study's ranking full < typicality < random < coreset, gaps well above the seed spread.
FD = {"full": [1.0, 1.2], "typicality": [2.0, 2.2], "random": [3.0, 3.4], "coreset": [4.0, 4.0]}


# Validation FD by step: full still falls by 0.5 between the last two points (10x the bootstrap std 0.05),
# random moves by 0.02 (flat within noise).
CURVES = {"full": lambda step: 3.0 - step / 400, "random": lambda step: 1.0 + 0.02 * (step == 800)}


def metrics(fd: float, seed: int) -> dict:
    return {
        K.KEY_FD: fd, K.KEY_KID_MEAN: fd / 100, K.KEY_KID_STD: 0.001, K.KEY_PRECISION: 0.5 + seed / 10,
        K.KEY_RECALL: 0.4, K.KEY_DENSITY: 0.9, K.KEY_COVERAGE: 0.7, K.KEY_MEMORISATION: 0.01,
        K.KEY_MEMORISATION_THRESHOLD: 0.2, K.KEY_N_SAMPLES: 100, K.KEY_N_REFERENCE: 100, K.KEY_N_TRAIN: 50,
        K.KEY_ENCODER: "efficientnet-lite2", K.KEY_ENCODER_INPUT_SIZE: 96,
    }


def write_study(fd: dict[str, list[float]], seeds: list[int]) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["study"] = {"methods": METHODS, "seeds": seeds}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    paths = load_params().paths
    rng = np.random.default_rng(0)
    for m in METHODS:
        for i, s in enumerate(seeds):
            write_json(paths.metrics_file(m, s), metrics(fd[m][i], s))
            paths.grid_file(m, s).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (40, 60), dtype=np.uint8)).save(paths.grid_file(m, s))
    for m in ("full", "random"):  # dvclive curves for two methods only
        curve = layout.dvclive_loss(paths, m, seeds[0])
        curve.parent.mkdir(parents=True, exist_ok=True)
        curve.write_text("step\tloss\n" + "".join(f"{k}\t{1 / (k + 1):.4f}\n" for k in range(5)))
    for m, fd_at in CURVES.items():  # validation curves (dvclive eval/) and train summaries for two methods
        for s in seeds:
            eval_dir = layout.dvclive_eval_dir(paths, m, s)
            eval_dir.mkdir(parents=True, exist_ok=True)
            steps = [200, 400, 600, 800]
            for key in ("fd", "precision", "recall"):
                (eval_dir / f"{key}.tsv").write_text(f"step\t{key}\n" + "".join(f"{k}\t{fd_at(k)}\n" for k in steps))
            (eval_dir / "fd_bootstrap_std.tsv").write_text("step\tfd_bootstrap_std\n800\t0.05\n")
            write_json(paths.train_summary(m, s), {"steps": 800 if m == "random" else 2800})
    layout.selection_map(paths).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20)).save(layout.selection_map(paths))


@pytest.fixture()
def project(tmp_path, monkeypatch, repo_root) -> Path:
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(repo_root / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_summary_and_report_of_a_study_whose_ranking_held(project):
    write_study(FD, [0, 1])
    assert cli(["compare"]) == 0
    out = Path(load_params().paths.comparison)
    summary = json.loads((out / layout.SUMMARY_FILE).read_text())
    assert summary["full"][K.KEY_FD] == pytest.approx({"mean": 1.1, "std": np.sqrt(0.02), "n": 2})
    assert summary["coreset"][K.KEY_FD]["std"] == 0.0
    assert summary["random"][K.KEY_PRECISION]["mean"] == pytest.approx(0.55)
    assert K.KEY_MEMORISATION_THRESHOLD not in summary["full"]
    assert summary["ranking"] == {"expected_held": True, "observed_by_fd": "full < typicality < random < coreset"}

    report = (out / layout.REPORT_FILE).read_text()
    rows = [line.split("|")[2].strip() for line in report.splitlines() if line.startswith("| ") and "rank" not in line]
    assert rows[:4] == ["full", "typicality", "random", "coreset"]
    assert "1.1 ± 0.14" in report
    assert "FID ranking (full < typicality < random < coreset, lower is better) held on this run (fd)" in report
    # full -> typicality: gap 1.0, pooled seed std sqrt((0.02 + 0.02) / 2) = 0.141 -> 7.1x
    assert "full -> typicality +1.00 (7.1x the seed spread)" in report
    assert "3 of 3 gaps exceed 2x the seed spread" in report
    assert "[selection map](../selection/map.png)" in report
    assert "No loss curve for: random seed 1" not in report and "coreset seed 0" in report
    for figure in (layout.METRICS_FIGURE, layout.SAMPLES_FIGURE, layout.LOSS_FIGURE):
        assert f"]({figure})" in report
        with Image.open(out / figure) as im:
            assert im.size[0] > 300 and im.size[1] > 200
    assert sorted(p.name for p in (out / layout.LOSS_CURVES).iterdir()) == ["full-seed0.tsv", "random-seed0.tsv"]
    assert "Human preference" not in report
    # convergence: per-run verdicts from the validation curves, per-method labels, the steps column
    assert "| full | 0 | 2800 | 4 | 2.5 → 1 | 0.5 (2 points) | 0.05 | still falling |" in report
    assert "| random | 1 | 800 | 4 | 1 → 1.02 | -0.02 (2 points) | 0.05 | flat within noise |" in report
    assert ("Per method: full: at a fixed budget, still improving; random: at convergence; "
            "coreset: unknown (no usable validation curve); typicality: unknown (no usable validation curve).") in report
    assert "The ranking is **at a fixed budget, still improving**: the validation FD of full was still" in report
    assert summary["convergence"]["full"] == "at a fixed budget, still improving"
    assert [line.split("|")[-2].strip() for line in report.splitlines() if line.startswith("| 1 | full")] == ["2800"]
    assert f"]({layout.FD_CURVES_FIGURE})" in report
    assert sorted(p.name for p in (out / layout.FD_CURVES).iterdir())[:2] == ["full-seed0.tsv", "full-seed1.tsv"]


def test_a_ranking_that_did_not_hold_and_a_single_seed(project):
    write_study({"full": [3.0], "typicality": [1.0], "random": [2.0], "coreset": [4.0]}, [0])
    assert cli(["compare"]) == 0
    out = Path(load_params().paths.comparison)
    report = (out / layout.REPORT_FILE).read_text()
    assert "did not hold on this run (fd): observed typicality < random < full < coreset" in report
    assert "full -> typicality -2.00 (seed spread unknown)" in report
    assert "With one seed per method the seed spread is unknown" in report
    assert json.loads((out / layout.SUMMARY_FILE).read_text())["ranking"]["expected_held"] is False


def test_missing_metrics_file_is_one_clear_line(project, capsys):
    write_study(FD, [0, 1])
    load_params().paths.metrics_file("random", 1).unlink()
    assert cli(["compare"]) == 2
    assert "no metrics for random seed 1; run `gencurate evaluate` first" in capsys.readouterr().err
    assert not Path(load_params().paths.comparison).exists()


def test_human_section_hook_is_none_without_votes(project):
    assert not load_params().paths.votes.exists()
    assert human_section(load_params(), ["full", "random"]) is None


def test_dvc_metrics_and_plots_declare_the_report_files(project):
    """`dvc metrics show` and `dvc plots show` (offline) find summary.json, the PNGs and the loss curves."""
    write_study(FD, [0, 1])
    assert cli(["compare"]) == 0
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run(["git", "init", "-q"], check=True, env=env)
    subprocess.run([dvc, "init", "-q"], check=True, env=env)
    shown = json.loads(subprocess.run([dvc, "metrics", "show", "--json"], check=True, env=env,
                                      capture_output=True, text=True).stdout)
    summary_path = str(Path(load_params().paths.comparison) / layout.SUMMARY_FILE)
    assert shown[""]["data"][summary_path]["data"]["full"][K.KEY_FD]["mean"] == pytest.approx(1.1)
    proc = subprocess.run([dvc, "plots", "show", "--json"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    plots = json.loads(proc.stdout)
    assert not plots.get("errors"), plots.get("errors")
    comparison = load_params().paths.comparison
    expected = {f"{comparison}/{name}" for name in (layout.METRICS_FIGURE, layout.SAMPLES_FIGURE, layout.LOSS_FIGURE)}
    expected |= {f"{comparison}/{layout.LOSS_CURVES}/{m}-seed0.tsv" for m in ("full", "random")}
    expected |= {f"{comparison}/{layout.FD_CURVES_FIGURE}"}
    expected |= {f"{comparison}/{layout.FD_CURVES}/{m}-seed0.tsv" for m in ("full", "random")}
    assert expected <= set(plots["data"])
