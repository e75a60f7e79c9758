"""The rating web app through FastAPI's TestClient: pages, pairs, images, votes, bad requests."""

from __future__ import annotations

import argparse
import io
import multiprocessing
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image

from gencurate.config import params_from_mapping
from gencurate.io import write_npy
from gencurate.rate import votes as V
from gencurate.rate.app import create_app
from gencurate.rate.pairs import PairSampler
from gencurate.rate.samples import (
    DISPLAY_PX, display_scale, load_study_samples, require_two_methods, sample_to_png,
)

METHODS = ["full", "random", "coreset", "typicality"]
N_SAMPLES = 6


def fake_samples(methods=METHODS, seeds=(0, 1), shape=(28, 28, 1), n=N_SAMPLES) -> dict:
    """Each model's images are filled with a value encoding (method, seed, index), so a PNG names its source."""
    samples = {}
    for mi, m in enumerate(methods):
        for s in seeds:
            values = np.arange(n, dtype=np.uint8) + 40 * mi + 20 * s
            samples[(m, s)] = np.broadcast_to(values[:, None, None, None], (n, *shape)).copy()
    return samples


@pytest.fixture()
def samples() -> dict:
    return fake_samples()


@pytest.fixture()
def votes_csv(tmp_path) -> Path:
    return tmp_path / "human" / "votes.csv"


@pytest.fixture()
def client(samples, votes_csv) -> TestClient:
    return TestClient(create_app(samples=samples, votes_csv=votes_csv, default_rater="alice", pair_seed=0))


def ref(method, seed=0, index=0) -> dict:
    return {"method": method, "seed": seed, "index": index}


def vote_body(left=("coreset", 0, 1), right=("typicality", 1, 2), answer="left", **extra) -> dict:
    return {"left": ref(*left), "right": ref(*right), "answer": answer, **extra}


# ---------------------------------------------------------------- images and samples

def test_png_is_nearest_neighbour_upscale_of_the_sample():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for image in (gray, rgb):
        scale = display_scale(*image.shape[:2])
        decoded = np.asarray(Image.open(io.BytesIO(sample_to_png(image))))
        expected = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
        assert decoded.reshape(expected.shape).tolist() == expected.tolist()
    assert display_scale(28, 28) == DISPLAY_PX // 28 == 9
    assert display_scale(512, 512) == 1  # never shrinks


def test_load_study_samples_skips_missing_and_rejects_bad_arrays(tmp_path, default_params_dict, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = params_from_mapping(default_params_dict)
    write_npy(params.paths.samples_file("random", 0), np.zeros((3, 8, 8, 1), np.uint8))
    loaded = load_study_samples(params.paths, params.study)
    assert list(loaded) == [("random", 0)] and loaded[("random", 0)].shape == (3, 8, 8, 1)
    with pytest.raises(ValueError, match="at least two methods"):
        require_two_methods(loaded, params.paths)
    write_npy(params.paths.samples_file("coreset", 1), np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"coreset/seed1/samples.npy: expected uint8 images \(N, H, W, C\)"):
        load_study_samples(params.paths, params.study)
    write_npy(params.paths.samples_file("coreset", 1), np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="expected uint8"):
        load_study_samples(params.paths, params.study)
    write_npy(params.paths.samples_file("coreset", 1), np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="coreset/seed1/samples.npy: holds no samples"):
        load_study_samples(params.paths, params.study)


def test_image_route_serves_the_named_sample(client, samples):
    response = client.get("/api/image/random/1/4.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    decoded = np.asarray(Image.open(io.BytesIO(response.content)))
    assert decoded.shape == (252, 252)
    assert np.all(decoded == samples[("random", 1)][4, 0, 0, 0])


@pytest.mark.parametrize(("url", "status", "message"), [
    ("/api/image/magic/0/0.png", 404, "unknown method 'magic'"),
    ("/api/image/random/7/0.png", 404, "no samples for seed 7"),
    ("/api/image/random/0/6.png", 404, "index 6 out of range"),
    ("/api/image/random/0/-1.png", 404, "index -1 out of range"),
    ("/api/image/random/0/x.png", 422, "integer"),
    ("/api/image/..%2F..%2Fparams.yaml/0/0.png", 404, "Not Found"),
    ("/api/image/params.yaml/0/0.png", 404, "unknown method 'params.yaml'"),
    ("/static/..%2F..%2Fapp.py", 404, ""),
    ("/static/missing.js", 404, "no static file"),
])
def test_bad_image_and_static_requests_get_4xx(client, url, status, message):
    response = client.get(url)
    assert response.status_code == status
    assert message in response.text


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name in ("rate.js", "rate.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    assert "pixelated" in client.get("/static/rate.css").text
    config = client.get("/api/config").json()
    assert config["rater"] == "alice" and config["methods"] == METHODS
    assert len(config["models"]) == 8 and all(m["count"] == N_SAMPLES for m in config["models"])


# ---------------------------------------------------------------- pairs

def test_pairs_compare_two_methods_uniformly_with_random_sides(client):
    pairs = [client.get("/api/pair").json() for _ in range(600)]
    assert all(p["left"]["method"] != p["right"]["method"] for p in pairs)
    unordered = Counter(frozenset((p["left"]["method"], p["right"]["method"])) for p in pairs)
    assert len(unordered) == 6 and min(unordered.values()) > 600 / 6 * 0.6
    left = Counter(p["left"]["method"] for p in pairs)
    assert all(120 < left[m] < 180 for m in METHODS)  # each method on the left ~1/4 of the time
    assert {p["left"]["seed"] for p in pairs} == {0, 1}
    assert {p["left"]["index"] for p in pairs} == set(range(N_SAMPLES))
    one = pairs[0]["left"]
    assert one["url"] == f"/api/image/{one['method']}/{one['seed']}/{one['index']}.png"
    assert client.get(one["url"]).status_code == 200


def test_pair_sampler_is_deterministic_and_needs_two_methods():
    sizes = {("a", 0): 5, ("b", 0): 7, ("b", 3): 2}
    first = [PairSampler(sizes=sizes, seed=1).draw() for _ in range(1)]
    assert first == [PairSampler(sizes=sizes, seed=1).draw()]
    sampler = PairSampler(sizes=sizes, seed=2)
    for _ in range(200):
        left, right = sampler.draw()
        for r in (left, right):
            assert 0 <= r.index < sizes[(r.method, r.seed)]
    with pytest.raises(ValueError, match="at least two methods"):
        PairSampler(sizes={("a", 0): 5, ("a", 1): 5})


# ---------------------------------------------------------------- votes

def test_vote_is_appended_with_header_once(client, votes_csv):
    assert client.post("/api/vote", json=vote_body()).status_code == 200
    response = client.post("/api/vote", json=vote_body(("full", 1, 5), ("random", 0, 0), "unsure", rater="bob"))
    assert response.status_code == 200 and response.json()["recorded"]["rater"] == "bob"
    lines = votes_csv.read_text().splitlines()
    assert lines[0] == ",".join(V.VOTE_COLUMNS) and len(lines) == 3
    votes = V.read_votes(votes_csv)
    assert votes[V.RATER].tolist() == ["alice", "bob"]
    assert votes.iloc[0][[V.LEFT_METHOD, V.LEFT_SEED, V.LEFT_INDEX, V.RIGHT_METHOD, V.RIGHT_SEED,
                          V.RIGHT_INDEX, V.ANSWER]].tolist() == ["coreset", 0, 1, "typicality", 1, 2, "left"]
    stamps = pd.to_datetime(votes[V.TIMESTAMP], utc=True)
    assert stamps.notna().all() and votes[V.TIMESTAMP].str.endswith("+00:00").all()


@pytest.mark.parametrize(("body", "message"), [
    (vote_body(left=("magic", 0, 0)), "left: unknown method 'magic'"),
    (vote_body(right=("random", 5, 0)), "right: method 'random' has no samples for seed 5"),
    (vote_body(right=("random", 0, N_SAMPLES)), "right: index 6 out of range"),
    (vote_body(left=("random", 0, 1), right=("random", 1, 2)), "both sides show method 'random'"),
    (vote_body(answer="both"), "answer"),
    (vote_body(right=("random", -1, 0)), "greater than or equal to 0"),
    (vote_body(rater="bad\nname"), "rater"),
    (vote_body(rater="x" * 65), "rater"),
    (vote_body(extra_field=1), "extra_field"),
    ({"left": ref("random"), "answer": "left"}, "right"),
    ("not json", "JSON decode error"),
    ("[1, 2]", "valid dictionary"),
])
def test_bad_votes_get_422_and_change_nothing(client, votes_csv, body, message):
    client.post("/api/vote", json=vote_body())  # one good vote first
    before = votes_csv.read_bytes()
    response = client.post("/api/vote", json=body) if isinstance(body, dict) else \
        client.post("/api/vote", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in response.text
    assert votes_csv.read_bytes() == before


def test_concurrent_votes_from_threads_are_all_recorded(samples, votes_csv):
    app = create_app(samples=samples, votes_csv=votes_csv, default_rater="anon", pair_seed=3)
    n_threads, per_thread = 8, 15
    errors: list[str] = []

    def rater(k: int) -> None:
        with TestClient(app) as c:
            for i in range(per_thread):
                p = c.get("/api/pair").json()
                body = {"left": {x: p["left"][x] for x in ("method", "seed", "index")},
                        "right": {x: p["right"][x] for x in ("method", "seed", "index")},
                        "answer": V.ANSWERS[i % 3], "rater": f"rater{k}"}
                r = c.post("/api/vote", json=body)
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=rater, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    text = votes_csv.read_text()
    assert text.count(V.RATER + ",") == 1  # header once
    votes = V.read_votes(votes_csv)
    assert len(votes) == n_threads * per_thread
    assert votes[V.RATER].value_counts().to_dict() == {f"rater{k}": per_thread for k in range(n_threads)}
    assert set(votes[V.ANSWER]) == set(V.ANSWERS)
    assert not list(votes_csv.parent.glob(".gencurate-tmp-*"))  # no temporary left behind


def _append_many(path: str, worker: int, n: int) -> None:
    for i in range(n):
        V.append_vote(path, {V.RATER: f"p{worker}", V.TIMESTAMP: V.utc_timestamp(), V.LEFT_METHOD: "random",
                             V.LEFT_SEED: 0, V.LEFT_INDEX: i, V.RIGHT_METHOD: "coreset", V.RIGHT_SEED: 0,
                             V.RIGHT_INDEX: i, V.ANSWER: "left"})


@pytest.mark.multiprocess
def test_concurrent_appends_from_processes_lose_nothing(votes_csv):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(votes_csv), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    votes = V.read_votes(votes_csv)
    assert len(votes) == 100
    for w in range(4):  # each worker's rows all there, in its own order
        assert votes[votes[V.RATER] == f"p{w}"][V.LEFT_INDEX].tolist() == list(range(25))


def test_append_refuses_a_foreign_header_and_bad_rows(votes_csv):
    votes_csv.parent.mkdir(parents=True)
    votes_csv.write_text("who,when\n")
    row = {c: 0 for c in V.VOTE_COLUMNS} | {V.ANSWER: "left"}
    with pytest.raises(ValueError, match="unexpected header"):
        V.append_vote(votes_csv, row)
    assert votes_csv.read_text() == "who,when\n"
    with pytest.raises(ValueError, match="exactly the columns"):
        V.append_vote(votes_csv, {V.RATER: "x"})
    with pytest.raises(ValueError, match="answer must be one of"):
        V.append_vote(votes_csv, row | {V.ANSWER: "maybe"})


# ---------------------------------------------------------------- stage

def test_stage_serves_study_samples_on_requested_address(tmp_path, default_params_dict, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(default_params_dict))
    params = params_from_mapping(default_params_dict)
    for method in ("random", "typicality"):
        write_npy(params.paths.samples_file(method, 0), np.zeros((4, 28, 28, 1), np.uint8))
    served = {}

    def fake_run(app, host, port, **kwargs):
        served.update(app=app, host=host, port=port)

    import gencurate.stages.rate as stage

    monkeypatch.setattr(stage.uvicorn, "run", fake_run)
    stage.main(argparse.Namespace(params="params.yaml", host="127.0.0.1", port=8123, rater="carol"))
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    c = TestClient(served["app"])
    assert c.get("/api/config").json()["methods"] == ["random", "typicality"]
    assert c.post("/api/vote", json=vote_body(("random", 0, 3), ("typicality", 0, 0), "right")).status_code == 200
    assert V.read_votes(params.paths.votes)[V.RATER].tolist() == ["carol"]


def test_stage_errors_are_one_line(tmp_path, default_params_dict, monkeypatch, capsys):
    from gencurate.cli import main as cli_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(default_params_dict))
    assert cli_main(["rate", "--port", "0"]) == 2
    assert "rating needs samples of at least two methods" in capsys.readouterr().err
    params = params_from_mapping(default_params_dict)
    for method in ("random", "typicality"):
        write_npy(params.paths.samples_file(method, 0), np.zeros((4, 28, 28, 1), np.uint8))
    assert cli_main(["rate", "--rater", "a,b"]) == 2
    err = capsys.readouterr().err
    assert "rater name 'a,b'" in err and err.count("\n") == 1
