"""Human preference report: outcome counts, Wilson intervals, Bradley–Terry, ranking agreement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from scipy.optimize import minimize

from gencurate.rate import votes as V
from gencurate.rate.app import create_app
from gencurate.rate.pairs import PairSampler
from gencurate.report import human as H

METHODS = ["full", "random", "coreset", "typicality"]


def votes_frame(rows: list[tuple[str, str, str]], rater: str = "r") -> pd.DataFrame:
    """(left_method, right_method, answer) rows -> a votes DataFrame with every column."""
    return pd.DataFrame([
        {V.RATER: rater, V.TIMESTAMP: "2024-01-01T00:00:00.000+00:00", V.LEFT_METHOD: lm, V.LEFT_SEED: 0,
         V.LEFT_INDEX: 0, V.RIGHT_METHOD: rm, V.RIGHT_SEED: 0, V.RIGHT_INDEX: 0, V.ANSWER: a}
        for lm, rm, a in rows
    ], columns=list(V.VOTE_COLUMNS))


def test_outcomes_are_counted_per_ordered_pair():
    votes = votes_frame([
        ("random", "coreset", "left"),    # random beats coreset
        ("coreset", "random", "right"),   # random beats coreset
        ("coreset", "random", "left"),    # coreset beats random
        ("full", "coreset", "unsure"),
        ("coreset", "full", "unsure"),
        ("magic", "full", "left"),        # unknown method: ignored
        ("full", "full", "left"),         # same method: ignored
    ])
    wins, unsure, ignored = H.votes_to_outcomes(votes, METHODS)
    expected = np.zeros((4, 4), int)
    expected[1, 2], expected[2, 1] = 2, 1
    assert wins.tolist() == expected.tolist()
    assert unsure[0, 2] == unsure[2, 0] == 2 and unsure.sum() == 4
    assert ignored == 2
    with pytest.raises(ValueError, match="unknown answers 'maybe'"):
        H.votes_to_outcomes(votes_frame([("full", "random", "maybe")]), METHODS)


def test_wilson_interval_hand_computed():
    # 7 of 10: centre (0.7 + z²/20) / (1 + z²/10), half-width z sqrt(0.021 + z²/400) / (1 + z²/10), z = 1.96
    z = 1.959963984540054
    centre = (0.7 + z**2 / 20) / (1 + z**2 / 10)
    half = z * np.sqrt(0.7 * 0.3 / 10 + z**2 / 400) / (1 + z**2 / 10)
    assert H.wilson_interval(7, 10) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert H.wilson_interval(7, 10) == pytest.approx((0.3968, 0.8922), abs=1e-4)
    low, high = H.wilson_interval(0, 5)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.5
    assert H.wilson_interval(0, 0) is None


def test_bradley_terry_two_methods_hand_computed():
    wins = np.array([[0, 3], [1, 0]])
    # MLE: p_a / p_b = wins ratio 3 / 1; with the prior, (3 + 0.5) / (1 + 0.5).
    assert H.bradley_terry(wins, prior_games=0).tolist() == pytest.approx([0.75, 0.25])
    assert H.bradley_terry(wins).tolist() == pytest.approx([0.7, 0.3])


def _bt_reference(wins: np.ndarray, prior_games: float) -> np.ndarray:
    """Direct maximum likelihood with scipy.optimize over log-strengths (the reference)."""
    m = len(wins)
    w = wins + prior_games / 2 * (1 - np.eye(m))

    def nll(theta):
        diff = theta[:, None] - theta[None, :]
        return float(np.sum(w * np.logaddexp(0.0, -diff)))  # -sum w_ij log sigmoid(theta_i - theta_j)

    theta = minimize(nll, np.zeros(m), method="BFGS", options={"gtol": 1e-10}).x
    p = np.exp(theta - theta.max())
    return p / p.sum()


@pytest.mark.parametrize("prior_games", [0.0, 1.0, 4.0])
def test_bradley_terry_mm_matches_direct_likelihood_maximisation(prior_games):
    rng = np.random.default_rng(int(prior_games))
    wins = rng.integers(1, 30, size=(5, 5)) * (1 - np.eye(5, dtype=int))
    ours = H.bradley_terry(wins, prior_games=prior_games)
    assert ours.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(ours, _bt_reference(wins, prior_games), rtol=1e-5)


def test_bradley_terry_is_permutation_equivariant_and_scale_aware():
    rng = np.random.default_rng(3)
    wins = rng.integers(0, 20, size=(4, 4)) * (1 - np.eye(4, dtype=int))
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_allclose(H.bradley_terry(wins[np.ix_(perm, perm)]), H.bradley_terry(wins)[perm], rtol=1e-9)
    # The prior weighs less as votes grow: 10x the votes moves strengths towards the prior-free MLE.
    mle = H.bradley_terry(wins + 1, prior_games=0)
    assert np.abs(H.bradley_terry(10 * (wins + 1)) - mle).max() < np.abs(H.bradley_terry(wins + 1) - mle).max()


def test_bradley_terry_without_prior_refuses_a_method_that_never_lost():
    wins = np.array([[0, 5, 2], [0, 0, 1], [0, 3, 0]])  # method 0 never lost
    with pytest.raises(ValueError, match="not strongly connected"):
        H.bradley_terry(wins, prior_games=0)
    assert np.argmax(H.bradley_terry(wins)) == 0  # the prior keeps it finite and first


def test_rankings_agreement():
    same = H.rankings_agreement(["a", "b", "c"], ["a", "b", "c"])
    assert same[H.AGREE] is True and same[H.KENDALL_TAU] == pytest.approx(1.0)
    rev = H.rankings_agreement(["c", "b", "a"], ["a", "b", "c"])
    assert rev[H.AGREE] is False and rev[H.KENDALL_TAU] == pytest.approx(-1.0)
    partial = H.rankings_agreement(["b", "a"], ["a", "x", "b"])  # only a and b are in both
    assert partial[H.COMPARED] == ["a", "b"] and partial[H.AGREE] is False
    assert H.rankings_agreement(["a"], ["a", "b"])[H.AGREE] is None


def simulate_votes(strength: dict[str, float], n: int, *, p_unsure: float, seed: int) -> pd.DataFrame:
    """A rater who prefers method i over j with probability s_i / (s_i + s_j), unsure with p_unsure."""
    rng = np.random.default_rng(seed)
    sampler = PairSampler(sizes={(m, s): 50 for m in strength for s in (0, 1)}, seed=seed)
    rows = []
    for _ in range(n):
        left, right = sampler.draw()
        if rng.random() < p_unsure:
            answer = "unsure"
        else:
            p_left = strength[left.method] / (strength[left.method] + strength[right.method])
            answer = "left" if rng.random() < p_left else "right"
        rows.append((left.method, right.method, answer))
    return votes_frame(rows)


def test_simulated_rater_preferences_are_recovered():
    truth = {"typicality": 0.4, "coreset": 0.25, "random": 0.2, "full": 0.15}  # deliberately not FID order
    summary = H.votes_to_summary(simulate_votes(truth, 4000, p_unsure=0.2, seed=0), METHODS)
    assert summary[H.HUMAN_RANKING] == ["typicality", "coreset", "random", "full"]
    for m, s in truth.items():
        assert summary[H.BRADLEY_TERRY][m] == pytest.approx(s, abs=0.02)
    assert summary[H.UNSURE] == pytest.approx(800, rel=0.1) and summary[H.VOTES] == 4000
    covered = 0
    for p in summary[H.PAIRS]:
        true_rate = truth[p[H.METHOD_A]] / (truth[p[H.METHOD_A]] + truth[p[H.METHOD_B]])
        assert p[H.A_WIN_RATE] == pytest.approx(true_rate, abs=0.06)
        covered += p[H.CI_LOW] <= true_rate <= p[H.CI_HIGH]
    assert covered >= 5  # 95% intervals: at most one miss of six is plausible


def test_simulated_rater_through_the_web_app_recovers_the_order(tmp_path):
    truth = {"typicality": 0.55, "coreset": 0.25, "random": 0.15, "full": 0.05}
    samples = {(m, s): np.zeros((8, 8, 8, 1), np.uint8) for m in METHODS for s in (0, 1)}
    votes_csv = tmp_path / "votes.csv"
    client = TestClient(create_app(samples=samples, votes_csv=votes_csv, default_rater="sim", pair_seed=1))
    rng = np.random.default_rng(1)
    for _ in range(300):
        pair = client.get("/api/pair").json()
        s_left, s_right = truth[pair["left"]["method"]], truth[pair["right"]["method"]]
        answer = "unsure" if rng.random() < 0.1 else ("left" if rng.random() < s_left / (s_left + s_right) else "right")
        body = {side: {k: pair[side][k] for k in ("method", "seed", "index")} for side in ("left", "right")}
        assert client.post("/api/vote", json=body | {"answer": answer}).status_code == 200
    markdown, summary = H.votes_to_human_section(votes_csv, METHODS, ["full", "typicality", "random", "coreset"])
    assert summary[H.HUMAN_RANKING] == ["typicality", "coreset", "random", "full"]
    assert summary[H.VOTES] == 300 and summary[H.RATERS] == 1
    assert summary[H.AGREE] is False and summary[H.KENDALL_TAU] == pytest.approx((2 - 4) / 6)  # 2 concordant, 4 discordant pairs
    assert "differs from the FID ranking (full > typicality > random > coreset)" in markdown


def test_votes_to_human_section_markdown_and_json(tmp_path):
    votes_csv = tmp_path / "votes.csv"
    assert H.votes_to_human_section(votes_csv, METHODS, METHODS) is None  # no file
    votes_csv.write_text("")
    assert H.votes_to_human_section(votes_csv, METHODS, METHODS) is None  # empty file
    votes_csv.write_text(",".join(V.VOTE_COLUMNS) + "\n")
    assert H.votes_to_human_section(votes_csv, METHODS, METHODS) is None  # header only
    rows = [("typicality", "random", "left")] * 9 + [("random", "typicality", "left")] + \
           [("typicality", "coreset", "unsure")] * 2 + [("magic", "random", "left")]
    votes_frame(rows).to_csv(votes_csv, index=False)
    markdown, summary = H.votes_to_human_section(votes_csv, ["random", "coreset", "typicality"],
                                        ["typicality", "random", "coreset", "full"])
    json.dumps(summary)  # JSON-able
    assert summary[H.VOTES] == 12 and summary[H.DECISIVE] == 10 and summary[H.UNSURE] == 2
    assert summary[H.IGNORED] == 1
    assert summary[H.FID_RANKING] == ["typicality", "random", "coreset"]  # restricted to the study
    rt = next(p for p in summary[H.PAIRS] if (p[H.METHOD_A], p[H.METHOD_B]) == ("random", "typicality"))
    assert (rt[H.A_WINS], rt[H.B_WINS], rt[H.A_WIN_RATE]) == (1, 9, 0.1) and rt[H.SIGNIFICANT]
    assert (rt[H.CI_LOW], rt[H.CI_HIGH]) == pytest.approx(H.wilson_interval(1, 10))
    rc = next(p for p in summary[H.PAIRS] if p[H.METHOD_B] == "coreset")
    assert rc[H.PAIR_VOTES] == 0 and rc[H.A_WIN_RATE] is None
    # coreset has only "not sure" votes: it is not in the Bradley–Terry ranking.
    assert summary[H.HUMAN_RANKING] == ["typicality", "random"] and "coreset" not in summary[H.BRADLEY_TERRY]
    assert summary[H.AGREE] is True
    assert markdown.startswith("## Human preference\n")
    assert "| random | typicality | 10 | 0 | 1 | 9 | 0.10 * | [0.02, 0.40] |" in markdown
    assert "| coreset | typicality | 2 | 2 | 0 | 0 | – | – |" in markdown
    assert "agrees with the FID ranking (typicality > random) on the 2 methods" in markdown
    assert "1 of 1 rated method pairs" in markdown and "1 votes on methods outside" in markdown
