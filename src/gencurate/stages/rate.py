"""`gencurate rate [--host 127.0.0.1] [--port 8000] [--rater NAME]`: the pairwise preference page.

Serves two samples of two different methods side by side; each answer is appended to
`paths.votes`, which the compare stage turns into win-rates and a Bradley–Terry ranking.
Not a DVC stage: people run it by hand while samples exist.
"""

from __future__ import annotations

import argparse
import getpass

import uvicorn

from gencurate.rate.app import check_rater, create_app
from gencurate.rate.samples import load_study_samples, require_two_methods
from gencurate.stages.params_items import stage_params


def default_rater() -> str:
    """The login name (the person running the server is usually the one rating)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "anonymous"


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    rater = check_rater(getattr(args, "rater", None) or default_rater())
    samples = load_study_samples(params.paths, params.study)
    require_two_methods(samples, params.paths)
    app = create_app(samples=samples, votes_csv=params.paths.votes, default_rater=rater)
    host, port = getattr(args, "host", "127.0.0.1"), getattr(args, "port", 8000)
    models = ", ".join(f"{m}/seed{s} ({len(a)})" for (m, s), a in samples.items())
    print(f"gencurate rate: rating {models}")
    print(f"gencurate rate: open http://{host}:{port}/ (votes -> {params.paths.votes}); Ctrl+C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")
