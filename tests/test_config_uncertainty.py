"""The params of memorisation pairs, the bootstrap and encoder independence: impossible values are refused."""

import pytest

from gencurate.config import ParamsError, params_from_mapping


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["evaluate"].update(bootstrap_resamples=1), "evaluate.bootstrap_resamples: must be >= 2"),
        (lambda d: d["evaluate"].update(memorisation_pairs=0), "evaluate.memorisation_pairs: must be >= 1"),
        (lambda d: d["evaluate"].update(bootstrap_resample=200), "unknown key 'evaluate.bootstrap_resample'"),
        (lambda d: d["compare"].update(bootstrap_draws=10), "compare.bootstrap_draws: must be >= 100"),
        (lambda d: d["compare"].update(confidence=1.0), "compare.confidence: must be in [0.5, 1)"),
        (lambda d: d["independence"].update(neighbours=0), "independence.neighbours: must be >= 1"),
        (lambda d: d["independence"].update(pixels="yes"), "independence.pixels: expected true or false"),
        (lambda d: d["independence"].update(pixel_size=0), "independence.pixel_size: must be >= 1"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(default_params_dict, mutate, message):
    mutate(default_params_dict)
    with pytest.raises(ParamsError) as err:
        params_from_mapping(default_params_dict)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_defaults(default_params_dict):
    params = params_from_mapping(default_params_dict)
    assert params.evaluate.bootstrap_resamples >= 200 and params.compare.confidence == 0.95
    assert params.independence.neighbours == 10
