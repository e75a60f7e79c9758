"""End to end: the real pipeline, on tiny params, in a temporary git + DVC repository.

One module-scoped repository walks through the DVC workflows a user relies on:
`dvc repro` runs every stage; a second `dvc repro` reruns only the always-run weights hash; an evaluate-only param
change reruns only evaluate and compare; `dvc exp run -S` makes an experiment that
`dvc exp show` / `dvc metrics diff` report; `git checkout` + `dvc checkout` restores an
earlier dataset version; and a local DVC remote round-trips every output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
METHODS = ["full", "random", "coreset", "typicality"]


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN / "dvc"), *args], cwd, check)


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd).stdout


def stages_run(out: str) -> set[str]:
    """Stage names (without the @item) that a `dvc repro` output says it ran, minus the always-run
    `weights` stage (a file hash whose unchanged output leaves everything downstream alone)."""
    return {line.split("'")[1].split("@")[0] for line in out.splitlines() if line.startswith("Running stage")} - {"weights"}


def assert_up_to_date(status: str) -> None:
    """`dvc status` lists nothing but the always-changed `weights` stages."""
    lines = [line.strip() for line in status.splitlines() if line.strip()]
    assert all(line.startswith("weights@") or line == "always changed" for line in lines), status


def study_params(params: dict) -> dict:
    """The shared tiny params (`tiny_params_factory`) with this study's image folder, methods and sizes."""
    params["study"] = {"methods": METHODS, "seeds": [0]}
    params["prepare"].update(source="images", image_size=16, channels=1, use_source_split=False,
                             reference_fraction=0.3, workers=1, near_duplicate_distance=-1)
    params["embed"].update(batch_size=64, num_workers=0)
    for role in ("selection", "evaluation"):
        params["encoders"][role]["input_size"] = 32
    params["select"].update(budget=40, knn_k=5)
    # ema_decay 0: the sampled weights are the trained ones, so a changed selection shows in FD.
    params["train"].update(steps=6, batch_size=8, warmup_steps=2, log_every_n_steps=2, ema_decay=0.0,
                           sample_every_n_steps=3, checkpoint_every_n_steps=3, eval_every_n_steps=3,
                           eval_num_samples=8, eval_bootstrap_rounds=3, steps_by_method={"full": 9})
    params["sample"].update(num_samples=24, steps=3, batch_size=12)
    params["evaluate"].update(num_samples=24, kid_subsets=4, kid_subset_size=12, knn_block_size=64,
                              embed_batch_size=64)
    return params


def write_image_folder(root: Path, n_per_class: int = 30) -> None:
    """A small class-per-folder image collection cut from the bundled demo (PNG files)."""
    demo = np.load(REPO_ROOT / "data" / "demo" / "fashion-mnist-subset.npz")
    images, labels, classes = demo["images"], demo["labels"], demo["classes"]
    for label in range(3):
        folder = root / "images" / str(classes[label]).replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(labels == label)[:n_per_class]):
            Image.fromarray(images[i]).save(folder / f"{k:03d}.png")


@pytest.fixture(scope="module")
def study_repo(tmp_path_factory, tiny_params_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    for name in ("dvc.yaml", "pyproject.toml", ".gitignore", ".dvcignore"):
        shutil.copy(REPO_ROOT / name, root / name)
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO_ROOT / "data" / "demo", root / "data" / "demo")
    (root / "reports" / "human").mkdir(parents=True)
    (root / "reports" / "human" / ".gitkeep").touch()
    write_image_folder(root)
    (root / "params.yaml").write_text(yaml.safe_dump(study_params(tiny_params_factory()), sort_keys=False))
    git("init", "-q", cwd=root)
    git("config", "user.email", "ci@example.com", cwd=root)
    git("config", "user.name", "ci", cwd=root)
    dvc("init", "-q", cwd=root)
    dvc("config", "core.analytics", "false", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "tiny study", cwd=root)
    return root


@pytest.mark.slow
def test_dvc_workflows(study_repo: Path, tmp_path: Path) -> None:
    root = study_repo

    # 1. dvc repro runs every stage and writes every declared output.
    dvc("repro", cwd=root)
    for m in METHODS:
        assert (root / "data" / "selections" / f"{m}.txt").is_file()
        assert (root / "models" / m / "seed0" / "model.ckpt").is_file()
        samples = np.load(root / "data" / "samples" / m / "seed0" / "samples.npy")
        assert samples.shape == (24, 16, 16, 1) and samples.dtype == np.uint8
        metrics = json.loads((root / "reports" / "metrics" / m / "seed0.json").read_text())
        assert np.isfinite(metrics["fd"]) and 0.0 <= metrics["precision"] <= 1.0
    assert (root / "reports" / "comparison" / "summary.json").is_file()
    assert "typicality" in (root / "reports" / "comparison" / "comparison.md").read_text()
    git("add", "-A", cwd=root)
    git("commit", "-qm", "first run", cwd=root)
    first = git("rev-parse", "HEAD", cwd=root).strip()
    selection_v1 = (root / "data" / "selections" / "random.txt").read_text()

    # 2. A second repro does nothing.
    out = dvc("repro", cwd=root).stdout
    assert stages_run(out) == set(), out
    assert_up_to_date(dvc("status", cwd=root).stdout)

    # 3. An evaluate-only change reruns only evaluate and compare.
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evaluate"]["seed"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc("repro", cwd=root).stdout
    assert stages_run(out) == {"evaluate", "compare"}, out
    git("add", "-A", cwd=root)
    git("commit", "-qm", "evaluate seed 1", cwd=root)

    # 4. An experiment over the budget is reported by exp show and metrics diff.
    dvc("exp", "run", "-S", "select.budget=30", "-n", "budget30", cwd=root)
    shown = dvc("exp", "show", "--no-pager", "--md", cwd=root).stdout
    assert "budget30" in shown
    diff = dvc("metrics", "diff", "HEAD", "budget30", "--md", cwd=root).stdout
    assert re.search(r"random/seed0\.json\s*\|\s*fd\s", diff), diff
    assert "n_train" in diff, diff
    # `exp run` leaves the experiment's results in the workspace; drop them.
    git("reset", "-q", "--hard", cwd=root)
    dvc("checkout", "-q", "--force", cwd=root)
    assert_up_to_date(dvc("status", cwd=root).stdout)

    # 5. Going back to the first dataset version restores its selections and metrics.
    git("checkout", "-q", first, cwd=root)
    dvc("checkout", "-q", cwd=root)
    assert (root / "data" / "selections" / "random.txt").read_text() == selection_v1
    assert_up_to_date(dvc("status", cwd=root).stdout)
    git("checkout", "-q", "-", cwd=root)
    dvc("checkout", "-q", cwd=root)

    # 6. A local remote: push, fresh clone, pull restores everything; nothing to rerun.
    remote = tmp_path / "remote"
    dvc("remote", "add", "-d", "local", str(remote), cwd=root)
    git("commit", "-qam", "remote", cwd=root)
    dvc("push", "-q", cwd=root)
    clone = tmp_path / "clone"
    git("clone", "-q", str(root), str(clone), cwd=tmp_path)
    dvc("pull", "-q", cwd=clone)
    assert_up_to_date(dvc("status", cwd=clone).stdout)
    out = dvc("repro", cwd=clone).stdout
    assert stages_run(out) == set(), out
    for m in METHODS:
        assert (clone / "models" / m / "seed0" / "model.ckpt").is_file()
