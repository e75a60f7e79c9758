"""`weights: null` downloads through the libraries' own mechanisms, tested against a local hub.

A threaded HTTP server on 127.0.0.1 (random free port) stands in for the Hugging Face hub
(`HF_ENDPOINT`) and for torch-fidelity's release URL. It serves randomly initialised weights
under the real repository layout: `/<repo_id>/resolve/main/<file>` with the headers
huggingface_hub requires (X-Repo-Commit, ETag, Content-Length). huggingface_hub reads
HF_ENDPOINT at import time, so every hub scenario runs `gencurate` in a fresh process with
its own HF_HOME / TORCH_HOME. No test touches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from gencurate.encoders import WeightsNotFoundError, load_encoder
from gencurate.encoders.weights import OFFLINE_ENV, probe_url

pytestmark = pytest.mark.usefixtures("torch_one_thread")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DINO_S_REPO = "timm/vit_small_patch14_dinov2.lvd142m"
CLIP_REPO = "timm/vit_base_patch32_clip_224.openai"
N_IMAGES = 6
# Bound on every hub subprocess (a hang fails the test instead of blocking the suite).
PROCESS_TIMEOUT = 300


class HubHandler(http.server.BaseHTTPRequestHandler):
    """Serves `server.files` ({url path: (bytes, etag)}); records every request in `server.requests`."""

    def _answer(self, with_body: bool) -> None:
        self.server.requests.append((self.command, self.path))
        body, etag = self.server.files.get(self.path.split("?")[0], (None, None))
        if body is None:
            self.send_response(404)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(with_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(with_body=True)

    def log_message(self, *args) -> None:
        pass


class LocalHub:
    """A hub stand-in on 127.0.0.1: `serve(path, body)`, `start()`, `stop()`, `url`, `requests`."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.server: http.server.ThreadingHTTPServer | None = None
        self.port = free_port()

    def serve(self, path: str, body: bytes) -> None:
        # The ETag (the content hash, as the hub's) is computed once here, not per request.
        self.files[path] = (body, hashlib.sha256(body).hexdigest())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), HubHandler)
        self.server.files, self.server.requests = self.files, self.requests
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def hub():
    server = LocalHub()
    server.start()
    yield server
    server.stop()


def safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in state.items()})


@pytest.fixture(scope="module")
def dino_s_weights() -> bytes:
    """A randomly initialised timm ViT-S/14 DINOv2 at timm's native 518 px, as the hub's model.safetensors."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0)
    return safetensors_bytes(model.state_dict())


def blob_images(n: int, size: int = 28) -> np.ndarray:
    rng = np.random.default_rng(0)
    out = rng.integers(0, 60, (n, size, size, 1), dtype=np.uint8)
    for i in range(n):
        y, x = rng.integers(0, size - 10, 2)
        out[i, y: y + 10, x: x + 10] = rng.integers(120, 256)
    return out


@pytest.fixture()
def workspace(tmp_path, default_params_dict):
    """params.yaml with the evaluation role on DINOv2 ViT-S/14 (weights: null), prepared images, empty caches."""
    params = default_params_dict
    params["embed"].update(batch_size=4, num_workers=0, accelerator="cpu")
    params["encoders"]["evaluation"].update(name="dinov2-vit-s-14", weights=None, input_size=56)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    prepared = tmp_path / params["paths"]["prepared"]
    prepared.mkdir(parents=True)
    np.save(prepared / "images.npy", blob_images(N_IMAGES))
    pd.DataFrame({"id": np.arange(N_IMAGES), "split": ["train"] * N_IMAGES}).to_parquet(prepared / "manifest.parquet")
    return tmp_path


def run_gencurate(root: Path, *args: str, endpoint: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """`gencurate <args>` in `root` with its own caches and HF_ENDPOINT; (result, seconds)."""
    return run_python(root, "-m", "gencurate", *args, endpoint=endpoint, **env)


def run_python(root: Path, *args: str, endpoint: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """`python <args>` (a script after "-c" or "-m module") in `root` with its own caches and HF_ENDPOINT."""
    if not args[0].startswith("-"):
        args = ("-c", *args)
    full = {k: v for k, v in os.environ.items() if k not in (OFFLINE_ENV, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    full.update(
        HF_ENDPOINT=endpoint, HF_HOME=str(root / "cache" / "hf"), TORCH_HOME=str(root / "cache" / "torch"),
        HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        OMP_NUM_THREADS="1", TQDM_POSITION="-1", **env,  # TQDM_POSITION=-1: huggingface_hub shows its bar without a TTY
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=root, env=full, capture_output=True,
                            text=True, timeout=PROCESS_TIMEOUT)
    return result, time.perf_counter() - start


def test_dinov2_downloads_once_then_runs_from_the_cache_without_the_hub(hub, workspace, dino_s_weights, tmp_path):
    hub.serve(f"/{DINO_S_REPO}/resolve/main/model.safetensors", dino_s_weights)
    first, _ = run_gencurate(workspace, "embed", "--role", "evaluation", endpoint=hub.url)
    assert first.returncode == 0, first.stderr[-2000:]
    # huggingface_hub's own download: a progress bar naming the file, into HF_HOME's hub cache.
    assert "model.safetensors" in first.stderr and "100%" in first.stderr
    cached = workspace / "cache/hf/hub/models--timm--vit_small_patch14_dinov2.lvd142m/snapshots" / COMMIT / "model.safetensors"
    assert cached.is_file() and cached.read_bytes() == dino_s_weights
    assert ("GET", f"/{DINO_S_REPO}/resolve/main/model.safetensors") in hub.requests
    emb_path = workspace / "data/embeddings/evaluation.npy"
    first_emb = np.load(emb_path)

    # The served weights were really loaded: the same numbers as those weights given as a local file.
    local = tmp_path / "dino.safetensors"
    local.write_bytes(dino_s_weights)
    enc = load_encoder("dinov2-vit-s-14", weights=str(local), input_size=56, device="cpu")
    want = enc.features(torch.from_numpy(blob_images(N_IMAGES)).permute(0, 3, 1, 2))  # the evaluation role is raw
    np.testing.assert_allclose(first_emb, want.numpy(), rtol=1e-4, atol=1e-4)

    # Hub gone: the second run loads the cached file, asks nothing and gives identical embeddings.
    hub.stop()
    emb_path.unlink()
    second, _ = run_gencurate(workspace, "embed", "--role", "evaluation", endpoint=hub.url)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "downloading" not in second.stdout
    np.testing.assert_array_equal(np.load(emb_path), first_emb)


# Imports first (their time depends on the machine's load), then each encoder load alone is timed.
TIMED_LOADS = """
import json, sys, time
import open_clip, timm, torch_fidelity
from gencurate.encoders import WeightsNotFoundError, load_encoder
for name in sys.argv[1:]:
    start = time.perf_counter()
    try:
        load_encoder(name, weights=None, input_size=None, device="cpu")
        error = None
    except WeightsNotFoundError as err:
        error = str(err)
    print(json.dumps({"name": name, "seconds": time.perf_counter() - start, "error": error}))
"""
UNREACHABLE = {
    "dinov2-vit-s-14": ("model.safetensors", DINO_S_REPO),
    "dinov2-vit-l-14": ("model.safetensors", "timm/vit_large_patch14_dinov2.lvd142m"),
    "clip-vit-b-32": ("open_clip_model.safetensors", CLIP_REPO),
}


def test_unreachable_hub_is_one_line_within_ten_seconds(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    result, _ = run_python(tmp_path, TIMED_LOADS, *UNREACHABLE, endpoint=closed)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = [json.loads(line) for line in result.stdout.strip().splitlines() if line.startswith("{")]
    assert [o["name"] for o in outcomes] == list(UNREACHABLE)
    for outcome in outcomes:
        err = outcome["error"]
        assert err is not None and "\n" not in err
        for part in (outcome["name"], *UNREACHABLE[outcome["name"]], closed, "unreachable", "encoders.<role>.weights"):
            assert part in err
        assert outcome["seconds"] < 10
    assert not (tmp_path / "cache" / "hf" / "hub").exists() or not any((tmp_path / "cache" / "hf" / "hub").rglob("*.safetensors"))


@pytest.mark.parametrize("switch", [None, OFFLINE_ENV])
def test_embed_stage_fails_in_one_line_before_importing_torch(hub, workspace, switch):
    """`gencurate embed` offline or with the hub unreachable: the one-line error within 10 s, no request made."""
    endpoint = hub.url if switch else f"http://127.0.0.1:{free_port()}"
    env = {switch: "1"} if switch else {}
    result, seconds = run_gencurate(workspace, "embed", "--role", "evaluation", endpoint=endpoint, **env)
    assert result.returncode == 2 and hub.requests == []
    err = result.stderr.strip()
    assert "\n" not in err and err.startswith("gencurate embed: error: dinov2-vit-s-14: pretrained weights model.safetensors")
    assert ("downloads are off" if switch else "unreachable") in err and "encoders.<role>.weights" in err
    assert seconds < 10
    probe = run_python(workspace, "import sys; from gencurate.encoders.sources import check_weights_reachable; "
                       "print('torch' in sys.modules)", endpoint=endpoint)[0]
    assert probe.stdout.strip() == "False"


def test_hub_files_are_what_the_libraries_request():
    import open_clip
    import timm

    from gencurate.encoders.sources import HUB_FILES, OPEN_CLIP_FILES, TIMM_FILE

    for tag in (None, "openai"):
        repo, files = HUB_FILES[("clip-vit-b-32", tag)]
        assert open_clip.get_pretrained_cfg("ViT-B-32", "openai")["hf_hub"] == f"{repo}/"
        assert files == OPEN_CLIP_FILES == (open_clip.constants.HF_SAFE_WEIGHTS_NAME, open_clip.constants.HF_WEIGHTS_NAME)
    for name, arch in (("dinov2-vit-s-14", "vit_small_patch14_dinov2"), ("dinov2-vit-l-14", "vit_large_patch14_dinov2")):
        assert HUB_FILES[(name, None)] == (timm.models.get_pretrained_cfg(arch).hf_hub_id, (TIMM_FILE,))
    assert TIMM_FILE == timm.models._hub.HF_SAFE_WEIGHTS_NAME


@pytest.mark.parametrize("switch", [OFFLINE_ENV, "HF_HUB_OFFLINE"])
@pytest.mark.parametrize("name", ["clip-vit-b-32", "dinov2-vit-l-14", "inception-fid"])
def test_offline_switch_never_asks_the_network(tmp_path, monkeypatch, switch, name):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv(switch, "1")
    monkeypatch.setattr("gencurate.encoders.weights.probe_url", lambda *a, **k: pytest.fail("probed the network"))
    old_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    try:
        start = time.perf_counter()
        with pytest.raises(WeightsNotFoundError) as err:
            load_encoder(name, device="cpu", weights=None, input_size=None)
        assert time.perf_counter() - start < 10
    finally:
        torch.hub.set_dir(old_dir)
    message = str(err.value)
    assert "\n" not in message and f"downloads are off ({switch}=1)" in message
    assert name in message and "encoders.<role>.weights" in message


def test_local_file_wins_and_never_touches_the_network(hub, tmp_path, dino_s_weights, monkeypatch):
    # Even with the hub's copy on offer and downloads allowed, a file in `weights` is all that is read.
    hub.serve(f"/{DINO_S_REPO}/resolve/main/model.safetensors", dino_s_weights)
    local = tmp_path / "dino.safetensors"
    local.write_bytes(dino_s_weights)
    monkeypatch.setattr("gencurate.encoders.weights.probe_url", lambda *a, **k: pytest.fail("probed the network"))
    enc = load_encoder("dinov2-vit-s-14", weights=str(local), input_size=56, device="cpu")
    assert enc.weights == str(local) and hub.requests == []


def test_probe_answers_and_bounds(hub):
    hub.serve("/x", b"abc")
    assert probe_url(f"{hub.url}/x", timeout=3) is None
    assert probe_url(f"{hub.url}/missing", timeout=3) == "HTTP 404"
    start = time.perf_counter()
    assert "Connection refused" in probe_url(f"http://127.0.0.1:{free_port()}/x", timeout=3)
    assert time.perf_counter() - start < 4


@pytest.fixture(scope="module")
def inception_weights() -> bytes:
    """A randomly initialised torch-fidelity Inception state_dict, as torch-fidelity's .pth."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        patch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {})
        model = FeatureExtractorInceptionV3("random", ["2048"])
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def test_inception_downloads_through_torch_hub_then_runs_offline(hub, tmp_path, inception_weights, monkeypatch, capsys):
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    file_name = URL_INCEPTION_V3.rsplit("/", 1)[1]
    hub.serve(f"/toshas/torch-fidelity/{file_name}", inception_weights)
    monkeypatch.setattr("gencurate.encoders.inception.inception_url", lambda: f"{hub.url}/toshas/torch-fidelity/{file_name}")
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    old_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch" / "hub"))
    try:
        images = torch.from_numpy(blob_images(2)).permute(0, 3, 1, 2)
        first = load_encoder("inception-fid", device="cpu", weights=None, input_size=None).features(images)
        assert "100%" in capsys.readouterr().err  # torch.hub's progress bar
        cached = tmp_path / "torch/hub/checkpoints" / file_name
        assert cached.read_bytes() == inception_weights
        hub.stop()
        again = load_encoder("inception-fid", device="cpu", weights=None, input_size=None).features(images)
        torch.testing.assert_close(again, first, rtol=0, atol=0)
        cached.unlink()
        start = time.perf_counter()
        with pytest.raises(WeightsNotFoundError, match="unreachable") as err:
            load_encoder("inception-fid", device="cpu", weights=None, input_size=None)
        assert time.perf_counter() - start < 10
        assert "inception-fid" in str(err.value) and file_name in str(err.value) and "\n" not in str(err.value)
    finally:
        torch.hub.set_dir(old_dir)


@pytest.mark.slow
def test_clip_downloads_the_openai_tag_through_open_clip(hub, workspace, tmp_path):
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True)
    hub.serve(f"/{CLIP_REPO}/resolve/main/open_clip_model.safetensors", safetensors_bytes(model.state_dict()))
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["encoders"]["selection"].update(name="clip-vit-b-32", weights=None, input_size=64)
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    first, _ = run_gencurate(workspace, "embed", "--role", "selection", endpoint=hub.url)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "open_clip_model.safetensors" in first.stderr and "100%" in first.stderr
    emb = np.load(workspace / "data/embeddings/selection.npy")
    hub.stop()
    second, _ = run_gencurate(workspace, "embed", "--role", "selection", endpoint=hub.url)
    assert second.returncode == 0, second.stderr[-2000:]
    np.testing.assert_array_equal(np.load(workspace / "data/embeddings/selection.npy"), emb)
    # The openai tag's weights, as served, are what was loaded (QuickGELU, as the tag says).
    with torch.inference_mode():
        x = torch.from_numpy(blob_images(N_IMAGES)).permute(0, 3, 1, 2)
        enc = load_encoder("clip-vit-b-32", weights=str(next((workspace / "cache/hf/hub").rglob("open_clip_model.safetensors"))),
                           input_size=64, device="cpu")
        want = torch.nn.functional.normalize(enc.features(x), dim=1).numpy()
    np.testing.assert_allclose(emb, want, atol=1e-5)
