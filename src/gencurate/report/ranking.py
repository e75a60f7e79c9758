"""Did the study's FID ranking hold on this run? Each of its claims judged by a bootstrap interval.

The study claims an order (compare.expected_ranking, best first); each adjacent pair is one
claim ("full beats typicality"). A claim held when the interval of the difference lies on its
side of 0, failed when it lies on the other side, and could not be decided when it contains 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gencurate.metrics.keys import KEY_FD
from gencurate.report.summary import MEAN, N, rank_methods
from gencurate.report.uncertainty import PairComparison, compare_pair

HELD, FAILED, UNDECIDED = "held", "failed", "could not be decided"


@dataclass(frozen=True)
class Claim:
    """'better beats worse' on the ranking metric, with the bootstrap comparison of the two."""

    better: str
    worse: str
    comparison: PairComparison   # a = better, b = worse

    @property
    def name(self) -> str:
        return f"{self.better} < {self.worse}"

    @property
    def outcome(self) -> str:
        if self.comparison.low > 0:
            return HELD
        if self.comparison.high < 0:
            return FAILED
        return UNDECIDED


@dataclass(frozen=True)
class RankingCheck:
    expected: list[str]     # compare.expected_ranking restricted to the methods that ran
    observed: list[str]     # the same methods ordered by this run's mean
    missing: list[str]      # expected methods that did not run
    claims: list[Claim]     # adjacent pairs of `expected`
    seeds: int              # fewest seeds behind any compared mean
    confidence: float

    @property
    def held(self) -> bool:
        """The observed order of the means equals the expected one (whether or not the intervals separate)."""
        return self.observed == self.expected

    def outcomes(self) -> dict[str, str]:
        return {c.name: c.outcome for c in self.claims}


def check_ranking(
    summary: Mapping, expected_ranking: Sequence[str], draws: Mapping[str, Mapping[str, np.ndarray]], *,
    key: str = KEY_FD, confidence: float,
) -> RankingCheck:
    """Summary ({method: {metric: {mean, std, n}}}), expected order (best first) and bootstrap draws -> RankingCheck."""
    expected = [m for m in expected_ranking if m in summary and key in summary[m] and key in draws.get(m, {})]
    missing = [m for m in expected_ranking if m not in expected]
    observed = [m for m in rank_methods(summary, key) if m in expected]
    means = {m: summary[m][key][MEAN] for m in expected}
    claims = [Claim(better=a, worse=b, comparison=compare_pair(draws, means, a, b, key, confidence=confidence))
              for a, b in zip(expected, expected[1:])]
    seeds = min((summary[m][key][N] for m in expected), default=0)
    return RankingCheck(expected=expected, observed=observed, missing=missing, claims=claims, seeds=seeds,
                        confidence=confidence)


def _claim_phrase(c: Claim) -> str:
    p = c.comparison
    detail = (f"{c.better} better by {p.difference:+.3g}, interval [{p.low:+.3g}, {p.high:+.3g}], "
              f"{c.better} better in {p.share_a_better:.0%} of draws")
    if c.outcome == UNDECIDED:
        detail += f": {p.verdict}"
    return f"{c.name} {c.outcome} ({detail})"


def ranking_paragraph(check: RankingCheck, *, label: str = "FD") -> str:
    """The headline: which of the study's claims held, failed or could not be decided on this run."""
    if len(check.expected) < 2:
        return (f"The study's ranking cannot be checked: fewer than two of its methods "
                f"({', '.join(check.expected + check.missing)}) ran here.")
    exp = " < ".join(check.expected)
    obs = " < ".join(check.observed)
    counts = {o: sum(c.outcome == o for c in check.claims) for o in (HELD, FAILED, UNDECIDED)}
    text = [f"**Verdict.** The study's FID ranking ({exp}, lower is better), claim by claim on {label} with "
            f"{check.confidence:.0%} intervals of the differences (hierarchical bootstrap over seeds, samples and "
            f"reference images): " + "; ".join(_claim_phrase(c) for c in check.claims) + "."]
    text.append(f"In all {counts[HELD]} held, {counts[FAILED]} failed and {counts[UNDECIDED]} could not be decided.")
    text.append(f"The order of the means {'is the expected one' if check.held else f'is {obs}'}; an order is "
                "stated only where the interval of the difference excludes 0.")
    if check.missing:
        text.append(f"Not run here, so left out: {', '.join(check.missing)}.")
    if check.seeds < 2:
        text.append("With one seed per method the intervals cover sample noise only, not seed-to-seed spread; "
                    "add seeds (study.seeds) to include it.")
    return " ".join(text)
