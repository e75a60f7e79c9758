"""End to end: `gencurate select` on a generated manifest + embeddings in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gencurate.cli import main as cli_main
from gencurate.config import load_params
from gencurate.io import read_ids, write_npy
from gencurate.selection.gallery import GALLERY_DIR
from gencurate.selection.map import MAP_FILE
from gencurate.selection.stats import (
    CLASS_HISTOGRAM, GROUP_SHARES, GROUPED_BY, IMBALANCE, MEAN_NEAREST_PICK_DISTANCE, MEAN_TYPICALITY, N_PICKED,
    N_POOL, NORMALISED_ENTROPY, OUTLIER_SHARE, REMOVED, REMOVED_FILE, RUNTIME_SECONDS, STATS_FILE,
)

METHODS = ["full", "random", "coreset", "typicality", "typiclust"]
NAMES = ["shirt", "shoe", "bag"]


def _write_inputs(root, *, n_train=150, n_reference=30, dim=12, seed=0):
    """A manifest (train rows interleaved with reference rows) and L2-normalised embeddings."""
    rng = np.random.default_rng(seed)
    n = n_train + n_reference
    labels = rng.integers(0, len(NAMES), n)
    centres = rng.standard_normal((len(NAMES), dim)) * 3
    x = (centres[labels] + rng.standard_normal((n, dim))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    split = np.array(["train"] * n_train + ["reference"] * n_reference, dtype=object)
    rng.shuffle(split)
    labels[:5] = -1  # some unlabelled rows
    manifest = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "split": split,
        "label": labels,
        "label_name": [None if v < 0 else NAMES[v] for v in labels],
    })
    return manifest, x


def _setup(tmp_path, default_params_dict, *, budget=20, methods=METHODS, n_train=150):
    params = default_params_dict
    for key in params["paths"]:
        if key != "demo":
            params["paths"][key] = str(tmp_path / params["paths"][key])
    params["study"]["methods"] = list(methods)
    params["train"]["steps_by_method"] = {}  # budgets may name only study methods
    params["select"].update(budget=budget, knn_k=5, typiclust_min_cluster_size=3)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    p = load_params(path)
    manifest, x = _write_inputs(tmp_path, n_train=n_train)
    p.paths.manifest.parent.mkdir(parents=True)
    manifest.to_parquet(p.paths.manifest)
    write_npy(p.paths.embedding("selection"), x)
    images = np.random.default_rng(1).integers(0, 256, (len(manifest), 6, 6, 1), dtype=np.uint8)
    write_npy(p.paths.images, images)
    return path, p, manifest


def test_select_stage_writes_selections_and_report(tmp_path, default_params_dict):
    path, p, manifest = _setup(tmp_path, default_params_dict)
    assert cli_main(["select", "--params", str(path)]) == 0

    train_ids = set(manifest.loc[manifest["split"] == "train", "id"])
    for method in METHODS:
        text = p.paths.selection(method).read_text()
        ids = read_ids(p.paths.selection(method))
        assert list(ids) == sorted(set(ids)), "sorted and unique"
        assert set(ids) <= train_ids, "only train images are selectable"
        assert len(ids) == (len(train_ids) if method == "full" else 20)
        assert text == "".join(f"{i}\n" for i in ids)
    assert sorted(f.name for f in p.paths.selection("x").parent.iterdir()) == sorted(f"{m}.txt" for m in METHODS)

    report = Path(p.paths.selection_report)
    stats = json.loads((report / STATS_FILE).read_text())
    assert set(stats["methods"]) == set(METHODS)
    for method, entry in stats["methods"].items():
        assert entry[N_PICKED] == (150 if method == "full" else 20)
        assert entry[RUNTIME_SECONDS] >= 0
        assert 0.0 <= entry[OUTLIER_SHARE] <= 1.0
        assert entry[MEAN_NEAREST_PICK_DISTANCE] > 0
        hist = entry[CLASS_HISTOGRAM]
        assert set(hist) <= set(NAMES)
        assert sum(hist.values()) <= entry[N_PICKED]  # unlabelled rows are not counted
    assert stats["methods"]["full"][MEAN_TYPICALITY] == pytest.approx(stats["dataset"][MEAN_TYPICALITY])
    # The study's claims on this data: typicality prefers dense rows, coreset spreads out.
    methods = stats["methods"]
    assert methods["typicality"][MEAN_TYPICALITY] > methods["random"][MEAN_TYPICALITY] > methods["coreset"][MEAN_TYPICALITY]
    assert methods["coreset"][MEAN_NEAREST_PICK_DISTANCE] > methods["random"][MEAN_NEAREST_PICK_DISTANCE]
    assert methods["coreset"][OUTLIER_SHARE] > methods["typicality"][OUTLIER_SHARE] == 0.0
    png = (report / MAP_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_select_stage_is_reproducible_and_drops_stale_methods(tmp_path, default_params_dict):
    path, p, _ = _setup(tmp_path, default_params_dict, methods=["random", "coreset"])
    assert cli_main(["select", "--params", str(path)]) == 0
    first = {m: p.paths.selection(m).read_text() for m in ("random", "coreset")}
    params = yaml.safe_load(path.read_text())
    params["study"]["methods"] = ["coreset"]
    params["train"]["steps_by_method"] = {}  # budgets may name only study methods
    path.write_text(yaml.safe_dump(params))
    assert cli_main(["select", "--params", str(path)]) == 0
    assert p.paths.selection("coreset").read_text() == first["coreset"]
    assert not p.paths.selection("random").exists()


def test_budget_larger_than_train_split_is_one_line_error(tmp_path, default_params_dict, capsys):
    path, p, _ = _setup(tmp_path, default_params_dict, budget=151, methods=["full", "random"])
    assert cli_main(["select", "--params", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "select.budget: 151 exceeds the 150 train images" in err and "\n" not in err
    assert not p.paths.selection("random").exists()


def test_full_only_ignores_budget(tmp_path, default_params_dict):
    path, p, _ = _setup(tmp_path, default_params_dict, budget=1000, methods=["full"])
    assert cli_main(["select", "--params", str(path)]) == 0
    assert len(read_ids(p.paths.selection("full"))) == 150


def test_misaligned_embeddings_are_one_line_error(tmp_path, default_params_dict, capsys):
    path, p, _ = _setup(tmp_path, default_params_dict, methods=["random"])
    write_npy(p.paths.embedding("selection"), np.zeros((7, 3), dtype=np.float32))
    assert cli_main(["select", "--params", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has shape (7, 3) but" in err and "gencurate embed --role selection" in err and "\n" not in err


def test_nan_embedding_is_one_line_error(tmp_path, default_params_dict, capsys):
    path, p, manifest = _setup(tmp_path, default_params_dict, methods=["random"])
    x = np.load(p.paths.embedding("selection"))
    first_train = int(np.flatnonzero(manifest["split"] == "train")[3])
    x[first_train, 2] = np.nan
    write_npy(p.paths.embedding("selection"), x)
    assert cli_main(["select", "--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"selection.npy: embeddings row {first_train} contains NaN or inf" in err


def test_ivf_knn_with_every_list_probed_equals_exact(tmp_path, default_params_dict):
    """select.knn_nlist switches typicality and the report to a faiss IVF index; probing every
    list makes it exhaustive, so the picks and report must equal the exact search's."""
    path, p, _ = _setup(tmp_path, default_params_dict, methods=["typicality"])
    assert cli_main(["select", "--params", str(path)]) == 0
    exact = p.paths.selection("typicality").read_text()
    exact_stats = json.loads((Path(p.paths.selection_report) / STATS_FILE).read_text())["methods"]["typicality"]
    params = yaml.safe_load(path.read_text())
    params["select"].update(knn_nlist=4, knn_nprobe=4)
    path.write_text(yaml.safe_dump(params))
    assert cli_main(["select", "--params", str(path)]) == 0
    assert p.paths.selection("typicality").read_text() == exact
    stats = json.loads((Path(p.paths.selection_report) / STATS_FILE).read_text())["methods"]["typicality"]
    assert stats[MEAN_TYPICALITY] == pytest.approx(exact_stats[MEAN_TYPICALITY], rel=1e-12)


def test_bad_ivf_params_are_one_line_errors(tmp_path, default_params_dict, capsys):
    path, _, _ = _setup(tmp_path, default_params_dict, methods=["typicality"])
    params = yaml.safe_load(path.read_text())
    for update, message in (({"knn_nlist": 4, "knn_nprobe": 5}, "select.knn_nprobe: must be <= select.knn_nlist (4)"),
                            ({"knn_nlist": 151, "knn_nprobe": 1}, "select.knn_nlist: must not exceed the 150 train images")):
        params["select"].update(update)
        path.write_text(yaml.safe_dump(params))
        assert cli_main(["select", "--params", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err


def test_select_stage_balanced_variant_removals_and_galleries(tmp_path, default_params_dict):
    methods = ["random", "random+balanced", "prototypes"]
    params = default_params_dict
    params["select"].update(drop_outliers=0.1, semdedup_threshold=0.999, map_tsne_max=0)
    path, p, manifest = _setup(tmp_path, params, methods=methods, budget=30)
    assert cli_main(["select", "--params", str(path)]) == 0
    report = Path(p.paths.selection_report)
    stats = json.loads((report / STATS_FILE).read_text())
    removed = pd.read_csv(report / REMOVED_FILE)
    assert stats["dataset"][REMOVED] == {"outlier": 15} and stats["dataset"][N_POOL] == 135
    assert list(removed.columns) == ["id", "reason", "partner_id", "similarity"] and len(removed) == 15
    train = manifest[manifest["split"] == "train"]
    labelled = train[train["label"] >= 0]
    for method in methods:
        ids = read_ids(p.paths.selection(method))
        assert not set(ids) & set(removed["id"]), "removed images are never picked"
        assert (report / GALLERY_DIR / f"{method}.png").read_bytes()[:4] == b"\x89PNG"
        assert set(stats["methods"][method][GROUP_SHARES]) == set(NAMES)
    picked = labelled[labelled["id"].isin(read_ids(p.paths.selection("random+balanced")))]
    counts = picked["label_name"].value_counts()
    assert counts.max() - counts.min() <= 1 and counts.sum() >= 30 - 5  # rows without a label: 5 at most
    assert stats["methods"]["random+balanced"][IMBALANCE][NORMALISED_ENTROPY] > 0.99
    data_shares = stats["dataset"][GROUP_SHARES]
    assert sum(s["data"] for s in data_shares.values()) == pytest.approx(1.0)


def test_balanced_methods_need_a_grouping(tmp_path, default_params_dict, capsys):
    default_params_dict["select"]["balance"] = "none"
    path, _, _ = _setup(tmp_path, default_params_dict, methods=["typicality+balanced"])
    assert cli_main(["select", "--params", str(path)]) == 2
    assert "select.balance: is none, but study.methods lists typicality+balanced" in capsys.readouterr().err


def test_balance_by_clusters_splits_the_budget_over_kmeans_clusters(tmp_path, default_params_dict):
    default_params_dict["select"].update(balance="clusters", clusters=3, map_tsne_max=0)
    path, p, manifest = _setup(tmp_path, default_params_dict, methods=["coreset+balanced"], budget=30)
    assert cli_main(["select", "--params", str(path)]) == 0
    stats = json.loads((Path(p.paths.selection_report) / STATS_FILE).read_text())
    assert stats["dataset"][GROUPED_BY] == "labels"  # the report keeps the classes
    ids = read_ids(p.paths.selection("coreset+balanced"))
    train = manifest[manifest["split"] == "train"].reset_index(drop=True)
    from gencurate.selection.kmeans import embeddings_to_clusters
    from gencurate.stages.select import load_train

    x, _, _ = load_train(load_params(path))
    clusters = embeddings_to_clusters(x, 3, seed=0)
    counts = np.bincount(clusters[train["id"].isin(ids).to_numpy()], minlength=3)
    assert counts.sum() == 30 and counts.tolist() == np.minimum(np.bincount(clusters, minlength=3), 10).tolist()


def test_budget_radius_is_reported_and_used(tmp_path, default_params_dict):
    default_params_dict["select"].update(typicality_radius="budget", map_tsne_max=0)
    path, p, _ = _setup(tmp_path, default_params_dict, methods=["typicality"], budget=20)
    assert cli_main(["select", "--params", str(path)]) == 0
    from gencurate.stages.select import load_train

    x, _, _ = load_train(load_params(path))
    d = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    eighth = np.median(np.sort(d, axis=1)[:, 7])  # round(150 / 20) = 8th neighbour
    stats = json.loads((Path(p.paths.selection_report) / STATS_FILE).read_text())
    assert stats["dataset"]["typicality_radius"] == pytest.approx(eighth)


def test_semdedup_in_the_stage_lists_planted_copies_with_their_partner(tmp_path, default_params_dict):
    default_params_dict["select"].update(semdedup_threshold=0.9999, semdedup_clusters=3, map_tsne_max=0)
    path, p, manifest = _setup(tmp_path, default_params_dict, methods=["full", "coreset"], budget=20)
    x = np.load(p.paths.embedding("selection"))
    train_ids = manifest.loc[manifest["split"] == "train", "id"].to_numpy()
    pairs = [(train_ids[0], train_ids[40]), (train_ids[1], train_ids[80])]
    rng = np.random.default_rng(5)
    for a, b in pairs:  # b: a near-identical copy of a
        x[b] = x[a] + 1e-4 * rng.standard_normal(x.shape[1])
        x[b] /= np.linalg.norm(x[b])
    write_npy(p.paths.embedding("selection"), x)
    assert cli_main(["select", "--params", str(path)]) == 0
    removed = pd.read_csv(Path(p.paths.selection_report) / REMOVED_FILE)
    assert len(removed) == 2 and set(removed["reason"]) == {"semdedup"}
    assert {frozenset(pair) for pair in zip(removed["id"], removed["partner_id"])} == {frozenset(q) for q in pairs}
    assert (removed["similarity"] > 0.9999).all()
    full = set(read_ids(p.paths.selection("full")))
    assert len(full) == 148 and not full & set(removed["id"]) and set(removed["partner_id"]) <= full
