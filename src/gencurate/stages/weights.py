"""`gencurate weights [--role selection|evaluation]`: the identity of each encoder role's weights.

Writes paths.weights_identity(role): the encoder name and either the SHA-256 and size of
the local weights file or the library source that `weights: null` (or a tag) stands for.
dvc.yaml runs this stage on every `dvc repro` (always_changed) and embed depends on its
output, so a new file at the same `encoders.<role>.weights` path reruns embed, while an
unchanged one leaves embed up to date. It loads no network and never touches the internet.
"""

from __future__ import annotations

import argparse

from gencurate.config import Params
from gencurate.config.embed import ENCODER_ROLES
from gencurate.encoders.identity import IDENTITY_SHA256, IDENTITY_SOURCE, weights_identity
from gencurate.io import read_json, write_json
from gencurate.stages.params_items import stage_params


def write_weights_identity(params: Params, role: str) -> dict:
    """Write the role's identity record (only when it changed, so its mtime stays put) and return it."""
    cfg = params.encoders.role(role)
    identity = weights_identity(name=cfg.name, weights=cfg.weights)
    out = params.paths.weights_identity(role)
    if not out.is_file() or read_json(out) != identity:
        write_json(out, identity)
    print(f"weights {role}: {cfg.name} <- {identity.get(IDENTITY_SHA256) or identity.get(IDENTITY_SOURCE)}")
    return identity


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    role = getattr(args, "role", None)
    for r in ENCODER_ROLES if role is None else (role,):
        write_weights_identity(params, r)
