"""`gencurate <stage>`: one sub-command per pipeline stage, run from the folder holding params.yaml.

Stages read everything from params.yaml. Matrix stages (embed, train, sample, evaluate)
take the matrix item (`--role`, or `--method`/`--seed`) that dvc.yaml passes; without it
they run every item of the study in turn.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gencurate import __version__

# name -> (module, one-line help); modules are imported only when their command runs.
STAGES: dict[str, tuple[str, str]] = {
    "prepare": ("gencurate.stages.prepare", "clean an image folder/archive (or the demo) into images.npy + manifest"),
    "weights": ("gencurate.stages.weights", "record the identity of each encoder's weights (a file's sha256, or its source)"),
    "embed": ("gencurate.stages.embed", "embed prepared images with the selection or evaluation encoder"),
    "select": ("gencurate.stages.select", "pick a budget of images per curation method"),
    "train": ("gencurate.stages.train", "train a DDPM on one selection (Lightning)"),
    "sample": ("gencurate.stages.sample", "draw samples from a trained checkpoint"),
    "evaluate": ("gencurate.stages.evaluate", "FD, KID, precision/recall, density/coverage, memorisation"),
    "independence": ("gencurate.stages.independence", "k-NN overlap and typicality correlation of the two spaces"),
    "compare": ("gencurate.stages.compare", "summary.json and comparison.md over all methods and seeds"),
    "rate": ("gencurate.stages.rate", "local web page for pairwise human preference votes"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gencurate",
        description="For a fixed budget, which subset of my images gives the best generator? "
        "Run a stage from the directory holding params.yaml (dvc repro runs them all).",
    )
    parser.add_argument("--version", action="version", version=f"gencurate {__version__}")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for name, (module, help_text) in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--params", default="params.yaml", help=argparse.SUPPRESS)
        p.set_defaults(module=module)
        if name in ("weights", "embed"):
            p.add_argument("--role", choices=["selection", "evaluation"], help="encoder role (default: both)")
        if name in ("train", "sample", "evaluate"):
            p.add_argument("--method", help="curation method (default: every method of study.methods)")
            p.add_argument("--seed", type=int, help="training seed (default: every seed of study.seeds)")
        if name == "rate":
            p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
            p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
            p.add_argument("--rater", default=None, help="rater name recorded with each vote")
    return parser


def main(argv: list[str] | None = None) -> int:
    from gencurate.config import ParamsError
    from gencurate.runtime import quiet_lightning

    args = build_parser().parse_args(argv)
    quiet_lightning()
    try:
        module = importlib.import_module(args.module)
        module.main(args)
    except (ParamsError, ValueError, FileNotFoundError) as err:
        # Bad params or bad input: one clear line, no traceback.
        print(f"gencurate {args.stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
