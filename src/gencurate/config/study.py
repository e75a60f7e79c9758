"""The `study` section: which curation methods and seeds the DVC matrix runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gencurate.config.strict import require

Method = Literal["full", "random", "coreset", "typicality", "typiclust"]


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    methods: tuple[Method, ...] = ("full", "random", "coreset", "typicality")
    seeds: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        require(len(self.methods) > 0, "study.methods", "list at least one method")
        require(len(set(self.methods)) == len(self.methods), "study.methods", "a method is listed twice")
        require(len(self.seeds) > 0, "study.seeds", "list at least one seed")
        require(len(set(self.seeds)) == len(self.seeds), "study.seeds", "a seed is listed twice")
        require(all(s >= 0 for s in self.seeds), "study.seeds", "seeds must be >= 0")
