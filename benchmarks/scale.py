"""Scale: peak memory and wall time of prepare + embed on 10k/50k/200k images, and selection at 1M x 512.

    flock /tmp/gencurate-cpu.lock .venv/bin/python benchmarks/scale.py --parts prepare-embed   # ~5 min
    flock /tmp/gencurate-cpu.lock .venv/bin/python benchmarks/scale.py --parts coreset         # ~7 min
    flock /tmp/gencurate-cpu.lock .venv/bin/python benchmarks/scale.py --parts typicality      # ~30 min
    .venv/bin/python benchmarks/scale.py --quick    # small sizes, output to a temp file, to check the script

prepare-embed: generates distinct smooth 32x32 RGB PNGs (upsampled 8x8 noise, 10 class
folders, written by a process per core) once for the largest size; each size gets a folder
of hard links to its first N files. For each size, the real stage commands `gencurate
prepare` and `gencurate embed --role selection` run in a fresh temporary folder with a
generated params.yaml (efficientnet-lite0 at INPUT_SIZE px, the embed section of EMBED),
each as its own subprocess, so every figure is that one run's:
- `peak_rss_main_mb`: the stage process's own VmHWM (kernel-tracked peak RSS, exact); file
  pages count in it once a memory map touches them, which is why prepare and embed stream
  images.npy and the embedding through `gencurate.npyrows.NpyRows` (file reads and writes)
  rather than memory maps (before: prepare's RSS grew 3.9x from 10k to 200k).
- `ru_maxrss_mb`: ru_maxrss of os.wait4 on the stage process: the largest peak RSS of the
  stage process or any descendant it reaped (a max over processes, not a sum). Linux also
  counts the pre-exec image, i.e. this benchmark's own process (kept small: ~40 MB), so it
  is a floor-biased figure; `peak_rss_main_mb` is the stage process alone.
- `peak_pss_tree_mb` / `peak_pss_anon_tree_mb`: the peak over samples every SAMPLE_S seconds
  of the sum over the stage process and all its descendants (prepare's forkserver and decode
  workers, embed's DataLoader worker) of Pss / Pss_Anon from /proc/<pid>/smaps_rollup:
  shared pages are split between the processes that map them, so nothing is counted twice.
  Pss_Anon is the memory the processes need (heap, tensors, arrays): unlike the clean
  file-backed pages of a memmap, the kernel cannot drop it. A sampled peak can miss a spike
  shorter than SAMPLE_S.
- `cpu_seconds`: user + system seconds of every process of the tree, last sampled value.
Claims checked: peak memory at 200k <= 1.5x that at 10k, per-image time close to constant
(`marginal_seconds_per_image_ratio`: 50k->200k vs 10k->50k, start-up costs cancel out).

coreset / typicality: `clustered_embeddings` of benchmarks/selection.py at 1M x 512 (2 GB),
then `kcenter_greedy`, or a faiss IVF index (`build_ivf_index`, nlist 1024, nprobe 2, as in
selection.py) + `knn_search` + `typicality_greedy`, each in its own subprocess (this script
with --child), measured as above; the child also reports its time per phase and its RSS
with just the input in memory.

Each part's result is merged into benchmarks/results/scale.json as soon as it ends (partial
runs survive), with the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil
from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
GENCURATE = Path(sys.executable).with_name("gencurate")
SIZES, QUICK_SIZES = (10_000, 50_000, 200_000), (1_000, 2_000, 4_000)
IMAGE_SIZE, CHANNELS, CLASSES = 32, 3, 10
ENCODER, INPUT_SIZE = "efficientnet-lite0", 32
EMBED = {"batch_size": 128, "num_workers": 1, "accelerator": "cpu", "devices": 1}  # params.yaml's, on CPU
MAX_MEMORY_RATIO = 1.5  # the scaling target: peak memory at the largest size <= 1.5x that at the smallest
SAMPLE_S = 0.1
SEEDS = {"coreset": 2, "typicality": 3}  # the data of selection.py's coreset-big / typicality-big
MB = 2**20


# -- measuring one process tree ---------------------------------------------------------------

def _rollup_kb(pid: int) -> dict[str, int]:
    """Rss, Pss, Pss_Anon, Anonymous (kB) of /proc/<pid>/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Pss_Anon", "Anonymous"):
                out[key] = int(rest.split()[0])
    return out


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class TreeSampler(threading.Thread):
    """Samples the memory of a process and all its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = SAMPLE_S) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.done = threading.Event()
        self.t0 = time.perf_counter()
        self.peak = {"pss_tree": 0, "pss_anon_tree": 0, "rss_tree": 0, "anon_main": 0, "hwm_main": 0}
        self.peak_at = dict.fromkeys(self.peak, 0.0)
        self.cpu: dict[int, float] = {}
        self.max_processes = 0

    def run(self) -> None:
        main = psutil.Process(self.pid)
        while not self.done.is_set():
            try:
                procs = [main, *main.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            now = {"pss_tree": 0, "pss_anon_tree": 0, "rss_tree": 0, "anon_main": 0, "hwm_main": 0}
            alive = 0
            for p in procs:
                try:
                    roll = _rollup_kb(p.pid)
                    times = p.cpu_times()
                    if p.pid == self.pid:
                        now["anon_main"] = roll["Anonymous"]
                        now["hwm_main"] = _status_kb(p.pid, "VmHWM")
                except (OSError, psutil.Error, KeyError):
                    continue  # exited between listing and reading
                alive += 1
                now["pss_tree"] += roll["Pss"]
                now["pss_anon_tree"] += roll["Pss_Anon"]
                now["rss_tree"] += roll["Rss"]
                self.cpu[p.pid] = times.user + times.system
            self.max_processes = max(self.max_processes, alive)
            t = time.perf_counter() - self.t0
            for key, value in now.items():
                if value > self.peak[key]:
                    self.peak[key], self.peak_at[key] = value, t
            self.done.wait(self.interval)


def measure(cmd: list[str], *, cwd: Path, log: Path) -> dict:
    """Run `cmd` in a fresh process; its wall time, CPU time and peak memory (see the docstring)."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    peak = {k: round(v / 1024, 1) for k, v in sampler.peak.items()}
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(sum(sampler.cpu.values()), 1),
        "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_rss_main_mb": peak["hwm_main"],
        "peak_anon_main_mb": peak["anon_main"],
        "peak_pss_tree_mb": peak["pss_tree"],
        "peak_pss_anon_tree_mb": peak["pss_anon_tree"],
        "peak_pss_anon_tree_at_s": round(sampler.peak_at["pss_anon_tree"], 1),
        "peak_rss_sum_tree_mb": peak["rss_tree"],  # counts shared pages once per process
        "max_processes": sampler.max_processes,
    }


# -- prepare + embed --------------------------------------------------------------------------

def _image(i: int) -> np.ndarray:
    """Image i: (32, 32, 3) uint8, bilinearly upsampled 8x8 noise seeded by i (distinct pHashes)."""
    from PIL import Image

    small = np.random.default_rng(i).integers(0, 256, (8, 8, CHANNELS), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))


def _file(root: Path, i: int) -> Path:
    return root / f"class{i % CLASSES}" / f"{i:07d}.png"


def _write_range(root: str, start: int, stop: int) -> None:
    from PIL import Image

    for i in range(start, stop):
        Image.fromarray(_image(i)).save(_file(Path(root), i))


def write_images(root: Path, n: int, workers: int) -> None:
    """PNG files 0..n-1 in CLASSES class folders, written by `workers` processes."""
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, n, 8 * workers + 1).astype(int)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_range, [str(root)] * (len(bounds) - 1), bounds[:-1], bounds[1:]))


def link_images(pool: Path, root: Path, n: int) -> None:
    """A folder holding hard links to the first n files of `pool`."""
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True)
    for i in range(n):
        os.link(_file(pool, i), _file(root, i))


def disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB, 1)


def run_size(tmp: Path, pool: Path, n: int) -> dict:
    import yaml

    src, work = tmp / f"source-{n}", tmp / f"run-{n}"
    link_images(pool, src, n)
    work.mkdir()
    params = {
        "prepare": {"source": str(src), "image_size": IMAGE_SIZE, "channels": CHANNELS, "use_source_split": False},
        "embed": EMBED,
        "encoders": {"selection": {"name": ENCODER, "input_size": INPUT_SIZE}},
    }
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    print(f"-- {n} images: prepare", flush=True)
    prepare = measure([str(GENCURATE), "prepare"], cwd=work, log=tmp / f"prepare-{n}.log")
    images = np.load(work / "data/prepared/images.npy", mmap_mode="r")
    kept, images_mb = len(images), round(images.nbytes / MB, 1)
    del images
    print(f"   {json.dumps(prepare)}\n-- {n} images: embed", flush=True)
    embed = measure([str(GENCURATE), "embed", "--role", "selection"], cwd=work, log=tmp / f"embed-{n}.log")
    embedding = np.load(work / "data/embeddings/selection.npy", mmap_mode="r")
    if embedding.shape[0] != kept:
        raise RuntimeError(f"embedding has {embedding.shape[0]} rows, images.npy {kept}")
    out = {
        "images": n, "kept": kept, "source_files_mb": disk_mb(src), "images_npy_mb": images_mb,
        "embedding_npy_mb": round(embedding.nbytes / MB, 1), "embedding_dim": int(embedding.shape[1]),
        "prepare": prepare | {"images_per_s": round(n / prepare["seconds"], 1)},
        "embed": embed | {"images_per_s": round(kept / embed["seconds"], 1)},
    }
    print(f"   {json.dumps(embed)}", flush=True)
    del embedding
    shutil.rmtree(work)
    shutil.rmtree(src)
    return out


MEMORY_KEYS = ("ru_maxrss_mb", "peak_rss_main_mb", "peak_pss_tree_mb", "peak_pss_anon_tree_mb")


def scaling(runs: list[dict]) -> dict:
    """Largest vs smallest size: memory ratios per stage and key, per-image time ratios, linear fit."""
    small, big = runs[0], runs[-1]
    out: dict = {"from_images": small["images"], "to_images": big["images"], "max_memory_ratio": MAX_MEMORY_RATIO}
    for stage in ("prepare", "embed"):
        memory = {k: round(big[stage][k] / small[stage][k], 2) for k in MEMORY_KEYS}
        n = np.array([r["images"] for r in runs], dtype=float)
        s = np.array([r[stage]["seconds"] for r in runs])
        slope, intercept = np.polyfit(n, s, 1)
        per_image = [r[stage]["seconds"] / r["images"] for r in runs]
        cpu_per_image = [r[stage]["cpu_seconds"] / r["images"] for r in runs]
        out[stage] = {
            "memory_ratio": memory,
            "memory_flat_total": memory["peak_pss_tree_mb"] <= MAX_MEMORY_RATIO,
            "memory_flat_anonymous": memory["peak_pss_anon_tree_mb"] <= MAX_MEMORY_RATIO,
            "seconds_per_image_ratio": round(per_image[-1] / per_image[0], 2),
            "cpu_seconds_per_image_ratio": round(cpu_per_image[-1] / cpu_per_image[0], 2),
            # Per-image time of the last step alone (start-up costs cancel out).
            "marginal_seconds_per_image_ratio": round(
                ((s[-1] - s[-2]) / (n[-1] - n[-2])) / ((s[1] - s[0]) / (n[1] - n[0])), 2) if len(runs) > 2 else None,
            "linear_fit": {"fixed_seconds": round(float(intercept), 2), "ms_per_image": round(float(slope) * 1e3, 3),
                           "max_relative_residual": round(float(np.max(np.abs(s - (intercept + slope * n)) / s)), 3)},
        }
    return out


def part_prepare_embed(sizes: tuple[int, ...]) -> dict:
    with tempfile.TemporaryDirectory(prefix="gencurate-bench-scale-") as name:
        tmp = Path(name)
        t0 = time.perf_counter()
        pool = tmp / "pool"
        write_images(pool, max(sizes), workers=os.cpu_count() or 1)
        print(f"wrote {max(sizes)} PNGs ({disk_mb(pool)} MB) in {time.perf_counter() - t0:.1f} s", flush=True)
        runs = []
        for n in sizes:
            runs.append(run_size(tmp, pool, n) | {"load_average_after": [round(v, 2) for v in os.getloadavg()]})
    return {
        "images": f"{IMAGE_SIZE}x{IMAGE_SIZE}x{CHANNELS} PNG in {CLASSES} class folders (smooth noise, distinct)",
        "encoder": ENCODER, "input_size": INPUT_SIZE, "embed": EMBED,
        "commands": ["gencurate prepare", "gencurate embed --role selection"],
        "runs": runs, "scaling": scaling(runs),
    }


# -- selection at 1M x 512 ----------------------------------------------------------------------

def child(args: argparse.Namespace) -> None:
    """One selection run in this (fresh) process; prints its result as the last line (JSON)."""
    from selection import clustered_embeddings  # the data of benchmarks/selection.py (this script's folder)

    from gencurate.config.select import SelectConfig
    from gencurate.selection import kcenter_greedy
    from gencurate.selection.knn import build_ivf_index, knn_search
    from gencurate.selection.typicality import knn_distances_to_radius, knn_distances_to_typicality, typicality_greedy

    t0 = time.perf_counter()
    x = clustered_embeddings(args.n, args.d, seed=args.seed)
    out = {"generate_seconds": round(time.perf_counter() - t0, 1),
           "rss_with_input_mb": round(_status_kb(os.getpid(), "VmRSS") / 1024, 1)}
    if args.child == "coreset":
        t0 = time.perf_counter()
        kcenter_greedy(x, args.budget, seed=args.seed)
        out["select_seconds"] = round(time.perf_counter() - t0, 1)
    else:
        t0 = time.perf_counter()
        index = build_ivf_index(x, nlist=args.nlist, nprobe=args.nprobe, seed=args.seed)
        out["ivf_build_seconds"] = round(time.perf_counter() - t0, 1)
        out["rss_with_index_mb"] = round(_status_kb(os.getpid(), "VmRSS") / 1024, 1)
        t0 = time.perf_counter()
        dist, _ = knn_search(x, args.k, index=index, desc=None)
        out["knn_seconds"] = round(time.perf_counter() - t0, 1)
        del index
        t0 = time.perf_counter()
        typicality_greedy(x, knn_distances_to_typicality(dist), knn_distances_to_radius(dist), args.budget,
                          diversity_strength=SelectConfig().diversity_strength)
        out["greedy_seconds"] = round(time.perf_counter() - t0, 1)
    out["self_ru_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


def part_selection(method: str, *, n: int, d: int, budget: int, k: int, nlist: int, nprobe: int, tmp: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--n", str(n), "--d", str(d), "--budget", str(budget),
           "--k", str(k), "--nlist", str(nlist), "--nprobe", str(nprobe), "--seed", str(SEEDS[method])]
    log = tmp / f"{method}.log"
    measured = measure(cmd, cwd=ROOT, log=log)
    inner = json.loads([line for line in log.read_text().splitlines() if line.startswith("{")][-1])
    result = {"n": n, "d": d, "budget": budget, "input_mb": round(n * d * 4 / MB, 1), **inner, **measured}
    if method == "typicality":
        result |= {"knn_k": k, "knn_index": f"faiss IndexIVFFlat nlist={nlist} nprobe={nprobe}"}
    # The child's own peak up to the end of the work (its VmHWM can rise ~0.1 GB more while the
    # interpreter shuts down, seen at 40k x 64).
    result["peak_over_input"] = round(inner["self_ru_maxrss_mb"] / result["input_mb"], 2)
    return result


# -- main ---------------------------------------------------------------------------------------

def machine() -> dict:
    return provenance() | {"memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--parts", default="prepare-embed,coreset,typicality")
    parser.add_argument("--output", type=Path, default=None, help=f"default {RESULTS} (a temp file with --quick)")
    parser.add_argument("--child", choices=["coreset", "typicality"], help=argparse.SUPPRESS)
    for name in ("n", "d", "budget", "k", "nlist", "nprobe", "seed"):
        parser.add_argument(f"--{name}", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.output is None:
        args.output = Path(tempfile.gettempdir()) / "scale_quick.json" if args.quick else RESULTS
    sizes = QUICK_SIZES if args.quick else SIZES
    n, d, budget, k = (40_000, 64, 100, 20) if args.quick else (1_000_000, 512, 1_000, 20)
    nlist, nprobe = (64, 2) if args.quick else (1024, 2)
    parts = args.parts.split(",")
    unknown = set(parts) - {"prepare-embed", "coreset", "typicality"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}")
    out: dict = json.loads(args.output.read_text()) if args.output.exists() and not args.quick else {}
    out["machine"] = machine()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gencurate-bench-scale-logs-") as logs:
        for name in parts:
            print(f"== {name}", flush=True)
            load_before = [round(v, 2) for v in os.getloadavg()]
            if name == "prepare-embed":
                result = part_prepare_embed(sizes)
            else:
                result = part_selection(name, n=n, d=d, budget=budget, k=k, nlist=nlist, nprobe=nprobe, tmp=Path(logs))
            result |= {"load_average_before": load_before, "load_average_after": [round(v, 2) for v in os.getloadavg()]}
            out[name] = result
            print(json.dumps(result, indent=2), flush=True)
            args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
