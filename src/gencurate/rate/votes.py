"""The votes file (`paths.votes`): one CSV row per answer, appended atomically under a lock.

Several raters (browser tabs, server workers, or separate `gencurate rate` processes) may
vote at once. Each append takes an inter-process file lock, copies the current file to a
temporary beside it, adds the row and renames it into place, so a reader (pandas, the
compare stage, DVC) only ever sees complete files, no vote is lost, and the header is
written exactly once.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from filelock import FileLock

from gencurate.io import atomic_path

RATER = "rater"
TIMESTAMP = "timestamp"
LEFT_METHOD, LEFT_SEED, LEFT_INDEX = "left_method", "left_seed", "left_index"
RIGHT_METHOD, RIGHT_SEED, RIGHT_INDEX = "right_method", "right_seed", "right_index"
ANSWER = "answer"
VOTE_COLUMNS = (
    RATER, TIMESTAMP, LEFT_METHOD, LEFT_SEED, LEFT_INDEX, RIGHT_METHOD, RIGHT_SEED, RIGHT_INDEX, ANSWER,
)

ANSWER_LEFT, ANSWER_RIGHT, ANSWER_UNSURE = "left", "right", "unsure"
ANSWERS = (ANSWER_LEFT, ANSWER_RIGHT, ANSWER_UNSURE)

# A voter waiting this long for the lock means something is stuck; fail loudly instead of hanging.
LOCK_TIMEOUT_S = 30.0


def votes_lock_path(votes_csv: Path) -> Path:
    """Lock file beside the votes file (hidden, so it does not look like data)."""
    return votes_csv.with_name(f".{votes_csv.name}.lock")


def utc_timestamp() -> str:
    """Current time as UTC ISO 8601 with milliseconds, e.g. 2024-05-01T12:00:00.123+00:00."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _header_line() -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(VOTE_COLUMNS)
    return buf.getvalue()


def append_vote(votes_csv: str | Path, vote: Mapping[str, object]) -> None:
    """Append one vote (a mapping with exactly `VOTE_COLUMNS`) to `votes_csv`.

    Creates the file (and its folder) with a header on first use. Refuses a file whose
    header differs from `VOTE_COLUMNS` rather than mixing two schemas.
    """
    votes_csv = Path(votes_csv)
    if set(vote) != set(VOTE_COLUMNS):
        raise ValueError(f"a vote needs exactly the columns {', '.join(VOTE_COLUMNS)}; got {', '.join(vote)}")
    if vote[ANSWER] not in ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, got {vote[ANSWER]!r}")
    row = io.StringIO()
    csv.writer(row, lineterminator="\n").writerow([vote[c] for c in VOTE_COLUMNS])
    header = _header_line()
    votes_csv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(votes_lock_path(votes_csv), timeout=LOCK_TIMEOUT_S):
        with atomic_path(votes_csv) as tmp:
            existing = votes_csv.is_file() and votes_csv.stat().st_size > 0
            if existing:
                with votes_csv.open(newline="") as f:
                    first = f.readline()
                if first.rstrip("\r\n") != header.rstrip("\n"):
                    raise ValueError(f"{votes_csv}: unexpected header {first.strip()!r}; expected {header.strip()!r}")
                shutil.copyfile(votes_csv, tmp)
            with tmp.open("a", newline="") as f:
                if not existing:
                    f.write(header)
                f.write(row.getvalue())


def read_votes(votes_csv: str | Path) -> pd.DataFrame:
    """The votes file as a DataFrame with `VOTE_COLUMNS` (seeds and indices as int64)."""
    votes = pd.read_csv(
        votes_csv,
        dtype={RATER: str, LEFT_METHOD: str, RIGHT_METHOD: str, ANSWER: str},
        keep_default_na=False,
    )
    missing = [c for c in VOTE_COLUMNS if c not in votes.columns]
    if missing:
        raise ValueError(f"{votes_csv}: missing columns {', '.join(missing)}")
    return votes[list(VOTE_COLUMNS)]
