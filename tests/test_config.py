import pytest

from gencurate.config import ParamsError, load_params, params_from_mapping, to_mapping


def test_default_params_load(repo_root):
    params = load_params(repo_root / "params.yaml")
    assert params.study.methods == ("full", "random", "coreset", "typicality", "typicality+balanced")
    assert params.train.unet.channel_mults and isinstance(params.train.unet.channel_mults, tuple)


def test_round_trip(default_params_dict):
    params = params_from_mapping(default_params_dict)
    assert params_from_mapping(to_mapping(params)) == params


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["train"].update(lrr=1), "unknown key 'train.lrr' (did you mean 'lr'?)"),
        (lambda d: d.update(trian={}), "unknown key 'trian'"),
        (lambda d: d["train"]["diffusion"].update(schedule="cos"), "'cos' is not one of 'linear', 'cosine'"),
        (lambda d: d["select"].update(budget="many"), "select.budget: expected an integer"),
        (lambda d: d["select"].update(budget=0), "select.budget: must be >= 1"),
        (lambda d: d["study"].update(methods=["random", "magic"]), "study.methods: unknown method 'magic'"),
        (lambda d: d["train"].update(hflip="yes"), "train.hflip: expected true or false"),
        (lambda d: d["study"].update(methods=["typicality+fair"]), "study.methods: unknown modifier 'fair'"),
        (lambda d: d["study"].update(methods=["full+balanced"]), "study.methods: 'full+balanced': full takes"),
        (lambda d: d["study"].update(methods=["typicality@balanced"]), "study.methods: 'typicality@balanced' is not"),
        (lambda d: d["select"].update(balance="classes"), "select.balance: 'classes' is not one of"),
        (lambda d: d["select"].update(clusters=0), "select.clusters: must be >= 1"),
        (lambda d: d["select"].update(prototypes_keep="medium"), "select.prototypes_keep: 'medium' is not one of"),
        (lambda d: d["select"].update(typicality_radius="mean"), "select.typicality_radius: 'mean' is not one of"),
        (lambda d: d["select"].update(drop_outliers=1.0), "select.drop_outliers: must be in [0, 1)"),
        (lambda d: d["select"].update(semdedup_threshold=1.5), "select.semdedup_threshold: must be null"),
        (lambda d: d["select"].update(semdedup_clusters=0), "select.semdedup_clusters: must be >= 1"),
        (lambda d: d["select"].update(map_tsne_max=-1), "select.map_tsne_max: must be >= 0"),
        (lambda d: d["evaluate"].update(num_samples=10**6), "must not exceed sample.num_samples"),
        (lambda d: d["evaluate"].update(knn_block_size=0), "evaluate.knn_block_size: must be >= 1"),
        (lambda d: d["evaluate"].update(embed_batch_size=0), "evaluate.embed_batch_size: must be >= 1"),
        (lambda d: d["evaluate"].update(batch_size=2048), "evaluate.batch_size"),
        (lambda d: d["train"].update(steps_by_method={"ful": 2800}),
         "train.steps_by_method.ful: is not in study.methods (full, random, coreset, typicality, typicality+balanced)"),
        (lambda d: d["train"].update(steps_by_method={"full": 0}), "train.steps_by_method.full: must be >= 1, got 0"),
        (lambda d: d["train"].update(steps_by_method={"full": -5}), "train.steps_by_method.full: must be >= 1"),
        (lambda d: d["train"].update(steps_by_method={"full": "many"}), "train.steps_by_method.full: expected an integer"),
        (lambda d: d["train"].update(steps_by_method=[2800]), "train.steps_by_method: expected a mapping"),
        (lambda d: d["train"].update(eval_every_n_steps=-1), "train.eval_every_n_steps: must be >= 0"),
        (lambda d: d["train"].update(eval_num_samples=3), "train.eval_num_samples: must exceed evaluate.prc_k (3)"),
        (lambda d: d["prepare"].update(validation_fraction=1.5), "prepare.validation_fraction: must be in [0, 1)"),
        (lambda d: d["train"].update(concurrent_seeds=0), "train.concurrent_seeds: must be >= 1"),
        (lambda d: d["train"].update(concurrent_seeds=2, devices=2), "train.concurrent_seeds: must be 1 when a run spans"),
        (lambda d: d["train"]["unet"].update(attention_resolutions=[5]),
         "train.unet.attention_resolutions: 5 is not a feature-map side of the UNet at prepare.image_size 28 (reachable: 28, 14, 7)"),
        (lambda d: (d["prepare"].update(image_size=32), d["train"]["unet"].update(attention_resolutions=[7])),
         "train.unet.attention_resolutions: 7 is not a feature-map side of the UNet at prepare.image_size 32 (reachable: 32, 16, 8)"),
    ],
)
def test_bad_params_give_one_line_naming_the_key(default_params_dict, mutate, message):
    mutate(default_params_dict)
    with pytest.raises(ParamsError) as err:
        params_from_mapping(default_params_dict)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_float_accepts_yaml_exponent_strings(default_params_dict):
    default_params_dict["train"]["lr"] = "1e-4"
    assert params_from_mapping(default_params_dict).train.lr == pytest.approx(1e-4)


def test_missing_params_file(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")


def test_steps_by_method_overrides_steps_for_listed_methods_only(default_params_dict):
    default_params_dict["train"].update(steps=800, steps_by_method={"full": 2800})
    train = params_from_mapping(default_params_dict).train
    assert train.steps_for("full") == 2800 and train.steps_for("random") == 800
    assert train.for_method("full").steps == 2800 and train.for_method("full").steps_by_method == {}
    assert train.for_method("random") == train.for_method("random")  # what a run's fingerprint is built from


def test_attention_resolutions_reachable_at_the_image_size_are_accepted(default_params_dict):
    assert params_from_mapping(default_params_dict).train.unet.attention_resolutions == (7,)  # 28 -> 14 -> 7
    default_params_dict["prepare"]["image_size"] = 27
    default_params_dict["train"]["unet"].update(channel_mults=[1, 2, 2, 2], attention_resolutions=[14, 4])
    assert params_from_mapping(default_params_dict).train.unet.attention_resolutions == (14, 4)  # 27 -> 14 -> 7 -> 4
