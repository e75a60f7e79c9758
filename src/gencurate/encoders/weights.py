"""Where pretrained weights come from: a local file, the library's cache, or one download.

Order: an explicit file (never the network) -> a copy already in the library's own cache
(never the network) -> a download through the library's own mechanism (huggingface_hub
for open_clip and timm, torch.hub for torch-fidelity's Inception), with its progress bar,
into the standard caches (`HF_HOME`, `TORCH_HOME`). Before a download one short probe
asks the source for the file: the libraries retry an unreachable hub for most of a
minute, while an offline machine should get a one-line error in seconds. A failed
download is an error, never a fallback to random weights (they give meaningless metrics).
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

# Machine state, not an experiment parameter: an env var, so toggling it never reruns a stage.
OFFLINE_ENV = "GENCURATE_OFFLINE"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
WEIGHTS_SETTING = "encoders.<role>.weights: /path/to/file"
# One HEAD request bounded by this many seconds decides whether a download is attempted.
PROBE_TIMEOUT_SECONDS = 3.0

T = TypeVar("T")


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are neither on local disk nor downloadable (a one-line message)."""


def require_file(path: str | os.PathLike, *, model: str) -> Path:
    """`path` as a Path if it is an existing file, else a `WeightsNotFoundError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"{model}: weights file {str(path)!r} does not exist")
    return path


def looks_like_path(weights: str) -> bool:
    """A `weights` value meant as a file (has a directory part or a file suffix), not a tag."""
    return os.sep in weights or weights.startswith("~") or Path(weights).suffix != ""


def is_local_file_setting(weights: str | None) -> bool:
    """Whether `weights` names a local file (which then always wins over any download)."""
    return weights is not None and (os.path.isfile(os.path.expanduser(weights)) or looks_like_path(weights))


def cached_hf_file(repo_id: str, filenames: Iterable[str]) -> Path | None:
    """The first of `filenames` of HF repo `repo_id` already in the local HF cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def hf_file_url(repo_id: str, filename: str) -> str:
    """The URL huggingface_hub requests for `filename` of `repo_id` (honours `HF_ENDPOINT`)."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, filename)


def cached_url_file(url: str, cache_dirs: Iterable[str | os.PathLike]) -> Path | None:
    """The file a library would have downloaded from `url` into one of `cache_dirs`, if present."""
    name = os.path.basename(url)
    for directory in cache_dirs:
        candidate = Path(directory).expanduser() / name
        if candidate.is_file():
            return candidate
    return None


def torch_hub_checkpoints() -> Path:
    """Where `torch.hub.load_state_dict_from_url` keeps its downloads (`$TORCH_HOME/hub/checkpoints`)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def offline_switch() -> str | None:
    """The env var that turns downloads off (GENCURATE_OFFLINE or HF_HUB_OFFLINE), if one is set."""
    for var in (OFFLINE_ENV, HF_OFFLINE_ENV):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect already proves the source answers
        return None


def probe_url(url: str, *, timeout: float) -> str | None:
    """None if a HEAD request to `url` gets an answer below 400 within `timeout` s, else the reason.

    The request runs in a daemon thread joined with a deadline, because urllib's timeout
    does not bound name resolution.
    """
    outcome: list[str | None] = []

    def head() -> None:
        opener = urllib.request.build_opener(_NoRedirect)
        request = urllib.request.Request(url, method="HEAD", headers={"Accept-Encoding": "identity"})
        try:
            with opener.open(request, timeout=timeout):
                outcome.append(None)
        except urllib.error.HTTPError as err:
            outcome.append(None if err.code < 400 else f"HTTP {err.code}")
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            outcome.append(f"{type(err).__name__}: {reason}".replace("\n", " "))

    thread = threading.Thread(target=head, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


ADVICE = f"or download the file where there is internet and set `{WEIGHTS_SETTING}`"


def ensure_downloadable(*, model: str, what: str, url: str) -> None:
    """The one-line `WeightsNotFoundError` unless downloads are on and a probe of `url` is answered."""
    switch = offline_switch()
    if switch is not None:
        raise WeightsNotFoundError(
            f"{model}: pretrained weights {what} are not in the local cache and downloads are off "
            f"({switch}=1); unset {switch} to download them once, {ADVICE}"
        )
    reason = probe_url(url, timeout=PROBE_TIMEOUT_SECONDS)
    if reason is not None:
        raise WeightsNotFoundError(
            f"{model}: pretrained weights {what} are not in the local cache and {url} is unreachable "
            f"({reason}); connect this machine to download them once, {ADVICE}"
        )


def download_or_fail(*, model: str, what: str, url: str, download: Callable[[], T]) -> T:
    """Run the library's `download` for `what` (a file at `url`) after `ensure_downloadable`.

    Offline (GENCURATE_OFFLINE=1 or HF_HUB_OFFLINE=1), a probe that fails, or a download
    that fails: the one-line `WeightsNotFoundError` naming the model, the file and the
    setting for a local copy.
    """
    ensure_downloadable(model=model, what=what, url=url)
    print(f"{model}: downloading {what} from {url} (once; later runs use the cache)", flush=True)
    try:
        return download()
    except Exception as err:  # the library's own error, as one line naming what failed
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise WeightsNotFoundError(
            f"{model}: downloading {what} from {url} failed ({type(err).__name__}: {first}); {ADVICE.removeprefix('or ')}"
        ) from err
