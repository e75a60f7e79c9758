"""`gencurate compare`: every metrics file of study.methods x study.seeds -> `paths.comparison/`.

Writes summary.json (mean, std, n and bootstrap interval per method and metric, the verdict on
each of the study's claims, pairwise FD comparisons; a DVC metric), comparison.md (verdict,
ranking table with intervals, pairwise table, memorisation with its control and closest pairs,
encoder independence, figures, selection map link, human study) and the PNG figures it shows.
The folder is replaced as a whole (atomically).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gencurate.config import Params
from gencurate.io import atomic_path
from gencurate.metrics.keys import KEY_FD
from gencurate.report.comparison import EXPECTED_HELD, RANKING, write_comparison
from gencurate.report.summary import metrics_to_summary, rank_methods, read_study_metrics
from gencurate.report.uncertainty import read_replicates
from gencurate.stages.params_items import stage_params


def human_markdown(params: Params, fid_ranking: Sequence[str] = ()) -> str | None:
    """The report's human preference section as markdown, or None while `paths.votes` does not exist."""
    if not params.paths.votes.is_file():
        return None
    from gencurate.report.human import votes_to_human_section

    section = votes_to_human_section(params.paths.votes, list(params.study.methods), list(fid_ranking))
    return None if section is None else section[0]


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    table = read_study_metrics(params.paths, params.study.methods, params.study.seeds)
    replicates = read_replicates(params.paths, params.study.methods, params.study.seeds)
    human = human_markdown(params, rank_methods(metrics_to_summary(table), KEY_FD))
    with atomic_path(params.paths.comparison, directory=True) as out:
        document = write_comparison(params, table, out, replicates=replicates, human=human)
    print(f"compare: {len(table)} runs -> {params.paths.comparison}/ "
          f"(expected ranking held: {document[RANKING][EXPECTED_HELD]})")
