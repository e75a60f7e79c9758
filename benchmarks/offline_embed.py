"""How fast `gencurate embed` with the study's encoders fails on a machine that cannot download them.

    .venv/bin/python benchmarks/offline_embed.py [--rounds 3]

In a temporary folder: params.yaml with the README preset's encoders (CLIP ViT-B/32 and DINOv2
ViT-L/14, `weights: null`), four prepared images, and empty HF_HOME / TORCH_HOME caches. Runs
`gencurate embed` (the hub as the machine reaches it) and `GENCURATE_OFFLINE=1 gencurate embed`,
interleaved, and records wall and CPU seconds, exit code and the error line. Only meaningful
on a machine without internet (with internet the first run downloads). The machine may be
shared: the load average is recorded. Results: benchmarks/results/offline_embed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from paper_scale import apply_overrides, readme_preset
from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "offline_embed.json"


def workspace(root: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    preset = readme_preset((ROOT / "README.md").read_text())
    apply_overrides(params, {k: v for k, v in preset.items() if k.startswith("encoders.")})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    prepared = root / params["paths"]["prepared"]
    prepared.mkdir(parents=True)
    np.save(prepared / "images.npy", np.zeros((4, 28, 28, 1), np.uint8))
    pd.DataFrame({"id": np.arange(4), "split": ["train"] * 4}).to_parquet(prepared / "manifest.parquet")


def run(root: Path, offline: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GENCURATE_OFFLINE", "HF_HUB_OFFLINE")}
    env.update(HF_HOME=str(root / "hf"), TORCH_HOME=str(root / "torch"), PYTHONPATH=str(ROOT / "src"))
    if offline:
        env["GENCURATE_OFFLINE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gencurate", "embed"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"GENCURATE_OFFLINE": offline, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "exit_code": proc.returncode, "stderr": proc.stderr.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    machine = provenance()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workspace(root)
        for _ in range(args.rounds):
            for offline in (False, True):
                rows.append(run(root, offline))
                print(json.dumps(rows[-1]), flush=True)
    out = {
        "command": "gencurate embed (both roles; the selection role, CLIP ViT-B/32, fails first)",
        "runs": rows,
        "machine": machine,
        "max_wall_seconds": max(r["wall_seconds"] for r in rows),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "host_note": "offline 2-core machine shared with other jobs (see load averages)",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
