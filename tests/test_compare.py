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
from gencurate.stages.compare import human_markdown

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
        K.KEY_MEMORISATION_CONTROL: 0.02, K.KEY_MEMORISATION_EXCESS: -0.01, K.KEY_COPY_SSIM: 0.3, K.KEY_COPY_PSNR: 15.0,
    }


def write_details(paths, method: str, seed: int, fd: float, rng: np.random.Generator, *, noise: float) -> None:
    """Bootstrap replicates (FD around `fd` with spread `noise`, other metrics constant) and 3 closest pairs."""
    values = metrics(fd, seed)
    reps = {k: [values[k]] * 200 for k in (K.KEY_KID_MEAN, K.KEY_PRECISION, K.KEY_RECALL, K.KEY_DENSITY,
                                           K.KEY_COVERAGE, K.KEY_MEMORISATION, K.KEY_MEMORISATION_CONTROL,
                                           K.KEY_MEMORISATION_EXCESS)}
    reps[K.KEY_FD] = list(fd + 0.3 + noise * rng.normal(size=200))  # an upward bootstrap bias that compare removes
    write_json(paths.bootstrap_file(method, seed), {"seed": [0], "replicates": reps})
    images = rng.integers(0, 256, (3, 8, 8, 1), dtype=np.uint8)
    with open(paths.pairs_file(method, seed), "wb") as f:
        np.savez(f, samples=images, train=images, sample_index=np.arange(3), train_id=np.arange(3) + 10,
                 distance=np.array([0.1, 0.2, 0.3]) + seed, ssim=np.ones(3), psnr=np.full(3, 48.0))


def write_study(fd: dict[str, list[float]], seeds: list[int], *, noise: float = 0.05) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["study"] = {"methods": METHODS, "seeds": seeds}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    paths = load_params().paths
    rng = np.random.default_rng(0)
    for m in METHODS:
        for i, s in enumerate(seeds):
            write_json(paths.metrics_file(m, s), metrics(fd[m][i], s))
            write_details(paths, m, s, fd[m][i], rng, noise=noise)
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
    full_fd = summary["full"][K.KEY_FD]
    assert {k: full_fd[k] for k in ("mean", "std", "n")} == pytest.approx({"mean": 1.1, "std": np.sqrt(0.02), "n": 2})
    # Seeds resampled (1.0 or 1.2 each), replicates recentred on each run's FD (the +0.3 bias removed).
    assert 0.9 < full_fd["ci_low"] < 1.05 and 1.15 < full_fd["ci_high"] < 1.3
    assert summary["coreset"][K.KEY_FD]["std"] == 0.0
    assert summary["random"][K.KEY_PRECISION]["mean"] == pytest.approx(0.55)
    assert K.KEY_MEMORISATION_THRESHOLD not in summary["full"]
    assert summary["ranking"] == {
        "expected_held": True, "observed_by_fd": "full < typicality < random < coreset",
        "claims": {"full < typicality": "held", "typicality < random": "held", "random < coreset": "held"},
    }
    pair = summary["pairwise_fd"]["full vs coreset"]
    assert pair["share_a_better"] == 1.0 and pair["verdict"] == "full better" and pair["difference_ci_low"] > 2

    report = (out / layout.REPORT_FILE).read_text()
    rows = [line.split("|")[2].strip() for line in report.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert rows[:4] == ["full", "typicality", "random", "coreset"]
    assert f"1.1 [{full_fd['ci_low']:.3g}, {full_fd['ci_high']:.3g}]" in report
    assert "In all 3 held, 0 failed and 0 could not be decided." in report
    assert "full < typicality held (full better by +1" in report
    assert report.index("**Verdict.**") < report.index("## Ranking by FD")
    assert "| full | coreset | +2.9 |" in report
    assert "## Memorisation" in report and "| full | 0.010 [0.010, 0.010] | 0.020" in report
    assert "No independence measurement" in report
    assert "[selection map](../selection/map.png)" in report
    assert "No loss curve for: random seed 1" not in report and "coreset seed 0" in report
    for figure in (layout.METRICS_FIGURE, layout.SAMPLES_FIGURE, layout.LOSS_FIGURE, layout.copies_figure("full")):
        assert f"]({figure})" in report
        with Image.open(out / figure) as im:
            assert im.size[0] > 300 and im.size[1] > 100
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
    assert "full < typicality failed (full better by -2" in report
    assert "In all 2 held, 1 failed and 0 could not be decided." in report
    assert "is typicality < random < full < coreset" in report
    assert "the intervals cover sample noise only" in report
    ranking = json.loads((out / layout.SUMMARY_FILE).read_text())["ranking"]
    assert ranking["expected_held"] is False and ranking["claims"]["full < typicality"] == "failed"


def test_close_methods_are_indistinguishable_and_no_order_is_stated(project):
    write_study({"full": [1.0, 1.2], "typicality": [1.05, 1.15], "random": [3.0, 3.4], "coreset": [4.0, 4.0]},
                [0, 1], noise=0.1)
    assert cli(["compare"]) == 0
    out = Path(load_params().paths.comparison)
    summary = json.loads((out / layout.SUMMARY_FILE).read_text())
    assert summary["ranking"]["claims"]["full < typicality"] == "could not be decided"
    assert summary["pairwise_fd"]["full vs typicality"]["verdict"] == "indistinguishable at this sample size"
    report = (out / layout.REPORT_FILE).read_text()
    assert "full < typicality could not be decided" in report
    assert "| full | typicality |" in report and "indistinguishable at this sample size |" in report


def test_missing_metrics_file_is_one_clear_line(project, capsys):
    write_study(FD, [0, 1])
    load_params().paths.metrics_file("random", 1).unlink()
    assert cli(["compare"]) == 2
    assert "no metrics for random seed 1; run `gencurate evaluate` first" in capsys.readouterr().err
    assert not Path(load_params().paths.comparison).exists()


def test_human_markdown_is_none_without_votes(project):
    assert not load_params().paths.votes.exists()
    assert human_markdown(load_params(), ["full", "random"]) is None


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
