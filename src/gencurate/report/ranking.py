"""Did the study's FID ranking hold on this run, and by how much relative to the seed spread?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gencurate.metrics.keys import KEY_FD
from gencurate.report.summary import MEAN, N, STD, pooled_std, rank_methods

# A gap larger than this many seed spreads is called clear (about a 2-sigma separation).
CLEAR_GAP = 2.0


@dataclass(frozen=True)
class Gap:
    """FD(worse) - FD(better) for two methods adjacent in the expected ranking (> 0 = as expected)."""

    better: str
    worse: str
    gap: float
    spread: float       # pooled seed std of the two methods (0 with one seed)

    @property
    def ratio(self) -> float | None:
        return self.gap / self.spread if self.spread > 0 else None


@dataclass(frozen=True)
class RankingCheck:
    expected: list[str]     # compare.expected_ranking restricted to the methods that ran
    observed: list[str]     # the same methods ordered by this run's mean FD
    missing: list[str]      # expected methods that did not run
    gaps: list[Gap]
    seeds: int              # fewest seeds behind any compared mean

    @property
    def held(self) -> bool:
        return self.observed == self.expected


def check_ranking(summary: dict, expected_ranking: Sequence[str], key: str = KEY_FD) -> RankingCheck:
    """Summary ({method: {metric: {mean, std, n}}}) + expected order (best first) -> RankingCheck."""
    expected = [m for m in expected_ranking if m in summary and key in summary[m]]
    missing = [m for m in expected_ranking if m not in expected]
    observed = [m for m in rank_methods(summary, key) if m in expected]
    gaps = [
        Gap(better=a, worse=b, gap=summary[b][key][MEAN] - summary[a][key][MEAN],
            spread=pooled_std(summary[a][key][STD], summary[b][key][STD]))
        for a, b in zip(expected, expected[1:])
    ]
    seeds = min((summary[m][key][N] for m in expected), default=0)
    return RankingCheck(expected=expected, observed=observed, missing=missing, gaps=gaps, seeds=seeds)


def _gap_phrase(g: Gap) -> str:
    ratio = g.ratio
    spread = f"{ratio:.1f}x the seed spread" if ratio is not None else "seed spread unknown"
    return f"{g.better} -> {g.worse} {g.gap:+#.3g} ({spread})"


def ranking_paragraph(check: RankingCheck, *, key: str = KEY_FD) -> str:
    """One paragraph: whether the expected ranking held, the adjacent FD gaps and how they compare with seed noise."""
    if len(check.expected) < 2:
        return (f"The study's ranking cannot be checked: fewer than two of its methods "
                f"({', '.join(check.expected + check.missing)}) ran here.")
    exp = " < ".join(check.expected)
    obs = " < ".join(check.observed)
    text = [f"The study's FID ranking ({exp}, lower is better) "
            + (f"held on this run ({key})." if check.held else f"did not hold on this run ({key}): observed {obs}.")]
    if check.missing:
        text.append(f"Not run here, so left out: {', '.join(check.missing)}.")
    text.append("Gaps between neighbours in the expected order (positive = as expected): "
                + "; ".join(_gap_phrase(g) for g in check.gaps) + ".")
    if check.seeds < 2:
        text.append("With one seed per method the seed spread is unknown, so these gaps cannot be told apart from "
                    "seed noise; add seeds (study.seeds) to judge them.")
    else:
        clear = [g for g in check.gaps if g.ratio is not None and abs(g.ratio) > CLEAR_GAP]
        text.append(f"{len(clear)} of {len(check.gaps)} gaps exceed {CLEAR_GAP:g}x the seed spread "
                    f"(std over {check.seeds} seeds); smaller gaps are within seed noise.")
    return " ".join(text)
