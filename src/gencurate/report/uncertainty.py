"""Intervals and pairwise orders from a hierarchical bootstrap over seeds, samples and reference images.

evaluate writes, per run (method, seed), B replicates of each metric with its samples and
reference images resampled (gencurate.metrics.bootstrap). Here one draw of a method's metric
resamples the method's seeds with replacement, takes one random replicate of each drawn seed and
averages them (the two levels of the hierarchical bootstrap: training seeds, then images within a
seed). Each run's replicates are first recentred on that run's estimate: resampling with
duplicates biases FD and KID upward by an amount that depends on the generator, and the shift
keeps the spread while removing that bias. Intervals are percentile intervals of the draws; a
pair of methods is ordered only when the interval of their difference excludes 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from gencurate.config.paths import PathsConfig
from gencurate.metrics.keys import HIGHER_IS_BETTER
from gencurate.report.summary import METHOD, SEED

CI_LOW, CI_HIGH = "ci_low", "ci_high"
INDISTINGUISHABLE = "indistinguishable at this sample size"
# summary.json keys of one pairwise comparison
BETTER_SHARE, DIFF_LOW, DIFF_HIGH, VERDICT = "share_a_better", "difference_ci_low", "difference_ci_high", "verdict"


def read_replicates(paths: PathsConfig, methods: Sequence[str], seeds: Sequence[int]) -> dict[tuple[str, int], dict]:
    """{(method, seed): {metric key: (B,) float64 replicates}} from every run's bootstrap file; missing = error."""
    out = {}
    for method in methods:
        for seed in seeds:
            path = paths.bootstrap_file(method, seed)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no bootstrap replicates for {method} seed {seed}; "
                                        "run `gencurate evaluate` first")
            data = json.loads(path.read_text())["replicates"]
            out[method, seed] = {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}
    return out


def hierarchical_draws(replicates: np.ndarray, estimates: np.ndarray, *, seed_draws: np.ndarray,
                       replicate_draws: np.ndarray) -> np.ndarray:
    """(S, B) replicates of S seeds, (S,) their estimates, (T, S) drawn seeds and (T, S) drawn replicates -> (T,).

    Draw t averages replicate replicate_draws[t, i] of seed seed_draws[t, i] over i (S values).
    """
    centred = replicates - replicates.mean(1, keepdims=True) + estimates[:, None]
    return centred[seed_draws, replicate_draws].mean(1)


def study_draws(
    table: pd.DataFrame, replicates: Mapping[tuple[str, int], Mapping[str, np.ndarray]], keys: Sequence[str],
    *, draws: int, seed: int,
) -> dict[str, dict[str, np.ndarray]]:
    """Metrics table (one row per run) + replicates -> {method: {key: (draws,) hierarchical draws}}.

    Metrics of one method share their seed and replicate draws (so the draws are joint); methods
    are drawn independently (different models). Keys without replicates in every run are skipped.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for method, runs in table.groupby(METHOD, sort=False):
        seeds = list(runs[SEED])
        reps = [replicates[method, s] for s in seeds]
        b = min(len(next(iter(r.values()))) for r in reps)
        seed_draws = rng.integers(0, len(seeds), size=(draws, len(seeds)))
        replicate_draws = rng.integers(0, b, size=(draws, len(seeds)))
        out[method] = {}
        for key in keys:
            if key not in runs or runs[key].isna().any() or not all(key in r for r in reps):
                continue
            stacked = np.stack([r[key][:b] for r in reps])
            out[method][key] = hierarchical_draws(stacked, runs[key].to_numpy(np.float64),
                                                  seed_draws=seed_draws, replicate_draws=replicate_draws)
    return out


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """(T,) draws -> the central `confidence` percentile interval."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairComparison:
    """Two methods on one metric. difference = how much a is better than b (> 0: a better), whatever the direction."""

    a: str
    b: str
    key: str
    difference: float          # of the means over seeds
    low: float
    high: float
    share_a_better: float      # share of draws in which a beats b

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return f"{self.a} better"
        if self.high < 0:
            return f"{self.b} better"
        return INDISTINGUISHABLE

    def as_dict(self) -> dict:
        return {BETTER_SHARE: self.share_a_better, DIFF_LOW: self.low, DIFF_HIGH: self.high, VERDICT: self.verdict}


def compare_pair(draws: Mapping[str, Mapping[str, np.ndarray]], estimates: Mapping[str, float], a: str, b: str,
                 key: str, *, confidence: float) -> PairComparison:
    """Draws of both methods on `key` -> how much a is better than b, with its interval and share of wins."""
    sign = 1.0 if key in HIGHER_IS_BETTER else -1.0  # lower is better unless listed as higher
    diff = sign * (draws[a][key] - draws[b][key])
    lo, hi = interval(diff, confidence)
    return PairComparison(a=a, b=b, key=key, difference=sign * (estimates[a] - estimates[b]), low=lo, high=hi,
                          share_a_better=float(np.mean(diff > 0)))


def all_pairs(draws: Mapping[str, Mapping[str, np.ndarray]], estimates: Mapping[str, float], ranking: Sequence[str],
              key: str, *, confidence: float) -> list[PairComparison]:
    """Every pair of `ranking` (better-ranked method first) on `key`."""
    return [compare_pair(draws, estimates, a, b, key, confidence=confidence) for a, b in combinations(ranking, 2)]


def add_intervals(summary: dict, draws: Mapping[str, Mapping[str, np.ndarray]], *, confidence: float) -> dict:
    """Add CI_LOW/CI_HIGH to every {method: {metric: {mean, std, n}}} entry that has draws (in place; returned)."""
    for method, by_key in draws.items():
        for key, values in by_key.items():
            if key in summary.get(method, {}):
                summary[method][key][CI_LOW], summary[method][key][CI_HIGH] = interval(values, confidence)
    return summary


def pairs_section(pairs: Sequence[PairComparison], label: str, confidence: float, seeds: int) -> str:
    """Markdown section: every pair of methods on one metric, ordered only where the interval excludes 0."""
    return "\n\n".join([
        f"## Pairwise: which method beats which on {label}",
        f"For each pair, how much the first is better (means over seeds), the {confidence:.0%} interval of that "
        f"difference and the share of bootstrap draws in which the first wins. Draws resample the {seeds} seed(s) "
        "of each method, then samples and reference images within each seed. An order is stated only where the "
        f"interval excludes 0; otherwise the pair is {INDISTINGUISHABLE}.",
        pairs_table(pairs, label, confidence),
    ])


def pairs_table(pairs: Sequence[PairComparison], label: str, confidence: float) -> str:
    """Markdown: one row per pair: difference (a better by), its interval, share of draws a wins, the verdict."""
    lines = [f"| a | b | {label}: a better by | {confidence:.0%} interval | a better in | verdict |",
             "|---|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {p.a} | {p.b} | {p.difference:+.3g} | [{p.low:+.3g}, {p.high:+.3g}] | "
                     f"{p.share_a_better:.0%} of draws | {p.verdict} |")
    return "\n".join(lines)
