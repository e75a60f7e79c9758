"""The (method, seed) items a stage runs: all of the study, one method, or one run."""

from __future__ import annotations

import argparse

import pytest

from gencurate.config import ParamsError, params_from_mapping
from gencurate.stages.params_items import seeds_by_method


@pytest.fixture()
def params(default_params_dict):
    default_params_dict["study"] = {"methods": ["full", "random", "coreset"], "seeds": [0, 3]}
    default_params_dict["train"]["steps_by_method"] = {}
    return params_from_mapping(default_params_dict)


def test_seeds_by_method_groups_the_study_in_order(params):
    assert seeds_by_method(params, argparse.Namespace()) == {"full": [0, 3], "random": [0, 3], "coreset": [0, 3]}
    assert seeds_by_method(params, argparse.Namespace(method="random", seed=None)) == {"random": [0, 3]}
    assert seeds_by_method(params, argparse.Namespace(method="coreset", seed=3)) == {"coreset": [3]}
    with pytest.raises(ParamsError, match="--seed 1 is not in study.seeds"):
        seeds_by_method(params, argparse.Namespace(method="full", seed=1))
