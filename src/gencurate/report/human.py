"""The human preference section of the comparison report.

From the votes of `gencurate rate` (pairs of samples of two different methods; answer
left / right / unsure), compute per method pair the win-rate with a 95% Wilson interval
and the number of votes, a Bradley–Terry ranking of the methods, and whether that
ranking agrees with the FID ranking. Seeds of a method are pooled: the question is which
*curation method* people prefer, as in the study's pairwise evaluation.

"Not sure" answers carry no preference: they are excluded from win-rates, intervals and
the Bradley–Terry fit, and reported per pair (a high share means the pair looks alike).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components
from scipy.stats import binomtest, kendalltau

from gencurate.rate import votes as V

CONFIDENCE = 0.95
# Virtual games per method pair, split half/half, added before the Bradley–Terry fit: a weak
# prior that keeps the MLE finite when a method won (or lost) every vote (Hunter 2004, §3 needs
# a strongly connected win graph). Its pull vanishes as votes accumulate.
BT_PRIOR_GAMES = 1.0
UNSURE_RULE = ("'not sure' answers are excluded from win-rates, confidence intervals and the "
               "Bradley-Terry fit, and counted per pair")

# summary keys
VOTES, DECISIVE, UNSURE, IGNORED, RATERS = "votes", "decisive_votes", "unsure_votes", "ignored_votes", "raters"
METHODS, PAIRS, BRADLEY_TERRY, HUMAN_RANKING = "methods", "pairs", "bradley_terry", "human_ranking"
UNSURE_RULE_KEY, CONFIDENCE_KEY, PRIOR_KEY = "unsure_rule", "confidence", "bt_prior_games"
FID_RANKING, COMPARED, AGREE, KENDALL_TAU, AGREEMENT = (
    "fid_ranking", "compared_methods", "rankings_agree", "kendall_tau", "agreement")
# per-pair keys
METHOD_A, METHOD_B, A_WINS, B_WINS, PAIR_UNSURE, PAIR_VOTES = "method_a", "method_b", "a_wins", "b_wins", "unsure", "votes"
A_WIN_RATE, CI_LOW, CI_HIGH, SIGNIFICANT = "a_win_rate", "ci_low", "ci_high", "significant"


def votes_to_outcomes(votes: pd.DataFrame, methods: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Count outcomes per ordered method pair.

    Returns `wins` (M, M) int64 with wins[i, j] = votes where method i beat method j,
    `unsure` (M, M) int64 symmetric with the "not sure" votes of each pair, and the number
    of ignored votes (a method outside `methods`, or the same method on both sides).
    """
    bad = sorted(set(votes[V.ANSWER]) - set(V.ANSWERS))
    if bad:
        raise ValueError(f"votes: unknown answers {', '.join(map(repr, bad))}; expected {', '.join(V.ANSWERS)}")
    index = {m: i for i, m in enumerate(methods)}
    left = votes[V.LEFT_METHOD].map(index)
    right = votes[V.RIGHT_METHOD].map(index)
    valid = (left.notna() & right.notna() & (left != right)).to_numpy()
    li = left.to_numpy()[valid].astype(np.int64)
    ri = right.to_numpy()[valid].astype(np.int64)
    answer = votes[V.ANSWER].to_numpy()[valid]
    wins = np.zeros((len(methods), len(methods)), dtype=np.int64)
    unsure = np.zeros_like(wins)
    is_left, is_right, is_unsure = answer == V.ANSWER_LEFT, answer == V.ANSWER_RIGHT, answer == V.ANSWER_UNSURE
    np.add.at(wins, (li[is_left], ri[is_left]), 1)
    np.add.at(wins, (ri[is_right], li[is_right]), 1)
    np.add.at(unsure, (li[is_unsure], ri[is_unsure]), 1)
    return wins, unsure + unsure.T, int((~valid).sum())


def wilson_interval(wins: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of a win-rate wins/n (None when n = 0)."""
    if n == 0:
        return None
    ci = binomtest(int(wins), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def bradley_terry(wins: np.ndarray, *, prior_games: float = BT_PRIOR_GAMES,
                  tol: float = 1e-12, max_iter: int = 100_000) -> np.ndarray:
    """Bradley–Terry strengths (M,) summing to 1 from a (M, M) win-count matrix.

    P(i beats j) = p_i / (p_i + p_j). Fit by the MM algorithm of Hunter (2004), "MM
    algorithms for generalized Bradley-Terry models", Ann. Statist. 32(1), eq. (3):
    p_i <- W_i / sum_j N_ij / (p_i + p_j), with W_i the wins of i and N_ij the games of i and j.
    `prior_games` virtual games per pair, split evenly, regularise (see `BT_PRIOR_GAMES`).
    """
    m = wins.shape[0]
    w = np.asarray(wins, dtype=np.float64) + (prior_games / 2.0) * (1.0 - np.eye(m))
    if m == 1:
        return np.ones(1)
    # The MLE exists iff every method beats, via a chain of wins, every other (Hunter 2004, Assumption 1).
    n_strong, _ = connected_components(w > 0, directed=True, connection="strong")
    if n_strong > 1:
        raise ValueError("Bradley-Terry: the win graph is not strongly connected (some method never "
                         "won or never lost); use prior_games > 0")
    games = w + w.T
    total_wins = w.sum(axis=1)
    p = np.full(m, 1.0 / m)
    for _ in range(max_iter):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = total_wins / denom
        new /= new.sum()
        done = np.max(np.abs(np.log(new) - np.log(p))) < tol
        p = new
        if done:
            break
    return p


def rankings_agreement(human: list[str], fid: list[str]) -> dict:
    """Compare two best-first rankings on the methods both contain.

    Returns {COMPARED: methods in FID order, AGREE: same order (None if < 2 methods),
    KENDALL_TAU: Kendall's tau between the two orders (None if < 2 methods)}.
    """
    common = [m for m in fid if m in human]
    if len(common) < 2:
        return {COMPARED: common, AGREE: None, KENDALL_TAU: None}
    human_order = [m for m in human if m in common]
    tau = kendalltau([common.index(m) for m in common], [human_order.index(m) for m in common]).statistic
    return {COMPARED: common, AGREE: human_order == common, KENDALL_TAU: float(tau)}


def votes_to_summary(votes: pd.DataFrame, methods) -> dict:
    """JSON-able summary of `votes` (rows with `VOTE_COLUMNS`) over the study `methods`.

    Pairs are listed for every unordered pair of `methods` in study order (method_a before
    method_b); a pair with no decisive vote has win-rate and interval None. The
    Bradley–Terry ranking covers the methods with at least one decisive vote.
    """
    methods = list(methods)
    wins, unsure, ignored = votes_to_outcomes(votes, methods)
    pairs = []
    for i, j in combinations(range(len(methods)), 2):
        a_wins, b_wins, n_unsure = int(wins[i, j]), int(wins[j, i]), int(unsure[i, j])
        n = a_wins + b_wins
        ci = wilson_interval(a_wins, n)
        pairs.append({
            METHOD_A: methods[i], METHOD_B: methods[j], A_WINS: a_wins, B_WINS: b_wins,
            PAIR_UNSURE: n_unsure, PAIR_VOTES: n + n_unsure,
            A_WIN_RATE: a_wins / n if n else None,
            CI_LOW: ci[0] if ci else None, CI_HIGH: ci[1] if ci else None,
            SIGNIFICANT: bool(ci and (ci[0] > 0.5 or ci[1] < 0.5)),
        })
    rated = [i for i in range(len(methods)) if (wins[i].sum() + wins[:, i].sum()) > 0]
    strengths = bradley_terry(wins[np.ix_(rated, rated)]) if len(rated) >= 2 else np.ones(len(rated))
    bt = {methods[i]: float(s) for i, s in zip(rated, strengths)}
    decisive = int(wins.sum())
    n_unsure = int(np.triu(unsure).sum())
    counted = votes[votes[V.LEFT_METHOD].isin(methods) & votes[V.RIGHT_METHOD].isin(methods)]
    return {
        VOTES: decisive + n_unsure, DECISIVE: decisive, UNSURE: n_unsure, IGNORED: ignored,
        RATERS: int(counted[V.RATER].nunique()), METHODS: methods, PAIRS: pairs,
        BRADLEY_TERRY: bt, HUMAN_RANKING: sorted(bt, key=lambda m: (-bt[m], methods.index(m))),
        UNSURE_RULE_KEY: UNSURE_RULE, CONFIDENCE_KEY: CONFIDENCE, PRIOR_KEY: BT_PRIOR_GAMES,
    }


def agreement_sentence(human: list[str], fid: list[str], agreement: dict) -> str:
    """One sentence: do the human (Bradley–Terry) and FID rankings agree?"""
    compared = agreement[COMPARED]
    if agreement[AGREE] is None:
        return (f"Too few methods are ranked by both humans ({', '.join(human) or 'none'}) and FID "
                f"({', '.join(fid) or 'none'}) to compare the rankings.")
    human_order = " > ".join(m for m in human if m in compared)
    fid_order = " > ".join(compared)
    verb = "agrees with" if agreement[AGREE] else "differs from"
    return (f"The human ranking ({human_order}) {verb} the FID ranking ({fid_order}) on the "
            f"{len(compared)} methods both rank (Kendall's tau = {agreement[KENDALL_TAU]:.2f}).")


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def summary_to_markdown(summary: dict) -> str:
    """The markdown section for a summary from `votes_to_summary` (+ agreement keys)."""
    pct = round(summary[CONFIDENCE_KEY] * 100)
    lines = [
        "## Human preference",
        "",
        f"{summary[VOTES]} votes by {summary[RATERS]} rater(s) on pairs of samples of two different "
        f"methods (`gencurate rate`; seeds pooled, samples and sides random); "
        f"{summary[DECISIVE]} decisive, {summary[UNSURE]} \"not sure\".",
        f"Win-rates and {pct}% Wilson intervals count decisive votes only: \"not sure\" carries no "
        f"preference and is listed per pair. `*`: the interval excludes 0.5.",
    ]
    if summary[IGNORED]:
        lines.append(f"{summary[IGNORED]} votes on methods outside this study (or one method on both sides) are ignored.")
    lines += ["", f"| A | B | votes | not sure | A wins | B wins | A win-rate | {pct}% CI |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for p in summary[PAIRS]:
        ci = f"[{_fmt(p[CI_LOW])}, {_fmt(p[CI_HIGH])}]" if p[CI_LOW] is not None else "–"
        star = " *" if p[SIGNIFICANT] else ""
        lines.append(f"| {p[METHOD_A]} | {p[METHOD_B]} | {p[PAIR_VOTES]} | {p[PAIR_UNSURE]} | {p[A_WINS]} | "
                     f"{p[B_WINS]} | {_fmt(p[A_WIN_RATE])}{star} | {ci} |")
    bt = summary[BRADLEY_TERRY]
    if bt:
        lines += ["", "Bradley–Terry ranking (MM algorithm, Hunter 2004; strengths sum to 1; "
                  f"{summary[PRIOR_KEY]:g} virtual tied game per pair as prior; "
                  "P(A beats B) = s_A / (s_A + s_B)):", "", "| rank | method | strength |", "|---:|---|---:|"]
        lines += [f"| {r} | {m} | {bt[m]:.3f} |" for r, m in enumerate(summary[HUMAN_RANKING], 1)]
    if AGREEMENT in summary:
        lines += ["", summary[AGREEMENT]]
    decided = [p for p in summary[PAIRS] if p[A_WIN_RATE] is not None]
    lines.append(f"{sum(p[SIGNIFICANT] for p in decided)} of {len(decided)} rated method pairs have a "
                 f"win-rate whose {pct}% interval excludes 0.5.")
    return "\n".join(lines) + "\n"


def votes_to_human_section(votes_csv: Path, methods: list[str], fid_ranking: list[str]) -> tuple[str, dict] | None:
    """(markdown section, JSON-able summary) from the votes file, or None without votes.

    `fid_ranking` is the FID ranking of the study, best first; the summary adds the
    agreement of the human Bradley–Terry ranking with it.
    """
    votes_csv = Path(votes_csv)
    if not votes_csv.is_file() or votes_csv.stat().st_size == 0:
        return None
    votes = V.read_votes(votes_csv)
    if votes.empty:
        return None
    summary = votes_to_summary(votes, methods)
    fid = [m for m in fid_ranking if m in methods]
    agreement = rankings_agreement(summary[HUMAN_RANKING], fid)
    summary.update({FID_RANKING: fid, **agreement,
                    AGREEMENT: agreement_sentence(summary[HUMAN_RANKING], fid, agreement)})
    return summary_to_markdown(summary), summary
