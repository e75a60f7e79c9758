"""What every stage shares: its params (read once) and the (method, seed) items it runs."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from gencurate.config import Params, ParamsError, load_params


def stage_params(args: argparse.Namespace) -> Params:
    return load_params(getattr(args, "params", "params.yaml"))


def study_items(params: Params, args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """(method, seed) pairs to run: the one dvc.yaml names, or the whole study."""
    method = getattr(args, "method", None)
    seed = getattr(args, "seed", None)
    if method is not None and method not in params.study.methods:
        raise ParamsError(f"--method {method!r} is not in study.methods ({', '.join(params.study.methods)})")
    if seed is not None and seed not in params.study.seeds:
        raise ParamsError(f"--seed {seed} is not in study.seeds ({', '.join(map(str, params.study.seeds))})")
    for m in params.study.methods if method is None else (method,):
        for s in params.study.seeds if seed is None else (seed,):
            yield m, s


def seeds_by_method(params: Params, args: argparse.Namespace) -> dict[str, list[int]]:
    """The items of `study_items` grouped by method, in study order: {method: [seed, ...]}."""
    groups: dict[str, list[int]] = {}
    for method, seed in study_items(params, args):
        groups.setdefault(method, []).append(seed)
    return groups
